"""Benchmarks of the simulator's parts; `splatsim bench` prints what they return."""

"""NVIDIA AlpaSim's driver contract as splatsim speaks it (proto/alpasim/v0): see v0/__init__.py."""

"""Evaluation pipelines: scoring policies (pseudo-simulation, correlation with the closed loop),
run folders, reports, scene reconstruction and benchmarks, composed from sim, render, scenarios
and policies_api. `tools` parses options and calls these; nothing here imports `tools`."""

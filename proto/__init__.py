"""The wire contract (proto/splatsim/v1) and its generated Python code."""

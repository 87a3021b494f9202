"""Example driving stacks that connect to splatsim over gRPC (run them as programs)."""

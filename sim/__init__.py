"""The closed-loop engine: world state at 10 Hz, ego dynamics and tracking, actors, checks.

`sim` imports nothing of `render`, `policies_api` or `tools`: the loop takes a renderer and a
policy as plain protocols injected by the caller.
"""

"""The gRPC boundary: simulator server, client SDK, Gymnasium env and policy serving.

Importing the package registers the Gymnasium environment `splatsim/ClosedLoop-v0`
(`policies_api.gym_env.ClosedLoopEnv`). The rest loads on first use:

- `RemoteSimulator` (client.py): drive a `splatsim serve` server from Python.
- `SimulatorServer`, `ServerConfig` (server.py), `ScenarioCatalog` (catalog.py): host sessions.
- `serve_policy` (policy_server.py): turn a Python callable into a DrivingPolicy server.
- `RemotePolicy` (remote_policy.py): a `sim.types.observation.Policy` that calls a DrivingPolicy server.
- `ServerTLS`, `ClientTLS` (security.py): TLS files of servers and clients (tokens: `token=`; docs/deployment.md).
"""

from __future__ import annotations

import importlib

ENV_ID = "splatsim/ClosedLoop-v0"

_LAZY = {
    "RemoteSimulator": "policies_api.client",
    "RemoteError": "policies_api.client",
    "SimulatorServer": "policies_api.server",
    "ServerConfig": "policies_api.server",
    "serve_until_signal": "policies_api.server",
    "ScenarioCatalog": "policies_api.catalog",
    "serve_policy": "policies_api.policy_server",
    "PolicyServer": "policies_api.policy_server",
    "RemotePolicy": "policies_api.remote_policy",
    "ClosedLoopEnv": "policies_api.gym_env",
    "ServerTLS": "policies_api.security",
    "ClientTLS": "policies_api.security",
}

__all__ = ["ENV_ID", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'policies_api' has no attribute {name!r}")


def _register_env() -> None:
    try:
        import gymnasium
    except ImportError:  # gymnasium is a dependency; without it only the env is missing
        return
    if ENV_ID not in gymnasium.registry:
        gymnasium.register(id=ENV_ID, entry_point="policies_api.gym_env:ClosedLoopEnv", disable_env_checker=False)


_register_env()

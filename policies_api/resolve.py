"""Policy names as users write them (`--policy`): the in-process registry plus remote policies.

`sim.policies.registry` resolves built-in and degraded names and family members; this layer adds `grpc://HOST:PORT`
and `unix://PATH`, which need the gRPC client; their access token and TLS files come from SPLATSIM_POLICY_TOKEN and
SPLATSIM_POLICY_TLS_CA/CERT/KEY (see docs/deployment.md).
"""

from __future__ import annotations

from typing import Sequence

from policies_api.remote_policy import RemotePolicy, is_remote_policy_name
from sim.policies.registry import is_policy_name, make_policy, unknown_policy_error
from sim.types.observation import Policy


def check_policy_names(names: Sequence[str]) -> None:
    """Fail before any work on a name that is no in-process or remote policy."""
    bad = [n for n in names if not is_policy_name(n) and not is_remote_policy_name(n)]
    if bad:
        raise unknown_policy_error(bad)


def resolve_policy(name: str, seed: int = 0) -> Policy:
    """A fresh policy for a `--policy` value; `seed` feeds the degraded variants that draw noise."""
    return RemotePolicy(name) if is_remote_policy_name(name) else make_policy(name, seed)

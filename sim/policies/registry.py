"""The one registry of in-process policies: the built-in baselines and their degraded variants.

A name resolves here to a fresh policy object. Remote policies (`grpc://`, `unix://`) are resolved
one layer up, by `policies_api.resolve`, since `sim` knows nothing of gRPC.
"""

from __future__ import annotations

from sim.errors import ConfigError
from sim.policies.builtin import BUILTIN_POLICIES
from sim.policies.degraded import DEGRADED_POLICIES
from sim.types.observation import Policy

REMOTE_POLICY_FORMS = "grpc://HOST:PORT or unix://PATH for a remote policy"


def policy_names() -> tuple[str, ...]:
    """Every in-process policy name: the built-in baselines first, then the degraded variants."""
    return (*BUILTIN_POLICIES, *DEGRADED_POLICIES)


def is_degraded_policy_name(name: str) -> bool:
    return name in DEGRADED_POLICIES


def unknown_policy_error(names: list[str]) -> ConfigError:
    return ConfigError(f"unknown policy {', '.join(map(repr, names))}; choose one of {', '.join(policy_names())} "
                       f"(or {REMOTE_POLICY_FORMS})")


def make_policy(name: str, seed: int = 0) -> Policy:
    """A fresh in-process policy by name; `seed` feeds the degraded variants that draw noise."""
    if name in BUILTIN_POLICIES:
        return BUILTIN_POLICIES[name]()
    if name in DEGRADED_POLICIES:
        return DEGRADED_POLICIES[name](seed)
    raise unknown_policy_error([name])

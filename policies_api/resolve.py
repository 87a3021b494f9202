"""Policy names as users write them (`--policy`): the in-process registry plus remote policies.

`sim.policies.registry` resolves built-in and degraded names and family members; this layer adds `grpc://HOST:PORT`
and `unix://PATH` (a splatsim DrivingPolicy server) and `egodriver://HOST:PORT` and `egodriver+unix://PATH` (an
NVIDIA AlpaSim driver, configured by `--egodriver-config FILE`), which need the gRPC clients. The access token and TLS
files of `grpc://` and `unix://` policies come from SPLATSIM_POLICY_TOKEN and SPLATSIM_POLICY_TLS_CA/CERT/KEY (see
docs/deployment.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from policies_api.egodriver import EgodriverPolicy, is_egodriver_policy_name, load_egodriver_config
from policies_api.egodriver.client import grpc_target
from policies_api.remote_policy import RemotePolicy, is_remote_policy_name
from sim.policies.registry import is_policy_name, make_policy, unknown_policy_error
from sim.types.observation import Policy


def check_policy_names(names: Sequence[str], egodriver_config: str | Path | None = None) -> None:
    """Fail before any work on a name that is no in-process or remote policy, on a malformed egodriver
    address, or on an egodriver config that cannot be used."""
    bad = [n for n in names if not is_policy_name(n) and not is_remote_policy_name(n)
           and not is_egodriver_policy_name(n)]
    if bad:
        raise unknown_policy_error(bad)
    egodriver = [n for n in names if is_egodriver_policy_name(n)]
    for name in egodriver:
        grpc_target(name)
    if egodriver:
        load_egodriver_config(egodriver_config)


def sees_images(name: str) -> bool:
    """Whether the policy needs rendered cameras (remote policies and AlpaSim drivers)."""
    return is_remote_policy_name(name) or is_egodriver_policy_name(name)


def resolve_policy(name: str, seed: int = 0, egodriver_config: str | Path | None = None) -> Policy:
    """A fresh policy for a `--policy` value; `seed` feeds the degraded variants that draw noise and an AlpaSim
    driver's sessions; `egodriver_config` is the `--egodriver-config` file (None: the defaults)."""
    if is_egodriver_policy_name(name):
        return EgodriverPolicy(name, load_egodriver_config(egodriver_config), seed)
    return RemotePolicy(name) if is_remote_policy_name(name) else make_policy(name, seed)

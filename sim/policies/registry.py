"""The one registry of in-process policies: the built-in baselines, their degraded variants, and
parameterised families of both.

A name resolves here to a fresh policy object. Remote policies (`grpc://`, `unix://`) are resolved
one layer up, by `policies_api.resolve`, since `sim` knows nothing of gRPC.

A family member is named `FAMILY[key=value,...]` (numbers; keys in any order, each at most once):

- `idm[speed=F,headway=S,accel=A,bias=M]`: the IDM planner with its derived desired speed x F,
  time headway S s, maximum acceleration A m/s^2 and a lateral bias of M m (positive left);
  unnamed keys keep the `idm` defaults, so `idm[speed=1]` plans exactly as `idm`.
- `noisy[sigma=M]`: `noisy` with noise of std M m at 4 s.
- `laggy[lag=S]`: `laggy` planning from observations exactly S s old (0 .. 3 s).

Family members are variants, so `is_degraded_policy_name` holds for them.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Callable

from sim.errors import ConfigError
from sim.policies.builtin import BUILTIN_POLICIES, IDMPolicy, IDMPolicyParams
from sim.policies.degraded import DEGRADED_POLICIES, LaggyParams, LaggyPolicy, NoisyParams, NoisyPolicy
from sim.types.observation import Policy

REMOTE_POLICY_FORMS = "grpc://HOST:PORT or unix://PATH for a remote policy"
_FAMILY_NAME = re.compile(r"^\s*([a-z-]+)\[(.*)\]\s*$")


@dataclass(frozen=True)
class Family:
    """One parameterised family: its keys (key -> what it sets, for messages), the range each
    value must lie in, and how a member is built from (name, values, seed)."""

    keys: dict[str, str]
    ranges: dict[str, tuple[float, float]]
    build: Callable[[str, dict[str, float], int], Policy]

    def form(self, family: str) -> str:
        return f"{family}[{','.join(f'{k}=...' for k in self.keys)}]"


def _idm_member(name: str, values: dict[str, float], seed: int) -> Policy:
    base = IDMPolicyParams()
    idm = dataclasses.replace(base.idm, time_headway_s=values.get("headway", base.idm.time_headway_s),
                              max_accel_mps2=values.get("accel", base.idm.max_accel_mps2))
    return IDMPolicy(dataclasses.replace(base, idm=idm, desired_speed_factor=values.get("speed", 1.0),
                                         lateral_bias_m=values.get("bias", 0.0)), name)


def _noisy_member(name: str, values: dict[str, float], seed: int) -> Policy:
    return NoisyPolicy(NoisyParams(sigma_m=values.get("sigma", NoisyParams.sigma_m), seed=seed), name)


def _laggy_member(name: str, values: dict[str, float], seed: int) -> Policy:
    lag = values.get("lag")
    return LaggyPolicy(LaggyParams(lag_s=(lag, lag) if lag is not None else LaggyParams.lag_s, seed=seed), name)


FAMILIES = {
    "idm": Family({"speed": "desired speed factor", "headway": "time headway, s",
                   "accel": "maximum acceleration, m/s^2", "bias": "lateral bias, m (left +)"},
                  {"speed": (0.1, 3.0), "headway": (0.0, 10.0), "accel": (0.1, 10.0), "bias": (-3.0, 3.0)},
                  _idm_member),
    "noisy": Family({"sigma": "noise std at 4 s, m"}, {"sigma": (0.0, 10.0)}, _noisy_member),
    "laggy": Family({"lag": "observation age, s"}, {"lag": (0.0, 3.0)}, _laggy_member),
}


def policy_names() -> tuple[str, ...]:
    """Every plain in-process policy name: the built-in baselines first, then the degraded
    variants (families' members are named by `policy_families`' forms)."""
    return (*BUILTIN_POLICIES, *DEGRADED_POLICIES)


def policy_families() -> tuple[str, ...]:
    """The family forms, e.g. `idm[speed=...,headway=...,accel=...,bias=...]`."""
    return tuple(f.form(name) for name, f in FAMILIES.items())


def parse_family_name(name: str) -> tuple[str, dict[str, float]]:
    """(family, {key: value}) of a family member's name; ConfigError saying what is wrong."""
    m = _FAMILY_NAME.match(name)
    if m is None or m.group(1) not in FAMILIES:
        raise unknown_policy_error([name])
    family = FAMILIES[m.group(1)]
    values: dict[str, float] = {}
    for item in filter(None, (s.strip() for s in m.group(2).split(","))):
        key, sep, text = (s.strip() for s in item.partition("="))
        if not sep or key not in family.keys:
            raise ConfigError(f"policy {name!r}: {item!r} is not KEY=NUMBER with KEY one of "
                              f"{', '.join(family.keys)} ({family.form(m.group(1))})")
        if key in values:
            raise ConfigError(f"policy {name!r}: {key} given twice")
        try:
            value = float(text)
        except ValueError:
            raise ConfigError(f"policy {name!r}: {key} must be a number, got {text!r}") from None
        lo, hi = family.ranges[key]
        if not (math.isfinite(value) and lo <= value <= hi):
            raise ConfigError(f"policy {name!r}: {key} ({family.keys[key]}) must lie in [{lo:g}, {hi:g}], got {text}")
        values[key] = value
    return m.group(1), values


def is_policy_name(name: str) -> bool:
    """Whether `make_policy` resolves this name (a plain name or a well-formed family member)."""
    if name in BUILTIN_POLICIES or name in DEGRADED_POLICIES:
        return True
    try:
        parse_family_name(name)
    except ConfigError:
        return False
    return True


def is_degraded_policy_name(name: str) -> bool:
    return name in DEGRADED_POLICIES or (name not in BUILTIN_POLICIES and is_policy_name(name))


def unknown_policy_error(names: list[str]) -> ConfigError:
    return ConfigError(f"unknown policy {', '.join(map(repr, names))}; choose one of {', '.join(policy_names())}, "
                       f"a family member {', '.join(policy_families())} (or {REMOTE_POLICY_FORMS})")


def make_policy(name: str, seed: int = 0) -> Policy:
    """A fresh in-process policy by name; `seed` feeds the variants that draw noise or lag."""
    if name in BUILTIN_POLICIES:
        return BUILTIN_POLICIES[name]()
    if name in DEGRADED_POLICIES:
        return DEGRADED_POLICIES[name](seed)
    family, values = parse_family_name(name)
    return FAMILIES[family].build(name.strip(), values, seed)

"""The intelligent driver model (Treiber, Hennecke, Helbing 2000) as pure functions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class IDMParams:
    """IDM parameters.

    - desired_speed_mps: v0, the speed on a free road (the lane's limit or the log's speed).
    - time_headway_s: T, desired time gap to the leader.
    - min_gap_m: s0, bumper-to-bumper gap at standstill.
    - max_accel_mps2: a, maximum acceleration.
    - comfort_decel_mps2: b, comfortable deceleration (positive).
    - max_decel_mps2: hard braking limit the output is clipped to (positive).
    - delta: acceleration exponent.
    """

    desired_speed_mps: float = 12.0
    time_headway_s: float = 1.2
    min_gap_m: float = 2.0
    max_accel_mps2: float = 1.5
    comfort_decel_mps2: float = 2.5
    max_decel_mps2: float = 8.0
    delta: float = 4.0


def idm_acceleration(speed_mps: np.ndarray, gap_m: np.ndarray, leader_speed_mps: np.ndarray,
                     desired_speed_mps: np.ndarray, params: IDMParams) -> np.ndarray:
    """IDM acceleration, vectorised over agents.

    speed_mps, gap_m (bumper to bumper; np.inf without a leader), leader_speed_mps and
    desired_speed_mps: (N,). Returns (N,) accelerations clipped to [-max_decel, max_accel].
    """
    v = np.maximum(np.asarray(speed_mps, dtype=np.float64), 0.0)
    v0 = np.maximum(np.asarray(desired_speed_mps, dtype=np.float64), 0.1)
    gap = np.maximum(np.asarray(gap_m, dtype=np.float64), 0.1)
    dv = v - np.asarray(leader_speed_mps, dtype=np.float64)
    s_star = params.min_gap_m + np.maximum(
        0.0, v * params.time_headway_s + v * dv / (2.0 * np.sqrt(params.max_accel_mps2 * params.comfort_decel_mps2)))
    free = 1.0 - (v / v0) ** params.delta
    interaction = np.where(np.isfinite(gap), (s_star / gap) ** 2, 0.0)
    accel = params.max_accel_mps2 * (free - interaction)
    return np.clip(accel, -params.max_decel_mps2, params.max_accel_mps2)

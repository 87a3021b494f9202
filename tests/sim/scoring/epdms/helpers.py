"""Proposals and logs the EPDMS tests build on a straight road."""

from __future__ import annotations

import numpy as np

from sim.scoring.epdms import EPDMSConfig

T = np.arange(1, 41) * 0.1
NO_FILTER = EPDMSConfig(human_penalty_filter=False)


def proposal(speed, lateral=None):
    """(40, 2) xy and (40,) yaw in the ego frame of a path with the given speeds (m/s per pose)
    and lateral offsets (m, left +)."""
    v = np.broadcast_to(np.asarray(speed, float), (40,))
    x = np.cumsum(v * 0.1)
    y = np.zeros(40) if lateral is None else np.asarray(lateral, float)
    xx, yy = np.concatenate([[0.0], x]), np.concatenate([[0.0], y])
    return np.stack([x, y], -1), np.arctan2(np.diff(yy), np.diff(xx))


def braking_log(n=80, hold=5, decel_per_step=0.4, v0=10.0):
    v = np.full(n, v0)
    for k in range(hold, n):
        v[k] = max(v[k - 1] - decel_per_step, 0.0)
    return v

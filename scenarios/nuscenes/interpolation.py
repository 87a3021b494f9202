"""Poses on the 10 Hz grid: linear in position, shortest-arc in yaw; velocities by finite differences."""

from __future__ import annotations

import numpy as np

from sim.geometry import wrap_angle


def interpolate_track(t_src_us: np.ndarray, xyz: np.ndarray, yaw_rad: np.ndarray,
                      t_grid_us: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Poses at grid times: linear position, shortest-arc yaw; clamped outside the source span.

    t_src_us: (S,) increasing int64; xyz: (S, 3) global metres; yaw_rad: (S,); t_grid_us: (T,).
    Returns xyz (T, 3) and yaw_rad (T,) wrapped to [-pi, pi).
    """
    # Relative times keep float64 exact (absolute timestamps are ~1e15 us).
    t_src = (np.asarray(t_src_us, np.int64) - t_grid_us[0]).astype(np.float64)
    t_grid = (np.asarray(t_grid_us, np.int64) - t_grid_us[0]).astype(np.float64)
    xyz_out = np.stack([np.interp(t_grid, t_src, xyz[:, k]) for k in range(3)], axis=-1)
    # unwrap makes each consecutive step the shortest arc, so linear interpolation follows it.
    yaw_out = wrap_angle(np.interp(t_grid, t_src, np.unwrap(yaw_rad)))
    return xyz_out, yaw_out


def finite_difference_velocity(xy: np.ndarray, valid: np.ndarray, dt_s: float) -> np.ndarray:
    """Velocities (..., T, 2) of positions (..., T, 2) on a uniform grid.

    Central differences where both neighbours are valid, one-sided at the ends of a valid span,
    zero at isolated or invalid steps.
    """
    if xy.shape[-2] < 2:
        return np.zeros(xy.shape, dtype=np.float64)
    step = np.diff(xy, axis=-2) / dt_s  # (..., T-1, 2): velocity between t and t+1
    step_ok = valid[..., 1:] & valid[..., :-1]
    fwd = np.zeros(xy.shape, dtype=np.float64)
    bwd = np.zeros(xy.shape, dtype=np.float64)
    has_fwd = np.zeros(valid.shape, bool)
    has_bwd = np.zeros(valid.shape, bool)
    fwd[..., :-1, :], has_fwd[..., :-1] = step, step_ok
    bwd[..., 1:, :], has_bwd[..., 1:] = step, step_ok
    both = has_fwd & has_bwd
    v = np.where(both[..., None], 0.5 * (fwd + bwd), np.where(has_fwd[..., None], fwd, bwd))
    return np.where((valid & (has_fwd | has_bwd))[..., None], v, 0.0)

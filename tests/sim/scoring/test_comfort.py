"""History and extended comfort: NAVSIM's Savitzky-Golay filters and bounds."""

from __future__ import annotations

import numpy as np
from scipy.signal import savgol_filter

from sim.scoring.comfort import (
    ComfortConfig,
    Kinematics,
    comfort_signals,
    extended_comfort,
    history_comfort,
    savgol_matrix,
)


def test_savgol_matrices_reproduce_scipy():
    y = np.random.default_rng(0).normal(size=56)
    for window, order, deriv in ((8, 2, 0), (15, 2, 1), (5, 3, 2), (5, 2, 1)):
        expected = savgol_filter(y, window, order, deriv=deriv, delta=0.1)
        assert np.allclose(savgol_matrix(56, window, order, deriv, 0.1) @ y, expected)


def test_history_comfort_smooths_accelerations_and_jerks_over_the_whole_series():
    """NAVSIM's `_compute_*` comfort functions pass window_length=n_time for accelerations and
    jerks (order 2); the yaw terms keep window 5."""
    rng = np.random.default_rng(1)
    n = 56
    kin = Kinematics(np.cumsum(rng.normal(0, 0.01, n)), 10.0 + rng.normal(0, 0.1, n), rng.normal(0, 1.0, n),
                     np.zeros(n))
    sig = comfort_signals(kin, 0.1, 1.4)
    assert np.allclose(sig["lon_accel"], savgol_filter(kin.accel_mps2, n, 2), atol=1e-7)
    assert np.allclose(sig["lon_jerk"], savgol_filter(savgol_filter(kin.accel_mps2, 8, 2), n, 2, deriv=1, delta=0.1),
                       atol=1e-7)
    assert np.allclose(sig["yaw_rate"], savgol_filter(kin.yaw_rad, 5, 2, deriv=1, delta=0.1), atol=1e-7)


def test_history_comfort_bounds():
    n = 56
    calm = Kinematics(np.zeros(n), np.full(n, 10.0), np.zeros(n), np.zeros(n))
    assert history_comfort(calm, 0.1, 1.4).ok
    hard_brake = Kinematics(np.zeros(n), np.full(n, 10.0), np.full(n, -5.0), np.zeros(n))
    result = history_comfort(hard_brake, 0.1, 1.4)
    assert not result.ok and "lon_accel" in result.failed
    spinning = Kinematics(np.arange(n) * 0.1, np.full(n, 5.0), np.zeros(n), np.full(n, 1.0))  # 1 rad/s
    assert "yaw_rate" in history_comfort(spinning, 0.1, 1.4).failed
    loose = ComfortConfig(max_abs_yaw_rate_radps=2.0, max_abs_lat_accel_mps2=10.0)
    assert history_comfort(spinning, 0.1, 1.4, loose).ok


def test_extended_comfort_of_the_same_motion_seen_0_5_s_apart_passes():
    n = 41
    shifted = Kinematics(np.zeros(n + 5), 10.0 + 0.1 * np.arange(n + 5), np.full(n + 5, 1.0), np.zeros(n + 5))
    current = Kinematics(shifted.yaw_rad[5:], shifted.speed_mps[5:], shifted.accel_mps2[5:],
                         shifted.yaw_rate_radps[5:])
    previous = Kinematics(shifted.yaw_rad[:n], shifted.speed_mps[:n], shifted.accel_mps2[:n],
                          shifted.yaw_rate_radps[:n])
    assert extended_comfort(current, previous, 5, 0.1).ok

"""Interpolation onto the grid."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scenarios.nuscenes.interpolation import interpolate_track
from sim.types.scenario import STEP_US


def test_yaw_interpolation_takes_the_shortest_arc_across_pi():
    t_us = np.array([0, 500_000], dtype=np.int64)
    xyz = np.array([[0.0, 0.0, 0.0], [5.0, 0.0, 0.0]])
    yaw = np.array([math.pi - 0.05, -math.pi + 0.05])
    grid = np.arange(0, 500_001, STEP_US, dtype=np.int64)
    xyz_grid, yaw_grid = interpolate_track(t_us, xyz, yaw, grid)
    assert np.allclose(xyz_grid[:, 0], [0, 1, 2, 3, 4, 5])
    assert np.all(np.abs(yaw_grid) >= math.pi - 0.05 - 1e-9)  # never swings through 0
    assert np.cos(yaw_grid[0] - (math.pi - 0.05)) == pytest.approx(1.0)
    assert np.cos(yaw_grid[-1] - (-math.pi + 0.05)) == pytest.approx(1.0)

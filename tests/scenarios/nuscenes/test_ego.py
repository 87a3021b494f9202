"""The ego log: 10 Hz sweeps on the grid, or keyframe poses without LIDAR_TOP."""

from __future__ import annotations

import numpy as np
import pytest

from scenarios.nuscenes import NuScenesSource
from sim.geometry import yaw_from_quaternion
from sim.types.scenario import STEP_US
from tests.conftest import REAL_DATAROOTS
from tests.scenarios.nuscenes.conftest import VERSION, real_logs, rewrite_table, scenario_of, source_of


@real_logs
def test_ego_log_is_the_10hz_sweeps_on_the_grid(dataroot):
    scenario = scenario_of(dataroot)
    nusc = source_of(dataroot).nusc
    assert 150 <= scenario.num_steps <= 160
    assert np.all(np.diff(scenario.t_us) == STEP_US)
    assert scenario.ego.valid.all()
    # Every grid step has a sweep within 5 ms; the ego there is that sweep's pose (not a 2 Hz
    # keyframe interpolation, which would cut corners by decimetres).
    sweeps = sorted((nusc.get("ego_pose", sd["ego_pose_token"]) for sd in nusc.sample_data
                     if sd["channel"] == "LIDAR_TOP"), key=lambda p: p["timestamp"])
    assert len(sweeps) > len(nusc.sample)
    t_sweep = np.array([p["timestamp"] for p in sweeps])
    xy_sweep = np.array([p["translation"][:2] for p in sweeps])
    yaw_sweep = yaw_from_quaternion(np.array([p["rotation"] for p in sweeps]))
    nearest = np.abs(scenario.t_us[:, None] - t_sweep[None]).argmin(axis=1)
    dt_s = np.abs(scenario.t_us - t_sweep[nearest]) * 1e-6
    assert dt_s.max() < 0.005
    speed_bound = np.abs(scenario.ego.speed_mps) * dt_s + 0.01
    assert np.all(np.linalg.norm(scenario.ego.xy - xy_sweep[nearest], axis=1) <= speed_bound)
    assert np.allclose(np.cos(scenario.ego.yaw_rad - yaw_sweep[nearest]), 1.0, atol=1e-4)
    # Speed is the path's rate: a forward-driving log, below urban limits.
    assert scenario.ego.speed_mps.max() < 20.0
    assert scenario.ego.speed_mps.min() > -0.5
    path_m = np.linalg.norm(np.diff(scenario.ego.xy, axis=0), axis=1).sum()
    assert np.sum(scenario.ego.speed_mps[:-1]) * 0.1 == pytest.approx(path_m, rel=0.05)


def test_keyframe_poses_are_used_without_lidar(broken_root):
    rewrite_table(broken_root, "sample_data",
                   lambda records: records.__setitem__(slice(None), [r for r in records
                                                                     if "LIDAR_TOP" not in r["filename"]]))
    source = NuScenesSource(broken_root, VERSION)
    (info,) = source.list_scenes()
    assert info.num_ego_poses == len(source.nusc.sample)  # one pose per keyframe
    scenario = source.load_scenario(info.name)
    full = scenario_of(REAL_DATAROOTS[0])
    assert abs(scenario.num_steps - full.num_steps) <= 1
    # Keyframe poses come from the camera closest to the sample time (within 23 ms), so the
    # 2 Hz path stays within decimetres of the 10 Hz one.
    steps = min(scenario.num_steps, full.num_steps)
    assert np.median(np.linalg.norm(scenario.ego.xy[:steps] - full.ego.xy[:steps], axis=1)) < 0.5

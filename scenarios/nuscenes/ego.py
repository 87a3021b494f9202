"""The ego log: the scene's ego poses (LIDAR_TOP sweeps, else keyframes) interpolated onto the grid."""

from __future__ import annotations

import numpy as np

from scenarios.nuscenes.interpolation import finite_difference_velocity, interpolate_track
from scenarios.nuscenes.tables import NuScenesTables
from sim.errors import DatasetError
from sim.geometry import yaw_from_quaternion
from sim.types.scenario import DT_S, EgoLog


def ego_poses(tables: NuScenesTables, scene: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The scene's ego poses sorted by time: t_us (S,) int64, xyz (S, 3), q_wxyz (S, 4)."""
    sample_data = tables.ego_pose_sample_data(scene)
    if not sample_data:
        # No LIDAR_TOP: one pose per keyframe, from the sample_data closest to the sample time.
        sample_data = []
        for sample in tables.samples(scene):
            records = [tables.record("sample_data", token, "sample", sample["token"], "data")
                       for token in sample["data"].values()]
            if records:
                sample_data.append(min(records, key=lambda sd: abs(sd["timestamp"] - sample["timestamp"])))
    poses = [tables.record("ego_pose", sd["ego_pose_token"], "sample_data", sd["token"], "ego_pose_token")
             for sd in sample_data]
    if not poses:
        raise DatasetError(f"{tables.table_path('sample_data')}: scene {scene['name']!r} has no sample_data "
                           "with an ego pose: the ego cannot be replayed")
    t_us = np.array([p["timestamp"] for p in poses], dtype=np.int64)
    t_us, first = np.unique(t_us, return_index=True)  # sorted; repeated timestamps kept once
    xyz = np.array([poses[i]["translation"] for i in first], dtype=np.float64)
    q = np.array([poses[i]["rotation"] for i in first], dtype=np.float64)
    return t_us, xyz, q


def ego_log(t_pose_us: np.ndarray, xyz_pose: np.ndarray, q_pose: np.ndarray, t_us: np.ndarray) -> EgoLog:
    """The ego on the grid t_us (T,) from poses at t_pose_us (S,): xyz_pose (S, 3), q_pose (S, 4) wxyz."""
    xyz, yaw = interpolate_track(t_pose_us, xyz_pose, yaw_from_quaternion(q_pose), t_us)
    valid = np.ones(len(t_us), dtype=bool)
    velocity = finite_difference_velocity(xyz[:, :2], valid, DT_S)
    # Signed speed: the velocity's component along the heading (negative when reversing).
    speed = velocity[:, 0] * np.cos(yaw) + velocity[:, 1] * np.sin(yaw)
    return EgoLog(xy=xyz[:, :2].copy(), z=xyz[:, 2].copy(), yaw_rad=yaw, speed_mps=speed, valid=valid)

"""KITTI camera axes to the ego frame (x forward, y left, z up, on the ground), by hand."""

from __future__ import annotations

import math

import numpy as np

from scenarios.kitti.convert import MapConfig, draw_map, ego_poses, pose_camera_to_ego


def _kitti_pose(yaw_left_rad: float, forward_m: float, right_m: float = 0.0) -> np.ndarray:
    """A cam0 pose turned yaw_left_rad to the left and moved (right_m, 0, forward_m) in world axes:
    turning left about the ego's up axis is a rotation about camera y (down) by -yaw."""
    a = -yaw_left_rad
    pose = np.eye(4)
    pose[:3, :3] = [[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]]
    pose[:3, 3] = [right_m, 0.0, forward_m]
    return pose


def test_first_frame_is_the_ego_at_the_offset_on_the_ground():
    pose = ego_poses(np.eye(4)[None], 1.65, np.array([100.0, 50.0]))[0]
    np.testing.assert_allclose(pose, [[1, 0, 0, 100], [0, 1, 0, 50], [0, 0, 1, 0], [0, 0, 0, 1]], atol=1e-12)


def test_forward_right_and_yaw_map_to_ego_axes():
    pose = ego_poses(_kitti_pose(math.radians(30), forward_m=10.0, right_m=2.0)[None], 1.65, np.zeros(2))[0]
    # 10 m along camera z is ego +x, 2 m along camera x (right) is ego -y; the ground stays at z 0
    np.testing.assert_allclose(pose[:3, 3], [10.0, -2.0, 0.0], atol=1e-12)
    c, s = math.cos(math.radians(30)), math.sin(math.radians(30))
    np.testing.assert_allclose(pose[:3, :3], [[c, -s, 0], [s, c, 0], [0, 0, 1]], atol=1e-12)


def test_cameras_sit_1_65_m_up_and_the_right_one_at_the_baseline():
    left = pose_camera_to_ego(np.zeros(3), 1.65)
    right = pose_camera_to_ego(np.array([0.537, 0.0, 0.0]), 1.65)
    np.testing.assert_allclose(left[:3, 3], [0, 0, 1.65])
    np.testing.assert_allclose(right[:3, 3], [0, -0.537, 1.65])
    # camera z (forward) is ego x, camera x (right) is ego -y, camera y (down) is ego -z
    np.testing.assert_allclose(left[:3, :3] @ [0, 0, 1], [1, 0, 0])
    np.testing.assert_allclose(left[:3, :3] @ [1, 0, 0], [0, -1, 0])
    np.testing.assert_allclose(left[:3, :3] @ [0, 1, 0], [0, 0, -1])


def test_map_lane_runs_along_the_path_past_both_ends():
    poses = np.tile(np.eye(4), (3, 1, 1))
    poses[:, 0, 3] = [100.0, 110.0, 120.0]
    poses[:, 1, 3] = 100.0
    drawn = draw_map(poses, MapConfig(extend_m=30.0, piece_m=2.0, lane_width_m=3.5, corridor_width_m=12.0))
    np.testing.assert_allclose(drawn.centerline_xy[[0, -1]], [[70.0, 100.0], [150.0, 100.0]])
    assert np.allclose(np.diff(drawn.centerline_xy[:, 0]), 2.0)
    assert math.isclose(drawn.lane.area, 80.0 * 3.5, rel_tol=1e-9)
    assert math.isclose(drawn.drivable.area, 80.0 * 12.0, rel_tol=1e-9)
    assert drawn.canvas_edge_m == (250.0, 206.0)

"""Conversions between splatsim's frames and AlpaSim's, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from policies_api.egodriver import frames
from proto.alpasim.v0 import common_pb2 as cpb
from proto.alpasim.v0 import sensorsim_pb2 as spb
from sim.types.state import EgoState

H = math.sqrt(0.5)


def _ego(x=10.0, y=20.0, yaw=math.pi / 2, v=5.0, a=1.0, w=0.2) -> EgoState:
    return EgoState(x_m=x, y_m=y, yaw_rad=yaw, speed_mps=v, accel_mps2=a, steer_rad=0.0, yaw_rate_radps=w)


def test_ego_pose_is_the_rig_pose_in_local():
    pose = frames.ego_pose_local_to_rig(10.0, 20.0, math.pi / 2)
    assert (pose.vec.x, pose.vec.y, pose.vec.z) == (10.0, 20.0, 0.0)
    assert [pose.quat.w, pose.quat.x, pose.quat.y, pose.quat.z] == pytest.approx([H, 0.0, 0.0, H], abs=1e-7)
    assert frames.quat_wxyz_to_yaw(H, 0.0, 0.0, H) == pytest.approx(math.pi / 2)
    assert frames.quat_wxyz_to_yaw(0.0, 0.0, 0.0, 1.0) == pytest.approx(math.pi)


def test_dynamic_state_of_a_turning_bicycle_in_the_rig_frame():
    s = frames.dynamic_state_in_rig(_ego(v=5.0, a=1.0, w=0.2))
    assert (s.linear_velocity.x, s.linear_velocity.y, s.linear_velocity.z) == (5.0, 0.0, 0.0)
    assert (s.angular_velocity.x, s.angular_velocity.y) == (0.0, 0.0)
    assert s.angular_velocity.z == pytest.approx(0.2)
    assert (s.linear_acceleration.x, s.linear_acceleration.y) == pytest.approx((1.0, 1.0))  # v * yaw rate


def _trajectory(rows):
    return cpb.Trajectory(poses=[cpb.PoseAtTime(pose=frames.ego_pose_local_to_rig(x, y, yaw), timestamp_us=t)
                                 for t, x, y, yaw in rows])


def test_plan_in_local_becomes_ego_frame_poses_after_now():
    ego = _ego()  # at (10, 20) heading north
    t0 = 1_000_000
    plan = _trajectory([(t0, 10.0, 20.0, math.pi / 2),          # the anchor: dropped
                        (t0 + 500_000, 10.0, 25.0, math.pi / 2),  # 5 m ahead
                        (t0 + 1_000_000, 9.0, 20.0, math.pi)])    # 1 m to the west = 1 m to the left, facing left
    action = frames.plan_to_action(plan, ego, t0)
    np.testing.assert_allclose(action.xy_in_ego, [[5.0, 0.0], [0.0, 1.0]], atol=1e-5)
    np.testing.assert_allclose(action.yaw_in_ego_rad, [0.0, math.pi / 2], atol=1e-6)
    np.testing.assert_allclose(action.t_offset_s, [0.5, 1.0])


def test_an_empty_plan_holds_and_bad_times_are_refused():
    ego = _ego()
    assert frames.plan_to_action(cpb.Trajectory(), ego, 5) is None
    assert frames.plan_to_action(_trajectory([(5, 10.0, 20.0, 0.0)]), ego, 5) is None  # only the anchor
    hold = frames.hold_action()
    assert np.all(hold.xy_in_ego == 0.0) and hold.t_offset_s[0] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="increase"):
        frames.plan_to_action(_trajectory([(10, 0.0, 0.0, 0.0), (10, 1.0, 0.0, 0.0)]), ego, 5)


def test_route_resampled_from_the_ego_with_each_padding():
    route = np.stack([np.arange(0.0, 10.1, 2.0), np.full(6, 0.5)], -1)  # 10 m straight, 0.5 m to the left
    rows = frames.route_waypoints_in_rig(route, 5, 4.0, "repeat")
    np.testing.assert_allclose(rows, [[0, 0.5, 0], [4, 0.5, 0], [8, 0.5, 0], [8, 0.5, 0], [8, 0.5, 0]])
    assert frames.route_waypoints_in_rig(route, 5, 4.0, "none").shape == (3, 3)
    nan = frames.route_waypoints_in_rig(route, 5, 4.0, "nan")
    assert np.isnan(nan[3:]).all() and np.isfinite(nan[:3]).all()
    bend = np.array([[0.0, 0.0], [3.0, 0.0], [3.0, 4.0]])  # 3 m then 4 m to the left
    np.testing.assert_allclose(frames.route_waypoints_in_rig(bend, 3, 3.5, "none")[:, :2], [[0, 0], [3, 0.5], [3, 4]])


def test_camera_declared_as_optical_frame_or_body():
    pose = np.eye(4)
    pose[:3, :3] = [[0, 0, 1], [-1, 0, 0], [0, -1, 0]]  # a camera looking forward: optical z = ego x
    pose[:3, 3] = [1.7, 0.0, 1.5]
    rev2 = frames.rig_to_camera(pose, 2)
    assert [rev2.quat.w, rev2.quat.x, rev2.quat.y, rev2.quat.z] == pytest.approx([0.5, -0.5, 0.5, -0.5], abs=1e-7)
    assert (rev2.vec.x, rev2.vec.y, rev2.vec.z) == pytest.approx((1.7, 0.0, 1.5))
    rev1 = frames.rig_to_camera(pose, 1)  # the body of a forward camera is aligned with the rig
    assert [rev1.quat.w, rev1.quat.x, rev1.quat.y, rev1.quat.z] == pytest.approx([1.0, 0.0, 0.0, 0.0], abs=1e-7)
    k = np.array([[100.0, 0, 48.0], [0, 101.0, 27.0], [0, 0, 1]])
    cam = frames.available_camera("camera_front_wide_120fov", k, 96, 54, pose, 2)
    spec = cam.intrinsics
    assert cam.logical_id == spec.logical_id == "camera_front_wide_120fov"
    assert (spec.resolution_w, spec.resolution_h, spec.shutter_type) == (96, 54, spb.ShutterType.GLOBAL)
    pin = spec.opencv_pinhole_param
    assert (pin.focal_length_x, pin.focal_length_y, pin.principal_point_x, pin.principal_point_y) == (100, 101, 48, 27)
    assert list(pin.radial_coeffs) == [0.0] * 6 and list(pin.tangential_coeffs) == [0.0] * 2


def test_ground_truth_poses_in_the_rig_frame_of_now():
    xy, yaw = frames.poses_in_rig(np.array([[10.0, 23.0]]), np.array([math.pi]), _ego())
    np.testing.assert_allclose(xy, [[3.0, 0.0]], atol=1e-12)
    np.testing.assert_allclose(yaw, [math.pi / 2])

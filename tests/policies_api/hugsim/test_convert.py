"""Frames, units and plan checks at the HUGSIM boundary, against hand-computed values."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from policies_api.errors import InvalidArgument
from policies_api.hugsim import convert
from sim.types.scenario import DrivingCommand


def _plan_json(data, shape=None, dtype="float64") -> str:
    arr = np.asarray(data)
    return json.dumps({"data": arr.tolist(), "shape": list(arr.shape) if shape is None else shape, "dtype": dtype})


def test_plan_x_right_y_forward_becomes_ego_x_forward_y_left_at_half_seconds() -> None:
    # 2 m ahead and 1 m to the right, then 4 m ahead still 1 m right
    action = convert.plan_to_action(np.array([[1.0, 2.0], [1.0, 4.0]]))
    np.testing.assert_allclose(action.xy_in_ego, [[2.0, -1.0], [4.0, -1.0]])
    np.testing.assert_allclose(action.t_offset_s, [0.5, 1.0])
    np.testing.assert_allclose(action.yaw_in_ego_rad, [math.atan2(-1.0, 2.0), 0.0])


def test_a_plan_that_stands_still_keeps_its_heading() -> None:
    action = convert.plan_to_action(np.array([[0.0, 0.0], [0.0, 0.0]]))
    np.testing.assert_allclose(action.yaw_in_ego_rad, [0.0, 0.0])
    np.testing.assert_allclose(action.xy_in_ego, np.zeros((2, 2)))


def test_actions_advance_a_quarter_second_on_the_10hz_grid() -> None:
    steps = [convert.engine_steps_of_action(k, 0.1) for k in range(6)]
    assert steps == [2, 3, 2, 3, 2, 3]  # 0.2, 0.5, 0.7, 1.0, 1.2, 1.5 s: every second action is exact
    assert [convert.engine_steps_of_action(k, 0.05) for k in range(3)] == [5, 5, 5]


def test_scene_frame_is_the_first_ego_frame_on_the_ground() -> None:
    frame = convert.SceneFrame(np.array([100.0, 50.0]), math.pi / 2, 2.0)  # facing north at (100, 50), z 2 m
    np.testing.assert_allclose(frame.xyz(np.array([[100.0, 60.0], [99.0, 50.0]]), np.array([3.0, 2.0])),
                               [[10.0, 0.0, 1.0], [0.0, 1.0, 0.0]], atol=1e-12)  # 10 m ahead; 1 m left (west)
    assert frame.yaw(math.pi / 2 + 0.1) == pytest.approx(0.1)
    assert frame.yaw(-math.pi / 2 - 0.1 + 2 * math.pi) == pytest.approx(math.pi - 0.1)


@pytest.mark.parametrize("yaw", [0.3, -0.3, 2.5, -2.9])
def test_ego_pos_and_rot_are_in_hugsims_camera_axes_world(yaw: float) -> None:
    pos, rot = convert.ego_pos_rot(np.array([10.0, 2.0, 0.5]), yaw)
    assert pos == pytest.approx([-2.0, -0.5, 10.0])  # x right = -left, y down = -up, z forward
    forward = Rotation.from_euler("XYZ", rot).as_matrix() @ np.array([0.0, 0.0, 1.0])  # the ego's z axis
    np.testing.assert_allclose(forward, [-math.sin(yaw), 0.0, math.cos(yaw)], atol=1e-12)  # left of +z for yaw > 0


def test_small_headings_give_hugsims_euler_triple() -> None:
    _, rot = convert.ego_pos_rot(np.zeros(3), 0.3)
    assert rot == pytest.approx([0.0, -0.3, 0.0])  # HUGSimEnv keeps the heading in vr[1] = -yaw


def test_boxes_are_x_y_z_w_l_h_yaw() -> None:
    boxes = convert.boxes_record(np.array([[1.0, 2.0, 3.0]]), np.array([[1.8, 4.5, 1.6]]), np.array([0.25]))
    assert boxes == [[1.0, 2.0, 3.0, 1.8, 4.5, 1.6, 0.25]]


def test_cam_params_fov_and_extrinsics() -> None:
    k = np.array([[[100.0, 0.0, 99.5], [0.0, 50.0, 49.5], [0.0, 0.0, 1.0]]])
    # a camera 1.5 m up, 2 m forward, looking forward: camera z = ego x, camera x = -ego y, camera y = -ego z
    pose = np.eye(4)
    pose[:3, :3] = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    pose[:3, 3] = [2.0, 0.0, 1.5]
    lidar = convert.lidar_to_ego((0.94, 0.0, 1.84), -math.pi / 2)
    params = convert.cam_params(np.array(["CAM_FRONT"]), k, pose[None], 200, 100, lidar)["CAM_FRONT"]
    intr = params["intrinsic"]
    assert (intr["W"], intr["H"], intr["cx"], intr["cy"]) == (200, 100, 99.5, 49.5)
    assert intr["fovx"] == pytest.approx(math.pi / 2) and intr["fovy"] == pytest.approx(math.pi / 2)
    np.testing.assert_allclose(params["v2c"] @ [12.0, 0.0, 1.5, 1.0], [0.0, 0.0, 10.0, 1.0], atol=1e-12)
    # the lidar's origin is 1.06 m behind the camera and 0.34 m above it (camera y down)
    np.testing.assert_allclose(params["l2c"] @ [0.0, 0.0, 0.0, 1.0], [0.0, -0.34, -1.06, 1.0], atol=1e-12)
    np.testing.assert_allclose(params["l2c"][:3, :3] @ [1.0, 0.0, 0.0], [1.0, 0.0, 0.0], atol=1e-12)  # right=right


def test_commands_follow_hugsims_numbers() -> None:
    assert convert.COMMAND_OF_DRIVING_COMMAND == {DrivingCommand.RIGHT: 0, DrivingCommand.LEFT: 1,
                                                  DrivingCommand.STRAIGHT: 2}


def test_parse_plan_accepts_what_hugsim_client_sends() -> None:
    plan = np.array([[0.0, 1.5], [0.1, 3.0]], np.float32)
    np.testing.assert_allclose(convert.parse_plan(_plan_json(plan, dtype="float32")), plan)


@pytest.mark.parametrize("body, fragment", [
    (_plan_json([[0, 1], [0, 2]], dtype="int64"), "dtype"),
    (_plan_json([[0.0, float("nan")]]), "finite"),
    (_plan_json([[0.0, 1e9]]), "finite"),
    (_plan_json([[0.0, 1.0]], shape=[100000, 2]), "shape"),
    (_plan_json([[0.0, 1.0, 2.0]]), "shape"),
    (_plan_json([[0.0, 1.0]], shape=[2, 2]), "data has shape"),
    (_plan_json([["a", "b"]]), "not numeric"),
    ("{not json", "not valid JSON"),
    (json.dumps([1, 2]), "keys"),
    ([[0.0, 1.0]], "JSON string"),
    (_plan_json([[0.0, 1.0]], dtype="object"), "dtype"),
])
def test_parse_plan_refuses_malformed_plans(body, fragment: str) -> None:
    with pytest.raises(InvalidArgument, match=fragment):
        convert.parse_plan(body)

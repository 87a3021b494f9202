"""numpy <-> protobuf conversions: exact round trips, the time grid, images, and malformed input."""

from __future__ import annotations

import numpy as np
import pytest

from policies_api import convert
from policies_api.convert import MessageError
from proto.splatsim.v1 import driving_policy_pb2 as dpb
from proto.splatsim.v1 import messages_pb2 as pb
from sim.engine import PLAN_TIMES_S, initial_state, observe, prepare
from sim.errors import ActionError
from sim.types.observation import CameraImages
from sim.types.state import ControlAction, TrajectoryAction
from tests.policies_api.conftest import FlatRenderer


def test_plan_times_on_the_engine_grid_survive_the_wire_exactly():
    us = convert.s_to_us(PLAN_TIMES_S)
    assert list(us[:3]) == [100_000, 200_000, 300_000]
    assert np.array_equal(convert.us_to_s(us), PLAN_TIMES_S)  # bit-for-bit, not approximately
    action = convert.trajectory_from_poses(np.zeros((8, 3)) + [[1.0, 0.0, 0.0]], dt_s=0.5)
    again = convert.trajectory_from_proto(convert.trajectory_to_proto(action))
    assert np.array_equal(again.t_offset_s, action.t_offset_s) and again.t_offset_s[-1] == pytest.approx(4.0)


def test_trajectory_and_controls_round_trip_exactly():
    rng = np.random.default_rng(0)
    xy = np.cumsum(rng.uniform(0.1, 3.0, (40, 2)), axis=0)
    action = TrajectoryAction(xy, rng.normal(size=40), PLAN_TIMES_S.copy())
    response = dpb.PlanResponse()
    convert.set_action(response, action)
    back = convert.get_action(dpb.PlanResponse.FromString(response.SerializeToString()))
    assert np.array_equal(back.xy_in_ego, xy) and np.array_equal(back.yaw_in_ego_rad, action.yaw_in_ego_rad)
    convert.set_action(response, ControlAction(-2.5, 0.125))
    assert convert.get_action(response) == ControlAction(-2.5, 0.125)
    assert convert.get_action(dpb.PlanResponse()) is None


@pytest.mark.parametrize("points, match", [
    ([], "0 points"), ([(0, 1.0, 0.0, 0.0)], "t_offset_us"), ([(500_000, float("nan"), 0.0, 0.0)], "NaN"),
    ([(500_000, 1.0, 0.0, 0.0), (500_000, 2.0, 0.0, 0.0)], "increasing"), ([(500_000, 2e4, 0.0, 0.0)], "10 km"),
    ([(61_000_000, 1.0, 0.0, 0.0)], "60 s")])
def test_unusable_trajectories_are_action_errors(points, match):
    msg = pb.Trajectory(points=[pb.TrajectoryPoint(t_offset_us=t, x_m=x, y_m=y, yaw_rad=a) for t, x, y, a in points])
    with pytest.raises(ActionError, match=match):
        convert.trajectory_from_proto(msg)
    with pytest.raises(ActionError, match="out of range"):
        convert.controls_from_proto(pb.Controls(accel_mps2=80.0))


@pytest.mark.parametrize("encoding", ["raw", "png", "jpeg"])
def test_observation_round_trip_with_images_and_ground_truth(scenarios, encoding):
    sc = scenarios[3]
    ctx = prepare(sc)
    state = initial_state(ctx)
    renderer = FlatRenderer(sc, ["CAM_FRONT"], 40, 24)
    obs = observe(ctx, state, ctx.route_start_s_m, renderer)
    msg = convert.observation_to_proto(obs, encoding=convert.ENCODINGS[encoding], depth=True, privileged=True)
    back = convert.observation_from_proto(pb.Observation.FromString(msg.SerializeToString()))
    assert back.ego == obs.ego and back.t_us == obs.t_us and back.driving_command == obs.driving_command
    assert np.array_equal(back.route_xy_in_ego, obs.route_xy_in_ego)
    assert back.scenario_name == sc.name and back.scenario is None and back.state is None
    tolerance = 3 if encoding == "jpeg" else 0
    assert np.abs(back.images.rgb.astype(int) - obs.images.rgb).max() <= tolerance
    assert back.has_depth and not back.has_alpha and np.array_equal(back.images.depth_m, obs.images.depth_m)
    assert np.array_equal(back.images.intrinsics, obs.images.intrinsics)
    assert np.array_equal(back.images.pose_camera_to_ego, obs.images.pose_camera_to_ego)
    gt = back.ground_truth
    assert list(gt.actor_ids) == ["actor-0", "actor-1"]
    # actor-0 drives alongside in the next lane: 3.5 m to the right, ~5 m ahead of the rear axle.
    assert gt.actor_xy_in_ego[0, 1] == pytest.approx(-3.5) and gt.actor_xy_in_ego[0, 0] == pytest.approx(5.0)
    assert gt.actor_size_wlh_m[0].tolist() == [1.9, 4.6, 1.6]
    again = convert.observation_to_proto(back, privileged=True)  # forwarding keeps the ground truth
    assert again.ground_truth == msg.ground_truth


def _image(**fields) -> pb.CameraImage:
    msg = pb.CameraImage(name="CAM_FRONT", width=4, height=3, encoding=pb.IMAGE_ENCODING_RAW_RGB8, data=bytes(36))
    msg.intrinsics.extend([1.0] * 9)
    msg.pose_camera_to_ego.extend([0.0] * 16)
    for k, v in fields.items():
        setattr(msg, k, v)
    return msg


@pytest.mark.parametrize("fields, match", [
    ({"data": bytes(35)}, "36"), ({"width": 100_000}, "out of range"),
    ({"encoding": 2, "data": b"not a jpeg"}, "decode"),
    ({"encoding": 9}, "unknown image encoding"), ({"depth_m_f32": bytes(7)}, "depth_m_f32")])
def test_lying_or_broken_images_are_message_errors(fields, match):
    msg = pb.Observation()
    msg.ego.speed_mps = 1.0
    msg.images.append(_image(**fields))
    with pytest.raises(MessageError, match=match):
        convert.observation_from_proto(msg)


def test_a_png_header_that_lies_about_its_size_is_refused_before_decoding():
    rgb = np.zeros((3, 4, 3), np.uint8)
    msg = pb.Observation()
    msg.ego.speed_mps = 1.0
    msg.images.append(_image(encoding=pb.IMAGE_ENCODING_PNG, data=convert.encode_rgb(rgb, pb.IMAGE_ENCODING_PNG),
                             width=8))
    with pytest.raises(MessageError, match="the header says 8x3"):
        convert.observation_from_proto(msg)


def test_images_to_proto_raw_is_plain_bytes():
    rgb = np.arange(2 * 3 * 4 * 3, dtype=np.uint8).reshape(2, 3, 4, 3)
    images = CameraImages(np.array(["A", "B"], object), rgb, np.zeros((2, 3, 4), np.float32),
                          np.ones((2, 3, 4), np.float32), np.stack([np.eye(3)] * 2), np.stack([np.eye(4)] * 2))
    msg = pb.Observation()
    convert.images_to_proto(images, msg.images, pb.IMAGE_ENCODING_RAW_RGB8, alpha=True)
    assert msg.images[1].data == rgb[1].tobytes() and msg.images[1].width == 4 and msg.images[1].height == 3
    assert not msg.images[0].depth_m_f32 and len(msg.images[0].alpha_f32) == 3 * 4 * 4


@pytest.mark.parametrize("encoding", ["raw", "png"])
def test_the_image_fast_path_writes_an_ordinary_message(scenarios, encoding):
    """StepReply / serialize_with_observation bytes parse with plain protobuf into the same
    message the slow path builds, and the receiver's one-copy decoding gives the same arrays."""
    from policies_api.client import step_result_from_bytes
    from policies_api.session import StepReply
    from proto.splatsim.v1 import simulator_pb2 as spb

    sc = scenarios[1]
    ctx = prepare(sc)
    obs = observe(ctx, initial_state(ctx), ctx.route_start_s_m, FlatRenderer(sc, ["CAM_FRONT"], 40, 24))
    enc = convert.ENCODINGS[encoding]
    rest = spb.StepResult(done=True)
    rest.metrics.route_s_m = 3.5
    slow = spb.StepResult()
    slow.CopyFrom(rest)
    convert.observation_to_proto(obs, slow.observation, encoding=enc, depth=True, alpha=True, privileged=True)
    fast = StepReply(rest, convert.observation_to_proto(obs, privileged=True, include_images=False),
                     convert.image_payloads(obs.images, enc, depth=True, alpha=True))
    raw = fast.serialize()
    assert spb.StepResult.FromString(raw) == slow
    got = step_result_from_bytes(raw).observation
    want = convert.observation_from_proto(slow.observation)
    for name in ("rgb", "depth_m", "alpha", "intrinsics", "pose_camera_to_ego"):
        assert np.array_equal(getattr(got.images, name), getattr(want.images, name)), name
    assert got.images.rgb.flags.writeable and got.has_depth and got.has_alpha

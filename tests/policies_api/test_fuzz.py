"""Property-based: malformed and extreme messages thrown at Step and Plan get only the
documented status codes, and both servers keep serving."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from examples.lane_follower_stack import LaneFollower
from policies_api.policy_server import serve_policy
from proto.splatsim.v1 import driving_policy_pb2 as dpb
from proto.splatsim.v1 import driving_policy_pb2_grpc as dpb_grpc
from proto.splatsim.v1 import messages_pb2 as pb
from proto.splatsim.v1 import simulator_pb2 as spb
from proto.splatsim.v1 import simulator_pb2_grpc as spb_grpc

STEP_CODES = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
              grpc.StatusCode.FAILED_PRECONDITION}
PLAN_CODES = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION}
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])

plain_float = st.floats(-60.0, 60.0)
extreme_float = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, -0.0, 1e-300, 1e300, 1e4, -1e4])
any_float = plain_float | plain_float | plain_float | extreme_float  # mostly usable values, so deep paths run
int64 = st.integers(-(2**63), 2**63 - 1) | st.integers(-1, 10_000_000)
uint32 = st.integers(0, 2**32 - 1) | st.integers(0, 64)


@st.composite
def trajectories(draw):
    n = draw(st.integers(0, 12) | st.integers(395, 410))
    increasing = draw(st.integers(0, 3)) > 0
    points = []
    value = any_float if draw(st.integers(0, 3)) == 0 else plain_float
    for k in range(n):
        t = 100_000 * (k + 1) if increasing else draw(int64)
        points.append(pb.TrajectoryPoint(t_offset_us=t, x_m=draw(value), y_m=draw(value), yaw_rad=draw(value)))
    return pb.Trajectory(points=points)


@st.composite
def step_requests(draw, session_id: str):
    pick = draw(st.integers(0, 9))
    request = spb.StepRequest(session_id=session_id if pick > 1 else "" if pick == 0 else draw(st.text(max_size=40)))
    kind = draw(st.sampled_from(["trajectory", "controls", "none"]))
    if kind == "trajectory":
        request.trajectory.CopyFrom(draw(trajectories()))
    elif kind == "controls":
        control = st.floats(-4.0, 4.0) | st.floats(-4.0, 4.0) | extreme_float
        request.controls.accel_mps2 = draw(control)
        request.controls.steer_rad = draw(control)
    if draw(st.integers(0, 3)) == 0:
        request.observation_step_index = draw(int64)
    return request


@pytest.fixture(scope="module")
def step_target(server):
    channel = grpc.insecure_channel(server.tcp_target)
    stub = spb_grpc.SimulatorStub(channel)
    sid = stub.CreateSession(spb.CreateSessionRequest(scenario="road-oncoming", reactive_actors=True,
                                                      continue_after_route_end=True)).session_id
    stub.Reset(spb.ResetRequest(session_id=sid))
    yield channel, stub, sid
    channel.close()


def _code(fn, request):
    try:
        fn(request, timeout=30)
    except grpc.RpcError as err:
        return err.code(), err.details()
    return grpc.StatusCode.OK, ""


@FUZZ
@given(data=st.data())
def test_step_with_malformed_and_extreme_actions(step_target, data):
    channel, stub, sid = step_target
    request = data.draw(step_requests(sid))
    code, details = _code(stub.Step, request)
    assert code in STEP_CODES, (code, details)
    if code == grpc.StatusCode.FAILED_PRECONDITION and "done" in details:
        stub.Reset(spb.ResetRequest(session_id=sid))


@FUZZ
@given(payload=st.binary(max_size=300))
def test_step_with_arbitrary_bytes(step_target, payload):
    """Bytes that parse as a StepRequest reach the handler (documented codes only); bytes that
    do not parse are refused by gRPC itself before any handler runs."""
    channel, stub, sid = step_target
    raw = channel.unary_unary("/splatsim.v1.Simulator/Step")
    try:
        spb.StepRequest.FromString(payload)
        parses = True
    except Exception:
        parses = False
    code, details = _code(raw, payload)
    assert code in STEP_CODES or (not parses and code == grpc.StatusCode.INTERNAL), (code, details)


@st.composite
def camera_images(draw):
    w, h = draw(st.integers(0, 9) | st.integers(8000, 9000) | st.just(4)), draw(st.integers(0, 9) | st.just(3))
    encoding = draw(st.sampled_from([0, 1, 2, 3, 7]))
    size = w * h * 3 if draw(st.booleans()) and w * h < 1000 else draw(st.integers(0, 64))
    image = pb.CameraImage(name=draw(st.text(max_size=8)), width=w, height=h, encoding=encoding,
                           data=draw(st.binary(min_size=size, max_size=size)))
    image.intrinsics.extend(draw(st.lists(any_float, min_size=0, max_size=10) | st.just([1.0] * 9)))
    image.pose_camera_to_ego.extend(draw(st.lists(any_float, min_size=0, max_size=17) | st.just([0.0] * 16)))
    if draw(st.booleans()):
        image.depth_m_f32 = draw(st.binary(max_size=w * h * 4 + 4))
    return image


@st.composite
def plan_requests(draw):
    request = dpb.PlanRequest(episode_id=draw(st.text(max_size=10)))
    if draw(st.integers(0, 9)) == 0:
        return request  # no observation at all
    obs = request.observation
    obs.t_us, obs.step_index = draw(int64), draw(int64)
    if draw(st.integers(0, 9)):
        ego = obs.ego
        ego.pose_in_global.x_m, ego.pose_in_global.y_m = draw(any_float), draw(any_float)
        ego.pose_in_global.yaw_rad, ego.speed_mps, ego.accel_mps2 = draw(any_float), draw(any_float), draw(any_float)
        ego.yaw_rate_radps, ego.steer_rad, ego.z_m = draw(any_float), draw(any_float), draw(any_float)
    obs.driving_command = draw(st.integers(-3, 7))
    route_float = any_float if draw(st.integers(0, 3)) == 0 else plain_float
    for _ in range(draw(st.integers(0, 60))):
        obs.route_in_ego.add(x_m=draw(route_float), y_m=draw(route_float))
    for _ in range(draw(st.integers(0, 3))):
        obs.images.append(draw(camera_images()))
    if draw(st.booleans()):
        box = obs.ground_truth.actors.add(id=draw(st.text(max_size=5)), kind=draw(st.integers(-1, 9)))
        box.center_in_ego.x_m, box.width_m = draw(any_float), draw(any_float)
    return request


@pytest.fixture(scope="module")
def plan_target():
    with serve_policy(LaneFollower(), strict_episodes=False) as server:
        with grpc.insecure_channel(server.target[len("grpc://"):]) as channel:
            yield channel, dpb_grpc.DrivingPolicyStub(channel)


@FUZZ
@given(request=plan_requests())
def test_plan_with_malformed_and_extreme_observations(plan_target, request):
    channel, stub = plan_target
    code, details = _code(stub.Plan, request)
    assert code in PLAN_CODES, (code, details)


def test_both_servers_still_serve_after_the_fuzzing(server, plan_target):
    for channel in (grpc.insecure_channel(server.tcp_target), plan_target[0]):
        health = health_pb2_grpc.HealthStub(channel)
        reply = health.Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING

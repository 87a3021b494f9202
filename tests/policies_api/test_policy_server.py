"""The other direction: splatsim calls a driving stack served over gRPC (DrivingPolicy)."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from examples.lane_follower_stack import LaneFollower
from policies_api.client import RemoteError, metrics_equal
from policies_api.convert import observation_to_proto
from policies_api.policy_server import serve_policy
from policies_api.remote_policy import RemotePolicy, is_remote_policy_name
from proto.splatsim.v1 import driving_policy_pb2 as dpb
from proto.splatsim.v1 import driving_policy_pb2_grpc as dpb_grpc
from sim.engine import EngineConfig, initial_state, observe, prepare, run_episode
from sim.metrics import episode_metrics
from sim.policies.builtin import ConstantVelocityPolicy, IDMPolicy
from sim.types.state import ControlAction, TrajectoryAction
from tests.policies_api.conftest import FlatRenderer


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_a_served_policy_drives_the_same_episode_as_in_process(scenarios, socket_dir, transport):
    scenario = scenarios[1]
    stack = LaneFollower()
    unix = str(socket_dir / "policy.sock") if transport == "unix" else None
    with serve_policy(stack, port=None if unix else 0, unix_socket=unix) as server:
        target = server.target
        assert target.startswith("grpc://" if transport == "tcp" else "unix://") and is_remote_policy_name(target)
        renderer = FlatRenderer(scenario, ["CAM_FRONT"], 32, 18)
        with RemotePolicy(target) as policy:
            remote = run_episode(prepare(scenario, EngineConfig(reactive=True)), policy, renderer)
            assert policy.name == "lane-follower"
            policy.end_episode(episode_metrics(remote).to_json())
        assert len(stack.brightness) == remote.num_steps  # the stack saw every image
        assert server.service.episodes_started == 1 and server.service.plans == remote.num_steps
    local = run_episode(prepare(scenario, EngineConfig(reactive=True)), LaneFollower(), renderer)
    assert metrics_equal(episode_metrics(remote).to_json(), episode_metrics(local).to_json())
    assert np.array_equal(remote.ego_xy, local.ego_xy) and np.array_equal(remote.plan_xy, local.plan_xy)


def test_plain_functions_controls_and_privileged_inputs(scenarios):
    seen = []

    def plan(obs):
        seen.append(obs)
        poses = np.array([[5.0 * (k + 1), 0.0, 0.0] for k in range(8)])
        return ControlAction(0.3, 0.0) if obs.step_index % 2 else poses

    with serve_policy(plan, name="alternating") as server:
        with RemotePolicy(server.target, privileged=True) as policy:
            episode = run_episode(prepare(scenarios[1], EngineConfig(max_steps=6, stop_at_route_end=False)), policy)
    assert episode.policy_name == "alternating" and episode.num_steps == 6
    assert list(episode.plan_valid[:6]) == [True, False, True, False, True, False]
    gt = seen[0].ground_truth
    assert list(gt.actor_ids) == ["actor-0"] and len(gt.lanes) >= 2


def test_policy_failures_are_statuses_not_crashes(scenarios):
    calls = {"n": 0}

    def flaky(obs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise ValueError("stack bug")
        if calls["n"] == 3:
            return "not a plan"
        if calls["n"] == 4:
            return TrajectoryAction(np.array([[np.nan, 0.0]]), np.zeros(1), np.array([0.5]))
        return ConstantVelocityPolicy().plan(obs)

    ctx = prepare(scenarios[0])
    obs = observe(ctx, initial_state(ctx), ctx.route_start_s_m)
    with serve_policy(flaky) as server:
        with RemotePolicy(server.target) as policy:
            policy.reset(scenarios[0])
            assert isinstance(policy.plan(obs), TrajectoryAction)
            with pytest.raises(RemoteError, match="INTERNAL.*stack bug"):
                policy.plan(obs)
            with pytest.raises(RemoteError, match="INTERNAL.*not a TrajectoryAction"):
                policy.plan(obs)
            with pytest.raises(RemoteError, match="unusable plan.*NaN"):
                policy.plan(obs)
            assert isinstance(policy.plan(obs), TrajectoryAction)  # still serving
        with grpc.insecure_channel(server.target[len("grpc://"):]) as channel:
            stub = dpb_grpc.DrivingPolicyStub(channel)
            with pytest.raises(grpc.RpcError) as err:
                stub.Plan(dpb.PlanRequest(episode_id="x"))
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            request = dpb.PlanRequest(episode_id="x")
            observation_to_proto(obs, request.observation)
            request.observation.ego.speed_mps = float("nan")
            with pytest.raises(grpc.RpcError) as err:
                stub.Plan(request)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_privileged_builtin_policies_need_ground_truth_in_process_only(scenarios):
    """A remote policy never gets the scenario (reset(None)): the IDM baseline, which needs it,
    fails with a status naming the call, and the policy server keeps serving."""
    with serve_policy(IDMPolicy()) as server:
        with RemotePolicy(server.target) as policy:
            with pytest.raises(RemoteError, match="StartEpisode.*INTERNAL"):
                run_episode(prepare(scenarios[0]), policy)
            with grpc.insecure_channel(server.target[len("grpc://"):]) as channel:
                health = health_pb2_grpc.HealthStub(channel)
                assert health.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.SERVING


def test_unreachable_policy_server_is_a_clear_error():
    with pytest.raises(RemoteError, match="cannot reach"):
        RemotePolicy("grpc://127.0.0.1:9", connect_timeout_s=0.5)


def test_example_stack_serves_itself_as_a_policy_in_its_own_process(scenarios, socket_dir):
    import os
    import signal
    import subprocess

    from tests.policies_api.conftest import PYTHON, REPO_ROOT

    sock = socket_dir / "example-policy.sock"
    proc = subprocess.Popen([PYTHON, "examples/lane_follower_stack.py", "--serve-policy", "--unix", str(sock)],
                            cwd=REPO_ROOT, env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        target = proc.stdout.readline().strip()
        assert target == f"unix://{sock}"
        with RemotePolicy(target) as policy:
            remote = run_episode(prepare(scenarios[3]), policy)
        local = run_episode(prepare(scenarios[3]), LaneFollower())
        assert metrics_equal(episode_metrics(remote).to_json(), episode_metrics(local).to_json())
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)

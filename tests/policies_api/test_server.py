"""The simulator server over real loopback gRPC (TCP and Unix socket): remote episodes equal
in-process ones, every bad request gets its status, and the server keeps serving."""

from __future__ import annotations

import json
import math
import threading
import time

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from examples.lane_follower_stack import LaneFollower
from policies_api.catalog import ScenarioCatalog
from policies_api.client import METADATA, RemoteError, RemoteSimulator, metrics_equal
from policies_api.server import ServerConfig, SimulatorServer
from proto.splatsim.v1 import simulator_pb2 as spb
from proto.splatsim.v1 import simulator_pb2_grpc as spb_grpc
from sim.engine import EngineConfig, prepare, run_episode
from sim.metrics import episode_metrics
from sim.policies.builtin import ConstantVelocityPolicy
from sim.types.state import ControlAction
from tests.policies_api.conftest import FlatRenderer, run_python

CLIENT_SCRIPT = """
import json, sys
from examples.lane_follower_stack import LaneFollower
from policies_api.client import RemoteSimulator
target, scenario = sys.argv[1], sys.argv[2]
stack = LaneFollower()
with RemoteSimulator(target) as sim:
    obs = sim.reset(scenario, cameras=["CAM_FRONT"], width=64, height=36, policy_name=stack.name)
    while True:
        result = sim.step(stack.plan(obs))
        obs = result.observation
        if result.done:
            break
print(json.dumps({"metrics": result.episode_metrics, "frames": len(stack.brightness),
                  "brightness": stack.brightness[:3]}))
"""


def in_process_metrics(scenario, policy, config=EngineConfig()) -> dict:
    return episode_metrics(run_episode(prepare(scenario, config), policy)).to_json()


@pytest.mark.parametrize("transport", ["tcp", "unix"])
@pytest.mark.parametrize("scene", ["road-open", "road-slow-leader", "road-parked"])
def test_episode_from_a_client_process_equals_the_in_process_loop(server, scenarios, transport, scene, tmp_path):
    target = server.tcp_target if transport == "tcp" else server.unix_target
    script = tmp_path / "client.py"
    script.write_text(CLIENT_SCRIPT)
    done = run_python([str(script), target, scene], timeout_s=180)
    assert done.returncode == 0, done.stderr[-3000:]
    remote = json.loads(done.stdout.strip().splitlines()[-1])
    scenario = next(s for s in scenarios if s.name == scene)
    local = in_process_metrics(scenario, LaneFollower())
    assert metrics_equal(remote["metrics"], local), (remote["metrics"], local)
    assert remote["metrics"]["steps"] == local["steps"] > 10
    if scene == "road-parked":  # no route to complete: it runs to the log's end
        assert remote["metrics"]["end_reason"] == "scenario_end"
    assert remote["frames"] == local["steps"]  # one image per plan, and the stack read it
    assert remote["brightness"][0] == pytest.approx((0 + 128 + 255) / 3)  # FlatRenderer, step 0, camera 0


def test_controls_and_held_plans_match_the_in_process_loop(server, scenarios):
    """Controls, and an empty Step (hold the previous trajectory) = run_episode's replanning."""
    scenario = scenarios[2]

    class Every3:  # in-process: replan every 3 steps with constant velocity
        name = "cv-every-3"

        def reset(self, sc):
            pass

        def plan(self, obs):
            return ConstantVelocityPolicy().plan(obs)

    local = in_process_metrics(scenario, Every3(), EngineConfig(replan_every_steps=3))
    with RemoteSimulator(server.tcp_target) as sim:
        obs = sim.reset(scenario.name, policy_name="cv-every-3")
        k = 0
        while True:
            result = sim.step(ConstantVelocityPolicy().plan(obs) if k % 3 == 0 else None)
            k += 1
            obs = result.observation
            if result.done:
                break
    assert metrics_equal(result.episode_metrics, local)

    class Brake:
        name = "brake"

        def reset(self, sc):
            pass

        def plan(self, obs):
            return ControlAction(-1.0, 0.02)

    local = in_process_metrics(scenario, Brake())
    with RemoteSimulator(server.unix_target) as sim:
        sim.reset(scenario.name, policy_name="brake")
        while not (result := sim.step(ControlAction(-1.0, 0.02))).done:
            pass
    assert metrics_equal(result.episode_metrics, local)


def test_observation_carries_ego_route_images_and_ground_truth(server, scenarios):
    sc = scenarios[1]
    with RemoteSimulator(server.tcp_target) as sim:
        obs = sim.reset(sc.name, cameras=["CAM_FRONT"], width=32, height=18, depth=True, alpha=True, privileged=True,
                        encoding="png")
        assert obs.scenario_name == sc.name and obs.t_us == int(sc.t_us[0]) and obs.step_index == 0
        assert obs.ego.x_m == pytest.approx(sc.ego.xy[0, 0]) and obs.ego.speed_mps == pytest.approx(6.0)
        assert obs.route_xy_in_ego.shape[1] == 2 and len(obs.route_xy_in_ego) > 10
        assert obs.images.rgb.shape == (1, 18, 32, 3) and obs.has_depth and obs.has_alpha
        assert np.all(obs.images.rgb[0] == (0, 128, 255)) and np.all(obs.images.depth_m == 10.0)
        assert obs.images.intrinsics[0][0, 0] == pytest.approx(1266.0 * 32 / 1600)
        gt = obs.ground_truth
        assert list(gt.actor_ids) == ["actor-0"]
        assert gt.actor_xy_in_ego[0, 0] == pytest.approx(45.0 - 20.0 - 1.4, abs=1.5)
        assert any(lane.on_route for lane in gt.lanes)
        result = sim.step(ConstantVelocityPolicy().plan(obs))
        assert result.observation.step_index == 1 and result.observation.images.rgb[0, 0, 0, 0] == 7
        assert result.metrics.route_progress_m == pytest.approx(0.6, abs=0.05)
        assert math.isinf(result.metrics.ttc_s) or result.metrics.ttc_s > 0


def _stub(target):
    channel = grpc.insecure_channel(target)
    return channel, spb_grpc.SimulatorStub(channel)


def _code(fn, *args, **kwargs) -> grpc.StatusCode:
    try:
        fn(*args, **kwargs)
    except grpc.RpcError as err:
        return err.code()
    return grpc.StatusCode.OK


def test_every_bad_request_gets_its_status_and_the_server_keeps_serving(server, scenarios):
    channel, stub = _stub(server.tcp_target)
    with channel:
        no_scene = spb.CreateSessionRequest(scenario="no-such-scene")
        assert _code(stub.CreateSession, no_scene) == grpc.StatusCode.NOT_FOUND
        assert _code(stub.Step, spb.StepRequest(session_id="nope")) == grpc.StatusCode.NOT_FOUND
        assert _code(stub.Reset, spb.ResetRequest(session_id="nope")) == grpc.StatusCode.NOT_FOUND
        assert _code(stub.CloseSession, spb.CloseSessionRequest(session_id="nope")) == grpc.StatusCode.NOT_FOUND
        bad_cam = spb.CreateSessionRequest(scenario="road-open")
        bad_cam.cameras.names.append("CAM_NOWHERE")
        assert _code(stub.CreateSession, bad_cam) == grpc.StatusCode.INVALID_ARGUMENT
        huge = spb.CreateSessionRequest(scenario="road-open")
        huge.cameras.names.append("CAM_FRONT")
        huge.cameras.width, huge.cameras.height = 4096, 4096
        huge.cameras.depth = huge.cameras.alpha = True
        assert _code(stub.CreateSession, huge) == grpc.StatusCode.INVALID_ARGUMENT  # over the message limit
        assert _code(stub.CreateSession, spb.CreateSessionRequest(scenario="road-open", start_step=999)) \
            == grpc.StatusCode.INVALID_ARGUMENT
        wrong_version = (("splatsim-contract-version", "2"),)
        assert _code(stub.GetInfo, spb.GetInfoRequest(), metadata=wrong_version) == grpc.StatusCode.FAILED_PRECONDITION

        sid = stub.CreateSession(spb.CreateSessionRequest(scenario="road-open", max_steps=3,
                                                          continue_after_route_end=True)).session_id
        good = spb.StepRequest(session_id=sid)
        good.controls.accel_mps2 = 0.5
        assert _code(stub.Step, good) == grpc.StatusCode.FAILED_PRECONDITION  # before Reset
        stub.Reset(spb.ResetRequest(session_id=sid))
        assert _code(stub.Step, spb.StepRequest(session_id=sid)) == grpc.StatusCode.INVALID_ARGUMENT  # nothing to hold
        nan = spb.StepRequest(session_id=sid)
        nan.trajectory.points.add(t_offset_us=500_000, x_m=float("nan"), y_m=0.0, yaw_rad=0.0)
        assert _code(stub.Step, nan) == grpc.StatusCode.INVALID_ARGUMENT
        empty = spb.StepRequest(session_id=sid)
        empty.trajectory.SetInParent()
        assert _code(stub.Step, empty) == grpc.StatusCode.INVALID_ARGUMENT  # wrong length: 0 poses
        long = spb.StepRequest(session_id=sid)
        for k in range(401):
            long.trajectory.points.add(t_offset_us=100_000 * (k + 1), x_m=float(k))
        assert _code(stub.Step, long) == grpc.StatusCode.INVALID_ARGUMENT  # wrong length: 401 poses
        backwards = spb.StepRequest(session_id=sid)
        backwards.trajectory.points.add(t_offset_us=500_000, x_m=1.0)
        backwards.trajectory.points.add(t_offset_us=400_000, x_m=2.0)
        assert _code(stub.Step, backwards) == grpc.StatusCode.INVALID_ARGUMENT
        inf_controls = spb.StepRequest(session_id=sid)
        inf_controls.controls.accel_mps2 = float("inf")
        assert _code(stub.Step, inf_controls) == grpc.StatusCode.INVALID_ARGUMENT
        stale = spb.StepRequest(session_id=sid, observation_step_index=7)
        stale.controls.accel_mps2 = 0.0
        assert _code(stub.Step, stale) == grpc.StatusCode.FAILED_PRECONDITION
        # The rejected requests changed nothing: the episode runs its 3 steps, then refuses more.
        results = [stub.Step(good) for _ in range(3)]
        assert [r.observation.step_index for r in results] == [1, 2, 3] and results[-1].done
        assert results[-1].end_reason == spb.END_REASON_MAX_STEPS and results[-1].truncated
        assert _code(stub.Step, good) == grpc.StatusCode.FAILED_PRECONDITION  # after done
        assert stub.Reset(spb.ResetRequest(session_id=sid)).observation.step_index == 0  # Reset revives it
        summary = stub.CloseSession(spb.CloseSessionRequest(session_id=sid)).summary
        assert summary.steps == 0  # the restarted episode never stepped
        assert _code(stub.Step, good) == grpc.StatusCode.NOT_FOUND  # closed
        health = health_pb2_grpc.HealthStub(channel)
        assert health.Check(health_pb2.HealthCheckRequest(service="splatsim.v1.Simulator")).status \
            == health_pb2.HealthCheckResponse.SERVING
        info, call = stub.GetInfo.with_call(spb.GetInfoRequest(), metadata=METADATA)
        assert info.contract_version == 1 and ("splatsim-contract-version", "1") in call.initial_metadata()


def test_too_many_sessions_is_resource_exhausted(scenarios):
    with SimulatorServer(ScenarioCatalog(scenarios=scenarios), ServerConfig(port=0, max_sessions=2)) as srv:
        channel, stub = _stub(srv.tcp_target)
        with channel:
            ids = [stub.CreateSession(spb.CreateSessionRequest(scenario="road-open")).session_id for _ in range(2)]
            assert _code(stub.CreateSession, spb.CreateSessionRequest(scenario="road-open")) \
                == grpc.StatusCode.RESOURCE_EXHAUSTED
            stub.CloseSession(spb.CloseSessionRequest(session_id=ids[0]))
            stub.CreateSession(spb.CreateSessionRequest(scenario="road-open"))
            # No renderer on this server: cameras are a failed precondition, not a crash.
            cams = spb.CreateSessionRequest(scenario="road-open")
            cams.cameras.names.append("CAM_FRONT")
            stub.CloseSession(spb.CloseSessionRequest(session_id=ids[1]))
            assert _code(stub.CreateSession, cams) == grpc.StatusCode.FAILED_PRECONDITION


class _ExplodingRenderer(FlatRenderer):
    def render(self, scenario, state, before_camera=None):
        if state.step_index == 2:
            raise RuntimeError("GPU on fire")
        return super().render(scenario, state, before_camera)


class _SlowRenderer(FlatRenderer):
    def render(self, scenario, state, before_camera=None):
        images = super().render(scenario, state, before_camera)
        if state.step_index == 1:
            time.sleep(0.6)  # the camera's work, started in time, ends after the deadline
        return images


def test_unexpected_errors_become_internal_and_lost_replies_can_be_retried(scenarios):
    def factory(scenario, names, width, height):
        return (_ExplodingRenderer if scenario.name == "road-open" else _SlowRenderer)(scenario, names, width, height)

    with SimulatorServer(ScenarioCatalog(scenarios=scenarios), ServerConfig(port=0), factory) as srv:
        with RemoteSimulator(srv.tcp_target, timeout_s=0.3) as sim:
            sim.reset("road-open", cameras=["CAM_FRONT"], width=16, height=16)
            sim.step(ControlAction(0.0, 0.0))
            with pytest.raises(RemoteError) as err:
                sim.step(ControlAction(0.0, 0.0))
            assert err.value.code == grpc.StatusCode.INTERNAL and "GPU on fire" in str(err.value)
            assert sim.info()["active_sessions"] == 1  # the server is still serving
            sim.reset("road-oncoming", cameras=["CAM_FRONT"], width=16, height=16)
            with pytest.raises(RemoteError) as err:
                sim.step(ControlAction(0.5, 0.0))  # rendering step 1 takes 0.6 s > the 0.3 s deadline
            assert err.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
            time.sleep(0.5)
            retry = sim.step(ControlAction(0.5, 0.0))  # same observation_step_index: the lost reply, not a new step
            assert retry.observation.step_index == 1
            assert sim.step(ControlAction(0.5, 0.0)).observation.step_index == 2


def test_health_and_reflection_list_the_services(server):
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

    with grpc.insecure_channel(server.unix_target) as channel:
        db = ProtoReflectionDescriptorDatabase(channel)
        services = set(db.get_services())
        assert {"splatsim.v1.Simulator", "grpc.health.v1.Health"} <= services
        desc = db.FindFileContainingSymbol("splatsim.v1.Simulator")
        assert desc.name == "proto/splatsim/v1/simulator.proto"
        health = health_pb2_grpc.HealthStub(channel)
        assert health.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.SERVING


def test_graceful_shutdown_on_sigterm(scenario_dir, socket_dir):
    """`serve` as its own process: answers, then on SIGTERM stops cleanly with status 0."""
    import os
    import signal
    import subprocess

    from tests.policies_api.conftest import PYTHON, REPO_ROOT

    sock = socket_dir / "serve-cli.sock"
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    proc = subprocess.Popen([PYTHON, "-c", "import typer; from tools.grpc_commands import serve; typer.run(serve)",
                             "--port", "0", "--unix", str(sock), "--scenario-dir", str(scenario_dir), "--json",
                             "--no-render"], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stdout.readline()
        addresses = json.loads(line)
        assert addresses["scenarios"] == 5 and addresses["unix"] == f"unix:{sock}"
        for target in (addresses["tcp"], addresses["unix"]):
            with RemoteSimulator(target) as sim:
                assert {s["name"] for s in sim.list_scenarios()} >= {"road-open", "road-oncoming"}
                sim.reset("road-open")
                assert not sim.step(ControlAction(0.0, 0.0)).done
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, proc.stderr.read()[-2000:]
        assert not sock.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


class _GatedRenderer(FlatRenderer):
    """Renders only once `gate` is set; `entered` is set when a render has started."""

    gate = threading.Event()
    entered = threading.Event()

    def render(self, scenario, state, before_camera=None):
        _GatedRenderer.entered.set()
        assert _GatedRenderer.gate.wait(20.0)
        return super().render(scenario, state, before_camera)


def _gated_server(scenarios, **config):
    _GatedRenderer.gate, _GatedRenderer.entered = threading.Event(), threading.Event()
    return SimulatorServer(ScenarioCatalog(scenarios=scenarios), ServerConfig(port=0, **config), _GatedRenderer)


def _camera_session(stub) -> str:
    request = spb.CreateSessionRequest(scenario="road-open")
    request.cameras.names.append("CAM_FRONT")
    request.cameras.width, request.cameras.height = 16, 16
    return stub.CreateSession(request, metadata=METADATA).session_id


def test_a_flood_on_a_busy_session_is_aborted_at_once_and_other_clients_stay_fast(scenarios):
    with _gated_server(scenarios) as srv:
        channel, stub = _stub(srv.tcp_target)
        other, other_stub = _stub(srv.tcp_target)  # another client's connection
        with channel, other:
            session_id = _camera_session(stub)
            first = stub.Reset.future(spb.ResetRequest(session_id=session_id), metadata=METADATA)  # no deadline
            assert _GatedRenderer.entered.wait(10.0)
            t0 = time.monotonic()
            flood = [stub.Reset.future(spb.ResetRequest(session_id=session_id), metadata=METADATA) for _ in range(48)]
            errors = [f.exception(timeout=10.0) for f in flood]
            flood_s = time.monotonic() - t0
            info_s = []
            for _ in range(5):
                t = time.monotonic()
                other_stub.GetInfo(spb.GetInfoRequest(), timeout=5.0, metadata=METADATA)
                info_s.append(time.monotonic() - t)
            assert not first.done()  # the first Reset still renders: nothing waited for it
            _GatedRenderer.gate.set()
            assert first.result(timeout=10.0).observation.step_index == 0
        assert all(e is not None and e.code() == grpc.StatusCode.ABORTED for e in errors)
        assert "busy with another call" in errors[0].details() and "retry" in errors[0].details()
        assert srv.service.stats.snapshot()["aborted_busy"] == 48
        # Loose bounds for a shared machine; before, each flood call held a thread for 10 s.
        assert flood_s < 5.0 and max(info_s) < 1.0, (flood_s, info_s)


def test_calls_beyond_the_concurrency_bound_are_resource_exhausted(scenarios):
    with _gated_server(scenarios, max_workers=1, max_concurrent_rpcs=2) as srv:
        channel, stub = _stub(srv.tcp_target)
        with channel:
            session_id = _camera_session(stub)
            first = stub.Reset.future(spb.ResetRequest(session_id=session_id), metadata=METADATA)
            assert _GatedRenderer.entered.wait(10.0)  # the only worker thread is busy
            queued = stub.GetInfo.future(spb.GetInfoRequest(), metadata=METADATA)  # waits for the thread
            time.sleep(0.2)
            assert _code(stub.GetInfo, spb.GetInfoRequest(), timeout=5.0) == grpc.StatusCode.RESOURCE_EXHAUSTED
            _GatedRenderer.gate.set()
            first.result(timeout=10.0)
            assert queued.result(timeout=10.0).contract_version == 1
            stub.GetInfo(spb.GetInfoRequest(), timeout=5.0)  # and the server serves on

"""Many sessions at once: concurrent clients do not interfere, and vanished clients' sessions
are reclaimed."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from examples.lane_follower_stack import LaneFollower
from policies_api.client import RemoteSimulator, metrics_equal
from policies_api.server import ServerConfig, SimulatorServer
from policies_api.session import ScenarioCatalog
from sim.engine import EngineConfig, prepare, run_episode
from sim.metrics import episode_metrics
from sim.policies.builtin import ConstantVelocityPolicy
from sim.types.state import ControlAction
from tests.policies_api.conftest import PYTHON, REPO_ROOT, FlatRenderer


class Controls:
    """A policy that speaks controls (exercises the other half of the action oneof)."""

    def __init__(self, accel: float, steer: float):
        self.accel, self.steer = accel, steer
        self.name = f"controls-{accel:g}-{steer:g}"

    def reset(self, scenario):
        pass

    def plan(self, obs):
        return ControlAction(self.accel, self.steer)


def _jobs(scenarios):
    """8 (scenario, policy factory, reactive) jobs over 4 scenarios and 4 policies."""
    def fast():
        stack = LaneFollower(cruise_speed_mps=12.0)
        stack.name = "lane-follower-fast"
        return stack

    policies = [lambda: LaneFollower(), fast, ConstantVelocityPolicy,
                lambda: Controls(0.8, 0.01)]
    return [(scenarios[i % 4], policies[(i + i // 4) % 4], bool(i % 2)) for i in range(8)]


def _remote_episode(target, scenario, make_policy, reactive):
    policy = make_policy()
    with RemoteSimulator(target, timeout_s=60) as sim:
        obs = sim.reset(scenario.name, reactive=reactive, policy_name=policy.name,
                        cameras=["CAM_FRONT"], width=24, height=16)
        policy.reset(None)
        steps = 0
        while True:
            result = sim.step(policy.plan(obs))
            steps += 1
            assert result.observation.images.rgb[0, 0, 0, 0] == (7 * result.observation.step_index) % 256
            obs = result.observation
            if result.done:
                return result.episode_metrics


def test_eight_concurrent_sessions_equal_sequential_in_process_runs(server, scenarios):
    jobs = _jobs(scenarios)
    expected = [episode_metrics(run_episode(prepare(sc, EngineConfig(reactive=reactive)), make())).to_json()
                for sc, make, reactive in jobs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(_remote_episode, server.tcp_target if i % 2 else server.unix_target, *job)
                   for i, job in enumerate(jobs)]
        results = [f.result(timeout=300) for f in futures]
    for got, want, job in zip(results, expected, jobs):
        assert metrics_equal(got, want), (job[0].name, got, want)
    assert len({(r["scene"], r["policy"], r["reactive"]) for r in results}) == 8


KILLED_CLIENT = """
import sys, time
from policies_api.client import RemoteSimulator
from sim.types.state import ControlAction
sim = RemoteSimulator(sys.argv[1])
sim.reset("road-open", cameras=["CAM_FRONT"], width=16, height=16)
sim.step(ControlAction(0.0, 0.0))
print(sim.session_id, flush=True)
time.sleep(60)  # killed mid-episode by the test
"""


def test_a_killed_client_has_its_session_reclaimed(scenarios, socket_dir):
    renderers = []

    def factory(*args):
        renderers.append(FlatRenderer(*args))
        return renderers[-1]

    config = ServerConfig(port=0, unix_socket=str(socket_dir / "reap.sock"), idle_timeout_s=0.5)
    with SimulatorServer(ScenarioCatalog(scenarios=scenarios), config, factory) as srv:
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
        proc = subprocess.Popen([PYTHON, "-c", KILLED_CLIENT, srv.unix_target], cwd=REPO_ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            session_id = proc.stdout.readline().strip()
            assert session_id in srv.registry.ids()
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        deadline = time.monotonic() + 10.0
        while session_id in srv.registry.ids() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert session_id not in srv.registry.ids()
        assert srv.registry.reclaimed >= 1 and renderers[0].closed
        with RemoteSimulator(srv.tcp_target) as sim:  # and the server serves on
            sim.session_id = session_id
            with pytest.raises(Exception, match="NOT_FOUND"):
                sim.step(ControlAction(0.0, 0.0))
            sim.session_id = None
            sim.reset("road-open")
            assert sim.step(ControlAction(0.0, 0.0)).observation.step_index == 1


def test_a_session_in_use_is_never_reaped(scenarios):
    with SimulatorServer(ScenarioCatalog(scenarios=scenarios), ServerConfig(port=0, idle_timeout_s=0.3)) as srv:
        with RemoteSimulator(srv.tcp_target) as sim:
            sim.reset("road-oncoming")
            for _ in range(12):  # 12 x 0.1 s > the timeout, but never idle that long
                time.sleep(0.1)
                sim.step(ControlAction(0.0, 0.0))
            assert sim.session_id in srv.registry.ids()

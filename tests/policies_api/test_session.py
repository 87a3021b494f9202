"""Many sessions at once: concurrent clients do not interfere."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from examples.lane_follower_stack import LaneFollower
from policies_api.client import RemoteSimulator, metrics_equal
from sim.engine import EngineConfig, prepare, run_episode
from sim.metrics import episode_metrics
from sim.policies.builtin import ConstantVelocityPolicy
from sim.types.state import ControlAction


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

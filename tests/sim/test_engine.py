"""The engine loop: determinism, episode records, errors, route completion."""

import numpy as np
import pytest

from scenarios.synthetic import ActorSpec, straight_road_scenario
from sim.engine import EngineConfig, initial_state, prepare, run_episode, step
from sim.errors import ActionError, ConfigError
from sim.metrics import episode_metrics
from sim.policies.builtin import ExpertPolicy
from sim.policies.registry import make_policy
from sim.types.state import ControlAction, EndReason, TrajectoryAction


@pytest.fixture(scope="module")
def busy_road():
    rng = np.random.default_rng(7)
    specs = tuple(ActorSpec(x_m=float(x), lane=int(lane), speed_mps=float(v))
                  for x, lane, v in zip(rng.uniform(0, 380, 30), rng.choice([1, -1, -2], 30), rng.uniform(0, 12, 30)))
    return straight_road_scenario(num_steps=120, actors=specs)


def test_episodes_are_bit_for_bit_deterministic(busy_road):
    ctx = prepare(busy_road, EngineConfig(reactive=True))
    a, b = run_episode(ctx, make_policy("idm")), run_episode(ctx, make_policy("idm"))
    for field in ("ego_xy", "ego_yaw_rad", "ego_speed_mps", "actor_xy", "actor_speed_mps", "ttc_s", "route_s_m"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field


def test_expert_completes_the_route_and_records_every_state(busy_road):
    ep = run_episode(prepare(busy_road), ExpertPolicy())
    m = episode_metrics(ep)
    assert m.route_completion > 0.97 and not m.collision and not m.off_road
    assert ep.end_reason == EndReason.ROUTE_COMPLETE
    s = len(ep.step_index)
    assert ep.ego_xy.shape == (s, 2) and ep.actor_xy.shape == (s, 30, 2) and ep.plan_xy.shape == (s, 40, 2)
    assert np.all(np.diff(ep.t_us) == 100_000)
    # The tracked ego stays within 20 cm of the log (the last second brakes where the log ends).
    assert np.max(np.linalg.norm(ep.ego_xy - busy_road.ego.xy[ep.step_index], axis=1)[:-10]) < 0.2


def test_max_steps_and_start_step_bound_the_episode(busy_road):
    config = EngineConfig(start_step=10, max_steps=25, stop_at_route_end=False)
    ep = run_episode(prepare(busy_road, config), ExpertPolicy())
    assert ep.step_index[0] == 10 and ep.step_index[-1] == 35 and ep.end_reason == EndReason.MAX_STEPS


def test_replanning_every_five_steps_still_tracks_the_log(busy_road):
    ep = run_episode(prepare(busy_road, EngineConfig(replan_every_steps=5)), ExpertPolicy())
    assert np.max(np.linalg.norm(ep.ego_xy - busy_road.ego.xy[ep.step_index], axis=1)[:-10]) < 0.3


def test_bad_inputs_raise_project_errors(busy_road):
    with pytest.raises(ConfigError, match="start_step"):
        prepare(busy_road, EngineConfig(start_step=500))
    ctx = prepare(busy_road)
    with pytest.raises(ActionError, match="finite"):
        step(ctx, initial_state(ctx), ControlAction(float("nan"), 0.0))
    with pytest.raises(ConfigError, match="unknown policy"):
        make_policy("teleport")


class _TurningPlan:
    """Plans knots every 0.5 s over 4 s along a gentle left arc, heading 0.1 rad/s ahead."""

    name = "turning-plan"

    def reset(self, scenario) -> None:
        pass

    def plan(self, observation):
        t = np.arange(1, 9) * 0.5
        return TrajectoryAction(np.stack([5.0 * t, 0.25 * t ** 2], -1), 0.1 * t, t)


def test_episodes_record_the_plans_headings_on_the_recording_grid(busy_road):
    """EPDMS's extended comfort tracks each recorded plan with its own headings, so they are
    recorded: resampled to 0.1 s .. 4.0 s (linear in time from the ego's heading) in global."""
    ep = run_episode(prepare(busy_road, EngineConfig(max_steps=10, stop_at_route_end=False)), _TurningPlan())
    assert ep.plan_yaw_rad.shape == ep.plan_xy.shape[:2]
    expected = ep.ego_yaw_rad[:-1, None] + 0.1 * np.arange(1, 41)[None, :] * 0.1
    assert ep.plan_yaw_rad[:-1] == pytest.approx(expected, abs=1e-9)

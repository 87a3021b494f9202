"""The degraded policies: by name, seeded noise, lag."""

from __future__ import annotations

import numpy as np
import pytest

from scenarios.synthetic import straight_road_scenario
from sim.actors.behaviour import initial_actor_state
from sim.engine import initial_state, observe, prepare
from sim.errors import ConfigError
from sim.policies.builtin import IDMPolicy
from sim.policies.degraded import DEGRADED_POLICIES, LaggyPolicy, NoisyPolicy, reconstruct_past_observation, shift_plan
from sim.policies.registry import make_policy
from sim.scoring.epdms import (
    ScoringData,
    logged_ego_state,
)
from sim.types.state import EgoState, TrajectoryAction, WorldState


@pytest.fixture(scope="module")
def road():
    return ScoringData.build(prepare(straight_road_scenario(num_steps=120, ego_speed_mps=10.0)))


def _obs(data, step):
    """The observation of the logged world at a step (the ego at its logged state)."""
    context = data.context
    sc = context.scenario
    ego = logged_ego_state(data, step)
    state = WorldState(step, int(sc.t_us[step]), ego, initial_actor_state(sc.actors, context.paths, step, False))
    return observe(context, state, float(data.log_ego.route_s_m[step] - data.route.offset_m))


def test_degraded_policies_by_name(road):
    assert set(DEGRADED_POLICIES) == {"noisy", "laggy", "over-cautious", "aggressive"}
    with pytest.raises(ConfigError):
        make_policy("sleepy")
    obs = _obs(road, 20)
    ends = {}
    for name in ("idm", "over-cautious", "aggressive"):
        p = make_policy(name)
        p.reset(road.scenario)
        ends[name] = p.plan(obs).xy_in_ego[-1, 0]
    assert ends["over-cautious"] < ends["idm"] - 5.0
    # the log's 10 m/s is the IDM's desired speed: aggressive wants 14 m/s and accelerates
    assert ends["aggressive"] > ends["idm"] + 1.0


def test_noisy_is_seeded_and_smooth(road):
    obs = _obs(road, 20)
    base = IDMPolicy()
    base.reset(road.scenario)
    clean = base.plan(obs).xy_in_ego
    plans = []
    for seed in (0, 0, 1):
        p = make_policy("noisy", seed)
        p.reset(road.scenario)
        plans.append(p.plan(obs).xy_in_ego)
    assert np.array_equal(plans[0], plans[1]) and not np.array_equal(plans[0], plans[2])
    err = plans[0] - clean
    assert np.abs(err[0]).max() < 0.05  # std grows from 0 at t=0
    assert np.abs(err[-1]).max() > 1e-3
    assert np.abs(np.diff(err, axis=0)).max() < 0.3  # smooth, not independent per pose
    assert isinstance(make_policy("noisy"), NoisyPolicy)


def test_laggy_plans_from_old_observations(road):
    p = make_policy("laggy")
    assert isinstance(p, LaggyPolicy)
    p.reset(road.scenario)
    obs = _obs(road, 40)
    lag = p.lag_steps(obs)
    assert 5 <= lag <= 10
    old = reconstruct_past_observation(obs, lag)
    assert old.step_index == 40 - lag and old.ego.x_m == pytest.approx(obs.ego.x_m - 10.0 * lag * 0.1)
    action = p.plan(obs)
    assert action.xy_in_ego.shape == (40, 2) and np.all(np.diff(action.t_offset_s) > 0)
    # on a free straight road at the desired speed, the lagged plan is the current one
    base = IDMPolicy()
    base.reset(road.scenario)
    assert np.abs(action.xy_in_ego - base.plan(obs).xy_in_ego).max() < 1.0
    # a plan made 1 s ago, 10 m back, re-expressed now
    then = EgoState(0.0, 0.0, 0.0, 10.0, 0.0, 0.0, 0.0)
    now = EgoState(10.0, 0.0, 0.0, 10.0, 0.0, 0.0, 0.0)
    t = np.arange(1, 41) * 0.1
    shifted = shift_plan(TrajectoryAction(np.stack([10.0 * t, np.zeros(40)], -1), np.zeros(40), t), then, now, 1.0)
    assert shifted.xy_in_ego[:, 0] == pytest.approx(10.0 * t)  # extrapolated past the old plan's end


def test_laggy_uses_its_own_history_in_a_loop():
    from sim.engine import run_episode

    ctx = prepare(straight_road_scenario(num_steps=40))
    episode = run_episode(ctx, make_policy("laggy"))
    assert episode.num_steps > 30 and not episode.collision.any()
    assert initial_state(ctx).ego.speed_mps == pytest.approx(10.0)

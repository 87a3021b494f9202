"""Pseudo-simulation: the proximity weights and the two-stage combination against hand-computed
values, vanished weights, the stage-two start states, and the degraded policies."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scenarios.synthetic import straight_road_scenario
from sim.engine import initial_state, observe, prepare
from sim.errors import ConfigError
from sim.policies.builtin import IDMPolicy
from sim.policies.degraded import DEGRADED_POLICIES, LaggyPolicy, NoisyPolicy, reconstruct_past_observation, shift_plan
from sim.policies.registry import make_policy
from sim.scoring.epdms import (
    METRIC_NAMES,
    aggregate_epdms,
    human_proposal,
    logged_ego_state,
    score_proposal,
    scoring_data,
)
from sim.scoring.pseudo_sim import (
    PseudoSimConfig,
    aggregate_frames,
    combine_frame,
    frame_score,
    group_score,
    proximity_weights,
    rescore_frame,
    score_group,
    vanished_warnings,
    weighted_stage_two,
    with_extended_comfort,
)
from sim.scoring.stage_two import FrameConfig, StageTwoConfig, select_frames, stage_two_starts, start_offsets
from sim.types.state import EgoState, TrajectoryAction

ONES = {k: 1.0 for k in METRIC_NAMES}


@pytest.fixture(scope="module")
def road():
    return prepare(straight_road_scenario(num_steps=120, ego_speed_mps=10.0))


# ---- weights and combination: hand values -----------------------------------------------------------


def test_weights_match_hand_computed_gaussian_kernel():
    w = proximity_weights([0.0, 0.0], [[0.0, 0.0], [0.5, 0.0], [0.0, 1.0]])
    raw = [1.0, math.exp(-0.25 / 0.2), math.exp(-1.0 / 0.2)]  # exp(-d^2 / (2 * 0.1))
    total = sum(raw)
    assert w.unnormalised == pytest.approx(raw, rel=1e-12)
    assert w.weights == pytest.approx([r / total for r in raw], rel=1e-12)
    assert w.weights.sum() == pytest.approx(1.0)
    assert not w.vanished and w.mode == "gaussian" and w.nearest == 0 and w.nearest_distance_m == 0.0
    # another sigma: sigma^2 = 2 -> exp(-d^2 / 4)
    w2 = proximity_weights([1.0, 1.0], [[1.0, 3.0], [1.0, 1.0]], PseudoSimConfig(sigma_squared_m2=2.0))
    assert w2.unnormalised == pytest.approx([math.exp(-1.0), 1.0])
    assert w2.weights == pytest.approx([math.exp(-1.0) / (1 + math.exp(-1.0)), 1 / (1 + math.exp(-1.0))])


def test_combination_matches_hand_computed_values():
    starts = [[0.0, 0.0], [0.5, 0.0], [0.0, 1.0]]
    raw = np.array([1.0, math.exp(-1.25), math.exp(-5.0)])
    w = raw / raw.sum()
    s2 = [1.0, 0.5, 0.0]
    expected_s2 = (1.0 * raw[0] + 0.5 * raw[1]) / raw.sum()
    assert weighted_stage_two(s2, w) == pytest.approx(expected_s2)
    assert group_score(0.8, s2, w) == pytest.approx(0.8 * expected_s2)
    now = score_group(0.8, ONES, [0.0, 0.0], starts, s2)
    assert now.score == pytest.approx(0.8 * expected_s2)
    assert now.stage_two_weighted == pytest.approx(expected_s2)
    # the "prev" group: its plan ends at the second start
    raw_p = np.array([math.exp(-1.25), 1.0, math.exp(-(0.25 + 1.0) / 0.2)])
    prev = score_group(0.6, ONES, [0.5, 0.0], starts, [0.2, 0.9, 1.0])
    expected_prev = 0.6 * float(raw_p @ np.array([0.2, 0.9, 1.0]) / raw_p.sum())
    assert prev.score == pytest.approx(expected_prev)
    frame = combine_frame(10, now, prev)
    assert frame.score == pytest.approx(0.5 * (0.8 * expected_s2 + expected_prev))
    assert frame.stage_one == pytest.approx(0.7)
    assert frame_score(0.4, 0.2) == pytest.approx(0.3)
    assert frame_score(0.4, 0.2, PseudoSimConfig(average_previous=False)) == 0.4
    assert combine_frame(10, now, prev, PseudoSimConfig(average_previous=False)).score == pytest.approx(now.score)
    agg = aggregate_frames([frame, combine_frame(20, prev, None)])
    assert agg["score"] == pytest.approx(0.5 * (frame.score + prev.score))
    assert agg["frames"] == 2 and agg["groups"] == 3 and agg["frames_weights_vanished"] == 0


def test_sub_scores_are_weighted_like_the_score():
    subs = np.array([[1.0] * 9, [0.0] * 9])
    g = score_group(1.0, ONES, [0.0, 0.0], [[0.0, 0.0], [0.3, 0.0]], [1.0, 0.0], subs)
    w0 = 1.0 / (1.0 + math.exp(-0.09 / 0.2))
    assert g.stage_two_subscores_weighted == pytest.approx([w0] * 9)
    assert g.stage_two_weighted == pytest.approx(w0)


def test_extended_comfort_is_shared_and_the_score_recomputed(road):
    xy, yaw = human_proposal(scoring_data(road), 30)
    r = score_proposal(road, 30, xy, yaw)
    r0 = with_extended_comfort(r, 0.0)
    subs = {k: getattr(r, k) for k in METRIC_NAMES}
    assert r0.ec == 0.0 and r0.epdms == pytest.approx(aggregate_epdms(**{**subs, "ec": 0.0}))
    assert r0.epdms == pytest.approx(r.epdms - 2.0 / 16 * r.multiplier * r.ec)
    assert r0.unfiltered["ec"] == 0.0


def test_a_plan_ending_exactly_at_a_start_gives_it_the_dominant_weight(road):
    k = select_frames(road)[0]
    starts = stage_two_starts(road, k, StageTwoConfig(lateral_offsets_m=(-1.0, 0.0, 1.0),
                                                      longitudinal_offsets_m=(-2.0, 0.0, 2.0)))
    assert len(starts.offsets) == 9 and starts.dropped == 0
    for i in range(len(starts.offsets)):
        w = proximity_weights(starts.now.xy[i], starts.now.xy)
        assert int(np.argmax(w.weights)) == i
        assert w.weights[i] > 0.97  # neighbours 1 m away weigh exp(-5) each
        assert not w.vanished
    # and the group score then is (almost exactly) that start's stage-two score
    s2 = np.linspace(0.1, 0.9, 9)
    g = score_group(1.0, ONES, starts.now.xy[4], starts.now.xy, s2)
    assert g.score == pytest.approx(s2[4], abs=0.01)


# ---- vanished weights ------------------------------------------------------------------------------------


def test_vanished_weights_are_flagged_and_never_silent():
    starts = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]
    far = [40.0, 0.0]
    w = proximity_weights(far, starts)
    assert w.vanished and w.mode == "uniform"
    assert w.unnormalised.sum() == 0.0  # underflow: exp(-39^2 / 0.2)
    assert w.weights == pytest.approx([1 / 3] * 3)
    assert w.nearest == 1 and w.nearest_distance_m == pytest.approx(39.0)
    # just inside / outside NAVSIM's threshold (sum <= 1e-8 <=> d > 1.92 m for one start)
    assert not proximity_weights([1.9, 0.0], [[0.0, 0.0]]).vanished
    assert proximity_weights([1.95, 0.0], [[0.0, 0.0]]).vanished
    nearest = proximity_weights(far, starts, PseudoSimConfig(on_vanished="nearest"))
    assert nearest.vanished and nearest.mode == "nearest" and nearest.weights[1] == pytest.approx(1.0)
    nan = proximity_weights(far, starts, PseudoSimConfig(on_vanished="nan"))
    assert nan.vanished and np.isnan(nan.weights).all()

    cfg = PseudoSimConfig(on_vanished="nan")
    ok = score_group(1.0, ONES, [0.0, 0.0], starts, [1.0, 0.5, 0.5], config=cfg)
    lost = score_group(1.0, ONES, far, starts, [1.0, 0.5, 0.5], config=cfg)
    frames = [combine_frame(5, ok, ok, cfg), combine_frame(25, lost, ok, cfg)]
    assert not frames[0].weights_vanished and frames[1].weights_vanished and math.isnan(frames[1].score)
    agg = aggregate_frames(frames)
    assert agg["frames_weights_vanished"] == 1 and agg["groups_weights_vanished"] == 1
    assert agg["frames_without_score"] == 1 and agg["score"] == pytest.approx(frames[0].score)
    lines = vanished_warnings(frames, "policy p, scene s", cfg)
    assert len(lines) == 1 and "weights_vanished" in lines[0] and "39.00 m" in lines[0] and "no score" in lines[0]
    assert frames[1].to_dict()["weights_vanished"] is True and frames[1].to_dict()["score"] is None
    # the same frames under the default (uniform) fallback: scored, still flagged
    redone = [rescore_frame(f, PseudoSimConfig()) for f in frames]
    assert redone[1].weights_vanished and redone[1].now.weights.mode == "uniform"
    assert redone[1].score == pytest.approx(0.5 * (2.0 / 3.0 + frames[0].score))


def test_config_is_checked():
    with pytest.raises(ConfigError):
        PseudoSimConfig(sigma_squared_m2=0.0)
    with pytest.raises(ConfigError):
        PseudoSimConfig(on_vanished="silently")
    with pytest.raises(ConfigError):
        score_group(1.0, ONES, [0.0, 0.0], [[0.0, 0.0]], [1.0, 1.0])
    with pytest.raises(ConfigError):
        StageTwoConfig(mode="random")


# ---- frames and start states ------------------------------------------------------------------------------


def test_frames_leave_room_for_both_stages(road):
    frames = select_frames(road, FrameConfig(first_frame_s=0.5, stride_s=2.0, max_frames=None))
    assert frames == [5, 25]  # 120 steps: k + 80 must stay inside the log
    assert select_frames(road, FrameConfig(max_frames=1)) == [5]
    short = prepare(straight_road_scenario(num_steps=60))
    assert select_frames(short) == []


def test_start_states_follow_the_log(road):
    k = 5
    cfg = StageTwoConfig(lateral_offsets_m=(-1.0, 0.0, 1.0), longitudinal_offsets_m=(-4.0, 0.0, 4.0),
                         heading_offsets_rad=(0.0, 0.1), speed_offsets_mps=(0.0,))
    st = stage_two_starts(road, k, cfg)
    assert len(st.offsets) == 18 and st.now.step == k + 40 and st.prev.step == k + 35
    logged = logged_ego_state(road, k + 40)
    for i, (lon, lat, dh, dv) in enumerate(st.offsets):
        # straight road along +x: longitudinal is x, lateral is y (left +)
        assert st.now.xy[i, 0] == pytest.approx(logged.x_m + lon, abs=1e-6)
        assert st.now.xy[i, 1] == pytest.approx(logged.y_m + lat, abs=1e-6)
        assert st.now.yaw_rad[i] == pytest.approx(logged.yaw_rad + dh, abs=1e-9)
        assert st.now.speed_mps[i] == pytest.approx(logged.speed_mps + dv + 0.5 * lon, abs=1e-6)
        assert st.prev.xy[i, 0] == pytest.approx(logged_ego_state(road, k + 35).x_m + lon, abs=1e-6)
    ego = st.now.ego(0)
    assert isinstance(ego, EgoState) and ego.accel_mps2 == logged.accel_mps2
    rows = st.to_dicts()
    assert rows[0]["now"]["step"] == k + 40 and set(rows[0]) >= {"longitudinal_m", "lateral_m", "prev"}


def test_off_road_starts_are_dropped(road):
    # the ego drives lane 0 (centre 1.75 m right of the road's middle, its edge 5.25 m to its right)
    st = stage_two_starts(road, 5, StageTwoConfig(lateral_offsets_m=(-6.0, 0.0, 3.0), longitudinal_offsets_m=(0.0,)))
    assert st.dropped == 1 and len(st.offsets) == 2 and np.all(st.offsets[:, 1] > -1.0)
    kept = stage_two_starts(road, 5, StageTwoConfig(lateral_offsets_m=(-6.0, 0.0, 3.0), longitudinal_offsets_m=(0.0,),
                                                    drop_off_road=False))
    assert len(kept.offsets) == 3


def test_sampled_starts_are_seeded():
    cfg = StageTwoConfig(mode="sample", num_samples=10, seed=3)
    a, b = start_offsets(cfg, "scene/5"), start_offsets(cfg, "scene/5")
    assert np.array_equal(a, b) and a.shape == (10, 4) and np.all(a[0] == 0.0)
    assert not np.array_equal(a, start_offsets(cfg, "scene/25"))
    assert np.all(np.abs(a[:, 1]) <= cfg.lateral_range_m)


# ---- degraded policies ----------------------------------------------------------------------------------


def _obs(context, step):
    from sim.actors.behaviour import initial_actor_state
    from sim.types.state import WorldState

    sc = context.scenario
    ego = logged_ego_state(context, step)
    state = WorldState(step, int(sc.t_us[step]), ego, initial_actor_state(sc.actors, context.paths, step, False))
    data = scoring_data(context)
    return observe(context, state, float(data.log_route_s[step] - data.route_offset_m))


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

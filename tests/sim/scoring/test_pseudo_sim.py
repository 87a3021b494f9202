"""Pseudo-simulation: the proximity weights and the two-stage combination against hand-computed
values, and vanished weights."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scenarios.synthetic import straight_road_scenario
from sim.engine import prepare
from sim.errors import ConfigError
from sim.scoring.epdms import (
    METRIC_NAMES,
    ScoringData,
    aggregate_epdms,
    human_proposal,
    score_proposal,
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
from sim.scoring.stage_two import StageTwoConfig, select_frames, stage_two_starts

ONES = {k: 1.0 for k in METRIC_NAMES}


@pytest.fixture(scope="module")
def road():
    return prepare(straight_road_scenario(num_steps=120, ego_speed_mps=10.0))


@pytest.fixture(scope="module")
def road_data(road):
    return ScoringData.build(road)


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
    assert agg.score == pytest.approx(0.5 * (frame.score + prev.score))
    assert agg.frames == 2 and agg.groups == 3 and agg.frames_weights_vanished == 0


def test_sub_scores_are_weighted_like_the_score():
    subs = np.array([[1.0] * 9, [0.0] * 9])
    g = score_group(1.0, ONES, [0.0, 0.0], [[0.0, 0.0], [0.3, 0.0]], [1.0, 0.0], subs)
    w0 = 1.0 / (1.0 + math.exp(-0.09 / 0.2))
    assert g.stage_two_subscores_weighted == pytest.approx([w0] * 9)
    assert g.stage_two_weighted == pytest.approx(w0)


def test_extended_comfort_is_shared_and_the_score_recomputed(road_data):
    xy, yaw = human_proposal(road_data, 30)
    r = score_proposal(road_data, 30, xy, yaw)
    r0 = with_extended_comfort(r, 0.0)
    subs = {k: getattr(r, k) for k in METRIC_NAMES}
    assert r0.ec == 0.0 and r0.epdms == pytest.approx(aggregate_epdms(**{**subs, "ec": 0.0}))
    assert r0.epdms == pytest.approx(r.epdms - 2.0 / 16 * r.multiplier * r.ec)
    assert r0.unfiltered["ec"] == 0.0


def test_a_plan_ending_exactly_at_a_start_gives_it_the_dominant_weight(road, road_data):
    k = select_frames(road)[0]
    starts = stage_two_starts(road_data, k, StageTwoConfig(mode="grid", lateral_offsets_m=(-1.0, 0.0, 1.0),
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
    assert agg.frames_weights_vanished == 1 and agg.groups_weights_vanished == 1
    assert agg.groups == 4 and agg.to_json()["share_groups_weights_vanished"] == 0.25  # 1 of 4 groups
    assert agg.frames_without_score == 1 and agg.score == pytest.approx(frames[0].score)
    lines = vanished_warnings(frames, "policy p, scene s", cfg)
    assert len(lines) == 1 and "weights_vanished" in lines[0] and "39.00 m" in lines[0] and "no score" in lines[0]
    assert frames[1].to_json()["weights_vanished"] is True and frames[1].to_json()["score"] is None
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

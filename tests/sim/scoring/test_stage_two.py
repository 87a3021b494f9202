"""Pseudo-simulation's frames and stage-two start states."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from scenarios.synthetic import straight_road_scenario
from sim.engine import prepare
from sim.scoring.epdms import (
    ScoringData,
    logged_ego_state,
    score_proposal,
)
from sim.scoring.pseudo_sim import proximity_weights
from sim.scoring.reference_planner import ReferencePlannerConfig
from sim.scoring.stage_two import (
    FrameConfig,
    StageTwoConfig,
    rollout_family,
    select_frames,
    stage_two_starts,
    start_offsets,
)
from sim.types.state import EgoState


@pytest.fixture(scope="module")
def road():
    return prepare(straight_road_scenario(num_steps=120, ego_speed_mps=10.0))


@pytest.fixture(scope="module")
def road_data(road):
    return ScoringData.build(road)


def test_frames_leave_room_for_both_stages(road):
    frames = select_frames(road, FrameConfig(first_frame_s=0.5, stride_s=2.0, max_frames=None))
    assert frames == [5, 25]  # 120 steps: k + 80 must stay inside the log
    assert select_frames(road, FrameConfig(max_frames=1)) == [5]
    short = prepare(straight_road_scenario(num_steps=60))
    assert select_frames(short) == []


def test_grid_start_states_follow_the_log(road_data):
    k = 5
    cfg = StageTwoConfig(mode="grid", lateral_offsets_m=(-1.0, 0.0, 1.0), longitudinal_offsets_m=(-4.0, 0.0, 4.0),
                         heading_offsets_rad=(0.0, 0.1), speed_offsets_mps=(0.0,))
    st = stage_two_starts(road_data, k, cfg)
    assert len(st.offsets) == 18 and st.now.step == k + 40 and st.prev.step == k + 35
    logged = logged_ego_state(road_data, k + 40)
    for i, (lon, lat, dh, dv) in enumerate(st.offsets):
        # straight road along +x: longitudinal is x, lateral is y (left +)
        assert st.now.xy[i, 0] == pytest.approx(logged.x_m + lon, abs=1e-6)
        assert st.now.xy[i, 1] == pytest.approx(logged.y_m + lat, abs=1e-6)
        assert st.now.yaw_rad[i] == pytest.approx(logged.yaw_rad + dh, abs=1e-9)
        assert st.now.speed_mps[i] == pytest.approx(logged.speed_mps + dv + 0.5 * lon, abs=1e-6)
        assert st.prev.xy[i, 0] == pytest.approx(logged_ego_state(road_data, k + 35).x_m + lon, abs=1e-6)
    ego = st.now.ego(0)
    assert isinstance(ego, EgoState) and ego.accel_mps2 == logged.accel_mps2
    rows = st.to_dicts()
    assert rows[0]["now"]["step"] == k + 40 and set(rows[0]) >= {"label", "longitudinal_m", "lateral_m", "prev"}


def test_off_road_grid_starts_are_dropped(road_data):
    # the ego drives lane 0 (centre 1.75 m right of the road's middle, its edge 5.25 m to its right)
    cfg = StageTwoConfig(mode="grid", lateral_offsets_m=(-6.0, 0.0, 3.0), longitudinal_offsets_m=(0.0,))
    st = stage_two_starts(road_data, 5, cfg)
    assert st.dropped == 1 and len(st.offsets) == 2 and np.all(st.offsets[:, 1] > -1.0)
    kept = stage_two_starts(road_data, 5, dataclasses.replace(cfg, drop_off_road=False))
    assert len(kept.offsets) == 3


def test_sampled_starts_are_seeded():
    cfg = StageTwoConfig(mode="sample", num_samples=10, seed=3)
    a, b = start_offsets(cfg, "scene/5"), start_offsets(cfg, "scene/5")
    assert np.array_equal(a, b) and a.shape == (10, 4) and np.all(a[0] == 0.0)
    assert not np.array_equal(a, start_offsets(cfg, "scene/25"))
    assert np.all(np.abs(a[:, 1]) <= cfg.lateral_range_m)


def test_each_grid_start_carries_the_history_that_led_to_it(road_data):
    # 10 m/s along +x: the 1.5 s before the start at k + 40 = 45 are steps 30..44, straight at a
    # steady speed for every offset (the offsets carried over)
    cfg = StageTwoConfig(mode="grid", lateral_offsets_m=(0.0, 1.0), longitudinal_offsets_m=(0.0, 4.0))
    st = stage_two_starts(road_data, 5, cfg)
    assert len(st.now.history) == len(st.offsets) == 4 and len(st.prev.history) == 4
    for i in range(len(st.offsets)):
        h = st.now.history[i]
        # NAVSIM's history: knots every 0.5 s back to 1.5 s, interpolated at -1.5 .. -0.2 s: 14 samples
        assert len(h) == 14
        np.testing.assert_allclose(h.yaw_rad, 0.0, atol=1e-9)
        np.testing.assert_allclose(h.accel_x_mps2, 0.0, atol=1e-6)
        np.testing.assert_allclose(h.accel_y_mps2, 0.0, atol=1e-6)  # straight: speed x yaw rate = 0


def test_stage_two_history_comfort_sees_the_braking_before_a_grid_start():
    # the log brakes from 10 to 3 m/s over steps 30..40 (-7 m/s^2, beyond HC's -4.05 bound), then
    # holds 3 m/s; the start at step 45 (frame 5) came out of that braking
    speed = np.concatenate([np.full(31, 10.0), np.linspace(10.0, 3.0, 11)[1:], np.full(79, 3.0)])
    data = ScoringData.build(prepare(straight_road_scenario(num_steps=120, ego_speed_mps=speed)))
    st = stage_two_starts(data, 5, StageTwoConfig(mode="grid", lateral_offsets_m=(0.0,), longitudinal_offsets_m=(0.0,)))
    history = st.now.history[0]
    assert history.accel_x_mps2.min() < -4.05 and len(history) == 14
    ego = st.now.ego(0)
    cruise = np.stack([ego.speed_mps * 0.1 * np.arange(1, 41), np.zeros(40)], -1)  # hold the start's speed
    fresh = score_proposal(data, st.now.step, cruise, np.zeros(40), ego_state=ego)
    after = score_proposal(data, st.now.step, cruise, np.zeros(40), ego_state=ego, history=history)
    assert fresh.hc == 1.0
    assert after.hc == 0.0 and "lon_accel" in after.hc_failed and after.hc_time_s < 0.0  # failed in the history


# ---- rollout starts (the default) -----------------------------------------------------------------------
# The ego drives lane 0 along +x at 6 m/s = 0.4 x the reference planner's 15 m/s: the 0.4 proposal
# and "hold" keep 6 m/s, so both end 6 x 4 = 24 m ahead (21 m at 3.5 s); "brake" at the planner's
# 3 m/s^2 stops after 6^2 / (2 x 3) = 6 m; "accelerate" at 1.5 m/s^2 ends 24 + 1.5 x 4^2 / 2 = 36 m
# ahead at 12 m/s. Tolerances cover the tracker's lag.


@pytest.fixture(scope="module")
def slow_road_data():
    return ScoringData.build(prepare(straight_road_scenario(num_steps=120, ego_speed_mps=6.0)))


def test_the_rollout_family_on_a_straight_road(slow_road_data):
    ref = ReferencePlannerConfig()
    assert (ref.speed_limit_mps, ref.max_decel_mps2, ref.max_accel_mps2) == (15.0, 3.0, 1.5)
    family = rollout_family(slow_road_data, 5)
    assert len(family.labels) == 5 * 3 + 3 + 1 and family.states.shape == (19, 41, 6)
    x0, y0 = logged_ego_state(slow_road_data, 5).xy
    end = {lab: family.states[i, 40] for i, lab in enumerate(family.labels)}
    at35 = {lab: family.states[i, 35] for i, lab in enumerate(family.labels)}
    for lab, dx, v in (("hold", 24.0, 6.0), ("reference 0.4 x +0 m", 24.0, 6.0), ("brake", 6.0, 0.0),
                       ("accelerate", 36.0, 12.0), ("log", 24.0, 6.0)):
        assert end[lab][0] - x0 == pytest.approx(dx, abs=0.25), lab
        assert end[lab][1] - y0 == pytest.approx(0.0, abs=0.05) and end[lab][3] == pytest.approx(v, abs=0.1), lab
    assert at35["hold"][0] - x0 == pytest.approx(21.0, abs=0.25)
    assert end["reference 0.2 x +0 m"][0] < end["hold"][0] - 5.0  # slows towards 3 m/s: behind
    for side in (-1.0, 1.0):  # offsets end 1 m to the side, as far along as the centerline proposal
        lab = f"reference 0.8 x {side:+g} m"
        assert end[lab][1] - y0 == pytest.approx(side, abs=0.05)
        assert end[lab][0] == pytest.approx(end["reference 0.8 x +0 m"][0], abs=0.05)


def test_rollout_starts_pair_each_rollouts_3_5_s_and_4_s_states(slow_road_data):
    k = 5
    family = rollout_family(slow_road_data, k)
    st = stage_two_starts(slow_road_data, k)
    assert st.offsets is None and st.now.step == k + 40 and st.prev.step == k + 35
    # "hold" and the log end where the 0.4 proposal ends (24 m, both groups): merged into it; nothing off-road
    assert st.merged == 2 and {"hold", "log"}.isdisjoint(st.labels) and st.dropped == 0 and len(st) == 17
    for i, lab in enumerate(st.labels):
        j = family.labels.index(lab)
        np.testing.assert_allclose(st.now.states[i], family.states[j, 40])
        np.testing.assert_allclose(st.prev.states[i], family.states[j, 35])
        ego = st.now.ego(i)  # the rollout's own acceleration and steering
        assert ego.accel_mps2 == family.states[j, 40, 4] and ego.steer_rad == family.states[j, 40, 5]
    assert stage_two_starts(slow_road_data, k, StageTwoConfig(min_separation_m=0.0)).merged == 0
    assert st.to_dicts()[0]["label"] == "reference 0.2 x -1 m" and "lateral_m" not in st.to_dicts()[0]


def test_each_rollout_start_carries_the_rollouts_history(slow_road_data):
    # NAVSIM's history of a start: knots 1.5, 1.0, 0.5 s before it on the rollout, interpolated at
    # -1.5 .. -0.2 s (14 samples): rollout steps 25..38 before the start at 4 s, 20..33 before 3.5 s.
    # "accelerate" accelerates at 1.5 m/s^2 all along; "brake" stops at 6 / 3 = 2 s
    st = stage_two_starts(slow_road_data, 5)
    acc, brake = st.labels.index("accelerate"), st.labels.index("brake")
    for group in (st.now, st.prev):
        h = group.history[acc]
        assert len(h) == 14
        np.testing.assert_allclose(h.accel_x_mps2, 1.5, atol=0.1)
        np.testing.assert_allclose(h.yaw_rad, 0.0, atol=1e-3)
    np.testing.assert_allclose(st.now.history[brake].accel_x_mps2, 0.0, atol=0.05)
    assert st.prev.history[brake].accel_x_mps2[0] < -1.0  # its first knot (2 s) ends the braking


def test_off_road_rollouts_are_dropped():
    # one lane per direction, 3.5 m wide: the ego's lane centre lies 1.75 m from the road's right
    # edge, so a rollout 1 m to the right puts the body's right side past it
    data = ScoringData.build(prepare(straight_road_scenario(num_steps=120, ego_speed_mps=6.0,
                                                            lanes_per_direction=1)))
    assert 1.75 - 1.0 < 0.5 * data.scenario.ego_params.width_m  # the right side sticks out
    st = stage_two_starts(data, 5)
    assert st.dropped == 5 and not any(lab.endswith("-1 m") for lab in st.labels)
    assert sum(lab.endswith("+1 m") for lab in st.labels) == 5
    kept = stage_two_starts(data, 5, StageTwoConfig(drop_off_road=False))
    assert kept.dropped == 0 and len(kept) == 17


def test_a_plan_ending_near_a_rollouts_end_gets_most_of_the_weight(slow_road_data):
    st = stage_two_starts(slow_road_data, 5)
    i = st.labels.index("reference 0.8 x +1 m")
    end = st.now.xy[i] + np.array([0.1, -0.1])
    w = proximity_weights(end, st.now.xy)
    # its own weight exp(-0.02 / 0.2) = 0.905 against at most exp(-0.9^2 / 0.2) = 0.017 for the
    # centerline neighbour 1 m to the right (the others are >= 1.2 m away)
    assert int(np.argmax(w.weights)) == i and w.weights[i] > 0.9 and not w.vanished

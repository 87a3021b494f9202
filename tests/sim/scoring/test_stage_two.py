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
from sim.scoring.stage_two import FrameConfig, StageTwoConfig, select_frames, stage_two_starts, start_offsets
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


def test_start_states_follow_the_log(road_data):
    k = 5
    cfg = StageTwoConfig(lateral_offsets_m=(-1.0, 0.0, 1.0), longitudinal_offsets_m=(-4.0, 0.0, 4.0),
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
    assert rows[0]["now"]["step"] == k + 40 and set(rows[0]) >= {"longitudinal_m", "lateral_m", "prev"}


def test_off_road_starts_are_dropped(road_data):
    # the ego drives lane 0 (centre 1.75 m right of the road's middle, its edge 5.25 m to its right)
    cfg = StageTwoConfig(lateral_offsets_m=(-6.0, 0.0, 3.0), longitudinal_offsets_m=(0.0,))
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


def test_each_start_carries_the_history_that_led_to_it(road_data):
    # 10 m/s along +x: the 1.5 s before the start at k + 40 = 45 are steps 30..44, straight at a
    # steady speed for every offset (the offsets carried over)
    cfg = StageTwoConfig(lateral_offsets_m=(0.0, 1.0), longitudinal_offsets_m=(0.0, 4.0))
    st = stage_two_starts(road_data, 5, cfg)
    assert len(st.now.history) == len(st.offsets) == 4 and len(st.prev.history) == 4
    for i in range(len(st.offsets)):
        h = st.now.history[i]
        # NAVSIM's history: knots every 0.5 s back to 1.5 s, interpolated at -1.5 .. -0.2 s: 14 samples
        assert len(h) == 14
        np.testing.assert_allclose(h.yaw_rad, 0.0, atol=1e-9)
        np.testing.assert_allclose(h.accel_x_mps2, 0.0, atol=1e-6)
        np.testing.assert_allclose(h.accel_y_mps2, 0.0, atol=1e-6)  # straight: speed x yaw rate = 0


def test_stage_two_history_comfort_sees_the_braking_before_the_start():
    # the log brakes from 10 to 3 m/s over steps 30..40 (-7 m/s^2, beyond HC's -4.05 bound), then
    # holds 3 m/s; the start at step 45 (frame 5) came out of that braking
    speed = np.concatenate([np.full(31, 10.0), np.linspace(10.0, 3.0, 11)[1:], np.full(79, 3.0)])
    data = ScoringData.build(prepare(straight_road_scenario(num_steps=120, ego_speed_mps=speed)))
    st = stage_two_starts(data, 5, StageTwoConfig(lateral_offsets_m=(0.0,), longitudinal_offsets_m=(0.0,)))
    history = st.now.history[0]
    assert history.accel_x_mps2.min() < -4.05 and len(history) == 14
    ego = st.now.ego(0)
    cruise = np.stack([ego.speed_mps * 0.1 * np.arange(1, 41), np.zeros(40)], -1)  # hold the start's speed
    fresh = score_proposal(data, st.now.step, cruise, np.zeros(40), ego_state=ego)
    after = score_proposal(data, st.now.step, cruise, np.zeros(40), ego_state=ego, history=history)
    assert fresh.hc == 1.0
    assert after.hc == 0.0 and "lon_accel" in after.hc_failed and after.hc_time_s < 0.0  # failed in the history

"""EPDMS of proposals: each sub-metric on hand-built straight-road cases, the human filter,
EP's reference and the proposal's timings."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from scenarios.synthetic import ActorSpec, straight_road_scenario
from sim.engine import prepare
from sim.errors import ActionError, ConfigError
from sim.scoring.epdms import (
    ScoringData,
    frame_baseline,
    human_proposal,
    logged_ego_state,
    score_proposal,
    stop_controls,
)
from sim.types.scenario import ActorKind, EgoLog
from tests.sim.scoring.epdms.helpers import NO_FILTER, T, braking_log, proposal


def test_leaving_the_road_fails_drivable_area(road):
    lateral = -6.0 * np.clip(T / 2.0, 0.0, 1.0)  # 6 m to the right: past the road's edge
    r = score_proposal(road, 10, *proposal(10.0, lateral))
    assert r.dac == 0.0 and r.epdms == 0.0
    assert 0.5 < r.off_road_time_s < 2.5


def test_staying_in_lane_passes_every_multiplier(road):
    r = score_proposal(road, 10, *proposal(10.0))
    assert (r.nc, r.dac, r.ddc, r.tlc, r.ttc, r.lk, r.hc) == (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
    assert r.collision_actor == -1 and r.off_road_time_s == -1.0


@pytest.mark.parametrize("speed, expected", [(10.0, 0.0), (2.5, 0.5)])
def test_driving_in_the_oncoming_lane_for_1_5_s(speed, expected):
    """Into the opposite lane (3.5 m left) for 1.5 s: at 10 m/s that is > 6 m of wrong-way travel
    within 1 s (DDC 0), at 2.5 m/s between 2 and 6 m (DDC 0.5)."""
    data = ScoringData.build(prepare(straight_road_scenario(num_steps=80, ego_speed_mps=speed)))
    lateral = 3.5 * np.clip(np.minimum((T - 0.2) / 0.8, (3.0 - T) / 0.8), 0.0, 1.0)
    r = score_proposal(data, 10, *proposal(speed, lateral))
    assert r.ddc == expected
    assert r.dac == 1.0 and r.nc == 1.0
    if expected == 0.5:
        # EP takes the raw progress (NAVSIM): DDC 0.5 halves the score once, not EP as well.
        assert r.reference_progress_m > r.progress_m > 5.0
        assert r.ep == pytest.approx(r.progress_m / r.reference_progress_m, rel=1e-3)
        assert r.epdms == pytest.approx(0.5 * (5 * r.ep + 5 * r.ttc + 2 * r.lk + 2 * r.hc + 2 * r.ec) / 16)


def test_rear_ending_a_stopped_car_is_an_at_fault_collision():
    """The log brakes in time; the proposal keeps 10 m/s into the car stopped 30 m ahead."""
    sc = straight_road_scenario(num_steps=80, ego_speed_mps=braking_log(),
                                actors=(ActorSpec(x_m=55.0, lane=0, speed_mps=0.0),))
    data = ScoringData.build(prepare(sc))
    r = score_proposal(data, 0, *proposal(10.0))
    assert r.nc == 0.0 and r.epdms == 0.0
    assert r.collision_actor == 0 and r.collision_category == "vehicle.car"
    assert r.collision_type == "stopped object"
    assert 2.0 < r.collision_time_s < 3.5
    assert r.ttc == 0.0 and r.ttc_time_s < r.collision_time_s
    human = score_proposal(data, 0, *human_proposal(data, 0))
    assert human.nc == 1.0 and human.ttc == 1.0


def test_hitting_a_static_object_halves_no_collision():
    barrier = ActorSpec(x_m=55.0, lane=0, kind=ActorKind.STATIC, category="movable_object.barrier",
                        size_wlh_m=(0.5, 2.0, 1.0))
    data = ScoringData.build(prepare(straight_road_scenario(num_steps=80, ego_speed_mps=braking_log(),
                                                            actors=(barrier,))))
    r = score_proposal(data, 0, *proposal(10.0))
    assert r.nc == 0.5 and r.collision_category == "movable_object.barrier"
    assert r.dac == r.ddc == r.tlc == 1.0
    assert r.epdms == pytest.approx(0.5 * (5 * r.ep + 5 * r.ttc + 2 * r.lk + 2 * r.hc + 2 * r.ec) / 16)


def test_being_rear_ended_is_not_the_egos_fault():
    """A car from behind at 15 m/s runs into the ego driving 5 m/s: an active rear collision."""
    chaser = ActorSpec(x_m=20.0 + 1.4 - 12.0, lane=0, speed_mps=15.0)
    data = ScoringData.build(prepare(straight_road_scenario(num_steps=80, ego_speed_mps=5.0, actors=(chaser,))))
    r = score_proposal(data, 0, *proposal(5.0), config=NO_FILTER)
    assert r.nc == 1.0 and r.collision_actor == -1


def test_traffic_light_compliance_is_one_where_no_stop_line_was_inferred(road):
    assert len(stop_controls(road)) == 0
    assert score_proposal(road, 10, *proposal(10.0, -6.0 * np.clip(T / 2, 0, 1))).tlc == 1.0


def test_tailgating_a_slower_car_fails_time_to_collision():
    """1.6 m behind a car at 8 m/s while doing 10 m/s: no contact, but projected at constant
    velocity for 0.9 s the ego box reaches the car."""
    lead = ActorSpec(x_m=20.0 + 1.4 + 2.3 + 1.6 + 2.3, lane=0, speed_mps=8.0)
    data = ScoringData.build(prepare(straight_road_scenario(num_steps=80, ego_speed_mps=10.0, actors=(lead,))))
    r = score_proposal(data, 0, *proposal(np.maximum(10.0 - 3.0 * T, 8.0)), config=NO_FILTER)
    assert r.nc == 1.0 and r.ttc == 0.0
    assert r.ttc_actor == 0 and r.ttc_time_s == 0.0
    assert (r.dac, r.ddc, r.tlc, r.lk, r.ec) == (1.0, 1.0, 1.0, 1.0, 1.0)
    assert r.ep == pytest.approx(min(1.0, r.progress_m / r.reference_progress_m), rel=1e-3)
    assert r.epdms == pytest.approx((5 * r.ep + 0.0 + 2.0 + 2 * r.hc + 2.0) / 16)
    keeping_distance = ActorSpec(x_m=20.0 + 1.4 + 2.3 + 20.0 + 2.3, lane=0, speed_mps=8.0)
    data2 = ScoringData.build(prepare(straight_road_scenario(num_steps=80, ego_speed_mps=10.0,
                                                             actors=(keeping_distance,))))
    assert score_proposal(data2, 0, *proposal(np.maximum(10.0 - 3.0 * T, 8.0)), config=NO_FILTER).ttc == 1.0


def test_a_jerky_proposal_fails_history_comfort(road):
    stop_and_go = np.where((T > 1.5) & (T < 2.5), 4.0, 10.0)  # a 6 m/s dip for 1 s
    r = score_proposal(road, 10, *proposal(stop_and_go))
    assert r.hc == 0.0 and {"lon_accel", "lon_jerk"} <= set(r.hc_failed)
    assert r.nc == r.dac == r.ttc == r.lk == 1.0 and r.ec == 1.0
    # HC 0 and every other weighted term 1: (5 EP + 5 TTC + 2 LK + 2 HC + 2 EC) / 16
    assert r.epdms == pytest.approx((5.0 * r.ep + 5.0 + 2.0 + 0.0 + 2.0) / 16.0)
    assert score_proposal(road, 10, *proposal(10.0)).hc == 1.0
    # NAVSIM v2 smooths HC's accelerations over 8 samples (0.8 s) and takes jerks over 15, so a
    # 1 Hz speed wobble is not averaged out as v1.1's whole-series window did.
    wobble = score_proposal(road, 10, *proposal(10.0 + 3.0 * np.sin(2 * np.pi * T)))
    assert wobble.hc == 0.0 and "lon_jerk" in wobble.hc_failed
    # A steady 1 m/s^2 speed-up stays inside every bound.
    assert score_proposal(road, 10, *proposal(10.0 + 1.0 * T)).hc == 1.0


def test_lane_keeping_fails_after_2_s_off_the_centerline(road):
    lateral = -0.8 * np.clip(T / 1.0, 0.0, 1.0)  # 0.8 m off for 3 s, still inside the lane
    r = score_proposal(road, 10, *proposal(10.0, lateral))
    assert r.lk == 0.0 and r.lane_deviation_max_m > 0.5
    assert r.dac == r.ddc == 1.0
    short = -0.8 * np.clip(np.minimum(T / 0.5, (2.0 - T) / 0.5), 0.0, 1.0)  # off for about 1 s only
    assert score_proposal(road, 10, *proposal(10.0, short)).lk == 1.0


def test_ego_progress_is_relative_to_the_reference_planner(road):
    fast = score_proposal(road, 10, *proposal(10.0))
    assert 30.0 < fast.reference_progress_m < 70.0
    assert fast.ep == pytest.approx(fast.progress_m / fast.reference_progress_m, rel=1e-3)  # fields rounded to mm
    slow = score_proposal(road, 10, *proposal(5.0))
    assert slow.ep < fast.ep


def test_ego_progress_is_one_when_nothing_can_progress_5_m():
    """Standing 1 m behind a stopped car: the reference cannot make 5 m either."""
    car = ActorSpec(x_m=20.0 + 1.4 + 2.3 + 1.0 + 2.3, lane=0, speed_mps=0.0)
    data = ScoringData.build(prepare(straight_road_scenario(num_steps=80, ego_speed_mps=0.0, actors=(car,))))
    r = score_proposal(data, 0, *proposal(0.0))
    assert r.reference_progress_m <= 5.0 and r.ep == 1.0 and r.epdms == 1.0


def test_a_reference_that_collides_in_the_log_adds_no_progress():
    """The Miami case: the human creeps (0.5 m/s) and a car pulls into its lane 6 m ahead half a
    second after the frame. PDM-Closed plans on the frame's actors, does not see it, and drives
    into it in the log: its multipliers are 0 there, so its progress drops out of EP's maximum
    and the creeping human's 2 m are below 5 m: EP 1 (NAVSIM's masked_progress). Without that
    car the reference counts, and the same creep gets 2 m over the reference's progress."""
    car = ActorSpec(x_m=20.0 + 1.4 + 2.3 + 6.0 + 2.3, lane=0, speed_mps=0.0, from_step=5)
    creep = np.full(80, 0.5)
    data = ScoringData.build(prepare(straight_road_scenario(num_steps=80, ego_speed_mps=creep, actors=(car,))))
    base = frame_baseline(data, 0)
    assert base.reference_index >= 0 and base.reference_progress_m == 0.0
    r = score_proposal(data, 0, *human_proposal(data, 0))
    assert r.nc == 1.0 and 1.5 < r.progress_m < 2.5
    assert r.reference_progress_m == pytest.approx(r.progress_m) and r.ep == 1.0
    clear = ScoringData.build(prepare(straight_road_scenario(num_steps=80, ego_speed_mps=creep)))
    free = score_proposal(clear, 0, *human_proposal(clear, 0))
    assert free.reference_progress_m > 10.0
    assert free.ep == pytest.approx(free.progress_m / free.reference_progress_m, rel=1e-3)


def test_extended_comfort_compares_proposals_half_a_second_apart(road):
    steady = [score_proposal(road, k, *proposal(10.0)) for k in (10, 15)]
    again = score_proposal(road, 15, *proposal(10.0), previous_proposal=steady[0])
    assert again.ec_applied and again.ec == 1.0
    assert not steady[1].ec_applied and steady[1].ec == 1.0
    changed = score_proposal(road, 15, *proposal(np.maximum(10.0 - 6.0 * T, 0.0)), previous_proposal=steady[0])
    assert changed.ec == 0.0 and changed.ec_failed
    with pytest.raises(ConfigError):
        score_proposal(road, 10, *proposal(10.0), previous_proposal=steady[1])


def _off_road_log_scenario():
    sc = straight_road_scenario(num_steps=80, ego_speed_mps=10.0, ego_lane=1)
    xy = sc.ego.xy.copy()
    xy[:, 1] -= 1.2  # the logged car rides 0.6 m over the road's edge (a map error, say)
    return dataclasses.replace(sc, ego=EgoLog(xy, sc.ego.z, sc.ego.yaw_rad, sc.ego.speed_mps, sc.ego.valid))


def test_human_filter_sets_metrics_the_human_fails_to_one():
    data = ScoringData.build(prepare(_off_road_log_scenario()))
    xy, yaw = human_proposal(data, 10)
    filtered = score_proposal(data, 10, xy, yaw)
    assert "dac" in frame_baseline(data, 10).human_zero
    assert filtered.dac == 1.0 and "dac" in filtered.filtered
    assert filtered.unfiltered["dac"] == 0.0 and filtered.unfiltered_epdms == 0.0
    assert filtered.epdms > 0.5 and filtered.human_filter == "applied"
    plain = score_proposal(data, 10, xy, yaw, config=NO_FILTER)
    assert plain.dac == 0.0 and plain.epdms == 0.0 and plain.human_filter == "off"


def test_human_filter_does_not_apply_away_from_the_logged_state(road):
    ego = dataclasses.replace(logged_ego_state(road, 10), y_m=logged_ego_state(road, 10).y_m + 0.2)
    r = score_proposal(road, 10, *proposal(10.0), ego_state=ego)
    assert r.human_filter == "not applicable" and r.filtered == ()


def test_proposals_at_other_timings_are_resampled(road):
    xy, yaw = proposal(10.0)
    dense = score_proposal(road, 10, xy, yaw)
    sparse = score_proposal(road, 10, xy[4::5], yaw[4::5], t_offset_s=T[4::5])  # NAVSIM's 2 Hz poses
    assert sparse.progress_m == pytest.approx(dense.progress_m, abs=0.3)
    with pytest.raises(ActionError):
        score_proposal(road, 10, xy[:10], yaw[:10])
    with pytest.raises(ConfigError):
        score_proposal(road, 200, xy, yaw)

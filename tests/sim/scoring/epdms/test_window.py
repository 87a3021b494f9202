"""The sub-metrics of a window: DDC's and LK's thresholds, TLC at an inferred red stop line."""

from __future__ import annotations

import numpy as np
import pytest

from sim.scoring.epdms import (
    EPDMSConfig,
    actors_window,
    assemble_result,
    evaluate_window,
    logged_ego_state,
    proposal_states,
)
from sim.scoring.epdms.window import driving_direction_compliance, lane_keeping
from sim.scoring.episode_scores import explain
from sim.scoring.stop_controls import StopControlConfig, StopControls
from tests.sim.scoring.epdms.helpers import T, proposal


def test_driving_direction_compliance_thresholds():
    cfg = EPDMSConfig()
    x = np.arange(41) * 1.0  # 10 m/s
    oncoming = np.zeros(41, bool)
    assert driving_direction_compliance(x, np.zeros(41), oncoming, cfg)[0] == 1.0
    oncoming[10:25] = True  # 1.5 s
    score, worst_m, _ = driving_direction_compliance(x, np.zeros(41), oncoming, cfg)
    # NAVSIM sums the travel into states t-10 .. t: 11 steps of 1 m.
    assert score == 0.0 and worst_m == pytest.approx(11.0)
    slow = np.arange(41) * 0.3  # 3 m/s
    assert driving_direction_compliance(slow, np.zeros(41), oncoming, cfg)[:2] == (0.5, pytest.approx(3.3))
    creep = np.arange(41) * 0.15
    assert driving_direction_compliance(creep, np.zeros(41), oncoming, cfg)[0] == 1.0


def test_crossing_a_red_stop_line_fails_traffic_light_compliance_when_red_lines_are_scored(road):
    scored = EPDMSConfig(stop_controls=StopControlConfig(score_red_lines=True))
    ego = logged_ego_state(road, 10)
    states = proposal_states(*proposal(10.0), ego, road, road.scenario.ego_params)
    act = actors_window(road, 10, 41)
    hint = float(road.log_ego.route_s_m[10])
    front0 = hint + road.ego_box.rear_axle_to_center_m + road.ego_box.half_length_m
    line = StopControls(np.array([front0 + 15.0]), np.array([30]))  # red until step 30
    ran = evaluate_window(road, states, *act, hint, scored, stops=line, step_index=10)
    assert ran.tlc == 0.0 and ran.multiplier == 0.0 and 14 <= ran.tlc_step <= 16  # 15 m at 10 m/s
    result = assemble_result(10, ran, 0.0, None, None, "off", states, road, scored)
    assert result.epdms == 0.0 and result.red_light_time_s == pytest.approx(0.1 * ran.tlc_step)
    assert [m for m, _ in explain(result)][0] == "tlc"
    assert evaluate_window(road, states, *act, hint, scored, stops=line, step_index=26).tlc == 1.0  # green by then
    stopped = proposal_states(*proposal(np.maximum(10.0 - 4.0 * T, 0.0)), ego, road, road.scenario.ego_params)
    assert evaluate_window(road, stopped, *act, hint, scored, stops=line, step_index=10).tlc == 1.0
    # By default TLC stays 1: no policy observes the inferred lines (NAVSIM: 1 without signal states).
    assert evaluate_window(road, states, *act, hint, stops=line, step_index=10).tlc == 1.0


def test_lane_keeping_needs_20_consecutive_steps_and_skips_intersections():
    cfg = EPDMSConfig()
    dev = np.full(41, 0.6)
    assert lane_keeping(dev[:19], np.zeros(19, bool), cfg)[0] == 1.0
    assert lane_keeping(dev[:20], np.zeros(20, bool), cfg)[:2] == (0.0, 19)
    broken = dev.copy()
    broken[15] = 0.1
    assert lane_keeping(broken[:30], np.zeros(30, bool), cfg)[0] == 1.0
    inter = np.zeros(41, bool)
    inter[15] = True  # neither counts nor resets
    assert lane_keeping(dev[:21], inter[:21], cfg)[0] == 0.0
    assert lane_keeping(dev[:20], inter[:20], cfg)[0] == 1.0

"""The sub-metrics of a window: DDC's and LK's thresholds and DDC's intersection exemption, NC and
TTC across lanes and in intersections (hand-built states on a crossroads), TLC at an inferred red
stop line."""

from __future__ import annotations

import numpy as np
import pytest

from sim.dynamics.bicycle import X
from sim.engine import prepare
from sim.scoring.epdms import (
    EPDMSConfig,
    ScoringData,
    actors_window,
    assemble_result,
    evaluate_window,
    logged_ego_state,
    proposal_states,
)
from sim.scoring.epdms.window import driving_direction_compliance, lane_keeping
from sim.scoring.episode_scores import explain
from sim.scoring.stop_controls import StopControlConfig, StopControls
from tests.sim.scoring.epdms.helpers import CROSSROADS_XY, T, crossroads_scenario, proposal, straight_states


def test_driving_direction_compliance_thresholds():
    cfg = EPDMSConfig()
    x = np.arange(41) * 1.0  # 10 m/s
    oncoming = np.zeros(41, bool)
    none = np.zeros(41, bool)
    assert driving_direction_compliance(x, np.zeros(41), oncoming, none, cfg)[0] == 1.0
    oncoming[10:25] = True  # 1.5 s
    score, worst_m, _ = driving_direction_compliance(x, np.zeros(41), oncoming, none, cfg)
    # NAVSIM sums the travel into states t-10 .. t: 11 steps of 1 m.
    assert score == 0.0 and worst_m == pytest.approx(11.0)
    slow = np.arange(41) * 0.3  # 3 m/s
    assert driving_direction_compliance(slow, np.zeros(41), oncoming, none, cfg)[:2] == (0.5, pytest.approx(3.3))
    creep = np.arange(41) * 0.15
    assert driving_direction_compliance(creep, np.zeros(41), oncoming, none, cfg)[0] == 1.0


def test_driving_direction_compliance_ignores_travel_in_intersections():
    """NAVSIM zeroes the oncoming travel into every state whose box centre is in an intersection."""
    x = np.arange(41) * 1.0
    oncoming = np.zeros(41, bool)
    oncoming[10:25] = True
    inter = np.zeros(41, bool)
    inter[10:25] = True
    assert driving_direction_compliance(x, np.zeros(41), oncoming, inter)[:2] == (1.0, 0.0)
    inter[10:15] = False  # the intersection starts 0.5 s into the wrong-way run: 5 steps of 1 m count
    assert driving_direction_compliance(x, np.zeros(41), oncoming, inter)[:2] == (0.5, pytest.approx(5.0))


@pytest.fixture(scope="module")
def crossroads():
    """A crossroads with one car (its size is what the hand-built actor windows use)."""
    return ScoringData.build(prepare(crossroads_scenario(actors=((-60.0, -5.25, 0.0, 8.0),))))


def _window(data, states):
    hint = float(states[0, X] - data.route.xy_m[0, 0])  # the route runs along +x from its first point
    return evaluate_window(data, states, *actors_window(data, 0, len(states)), hint)


def test_wrong_way_travel_counts_outside_intersections_only(crossroads):
    """Heading east at 4.5 m/s in the westbound lane (y = +1.75 m): inside the intersection (box
    centre from x = -9 to 9 m) it is exempt; past it, 11 steps of 0.45 m in a 1 s window make
    4.95 m of oncoming travel (DDC 0.5)."""
    x0, y0 = CROSSROADS_XY
    d = crossroads.ego_box.rear_axle_to_center_m
    inside = _window(crossroads, straight_states(crossroads, x0 - 9.0 - d, y0 + 1.75, 4.5))
    assert inside.ddc == 1.0 and inside.oncoming_m == 0.0 and inside.dac == 1.0
    beyond = _window(crossroads, straight_states(crossroads, x0 + 12.0 - d, y0 + 1.75, 4.5))
    assert beyond.ddc == 0.5 and beyond.oncoming_m == pytest.approx(4.95)


def _alongside(data, states, lateral_m):
    """Actor windows (n, 1, ...) of a car driving beside the ego at its speed, its centre 1 m behind
    the ego's box centre and lateral_m to its side: its side touches the ego's, its centre is
    77 deg off the ego's heading seen from the rear axle (neither ahead nor behind)."""
    d = data.ego_box.rear_axle_to_center_m
    xy = np.stack([states[:, X] + d - 1.0, states[:, 1] + lateral_m], -1)[:, None]
    n = len(states)
    return xy, np.zeros((n, 1)), np.full((n, 1), states[0, 3]), np.ones((n, 1), bool)


@pytest.mark.parametrize("x_m, y_m, nc, ttc", [
    (-50.0, -1.75, 1.0, 1.0),  # in its lane before the crossroads: a lateral contact is not the ego's fault
    (-8.0, -1.75, 1.0, 0.0),  # in the intersection: TTC counts an actor that is not behind
    (-50.0, -3.5, 0.0, 0.0),  # straddling the two eastbound lanes: the lateral contact is its fault
])
def test_a_lateral_contact_across_lanes_and_in_intersections(crossroads, x_m, y_m, nc, ttc):
    """NAVSIM's NC (lateral contact at fault only when the ego is in several lanes or off-road)
    and TTC (an actor neither ahead nor behind counts when the ego is in several lanes, off-road
    or has its rear axle in an intersection), on the same side-by-side contact at 8 m/s."""
    x0, y0 = CROSSROADS_XY
    states = straight_states(crossroads, x0 + x_m, y0 + y_m, 8.0)
    hint = float(states[0, X] - crossroads.route.xy_m[0, 0])
    m = evaluate_window(crossroads, states, *_alongside(crossroads, states, -1.7), hint)
    assert (m.nc, m.ttc, m.dac) == (nc, ttc, 1.0)
    if nc == 0.0:
        assert m.nc_step == 0 and m.nc_actor == 0
    if ttc == 0.0:
        assert m.ttc_step == 0 and m.ttc_offset_steps == 0


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

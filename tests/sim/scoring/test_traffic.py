"""The traffic a proposal is scored against: log replay or reactive IDM vehicles (NAVSIM v2)."""

from __future__ import annotations

import numpy as np
import pytest

from scenarios.synthetic import ROAD_ORIGIN_XY, ActorSpec, lane_center_y, straight_road_scenario
from sim.engine import prepare
from sim.scoring.epdms import ScoringData, actor_futures, score_proposal
from sim.scoring.traffic import Traffic
from sim.types.state import EgoState

FRAME = 10
EGO_X_M = ROAD_ORIGIN_XY[0] + 20.0 + 10.0 * FRAME * 0.1  # the logged ego (10 m/s from x 20) at the frame
ONCOMING_Y_M = ROAD_ORIGIN_XY[1] + lane_center_y(-1, 3.5)
CLEARANCE_M = 24.0  # bumper to bumper at the frame: closing at 2 + 10 m/s, they touch after 2.0 s


@pytest.fixture(scope="module")
def oncoming():
    """An oncoming car at 10 m/s in lane -1 whose front is CLEARANCE_M ahead of an ego that
    creeps at 2 m/s in that lane (the stage-two start of a plan that strayed there)."""
    p = straight_road_scenario().ego_params
    center_x = EGO_X_M + p.rear_axle_to_center_m + 0.5 * p.length_m + CLEARANCE_M + 0.5 * 4.6
    actor = ActorSpec(x_m=center_x - ROAD_ORIGIN_XY[0] + 10.0 * FRAME * 0.1, lane=-1, speed_mps=10.0)
    data = ScoringData.build(prepare(straight_road_scenario(num_steps=120, actors=(actor,))))
    ego = EgoState(EGO_X_M, ONCOMING_Y_M, 0.0, 2.0, 0.0, 0.0, 0.0)
    creep = np.stack([2.0 * 0.1 * np.arange(1, 41), np.zeros(40)], -1)
    return data, ego, creep, center_x


def test_replayed_actors_ignore_the_ego_and_reactive_ones_brake_for_it(oncoming):
    data, ego, creep, center_x = oncoming
    states = score_proposal(data, FRAME, creep, np.zeros(40), ego_state=ego).states
    t = np.arange(41) * 0.1
    replay = actor_futures(data, FRAME, states, Traffic.LOG_REPLAY)
    np.testing.assert_allclose(replay[0][:, 0, 0], center_x - 10.0 * t, atol=1e-9)  # the log: 10 m/s on
    xy, yaw, speed, valid = actor_futures(data, FRAME, states, Traffic.REACTIVE)
    assert xy.shape == (41, 1, 2) and valid.all()
    np.testing.assert_allclose(xy[0], replay[0][0])  # both start where the log has the actor
    assert speed[0, 0] == pytest.approx(10.0)
    box = data.ego_box
    ego_front = states[:, 0] + box.rear_axle_to_center_m + box.half_length_m
    gap = xy[:, 0, 0] - 0.5 * 4.6 - ego_front
    assert gap.min() > 0.0  # stops short of the creeping ego
    assert speed[-1, 0] < 1.0 and np.all(np.diff(speed[:, 0]) <= 1e-9)


def test_reactive_traffic_spares_a_proposal_the_log_would_hit(oncoming):
    data, ego, creep, _ = oncoming
    replay = score_proposal(data, FRAME, creep, np.zeros(40), ego_state=ego)
    assert replay.nc == 0.0 and replay.collision_type == "front"
    assert replay.collision_time_s == pytest.approx(CLEARANCE_M / 12.0, abs=0.1)
    assert replay.epdms == 0.0
    reactive = score_proposal(data, FRAME, creep, np.zeros(40), ego_state=ego, traffic=Traffic.REACTIVE)
    assert reactive.nc == 1.0 and reactive.collision_time_s == -1.0 and reactive.ttc == 1.0
    np.testing.assert_allclose(reactive.states, replay.states)  # the ego does not react (NAVSIM's rule)

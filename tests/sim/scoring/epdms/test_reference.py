"""The compiled NC and TTC kernels against their shapely reference (NAVSIM-style polygons and
STRtrees): the contact or projection a kernel reports is one the reference finds, and where the
reference finds none the kernel reports none."""

from __future__ import annotations

import numpy as np
import pytest

from scenarios.synthetic import ActorSpec, straight_road_scenario
from sim.dynamics.bicycle import SPEED
from sim.engine import prepare
from sim.scoring.epdms import EPDMSConfig, ScoringData, actors_window, logged_ego_state, proposal_states
from sim.scoring.epdms.reference import actor_trees, shapely_overlaps
from sim.scoring.epdms.window import ego_points, no_collision_term, time_to_collision_term
from tests.conftest import real_dataroot_params
from tests.sim.scoring.epdms.helpers import T, braking_log, proposal

CONFIG = EPDMSConfig()


def kernel_and_reference(data: ScoringData, step: int, xy: np.ndarray, yaw: np.ndarray):
    """(NC (score, step, actor, type), TTC (score, step, actor, offset), ShapelyOverlaps) of a
    proposal at a logged frame, every lateral contact counted as the ego's fault."""
    states = proposal_states(xy, yaw, logged_ego_state(data, step), data, data.scenario.ego_params, CONFIG)
    act = actors_window(data, step, CONFIG.horizon_steps + 1)
    pts = ego_points(states, data)
    flags = np.ones(len(states), bool)
    nc = no_collision_term(states, pts, data, act[0], act[1], act[2], act[3], flags, CONFIG)
    ttc = time_to_collision_term(states, pts, data, act[0], act[1], act[3], flags, CONFIG)
    return nc, ttc, shapely_overlaps(data, states, actor_trees(data, act), CONFIG)


def assert_parity(nc, ttc, ref) -> None:
    contacts = {tuple(int(v) for v in row) for row in ref.contacts}
    projections = {tuple(int(v) for v in row) for row in ref.projections}
    _, nc_step, nc_actor, _ = nc
    if nc_step >= 0:
        assert (nc_step, nc_actor) in contacts
    if not contacts:
        assert nc[0] == 1.0 and nc_step == -1
    _, ttc_step, ttc_actor, ttc_offset = ttc
    if ttc_step >= 0:
        assert (ttc_step, ttc_offset, ttc_actor) in projections
    if not projections:
        assert ttc[0] == 1.0 and ttc_step == -1


def test_rear_ending_a_stopped_car_is_the_first_contact_and_projection_of_the_reference():
    data = ScoringData.build(prepare(straight_road_scenario(
        num_steps=80, ego_speed_mps=braking_log(), actors=(ActorSpec(x_m=55.0, lane=0, speed_mps=0.0),))))
    nc, ttc, ref = kernel_and_reference(data, 0, *proposal(10.0))
    assert nc[0] == 0.0 and len(ref.contacts) and (nc[1], nc[2]) == tuple(ref.contacts[0])
    assert ttc[0] == 0.0 and (ttc[1], ttc[3], ttc[2]) == tuple(ref.projections[0])
    assert_parity(nc, ttc, ref)


def test_a_clear_road_has_no_overlap_in_either():
    data = ScoringData.build(prepare(straight_road_scenario(num_steps=80, ego_speed_mps=10.0)))
    nc, ttc, ref = kernel_and_reference(data, 10, *proposal(10.0))
    assert len(ref.contacts) == len(ref.projections) == 0 and nc[0] == ttc[0] == 1.0


@pytest.mark.parametrize("lateral", [0.0, 3.5, -3.5])
def test_lane_changes_through_traffic(lateral):
    """Cars in both directions and neighbouring lanes, the proposal swerving into them."""
    traffic = (ActorSpec(x_m=45.0, lane=0, speed_mps=6.0), ActorSpec(x_m=40.0, lane=1, speed_mps=12.0),
               ActorSpec(x_m=90.0, lane=-1, speed_mps=8.0), ActorSpec(x_m=30.0, lane=1, speed_mps=0.0),
               ActorSpec(x_m=15.0, lane=0, speed_mps=14.0))
    data = ScoringData.build(prepare(straight_road_scenario(num_steps=80, ego_speed_mps=10.0, actors=traffic)))
    swerve = lateral * np.clip(T / 1.5, 0.0, 1.0)
    for step in (0, 10, 20):
        assert_parity(*kernel_and_reference(data, step, *proposal(10.0, swerve)))


@pytest.mark.parametrize("dataroot", real_dataroot_params())
def test_real_log_proposals(dataroot):
    from scenarios.nuscenes import list_scenes, load_scenario

    data = ScoringData.build(prepare(load_scenario(dataroot, list_scenes(dataroot)[0].name)))
    for step in range(0, 120, 15):
        speed = float(data.log_ego.states[step, SPEED])
        assert_parity(*kernel_and_reference(data, step, *proposal(max(speed, 5.0))))
        assert_parity(*kernel_and_reference(data, step, *proposal(max(speed, 5.0), 3.0 * np.clip(T, 0.0, 1.0))))

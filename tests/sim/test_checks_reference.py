"""The engine's compiled per-step checks against their shapely reference, on every state of
closed-loop episodes through traffic: any collision, off-road and time to collision agree."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from scenarios.synthetic import ActorSpec, straight_road_scenario
from sim.checks import CheckParams, colliding_actors, ego_corners, off_road, time_to_collision
from sim.checks_reference import shapely_checks
from sim.engine import EngineConfig, prepare, run_episode
from sim.policies.builtin import ConstantVelocityPolicy, ExpertPolicy
from sim.types.scenario import EgoLog

# Positions and speeds off the 0.1 s x 1 m/s grid: exactly touching boxes (a float tie) would make
# the comparison a coin toss between two exact methods.
TRAFFIC = (ActorSpec(x_m=60.37, lane=0, speed_mps=0.0), ActorSpec(x_m=45.21, lane=1, speed_mps=6.13),
           ActorSpec(x_m=120.53, lane=-1, speed_mps=9.07), ActorSpec(x_m=10.11, lane=0, speed_mps=13.29),
           ActorSpec(x_m=80.73, lane=0, speed_mps=4.17, size_wlh_m=(2.5, 10.0, 3.0), category="vehicle.bus.rigid"))



@pytest.mark.parametrize("policy, ego_lane, shift_m", [(ExpertPolicy, 0, 0.0), (ConstantVelocityPolicy, 0, 0.0),
                                                       (ExpertPolicy, 1, 0.0), (ExpertPolicy, 1, -1.2)])
def test_compiled_checks_match_shapely_on_every_state(policy, ego_lane, shift_m):
    """shift_m moves the logged ego sideways (-1.2 m in the outer lane: 0.6 m over the road's edge)."""
    scenario = straight_road_scenario(num_steps=100, ego_speed_mps=9.83, ego_lane=ego_lane, actors=TRAFFIC)
    ego_xy = scenario.ego.xy + np.array([0.0, shift_m])
    scenario = dataclasses.replace(scenario, ego=EgoLog(ego_xy, scenario.ego.z, scenario.ego.yaw_rad,
                                                        scenario.ego.speed_mps, scenario.ego.valid))
    context = prepare(scenario, EngineConfig(stop_at_route_end=False))
    episode = run_episode(context, policy())
    check = CheckParams()
    size = scenario.actors.size_wlh_m
    collisions = finite_ttc = off = 0
    for i in range(len(episode.step_index)):
        state = episode.recorded_state(i)
        collision, leaves_road, ttc = shapely_checks(scenario, state, check)
        assert bool(colliding_actors(state.ego, scenario.ego_params, state.actors, size).any()) == collision
        assert off_road(scenario.map, ego_corners(state.ego, scenario.ego_params)) == leaves_road
        assert time_to_collision(state.ego, scenario.ego_params, state.actors, size, check) == pytest.approx(ttc)
        collisions += collision
        finite_ttc += np.isfinite(ttc)
        off += leaves_road
    # the cases exercise every check, not just the empty road
    assert collisions > 0 and finite_ttc > 0 and (off > 0) == (shift_m != 0.0)

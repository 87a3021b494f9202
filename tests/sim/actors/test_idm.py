"""IDM: the pure law, reactive actors in the loop, and the idm policy."""

import numpy as np
import pytest

from scenarios.synthetic import ActorSpec, straight_road_scenario
from sim.actors.idm import IDMParams, idm_acceleration
from sim.engine import EngineConfig, initial_state, prepare, run_episode, step
from sim.metrics import episode_metrics
from sim.policies.builtin import ConstantVelocityPolicy, IDMPolicy
from sim.types.state import ActorMode, ControlAction

P = IDMParams()


def test_free_road_accelerates_to_the_desired_speed_and_holds_it():
    a0 = idm_acceleration(np.array([0.0]), np.array([np.inf]), np.array([0.0]), np.array([10.0]), P)
    assert a0[0] == pytest.approx(P.max_accel_mps2)
    at_v0 = idm_acceleration(np.array([10.0]), np.array([np.inf]), np.array([0.0]), np.array([10.0]), P)
    assert at_v0[0] == pytest.approx(0.0, abs=1e-12)


def test_closing_on_a_stopped_leader_brakes_hard_and_standstill_gap_is_kept():
    brake = idm_acceleration(np.array([10.0]), np.array([8.0]), np.array([0.0]), np.array([10.0]), P)
    assert brake[0] == -P.max_decel_mps2  # clipped to the hard limit
    standstill = idm_acceleration(np.array([0.0]), np.array([P.min_gap_m]), np.array([0.0]), np.array([10.0]), P)
    assert standstill[0] == pytest.approx(0.0, abs=1e-12)


def test_reactive_follower_stops_behind_a_stopped_car_while_replay_drives_through():
    # Actor 0 is parked in lane 1 at x = 120; actor 1 drives lane 1 at 10 m/s from x = 40.
    specs = (ActorSpec(x_m=120.0, lane=1, speed_mps=0.0), ActorSpec(x_m=40.0, lane=1, speed_mps=10.0))
    sc = straight_road_scenario(num_steps=150, ego_speed_mps=0.0, ego_lane=0, actors=specs, ego_start_x_m=5.0)
    for reactive in (True, False):
        ctx = prepare(sc, EngineConfig(reactive=reactive, stop_at_route_end=False))
        state = initial_state(ctx)
        assert state.actors.mode[1] == (ActorMode.IDM if reactive else ActorMode.REPLAY)
        assert state.actors.mode[0] == ActorMode.REPLAY  # parked: no path to follow
        gaps = []
        for _ in range(140):
            state = step(ctx, state, ControlAction(0.0, 0.0))
            gaps.append(state.actors.xy[0, 0] - state.actors.xy[1, 0] - 4.6)
        if reactive:
            assert min(gaps) > 1.0  # stopped with a gap, never touched
            assert state.actors.speed_mps[1] < 0.1
        else:
            assert min(gaps) < -4.0  # the log drives through the parked car


def test_reactive_actor_yields_to_a_stopped_ego_in_its_path():
    # Ego stands in lane 0 at x = 60 (its log also stands); an actor approaches in lane 0.
    sc = straight_road_scenario(num_steps=120, ego_speed_mps=0.0, ego_lane=0, ego_start_x_m=60.0,
                                actors=(ActorSpec(x_m=10.0, lane=0, speed_mps=10.0),))
    ctx = prepare(sc, EngineConfig(reactive=True, stop_at_route_end=False))
    state = initial_state(ctx)
    for _ in range(110):
        state = step(ctx, state, ControlAction(0.0, 0.0))
    ego_rear_x = state.ego.x_m + 1.4 - 4.6 / 2
    actor_front_x = state.actors.xy[0, 0] + 4.6 / 2
    assert 0.5 < ego_rear_x - actor_front_x < 6.0
    assert state.actors.speed_mps[0] < 0.1


def test_idm_policy_brakes_for_a_stopped_car_where_constant_velocity_rear_ends_it():
    sc = straight_road_scenario(num_steps=120, ego_speed_mps=10.0, actors=(ActorSpec(x_m=90.0, lane=0, speed_mps=0.0),))
    ctx = prepare(sc, EngineConfig(stop_at_route_end=False))
    idm = episode_metrics(run_episode(ctx, IDMPolicy()))
    cv = episode_metrics(run_episode(ctx, ConstantVelocityPolicy()))
    assert not idm.collision and idm.min_ttc_s > 0.5
    assert cv.at_fault_collision


def test_idm_policy_yields_to_a_car_that_will_cross_its_path():
    """A car crossing the road ahead (constant velocity) reaches the crossing point first: the
    idm policy waits for it, constant velocity drives into it."""
    import dataclasses

    from sim.types.scenario import ActorKind

    sc = straight_road_scenario(num_steps=80, ego_speed_mps=10.0)
    # One actor driving north across the ego's lane 40 m ahead, arriving there with the ego (~3.5 s).
    n, t = 1, sc.num_steps
    ego_y = sc.ego.xy[0, 1]
    times = np.arange(t) * 0.1
    xy = np.stack([np.full(t, sc.ego.xy[0, 0] + 40.0), ego_y - 28.0 + 8.0 * times], -1)[None]
    actors = dataclasses.replace(
        sc.actors, instance_tokens=np.array(["crosser"]), category=np.array(["vehicle.car"]),
        kind=np.array([ActorKind.VEHICLE], np.int8), size_wlh_m=np.array([[1.9, 4.6, 1.6]]), xy=xy,
        z=np.full((n, t), 0.8), yaw_rad=np.full((n, t), np.pi / 2),
        velocity_xy_mps=np.tile([0.0, 8.0], (n, t, 1)), valid=np.ones((n, t), bool))
    sc = dataclasses.replace(sc, actors=actors)
    ctx = prepare(sc, EngineConfig(stop_at_route_end=False))
    idm = episode_metrics(run_episode(ctx, IDMPolicy()))
    cv = episode_metrics(run_episode(ctx, ConstantVelocityPolicy()))
    assert cv.at_fault_collision
    assert not idm.collision

"""Proposals, logs and scenes the EPDMS tests build: a straight road and a crossroads."""

from __future__ import annotations

import dataclasses

import numpy as np

from render.procedural.maps import synthetic_road_map
from scenarios.synthetic import straight_road_scenario
from sim.dynamics.bicycle import SPEED, X, Y
from sim.scoring.epdms import EPDMSConfig, ScoringData
from sim.types.scenario import ActorKind, ActorTracks, EgoLog, Route, Scenario

T = np.arange(1, 41) * 0.1
NO_FILTER = EPDMSConfig(human_penalty_filter=False)


def proposal(speed, lateral=None):
    """(40, 2) xy and (40,) yaw in the ego frame of a path with the given speeds (m/s per pose)
    and lateral offsets (m, left +)."""
    v = np.broadcast_to(np.asarray(speed, float), (40,))
    x = np.cumsum(v * 0.1)
    y = np.zeros(40) if lateral is None else np.asarray(lateral, float)
    xx, yy = np.concatenate([[0.0], x]), np.concatenate([[0.0], y])
    return np.stack([x, y], -1), np.arctan2(np.diff(yy), np.diff(xx))


def braking_log(n=80, hold=5, decel_per_step=0.4, v0=10.0):
    v = np.full(n, v0)
    for k in range(hold, n):
        v[k] = max(v[k - 1] - decel_per_step, 0.0)
    return v


CROSSROADS_XY = np.array([300.0, 300.0])  # the crossroads' centre (global), keeping coordinates positive


def crossroads_scenario(ego_speed_mps: float = 8.0, ego_start_x_m: float = -40.0,
                        actors: tuple[tuple[float, float, float, float], ...] = (), num_steps: int = 80) -> Scenario:
    """The ego drives east at a constant speed straight through the crossroads of
    `synthetic_road_map` (two 3.5 m lanes each way east-west, one each way north-south; the
    intersection's lane connectors span x = -9.5 .. 9.5 m around the centre) in the eastbound
    lane next to the centre line (y = -1.75 m), starting at ego_start_x_m. Its route is that
    lane, its straight connector and the lane after it. actors: (x_m, y_m, yaw_rad, speed_mps)
    relative to the centre, cars moving on at constant velocity."""
    road = synthetic_road_map(origin_xy_m=tuple(CROSSROADS_XY))
    lanes = road.lanes
    route_lanes = np.array([int(np.flatnonzero(lanes.tokens == name)[0])
                            for name in ("east_in_0", "east_0_to_east_0", "east_out_0")], np.int64)
    route_xy = np.concatenate([lanes.centerline(i) for i in route_lanes])
    route_xy = route_xy[np.concatenate([[True], np.linalg.norm(np.diff(route_xy, axis=0), axis=1) > 1e-6])]
    base = straight_road_scenario(num_steps=num_steps, ego_speed_mps=ego_speed_mps)
    t_s = np.arange(num_steps) * 0.1
    ego_xy = CROSSROADS_XY + np.stack([ego_start_x_m + ego_speed_mps * t_s, np.full(num_steps, -1.75)], -1)
    ego = EgoLog(ego_xy, np.zeros(num_steps), np.zeros(num_steps), np.full(num_steps, float(ego_speed_mps)),
                 np.ones(num_steps, bool))
    n = len(actors)
    spec = np.array(actors, np.float64).reshape(n, 4)
    direction = np.stack([np.cos(spec[:, 2]), np.sin(spec[:, 2])], -1)
    xy = CROSSROADS_XY + spec[:, None, :2] + direction[:, None] * (spec[:, 3, None] * t_s)[..., None]
    tracks = ActorTracks(
        instance_tokens=np.array([f"actor-{i}" for i in range(n)]), category=np.array(["vehicle.car"] * n),
        kind=np.full(n, int(ActorKind.VEHICLE), np.int8), size_wlh_m=np.tile([1.9, 4.6, 1.6], (n, 1)),
        xy=xy, z=np.full((n, num_steps), 0.8), yaw_rad=np.repeat(spec[:, 2:3], num_steps, axis=1),
        velocity_xy_mps=np.repeat((direction * spec[:, 3:4])[:, None], num_steps, axis=1),
        valid=np.ones((n, num_steps), bool))
    route = Route(route_lanes, route_xy, base.route.driving_command)
    return dataclasses.replace(base, name="crossroads", map=road, ego=ego, actors=tracks, route=route)


def straight_states(data: ScoringData, x0_m: float, y_m: float, speed_mps: float, n: int = 41) -> np.ndarray:
    """(n, 6) ego states (rear axle) heading east along y_m from x0_m at a constant speed, 0.1 s apart."""
    states = np.zeros((n, 6))
    states[:, X] = x0_m + speed_mps * np.arange(n) * 0.1
    states[:, Y] = y_m
    states[:, SPEED] = speed_mps
    return states

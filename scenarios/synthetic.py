"""Hand-made scenarios on a straight road, for tests and for reproducing a situation exactly.

`straight_road_scenario` builds a two-way road along global +x with any number of lanes per
direction, an ego driving a given speed profile in one lane, and actors given as simple
constant-speed specs. Everything is in the `Scenario` types the engine reads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from shapely.geometry import box as shapely_box

from sim.types.roadmap import LaneGraph, RoadMap
from sim.types.scenario import STEP_US, ActorKind, ActorTracks, CameraRig, DrivingCommand, EgoLog, Route, Scenario

ROAD_ORIGIN_XY = np.array([100.0, 100.0])  # keep coordinates positive, as map rasters expect


@dataclass(frozen=True)
class ActorSpec:
    """One actor moving at constant speed along +x (or -x with yaw pi).

    x_m: initial box centre along the road from the road's start; lane: lane index counted
    from the road centre (0 = first lane right of centre in +x direction, -1 = first lane of
    the opposite direction); speed_mps; size_wlh_m; kind; from_step / to_step: valid span.
    """

    x_m: float
    lane: int = 0
    speed_mps: float = 0.0
    size_wlh_m: tuple[float, float, float] = (1.9, 4.6, 1.6)
    kind: ActorKind = ActorKind.VEHICLE
    category: str = "vehicle.car"
    from_step: int = 0
    to_step: int | None = None


def lane_center_y(lane: int, lane_width_m: float) -> float:
    """Lateral position (global y, relative to the road's centre) of a lane's centerline."""
    return -(lane + 0.5) * lane_width_m if lane >= 0 else (-lane - 0.5) * lane_width_m


def straight_road_scenario(num_steps: int = 80, ego_speed_mps: float | np.ndarray = 10.0, ego_lane: int = 0,
                           actors: tuple[ActorSpec, ...] = (), lanes_per_direction: int = 2,
                           lane_width_m: float = 3.5, road_length_m: float = 400.0, ego_start_x_m: float = 20.0,
                           name: str = "straight-road") -> Scenario:
    """A straight two-way road along +x; the ego drives lane `ego_lane` at `ego_speed_mps`
    (a constant or a (T,) profile); actors move per their specs."""
    t = num_steps
    t_us = np.arange(t, dtype=np.int64) * STEP_US
    half = lanes_per_direction * lane_width_m
    x0, y0 = ROAD_ORIGIN_XY
    # Lanes: forward lanes 0..n-1 along +x, backward lanes along -x.
    tokens, lines, widths = [], [], []
    for lane in range(lanes_per_direction):
        y = y0 + lane_center_y(lane, lane_width_m)
        tokens.append(f"lane-fwd-{lane}")
        lines.append(np.stack([np.linspace(x0, x0 + road_length_m, 41), np.full(41, y)], -1))
        widths.append(lane_width_m)
    for lane in range(lanes_per_direction):
        y = y0 + lane_center_y(-lane - 1, lane_width_m)
        tokens.append(f"lane-bwd-{lane}")
        lines.append(np.stack([np.linspace(x0 + road_length_m, x0, 41), np.full(41, y)], -1))
        widths.append(lane_width_m)
    offsets = np.cumsum([0] + [len(line) for line in lines]).astype(np.int64)
    lanes = LaneGraph(np.array(tokens), np.vstack(lines), offsets, np.array(widths), np.zeros(len(tokens), bool),
                      np.zeros(len(tokens) + 1, np.int64), np.zeros(0, np.int64))
    road = RoadMap("synthetic-straight", shapely_box(x0, y0 - half, x0 + road_length_m, y0 + half), lanes)

    speed = np.broadcast_to(np.asarray(ego_speed_mps, dtype=np.float64), (t,)).copy()
    ego_x = x0 + ego_start_x_m + np.concatenate([[0.0], np.cumsum(0.5 * (speed[1:] + speed[:-1]) * STEP_US * 1e-6)])
    ego_xy = np.stack([ego_x, np.full(t, y0 + lane_center_y(ego_lane, lane_width_m))], -1)
    ego = EgoLog(ego_xy, np.zeros(t), np.zeros(t), speed, np.ones(t, bool))

    n = len(actors)
    xy = np.zeros((n, t, 2))
    yaw = np.zeros((n, t))
    vel = np.zeros((n, t, 2))
    valid = np.zeros((n, t), bool)
    for i, a in enumerate(actors):
        direction = 1.0 if a.lane >= 0 else -1.0
        xs = x0 + a.x_m + direction * a.speed_mps * np.arange(t) * STEP_US * 1e-6
        xy[i] = np.stack([xs, np.full(t, y0 + lane_center_y(a.lane, lane_width_m))], -1)
        yaw[i] = 0.0 if direction > 0 else np.pi
        vel[i, :, 0] = direction * a.speed_mps
        valid[i, a.from_step:(a.to_step if a.to_step is not None else t)] = True
    tracks = ActorTracks(
        instance_tokens=np.array([f"actor-{i}" for i in range(n)]),
        category=np.array([a.category for a in actors]) if n else np.zeros(0, "<U1"),
        kind=np.array([int(a.kind) for a in actors], np.int8),
        size_wlh_m=np.array([a.size_wlh_m for a in actors], np.float64).reshape(n, 3),
        xy=xy, z=np.tile(np.array([a.size_wlh_m[2] / 2 for a in actors]).reshape(n, 1), (1, t)),
        yaw_rad=yaw, velocity_xy_mps=vel, valid=valid)
    cameras = CameraRig(np.array(["CAM_FRONT"]), np.array([[[1266.0, 0, 800], [0, 1266.0, 450], [0, 0, 1]]]),
                        np.array([[[0, 0, 1, 1.7], [-1, 0, 0, 0], [0, -1, 0, 1.5], [0, 0, 0, 1]]], np.float64),
                        np.array([1600]), np.array([900]))
    route_lane = ego_lane if ego_lane >= 0 else lanes_per_direction - ego_lane - 1
    route = Route(np.array([route_lane], np.int64), lanes.centerline(route_lane).copy(),
                  np.full(t, DrivingCommand.STRAIGHT, np.int8))
    return Scenario(name=name, t_us=t_us, map=road, ego=ego, actors=tracks, cameras=cameras, route=route,
                    metadata={"source": "synthetic.straight_road_scenario"})

"""The paths agents follow: lane routes for vehicles, sidewalk walks for pedestrians, resampled
uniformly, with the speed each wants at each sample and where the path meets the crossings."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import LineString
from shapely.ops import substring

from scenarios.demo_town.scene_spec import CAR, ActorType
from scenarios.demo_town.town import STOP_BEFORE_CROSSING_M, DemoTown

PATH_SPACING_M = 0.5  # agents' paths are resampled at this arclength spacing
MAX_LATERAL_ACCEL_MPS2 = 2.5  # sets turning speeds
ANTICIPATION_DECEL_MPS2 = 1.5  # how early vehicles slow for a turn
PED_CROSSING_SHARE = 0.6  # share of pedestrians whose route takes a crossing
PED_WALK_M = 40.0  # sidewalk distance walked after the crossing (or in all, without one)


@dataclass(frozen=True, eq=False)
class AgentPath:
    """An agent's path, uniformly resampled. K samples.

    xy: (K, 2) global; yaw_rad: (K,) unwrapped so that it interpolates; spacing_m; speed_cap_mps:
    (K,) the fastest the agent wants to be at each sample (limits, curvature and anticipation);
    lanes: lane indices in order (vehicles only); lane_start_s_m: (len(lanes) + 1,).
    """

    xy: np.ndarray
    yaw_rad: np.ndarray
    spacing_m: float
    speed_cap_mps: np.ndarray
    lanes: tuple[int, ...] = ()
    lane_start_s_m: np.ndarray = field(default_factory=lambda: np.zeros(1))

    @property
    def length_m(self) -> float:
        return self.spacing_m * (len(self.xy) - 1)


def uniform_s(length_m: float) -> np.ndarray:
    return np.linspace(0.0, length_m, max(int(math.ceil(length_m / PATH_SPACING_M)), 1) + 1)


def vehicle_path(town: DemoTown, lanes: tuple[int, ...], desired_speed_mps: float) -> AgentPath:
    lane_start = np.concatenate([[0.0], np.cumsum([town.lanes[i].length_m for i in lanes])])
    s = uniform_s(float(lane_start[-1]))
    which = np.clip(np.searchsorted(lane_start, s, side="right") - 1, 0, len(lanes) - 1)
    xy, yaw, cap = np.empty((len(s), 2)), np.empty(len(s)), np.empty(len(s))
    for r, lane_index in enumerate(lanes):
        lane = town.lanes[lane_index]
        sel = which == r
        xy[sel], yaw[sel] = lane.pose_at(s[sel] - lane_start[r])
        curvature = np.abs(lane.curvature_at(s[sel] - lane_start[r]))
        cap[sel] = np.minimum(lane.speed_limit_mps,
                              np.sqrt(MAX_LATERAL_ACCEL_MPS2 / np.maximum(curvature, 1e-9)))
    cap = np.minimum(cap, desired_speed_mps)
    # Slow down ahead of turns: cap(s)^2 <= cap(s')^2 + 2 b (s' - s) for all s' >= s.
    v2_plus = cap ** 2 + 2.0 * ANTICIPATION_DECEL_MPS2 * s
    cap = np.sqrt(np.minimum.accumulate(v2_plus[::-1])[::-1] - 2.0 * ANTICIPATION_DECEL_MPS2 * s)
    return AgentPath(xy, np.unwrap(yaw), float(s[1] - s[0]), cap, lanes, lane_start)


def polyline_path(line: LineString, speed_mps: float) -> AgentPath:
    s = uniform_s(line.length)
    xy = shapely.get_coordinates(shapely.line_interpolate_point(line, s))
    d = np.gradient(xy, axis=0)
    return AgentPath(xy, np.unwrap(np.arctan2(d[:, 1], d[:, 0])), float(s[1] - s[0]), np.full(len(s), speed_mps))


def expand_route(town: DemoTown, lane_names: tuple[str, ...]) -> tuple[int, ...]:
    """Lane indices of a route given as regular lanes, with the connectors between them."""
    route = [town.lane_index[lane_names[0]]]
    for name in lane_names[1:]:
        nxt = town.lane_index[name]
        if nxt not in town.successors[route[-1]]:
            route.append(next(c for c in town.successors[route[-1]] if nxt in town.successors[c]))
        route.append(nxt)
    return tuple(route)


def random_route(town: DemoTown, start_lane: int, actor: ActorType, rng: np.random.Generator) -> tuple[int, ...]:
    """From start_lane to the town's edge, with random turns (trucks and buses go straight)."""
    route = [start_lane]
    while town.successors[route[-1]]:
        options = list(town.successors[route[-1]])
        if actor is not CAR:
            options = [o for o in options if not town.lanes[o].is_connector or town.turn_of(o) == "straight"]
        route.append(options[int(rng.integers(len(options)))])
    return tuple(route)


def pedestrian_route(town: DemoTown, rng: np.random.Generator) -> tuple[LineString, int]:
    """A walk along a sidewalk, most often over one crossing: (path, crossing index or -1)."""
    paths = town.sidewalk_paths
    if rng.random() < PED_CROSSING_SHARE:
        k = int(rng.integers(len(town.crossings)))
        crossing = town.crossings[k]
        near = int(rng.integers(2))
        far = 1 - near
        before = paths[crossing.sidewalk[near]]
        s_near = crossing.sidewalk_s_m[near]
        approach = rng.uniform(1.0, 15.0) * (1 if rng.random() < 0.5 else -1)
        if not 0.0 <= s_near + approach <= before.length:
            approach = -approach
        after = paths[crossing.sidewalk[far]]
        s_far = crossing.sidewalk_s_m[far]
        onward = PED_WALK_M * (1 if rng.random() < 0.5 else -1)
        if not 0.0 <= s_far + onward <= after.length:
            onward = -onward
        coords = np.concatenate([
            shapely.get_coordinates(substring(before, s_near + approach, s_near)),
            shapely.get_coordinates(substring(after, s_far, float(np.clip(s_far + onward, 0.0, after.length)))),
        ])
    else:
        k = -1
        line = paths[int(rng.integers(len(paths)))]
        start = rng.uniform(0.0, line.length)
        end = start + PED_WALK_M if start + PED_WALK_M <= line.length else start - PED_WALK_M
        coords = shapely.get_coordinates(substring(line, start, float(np.clip(end, 0.0, line.length))))
    keep = np.concatenate([[True], np.linalg.norm(np.diff(coords, axis=0), axis=1) > 1e-6])
    route = LineString(coords[keep])
    # Keep to the right-hand half of the 3 m sidewalk, so people walking opposite ways pass.
    shifted = route.offset_curve(-rng.uniform(0.5, 0.9), join_style="mitre")
    return (shifted if isinstance(shifted, LineString) and not shifted.is_empty else route), k


def stop_before_box_s(path: AgentPath, crossings: np.ndarray, box_start_s_m: float) -> float:
    """Where a vehicle's front stops to wait for the intersection: just before the last crossing
    ahead of the box. crossings: crossing_intervals of the path."""
    before = crossings[:, 0] < box_start_s_m
    return float(crossings[before, 0].max()) - STOP_BEFORE_CROSSING_M


def crossing_intervals(town: DemoTown, path: AgentPath) -> np.ndarray:
    """(num_crossings, 2) path arclength [enter, leave] of each crossing; inf where the path
    misses it."""
    s = np.arange(len(path.xy)) * path.spacing_m
    out = np.full((len(town.crossings), 2), np.inf)
    for k, crossing in enumerate(town.crossings):
        inside = shapely.contains_xy(crossing.polygon, path.xy[:, 0], path.xy[:, 1])
        if inside.any():
            out[k] = s[inside].min(), s[inside].max()
    return out

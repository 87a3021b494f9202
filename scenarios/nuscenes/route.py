"""The route: the lanes the ego drove, matched from its logged path, and the route centerline."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scenarios.nuscenes.commands import driving_commands
from scenarios.nuscenes.config import RouteConfig
from sim.geometry import interpolate_polyline, polyline_arclength
from sim.types.roadmap import LaneGraph, RoadMap
from sim.types.scenario import EgoLog, Route


@dataclass(frozen=True)
class _LaneRun:
    """Consecutive ego steps matched to one lane: lane index, step count, arclength on the lane at
    the first and last of those steps."""

    lane: int
    num_steps: int
    s_enter_m: float
    s_exit_m: float


def build_route(road_map: RoadMap, ego: EgoLog, config: RouteConfig) -> Route:
    """The lanes the ego drove, the route centerline and the driving command at each step.

    Each valid ego pose is matched to a lane (nearest, heading-aware); runs of the same lane are
    collapsed; short runs that break connectivity are dropped as matching noise; lanes the ego
    crossed without being matched are filled in from successor links. Where consecutive lanes
    are not linked (a lane change), the centerline leaves the first lane where the ego last was
    on it and joins the next where the ego first was on it, so it follows the ego. Without any
    matched lane, the centerline is the ego's own path.
    """
    lanes = road_map.lanes
    steps = np.flatnonzero(ego.valid)
    chunk = config.match_chunk_points
    matched_lane, matched_s = [], []
    for start in range(0, len(steps), chunk):
        idx = steps[start:start + chunk]
        match = road_map.nearest_lane(ego.xy[idx], ego.yaw_rad[idx])
        matched_lane.append(match.lane)
        matched_s.append(match.s_m)
    lane_per_step = np.concatenate(matched_lane) if matched_lane else np.zeros(0, np.int64)
    s_per_step = np.concatenate(matched_s) if matched_s else np.zeros(0)
    on_lane = lane_per_step >= 0
    runs = _drop_noise_runs(_lane_runs(lane_per_step[on_lane], s_per_step[on_lane]), lanes, config)

    # Per route lane: (lane, arclength where its piece starts, where it ends); None: the lane's end.
    legs: list[tuple[int, float | None, float | None]] = []
    for i, run in enumerate(runs):
        if i == 0:
            legs.append((run.lane, None, None))
            continue
        path = _lane_path(lanes, runs[i - 1].lane, run.lane, config.max_bridge_lanes)
        if path is None:  # not linked: a lane change; cut the previous leg where the ego left it
            prev_lane, prev_start, _ = legs[-1]
            legs[-1] = (prev_lane, prev_start, runs[i - 1].s_exit_m)
            legs.append((run.lane, run.s_enter_m, None))
        else:  # linked: whole lanes, including any the ego crossed unmatched
            legs.extend((lane, None, None) for lane in path[1:])
    pieces = [_polyline_between(lanes.centerline(lane), 0.0 if s_start is None else s_start,
                                lanes.lane_length_m[lane] if s_end is None else s_end)
              for lane, s_start, s_end in legs]
    centerline = _drop_repeated_points(np.concatenate(pieces) if pieces else ego.xy[ego.valid])
    return Route(
        lane_indices=np.array([lane for lane, _, _ in legs], dtype=np.int64),
        centerline_xy=centerline,
        driving_command=driving_commands(centerline, ego.xy, ego.yaw_rad, config.command),
    )


def _lane_runs(lane_per_step: np.ndarray, s_per_step: np.ndarray) -> list[_LaneRun]:
    if len(lane_per_step) == 0:
        return []
    starts = np.flatnonzero(np.concatenate([[True], lane_per_step[1:] != lane_per_step[:-1]]))
    ends = np.concatenate([starts[1:], [len(lane_per_step)]])
    return [_LaneRun(int(lane_per_step[a]), int(b - a), float(s_per_step[a]), float(s_per_step[b - 1]))
            for a, b in zip(starts, ends)]


def _drop_noise_runs(runs: list[_LaneRun], lanes: LaneGraph, config: RouteConfig) -> list[_LaneRun]:
    """Remove short runs not linked to both neighbours, merging neighbours that become equal."""
    def linked(a: _LaneRun | None, b: _LaneRun | None) -> bool:
        return a is None or b is None or _lane_path(lanes, a.lane, b.lane, config.max_bridge_lanes) is not None

    runs = list(runs)
    changed = True
    while changed and len(runs) > 1:
        changed = False
        for i, run in enumerate(runs):
            prev = runs[i - 1] if i > 0 else None
            nxt = runs[i + 1] if i + 1 < len(runs) else None
            if run.num_steps >= config.min_run_steps or (linked(prev, run) and linked(run, nxt)):
                continue
            if prev is not None and nxt is not None and prev.lane == nxt.lane:
                merged = _LaneRun(prev.lane, prev.num_steps + nxt.num_steps, prev.s_enter_m, nxt.s_exit_m)
                runs[i - 1:i + 2] = [merged]
            else:
                del runs[i]
            changed = True
            break
    return runs


def _lane_path(lanes: LaneGraph, start: int, goal: int, max_bridge_lanes: int) -> list[int] | None:
    """Shortest successor path [start, ..., goal] with at most max_bridge_lanes lanes between; None if none."""
    if start == goal:
        return [start]
    frontier, parent = [start], {start: start}
    for _ in range(max_bridge_lanes + 1):
        next_frontier = []
        for lane in frontier:
            for nxt in lanes.successors(lane):
                nxt = int(nxt)
                if nxt in parent:
                    continue
                parent[nxt] = lane
                if nxt == goal:
                    path = [goal]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return path[::-1]
                next_frontier.append(nxt)
        frontier = next_frontier
    return None


def _polyline_between(line: np.ndarray, s_start_m: float, s_end_m: float) -> np.ndarray:
    """The part of a polyline (P, 2) between two arclengths, end points interpolated."""
    s = polyline_arclength(line)
    s_end_m = max(s_end_m, s_start_m)
    ends, _ = interpolate_polyline(line, np.array([s_start_m, s_end_m]))
    inner = line[(s > s_start_m) & (s < s_end_m)]
    return np.concatenate([ends[:1], inner, ends[1:]])


def _drop_repeated_points(xy: np.ndarray, tolerance_m: float = 1e-3) -> np.ndarray:
    """Polyline (P, 2) without points repeating their predecessor (lane ends meet at shared nodes)."""
    if len(xy) < 2:
        return np.asarray(xy, dtype=np.float64)
    keep = np.concatenate([[True], np.linalg.norm(np.diff(xy, axis=0), axis=1) > tolerance_m])
    return xy[keep]

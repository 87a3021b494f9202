"""Maps for the procedural street: a region around a path, a map clipped to it, and a synthetic
crossroads for benchmarks."""

from __future__ import annotations

import numpy as np
import shapely
import shapely.affinity
from shapely.geometry import LineString, Point, Polygon
from shapely.geometry import box as shapely_box

from sim.types.roadmap import LaneGraph, RoadMap


def region_around(xy_m: np.ndarray, radius_m: float) -> Polygon:
    """The region within radius_m of a path (P, 2), e.g. the ego's logged positions."""
    xy = np.asarray(xy_m, np.float64)
    geometry = Point(*xy[0]) if len(xy) == 1 else LineString(xy)
    return geometry.buffer(radius_m)


def clip_map(road_map: RoadMap, region: Polygon) -> RoadMap:
    """The map restricted to a region: drivable area, walkways and crossings clipped; lanes kept
    when any centerline point lies inside (their geometry is left whole)."""
    inside = shapely.contains_xy(region, road_map.lanes.centerline_xy[:, 0], road_map.lanes.centerline_xy[:, 1])
    lanes = road_map.lanes
    keep = np.array([inside[lanes.offsets[i]:lanes.offsets[i + 1]].any() for i in range(lanes.num_lanes)], bool)
    new_index = np.cumsum(keep) - 1
    lines, successors = [], []
    for i in np.flatnonzero(keep):
        lines.append((str(lanes.tokens[i]), lanes.centerline(i), float(lanes.width_m[i]), bool(lanes.is_connector[i])))
        successors.append([int(new_index[j]) for j in lanes.successors(i) if keep[j]])
    clip = lambda polys: tuple(p.intersection(region) for p in polys if p.intersects(region))  # noqa: E731
    return RoadMap(road_map.name, road_map.drivable_area.intersection(region),
                   lane_graph(lines, successors), clip(road_map.ped_crossings), clip(road_map.walkways))


def lane_graph(lines: list[tuple[str, np.ndarray, float, bool]], successors: list[list[int]]) -> LaneGraph:
    if not lines:
        return LaneGraph(np.zeros(0, dtype=object), np.zeros((0, 2)), np.zeros(1, np.int64), np.zeros(0),
                         np.zeros(0, bool), np.zeros(1, np.int64), np.zeros(0, np.int64))
    offsets = np.concatenate([[0], np.cumsum([len(line) for _, line, _, _ in lines])]).astype(np.int64)
    succ_offsets = np.concatenate([[0], np.cumsum([len(s) for s in successors])]).astype(np.int64)
    return LaneGraph(
        tokens=np.array([t for t, _, _, _ in lines], dtype=object),
        centerline_xy=np.concatenate([line for _, line, _, _ in lines]).astype(np.float64),
        offsets=offsets,
        width_m=np.array([w for _, _, w, _ in lines], np.float64),
        is_connector=np.array([c for _, _, _, c in lines], bool),
        successor_offsets=succ_offsets,
        successor_indices=np.array([j for s in successors for j in s], np.int64),
    )


def synthetic_road_map(length_m: float = 300.0, main_lanes_per_direction: int = 2,
                       cross_lanes_per_direction: int = 1, lane_width_m: float = 3.5,
                       origin_xy_m: tuple[float, float] = (0.0, 0.0)) -> RoadMap:
    """A straight east-west road crossed by a north-south road at a signalised crossroads.

    Right-hand traffic; the crossroads is centred at origin_xy_m; both roads run length_m.
    Lanes stop 4 m before the intersection box (the crossings lie between); connectors go
    straight through, and turn right from the rightmost and left from the leftmost lane.
    """
    ox, oy = origin_xy_m
    half = length_m / 2
    wm = main_lanes_per_direction * lane_width_m  # half width of the main road
    wc = cross_lanes_per_direction * lane_width_m
    box_x, box_y = wc + 2.0, wm + 2.0  # intersection half sizes
    stop_x, stop_y = box_x + 4.0, box_y + 4.0
    lines: list[tuple[str, np.ndarray, float, bool]] = []
    approach: dict[tuple[str, int], int] = {}
    departure: dict[tuple[str, int], int] = {}

    def straight(a, b, n=20):
        return np.linspace(a, b, n)

    # direction: (unit vector of travel, lane offset axis (to the right of travel), count, stop)
    directions = {
        "east": (np.array([1.0, 0.0]), np.array([0.0, -1.0]), main_lanes_per_direction, stop_x),
        "west": (np.array([-1.0, 0.0]), np.array([0.0, 1.0]), main_lanes_per_direction, stop_x),
        "north": (np.array([0.0, 1.0]), np.array([1.0, 0.0]), cross_lanes_per_direction, stop_y),
        "south": (np.array([0.0, -1.0]), np.array([-1.0, 0.0]), cross_lanes_per_direction, stop_y),
    }
    for name, (fwd, right, count, stop) in directions.items():
        for k in range(count):
            off = right * (k + 0.5) * lane_width_m  # k = 0: the leftmost lane, next to the centre line
            approach[(name, k)] = len(lines)
            lines.append((f"{name}_in_{k}", straight(-fwd * half + off, -fwd * stop + off), lane_width_m, False))
            departure[(name, k)] = len(lines)
            lines.append((f"{name}_out_{k}", straight(fwd * stop + off, fwd * half + off), lane_width_m, False))
    successors: list[list[int]] = [[] for _ in lines]
    turns = {"east": ("south", "north"), "west": ("north", "south"), "north": ("east", "west"),
             "south": ("west", "east")}
    for name, (fwd, right, count, stop) in directions.items():
        right_to, left_to = turns[name]
        moves = [(k, name, k) for k in range(count)]
        moves.append((count - 1, right_to, directions[right_to][2] - 1))
        moves.append((0, left_to, 0))
        for k_in, to, k_out in moves:
            a = lines[approach[(name, k_in)]][1][-1]
            b = lines[departure[(to, k_out)]][1][0]
            if to == name:
                curve = straight(a, b)
            else:
                corner = a + fwd * abs(np.dot(b - a, fwd))
                t = np.linspace(0, 1, 20)[:, None]
                curve = (1 - t) ** 2 * a + 2 * (1 - t) * t * corner + t ** 2 * b
            idx = len(lines)
            lines.append((f"{name}_{k_in}_to_{to}_{k_out}", curve, lane_width_m, True))
            successors.append([departure[(to, k_out)]])
            successors[approach[(name, k_in)]].append(idx)
    lines = [(t, line + np.array([ox, oy]), w, c) for t, line, w, c in lines]
    road = shapely_box(-half, -wm, half, wm).union(shapely_box(-wc, -half, wc, half))
    road = road.buffer(4.0, join_style="round").buffer(-4.0, join_style="round")  # rounds the inner kerb corners
    road = shapely.affinity.translate(road.intersection(shapely_box(-half, -half, half, half)), ox, oy)
    crossings = []
    for sx in (-1, 1):
        crossings.append(shapely_box(sx * (box_x + 0.5), -wm, sx * (box_x + 3.5), wm))
    for sy in (-1, 1):
        crossings.append(shapely_box(-wc, sy * (box_y + 0.5), wc, sy * (box_y + 3.5)))
    crossings = tuple(shapely.affinity.translate(c.normalize(), ox, oy) for c in crossings)
    return RoadMap(name="synthetic-crossroads", drivable_area=road, lanes=lane_graph(lines, successors),
                   ped_crossings=crossings, walkways=())

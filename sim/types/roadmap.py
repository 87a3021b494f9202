"""The road map a scenario drives on: drivable area, lanes with connectivity, crossings.

Geometry is kept twice on purpose: as shapely objects (exact polygon queries, export) and as
flat arrays (vectorised nearest-lane and drivable queries in the engine's hot loop).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon

from sim.geometry import polyline_arclength


@dataclass(frozen=True, eq=False)
class LaneGraph:
    """Lanes and lane connectors with their centerlines and connectivity.

    L lanes, P centerline points in all, S successor links in all.
    - tokens: (L,) str, the map's lane / lane_connector tokens.
    - centerline_xy: (P, 2) float64, global frame, metres, in driving direction. Lane i owns
      rows offsets[i]:offsets[i+1] (at least 2 points each).
    - offsets: (L+1,) int64.
    - width_m: (L,) float64, nominal lane width.
    - is_connector: (L,) bool, True for lane connectors (inside intersections).
    - successor_offsets: (L+1,) int64 and successor_indices: (S,) int64: CSR lists of the lanes
      that lane i flows into.
    """

    tokens: np.ndarray
    centerline_xy: np.ndarray
    offsets: np.ndarray
    width_m: np.ndarray
    is_connector: np.ndarray
    successor_offsets: np.ndarray
    successor_indices: np.ndarray

    @property
    def num_lanes(self) -> int:
        return len(self.tokens)

    def centerline(self, lane: int) -> np.ndarray:
        """Centerline (Pi, 2) of one lane."""
        return self.centerline_xy[self.offsets[lane]:self.offsets[lane + 1]]

    def successors(self, lane: int) -> np.ndarray:
        """Indices of the lanes that lane `lane` flows into."""
        return self.successor_indices[self.successor_offsets[lane]:self.successor_offsets[lane + 1]]

    @cached_property
    def predecessor_lists(self) -> tuple[np.ndarray, ...]:
        """For each lane, the indices of lanes flowing into it."""
        preds: list[list[int]] = [[] for _ in range(self.num_lanes)]
        for lane in range(self.num_lanes):
            for nxt in self.successors(lane):
                preds[int(nxt)].append(lane)
        return tuple(np.asarray(p, dtype=np.int64) for p in preds)

    @cached_property
    def lane_length_m(self) -> np.ndarray:
        """(L,) centerline length of each lane."""
        return np.array([polyline_arclength(self.centerline(i))[-1] for i in range(self.num_lanes)])

    @cached_property
    def segments(self) -> "LaneSegments":
        """All centerline segments as flat arrays for vectorised nearest-lane queries."""
        starts, ends, lane_of, s0 = [], [], [], []
        for i in range(self.num_lanes):
            line = self.centerline(i)
            s = polyline_arclength(line)
            starts.append(line[:-1])
            ends.append(line[1:])
            lane_of.append(np.full(len(line) - 1, i, dtype=np.int64))
            s0.append(s[:-1])
        if not starts:
            empty = np.zeros((0, 2))
            return LaneSegments(empty, empty, np.zeros(0, np.int64), np.zeros(0))
        return LaneSegments(np.concatenate(starts), np.concatenate(ends), np.concatenate(lane_of), np.concatenate(s0))


@dataclass(frozen=True, eq=False)
class LaneSegments:
    """Flat centerline segments. K segments.

    start_xy, end_xy: (K, 2) global metres; lane: (K,) int64 owning lane; start_s_m: (K,)
    arclength along the owning lane at the segment's start.
    """

    start_xy: np.ndarray
    end_xy: np.ndarray
    lane: np.ndarray
    start_s_m: np.ndarray

    @cached_property
    def heading_rad(self) -> np.ndarray:
        d = self.end_xy - self.start_xy
        return np.arctan2(d[:, 1], d[:, 0])

    @cached_property
    def length_m(self) -> np.ndarray:
        return np.linalg.norm(self.end_xy - self.start_xy, axis=1)


@dataclass(frozen=True)
class LaneMatch:
    """Nearest lane of M query points.

    lane: (M,) int64 (-1 when no lane is within reach); s_m: (M,) arclength on that lane;
    lateral_m: (M,) signed offset from the centerline, positive to the left; heading_rad: (M,)
    heading of the lane at the foot point; distance_m: (M,) unsigned distance.
    """

    lane: np.ndarray
    s_m: np.ndarray
    lateral_m: np.ndarray
    heading_rad: np.ndarray
    distance_m: np.ndarray


@dataclass(frozen=True, eq=False)
class RoadMap:
    """A scenario's map in the global frame.

    - name: the dataset's map name (e.g. "boston-seaport").
    - drivable_area: shapely (Multi)Polygon of the drivable surface.
    - lanes: LaneGraph of lanes and lane connectors.
    - ped_crossings: tuple of shapely Polygons.
    - walkways: tuple of shapely Polygons (may be empty).
    """

    name: str
    drivable_area: MultiPolygon | Polygon
    lanes: LaneGraph
    ped_crossings: tuple[Polygon, ...] = field(default=())
    walkways: tuple[Polygon, ...] = field(default=())

    def is_drivable(self, xy: np.ndarray) -> np.ndarray:
        """(...,) bool: whether points (..., 2) in global lie on the drivable area (edge included)."""
        xy = np.asarray(xy, dtype=np.float64)
        shapely.prepare(self.drivable_area)  # idempotent; makes repeated point queries fast
        return shapely.intersects_xy(self.drivable_area, xy[..., 0], xy[..., 1])

    def nearest_lane(self, xy: np.ndarray, heading_rad: np.ndarray | None = None,
                     max_distance_m: float = 10.0, heading_weight_m_per_rad: float = 4.0) -> LaneMatch:
        """Nearest lane of points (M, 2); with headings (M,), lanes pointing the other way cost more.

        The cost is distance + heading_weight * |heading difference|, so that at an intersection a
        car is matched to the lane it drives along, not to a crossing one.
        """
        pts = np.atleast_2d(np.asarray(xy, dtype=np.float64))
        seg = self.lanes.segments
        m = len(pts)
        if len(seg.lane) == 0:
            nan = np.zeros(m)
            return LaneMatch(np.full(m, -1, np.int64), nan, nan, nan, np.full(m, np.inf))
        d = seg.end_xy - seg.start_xy
        len_sq = np.maximum(np.einsum("kd,kd->k", d, d), 1e-12)
        rel = pts[:, None, :] - seg.start_xy[None]
        t = np.clip(np.einsum("mkd,kd->mk", rel, d) / len_sq, 0.0, 1.0)
        foot = seg.start_xy[None] + t[..., None] * d[None]
        dist = np.linalg.norm(pts[:, None, :] - foot, axis=-1)
        cost = dist
        if heading_rad is not None:
            dh = np.abs((np.asarray(heading_rad)[:, None] - seg.heading_rad[None] + np.pi) % (2 * np.pi) - np.pi)
            cost = dist + heading_weight_m_per_rad * dh
        best = np.argmin(cost, axis=1)
        rows = np.arange(m)
        best_dist = dist[rows, best]
        cross = d[best, 0] * rel[rows, best, 1] - d[best, 1] * rel[rows, best, 0]
        lane = np.where(best_dist <= max_distance_m, seg.lane[best], -1)
        return LaneMatch(
            lane=lane.astype(np.int64),
            s_m=seg.start_s_m[best] + t[rows, best] * np.sqrt(len_sq[best]),
            lateral_m=np.sign(cross) * best_dist,
            heading_rad=seg.heading_rad[best],
            distance_m=best_dist,
        )

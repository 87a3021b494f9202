"""The demo town's static world: lanes built from exact straight and circular pieces, lane
connectors through a signal-free intersection, the drivable surface, sidewalks, pedestrian
crossings and stop lines. Everything here is fixed; the seed only changes the traffic.

Global frame: x east, y north, metres; right-hand traffic. Layout (not to scale):

                        ╭──────────────── top road, 1+1 lanes, y = 270, to x = 315
                        │  curve: radius 80 m about (240, 190), 90 degrees
        north arm,      │
        1+1 lanes,      │ x = 160
        y = 132..190    │
   ─────────────────────┼───────────────── avenue, 2+2 lanes, y = 120, x = 25..315
                        │  intersection box x 148..172, y 108..132 (no signals)
        south arm,      │
        1+1 lanes,      │
        y = 25..108     │

Pedestrian crossings (4 m wide) sit 2 m outside the box on all four arms; 3 m sidewalks run along
every road edge. Lanes are 3.5 m wide.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import shapely
from shapely.geometry import LineString, MultiLineString, Point, Polygon, box
from shapely.ops import linemerge, unary_union

from sim.geometry import wrap_angle

LANE_WIDTH_M = 3.5
SIDEWALK_WIDTH_M = 3.0
INTERSECTION_CENTER_XY = (160.0, 120.0)
INTERSECTION_HALF_SIZE_M = 12.0  # the box spans centre +- this in x and y
AVENUE_LANES_PER_DIRECTION = 2
CROSSING_GAP_M = 2.0  # from the intersection box to the near edge of a crossing
CROSSING_WIDTH_M = 4.0
STOP_BEFORE_CROSSING_M = 1.0  # vehicle fronts stop this far before a crossing
TOWN_MIN_XY = 25.0  # roads end here on the west and south sides
TOWN_MAX_X = 315.0  # and here on the east side
CURVE_CENTER_XY = (240.0, 190.0)
CURVE_RADIUS_M = 80.0
MAP_MARGIN_M = 25.0  # canvas beyond the town's extent

AVENUE_SPEED_LIMIT_MPS = 13.9  # 50 km/h
STREET_SPEED_LIMIT_MPS = 11.1  # 40 km/h
CURVE_SPEED_LIMIT_MPS = 12.5  # 45 km/h
# Connectors carry the speed limit of the road they join; turning speed follows from curvature.
CONNECTOR_SPEED_LIMIT_MPS = 11.1

GEOMETRY_GRID_M = 1e-3  # map coordinates are snapped to millimetres


@dataclass(frozen=True)
class Piece:
    """One constant-curvature piece of a centreline.

    - length_m: arclength.
    - curvature_1pm: signed curvature, 0 for straight, > 0 turning left (= 1 / radius).
    """

    length_m: float
    curvature_1pm: float = 0.0


def _advance(pose: tuple[float, float, float], curvature_1pm: float, ds_m: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Poses (x, y, yaw) after driving ds_m (M,) along a constant-curvature piece from pose."""
    x, y, yaw = pose
    ds = np.asarray(ds_m, dtype=np.float64)
    if curvature_1pm == 0.0:
        return x + ds * math.cos(yaw), y + ds * math.sin(yaw), np.full_like(ds, yaw)
    yaw_end = yaw + curvature_1pm * ds
    return (x + (np.sin(yaw_end) - math.sin(yaw)) / curvature_1pm,
            y - (np.cos(yaw_end) - math.cos(yaw)) / curvature_1pm,
            yaw_end)


@dataclass(frozen=True)
class Lane:
    """A lane or lane connector: a start pose and constant-curvature pieces.

    - name: unique, readable ("avenue_w_eb_outer", "connector:south_nb->avenue_e_eb_outer").
    - road: the road segment it belongs to; block: its road block (lanes of one direction of one
      road segment; "" for connectors).
    - start_pose: (x_m, y_m, yaw_rad) in global.
    - speed_limit_mps: the posted limit.
    """

    name: str
    road: str
    block: str
    start_pose: tuple[float, float, float]
    pieces: tuple[Piece, ...]
    speed_limit_mps: float
    is_connector: bool = False
    width_m: float = LANE_WIDTH_M

    @cached_property
    def piece_start_s_m(self) -> np.ndarray:
        """(len(pieces) + 1,) arclength at which each piece starts, then the total length."""
        return np.concatenate([[0.0], np.cumsum([p.length_m for p in self.pieces])])

    @property
    def length_m(self) -> float:
        return float(self.piece_start_s_m[-1])

    @cached_property
    def piece_start_poses(self) -> tuple[tuple[float, float, float], ...]:
        """The pose where each piece starts, then the end pose."""
        poses = [self.start_pose]
        for piece in self.pieces:
            x, y, yaw = _advance(poses[-1], piece.curvature_1pm, np.array([piece.length_m]))
            poses.append((float(x[0]), float(y[0]), float(wrap_angle(yaw[0]))))
        return tuple(poses)

    @property
    def end_pose(self) -> tuple[float, float, float]:
        return self.piece_start_poses[-1]

    def _piece_of(self, s_m: np.ndarray) -> np.ndarray:
        return np.clip(np.searchsorted(self.piece_start_s_m, s_m, side="right") - 1, 0, len(self.pieces) - 1)

    def pose_at(self, s_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Centreline points (M, 2) and headings (M,) at arclengths s_m (M,), clamped to the lane."""
        s = np.clip(np.asarray(s_m, dtype=np.float64), 0.0, self.length_m)
        piece = self._piece_of(s)
        xy = np.empty((len(s), 2))
        yaw = np.empty(len(s))
        for i, p in enumerate(self.pieces):
            sel = piece == i
            x, y, h = _advance(self.piece_start_poses[i], p.curvature_1pm, s[sel] - self.piece_start_s_m[i])
            xy[sel, 0], xy[sel, 1], yaw[sel] = x, y, h
        return xy, wrap_angle(yaw)

    def curvature_at(self, s_m: np.ndarray) -> np.ndarray:
        """Signed curvature (M,) at arclengths s_m (M,)."""
        curvatures = np.array([p.curvature_1pm for p in self.pieces])
        return curvatures[self._piece_of(np.asarray(s_m, dtype=np.float64))]

    def sample_s(self, max_spacing_m: float) -> np.ndarray:
        """Arclengths for a polyline along the lane: piece ends, and points at most max_spacing_m
        apart on arcs (a straight piece needs only its ends)."""
        parts = [np.zeros(1)]
        for i, p in enumerate(self.pieces):
            n = 1 if p.curvature_1pm == 0.0 else max(int(math.ceil(p.length_m / max_spacing_m)), 1)
            parts.append(self.piece_start_s_m[i] + np.linspace(0.0, p.length_m, n + 1)[1:])
        return np.concatenate(parts)

    def polygon(self, max_spacing_m: float = 1.0) -> Polygon:
        """The lane's area: the left boundary, then the right boundary reversed."""
        xy, yaw = self.pose_at(self.sample_s(max_spacing_m))
        normal = np.stack([-np.sin(yaw), np.cos(yaw)], axis=-1) * (0.5 * self.width_m)
        return Polygon(np.concatenate([xy + normal, (xy - normal)[::-1]]))

    def end_caps(self) -> tuple[np.ndarray, np.ndarray]:
        """(2, 2) start cap and end cap, each [left point, right point], global metres."""
        xy, yaw = self.pose_at(np.array([0.0, self.length_m]))
        normal = np.stack([-np.sin(yaw), np.cos(yaw)], axis=-1) * (0.5 * self.width_m)
        return np.stack([xy[0] + normal[0], xy[0] - normal[0]]), np.stack([xy[1] + normal[1], xy[1] - normal[1]])


@dataclass(frozen=True)
class RoadSegment:
    """A stretch of road (both directions), or the intersection box."""

    name: str
    polygon: Polygon
    is_intersection: bool


@dataclass(frozen=True)
class Crossing:
    """A pedestrian crossing (zebra) across one arm of the intersection.

    - kerb_xy: (2, 2) the two ends of its middle line, each on a sidewalk centreline.
    - sidewalk: (2,) index into DemoTown.sidewalk_paths of the path each end lies on.
    - sidewalk_s_m: (2,) arclength of each end along that path.
    """

    name: str
    road: str
    polygon: Polygon
    kerb_xy: np.ndarray
    sidewalk: tuple[int, int]
    sidewalk_s_m: tuple[float, float]


@dataclass(frozen=True)
class StopLine:
    """Where vehicles approaching the intersection stop, just before a crossing."""

    name: str
    block: str
    polygon: Polygon
    crossing: int


@dataclass(frozen=True, eq=False)
class DemoTown:
    """The whole static town.

    - lanes: lanes first, then connectors; successors / predecessors: per lane, lane indices.
    - road_segments, drivable_area, walkways (sidewalk polygons), crossings, stop_lines.
    - sidewalk_paths: LineStrings along the middle of the sidewalks; pedestrians walk on them.
    - extent_xy: (x_min, y_min, x_max, y_max) of everything; canvas_edge_m: (width, height) of the
      map canvas, which starts at (0, 0).
    """

    lanes: tuple[Lane, ...]
    successors: tuple[tuple[int, ...], ...]
    predecessors: tuple[tuple[int, ...], ...]
    road_segments: tuple[RoadSegment, ...]
    drivable_area: Polygon
    walkways: tuple[Polygon, ...]
    sidewalk_paths: tuple[LineString, ...]
    crossings: tuple[Crossing, ...]
    stop_lines: tuple[StopLine, ...]
    extent_xy: tuple[float, float, float, float]
    canvas_edge_m: tuple[float, float]

    @cached_property
    def lane_index(self) -> dict[str, int]:
        return {lane.name: i for i, lane in enumerate(self.lanes)}

    def turn_of(self, connector: int) -> str:
        """'straight', 'left' or 'right' for a connector index."""
        lane = self.lanes[connector]
        dyaw = float(wrap_angle(lane.end_pose[2] - lane.start_pose[2]))
        return "straight" if abs(dyaw) < 0.1 else ("left" if dyaw > 0 else "right")


def _straight(name: str, road: str, block: str, x: float, y: float, yaw: float, length_m: float,
              speed_limit_mps: float) -> Lane:
    return Lane(name, road, block, (x, y, yaw), (Piece(length_m),), speed_limit_mps)


def _connector(incoming: Lane, outgoing: Lane) -> Lane:
    """The connector from the end of `incoming` to the start of `outgoing`: straight, or a quarter
    turn made of an optional straight, a circular arc and an optional straight (the arc takes the
    largest radius that fits, as a real turn lane would)."""
    x0, y0, yaw0 = incoming.end_pose
    x1, y1, yaw1 = outgoing.start_pose
    c, s = math.cos(yaw0), math.sin(yaw0)
    forward_m = c * (x1 - x0) + s * (y1 - y0)
    left_m = -s * (x1 - x0) + c * (y1 - y0)
    dyaw = float(wrap_angle(yaw1 - yaw0))
    if abs(dyaw) < 1e-9:
        assert abs(left_m) < 1e-6, f"straight connector {incoming.name}->{outgoing.name} is not aligned"
        pieces: tuple[Piece, ...] = (Piece(forward_m),)
    else:
        assert abs(abs(dyaw) - math.pi / 2) < 1e-9 and dyaw * left_m > 0, "only quarter turns are built"
        radius = min(forward_m, abs(left_m))
        before, after = forward_m - radius, abs(left_m) - radius
        arc = Piece(radius * math.pi / 2, math.copysign(1.0 / radius, dyaw))
        pieces = tuple(p for p in (Piece(before), arc, Piece(after)) if p.length_m > 1e-9)
    return Lane(f"connector:{incoming.name}->{outgoing.name}", "intersection", "", incoming.end_pose, pieces,
                CONNECTOR_SPEED_LIMIT_MPS, is_connector=True)


def _lanes() -> tuple[Lane, ...]:
    cx, cy = INTERSECTION_CENTER_XY
    half = INTERSECTION_HALF_SIZE_M
    w = LANE_WIDTH_M
    east, north, west, south = 0.0, math.pi / 2, math.pi, -math.pi / 2
    box_w, box_e, box_s, box_n = cx - half, cx + half, cy - half, cy + half
    lanes: list[Lane] = []
    for k, which in enumerate(("inner", "outer")):  # inner = next to the centre line
        offset = (k + 0.5) * w
        lanes += [
            _straight(f"avenue_w_eb_{which}", "avenue_w", "avenue_w_eb", TOWN_MIN_XY, cy - offset, east,
                      box_w - TOWN_MIN_XY, AVENUE_SPEED_LIMIT_MPS),
            _straight(f"avenue_e_eb_{which}", "avenue_e", "avenue_e_eb", box_e, cy - offset, east,
                      TOWN_MAX_X - box_e, AVENUE_SPEED_LIMIT_MPS),
            _straight(f"avenue_e_wb_{which}", "avenue_e", "avenue_e_wb", TOWN_MAX_X, cy + offset, west,
                      TOWN_MAX_X - box_e, AVENUE_SPEED_LIMIT_MPS),
            _straight(f"avenue_w_wb_{which}", "avenue_w", "avenue_w_wb", box_w, cy + offset, west,
                      box_w - TOWN_MIN_XY, AVENUE_SPEED_LIMIT_MPS),
        ]
    ccx, ccy = CURVE_CENTER_XY
    r_nb, r_sb = CURVE_RADIUS_M - 0.5 * w, CURVE_RADIUS_M + 0.5 * w
    top_y = ccy + CURVE_RADIUS_M
    lanes += [
        _straight("south_nb", "south", "south_nb", cx + 0.5 * w, TOWN_MIN_XY, north, box_s - TOWN_MIN_XY,
                  STREET_SPEED_LIMIT_MPS),
        _straight("south_sb", "south", "south_sb", cx - 0.5 * w, box_s, south, box_s - TOWN_MIN_XY,
                  STREET_SPEED_LIMIT_MPS),
        _straight("north_nb", "north", "north_nb", cx + 0.5 * w, box_n, north, ccy - box_n, STREET_SPEED_LIMIT_MPS),
        _straight("north_sb", "north", "north_sb", cx - 0.5 * w, ccy, south, ccy - box_n, STREET_SPEED_LIMIT_MPS),
        Lane("curve_nb", "curve", "curve_nb", (cx + 0.5 * w, ccy, north),
             (Piece(r_nb * math.pi / 2, -1.0 / r_nb),), CURVE_SPEED_LIMIT_MPS),
        Lane("curve_sb", "curve", "curve_sb", (ccx, top_y + 0.5 * w, west),
             (Piece(r_sb * math.pi / 2, 1.0 / r_sb),), CURVE_SPEED_LIMIT_MPS),
        _straight("top_eb", "top", "top_eb", ccx, top_y - 0.5 * w, east, TOWN_MAX_X - ccx, CURVE_SPEED_LIMIT_MPS),
        _straight("top_wb", "top", "top_wb", TOWN_MAX_X, top_y + 0.5 * w, west, TOWN_MAX_X - ccx,
                  CURVE_SPEED_LIMIT_MPS),
    ]
    by_name = {lane.name: lane for lane in lanes}
    movements = [  # (incoming, outgoing): right-hand traffic, turns from the matching side lane
        ("avenue_w_eb_outer", "avenue_e_eb_outer"), ("avenue_w_eb_outer", "south_sb"),
        ("avenue_w_eb_inner", "avenue_e_eb_inner"), ("avenue_w_eb_inner", "north_nb"),
        ("avenue_e_wb_outer", "avenue_w_wb_outer"), ("avenue_e_wb_outer", "north_nb"),
        ("avenue_e_wb_inner", "avenue_w_wb_inner"), ("avenue_e_wb_inner", "south_sb"),
        ("south_nb", "north_nb"), ("south_nb", "avenue_w_wb_inner"), ("south_nb", "avenue_e_eb_outer"),
        ("north_sb", "south_sb"), ("north_sb", "avenue_e_eb_inner"), ("north_sb", "avenue_w_wb_outer"),
    ]
    return tuple(lanes) + tuple(_connector(by_name[a], by_name[b]) for a, b in movements)


def _links(lanes: tuple[Lane, ...]) -> tuple[tuple[tuple[int, ...], ...], tuple[tuple[int, ...], ...]]:
    """Successors and predecessors, found where one lane's end pose is another's start pose."""
    succ: list[list[int]] = [[] for _ in lanes]
    pred: list[list[int]] = [[] for _ in lanes]
    for a, la in enumerate(lanes):
        xa, ya, yawa = la.end_pose
        for b, lb in enumerate(lanes):
            xb, yb, yawb = lb.start_pose
            if math.hypot(xa - xb, ya - yb) < 1e-6 and abs(float(wrap_angle(yawa - yawb))) < 1e-6:
                succ[a].append(b)
                pred[b].append(a)
    return tuple(map(tuple, succ)), tuple(map(tuple, pred))


def snap_to_grid(geometry):
    """The geometry with coordinates on the map's millimetre grid (clean unions, short JSON)."""
    return shapely.set_precision(geometry, GEOMETRY_GRID_M)


def _road_segments(lanes: tuple[Lane, ...]) -> tuple[RoadSegment, ...]:
    cx, cy = INTERSECTION_CENTER_XY
    half = INTERSECTION_HALF_SIZE_M
    avenue_half = AVENUE_LANES_PER_DIRECTION * LANE_WIDTH_M
    ccx, ccy = CURVE_CENTER_XY
    # The curve's outline is sampled at the same angles on both edges so that it meets the
    # straight roads exactly at its ends.
    angles = np.linspace(math.pi, math.pi / 2, 91)
    inner, outer = CURVE_RADIUS_M - LANE_WIDTH_M, CURVE_RADIUS_M + LANE_WIDTH_M
    ring = np.concatenate([np.stack([ccx + outer * np.cos(angles), ccy + outer * np.sin(angles)], -1),
                           np.stack([ccx + inner * np.cos(angles), ccy + inner * np.sin(angles)], -1)[::-1]])
    top_y = ccy + CURVE_RADIUS_M
    segments = [
        RoadSegment("avenue_w", box(TOWN_MIN_XY, cy - avenue_half, cx - half, cy + avenue_half), False),
        RoadSegment("avenue_e", box(cx + half, cy - avenue_half, TOWN_MAX_X, cy + avenue_half), False),
        RoadSegment("south", box(cx - LANE_WIDTH_M, TOWN_MIN_XY, cx + LANE_WIDTH_M, cy - half), False),
        RoadSegment("north", box(cx - LANE_WIDTH_M, cy + half, cx + LANE_WIDTH_M, ccy), False),
        RoadSegment("curve", Polygon(ring), False),
        RoadSegment("top", box(ccx, top_y - LANE_WIDTH_M, TOWN_MAX_X, top_y + LANE_WIDTH_M), False),
        RoadSegment("intersection", box(cx - half, cy - half, cx + half, cy + half), True),
    ]
    segments = [RoadSegment(s.name, snap_to_grid(s.polygon), s.is_intersection) for s in segments]
    drivable = unary_union([s.polygon for s in segments])
    for lane in lanes:  # every lane must lie on its road
        assert drivable.buffer(1e-3).contains(LineString(lane.pose_at(lane.sample_s(1.0))[0])), lane.name
    return tuple(segments)


def _crossings_and_paths(drivable: Polygon, extent: Polygon
                         ) -> tuple[tuple[LineString, ...], tuple[Crossing, ...]]:
    """Sidewalk centre paths (the drivable outline pushed out by half a sidewalk, cut at the town's
    edge) and the crossings that join them."""
    outline = drivable.buffer(0.5 * SIDEWALK_WIDTH_M, join_style="mitre").exterior.intersection(extent)
    merged = linemerge(outline) if isinstance(outline, MultiLineString) else outline
    paths = tuple(snap_to_grid(line) for line in getattr(merged, "geoms", [merged]))
    cx, cy = INTERSECTION_CENTER_XY
    near = INTERSECTION_HALF_SIZE_M + CROSSING_GAP_M
    far = near + CROSSING_WIDTH_M
    mid = near + 0.5 * CROSSING_WIDTH_M
    avenue_half = AVENUE_LANES_PER_DIRECTION * LANE_WIDTH_M
    kerb_avenue = avenue_half + 0.5 * SIDEWALK_WIDTH_M
    kerb_street = LANE_WIDTH_M + 0.5 * SIDEWALK_WIDTH_M
    specs = [  # name, road, polygon, kerb points
        ("crossing_west", "avenue_w", box(cx - far, cy - avenue_half, cx - near, cy + avenue_half),
         [(cx - mid, cy - kerb_avenue), (cx - mid, cy + kerb_avenue)]),
        ("crossing_east", "avenue_e", box(cx + near, cy - avenue_half, cx + far, cy + avenue_half),
         [(cx + mid, cy - kerb_avenue), (cx + mid, cy + kerb_avenue)]),
        ("crossing_south", "south", box(cx - LANE_WIDTH_M, cy - far, cx + LANE_WIDTH_M, cy - near),
         [(cx - kerb_street, cy - mid), (cx + kerb_street, cy - mid)]),
        ("crossing_north", "north", box(cx - LANE_WIDTH_M, cy + near, cx + LANE_WIDTH_M, cy + far),
         [(cx - kerb_street, cy + mid), (cx + kerb_street, cy + mid)]),
    ]
    crossings = []
    for name, road, polygon, kerbs in specs:
        ends = []
        for kerb in kerbs:
            distances = [path.distance(Point(kerb)) for path in paths]
            best = int(np.argmin(distances))
            assert distances[best] < 1e-6, f"{name}: kerb {kerb} is not on a sidewalk"
            ends.append((best, float(paths[best].project(Point(kerb)))))
        crossings.append(Crossing(name, road, polygon, np.asarray(kerbs, dtype=np.float64),
                                  (ends[0][0], ends[1][0]), (ends[0][1], ends[1][1])))
    return paths, tuple(crossings)


def _stop_lines(lanes: tuple[Lane, ...], crossings: tuple[Crossing, ...]) -> tuple[StopLine, ...]:
    """One stop line per approach, across its lanes, STOP_BEFORE_CROSSING_M before the crossing."""
    lines = []
    depth_m = 0.3
    for block, crossing_name in (("avenue_w_eb", "crossing_west"), ("avenue_e_wb", "crossing_east"),
                                 ("south_nb", "crossing_south"), ("north_sb", "crossing_north")):
        k = next(i for i, c in enumerate(crossings) if c.name == crossing_name)
        block_lanes = [lane for lane in lanes if lane.block == block]
        s_stop = block_lanes[0].length_m - (CROSSING_GAP_M + CROSSING_WIDTH_M + STOP_BEFORE_CROSSING_M)
        strips = []
        for lane in block_lanes:
            xy, yaw = lane.pose_at(np.array([s_stop - depth_m, s_stop]))
            n = np.stack([-np.sin(yaw), np.cos(yaw)], -1) * (0.5 * lane.width_m)
            strips.append(Polygon([xy[0] + n[0], xy[1] + n[1], xy[1] - n[1], xy[0] - n[0]]))
        lines.append(StopLine(f"stop_{block}", block, snap_to_grid(unary_union(strips)), k))
    return tuple(lines)


def build_town() -> DemoTown:
    """The demo town (always the same)."""
    lanes = _lanes()
    successors, predecessors = _links(lanes)
    segments = _road_segments(lanes)
    drivable = snap_to_grid(unary_union([s.polygon for s in segments]))
    assert isinstance(drivable, Polygon) and not drivable.interiors
    x0, y0, x1, y1 = drivable.bounds
    extent = box(x0, y0, x1, y1 + SIDEWALK_WIDTH_M)  # sidewalks stop where the roads leave the town
    walkways_all = snap_to_grid(drivable.buffer(SIDEWALK_WIDTH_M, join_style="mitre").difference(drivable)
                         .intersection(extent))
    walkways = tuple(sorted((g for g in walkways_all.geoms if isinstance(g, Polygon) and g.area > 0),
                            key=lambda p: (p.centroid.x, p.centroid.y)))
    paths, crossings = _crossings_and_paths(drivable, extent)
    stop_lines = _stop_lines(lanes, crossings)
    ex0, ey0, ex1, ey1 = unary_union([drivable, *walkways]).bounds
    canvas = (math.ceil((ex1 + MAP_MARGIN_M) / 10.0) * 10.0, math.ceil((ey1 + MAP_MARGIN_M) / 10.0) * 10.0)
    return DemoTown(lanes, successors, predecessors, segments, drivable, walkways, paths, crossings,
                    stop_lines, (ex0, ey0, ex1, ey1), canvas)

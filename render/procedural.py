"""A procedural Gaussian street scene from a RoadMap, so that every scenario renders without
captured images; and a small synthetic map (a straight road with a crossroads) for benchmarks.

What is built, in the map's global frame (x east, y north, z up, metres):
- ground: asphalt on the drivable area; raised sidewalks (the map's walkways plus a band
  around the drivable area) with kerbs (a vertical face and a light top edge); grass beyond,
  coarser, out to `ground_margin_m` from the road.
- markings: lane borders (solid white at the road edge, dashed white between lanes of the same
  direction, double solid yellow between opposite directions), stop lines at lane ends that
  enter an intersection, zebra stripes on pedestrian crossings.
- buildings along the streets: facades with windows by floor, a shop-front ground floor, a
  cornice; plain side walls. Back walls and roofs are left out (not visible from the road).
- street furniture: trees and lamp posts along the sidewalks, traffic lights at stop lines.
- the sky is not made of Gaussians: `render.backends.SkyGradient` is composited under the
  splats by the renderer.

Ground heights come from a `GroundHeight` (inverse-distance weighting of sampled heights, e.g.
the ego log's z) or are 0. Everything is seeded and deterministic: the same map, config and
seed give a bit-identical scene. About 200k Gaussians for a 300 m town at density 1.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import shapely
import shapely.affinity
from scipy.spatial import cKDTree
from shapely.geometry import LineString, MultiPolygon, Point, Polygon
from shapely.geometry import box as shapely_box
from shapely.ops import nearest_points

from render import primitives as prim
from render.gaussians import GaussianScene
from sim.geometry import polyline_arclength, resample_polyline, rotation_matrix_from_quaternion
from sim.types.roadmap import LaneGraph, RoadMap

ASPHALT = np.array([0.25, 0.25, 0.26])
SIDEWALK = np.array([0.60, 0.59, 0.56])
KERB = np.array([0.72, 0.72, 0.70])
GRASS = np.array([0.28, 0.42, 0.17])
WHITE = np.array([0.92, 0.92, 0.90])
YELLOW = np.array([0.90, 0.72, 0.10])
FACADES = np.array([
    [0.58, 0.30, 0.22], [0.78, 0.72, 0.60], [0.62, 0.62, 0.60], [0.86, 0.85, 0.80], [0.42, 0.33, 0.27],
    [0.70, 0.55, 0.42], [0.52, 0.56, 0.60], [0.80, 0.78, 0.70],
])
GLASS = np.array([0.16, 0.20, 0.25])


@dataclass(frozen=True)
class StreetSceneConfig:
    """Knobs of the procedural street. Lengths in metres.

    - seed: random stream of every placement and colour.
    - density: multiplies every Gaussian count (all spacings are divided by sqrt(density),
      tree crowns get density times as many Gaussians).
    - road_spacing_m: ground Gaussian spacing on asphalt and sidewalks.
    - grass_spacing_m: ground Gaussian spacing on grass.
    - marking_spacing_m: spacing along lane lines and within zebra stripes.
    - facade_spacing_m: spacing on building fronts (side walls use twice this).
    - ground_margin_m: ground is modelled out to this distance from the drivable area.
    - sidewalk_width_m, kerb_height_m: the band of raised sidewalk around the drivable area.
    - building_setback_m: gap between the sidewalk and building fronts.
    - building_frontage_m, building_depth_m, building_height_m: (min, max) of each building.
    - tree_spacing_m, lamp_spacing_m: spacing of trees and lamp posts along sidewalks (0: none).
    - traffic_lights: put a traffic light at each stop line.
    - scenario_radius_m: a scene built for a scenario covers this distance around the ego's
      logged path (what its cameras can see), not the whole map.
    """

    seed: int = 0
    density: float = 1.0
    road_spacing_m: float = 0.47
    grass_spacing_m: float = 1.3
    marking_spacing_m: float = 0.15
    facade_spacing_m: float = 0.5
    ground_margin_m: float = 45.0
    sidewalk_width_m: float = 3.5
    kerb_height_m: float = 0.12
    building_setback_m: float = 0.5
    building_frontage_m: tuple[float, float] = (10.0, 24.0)
    building_depth_m: tuple[float, float] = (10.0, 16.0)
    building_height_m: tuple[float, float] = (7.0, 22.0)
    tree_spacing_m: float = 13.0
    lamp_spacing_m: float = 30.0
    traffic_lights: bool = True
    scenario_radius_m: float = 150.0

    def spacing(self, base_m: float) -> float:
        return base_m / float(np.sqrt(self.density))


class GroundHeight:
    """Ground height z(xy): inverse-distance weighting of the k nearest height samples (or 0)."""

    def __init__(self, xy_m: np.ndarray | None = None, z_m: np.ndarray | None = None, k: int = 8) -> None:
        self._tree = None
        if xy_m is not None and len(xy_m):
            xy = np.asarray(xy_m, np.float64)
            self._tree = cKDTree(xy)
            self._z = np.asarray(z_m, np.float64)
            self._k = min(k, len(xy))

    def __call__(self, xy_m: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy_m, np.float64)
        if self._tree is None:
            return np.zeros(xy.shape[:-1])
        dist, idx = self._tree.query(xy.reshape(-1, 2), k=self._k)
        if self._k == 1:
            dist, idx = dist[:, None], idx[:, None]
        w = 1.0 / np.maximum(dist, 0.5) ** 2
        return (np.sum(w * self._z[idx], axis=1) / np.sum(w, axis=1)).reshape(xy.shape[:-1])


def _noise(rng: np.random.Generator, xy: np.ndarray, scale_m: float, octaves: int = 3) -> np.ndarray:
    """Smooth deterministic noise in about [-1, 1] at points (n, 2): a sum of random plane waves."""
    out = np.zeros(len(xy))
    for o in range(octaves):
        for _ in range(3):
            angle = rng.uniform(0, 2 * np.pi)
            freq = (2 ** o) / scale_m * 2 * np.pi
            phase = rng.uniform(0, 2 * np.pi)
            out += np.sin(freq * (xy[:, 0] * np.cos(angle) + xy[:, 1] * np.sin(angle)) + phase) / (2 ** o)
    return out / 3.0


def _grid_in(geometry, spacing_m: float, rng: np.random.Generator, exclude=None) -> np.ndarray:
    """Jittered grid points (n, 2) inside a geometry (and outside `exclude`)."""
    if geometry.is_empty:
        return np.zeros((0, 2))
    x0, y0, x1, y1 = geometry.bounds
    xs = np.arange(x0 + spacing_m / 2, x1, spacing_m)
    ys = np.arange(y0 + spacing_m / 2, y1, spacing_m)
    gx, gy = np.meshgrid(xs, ys, indexing="ij")
    pts = np.stack([gx.ravel(), gy.ravel()], axis=1)
    pts = pts + rng.uniform(-0.15, 0.15, pts.shape) * spacing_m
    shapely.prepare(geometry)
    keep = shapely.contains_xy(geometry, pts[:, 0], pts[:, 1])
    if exclude is not None and not exclude.is_empty:
        shapely.prepare(exclude)
        keep &= ~shapely.contains_xy(exclude, pts[:, 0], pts[:, 1])
    return pts[keep]


def _flat_ground(builder: prim.GaussianBuilder, xy: np.ndarray, z: np.ndarray, spacing_m: float, rgb: np.ndarray,
                 edges: _Edges | None = None) -> None:
    """Flat ground discs; those near an edge (a class border or a painted line) are squeezed
    across it, so that they do not bleed over it: a disc nearer the camera is composited
    first wherever its footprint reaches, whatever lies on top of the ground there."""
    means = np.column_stack([xy, z])
    sigma = prim.COVERAGE * spacing_m
    if edges is None or not edges.xy or not len(xy):
        builder.add(means, np.eye(3), (sigma, sigma, 0.02), rgb, 0.99)
        return
    samples, tangents = np.concatenate(edges.xy), np.concatenate(edges.tangent)
    dist, nearest = cKDTree(samples).query(xy, distance_upper_bound=2.5 * sigma)
    near = np.isfinite(dist)
    far = ~near
    builder.add(means[far], np.eye(3), (sigma, sigma, 0.02), np.asarray(rgb)[far] if np.ndim(rgb) == 2 else rgb, 0.99)
    t = tangents[nearest[near]]
    u = np.column_stack([t, np.zeros(len(t))])
    v = np.column_stack([-t[:, 1], t[:, 0], np.zeros(len(t))])
    frames = np.stack([u, v, np.broadcast_to([0.0, 0.0, 1.0], u.shape)], axis=2)
    across = np.clip(0.4 * dist[near], 0.03, sigma)
    scales = np.column_stack([np.full(len(across), sigma), across, np.full(len(across), 0.02)])
    builder.add(means[near], frames, scales, np.asarray(rgb)[near] if np.ndim(rgb) == 2 else rgb, 0.99)


def _rings(geometry) -> list[np.ndarray]:
    """All boundary rings (exterior and holes) of a (Multi)Polygon as (P, 2) arrays."""
    polys = geometry.geoms if isinstance(geometry, MultiPolygon) else [geometry]
    out = []
    for p in polys:
        if p.is_empty:
            continue
        out.append(np.asarray(p.exterior.coords))
        out += [np.asarray(r.coords) for r in p.interiors]
    return out


class _Edges:
    """Points (with unit tangents) on lines where the ground's look changes: class borders and
    painted lines. Ground discs near them are squeezed across them (see `_flat_ground`)."""

    def __init__(self) -> None:
        self.xy: list[np.ndarray] = []
        self.tangent: list[np.ndarray] = []

    def add_polyline(self, line: np.ndarray, spacing_m: float = 0.1) -> None:
        pts = resample_polyline(line, spacing_m)
        if len(pts) >= 2:
            self.add_points(pts, np.gradient(pts, axis=0))

    def add_points(self, xy: np.ndarray, tangent: np.ndarray) -> None:
        self.xy.append(np.asarray(xy, np.float64))
        self.tangent.append(np.asarray(tangent, np.float64) / np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-9))


def _line_gaussians(builder: prim.GaussianBuilder, line_xy: np.ndarray, z_of, spacing_m: float, width_m: float,
                    rgb: np.ndarray, edges: _Edges, lift_m: float = 0.015, on_mask=None) -> None:
    """Flat Gaussians along a polyline, elongated along it (a painted line of width width_m)."""
    pts = resample_polyline(line_xy, spacing_m)
    if len(pts) < 2:
        return
    mid = 0.5 * (pts[1:] + pts[:-1])
    d = np.diff(pts, axis=0)
    seg = np.linalg.norm(d, axis=1)
    ok = seg > 1e-6
    if on_mask is not None:
        s = polyline_arclength(pts)
        ok &= on_mask(0.5 * (s[1:] + s[:-1]))
    mid, d, seg = mid[ok], d[ok], seg[ok]
    if len(mid) == 0:
        return
    t = d / seg[:, None]
    edges.add_points(mid, t)
    u = np.column_stack([t, np.zeros(len(t))])
    v = np.column_stack([-t[:, 1], t[:, 0], np.zeros(len(t))])
    frames = np.stack([u, v, np.broadcast_to([0.0, 0.0, 1.0], u.shape)], axis=2)
    scales = np.column_stack([0.9 * seg, np.full(len(seg), 0.4 * width_m), np.full(len(seg), 0.01)])
    builder.add(np.column_stack([mid, z_of(mid) + lift_m]), frames, scales, rgb, 0.99)


def _offset_polyline(line: np.ndarray, offset_m: float) -> np.ndarray:
    """A polyline moved sideways by offset (positive to the left of travel)."""
    d = np.gradient(line, axis=0)
    n = np.column_stack([-d[:, 1], d[:, 0]])
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-9)
    return line + offset_m * n


def _lane_markings(builder, road_map: RoadMap, drivable, z_of, cfg: StreetSceneConfig, edges: _Edges) -> list[tuple[np.ndarray, float, float]]:
    """Lane lines and stop lines; returns the stop lines' (end point, heading, lane half width)."""
    lanes = road_map.lanes
    spacing = cfg.spacing(cfg.marking_spacing_m)
    # lane centre samples with headings, to tell same-direction from opposite neighbours
    samples, headings = [], []
    for i in range(lanes.num_lanes):
        if lanes.is_connector[i]:
            continue
        line = resample_polyline(lanes.centerline(i), 1.0)
        d = np.gradient(line, axis=0)
        samples.append(line)
        headings.append(np.arctan2(d[:, 1], d[:, 0]))
    if not samples:
        return []
    tree = cKDTree(np.concatenate(samples))
    all_heading = np.concatenate(headings)
    shapely.prepare(drivable)
    stops = []
    for i in range(lanes.num_lanes):
        if lanes.is_connector[i]:
            continue
        center = resample_polyline(lanes.centerline(i), 0.5)
        if len(center) < 2:
            continue
        half = 0.5 * float(lanes.width_m[i])
        d = np.gradient(center, axis=0)
        heading = np.arctan2(d[:, 1], d[:, 0])
        for side in (-1.0, 1.0):  # right border, then left border
            border = _offset_polyline(center, side * half)
            beyond = _offset_polyline(center, side * (half + 1.2))
            outside = ~shapely.contains_xy(drivable, beyond[:, 0], beyond[:, 1])
            _, nearest = tree.query(_offset_polyline(center, side * 2 * half))
            opposite = np.abs((all_heading[nearest] - heading + np.pi) % (2 * np.pi) - np.pi) > np.pi / 2
            s = polyline_arclength(border)
            kind = np.where(outside, 0, np.where(opposite, 2, 1))  # 0 edge, 1 between same, 2 centre
            for value in (0, 1, 2):
                mask = kind == value
                if not mask.any() or (value == 1 and side > 0):
                    continue  # a same-direction border is drawn once, by the lane on its left
                keep = lambda q, mask=mask, s=s: np.interp(q, s, mask.astype(float)) > 0.5  # noqa: E731
                if value == 0:  # the road edge line, painted clear of the kerb
                    inset = _offset_polyline(center, side * (half - 0.3))
                    _line_gaussians(builder, inset, z_of, spacing, 0.15, WHITE, edges, on_mask=keep)
                elif value == 1:
                    dashed = lambda q, keep=keep: keep(q) & ((q % 9.0) < 3.0)  # noqa: E731
                    _line_gaussians(builder, border, z_of, spacing, 0.12, WHITE, edges, on_mask=dashed)
                else:
                    inner = _offset_polyline(center, side * (half - 0.1))
                    _line_gaussians(builder, inner, z_of, spacing, 0.1, YELLOW, edges, on_mask=keep)
        if any(lanes.is_connector[j] for j in lanes.successors(i)):
            end, tangent = center[-1], d[-1] / max(np.linalg.norm(d[-1]), 1e-9)
            normal = np.array([-tangent[1], tangent[0]])
            stop = np.stack([end - tangent * 0.3 + normal * half * 0.95, end - tangent * 0.3 - normal * half * 0.95])
            _line_gaussians(builder, stop, z_of, spacing, 0.1, WHITE, edges)
            _line_gaussians(builder, stop - tangent * 0.2, z_of, spacing, 0.1, WHITE, edges)
            stops.append((end, float(np.arctan2(tangent[1], tangent[0])), half))
    return stops


def _crossings(builder, road_map: RoadMap, z_of, cfg: StreetSceneConfig, edges: _Edges) -> list[Polygon]:
    """Zebra stripes on the crossings (parallel to the traffic); returns the stripes."""
    stripes = []
    spacing = cfg.spacing(cfg.marking_spacing_m) * 1.5
    for crossing in road_map.ped_crossings:
        rect = np.asarray(crossing.minimum_rotated_rectangle.exterior.coords)[:4]
        e1, e2 = rect[1] - rect[0], rect[3] - rect[0]
        if np.linalg.norm(e1) < np.linalg.norm(e2):
            e1, e2 = e2, e1  # e1: the long axis, walked along by pedestrians
        long_len, short_len = np.linalg.norm(e1), np.linalg.norm(e2)
        a, b = e1 / long_len, e2 / short_len
        origin = rect[0]  # both edges start at corner 0
        n_stripes = int(long_len // 1.0)
        for k in range(n_stripes):
            start = origin + a * (k * 1.0 + 0.25)
            xy = _stripe_points(start, a, b, 0.5, short_len, spacing)
            stripes.append(Polygon([start, start + 0.5 * a, start + 0.5 * a + short_len * b, start + short_len * b]))
            edges.add_polyline(np.array([start, start + short_len * b]))
            edges.add_polyline(np.array([start + 0.5 * a, start + 0.5 * a + short_len * b]))
            frames = np.array([[a[0], b[0], 0.0], [a[1], b[1], 0.0], [0.0, 0.0, 1.0]])
            sigma = prim.COVERAGE * spacing
            builder.add(np.column_stack([xy, z_of(xy) + 0.015]), frames, (sigma, sigma, 0.01), WHITE, 0.99)
    return stripes


def _stripe_points(start, a, b, width_m, length_m, spacing_m):
    na = max(int(round(width_m / spacing_m)), 1)
    nb = max(int(round(length_m / spacing_m)), 1)
    ua, ub = np.meshgrid((np.arange(na) + 0.5) * width_m / na, (np.arange(nb) + 0.5) * length_m / nb, indexing="ij")
    return start + ua.reshape(-1, 1) * a + ub.reshape(-1, 1) * b


def _kerbs(builder, drivable, z_of, cfg: StreetSceneConfig) -> None:
    spacing = cfg.spacing(cfg.marking_spacing_m) * 1.5
    h = cfg.kerb_height_m
    shapely.prepare(drivable)
    for ring in _rings(drivable):
        pts = resample_polyline(ring, spacing)
        if len(pts) < 3:
            continue
        mid = 0.5 * (pts[1:] + pts[:-1])
        t = np.diff(pts, axis=0)
        t /= np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-9)
        n = np.column_stack([-t[:, 1], t[:, 0]])
        probe = mid + 0.3 * n
        n = np.where(shapely.contains_xy(drivable, probe[:, 0], probe[:, 1])[:, None], -n, n)  # n: towards the sidewalk
        z = z_of(mid)
        u = np.column_stack([t, np.zeros(len(t))])
        normal3 = np.column_stack([-n, np.zeros(len(n))])
        face = np.stack([u, np.broadcast_to([0.0, 0.0, 1.0], u.shape), normal3], axis=2)
        sigma = prim.COVERAGE * spacing
        builder.add(np.column_stack([mid, z + h / 2]), face, (sigma, 0.45 * h, 0.01), KERB * 0.92, 0.99)
        top = np.stack([u, np.column_stack([n, np.zeros(len(n))]), np.broadcast_to([0.0, 0.0, 1.0], u.shape)], axis=2)
        builder.add(np.column_stack([mid + 0.12 * n, z + h]), top, (sigma, 0.09, 0.01), KERB, 0.99)


def _facade_painter(rng: np.random.Generator, wall: np.ndarray, width_m: float, floors: int, floor_h: float):
    """Colour of a building front at (u along, v up): shop windows, window rows, cornice."""
    window_w = rng.uniform(1.0, 1.6)
    pitch = rng.uniform(2.4, 3.4)
    n_bays = max(int(width_m // pitch), 1)
    margin = 0.5 * (width_m - n_bays * pitch)
    lit = rng.random((n_bays, floors)) < 0.15
    shop = rng.random() < 0.7
    wall_noise = rng.uniform(0.95, 1.05, 3)

    def color(u, v):
        out = np.broadcast_to(wall * wall_noise, (len(u), 3)).copy()
        bay = np.clip(((u - margin) // pitch).astype(int), 0, n_bays - 1)
        in_bay = np.abs((u - margin) - (bay + 0.5) * pitch) < 0.5 * window_w
        floor = np.clip((v // floor_h).astype(int), 0, floors - 1)
        in_floor = ((v % floor_h) > 0.9) & ((v % floor_h) < floor_h - 0.5)
        glass = np.where(lit[bay, floor][:, None], np.array([0.55, 0.52, 0.38]), GLASS)
        upper = in_bay & in_floor & (floor > 0)
        out[upper] = glass[upper]
        if shop:
            ground = (v > 0.3) & (v < floor_h - 0.6) & (np.abs((u - margin) - (bay + 0.5) * pitch) < 0.5 * pitch - 0.3)
            out[ground] = np.array([0.22, 0.28, 0.33])
            awning = (v >= floor_h - 0.6) & (v < floor_h - 0.2)
            out[awning] = wall * 0.45
        else:
            out[in_bay & in_floor & (floor == 0)] = GLASS
        top = v > floors * floor_h - 0.4
        out[top] = wall * 0.7
        return out

    return color


def _buildings(builder, drivable, walkways, z_of, rng, cfg: StreetSceneConfig) -> list[Polygon]:
    """Buildings along the frontage line just beyond the sidewalks; returns their footprints."""
    keep_out = drivable.buffer(cfg.sidewalk_width_m + cfg.building_setback_m, join_style="mitre")
    if walkways:
        keep_out = keep_out.union(shapely.union_all([w.buffer(cfg.building_setback_m) for w in walkways]))
    spacing = cfg.spacing(cfg.facade_spacing_m)
    placed: list[Polygon] = []
    keep_out_inner = keep_out.buffer(-0.2)
    shapely.prepare(keep_out)
    shapely.prepare(keep_out_inner)
    for ring in _rings(keep_out):
        s_ring = polyline_arclength(ring)
        s = rng.uniform(0, 5)
        while s < s_ring[-1] - 5:
            frontage = rng.uniform(*cfg.building_frontage_m)
            p0 = np.array([np.interp(s, s_ring, ring[:, 0]), np.interp(s, s_ring, ring[:, 1])])
            p1 = np.array([np.interp(s + frontage, s_ring, ring[:, 0]), np.interp(s + frontage, s_ring, ring[:, 1])])
            along = p1 - p0
            if np.linalg.norm(along) < 0.8 * frontage:  # a corner: the frontage line turns here
                s += 3.0
                continue
            along /= np.linalg.norm(along)
            away = np.array([-along[1], along[0]])
            if keep_out.contains(Point(*(0.5 * (p0 + p1) + away * 1.0))):  # prepared
                away = -away
            depth = rng.uniform(*cfg.building_depth_m)
            corners = np.array([p0, p0 + along * frontage, p0 + along * frontage + away * depth, p0 + away * depth])
            footprint = Polygon(corners)
            if keep_out_inner.intersects(footprint) or any(footprint.intersects(o) for o in placed):
                s += 2.0
                continue
            placed.append(footprint.buffer(0.3))
            _building(builder, p0, along, away, frontage, depth, z_of, rng, spacing)
            s += frontage + rng.uniform(0.0, 3.0)
    return placed


def _building(builder, p0, along, away, frontage, depth, z_of, rng, spacing) -> None:
    floors = int(rng.integers(2, 7))
    floor_h = rng.uniform(3.0, 3.6)
    height = floors * floor_h
    wall = FACADES[rng.integers(len(FACADES))]
    z0 = float(np.min(z_of(np.array([p0, p0 + along * frontage])))) - 0.2
    a3 = np.array([along[0], along[1], 0.0])
    w3 = np.array([away[0], away[1], 0.0])
    up = np.array([0.0, 0.0, 1.0])
    origin = np.array([p0[0], p0[1], z0])
    # a frame whose right-handed normal points at the street: u along, v up, n = u x v = -away
    if np.dot(np.cross(a3, up), w3) > 0:
        origin, a3 = origin + a3 * frontage, -a3
    prim.rectangle(builder, origin, a3, up, frontage, height, spacing, _facade_painter(rng, wall, frontage, floors, floor_h))
    side_spacing = 2 * spacing
    for end, sign in ((origin, 1.0), (origin + a3 * frontage, -1.0)):
        u_axis = w3 if np.dot(np.cross(w3, up), -sign * a3) > 0 else -w3
        start = end if u_axis @ w3 > 0 else end + w3 * depth
        prim.rectangle(builder, start, u_axis, up, depth, height, side_spacing, wall * 0.85)
    # cornice: a slab proud of the facade at the roof line
    prim.rectangle(builder, origin - w3 * 0.25 + up * (height - 0.05), a3, w3, frontage, 0.3, spacing, wall * 0.6)


def _tree(builder, base: np.ndarray, rng: np.random.Generator, density: float) -> None:
    h = rng.uniform(2.0, 3.0)
    k = 1.0 / np.sqrt(density)  # spacing factor
    prim.cylinder(builder, base, (0, 0, 1), 0.14, h + 0.8, 0.12 * k, (0.30, 0.22, 0.15), along_spacing_m=0.3 * k)
    crown_r = rng.uniform(1.6, 2.4)
    n = max(int(140 * (crown_r / 2.0) ** 2 * density), 12)
    direction = rng.normal(size=(n, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    r = crown_r * rng.uniform(0.55, 1.0, n) ** 0.5
    centre = base + np.array([0, 0, h + crown_r * 0.9])
    means = centre + direction * r[:, None] * np.array([1.0, 1.0, 0.9])
    shade = 0.6 + 0.5 * (direction[:, 2:3] + 1) / 2  # lighter on top
    green = np.array([0.22, 0.38, 0.12]) * rng.uniform(0.8, 1.2) * shade * rng.uniform(0.85, 1.15, (n, 1))
    q = rng.normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    sigma = rng.uniform(0.25, 0.45, (n, 1)) * np.array([1.0, 1.0, 0.5]) * min(k, 3.0)
    builder.add(means, rotation_matrix_from_quaternion(q), sigma, green, 0.9)


def _lamp(builder, base: np.ndarray, toward_road: np.ndarray, density: float) -> None:
    grey = (0.33, 0.34, 0.36)
    k = 1.0 / np.sqrt(density)
    prim.cylinder(builder, base, (0, 0, 1), 0.08, 7.0, 0.1 * k, grey, along_spacing_m=0.3 * k)
    arm_start = base + np.array([0, 0, 6.9])
    arm = np.array([toward_road[0], toward_road[1], 0.12])
    prim.cylinder(builder, arm_start, arm, 0.05, 1.6, 0.1 * k, grey)
    head = arm_start + 1.6 * arm / np.linalg.norm(arm)
    prim.ellipsoid(builder, head, (0.35, 0.18, 0.08), 0.08 * k, lambda up, _a: np.where((up < 0)[:, None], np.array([0.95, 0.93, 0.8]), np.array(grey)))


def _traffic_light(builder, base: np.ndarray, facing_yaw: float, rng: np.random.Generator, density: float) -> None:
    """A pole with a signal head facing oncoming traffic (yaw: the direction the head faces)."""
    spacing_factor = 1.0 / np.sqrt(density)
    prim.cylinder(builder, base, (0, 0, 1), 0.07, 3.2, 0.1 * spacing_factor, (0.2, 0.2, 0.2),
                  along_spacing_m=0.3 * spacing_factor)
    c, s = np.cos(facing_yaw), np.sin(facing_yaw)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
    centre = base + np.array([0, 0, 3.6])
    prim.box(builder, centre, (0.3, 0.35, 0.95), 0.06 * spacing_factor, (0.08, 0.08, 0.08), rotation=rot)
    on = int(rng.integers(3))
    for k, color in enumerate(((0.95, 0.1, 0.05), (0.95, 0.65, 0.05), (0.1, 0.9, 0.3))):
        lit = np.array(color) if k == on else np.array(color) * 0.25
        prim.disc(builder, centre + np.array([c, s, 0]) * 0.16 + np.array([0, 0, 0.3 - 0.3 * k]), (c, s, 0), 0.11, 0.05 * spacing_factor, lit)


def _furniture(builder, drivable, crossings, footprints, stops, z_of, rng, cfg: StreetSceneConfig) -> None:
    blocked = shapely.union_all([c.buffer(3.0) for c in crossings] + [f for f in footprints]) if (crossings or footprints) else Polygon()
    shapely.prepare(blocked)
    shapely.prepare(drivable)
    for spacing, offset, kind in ((cfg.tree_spacing_m, cfg.sidewalk_width_m - 0.9, "tree"),
                                  (cfg.lamp_spacing_m, 0.5, "lamp")):
        if spacing <= 0:
            continue
        line_geom = drivable.buffer(offset, join_style="round")
        for ring in _rings(line_geom):
            s_ring = polyline_arclength(ring)
            for s in np.arange(rng.uniform(0, spacing), s_ring[-1], spacing):
                p = np.array([np.interp(s, s_ring, ring[:, 0]), np.interp(s, s_ring, ring[:, 1])])
                if blocked.contains(Point(*p)) or drivable.distance(Point(*p)) < offset - 0.3:
                    continue
                base = np.array([p[0], p[1], float(z_of(p[None])[0]) + cfg.kerb_height_m])
                if kind == "tree":
                    _tree(builder, base, rng, cfg.density)
                else:
                    nearest = nearest_points(drivable, Point(*p))[0]
                    toward = np.array([nearest.x, nearest.y]) - p
                    _lamp(builder, base, toward / max(np.linalg.norm(toward), 1e-9), cfg.density)
    if cfg.traffic_lights:
        for end, heading, half in stops:
            right = np.array([np.sin(heading), -np.cos(heading)])
            p = end + right * (half + 1.2)
            if drivable.contains(Point(*p)):
                continue
            base = np.array([p[0], p[1], float(z_of(p[None])[0]) + cfg.kerb_height_m])
            _traffic_light(builder, base, heading + np.pi, rng, cfg.density)


def region_around(xy_m: np.ndarray, radius_m: float) -> Polygon:
    """The region within radius_m of a path (P, 2), e.g. the ego's logged positions."""
    xy = np.asarray(xy_m, np.float64)
    geometry = Point(*xy[0]) if len(xy) == 1 else LineString(xy)
    return geometry.buffer(radius_m)


def _clip_map(road_map: RoadMap, region: Polygon) -> RoadMap:
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
                   _lane_graph(lines, successors), clip(road_map.ped_crossings), clip(road_map.walkways))


def build_street_scene(road_map: RoadMap, config: StreetSceneConfig = StreetSceneConfig(),
                       ground_height: GroundHeight | None = None, region: Polygon | None = None) -> GaussianScene:
    """The procedural street of a map (see the module docstring); deterministic per config.seed.

    region: build only what lies in it (the map is clipped to it, widened by the ground
    margin so that its edge creates no kerbs or buildings in view, and Gaussians outside it
    are dropped); None builds the whole map.
    """
    cfg = config
    if region is not None:
        road_map = _clip_map(road_map, region.buffer(cfg.ground_margin_m))
    scene = _build(road_map, cfg, ground_height)
    if region is None:
        return scene
    shapely.prepare(region)
    return scene.subset(shapely.contains_xy(region, scene.means[:, 0], scene.means[:, 1]))


def _build(road_map: RoadMap, cfg: StreetSceneConfig, ground_height: GroundHeight | None) -> GaussianScene:
    z_of = ground_height if ground_height is not None else GroundHeight()
    rng = np.random.default_rng(cfg.seed)
    drivable = road_map.drivable_area
    if drivable.is_empty and road_map.lanes.num_lanes:
        drivable = shapely.union_all([LineString(road_map.lanes.centerline(i)).buffer(0.5 * road_map.lanes.width_m[i])
                                      for i in range(road_map.lanes.num_lanes)])
    walkways = shapely.union_all(list(road_map.walkways)) if road_map.walkways else Polygon()
    road_spacing = cfg.spacing(cfg.road_spacing_m)
    grass_spacing = cfg.spacing(cfg.grass_spacing_m)
    sidewalks = drivable.buffer(cfg.sidewalk_width_m, join_style="round").union(walkways)
    fine_zone = sidewalks.buffer(grass_spacing)
    for geometry in (drivable, sidewalks):  # point queries below run against them by the 100k
        shapely.prepare(geometry)
    builder = prim.GaussianBuilder()
    # markings first: the ground discs beside them are shaped around them
    edges = _Edges()
    for ring in _rings(drivable) + _rings(sidewalks):
        edges.add_polyline(ring)
    marks = prim.GaussianBuilder()
    stops = _lane_markings(marks, road_map, drivable, z_of, cfg, edges)
    stripes = _crossings(marks, road_map, z_of, cfg, edges)
    # ground: asphalt, raised sidewalks and a fine grass fringe, then coarse grass
    pts = _grid_in(fine_zone, road_spacing, rng)
    on_road = shapely.contains_xy(drivable, pts[:, 0], pts[:, 1])
    on_walk = ~on_road & shapely.contains_xy(sidewalks, pts[:, 0], pts[:, 1])
    z = z_of(pts)
    shade = 1.0 + 0.08 * _noise(rng, pts, 20.0)[:, None] + rng.normal(0, 0.025, (len(pts), 1))
    colors = np.where(on_road[:, None], ASPHALT, np.where(on_walk[:, None], SIDEWALK, GRASS)) * shade
    if stripes:
        zebra = shapely.union_all(stripes)
        shapely.prepare(zebra)
        colors[shapely.contains_xy(zebra, pts[:, 0], pts[:, 1])] = WHITE
    _flat_ground(builder, pts, z + np.where(on_road, 0.0, cfg.kerb_height_m), road_spacing, colors, edges)
    ground = drivable.buffer(cfg.ground_margin_m)
    grass = _grid_in(ground, grass_spacing, rng, exclude=fine_zone.buffer(-0.5 * grass_spacing))
    tint = 1.0 + 0.15 * _noise(rng, grass, 12.0)[:, None] + rng.normal(0, 0.06, (len(grass), 1))
    _flat_ground(builder, grass, z_of(grass) + cfg.kerb_height_m, grass_spacing, GRASS * tint)
    _kerbs(builder, drivable, z_of, cfg)
    builder.extend(marks)
    footprints = _buildings(builder, drivable, road_map.walkways, z_of, rng, cfg)
    _furniture(builder, drivable, road_map.ped_crossings, footprints, stops, z_of, rng, cfg)
    return builder.build()


def street_scene_with_count(road_map: RoadMap, target_gaussians: int, config: StreetSceneConfig = StreetSceneConfig(),
                            ground_height: GroundHeight | None = None, region: Polygon | None = None) -> GaussianScene:
    """A street scene whose density is tuned to about target_gaussians (within 3 %, or the
    closest of six builds): secant steps on log(count) against log(density), as furniture and
    kerbs do not scale with the density the way the ground and facades do."""
    cfg = config
    scene = build_street_scene(road_map, cfg, ground_height, region)
    tried = [(np.log(cfg.density), np.log(max(scene.num_gaussians, 1)), scene)]
    for _ in range(5):
        log_d, log_n, _ = tried[-1]
        if abs(log_n - np.log(target_gaussians)) < 0.03:
            break
        slope = 1.0
        if len(tried) > 1 and abs(tried[-1][0] - tried[-2][0]) > 1e-9:
            slope = float(np.clip((tried[-1][1] - tried[-2][1]) / (tried[-1][0] - tried[-2][0]), 0.2, 2.0))
        cfg = replace(cfg, density=float(np.exp(log_d + (np.log(target_gaussians) - log_n) / slope)))
        scene = build_street_scene(road_map, cfg, ground_height, region)
        tried.append((np.log(cfg.density), np.log(max(scene.num_gaussians, 1)), scene))
    return min(tried, key=lambda t: abs(t[1] - np.log(target_gaussians)))[2]


def _lane_graph(lines: list[tuple[str, np.ndarray, float, bool]], successors: list[list[int]]) -> LaneGraph:
    if not lines:
        return LaneGraph(np.zeros(0, dtype=object), np.zeros((0, 2)), np.zeros(1, np.int64), np.zeros(0), np.zeros(0, bool),
                         np.zeros(1, np.int64), np.zeros(0, np.int64))
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
    turns = {"east": ("south", "north"), "west": ("north", "south"), "north": ("east", "west"), "south": ("west", "east")}
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
    return RoadMap(name="synthetic-crossroads", drivable_area=road, lanes=_lane_graph(lines, successors),
                   ped_crossings=crossings, walkways=())

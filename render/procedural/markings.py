"""Painted markings: lane lines, stop lines and zebra crossings."""

from __future__ import annotations

import numpy as np
import shapely
from scipy.spatial import cKDTree
from shapely.geometry import Polygon

from render import primitives as prim
from render.procedural.config import WHITE, YELLOW, StreetSceneConfig
from render.procedural.ground import Edges
from sim.geometry import polyline_arclength, resample_polyline
from sim.types.roadmap import RoadMap


def _line_gaussians(builder: prim.GaussianBuilder, line_xy: np.ndarray, z_of, spacing_m: float, width_m: float,
                    rgb: np.ndarray, edges: Edges, lift_m: float = 0.015, on_mask=None) -> None:
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


def lane_markings(builder, road_map: RoadMap, drivable, z_of, cfg: StreetSceneConfig,
                  edges: Edges) -> list[tuple[np.ndarray, float, float]]:
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


def zebra_crossings(builder, road_map: RoadMap, z_of, cfg: StreetSceneConfig, edges: Edges) -> list[Polygon]:
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

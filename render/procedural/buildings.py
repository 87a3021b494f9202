"""Buildings along the streets: painted facades, side walls and a cornice."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import Point, Polygon

from render import primitives as prim
from render.procedural.config import FACADES, GLASS, StreetSceneConfig
from render.procedural.ground import rings
from sim.geometry import polyline_arclength


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


def buildings(builder, drivable, walkways, z_of, rng, cfg: StreetSceneConfig) -> list[Polygon]:
    """Buildings along the frontage line just beyond the sidewalks; returns their footprints."""
    keep_out = drivable.buffer(cfg.sidewalk_width_m + cfg.building_setback_m, join_style="mitre")
    if walkways:
        keep_out = keep_out.union(shapely.union_all([w.buffer(cfg.building_setback_m) for w in walkways]))
    spacing = cfg.spacing(cfg.facade_spacing_m)
    placed: list[Polygon] = []
    keep_out_inner = keep_out.buffer(-0.2)
    shapely.prepare(keep_out)
    shapely.prepare(keep_out_inner)
    for ring in rings(keep_out):
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
    painter = _facade_painter(rng, wall, frontage, floors, floor_h)
    prim.rectangle(builder, origin, a3, up, frontage, height, spacing, painter)
    side_spacing = 2 * spacing
    for end, sign in ((origin, 1.0), (origin + a3 * frontage, -1.0)):
        u_axis = w3 if np.dot(np.cross(w3, up), -sign * a3) > 0 else -w3
        start = end if u_axis @ w3 > 0 else end + w3 * depth
        prim.rectangle(builder, start, u_axis, up, depth, height, side_spacing, wall * 0.85)
    # cornice: a slab proud of the facade at the roof line
    prim.rectangle(builder, origin - w3 * 0.25 + up * (height - 0.05), a3, w3, frontage, 0.3, spacing, wall * 0.6)

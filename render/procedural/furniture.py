"""Street furniture: trees, lamp posts and traffic lights."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import Point, Polygon
from shapely.ops import nearest_points

from render import primitives as prim
from render.procedural.config import StreetSceneConfig
from render.procedural.ground import rings
from sim.geometry import polyline_arclength, rotation_matrix_from_quaternion


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
    prim.ellipsoid(builder, head, (0.35, 0.18, 0.08), 0.08 * k,
                   lambda up, _a: np.where((up < 0)[:, None], np.array([0.95, 0.93, 0.8]), np.array(grey)))


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
        lamp_centre = centre + np.array([c, s, 0]) * 0.16 + np.array([0, 0, 0.3 - 0.3 * k])
        prim.disc(builder, lamp_centre, (c, s, 0), 0.11, 0.05 * spacing_factor, lit)


def furniture(builder, drivable, crossings, footprints, stops, z_of, rng, cfg: StreetSceneConfig) -> None:
    blocked = (shapely.union_all([c.buffer(3.0) for c in crossings] + [f for f in footprints])
               if (crossings or footprints) else Polygon())
    shapely.prepare(blocked)
    shapely.prepare(drivable)
    for spacing, offset, kind in ((cfg.tree_spacing_m, cfg.sidewalk_width_m - 0.9, "tree"),
                                  (cfg.lamp_spacing_m, 0.5, "lamp")):
        if spacing <= 0:
            continue
        line_geom = drivable.buffer(offset, join_style="round")
        for ring in rings(line_geom):
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

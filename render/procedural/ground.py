"""The ground: its height, jittered grids of flat discs squeezed at edges, and the kerbs."""

from __future__ import annotations

import numpy as np
import shapely
from scipy.spatial import cKDTree
from shapely.geometry import MultiPolygon

from render import primitives as prim
from render.procedural.config import KERB, StreetSceneConfig
from sim.geometry import resample_polyline


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


def noise(rng: np.random.Generator, xy: np.ndarray, scale_m: float, octaves: int = 3) -> np.ndarray:
    """Smooth deterministic noise in about [-1, 1] at points (n, 2): a sum of random plane waves."""
    out = np.zeros(len(xy))
    for o in range(octaves):
        for _ in range(3):
            angle = rng.uniform(0, 2 * np.pi)
            freq = (2 ** o) / scale_m * 2 * np.pi
            phase = rng.uniform(0, 2 * np.pi)
            out += np.sin(freq * (xy[:, 0] * np.cos(angle) + xy[:, 1] * np.sin(angle)) + phase) / (2 ** o)
    return out / 3.0


def grid_in(geometry, spacing_m: float, rng: np.random.Generator, exclude=None) -> np.ndarray:
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


def flat_ground(builder: prim.GaussianBuilder, xy: np.ndarray, z: np.ndarray, spacing_m: float, rgb: np.ndarray,
                 edges: Edges | None = None) -> None:
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


def rings(geometry) -> list[np.ndarray]:
    """All boundary rings (exterior and holes) of a (Multi)Polygon as (P, 2) arrays."""
    polys = geometry.geoms if isinstance(geometry, MultiPolygon) else [geometry]
    out = []
    for p in polys:
        if p.is_empty:
            continue
        out.append(np.asarray(p.exterior.coords))
        out += [np.asarray(r.coords) for r in p.interiors]
    return out


class Edges:
    """Points (with unit tangents) on lines where the ground's look changes: class borders and
    painted lines. Ground discs near them are squeezed across them (see `flat_ground`)."""

    def __init__(self) -> None:
        self.xy: list[np.ndarray] = []
        self.tangent: list[np.ndarray] = []

    def add_polyline(self, line: np.ndarray, spacing_m: float = 0.1) -> None:
        pts = resample_polyline(line, spacing_m)
        if len(pts) >= 2:
            self.add_points(pts, np.gradient(pts, axis=0))

    def add_points(self, xy: np.ndarray, tangent: np.ndarray) -> None:
        self.xy.append(np.asarray(xy, np.float64))
        norm = np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-9)
        self.tangent.append(np.asarray(tangent, np.float64) / norm)


def kerbs(builder, drivable, z_of, cfg: StreetSceneConfig) -> None:
    spacing = cfg.spacing(cfg.marking_spacing_m) * 1.5
    h = cfg.kerb_height_m
    shapely.prepare(drivable)
    for ring in rings(drivable):
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

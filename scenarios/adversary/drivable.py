"""Signed distance to the drivable-area boundary as a cached raster, for differentiable
off-road costs (bilinear lookup with torch.grid_sample).

Tiles of TILE_M x TILE_M metres (plus a margin, so distances near a tile's edge are right up
to MARGIN_M) are rasterised at RES_M with shapely and turned into signed distances with
scipy's exact Euclidean distance transform: positive on the drivable area, negative off it,
clipped to +-MARGIN_M. A query window of up to 2 x TILE_M around a point is assembled from
the 3 x 3 tiles around it; tiles are cached per RoadMap (weakly keyed), so a planner that
re-plans every 0.5 s computes each tile once.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import shapely
from scipy import ndimage

from sim.types.roadmap import RoadMap

RES_M = 0.25
TILE_M = 64.0
MARGIN_M = 8.0

_TILES: weakref.WeakKeyDictionary[RoadMap, dict[tuple[int, int], np.ndarray]] = weakref.WeakKeyDictionary()
_WINDOWS: weakref.WeakKeyDictionary[RoadMap, dict[tuple[int, int], SdfWindow]] = weakref.WeakKeyDictionary()
MAX_WINDOWS_PER_MAP = 16


@dataclass(frozen=True, eq=False)
class SdfWindow:
    """A signed-distance raster: sdf (H, W) float32 metres, cell (r, c) centred at
    (x_min + c * res, y_min + r * res) in global."""

    sdf: np.ndarray
    x_min: float
    y_min: float
    res: float


def _tile(road: RoadMap, i: int, j: int) -> np.ndarray:
    tiles = _TILES.setdefault(road, {})
    if (i, j) in tiles:
        return tiles[(i, j)]
    n = int(round(TILE_M / RES_M))
    pad = int(round(MARGIN_M / RES_M))
    xs = i * TILE_M + RES_M * np.arange(-pad, n + pad)
    ys = j * TILE_M + RES_M * np.arange(-pad, n + pad)
    gx, gy = np.meshgrid(xs, ys)
    shapely.prepare(road.drivable_area)
    inside = shapely.intersects_xy(road.drivable_area, gx, gy)
    d_in = ndimage.distance_transform_edt(inside) * RES_M
    d_out = ndimage.distance_transform_edt(~inside) * RES_M
    sdf = np.where(inside, d_in - 0.5 * RES_M, -(d_out - 0.5 * RES_M))
    sdf = np.clip(sdf, -MARGIN_M, MARGIN_M).astype(np.float32)[pad:pad + n, pad:pad + n]
    tiles[(i, j)] = sdf
    return sdf


def sdf_window(road: RoadMap, center_xy: np.ndarray) -> SdfWindow:
    """The 3 x 3 tiles around center_xy as one raster (covers at least TILE_M around it)."""
    ci, cj = int(np.floor(center_xy[0] / TILE_M)), int(np.floor(center_xy[1] / TILE_M))
    windows = _WINDOWS.setdefault(road, {})
    if (ci, cj) not in windows:
        rows = [np.concatenate([_tile(road, ci + di, cj + dj) for di in (-1, 0, 1)], axis=1) for dj in (-1, 0, 1)]
        if len(windows) >= MAX_WINDOWS_PER_MAP:
            windows.pop(next(iter(windows)))
        windows[(ci, cj)] = SdfWindow(np.concatenate(rows, axis=0), (ci - 1) * TILE_M, (cj - 1) * TILE_M, RES_M)
    return windows[(ci, cj)]


def sample_window(window: SdfWindow, xy: np.ndarray) -> np.ndarray:
    """Bilinear signed distance (...,) at global points (..., 2) (NumPy twin of the torch lookup
    in guidance.py; clamped to the window's border)."""
    h, w = window.sdf.shape
    u = np.clip((np.asarray(xy)[..., 0] - window.x_min) / window.res, 0.0, w - 1.000001)
    v = np.clip((np.asarray(xy)[..., 1] - window.y_min) / window.res, 0.0, h - 1.000001)
    c0, r0 = np.floor(u).astype(np.int64), np.floor(v).astype(np.int64)
    fu, fv = u - c0, v - r0
    g = window.sdf
    return ((1 - fu) * (1 - fv) * g[r0, c0] + fu * (1 - fv) * g[r0, c0 + 1]
            + (1 - fu) * fv * g[r0 + 1, c0] + fu * fv * g[r0 + 1, c0 + 1])


def signed_distance(road: RoadMap, xy: np.ndarray) -> np.ndarray:
    """(...,) exact-ish signed distance (m, + inside) of points (..., 2) via shapely (for checks)."""
    pts = np.asarray(xy, np.float64)
    shapely.prepare(road.drivable_area)
    inside = shapely.intersects_xy(road.drivable_area, pts[..., 0], pts[..., 1])
    boundary = road.drivable_area.boundary
    d = shapely.distance(boundary, shapely.points(pts[..., 0], pts[..., 1]))
    return np.where(inside, d, -d)

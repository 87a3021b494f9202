"""Surfaces made of flat Gaussians, for the procedural street and the actor assets.

Every surface is covered by a grid (or a uniform spiral) of disc-like Gaussians lying in the
surface: standard deviations of `coverage * spacing` along the surface and `thickness_m`
across it, opaque, so neighbours overlap into a closed surface rather than a cloud of blobs.
Colours may vary per Gaussian (a callable of the surface coordinates), which is how windows,
stripes and noise are painted: one layer, so front-to-back sorting never mixes two layers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from render.gaussians import GaussianScene
from sim.geometry import quaternion_from_rotation_matrix

Color = np.ndarray | tuple[float, float, float] | Callable[[np.ndarray, np.ndarray], np.ndarray]
"""An rgb triple, an (n, 3) array, or f(u_m (n,), v_m (n,)) -> (n, 3) of surface coordinates."""

COVERAGE = 0.75  # sigma / spacing: a grid of opaque discs this wide leaves no see-through gaps
OPACITY = 0.99


class GaussianBuilder:
    """Collects activated Gaussians (means, rotations, scales, opacities, rgb) part by part."""

    def __init__(self) -> None:
        self._means: list[np.ndarray] = []
        self._quats: list[np.ndarray] = []
        self._scales: list[np.ndarray] = []
        self._opacities: list[np.ndarray] = []
        self._rgb: list[np.ndarray] = []

    @property
    def count(self) -> int:
        return int(sum(len(m) for m in self._means))

    def add(self, means: np.ndarray, rotations: np.ndarray, scales: np.ndarray, rgb: np.ndarray,
            opacity: float | np.ndarray = OPACITY) -> None:
        """Add n Gaussians. rotations: (3, 3) or (n, 3, 3) with columns = the Gaussian's axes;
        scales: (3,) or (n, 3) standard deviations along those axes; rgb: (3,) or (n, 3)."""
        means = np.asarray(means, np.float64).reshape(-1, 3)
        n = len(means)
        if n == 0:
            return
        rotations = np.asarray(rotations, np.float64)
        if rotations.ndim == 2:
            quats = np.broadcast_to(quaternion_from_rotation_matrix(rotations[None])[0], (n, 4))
        else:
            quats = quaternion_from_rotation_matrix(rotations)
        self._means.append(means)
        self._quats.append(np.asarray(quats, np.float64))
        self._scales.append(np.broadcast_to(np.asarray(scales, np.float64), (n, 3)))
        self._opacities.append(np.broadcast_to(np.asarray(opacity, np.float64), (n,)))
        self._rgb.append(np.clip(np.broadcast_to(np.asarray(rgb, np.float64), (n, 3)), 0.0, 1.0))

    def extend(self, other: "GaussianBuilder") -> None:
        self._means += other._means
        self._quats += other._quats
        self._scales += other._scales
        self._opacities += other._opacities
        self._rgb += other._rgb

    def build(self) -> GaussianScene:
        if not self._means:
            return GaussianScene.empty()
        return GaussianScene.from_activated(np.concatenate(self._means), np.concatenate(self._quats),
                                            np.concatenate(self._scales), np.concatenate(self._opacities),
                                            np.concatenate(self._rgb))


def _paint(color: Color, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    if callable(color):
        return np.asarray(color(u, v), np.float64)
    return np.broadcast_to(np.asarray(color, np.float64), (len(u), 3))


def frame_from_normal(normal: np.ndarray, u_hint: np.ndarray) -> np.ndarray:
    """(3, 3) rotation with columns (u, v, n): n the unit normal, u the hint made orthogonal."""
    n = np.asarray(normal, np.float64) / np.linalg.norm(normal)
    u = np.asarray(u_hint, np.float64) - np.dot(u_hint, n) * n
    u /= np.linalg.norm(u)
    return np.stack([u, np.cross(n, u), n], axis=1)


def rectangle(builder: GaussianBuilder, origin: np.ndarray, u_axis: np.ndarray, v_axis: np.ndarray,
              u_len_m: float, v_len_m: float, spacing_m: float, color: Color, thickness_m: float = 0.01,
              opacity: float = OPACITY, keep: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None) -> None:
    """A flat rectangle from `origin` along orthogonal unit axes u, v (normal u x v).

    Gaussians sit at cell centres of a grid of at most `spacing_m`; colour callables get the
    (u, v) of each centre in metres from the origin; `keep(u, v)` cuts other outlines out of it.
    """
    nu = max(int(np.ceil(u_len_m / spacing_m)), 1)
    nv = max(int(np.ceil(v_len_m / spacing_m)), 1)
    du, dv = u_len_m / nu, v_len_m / nv
    uu, vv = np.meshgrid((np.arange(nu) + 0.5) * du, (np.arange(nv) + 0.5) * dv, indexing="ij")
    uu, vv = uu.ravel(), vv.ravel()
    if keep is not None:
        inside = keep(uu, vv)
        uu, vv = uu[inside], vv[inside]
    u_axis, v_axis = np.asarray(u_axis, np.float64), np.asarray(v_axis, np.float64)
    means = np.asarray(origin, np.float64) + uu[:, None] * u_axis + vv[:, None] * v_axis
    rotation = np.stack([u_axis, v_axis, np.cross(u_axis, v_axis)], axis=1)
    builder.add(means, rotation, (COVERAGE * du, COVERAGE * dv, thickness_m), _paint(color, uu, vv), opacity)


def box(builder: GaussianBuilder, center: np.ndarray, size_xyz_m: np.ndarray, spacing_m: float,
        color: Color | dict[str, Color], faces: str = "+x-x+y-y+z-z", rotation: np.ndarray | None = None) -> None:
    """An axis-aligned (or `rotation`-ed) box's faces. `color` may map a face ("+x", ...) to a Color.

    Face coordinates (u, v) start at the face's lower corner: for the side faces u runs
    horizontally and v upwards, so facade patterns can be painted by height.
    """
    center = np.asarray(center, np.float64)
    half = 0.5 * np.asarray(size_xyz_m, np.float64)
    rot = np.eye(3) if rotation is None else np.asarray(rotation, np.float64)
    ex, ey, ez = rot[:, 0], rot[:, 1], rot[:, 2]
    specs = {
        # face: (origin offset in box axes, u axis, v axis, u length, v length)
        "+x": ((1, -1, -1), ey, ez, 2 * half[1], 2 * half[2]),
        "-x": ((-1, 1, -1), -ey, ez, 2 * half[1], 2 * half[2]),
        "+y": ((1, 1, -1), -ex, ez, 2 * half[0], 2 * half[2]),
        "-y": ((-1, -1, -1), ex, ez, 2 * half[0], 2 * half[2]),
        "+z": ((-1, -1, 1), ex, ey, 2 * half[0], 2 * half[1]),
        "-z": ((-1, 1, -1), ex, -ey, 2 * half[0], 2 * half[1]),
    }
    for face in (faces[i:i + 2] for i in range(0, len(faces), 2)):
        sign, u_axis, v_axis, u_len, v_len = specs[face]
        origin = center + rot @ (np.asarray(sign) * half)
        face_color = color.get(face, color.get("*")) if isinstance(color, dict) else color
        rectangle(builder, origin, u_axis, v_axis, u_len, v_len, spacing_m, face_color)


def ellipsoid(builder: GaussianBuilder, center: np.ndarray, radii_m: np.ndarray, spacing_m: float,
              color: Color, rotation: np.ndarray | None = None, opacity: float = OPACITY) -> None:
    """An ellipsoid's surface: a Fibonacci spiral of tangent discs, about one per spacing^2."""
    radii = np.asarray(radii_m, np.float64)
    p = (radii[0] * radii[1]) ** 1.6 + (radii[0] * radii[2]) ** 1.6 + (radii[1] * radii[2]) ** 1.6
    area = 4 * np.pi * (p / 3) ** (1 / 1.6)  # Knud Thomsen's approximation
    n = max(int(np.ceil(area / spacing_m ** 2)), 4)
    k = np.arange(n) + 0.5
    polar = np.arccos(1 - 2 * k / n)
    azimuth = np.pi * (1 + 5 ** 0.5) * k
    unit = np.stack([np.cos(azimuth) * np.sin(polar), np.sin(azimuth) * np.sin(polar), np.cos(polar)], axis=1)
    local = unit * radii
    normal = unit / radii
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    rot = np.eye(3) if rotation is None else np.asarray(rotation, np.float64)
    means = np.asarray(center, np.float64) + local @ rot.T
    normal = normal @ rot.T
    hint = np.where(np.abs(normal[:, 2:3]) < 0.9, np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0]))
    u = np.cross(hint, normal)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    frames = np.stack([u, np.cross(normal, u), normal], axis=2)
    sigma = COVERAGE * np.sqrt(area / n) * 1.1
    builder.add(means, frames, (sigma, sigma, 0.2 * sigma), _paint(color, unit[:, 2], azimuth), opacity)


def cylinder(builder: GaussianBuilder, base: np.ndarray, axis: np.ndarray, radius_m: float, length_m: float,
             spacing_m: float, color: Color, caps: Color | None = None, along_spacing_m: float | None = None) -> None:
    """A cylinder's side from `base` along the unit `axis`, and its two caps when `caps` is set.

    Spacing is `spacing_m` around and `along_spacing_m` (default the same) along the axis:
    poles can use long Gaussians. Colour callables get (angle_rad, distance along the axis).
    """
    axis = np.asarray(axis, np.float64) / np.linalg.norm(axis)
    hint = np.array([0.0, 0.0, 1.0]) if abs(axis[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    e1 = np.cross(axis, hint)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(axis, e1)
    n_around = max(int(np.ceil(2 * np.pi * radius_m / spacing_m)), 6)
    n_along = max(int(np.ceil(length_m / (along_spacing_m or spacing_m))), 1)
    angle, along = np.meshgrid(2 * np.pi * (np.arange(n_around) + 0.5) / n_around,
                               (np.arange(n_along) + 0.5) * length_m / n_along, indexing="ij")
    angle, along = angle.ravel(), along.ravel()
    normal = np.cos(angle)[:, None] * e1 + np.sin(angle)[:, None] * e2
    means = np.asarray(base, np.float64) + radius_m * normal + along[:, None] * axis
    tangent = np.cross(axis, normal)
    frames = np.stack([tangent, np.broadcast_to(axis, normal.shape), normal], axis=2)
    s_around = COVERAGE * 2 * np.pi * radius_m / n_around
    s_along = COVERAGE * length_m / n_along
    builder.add(means, frames, (s_around, s_along, 0.2 * min(s_around, s_along)), _paint(color, angle, along))
    if caps is not None:
        for end, sign in ((0.0, -1.0), (length_m, 1.0)):
            disc(builder, np.asarray(base, np.float64) + end * axis, sign * axis, radius_m, spacing_m, caps)


def disc(builder: GaussianBuilder, center: np.ndarray, normal: np.ndarray, radius_m: float, spacing_m: float,
         color: Color) -> None:
    """A flat disc: concentric rings of discs. Colour callables get (radius, angle)."""
    normal = np.asarray(normal, np.float64) / np.linalg.norm(normal)
    hint = np.array([0.0, 0.0, 1.0]) if abs(normal[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    frame = frame_from_normal(normal, hint)
    n_rings = max(int(np.ceil(radius_m / spacing_m)), 1)
    dr = radius_m / n_rings
    rs, angles = [], []
    for ring in range(n_rings):
        r = (ring + 0.5) * dr if n_rings > 1 else 0.0
        count = max(int(np.ceil(2 * np.pi * r / dr)), 1)
        rs.append(np.full(count, r))
        angles.append(2 * np.pi * (np.arange(count) + 0.5) / count)
    r, a = np.concatenate(rs), np.concatenate(angles)
    local = np.stack([r * np.cos(a), r * np.sin(a), np.zeros_like(r)], axis=1)
    sigma = COVERAGE * dr if n_rings > 1 else 0.5 * radius_m
    builder.add(np.asarray(center, np.float64) + local @ frame.T, frame, (sigma, sigma, 0.2 * sigma),
                _paint(color, r, a))

"""Pure planar and 3D geometry helpers shared by the engine, the adapters and the renderer.

Conventions: quaternions are (w, x, y, z); yaw is counter-clockwise from global +x (east);
poses are 4x4 homogeneous matrices named `pose_<from>_to_<to>`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


def wrap_angle(angle_rad: np.ndarray | float) -> np.ndarray | float:
    """Wrap angles to [-pi, pi)."""
    return (np.asarray(angle_rad) + np.pi) % (2.0 * np.pi) - np.pi


def yaw_from_quaternion(q_wxyz: np.ndarray) -> np.ndarray:
    """Yaw (rotation about z) of quaternions (..., 4) in w, x, y, z order."""
    q = np.asarray(q_wxyz, dtype=np.float64)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def quaternion_from_yaw(yaw_rad: np.ndarray | float) -> np.ndarray:
    """Quaternions (..., 4) w, x, y, z of pure rotations about z."""
    half = 0.5 * np.asarray(yaw_rad, dtype=np.float64)
    zeros = np.zeros_like(half)
    return np.stack([np.cos(half), zeros, zeros, np.sin(half)], axis=-1)


def rotation_matrix_from_quaternion(q_wxyz: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) from quaternions (..., 4) w, x, y, z (normalised here)."""
    q = np.asarray(q_wxyz, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        axis=-2,
    )


def quaternion_from_rotation_matrix(rotation: np.ndarray) -> np.ndarray:
    """Quaternions (..., 4) w, x, y, z with w >= 0 from rotation matrices (..., 3, 3)."""
    r = np.asarray(rotation, dtype=np.float64)
    m00, m11, m22 = r[..., 0, 0], r[..., 1, 1], r[..., 2, 2]
    # Shepperd's method, vectorised: pick the largest of the four diagonal combinations.
    candidates = np.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1)
    best = np.argmax(candidates, axis=-1)
    s = np.sqrt(np.maximum(np.take_along_axis(candidates, best[..., None], -1)[..., 0], 1e-300)) * 2.0
    q = np.empty(r.shape[:-2] + (4,), dtype=np.float64)
    for k in range(4):
        sel = best == k
        rs, ss = r[sel], s[sel]
        if k == 0:
            q[sel] = np.stack([0.25 * ss, (rs[:, 2, 1] - rs[:, 1, 2]) / ss,
                               (rs[:, 0, 2] - rs[:, 2, 0]) / ss, (rs[:, 1, 0] - rs[:, 0, 1]) / ss], -1)
        elif k == 1:
            q[sel] = np.stack([(rs[:, 2, 1] - rs[:, 1, 2]) / ss, 0.25 * ss,
                               (rs[:, 0, 1] + rs[:, 1, 0]) / ss, (rs[:, 0, 2] + rs[:, 2, 0]) / ss], -1)
        elif k == 2:
            q[sel] = np.stack([(rs[:, 0, 2] - rs[:, 2, 0]) / ss, (rs[:, 0, 1] + rs[:, 1, 0]) / ss,
                               0.25 * ss, (rs[:, 1, 2] + rs[:, 2, 1]) / ss], -1)
        else:
            q[sel] = np.stack([(rs[:, 1, 0] - rs[:, 0, 1]) / ss, (rs[:, 0, 2] + rs[:, 2, 0]) / ss,
                               (rs[:, 1, 2] + rs[:, 2, 1]) / ss, 0.25 * ss], -1)
    q = np.where(q[..., :1] < 0, -q, q)
    return q


def quaternion_multiply(a_wxyz: np.ndarray, b_wxyz: np.ndarray) -> np.ndarray:
    """Hamilton product a * b of quaternions (..., 4) w, x, y, z (rotation b first, then a)."""
    a = np.asarray(a_wxyz, dtype=np.float64)
    b = np.asarray(b_wxyz, dtype=np.float64)
    aw, ax, ay, az = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    bw, bx, by, bz = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def pose_matrix(rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """4x4 homogeneous poses (..., 4, 4) from rotations (..., 3, 3) and translations (..., 3)."""
    rotation = np.asarray(rotation, dtype=np.float64)
    out = np.zeros(rotation.shape[:-2] + (4, 4), dtype=np.float64)
    out[..., :3, :3] = rotation
    out[..., :3, 3] = translation
    out[..., 3, 3] = 1.0
    return out


def pose_from_xy_yaw(x_m: np.ndarray | float, y_m: np.ndarray | float, yaw_rad: np.ndarray | float,
                     z_m: np.ndarray | float = 0.0) -> np.ndarray:
    """4x4 poses (..., 4, 4) of planar poses: rotation about z by yaw, translation (x, y, z)."""
    x, y, yaw, z = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (x_m, y_m, yaw_rad, z_m)))
    c, s = np.cos(yaw), np.sin(yaw)
    out = np.zeros(x.shape + (4, 4), dtype=np.float64)
    out[..., 0, 0], out[..., 0, 1] = c, -s
    out[..., 1, 0], out[..., 1, 1] = s, c
    out[..., 2, 2] = 1.0
    out[..., 0, 3], out[..., 1, 3], out[..., 2, 3] = x, y, z
    out[..., 3, 3] = 1.0
    return out


def invert_pose(pose: np.ndarray) -> np.ndarray:
    """Inverse of rigid 4x4 poses (..., 4, 4)."""
    pose = np.asarray(pose, dtype=np.float64)
    rot_t = np.swapaxes(pose[..., :3, :3], -1, -2)
    return pose_matrix(rot_t, -np.einsum("...ij,...j->...i", rot_t, pose[..., :3, 3]))


def global_to_local_xy(xy_in_global: np.ndarray, origin_xy: np.ndarray,
                       origin_yaw_rad: float | np.ndarray) -> np.ndarray:
    """Points (..., 2) in global to the frame at origin (x forward along yaw, y left)."""
    d = np.asarray(xy_in_global, dtype=np.float64) - origin_xy
    c, s = np.cos(origin_yaw_rad), np.sin(origin_yaw_rad)
    return np.stack([c * d[..., 0] + s * d[..., 1], -s * d[..., 0] + c * d[..., 1]], axis=-1)


def local_to_global_xy(xy_in_local: np.ndarray, origin_xy: np.ndarray,
                       origin_yaw_rad: float | np.ndarray) -> np.ndarray:
    """Points (..., 2) in the frame at origin to global."""
    p = np.asarray(xy_in_local, dtype=np.float64)
    c, s = np.cos(origin_yaw_rad), np.sin(origin_yaw_rad)
    return np.stack([c * p[..., 0] - s * p[..., 1], s * p[..., 0] + c * p[..., 1]], axis=-1) + origin_xy


def box_corners_xy(center_xy: np.ndarray, yaw_rad: np.ndarray, length_m: np.ndarray, width_m: np.ndarray) -> np.ndarray:
    """Corners (..., 4, 2) of oriented boxes, counter-clockwise from front-left.

    center_xy: (..., 2); yaw_rad, length_m, width_m: (...,) broadcastable.
    """
    center_xy = np.asarray(center_xy, dtype=np.float64)
    half_l = 0.5 * np.asarray(length_m, dtype=np.float64)
    half_w = 0.5 * np.asarray(width_m, dtype=np.float64)
    c, s = np.cos(yaw_rad), np.sin(yaw_rad)
    fx, fy = c * half_l, s * half_l  # forward half-extent
    lx, ly = -s * half_w, c * half_w  # leftward half-extent
    cx, cy = center_xy[..., 0], center_xy[..., 1]
    xs = np.stack([cx + fx + lx, cx - fx + lx, cx - fx - lx, cx + fx - lx], axis=-1)
    ys = np.stack([cy + fy + ly, cy - fy + ly, cy - fy - ly, cy + fy - ly], axis=-1)
    return np.stack([xs, ys], axis=-1)


def boxes_overlap(corners_a: np.ndarray, corners_b: np.ndarray) -> np.ndarray:
    """Separating-axis test between oriented boxes: corners (..., 4, 2) broadcast -> (...,) bool."""
    a = np.asarray(corners_a, dtype=np.float64)
    b = np.asarray(corners_b, dtype=np.float64)
    a, b = np.broadcast_arrays(a, b)
    overlap = np.ones(a.shape[:-2], dtype=bool)
    for box in (a, b):
        for edge in (0, 1):
            axis = box[..., edge + 1, :] - box[..., edge, :]
            pa = np.einsum("...kd,...d->...k", a, axis)
            pb = np.einsum("...kd,...d->...k", b, axis)
            separated = (pa.max(-1) < pb.min(-1)) | (pb.max(-1) < pa.min(-1))
            overlap &= ~separated
    return overlap


def polyline_arclength(xy: np.ndarray) -> np.ndarray:
    """Cumulative arclength (P,) of a polyline (P, 2), starting at 0."""
    xy = np.asarray(xy, dtype=np.float64)
    if len(xy) == 0:
        return np.zeros(0)
    return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(xy, axis=0), axis=1))])


def resample_polyline(xy: np.ndarray, spacing_m: float) -> np.ndarray:
    """Polyline (P, 2) resampled at a uniform arclength spacing, end point kept."""
    s = polyline_arclength(xy)
    if len(xy) < 2 or s[-1] <= 0:
        return np.asarray(xy, dtype=np.float64).copy()
    n = max(int(np.ceil(s[-1] / spacing_m)), 1)
    s_new = np.linspace(0.0, s[-1], n + 1)
    return np.stack([np.interp(s_new, s, xy[:, 0]), np.interp(s_new, s, xy[:, 1])], axis=-1)


def project_to_polyline(points_xy: np.ndarray, polyline_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Project points (M, 2) onto a polyline (P, 2), P >= 2.

    Returns (arclength_m (M,), signed_lateral_m (M,), heading_rad (M,)): lateral is positive to
    the left of the direction of travel; heading is that of the nearest segment.
    """
    pts = np.atleast_2d(np.asarray(points_xy, dtype=np.float64))
    line = np.asarray(polyline_xy, dtype=np.float64)
    start, seg = line[:-1], np.diff(line, axis=0)
    seg_len_sq = np.maximum(np.einsum("sd,sd->s", seg, seg), 1e-12)
    rel = pts[:, None, :] - start[None]
    t = np.clip(np.einsum("msd,sd->ms", rel, seg) / seg_len_sq, 0.0, 1.0)
    foot = start[None] + t[..., None] * seg[None]
    dist_sq = np.sum((pts[:, None, :] - foot) ** 2, axis=-1)
    best = np.argmin(dist_sq, axis=1)
    rows = np.arange(len(pts))
    s_cum = polyline_arclength(line)
    arclength = s_cum[best] + t[rows, best] * np.sqrt(seg_len_sq[best])
    d = seg[best]
    cross = d[:, 0] * rel[rows, best, 1] - d[:, 1] * rel[rows, best, 0]
    lateral = np.sign(cross) * np.sqrt(dist_sq[rows, best])
    heading = np.arctan2(d[:, 1], d[:, 0])
    return arclength, lateral, heading


def interpolate_polyline(polyline_xy: np.ndarray, arclength_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points (M, 2) and headings (M,) at arclengths (M,) along a polyline (P, 2), clamped."""
    line = np.asarray(polyline_xy, dtype=np.float64)
    s = polyline_arclength(line)
    q = np.clip(np.asarray(arclength_m, dtype=np.float64), 0.0, s[-1])
    idx = np.clip(np.searchsorted(s, q, side="right") - 1, 0, len(line) - 2)
    seg = line[idx + 1] - line[idx]
    seg_len = np.maximum(s[idx + 1] - s[idx], 1e-12)
    frac = (q - s[idx]) / seg_len
    return line[idx] + frac[..., None] * seg, np.arctan2(seg[..., 1], seg[..., 0])


@njit(cache=True)
def project_point_kernel(ref_xy, ref_s, x, y):
    """Arclength, signed lateral offset (left +) and segment heading (nan for a one-point path)
    of the point (x, y) on the polyline ref_xy (P, 2) with cumulative arclength ref_s (P,)."""
    best_d2 = 1e300
    best_s = 0.0
    best_lat = 0.0
    best_heading = 0.0
    n = ref_xy.shape[0]
    if n == 1:
        return ref_s[0], 0.0, math.nan
    for i in range(n - 1):
        dx = ref_xy[i + 1, 0] - ref_xy[i, 0]
        dy = ref_xy[i + 1, 1] - ref_xy[i, 1]
        len2 = dx * dx + dy * dy
        if len2 < 1e-12:
            continue
        rx = x - ref_xy[i, 0]
        ry = y - ref_xy[i, 1]
        u = min(max((rx * dx + ry * dy) / len2, 0.0), 1.0)
        fx = rx - u * dx
        fy = ry - u * dy
        d2 = fx * fx + fy * fy
        if d2 < best_d2:
            best_d2 = d2
            length = math.sqrt(len2)
            best_s = ref_s[i] + u * length
            cross = dx * ry - dy * rx
            best_lat = math.sqrt(d2) if cross >= 0 else -math.sqrt(d2)
            best_heading = math.atan2(dy, dx)
    if best_d2 == 1e300:
        return ref_s[0], 0.0, math.nan
    return best_s, best_lat, best_heading


@njit(cache=True)
def path_curvature_kernel(arc_m, yaw_rad, min_arc_m):
    """(n,) curvature (1/m) of a path sampled at arclengths arc_m (n,) with unwrapped headings
    yaw_rad (n,): the heading change over a window grown symmetrically around each sample until
    it spans min_arc_m of path. Heading noise over the millimetres a slow or standing vehicle
    moves per sample would otherwise read as sharp turns; where the whole path is shorter than
    half of min_arc_m it has no curvature (0)."""
    n = arc_m.shape[0]
    out = np.zeros(n)
    for i in range(n):
        lo = i
        hi = i
        while arc_m[hi] - arc_m[lo] < min_arc_m and (lo > 0 or hi < n - 1):
            if lo > 0:
                lo -= 1
            if hi < n - 1:
                hi += 1
        ds = arc_m[hi] - arc_m[lo]
        if ds > 0.5 * min_arc_m:
            out[i] = (yaw_rad[hi] - yaw_rad[lo]) / ds
    return out

"""The CPU training rasterizer: the project's numba tile rasterizer with its backward pass.

Two `torch.autograd.Function`s over numba kernels, so that nothing per Gaussian or per pixel runs
as a chain of torch operations (SH colours stay torch: `diff_raster.sh_to_color`):

- projection: forward by `render.cpu_rasterizer._project` itself (EWA, gsplat's clamps, eps2d
  0.3, opacity-aware radii), backward (`_project_backward`) as gsplat's fully_fused_projection
  backward, to means, quats (through the normalisation) and scales.
- compositing, forward by `render.cpu_rasterizer.composite_tiles` (the same 16 x 16 tiles,
  depth sort, stable binning and gsplat constants as the renderer), which also keeps each
  pixel's final transmittance and the index of the last Gaussian it drew; backward
  (`_backward_tiles`) as gsplat's `rasterize_to_pixels` backward: each tile walks its list back
  to front from its last drawn Gaussian; each pixel starts at its final transmittance and
  recovers the earlier ones by T_before = T_after / (1 - alpha), skipping the Gaussians after its
  own last one and those the forward skipped (sigma < 0, alpha < 1/255), and keeps the sum of
  what lies behind (buffer) to form d/d alpha. Gradients reach means2d (pixels), conics,
  colours, opacities and depths; none flows where alpha was clamped at 0.999 (gsplat). Tiles run
  in parallel (prange); each writes the gradients of its list entries to their own rows, which
  are then summed per Gaussian, so the result does not depend on thread timing.

`rasterize` takes and returns what `diff_raster.rasterize` (and `gsplat.rasterization`) do:
info["means2d"] (C, N, 2) is the projection's output, so after backward its .grad is the loss
gradient in pixels, which gsplat's DefaultStrategy reads; info["radii"] (C, N, 2).
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit, prange

from render.cpu_rasterizer import (
    ALPHA_THRESHOLD,
    EPS2D,
    FAR_PLANE,
    MAX_ALPHA,
    NEAR_PLANE,
    PARALLEL_LOCK,
    TILE_SIZE,
    _exp_neg,
    _project,
    bin_tiles,
    composite_tiles,
    interleaved_tiles,
    tile_rects,
)
from render.reconstruct import diff_raster

GRAD_COLUMNS = 10  # means2d x, y; conic a, b, c; r, g, b; opacity; depth


@njit(parallel=True, fastmath=True, cache=True)
def _backward_tiles(tile_order, offsets, ids, xy, conic, opacities, rgb, depth, radius, width, height, tiles_x,
                    tile_size, trans_final, last, v_acc, v_trans, out_entry):
    """out_entry (len(ids), GRAD_COLUMNS): each list entry's gradient from its tile's pixels.

    v_acc (H, W, 4), v_trans (H, W): the loss gradients of `composite_tiles`' out_acc, out_trans.
    """
    thr = np.float32(ALPHA_THRESHOLD)
    one = np.float32(1.0)
    half = np.float32(0.5)
    for i in prange(tile_order.shape[0]):
        tile = tile_order[i]
        x0 = (tile % tiles_x) * tile_size
        y0 = (tile // tiles_x) * tile_size
        x1 = min(x0 + tile_size, width)
        y1 = min(y0 + tile_size, height)
        tw = x1 - x0
        n_pix = tw * (y1 - y0)
        trans = np.empty(n_pix, np.float32)
        v_r = np.empty(n_pix, np.float32)
        v_g = np.empty(n_pix, np.float32)
        v_b = np.empty(n_pix, np.float32)
        v_z = np.empty(n_pix, np.float32)
        # d loss / d alpha_k = (T_k (c_k . v_acc) + rest / (1 - alpha_k)); rest starts as the T_final
        # term, -v_trans T_final, and takes off w (c . v_acc) of each Gaussian walked (what lies behind)
        rest = np.empty(n_pix, np.float32)
        last_k = np.empty(n_pix, np.int32)
        row_last = np.full(tile_size, -1, np.int32)  # a row is skipped for Gaussians after all its pixels' last
        k_max = np.int64(-1)
        for p in range(n_pix):
            py = y0 + p // tw
            px = x0 + p % tw
            t = trans_final[py, px]
            trans[p] = t
            v_r[p] = v_acc[py, px, 0]
            v_g[p] = v_acc[py, px, 1]
            v_b[p] = v_acc[py, px, 2]
            v_z[p] = v_acc[py, px, 3]
            rest[p] = -v_trans[py, px] * t
            last_k[p] = last[py, px]
            row_last[p // tw] = max(row_last[p // tw], last[py, px])
            k_max = max(k_max, last[py, px])
        for k in range(k_max, offsets[tile] - 1, -1):
            g = ids[k]
            k32 = np.int32(k)
            gx, gy = xy[g, 0], xy[g, 1]
            ca, cb, cc = conic[g, 0], conic[g, 1], conic[g, 2]
            op = opacities[g]
            cr, cgr, cbl, cz = rgb[g, 0], rgb[g, 1], rgb[g, 2], depth[g]
            px0 = max(x0, int(np.ceil(gx - radius[g, 0] - 0.5)))
            px1 = min(x1, int(np.floor(gx + radius[g, 0] - 0.5)) + 1)
            py0 = max(y0, int(np.ceil(gy - radius[g, 1] - 0.5)))
            py1 = min(y1, int(np.floor(gy + radius[g, 1] - 0.5)) + 1)
            s_mx = s_my = s_ca = s_cb = s_cc = np.float32(0.0)
            s_r = s_g = s_b = s_o = s_z = np.float32(0.0)
            for py in range(py0, py1):
                if k32 > row_last[py - y0]:
                    continue
                dy = gy - (np.float32(py) + half)
                half_dy2 = half * dy * dy
                half_cc_dy2 = cc * half_dy2
                row = (py - y0) * tw - x0
                # sums over the row of v_sigma, dx v_sigma, dx^2 v_sigma (dy is the row's)
                r0 = r1 = r2 = np.float32(0.0)
                # branch-free as the forward, so that it vectorizes; `m` selects gsplat's pixels
                for p in range(np.uint64(row + px0), np.uint64(row + px1)):
                    dx = gx - (np.float32(p - row) + half)
                    sigma = half * ca * dx * dx + half_cc_dy2 + cb * dy * dx
                    vis = _exp_neg(sigma)
                    raw = op * vis
                    alpha = min(np.float32(MAX_ALPHA), raw)
                    valid = (k32 <= last_k[p]) & (sigma >= np.float32(0.0)) & (alpha >= thr)
                    m = one if valid else np.float32(0.0)
                    ra = one / (one - alpha)
                    t_before = trans[p] * ra
                    w = alpha * t_before * m
                    c_dot_v = cr * v_r[p] + cgr * v_g[p] + cbl * v_b[p] + cz * v_z[p]
                    v_alpha = (c_dot_v * t_before + rest[p] * ra) * m
                    v_alpha = v_alpha if raw <= np.float32(MAX_ALPHA) else np.float32(0.0)
                    v_sigma = -raw * v_alpha
                    s_r += w * v_r[p]
                    s_g += w * v_g[p]
                    s_b += w * v_b[p]
                    s_z += w * v_z[p]
                    s_o += vis * v_alpha
                    r0 += v_sigma
                    r1 += dx * v_sigma
                    r2 += dx * dx * v_sigma
                    rest[p] -= w * c_dot_v
                    trans[p] = t_before if valid else trans[p]
                # sigma = a dx^2 / 2 + b dx dy + c dy^2 / 2, d sigma / d mean = (a dx + b dy, b dx + c dy)
                s_ca += half * r2
                s_cb += dy * r1
                s_cc += half_dy2 * r0
                s_mx += ca * r1 + cb * dy * r0
                s_my += cb * r1 + cc * dy * r0
            out_entry[k, 0] = s_mx
            out_entry[k, 1] = s_my
            out_entry[k, 2] = s_ca
            out_entry[k, 3] = s_cb
            out_entry[k, 4] = s_cc
            out_entry[k, 5] = s_r
            out_entry[k, 6] = s_g
            out_entry[k, 7] = s_b
            out_entry[k, 8] = s_o
            out_entry[k, 9] = s_z


@njit(cache=True)
def _sum_entries(ids, entry, n):
    """(n, GRAD_COLUMNS) per-Gaussian sums of the per-entry gradients."""
    out = np.zeros((n, entry.shape[1]), np.float32)
    for k in range(ids.shape[0]):
        g = ids[k]
        for j in range(entry.shape[1]):
            out[g, j] += entry[k, j]
    return out


@njit(fastmath=True, cache=True)
def _unit_quat(quats, i):
    """(w, x, y, z, 1 / |q|) of quats[i] (any norm)."""
    w, x, y, z = quats[i, 0], quats[i, 1], quats[i, 2], quats[i, 3]
    inv = 1.0 / max(np.sqrt(w * w + x * x + y * y + z * z), 1e-12)
    return w * inv, x * inv, y * inv, z * inv, inv


@njit(fastmath=True, cache=True)
def _rotation(w, x, y, z):
    """The rotation matrix of a unit quaternion, rows r0, r1, r2."""
    return ((1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)),
            (2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)),
            (2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)))


@njit(fastmath=True, cache=True)
def _dot(a, b):
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


@njit(fastmath=True, cache=True)
def _mat_t_vec(r0, r1, r2, v):
    """R^T v for R of rows r0, r1, r2."""
    return (r0[0] * v[0] + r1[0] * v[1] + r2[0] * v[2], r0[1] * v[0] + r1[1] * v[1] + r2[1] * v[2],
            r0[2] * v[0] + r1[2] * v[1] + r2[2] * v[2])


@njit(parallel=True, fastmath=True, cache=True)
def _covariances(quats, scales):
    """(N, 6) upper triangles xx, xy, xz, yy, yz, zz of R S S^T R^T."""
    out = np.empty((quats.shape[0], 6), np.float32)
    for i in prange(quats.shape[0]):
        w, x, y, z, _ = _unit_quat(quats, i)
        r0, r1, r2 = _rotation(w, x, y, z)
        s2 = (scales[i, 0] * scales[i, 0], scales[i, 1] * scales[i, 1], scales[i, 2] * scales[i, 2])
        m0 = (r0[0] * s2[0], r0[1] * s2[1], r0[2] * s2[2])
        m1 = (r1[0] * s2[0], r1[1] * s2[1], r1[2] * s2[2])
        out[i, 0], out[i, 1], out[i, 2] = _dot(m0, r0), _dot(m0, r1), _dot(m0, r2)
        out[i, 3], out[i, 4], out[i, 5] = _dot(m1, r1), _dot(m1, r2), _dot((r2[0] * s2[0], r2[1] * s2[1],
                                                                             r2[2] * s2[2]), r2)
    return out


@njit(parallel=True, fastmath=True, cache=True)
def _project_backward(means, quats, scales, viewmat, fx, fy, cx, cy, width, height, radius, v_xy, v_conic, v_depth,
                      out_means, out_quats, out_scales):
    """Gradients of means (N, 3), quats (N, 4) and scales (N, 3) from those of the projection's
    means2d, conics and depths (the chain of `cpu_rasterizer._project`, as gsplat's
    fully_fused_projection backward); zero where culled (radius 0).

    With M = R S, Sigma = M M^T and the image rows t0, t1 of T = J W: p0 = M^T t0, p1 = M^T t1,
    and cov2d = (|p0|^2, p0.p1, |p1|^2) + eps2d, which keeps the chain short.
    """
    w0 = (viewmat[0, 0], viewmat[0, 1], viewmat[0, 2])
    w1 = (viewmat[1, 0], viewmat[1, 1], viewmat[1, 2])
    w2 = (viewmat[2, 0], viewmat[2, 1], viewmat[2, 2])
    lim_x_pos = (width - cx) / fx + 0.3 * (0.5 * width / fx)
    lim_x_neg = cx / fx + 0.3 * (0.5 * width / fx)
    lim_y_pos = (height - cy) / fy + 0.3 * (0.5 * height / fy)
    lim_y_neg = cy / fy + 0.3 * (0.5 * height / fy)
    for i in prange(means.shape[0]):
        for j in range(3):
            out_means[i, j] = 0.0
            out_scales[i, j] = 0.0
        for j in range(4):
            out_quats[i, j] = 0.0
        if radius[i, 0] <= 0 or radius[i, 1] <= 0:
            continue
        mean = (means[i, 0], means[i, 1], means[i, 2])
        x = _dot(w0, mean) + viewmat[0, 3]
        y = _dot(w1, mean) + viewmat[1, 3]
        z = _dot(w2, mean) + viewmat[2, 3]
        rz = 1.0 / z
        rz2 = rz * rz
        x_in = -lim_x_neg <= x * rz <= lim_x_pos
        y_in = -lim_y_neg <= y * rz <= lim_y_pos
        tx = z * min(lim_x_pos, max(-lim_x_neg, x * rz))
        ty = z * min(lim_y_pos, max(-lim_y_neg, y * rz))
        j00, j02 = fx * rz, -fx * tx * rz2
        j11, j12 = fy * rz, -fy * ty * rz2
        t0 = (j00 * w0[0] + j02 * w2[0], j00 * w0[1] + j02 * w2[1], j00 * w0[2] + j02 * w2[2])
        t1 = (j11 * w1[0] + j12 * w2[0], j11 * w1[1] + j12 * w2[1], j11 * w1[2] + j12 * w2[2])
        qw, qx, qy, qz, qinv = _unit_quat(quats, i)
        r0, r1, r2 = _rotation(qw, qx, qy, qz)
        s = (scales[i, 0], scales[i, 1], scales[i, 2])
        u0 = _mat_t_vec(r0, r1, r2, t0)  # R^T t0; p0 = S u0
        u1 = _mat_t_vec(r0, r1, r2, t1)
        p0 = (s[0] * u0[0], s[1] * u0[1], s[2] * u0[2])
        p1 = (s[0] * u1[0], s[1] * u1[1], s[2] * u1[2])
        c00 = _dot(p0, p0) + EPS2D
        c01 = _dot(p0, p1)
        c11 = _dot(p1, p1) + EPS2D
        det = c00 * c11 - c01 * c01
        ca, cb, cc = c11 / det, -c01 / det, c00 / det
        va, vb, vc = v_conic[i, 0], v_conic[i, 1], v_conic[i, 2]
        # conic (a, b, c) = inverse of (c00, c01, c11); c01 stands for both off-diagonal entries
        g00 = -(va * ca * ca + vb * ca * cb + vc * cb * cb)
        g11 = -(va * cb * cb + vb * cb * cc + vc * cc * cc)
        g01 = -(2.0 * va * ca * cb + vb * (ca * cc + cb * cb) + 2.0 * vc * cb * cc)
        # d/d p0 = e, d/d p1 = f; then d/d t0 = M e, d/d t1 = M f, d/d M = t0 e^T + t1 f^T
        e = (2.0 * g00 * p0[0] + g01 * p1[0], 2.0 * g00 * p0[1] + g01 * p1[1], 2.0 * g00 * p0[2] + g01 * p1[2])
        f = (g01 * p0[0] + 2.0 * g11 * p1[0], g01 * p0[1] + 2.0 * g11 * p1[1], g01 * p0[2] + 2.0 * g11 * p1[2])
        se = (s[0] * e[0], s[1] * e[1], s[2] * e[2])
        sf = (s[0] * f[0], s[1] * f[1], s[2] * f[2])
        vt0 = (_dot(r0, se), _dot(r1, se), _dot(r2, se))
        vt1 = (_dot(r0, sf), _dot(r1, sf), _dot(r2, sf))
        for k in range(3):
            out_scales[i, k] = e[k] * u0[k] + f[k] * u1[k]
        # d/dR[a, k] = (t0[a] e[k] + t1[a] f[k]) s[k]
        v_r0 = (t0[0] * se[0] + t1[0] * sf[0], t0[0] * se[1] + t1[0] * sf[1], t0[0] * se[2] + t1[0] * sf[2])
        v_r1 = (t0[1] * se[0] + t1[1] * sf[0], t0[1] * se[1] + t1[1] * sf[1], t0[1] * se[2] + t1[1] * sf[2])
        v_r2 = (t0[2] * se[0] + t1[2] * sf[0], t0[2] * se[1] + t1[2] * sf[1], t0[2] * se[2] + t1[2] * sf[2])
        # T = J W
        v_j00, v_j02 = _dot(vt0, w0), _dot(vt0, w2)
        v_j11, v_j12 = _dot(vt1, w1), _dot(vt1, w2)
        v_u, v_v = v_xy[i, 0], v_xy[i, 1]
        v_x = fx * rz * v_u
        v_y = fy * rz * v_v
        v_z = (v_depth[i] - fx * x * rz2 * v_u - fy * y * rz2 * v_v - fx * rz2 * v_j00 - fy * rz2 * v_j11
               + 2.0 * fx * tx * rz2 * rz * v_j02 + 2.0 * fy * ty * rz2 * rz * v_j12)
        v_tx = -fx * rz2 * v_j02
        v_ty = -fy * rz2 * v_j12
        # tx = x inside the widened frustum, z times the limit outside it
        if x_in:
            v_x += v_tx
        else:
            v_z += v_tx * tx * rz
        if y_in:
            v_y += v_ty
        else:
            v_z += v_ty * ty * rz
        for a in range(3):
            out_means[i, a] = w0[a] * v_x + w1[a] * v_y + w2[a] * v_z
        vw = 2.0 * (-qz * v_r0[1] + qy * v_r0[2] + qz * v_r1[0] - qx * v_r1[2] - qy * v_r2[0] + qx * v_r2[1])
        vx = 2.0 * (qy * v_r0[1] + qz * v_r0[2] + qy * v_r1[0] - 2.0 * qx * v_r1[1] - qw * v_r1[2] + qz * v_r2[0]
                    + qw * v_r2[1] - 2.0 * qx * v_r2[2])
        vy = 2.0 * (-2.0 * qy * v_r0[0] + qx * v_r0[1] + qw * v_r0[2] + qx * v_r1[0] + qz * v_r1[2] - qw * v_r2[0]
                    + qz * v_r2[1] - 2.0 * qy * v_r2[2])
        vz = 2.0 * (-2.0 * qz * v_r0[0] - qw * v_r0[1] + qx * v_r0[2] + qw * v_r1[0] - 2.0 * qz * v_r1[1]
                    + qy * v_r1[2] + qx * v_r2[0] + qy * v_r2[1])
        # through the normalisation q / |q|
        dot = qw * vw + qx * vx + qy * vy + qz * vz
        out_quats[i, 0] = (vw - qw * dot) * qinv
        out_quats[i, 1] = (vx - qx * dot) * qinv
        out_quats[i, 2] = (vy - qy * dot) * qinv
        out_quats[i, 3] = (vz - qz * dot) * qinv


def _np(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().to(torch.float32).cpu().numpy())


class _TileComposite(torch.autograd.Function):
    """(acc (H, W, 4) = sum w (r, g, b, z), trans (H, W)) of projected Gaussians; see the module docstring."""

    @staticmethod
    def forward(ctx, means2d, conics, colors, opacities, depths, radii, width, height, pixel_mask):
        xy, con, rgb, op, z = _np(means2d), _np(conics), _np(colors), _np(opacities), _np(depths)
        radius = np.ascontiguousarray(radii.detach().cpu().numpy().astype(np.int32))
        tiles_x = (width + TILE_SIZE - 1) // TILE_SIZE
        tiles_y = (height + TILE_SIZE - 1) // TILE_SIZE
        mask = np.ones((height, width), np.bool_) if pixel_mask is None else \
            np.ascontiguousarray(pixel_mask.detach().cpu().numpy().astype(np.bool_))
        acc = np.empty((height, width, 4), np.float32)
        trans = np.empty((height, width), np.float32)
        last = np.empty((height, width), np.int32)
        tile_order = interleaved_tiles(tiles_x * tiles_y)
        with PARALLEL_LOCK:
            rect = tile_rects(xy, radius, TILE_SIZE, tiles_x, tiles_y)
            visible = np.flatnonzero((rect[:, 2] > rect[:, 0]) & (rect[:, 3] > rect[:, 1]))
            order = visible[np.argsort(z[visible], kind="stable")]
            offsets, ids = bin_tiles(order, rect, tiles_x, tiles_x * tiles_y)
            composite_tiles(tile_order, offsets, ids, xy, con, op, rgb, z, radius, width, height, tiles_x, TILE_SIZE,
                            mask, acc, trans, last)
        ctx.plan = (tile_order, offsets, ids, xy, con, op, rgb, z, radius, width, height, tiles_x, trans, last)
        ctx.device = means2d.device
        return torch.from_numpy(acc).to(means2d.device), torch.from_numpy(trans).to(means2d.device)

    @staticmethod
    def backward(ctx, v_acc, v_trans):
        tile_order, offsets, ids, xy, con, op, rgb, z, radius, width, height, tiles_x, trans, last = ctx.plan
        entry = np.zeros((len(ids), GRAD_COLUMNS), np.float32)
        with PARALLEL_LOCK:
            _backward_tiles(tile_order, offsets, ids, xy, con, op, rgb, z, radius, width, height, tiles_x, TILE_SIZE,
                            trans, last, _np(v_acc), _np(v_trans), entry)
            grads = torch.from_numpy(_sum_entries(ids, entry, xy.shape[0])).to(ctx.device)
        ctx.plan = None
        return grads[:, 0:2], grads[:, 2:5], grads[:, 5:8], grads[:, 8], grads[:, 9], None, None, None, None


def composite(means2d: torch.Tensor, conics: torch.Tensor, depths: torch.Tensor, radii: torch.Tensor,
              opacities: torch.Tensor, colors: torch.Tensor, width: int, height: int,
              background: torch.Tensor | None = None, pixel_mask: torch.Tensor | None = None,
              max_pairs: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`diff_raster.composite` by the numba tile kernels: rgb (H, W, 3), alpha (H, W), expected
    depth (H, W); max_pairs is not needed (memory is per tile) and ignored."""
    acc, trans = _TileComposite.apply(means2d, conics, colors, opacities, depths, radii, int(width), int(height),
                                      pixel_mask)
    rgb = acc[..., :3]
    if background is not None:
        rgb = rgb + trans[..., None] * background
    alpha = 1.0 - trans
    return rgb, alpha, acc[..., 3] / torch.clamp_min(alpha, 1e-10)


class _Project(torch.autograd.Function):
    """(means2d (N, 2), conics (N, 3), depths (N,), radii (N, 2) int32) of one camera by
    `cpu_rasterizer._project`, differentiable in means, quats and scales."""

    @staticmethod
    def forward(ctx, means, quats, scales, opacities, viewmat, K, width, height):
        m, q, s, o = _np(means), _np(quats), _np(scales), _np(opacities)
        vm = viewmat.detach().cpu().numpy().astype(np.float64)
        k = K.detach().cpu().numpy().astype(np.float64)
        n = m.shape[0]
        tiles_x = (width + TILE_SIZE - 1) // TILE_SIZE
        tiles_y = (height + TILE_SIZE - 1) // TILE_SIZE
        xy, conic, depth = np.zeros((n, 2), np.float32), np.zeros((n, 3), np.float32), np.zeros(n, np.float32)
        radius = np.zeros((n, 2), np.int32)
        with PARALLEL_LOCK:
            _project(m, _covariances(q, s), o, np.zeros((n, 1, 3), np.float32), 0, vm, k[0, 0], k[1, 1], k[0, 2],
                     k[1, 2], width, height, EPS2D, NEAR_PLANE, FAR_PLANE, TILE_SIZE, tiles_x, tiles_y, xy, conic,
                     depth, np.empty((n, 3), np.float32), radius, np.empty((n, 4), np.int32))
        ctx.saved = (m, q, s, vm, k, width, height, radius)
        ctx.device = means.device
        out = [torch.from_numpy(a).to(means.device) for a in (xy, conic, depth, radius)]
        ctx.mark_non_differentiable(out[3])
        return tuple(out)

    @staticmethod
    def backward(ctx, v_xy, v_conic, v_depth, _v_radius):
        m, q, s, vm, k, width, height, radius = ctx.saved
        v_means, v_quats, v_scales = np.empty_like(m), np.empty_like(q), np.empty_like(s)
        with PARALLEL_LOCK:
            _project_backward(m, q, s, vm, k[0, 0], k[1, 1], k[0, 2], k[1, 2], width, height, radius, _np(v_xy),
                              _np(v_conic), _np(v_depth), v_means, v_quats, v_scales)
        ctx.saved = None
        t = lambda a: torch.from_numpy(a).to(ctx.device)  # noqa: E731
        return t(v_means), t(v_quats), t(v_scales), None, None, None, None, None


def rasterize(means: torch.Tensor, quats: torch.Tensor, scales: torch.Tensor, opacities: torch.Tensor,
              colors: torch.Tensor, viewmats: torch.Tensor, Ks: torch.Tensor, width: int, height: int,
              sh_degree: int | None = None, backgrounds: torch.Tensor | None = None,
              pixel_masks: torch.Tensor | None = None, **_ignored):
    """Render C cameras, differentiably: `diff_raster.rasterize`'s arguments and return (gsplat's
    `rasterization`: colors (C, H, W, 4) rgb + expected depth, alphas (C, H, W, 1), info with
    "means2d" (C, N, 2) and "radii" (C, N, 2)). Its other options (max_pairs) are not needed."""
    width, height = int(width), int(height)
    proj = [_Project.apply(means, quats, scales, opacities, viewmats[c], Ks[c], width, height)
            for c in range(viewmats.shape[0])]
    means2d = torch.stack([p[0] for p in proj])
    radii = torch.stack([p[3] for p in proj])
    images, alphas = [], []
    for c, (_, conics, depths, _) in enumerate(proj):
        rgb = colors
        if sh_degree is not None:
            campos = -viewmats[c, :3, :3].T @ viewmats[c, :3, 3]
            rgb = diff_raster.sh_to_color(colors, means - campos, sh_degree)
        img, alpha, depth = composite(means2d[c], conics, depths, radii[c], opacities, rgb, width, height,
                                      None if backgrounds is None else backgrounds[c],
                                      None if pixel_masks is None else pixel_masks[c])
        images.append(torch.cat([img, depth[..., None]], -1))
        alphas.append(alpha[..., None])
    info = {"means2d": means2d, "radii": radii, "depths": torch.stack([p[2] for p in proj]), "width": width,
            "height": height, "n_cameras": len(proj), "gaussian_ids": None}
    return torch.stack(images), torch.stack(alphas), info

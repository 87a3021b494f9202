"""The CPU training rasterizer: the project's numba tile rasterizer with its backward pass.

Projection, colours and everything per Gaussian (O(N)) are torch (`diff_raster.project`,
`sh_to_color`), so autograd differentiates them; the per-pixel compositing, the expensive part,
is a `torch.autograd.Function` over numba kernels:

- forward: `render.cpu_rasterizer`'s own kernels (the same 16 x 16 tiles, depth sort, stable
  binning and gsplat constants as the renderer), which also keep each pixel's final
  transmittance and the index of the last Gaussian it drew.
- backward (`_backward_tiles`), as gsplat's `rasterize_to_pixels` backward: each tile walks its
  list back to front from its last drawn Gaussian; each pixel starts at its final transmittance
  and recovers the earlier ones by T_before = T_after / (1 - alpha), skipping the Gaussians
  after its own last one and those the forward skipped (sigma < 0, alpha < 1/255), and keeps
  the sum of what lies behind (buffer) to form d/d alpha. Gradients reach means2d (pixels),
  conics, colours, opacities and depths; none flows where alpha was clamped at 0.999 (gsplat).
  Tiles run in parallel (prange); each writes the gradients of its list entries to their own
  rows, which are then summed per Gaussian, so the result does not depend on thread timing.

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
    MAX_ALPHA,
    PARALLEL_LOCK,
    TILE_SIZE,
    _exp_neg,
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
        buf_r = np.zeros(n_pix, np.float32)
        buf_g = np.zeros(n_pix, np.float32)
        buf_b = np.zeros(n_pix, np.float32)
        buf_z = np.zeros(n_pix, np.float32)
        v_r = np.empty(n_pix, np.float32)
        v_g = np.empty(n_pix, np.float32)
        v_b = np.empty(n_pix, np.float32)
        v_z = np.empty(n_pix, np.float32)
        v_t = np.empty(n_pix, np.float32)  # d loss / d alpha_k from T_final is v_t / (1 - alpha_k)
        last_k = np.empty(n_pix, np.int64)
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
            v_t[p] = -v_trans[py, px] * t
            last_k[p] = last[py, px]
            k_max = max(k_max, last[py, px])
        for k in range(k_max, offsets[tile] - 1, -1):
            g = ids[k]
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
                dy = gy - (np.float32(py) + half)
                half_dy2 = half * dy * dy
                half_cc_dy2 = cc * half_dy2
                cb_dy = cb * dy
                row = (py - y0) * tw - x0
                # branch-free as the forward, so that it vectorizes; `m` selects gsplat's pixels
                for p in range(np.uint64(row + px0), np.uint64(row + px1)):
                    dx = gx - (np.float32(p - row) + half)
                    sigma = half * ca * dx * dx + half_cc_dy2 + cb_dy * dx
                    vis = _exp_neg(sigma)
                    raw = op * vis
                    alpha = min(np.float32(MAX_ALPHA), raw)
                    valid = (k <= last_k[p]) & (sigma >= np.float32(0.0)) & (alpha >= thr)
                    m = one if valid else np.float32(0.0)
                    ra = one / (one - alpha)
                    t_before = trans[p] * ra
                    w = alpha * t_before * m
                    v_alpha = ((cr * t_before - buf_r[p] * ra) * v_r[p] + (cgr * t_before - buf_g[p] * ra) * v_g[p]
                               + (cbl * t_before - buf_b[p] * ra) * v_b[p] + (cz * t_before - buf_z[p] * ra) * v_z[p]
                               + v_t[p] * ra) * m
                    v_alpha = v_alpha if raw <= np.float32(MAX_ALPHA) else np.float32(0.0)
                    v_sigma = -raw * v_alpha
                    s_r += w * v_r[p]
                    s_g += w * v_g[p]
                    s_b += w * v_b[p]
                    s_z += w * v_z[p]
                    s_o += vis * v_alpha
                    s_ca += half * dx * dx * v_sigma
                    s_cb += dx * dy * v_sigma
                    s_cc += half_dy2 * v_sigma
                    s_mx += v_sigma * (ca * dx + cb_dy)
                    s_my += v_sigma * (cb * dx + cc * dy)
                    buf_r[p] += cr * w
                    buf_g[p] += cgr * w
                    buf_b[p] += cbl * w
                    buf_z[p] += cz * w
                    trans[p] = t_before if valid else trans[p]
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
        last = np.empty((height, width), np.int64)
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


def rasterize(means: torch.Tensor, quats: torch.Tensor, scales: torch.Tensor, opacities: torch.Tensor,
              colors: torch.Tensor, viewmats: torch.Tensor, Ks: torch.Tensor, width: int, height: int,
              sh_degree: int | None = None, backgrounds: torch.Tensor | None = None,
              pixel_masks: torch.Tensor | None = None, **kwargs):
    """`diff_raster.rasterize` (same arguments and return) with the tile compositor."""
    return diff_raster.rasterize(means, quats, scales, opacities, colors, viewmats, Ks, width, height,
                                 sh_degree=sh_degree, backgrounds=backgrounds, pixel_masks=pixel_masks,
                                 compositor=composite, **kwargs)

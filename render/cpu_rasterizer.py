"""The project's own CPU tile rasterizer for 3D Gaussians (numba), written to gsplat's conventions.

It reproduces `gsplat.rasterization(..., render_mode="RGB+ED", rasterize_mode="classic")` of
gsplat 1.5 (the version the project pins), so that both backends give the same image:

- projection (gsplat `fully_fused_projection`, pinhole): world-to-camera with the view matrix;
  culled when z < near_plane or z > far_plane; covariance R S S^T R^T taken to the camera by
  W Sigma W^T and to the image by the EWA Jacobian J, whose x/z and y/z are clamped to the
  frustum widened by 0.3 tan(fov/2) (gsplat's margin); eps2d = 0.3 added to the 2D covariance
  diagonal (no compensation); culled when det <= 0 or opacity < 1/255; opacity-aware
  axis-aligned radii `ceil(extend * sqrt(cov2d_ii))`, `extend = min(3.33, sqrt(2 ln(255 opacity)))`;
  culled when that box misses the image. (Older gsplat used ceil(3 sqrt(max eigenvalue)); any
  box that contains the ellipse where alpha >= 1/255 gives the same pixels.)
- colour: SH of the scene's degree evaluated for the direction camera centre -> mean, + 0.5,
  clamped at 0.
- 16 x 16 tiles; each tile's Gaussians front to back by camera depth, ties by index (gsplat's
  stable radix sort). Gaussians are depth-sorted once and binned into tiles with a stable
  counting sort (prefix sums), so every tile list comes out sorted.
- per pixel (centre at +0.5): sigma = 0.5 (a dx^2 + c dy^2) + b dx dy with the conic (a, b, c);
  alpha = min(0.999, opacity exp(-sigma)); skipped when sigma < 0 or alpha < 1/255; the pixel
  stops, exclusive, at the Gaussian that would take the transmittance T to <= 1e-4.
- outputs: rgb = sum(w c) + T background, alpha = 1 - T, expected depth sum(w z) / max(alpha, 1e-10).

Parallel over Gaussians for the projection and over tiles for compositing; within a tile each
Gaussian only visits the pixels of its box, and the tile stops once all its pixels are done.
"""

from __future__ import annotations

import os
import threading

import numba
import numpy as np
from numba import njit, prange

from render.gaussians import ActivatedGaussians

# Numba's OpenMP layer busy-waits its worker threads. On the project's small shared machine
# (2 cores, other processes running) that made a 480x270 frame of the 200k street 3x slower
# than the workqueue layer (measured 110-146 ms against 35-40 ms, load average 3-4). The
# workqueue layer must not be entered by two threads at once (a gRPC server renders from a
# thread pool), so every parallel kernel of `render` runs under PARALLEL_LOCK. A layer named
# in NUMBA_THREADING_LAYER is left alone. The kernels release the GIL (nogil), so a server's
# other calls (another client's GetInfo or Step) run while one session renders.
if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"
PARALLEL_LOCK = threading.RLock()

TILE_SIZE = 16
EPS2D = 0.3
NEAR_PLANE = 0.01
FAR_PLANE = 1e10
ALPHA_THRESHOLD = 1.0 / 255.0
MAX_ALPHA = 0.999
TRANSMITTANCE_STOP = 1e-4


@njit(fastmath=True, cache=True, inline="always")
def _sh_color(sh, i, degree, dx, dy, dz, out, o):
    """out[o, :] = max(SH_i(dir) + 0.5, 0), gsplat's basis (Sloan 2013) and band order."""
    inv = 1.0 / max(np.sqrt(dx * dx + dy * dy + dz * dz), 1e-12)
    x, y, z = dx * inv, dy * inv, dz * inv
    for c in range(3):
        v = 0.28209479177387814 * sh[i, 0, c]
        if degree >= 1:
            v += (-0.48860251190292 * y * sh[i, 1, c] + 0.48860251190292 * z * sh[i, 2, c]
                  - 0.48860251190292 * x * sh[i, 3, c])
        if degree >= 2:
            z2 = z * z
            fc1, fs1 = x * x - y * y, 2.0 * x * y
            v += (0.5462742152960395 * fs1 * sh[i, 4, c] - 1.092548430592079 * z * y * sh[i, 5, c]
                  + (0.9461746957575601 * z2 - 0.3153915652525201) * sh[i, 6, c]
                  - 1.092548430592079 * z * x * sh[i, 7, c] + 0.5462742152960395 * fc1 * sh[i, 8, c])
            if degree >= 3:
                fc2, fs2 = x * fc1 - y * fs1, x * fs1 + y * fc1
                tc = -2.285228997322329 * z2 + 0.4570457994644658
                tb = 1.445305721320277 * z
                v += (-0.5900435899266435 * fs2 * sh[i, 9, c] + tb * fs1 * sh[i, 10, c] + tc * y * sh[i, 11, c]
                      + z * (1.865881662950577 * z2 - 1.119528997770346) * sh[i, 12, c]
                      + tc * x * sh[i, 13, c] + tb * fc1 * sh[i, 14, c] - 0.5900435899266435 * fc2 * sh[i, 15, c])
        out[o, c] = max(v + 0.5, 0.0)


@njit(fastmath=True, cache=True, inline="always")
def _tile_rect(u, v, rad_x, rad_y, tile_size, tiles_x, tiles_y, out, i):
    """out[i] = (x0, y0, x1, y1): the tiles holding a pixel centre (p + 0.5) within the box."""
    out[i, 0] = max(0, int(np.floor((u - rad_x - 0.5) / tile_size)))
    out[i, 1] = max(0, int(np.floor((v - rad_y - 0.5) / tile_size)))
    out[i, 2] = min(tiles_x, int(np.floor((u + rad_x - 0.5) / tile_size)) + 1)
    out[i, 3] = min(tiles_y, int(np.floor((v + rad_y - 0.5) / tile_size)) + 1)


@njit(parallel=True, fastmath=True, cache=True, nogil=True)
def tile_rects(xy, radius, tile_size, tiles_x, tiles_y):
    """(N, 4) int32 tile rectangles of projected Gaussians (xy (N, 2) pixels, radius (N, 2) int,
    0 where culled: an empty rectangle)."""
    out = np.zeros((xy.shape[0], 4), np.int32)
    for i in prange(xy.shape[0]):
        if radius[i, 0] > 0 and radius[i, 1] > 0:
            _tile_rect(xy[i, 0], xy[i, 1], np.float32(radius[i, 0]), np.float32(radius[i, 1]), tile_size, tiles_x,
                       tiles_y, out, i)
    return out


@njit(parallel=True, fastmath=True, cache=True, nogil=True)
def _project(means, covariances, opacities, sh, sh_degree, viewmat, fx, fy, cx, cy, width, height,
             eps2d, near_plane, far_plane, tile_size, tiles_x, tiles_y,
             out_xy, out_conic, out_depth, out_rgb, out_radius, out_tile_rect):
    """Project every Gaussian; culled ones get an empty tile rectangle (x0 == x1)."""
    r00, r01, r02, t0 = viewmat[0, 0], viewmat[0, 1], viewmat[0, 2], viewmat[0, 3]
    r10, r11, r12, t1 = viewmat[1, 0], viewmat[1, 1], viewmat[1, 2], viewmat[1, 3]
    r20, r21, r22, t2 = viewmat[2, 0], viewmat[2, 1], viewmat[2, 2], viewmat[2, 3]
    # camera centre in world: -R^T t
    px = -(r00 * t0 + r10 * t1 + r20 * t2)
    py = -(r01 * t0 + r11 * t1 + r21 * t2)
    pz = -(r02 * t0 + r12 * t1 + r22 * t2)
    lim_x_pos = (width - cx) / fx + 0.3 * (0.5 * width / fx)
    lim_x_neg = cx / fx + 0.3 * (0.5 * width / fx)
    lim_y_pos = (height - cy) / fy + 0.3 * (0.5 * height / fy)
    lim_y_neg = cy / fy + 0.3 * (0.5 * height / fy)
    for i in prange(means.shape[0]):
        out_tile_rect[i, 0] = 0
        out_tile_rect[i, 2] = 0
        mx, my, mz = means[i, 0], means[i, 1], means[i, 2]
        z = r20 * mx + r21 * my + r22 * mz + t2
        if z < near_plane or z > far_plane:
            continue
        opacity = opacities[i]
        if opacity < ALPHA_THRESHOLD:
            continue
        x = r00 * mx + r01 * my + r02 * mz + t0
        y = r10 * mx + r11 * my + r12 * mz + t1
        rz = 1.0 / z
        u = fx * x * rz + cx
        v = fy * y * rz + cy
        tx = z * min(lim_x_pos, max(-lim_x_neg, x * rz))
        ty = z * min(lim_y_pos, max(-lim_y_neg, y * rz))
        # rows of T = J W (2 x 3); cov2d = T Sigma T^T
        j00, j02 = fx * rz, -fx * tx * rz * rz
        j11, j12 = fy * rz, -fy * ty * rz * rz
        a0, a1, a2 = j00 * r00 + j02 * r20, j00 * r01 + j02 * r21, j00 * r02 + j02 * r22
        b0, b1, b2 = j11 * r10 + j12 * r20, j11 * r11 + j12 * r21, j11 * r12 + j12 * r22
        sxx, sxy, sxz = covariances[i, 0], covariances[i, 1], covariances[i, 2]
        syy, syz, szz = covariances[i, 3], covariances[i, 4], covariances[i, 5]
        sa0 = sxx * a0 + sxy * a1 + sxz * a2
        sa1 = sxy * a0 + syy * a1 + syz * a2
        sa2 = sxz * a0 + syz * a1 + szz * a2
        c00 = a0 * sa0 + a1 * sa1 + a2 * sa2 + eps2d
        c01 = b0 * sa0 + b1 * sa1 + b2 * sa2
        c11 = (b0 * (sxx * b0 + sxy * b1 + sxz * b2) + b1 * (sxy * b0 + syy * b1 + syz * b2)
               + b2 * (sxz * b0 + syz * b1 + szz * b2)) + eps2d
        det = c00 * c11 - c01 * c01
        if det <= 0.0:
            continue
        extend = min(3.33, np.sqrt(2.0 * np.log(opacity / ALPHA_THRESHOLD)))
        rad_x = np.ceil(extend * np.sqrt(c00))
        rad_y = np.ceil(extend * np.sqrt(c11))
        if u + rad_x <= 0.0 or u - rad_x >= width or v + rad_y <= 0.0 or v - rad_y >= height:
            continue
        inv_det = 1.0 / det
        out_xy[i, 0], out_xy[i, 1] = u, v
        out_conic[i, 0], out_conic[i, 1], out_conic[i, 2] = c11 * inv_det, -c01 * inv_det, c00 * inv_det
        out_depth[i] = z
        out_radius[i, 0], out_radius[i, 1] = int(rad_x), int(rad_y)
        _tile_rect(u, v, rad_x, rad_y, tile_size, tiles_x, tiles_y, out_tile_rect, i)
        _sh_color(sh, i, sh_degree, mx - px, my - py, mz - pz, out_rgb, i)


@njit(cache=True, nogil=True)
def bin_tiles(order, tile_rect, tiles_x, num_tiles):
    """Stable counting sort of (tile, Gaussian) pairs: CSR offsets (num_tiles + 1,) and ids.

    `order` lists the visible Gaussians front to back, so each tile's list is depth-sorted.
    """
    offsets = np.zeros(num_tiles + 1, np.int64)
    for g in order:
        for ty in range(tile_rect[g, 1], tile_rect[g, 3]):
            for tx in range(tile_rect[g, 0], tile_rect[g, 2]):
                offsets[ty * tiles_x + tx + 1] += 1
    for t in range(num_tiles):
        offsets[t + 1] += offsets[t]
    cursor = offsets[:-1].copy()
    ids = np.empty(offsets[-1], np.int32)
    for g in order:
        for ty in range(tile_rect[g, 1], tile_rect[g, 3]):
            for tx in range(tile_rect[g, 0], tile_rect[g, 2]):
                t = ty * tiles_x + tx
                ids[cursor[t]] = g
                cursor[t] += 1
    return offsets, ids


@njit(fastmath=True, cache=True, inline="always")
def _exp_neg(sigma):
    """exp(-sigma) for sigma in [0, 8] (larger arguments give alphas below 1/255 anyway).

    exp(-s/16) by a degree-7 Taylor polynomial, then squared four times: relative error about
    2e-6 (gsplat itself uses CUDA's approximate __expf). Unlike np.exp without SVML, this
    vectorizes, which makes the per-pixel loop several times faster.
    """
    x = min(max(sigma, np.float32(0.0)), np.float32(8.0)) * np.float32(-0.0625)
    p = np.float32(1.0 / 5040.0)
    p = p * x + np.float32(1.0 / 720.0)
    p = p * x + np.float32(1.0 / 120.0)
    p = p * x + np.float32(1.0 / 24.0)
    p = p * x + np.float32(1.0 / 6.0)
    p = p * x + np.float32(0.5)
    p = p * x + np.float32(1.0)
    p = p * x + np.float32(1.0)
    p = p * p
    p = p * p
    p = p * p
    return p * p


@njit(parallel=True, fastmath=True, cache=True, nogil=True)
def composite_tiles(tile_order, offsets, ids, xy, conic, opacities, rgb, depth, radius, width, height, tiles_x,
                    tile_size, pixel_mask, out_acc, out_trans, out_last):
    """Front-to-back compositing, one tile per task; `tile_order` interleaves costly and cheap
    tiles so that the threads' static shares of the range balance.

    Writes, per pixel, out_acc (H, W, 4) = sum of w (r, g, b, z), out_trans (H, W) the final
    transmittance T and out_last (H, W) the index into `ids` of the last Gaussian drawn (-1:
    none), which the backward pass (`render.reconstruct.tile_raster`) starts from. Pixels where
    pixel_mask (H, W) is False are not drawn (T = 1).
    """
    thr = np.float32(ALPHA_THRESHOLD)
    for i in prange(tile_order.shape[0]):
        tile = tile_order[i]
        x0 = (tile % tiles_x) * tile_size
        y0 = (tile // tiles_x) * tile_size
        x1 = min(x0 + tile_size, width)
        y1 = min(y0 + tile_size, height)
        tw = x1 - x0
        n_pix = tw * (y1 - y0)
        # trans[p] < 0 marks a finished pixel (its transmittance is -trans[p])
        trans = np.ones(n_pix, np.float32)
        acc_r = np.zeros(n_pix, np.float32)
        acc_g = np.zeros(n_pix, np.float32)
        acc_b = np.zeros(n_pix, np.float32)
        acc_z = np.zeros(n_pix, np.float32)
        last = np.full(n_pix, -1, np.int32)  # int32: the lanes of the float32 loop below
        row_done = np.zeros(tile_size, np.float32)
        for p in range(n_pix):
            if not pixel_mask[y0 + p // tw, x0 + p % tw]:
                trans[p] = np.float32(-1.0)
                row_done[p // tw] += np.float32(1.0)
        n_done = row_done.sum()
        for k in range(offsets[tile], offsets[tile + 1]):
            if n_done == n_pix:
                break
            g = ids[k]
            k32 = np.int32(k)
            gx, gy = xy[g, 0], xy[g, 1]
            ca, cb, cc = conic[g, 0], conic[g, 1], conic[g, 2]
            op = opacities[g]
            cr, cgr, cbl, cz = rgb[g, 0], rgb[g, 1], rgb[g, 2], depth[g]
            # pixels outside the box have alpha < 1/255: skip them without evaluating
            px0 = max(x0, int(np.ceil(gx - radius[g, 0] - 0.5)))
            px1 = min(x1, int(np.floor(gx + radius[g, 0] - 0.5)) + 1)
            py0 = max(y0, int(np.ceil(gy - radius[g, 1] - 0.5)))
            py1 = min(y1, int(np.floor(gy + radius[g, 1] - 0.5)) + 1)
            for py in range(py0, py1):
                if row_done[py - y0] == tw:
                    continue
                dy = gy - (np.float32(py) + np.float32(0.5))
                half_cc_dy2 = np.float32(0.5) * cc * dy * dy
                cb_dy = cb * dy
                row = (py - y0) * tw - x0
                stopped = np.float32(0.0)
                # Branch-free, unsigned indices (no wraparound code) and a float counter, so
                # that LLVM vectorizes it: every pixel of the span is evaluated and gsplat's
                # conditions select what is written back.
                for p in range(np.uint64(row + px0), np.uint64(row + px1)):
                    dx = gx - (np.float32(p - row) + np.float32(0.5))
                    sigma = np.float32(0.5) * ca * dx * dx + half_cc_dy2 + cb_dy * dx
                    alpha = min(np.float32(MAX_ALPHA), op * _exp_neg(sigma))
                    t = trans[p]
                    next_t = t * (np.float32(1.0) - alpha)
                    live = (sigma >= np.float32(0.0)) & (alpha >= thr) & (t > np.float32(0.0))
                    stop = live & (next_t <= np.float32(TRANSMITTANCE_STOP))
                    use = live & ~stop
                    w = alpha * t if use else np.float32(0.0)
                    acc_r[p] += cr * w
                    acc_g[p] += cgr * w
                    acc_b[p] += cbl * w
                    acc_z[p] += cz * w
                    trans[p] = next_t if use else (-t if stop else t)
                    last[p] = k32 if use else last[p]
                    stopped += np.float32(1.0) if stop else np.float32(0.0)
                row_done[py - y0] += stopped
                n_done += stopped
        for p in range(n_pix):
            py = y0 + p // tw
            px = x0 + p % tw
            out_trans[py, px] = abs(trans[p])
            out_last[py, px] = last[p]
            out_acc[py, px, 0] = acc_r[p]
            out_acc[py, px, 1] = acc_g[p]
            out_acc[py, px, 2] = acc_b[p]
            out_acc[py, px, 3] = acc_z[p]


@njit(parallel=True, fastmath=True, cache=True, nogil=True)
def _finish(acc, trans, background, out_rgb, out_depth, out_alpha):
    """rgb = acc + T background, alpha = 1 - T, expected depth = acc_z / max(alpha, 1e-10)."""
    for py in prange(acc.shape[0]):
        for px in range(acc.shape[1]):
            t = trans[py, px]
            a = np.float32(1.0) - t
            out_alpha[py, px] = a
            for c in range(3):
                out_rgb[py, px, c] = acc[py, px, c] + t * background[c]
            out_depth[py, px] = acc[py, px, 3] / max(a, np.float32(1e-10))


def interleaved_tiles(num_tiles: int) -> np.ndarray:
    """Tile indices dealt round-robin to the threads' contiguous prange shares."""
    k = max(numba.get_num_threads(), 1)
    return np.concatenate([np.arange(j, num_tiles, k) for j in range(k)]).astype(np.int64)


def rasterize_cpu(gaussians: ActivatedGaussians | list[ActivatedGaussians], viewmats_world_to_camera: np.ndarray,
                  Ks: np.ndarray, width: int, height: int, background_rgb: np.ndarray | None = None,
                  eps2d: float = EPS2D, near_plane: float = NEAR_PLANE, far_plane: float = FAR_PLANE,
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render C cameras: (rgb (C, H, W, 3), depth (C, H, W) expected z, alpha (C, H, W)), float32.

    gaussians: one set, or several drawn together as if concatenated in order (a static
    background and per-frame actors: each set is projected into its slice of one buffer, so
    the background is never copied). viewmats_world_to_camera: (C, 4, 4) OpenCV axes;
    Ks: (C, 3, 3); background_rgb: (3,) in [0, 1].
    """
    parts = [gaussians] if isinstance(gaussians, ActivatedGaussians) else list(gaussians)
    with PARALLEL_LOCK:
        return _rasterize(parts, viewmats_world_to_camera, Ks, width, height, background_rgb, eps2d, near_plane,
                          far_plane)


def _rasterize(parts, viewmats_world_to_camera, Ks, width, height, background_rgb, eps2d, near_plane, far_plane):
    viewmats = np.asarray(viewmats_world_to_camera, np.float64)
    Ks = np.asarray(Ks, np.float64)
    num_cameras = viewmats.shape[0]
    background = np.zeros(3, np.float32) if background_rgb is None else np.asarray(background_rgb, np.float32)
    tiles_x = (width + TILE_SIZE - 1) // TILE_SIZE
    tiles_y = (height + TILE_SIZE - 1) // TILE_SIZE
    bounds = np.concatenate([[0], np.cumsum([p.num_gaussians for p in parts])])
    n = int(bounds[-1])
    opacities = parts[0].opacities if len(parts) == 1 else np.concatenate([p.opacities for p in parts])
    rgb = np.empty((num_cameras, height, width, 3), np.float32)
    depth_img = np.empty((num_cameras, height, width), np.float32)
    alpha = np.empty((num_cameras, height, width), np.float32)
    xy = np.empty((n, 2), np.float32)
    conic = np.empty((n, 3), np.float32)
    depth = np.empty(n, np.float32)
    colors = np.empty((n, 3), np.float32)
    radius = np.empty((n, 2), np.int32)
    tile_rect = np.empty((n, 4), np.int32)
    everywhere = np.ones((height, width), np.bool_)
    acc = np.empty((height, width, 4), np.float32)
    trans = np.empty((height, width), np.float32)
    last = np.empty((height, width), np.int32)
    for c in range(num_cameras):
        k = Ks[c]
        for part, a, b in zip(parts, bounds[:-1], bounds[1:]):
            _project(part.means, part.covariances, part.opacities, part.sh, part.sh_degree, viewmats[c],
                     k[0, 0], k[1, 1], k[0, 2], k[1, 2], width, height, eps2d, near_plane, far_plane, TILE_SIZE,
                     tiles_x, tiles_y, xy[a:b], conic[a:b], depth[a:b], colors[a:b], radius[a:b], tile_rect[a:b])
        visible = np.flatnonzero((tile_rect[:, 2] > tile_rect[:, 0]) & (tile_rect[:, 3] > tile_rect[:, 1]))
        order = visible[np.argsort(depth[visible], kind="stable")]
        offsets, ids = bin_tiles(order, tile_rect, tiles_x, tiles_x * tiles_y)
        composite_tiles(interleaved_tiles(tiles_x * tiles_y), offsets, ids, xy, conic, opacities, colors, depth,
                        radius, width, height, tiles_x, TILE_SIZE, everywhere, acc, trans, last)
        _finish(acc, trans, background, rgb[c], depth_img[c], alpha[c])
    return rgb, depth_img, alpha

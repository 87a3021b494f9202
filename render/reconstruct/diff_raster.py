"""A differentiable pure-torch Gaussian rasterizer (CPU or any torch device), gsplat's conventions.

It draws the same image as `render.cpu_rasterizer` (and so as `gsplat.rasterization(...,
rasterize_mode="classic")`), and autograd differentiates it with respect to every Gaussian
parameter, so reconstruction runs where gsplat's CUDA kernels cannot.

Projection (as gsplat's `fully_fused_projection`, pinhole): world-to-camera with the view
matrix; culled when z < near or z > far; 3D covariance R S S^T R^T taken to the camera by
W Sigma W^T and to the image by the EWA Jacobian, whose x/z and y/z are clamped to the frustum
widened by 0.3 tan(fov/2); eps2d = 0.3 added to the 2D covariance diagonal; culled when
det <= 0 or opacity < 1/255; opacity-aware radii ceil(min(3.33, sqrt(2 ln(255 o))) sqrt(cov_ii)),
culled when that box misses the image. Colour: SH of the given degree for the direction
camera centre -> mean, + 0.5, clamped at 0.

Compositing is sparse and exact rather than tiled: every (pixel, Gaussian) pair whose pixel
centre lies in the Gaussian's box is listed (Gaussians pre-sorted by depth, so a stable sort
of the pairs by pixel leaves each pixel's list front to back), and per pair
sigma = 0.5 (a dx^2 + c dy^2) + b dx dy, alpha = min(0.999, o exp(-sigma)), dropped when
sigma < 0 or alpha < 1/255. Transmittance is a segmented exclusive cumulative sum of
log(1 - alpha) per pixel (float64); a pixel stops, exclusively, at the pair that would take
T to <= 1e-4 (T only decreases, so "T after the pair <= 1e-4" marks that pair and every one
behind it). Outputs: rgb = sum(w c) + T background, alpha = 1 - T, expected depth
sum(w z) / max(alpha, 1e-10). Memory is proportional to the number of pairs; when that would
exceed `max_pairs`, the image is drawn in bands of rows (chunks), each band independently.

`rasterize` mirrors `gsplat.rasterization`'s arguments and returns (colors, alphas, info) with
info["means2d"] (C, N, 2) and info["radii"] (C, N, 2), the keys gsplat's densification
strategies read, so the training loop treats both rasterizers alike.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# One set of gsplat conventions for both rasterizers: the forward passes must agree.
from render.cpu_rasterizer import ALPHA_THRESHOLD, EPS2D, FAR_PLANE, MAX_ALPHA, NEAR_PLANE, TRANSMITTANCE_STOP
from render.gaussians import SH_C0

DEFAULT_MAX_PAIRS = 3_000_000


def quat_to_rotmat(quats_wxyz: torch.Tensor) -> torch.Tensor:
    """(N, 3, 3) rotations of quaternions (N, 4) w, x, y, z (normalised here)."""
    q = F.normalize(quats_wxyz, dim=-1)
    w, x, y, z = q.unbind(-1)
    return torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], dim=-1).reshape(q.shape[:-1] + (3, 3))


def quat_multiply(a_wxyz: torch.Tensor, b_wxyz: torch.Tensor) -> torch.Tensor:
    """Hamilton products a * b of quaternions (..., 4), w, x, y, z."""
    aw, ax, ay, az = a_wxyz.unbind(-1)
    bw, bx, by, bz = b_wxyz.unbind(-1)
    return torch.stack([aw * bw - ax * bx - ay * by - az * bz, aw * bx + ax * bw + ay * bz - az * by,
                        aw * by - ax * bz + ay * bw + az * bx, aw * bz + ax * by - ay * bx + az * bw], dim=-1)


def sh_to_color(sh: torch.Tensor, dirs: torch.Tensor, degree: int) -> torch.Tensor:
    """(N, 3) colours max(SH(dir) + 0.5, 0) of coefficients (N, K, 3) seen along dirs (N, 3).

    gsplat's basis and band order (Sloan 2013, as INRIA 3DGS); bands above `degree` ignored.
    """
    d = F.normalize(dirs, dim=-1)
    x, y, z = d.unbind(-1)
    out = SH_C0 * sh[:, 0]
    if degree >= 1:
        out = out + (-0.48860251190292 * y)[:, None] * sh[:, 1] + (0.48860251190292 * z)[:, None] * sh[:, 2] \
            + (-0.48860251190292 * x)[:, None] * sh[:, 3]
    if degree >= 2:
        z2 = z * z
        fc1, fs1 = x * x - y * y, 2.0 * x * y
        terms = [0.5462742152960395 * fs1, -1.092548430592079 * z * y, 0.9461746957575601 * z2 - 0.3153915652525201,
                 -1.092548430592079 * z * x, 0.5462742152960395 * fc1]
        for j, t in enumerate(terms):
            out = out + t[:, None] * sh[:, 4 + j]
        if degree >= 3:
            fc2, fs2 = x * fc1 - y * fs1, x * fs1 + y * fc1
            tc = -2.285228997322329 * z2 + 0.4570457994644658
            tb = 1.445305721320277 * z
            terms = [-0.5900435899266435 * fs2, tb * fs1, tc * y, z * (1.865881662950577 * z2 - 1.119528997770346),
                     tc * x, tb * fc1, -0.5900435899266435 * fc2]
            for j, t in enumerate(terms):
                out = out + t[:, None] * sh[:, 9 + j]
    return torch.clamp_min(out + 0.5, 0.0)


def project(means: torch.Tensor, quats: torch.Tensor, scales: torch.Tensor, opacities: torch.Tensor,
            viewmat: torch.Tensor, K: torch.Tensor, width: int, height: int, eps2d: float = EPS2D,
            near_plane: float = NEAR_PLANE, far_plane: float = FAR_PLANE):
    """EWA projection of N Gaussians into one camera (gsplat's pinhole conventions).

    means (N, 3) world; quats (N, 4) w, x, y, z; scales (N, 3) standard deviations (activated);
    opacities (N,) activated; viewmat (4, 4) world-to-camera; K (3, 3).
    Returns means2d (N, 2) pixels, conics (N, 3) (a, b, c of the inverse 2D covariance),
    depths (N,) camera z, radii (N, 2) int32 (0 where culled), all differentiable except radii.
    """
    rot = viewmat[:3, :3]
    t = viewmat[:3, 3]
    mc = means @ rot.T + t
    x, y, z = mc.unbind(-1)
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    z_safe = torch.where(z.abs() > 1e-6, z, torch.full_like(z, 1e-6))
    rz = 1.0 / z_safe
    u = fx * x * rz + cx
    v = fy * y * rz + cy
    lim_x_pos = (width - cx) / fx + 0.3 * (0.5 * width / fx)
    lim_x_neg = cx / fx + 0.3 * (0.5 * width / fx)
    lim_y_pos = (height - cy) / fy + 0.3 * (0.5 * height / fy)
    lim_y_neg = cy / fy + 0.3 * (0.5 * height / fy)
    tx = z * torch.clamp(x * rz, min=-lim_x_neg, max=lim_x_pos)
    ty = z * torch.clamp(y * rz, min=-lim_y_neg, max=lim_y_pos)
    zeros = torch.zeros_like(z)
    jac = torch.stack([fx * rz, zeros, -fx * tx * rz * rz, zeros, fy * rz, -fy * ty * rz * rz], -1).reshape(-1, 2, 3)
    m = quat_to_rotmat(quats) * scales[:, None, :]  # R S
    tm = jac @ (rot[None] @ m)  # J W R S, (N, 2, 3)
    cov2d = tm @ tm.transpose(1, 2)
    c00 = cov2d[:, 0, 0] + eps2d
    c01 = cov2d[:, 0, 1]
    c11 = cov2d[:, 1, 1] + eps2d
    det = c00 * c11 - c01 * c01
    det_safe = torch.where(det > 0, det, torch.ones_like(det))
    conics = torch.stack([c11 / det_safe, -c01 / det_safe, c00 / det_safe], -1)
    with torch.no_grad():
        ok = (z >= near_plane) & (z <= far_plane) & (opacities >= ALPHA_THRESHOLD) & (det > 0)
        extend = torch.clamp(torch.sqrt(2.0 * torch.log(torch.clamp_min(opacities, ALPHA_THRESHOLD) / ALPHA_THRESHOLD)),
                             max=3.33)
        rad_x = torch.ceil(extend * torch.sqrt(torch.clamp_min(c00, 0.0)))
        rad_y = torch.ceil(extend * torch.sqrt(torch.clamp_min(c11, 0.0)))
        ok &= ~((u + rad_x <= 0) | (u - rad_x >= width) | (v + rad_y <= 0) | (v - rad_y >= height))
        ok &= torch.isfinite(u) & torch.isfinite(v)
        radii = torch.stack([rad_x, rad_y], -1)
        radii = torch.where(ok[:, None], radii, torch.zeros_like(radii)).to(torch.int32)
    return torch.stack([u, v], -1), conics, z, radii


def _pairs(means2d: torch.Tensor, radii: torch.Tensor, order: torch.Tensor, width: int, y0: int, y1: int,
           pixel_mask: torch.Tensor | None):
    """(pixel index in the band, Gaussian index) of every pair whose pixel centre lies in the box,
    Gaussians in `order` (front to back), pairs sorted by pixel (stably, so by depth within)."""
    device = means2d.device
    g = order
    u, v = means2d[g, 0].detach(), means2d[g, 1].detach()
    rx, ry = radii[g, 0].to(u.dtype), radii[g, 1].to(u.dtype)
    x0 = torch.clamp(torch.ceil(u - rx - 0.5), 0, width).long()
    x1 = torch.clamp(torch.floor(u + rx - 0.5) + 1, 0, width).long()
    ya = torch.clamp(torch.ceil(v - ry - 0.5), y0, y1).long()
    yb = torch.clamp(torch.floor(v + ry - 0.5) + 1, y0, y1).long()
    bw = torch.clamp_min(x1 - x0, 0)
    bh = torch.clamp_min(yb - ya, 0)
    counts = bw * bh
    keep = counts > 0
    g, x0, ya, bw, counts = g[keep], x0[keep], ya[keep], bw[keep], counts[keep]
    total = int(counts.sum())
    if total == 0:
        empty = torch.zeros(0, dtype=torch.long, device=device)
        return empty, empty
    starts = torch.cumsum(counts, 0) - counts
    owner = torch.repeat_interleave(torch.arange(len(g), device=device), counts, output_size=total)
    local = torch.arange(total, device=device) - starts[owner]
    px = x0[owner] + local % bw[owner]
    py = ya[owner] + local // bw[owner]
    pix = (py - y0) * width + px
    gid = g[owner]
    if pixel_mask is not None:
        sel = pixel_mask[y0:y1].reshape(-1)[pix]
        pix, gid = pix[sel], gid[sel]
    pix, perm = torch.sort(pix, stable=True)
    return pix, gid[perm]


def _count_pairs(means2d: torch.Tensor, radii: torch.Tensor, visible: torch.Tensor, width: int,
                 height: int) -> torch.Tensor:
    """How many (pixel, Gaussian) pairs the whole image has (chooses the number of bands)."""
    u, v = means2d[visible, 0].detach(), means2d[visible, 1].detach()
    rx, ry = radii[visible, 0].to(u.dtype), radii[visible, 1].to(u.dtype)
    x0 = torch.clamp(torch.ceil(u - rx - 0.5), 0, width)
    bw = torch.clamp_min(torch.clamp(torch.floor(u + rx - 0.5) + 1, 0, width) - x0, 0)
    ya = torch.clamp(torch.ceil(v - ry - 0.5), 0, height)
    yb = torch.clamp(torch.floor(v + ry - 0.5) + 1, 0, height)
    return (bw * torch.clamp_min(yb - ya, 0)).sum()


def composite(means2d: torch.Tensor, conics: torch.Tensor, depths: torch.Tensor, radii: torch.Tensor,
              opacities: torch.Tensor, colors: torch.Tensor, width: int, height: int,
              background: torch.Tensor | None = None, pixel_mask: torch.Tensor | None = None,
              max_pairs: int = DEFAULT_MAX_PAIRS) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Front-to-back compositing of projected Gaussians into one image (see the module docstring).

    Returns rgb (H, W, 3), alpha (H, W), expected depth (H, W). pixel_mask (H, W) bool: only
    those pixels are drawn (the others get the background and alpha 0), to save work when a loss
    reads a few pixels only.
    """
    device, dtype = means2d.device, means2d.dtype
    visible = torch.nonzero((radii > 0).all(-1))[:, 0]
    order = visible[torch.sort(depths.detach()[visible], stable=True).indices]
    total = float(_count_pairs(means2d, radii, visible, width, height)) if len(visible) else 0.0
    num_bands = max(1, math.ceil(total / max_pairs))
    band_rows = max(1, math.ceil(height / num_bands))
    features = torch.cat([colors, depths[:, None]], dim=1)  # (N, 4)
    acc_rows, trans_rows = [], []
    for y0 in range(0, height, band_rows):
        y1 = min(height, y0 + band_rows)
        n_pix = (y1 - y0) * width
        pix, gid = _pairs(means2d, radii, order, width, y0, y1, pixel_mask)
        if len(pix) == 0:
            acc_rows.append(torch.zeros(n_pix, 4, device=device, dtype=dtype))
            trans_rows.append(torch.ones(n_pix, device=device, dtype=dtype))
            continue
        pc = torch.stack([(pix % width).to(dtype) + 0.5, (pix // width + y0).to(dtype) + 0.5], -1)
        d = means2d[gid] - pc  # gsplat: delta = mean - pixel (the sign does not matter in sigma)
        con = conics[gid]
        sigma = 0.5 * (con[:, 0] * d[:, 0] * d[:, 0] + con[:, 2] * d[:, 1] * d[:, 1]) + con[:, 1] * d[:, 0] * d[:, 1]
        alpha = torch.clamp_max(opacities[gid] * torch.exp(-sigma), MAX_ALPHA)
        with torch.no_grad():
            live = (sigma >= 0) & (alpha >= ALPHA_THRESHOLD)
        alpha = torch.where(live, alpha, torch.zeros_like(alpha))
        log_t = torch.log1p(-alpha).to(torch.float64)
        # segmented exclusive cumulative sum per pixel (pairs are sorted by pixel)
        _, seg_counts = torch.unique_consecutive(pix, return_counts=True)
        seg_starts = torch.cumsum(seg_counts, 0) - seg_counts
        excl = torch.cumsum(log_t, 0) - log_t
        excl = excl - torch.repeat_interleave(excl[seg_starts], seg_counts, output_size=len(pix))
        t_before = torch.exp(excl).to(dtype)
        with torch.no_grad():
            use = live & (t_before * (1.0 - alpha) > TRANSMITTANCE_STOP)
        w = torch.where(use, alpha * t_before, torch.zeros_like(alpha))
        acc = torch.zeros(n_pix, 4, device=device, dtype=dtype).index_add(0, pix, w[:, None] * features[gid])
        log_trans = torch.zeros(n_pix, device=device, dtype=torch.float64).index_add(
            0, pix, torch.where(use, log_t, torch.zeros_like(log_t)))
        acc_rows.append(acc)
        trans_rows.append(torch.exp(log_trans).to(dtype))
    acc = torch.cat(acc_rows).reshape(height, width, 4)
    trans = torch.cat(trans_rows).reshape(height, width)
    if pixel_mask is not None:
        trans = torch.where(pixel_mask, trans, torch.ones_like(trans))
    rgb = acc[..., :3]
    if background is not None:
        rgb = rgb + trans[..., None] * background
    alpha_img = 1.0 - trans
    depth = acc[..., 3] / torch.clamp_min(alpha_img, 1e-10)
    return rgb, alpha_img, depth


def rasterize(means: torch.Tensor, quats: torch.Tensor, scales: torch.Tensor, opacities: torch.Tensor,
              colors: torch.Tensor, viewmats: torch.Tensor, Ks: torch.Tensor, width: int, height: int,
              sh_degree: int | None = None, backgrounds: torch.Tensor | None = None,
              pixel_masks: torch.Tensor | None = None, eps2d: float = EPS2D, near_plane: float = NEAR_PLANE,
              far_plane: float = FAR_PLANE, max_pairs: int = DEFAULT_MAX_PAIRS, compositor=composite):
    """Render C cameras, differentiably; the arguments are `gsplat.rasterization`'s.

    means (N, 3), quats (N, 4) w, x, y, z (any norm), scales (N, 3) activated, opacities (N,)
    activated; colors: (N, K, 3) SH coefficients when sh_degree is given, else (N, 3) rgb;
    viewmats (C, 4, 4) world-to-camera (OpenCV axes); Ks (C, 3, 3); backgrounds (C, 3) or None
    (black); pixel_masks (C, H, W) bool or None (see `composite`); compositor: `composite` or
    another with its signature (`tile_raster.composite`, the numba tile kernels).
    Returns colors (C, H, W, 4) rgb + expected depth (gsplat's "RGB+ED"), alphas (C, H, W, 1)
    and info {"means2d": (C, N, 2), "radii": (C, N, 2) int32, "depths": (C, N), "width",
    "height", "n_cameras", "gaussian_ids": None}.
    """
    num_cameras = viewmats.shape[0]
    proj = [project(means, quats, scales, opacities, viewmats[c], Ks[c], width, height, eps2d, near_plane, far_plane)
            for c in range(num_cameras)]
    means2d = torch.stack([p[0] for p in proj])
    radii = torch.stack([p[3] for p in proj])
    depths = torch.stack([p[2] for p in proj])
    images, alphas = [], []
    for c in range(num_cameras):
        _, conics, z, _ = proj[c]
        if sh_degree is None:
            rgb = colors
        else:
            campos = -viewmats[c, :3, :3].T @ viewmats[c, :3, 3]
            rgb = sh_to_color(colors, means - campos, sh_degree)
        bg = None if backgrounds is None else backgrounds[c]
        mask = None if pixel_masks is None else pixel_masks[c]
        img, alpha, depth = compositor(means2d[c], conics, z, radii[c], opacities, rgb, width, height, bg, mask,
                                      max_pairs)
        images.append(torch.cat([img, depth[..., None]], -1))
        alphas.append(alpha[..., None])
    info = {"means2d": means2d, "radii": radii, "depths": depths, "width": width, "height": height,
            "n_cameras": num_cameras, "gaussian_ids": None}
    return torch.stack(images), torch.stack(alphas), info

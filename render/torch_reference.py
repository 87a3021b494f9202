"""A straightforward vectorized torch compositor: the correctness reference and the speed baseline.

Projection, covariances and SH colours come from gsplat's own pure-torch reference functions
(`gsplat.cuda._torch_impl`: `_quat_scale_to_covar_preci`, `_fully_fused_projection`,
`_spherical_harmonics`), which run on the CPU. gsplat's torch compositor does not (it needs
CUDA's `rasterize_to_indices_in_range` and nerfacc), so compositing is written here, densely:
for a band of image rows, every projected Gaussian whose box reaches the band is evaluated at
every pixel of the band, in depth order, a chunk of Gaussians at a time, with gsplat's
constants (alpha = min(0.999, o exp(-sigma)), skip alpha < 1/255 or sigma < 0, stop
exclusively when T would fall to <= 1e-4). No tiles, no per-Gaussian pixel boxes.
"""

from __future__ import annotations

import numpy as np
import torch

from render.gaussians import ActivatedGaussians

EPS2D = 0.3
NEAR_PLANE = 0.01
FAR_PLANE = 1e10


@torch.no_grad()
def rasterize_torch_reference(gaussians: ActivatedGaussians, viewmats_world_to_camera: np.ndarray, Ks: np.ndarray,
                              width: int, height: int, background_rgb: np.ndarray | None = None,
                              rows_per_band: int = 4, gaussians_per_chunk: int = 1024,
                              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render C cameras: (rgb (C, H, W, 3), depth (C, H, W) expected z, alpha (C, H, W)), float32."""
    from gsplat.cuda._torch_impl import _fully_fused_projection, _quat_scale_to_covar_preci, _spherical_harmonics

    means = torch.from_numpy(gaussians.means)
    covars, _ = _quat_scale_to_covar_preci(torch.from_numpy(gaussians.quats_wxyz),
                                           torch.from_numpy(gaussians.scales), compute_preci=False)
    opacities = torch.from_numpy(gaussians.opacities)
    sh = torch.from_numpy(gaussians.sh)
    background = torch.zeros(3) if background_rgb is None else torch.as_tensor(background_rgb, dtype=torch.float32)
    viewmats = torch.as_tensor(np.asarray(viewmats_world_to_camera), dtype=torch.float32)
    ks = torch.as_tensor(np.asarray(Ks), dtype=torch.float32)
    num_cameras = viewmats.shape[0]
    rgb = np.empty((num_cameras, height, width, 3), np.float32)
    depth = np.empty((num_cameras, height, width), np.float32)
    alpha = np.empty((num_cameras, height, width), np.float32)
    for c in range(num_cameras):
        radii, means2d, depths, conics, _ = _fully_fused_projection(
            means, covars, viewmats[c:c + 1], ks[c:c + 1], width, height, eps2d=EPS2D,
            near_plane=NEAR_PLANE, far_plane=FAR_PLANE)
        radii, means2d, depths, conics = radii[0], means2d[0], depths[0], conics[0]
        keep = (radii > 0).all(dim=-1)
        idx = torch.nonzero(keep)[:, 0]
        idx = idx[torch.sort(depths[idx], stable=True).indices]
        campos = torch.linalg.inv(viewmats[c])[:3, 3]
        colors = torch.clamp_min(_spherical_harmonics(gaussians.sh_degree, means[idx] - campos, sh[idx]) + 0.5, 0.0)
        out = _composite_dense(means2d[idx], conics[idx], opacities[idx], colors, depths[idx],
                               radii[idx, 1].float(), width, height, rows_per_band, gaussians_per_chunk)
        acc, trans = out
        rgb[c] = (acc[..., :3] + trans[..., None] * background).numpy()
        alpha[c] = (1.0 - trans).numpy()
        depth[c] = (acc[..., 3] / torch.clamp(1.0 - trans, min=1e-10)).numpy()
    return rgb, depth, alpha


def _composite_dense(means2d, conics, opacities, colors, depths, radius_y, width, height,
                     rows_per_band, gaussians_per_chunk):
    """Front-to-back compositing of depth-sorted Gaussians: (acc (H, W, 4) rgb+z, T (H, W))."""
    features = torch.cat([colors, depths[:, None]], dim=1)
    acc = torch.zeros(height, width, 4)
    trans_out = torch.ones(height, width)
    xs = torch.arange(width, dtype=torch.float32) + 0.5
    for y0 in range(0, height, rows_per_band):
        y1 = min(y0 + rows_per_band, height)
        ys = torch.arange(y0, y1, dtype=torch.float32) + 0.5
        pix = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), dim=-1).reshape(-1, 2).flip(-1)  # (P, 2) x, y
        band = torch.nonzero((means2d[:, 1] + radius_y > y0) & (means2d[:, 1] - radius_y < y1))[:, 0]
        trans = torch.ones(len(pix))
        done = torch.zeros(len(pix), dtype=torch.bool)
        band_acc = torch.zeros(len(pix), 4)
        for g0 in range(0, len(band), gaussians_per_chunk):
            g = band[g0:g0 + gaussians_per_chunk]
            d = pix[:, None, :] - means2d[None, g]  # (P, G, 2)
            con = conics[g]
            sigma = 0.5 * (con[:, 0] * d[..., 0] ** 2 + con[:, 2] * d[..., 1] ** 2) + con[:, 1] * d[..., 0] * d[..., 1]
            a = torch.clamp_max(opacities[g] * torch.exp(-sigma), 0.999)
            a = torch.where((sigma < 0) | (a < 1.0 / 255.0), torch.zeros_like(a), a)
            one_minus = 1.0 - a
            t_before = trans[:, None] * torch.cumprod(torch.cat([torch.ones(len(pix), 1), one_minus[:, :-1]], 1), 1)
            stop = (a > 0) & (t_before * one_minus <= 1e-4)
            # gsplat stops a pixel at its first such Gaussian, which is itself excluded
            before_stop = torch.cumsum(stop.int(), dim=1) == 0
            contrib = (a > 0) & before_stop & ~done[:, None]
            w = torch.where(contrib, a * t_before, torch.zeros_like(a))
            band_acc += w @ features[g]
            trans = trans * torch.prod(torch.where(contrib, one_minus, torch.ones_like(a)), dim=1)
            done |= stop.any(dim=1)
            if bool(done.all()):
                break
        acc[y0:y1] = band_acc.reshape(y1 - y0, width, 4)
        trans_out[y0:y1] = trans.reshape(y1 - y0, width)
    return acc, trans_out

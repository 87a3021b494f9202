"""The CUDA path of reconstruction: `gsplat.rasterization` as the training loop's rasterizer.

`fit.fit` takes any rasterizer with gsplat's signature; this module supplies gsplat's own, with
the settings the project renders with (`render.gsplat_backend`): classic rasterization,
eps2d 0.3, near plane 0.01, "RGB+ED" (colour + expected depth), unpacked, so info["means2d"]
(C, N, 2) and info["radii"] (C, N, 2) are what gsplat's `DefaultStrategy` reads. Colours are
passed already evaluated (the loop evaluates SH itself, in each actor's box frame), so
`sh_degree` is None here. gsplat computes gradients for every input; the loop's densification
(`fit._strategy`, gsplat's `DefaultStrategy`) is the same on both paths.

Nothing here runs without CUDA: `cuda_unavailable_reason()` says why, and the command line
falls back to (or refuses, for --device cuda) the CPU path.
"""

from __future__ import annotations

import torch

from render.gsplat_backend import gsplat_unavailable_reason


def cuda_unavailable_reason() -> str | None:
    """None when gsplat's CUDA rasterization can be used for fitting here, otherwise why not."""
    return gsplat_unavailable_reason()


def rasterize_gsplat(means: torch.Tensor, quats: torch.Tensor, scales: torch.Tensor, opacities: torch.Tensor,
                     colors: torch.Tensor, viewmats: torch.Tensor, Ks: torch.Tensor, width: int, height: int,
                     sh_degree: int | None = None, backgrounds: torch.Tensor | None = None, absgrad: bool = False,
                     **_ignored):
    """`gsplat.rasterization` with the project's settings; the same return as
    `diff_raster.rasterize`: colors (C, H, W, 4) rgb + expected depth, alphas (C, H, W, 1), info.

    Arguments the torch rasterizer takes and gsplat does not (pixel_masks, max_pairs) are
    ignored: gsplat always draws the whole image (the loss masks still apply).
    """
    from gsplat import rasterization

    return rasterization(
        means=means, quats=quats, scales=scales, opacities=opacities, colors=colors, viewmats=viewmats, Ks=Ks,
        width=int(width), height=int(height), near_plane=0.01, far_plane=1e10, eps2d=0.3, sh_degree=sh_degree,
        packed=False, backgrounds=backgrounds, render_mode="RGB+ED", rasterize_mode="classic", absgrad=absgrad)

"""Reconstruction: fit a Gaussian scene (static background + per-actor assets in box frames) to a
log's camera images, on CUDA with gsplat or on the CPU with the numba tile rasterizer.

Modules: `data` (frames, poses, boxes, masks), `init` (initial Gaussians, actor/background split),
`tile_raster` (the CPU training rasterizer: numba tiles with a backward pass), `diff_raster` (the
dense differentiable torch reference), `gsplat_fit` (the CUDA rasterizer),
`fit` (the shared training loop), `metrics` (PSNR, SSIM), `report` (evaluation, report, novel
views), `export` (files for `splatsim render --scene-file`), `selfcheck` (the no-images check).
See docs/reconstruction.md.
"""

CPU_RASTERIZERS = ("tile", "torch")  # `fit.rasterizer_for`'s choices on CPU

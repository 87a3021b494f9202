"""One rendering API over the rasterization backends: `render_rig`.

Backends: "gsplat" (CUDA), "cpu" (the project's numba rasterizer), "torch" (the dense
reference, slow: correctness and speed baseline only), "auto" (gsplat where CUDA is
available, otherwise cpu). All draw the same image for the same inputs.

The background is either a constant colour or a `SkyGradient`: a colour by ray elevation,
composited under the splats as rgb + (1 - alpha) * sky(ray). The sky is not made of
Gaussians, so it costs nothing in the rasterizer and never occludes anything.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from render.assets import ActorPlacement, place_actors
from render.cpu_rasterizer import PARALLEL_LOCK, rasterize_cpu
from render.gaussians import ActivatedGaussians, GaussianScene, activate, concatenate_activated

BACKENDS = ("auto", "cpu", "gsplat", "torch")


@dataclass(frozen=True)
class SkyGradient:
    """Background colour by the elevation of the pixel's ray in the world (z up).

    - zenith_rgb: straight up; horizon_rgb: at the horizon; the blend goes with
      elevation_sine ** exponent.
    - below_rgb: rays below the horizon that hit nothing (beyond the modelled ground), reached
      at `below_fade` (sine of the depression angle).
    """

    zenith_rgb: tuple[float, float, float] = (0.30, 0.50, 0.82)
    horizon_rgb: tuple[float, float, float] = (0.80, 0.86, 0.92)
    below_rgb: tuple[float, float, float] = (0.55, 0.57, 0.58)
    exponent: float = 0.55
    below_fade: float = 0.08



@njit(parallel=True, fastmath=True, cache=True, nogil=True)
def _composite_sky(rgb, alpha, viewmats, ks, zenith, horizon, below, exponent, below_fade):
    """rgb += (1 - alpha) * sky(ray elevation), in place, for (C, H, W, 3) images."""
    num, height, width = alpha.shape
    for ci in range(num):
        ux, uy, uz = viewmats[ci, 0, 2], viewmats[ci, 1, 2], viewmats[ci, 2, 2]  # world z in camera axes
        fx, fy, cx, cy = ks[ci, 0, 0], ks[ci, 1, 1], ks[ci, 0, 2], ks[ci, 1, 2]
        for py in prange(height):
            y = (py + 0.5 - cy) / fy
            for px in range(width):
                t = 1.0 - alpha[ci, py, px]
                if t <= 0.0:
                    continue
                x = (px + 0.5 - cx) / fx
                e = (x * ux + y * uy + uz) / np.sqrt(x * x + y * y + 1.0)
                if e >= 0.0:
                    w = min(e, 1.0) ** exponent
                    for k in range(3):
                        rgb[ci, py, px, k] += t * (horizon[k] + (zenith[k] - horizon[k]) * w)
                else:
                    w = min(-e / below_fade, 1.0)
                    for k in range(3):
                        rgb[ci, py, px, k] += t * (horizon[k] + (below[k] - horizon[k]) * w)


@dataclass(frozen=True, eq=False)
class RenderOutput:
    """C cameras rendered at H x W.

    - rgb: (C, H, W, 3) float32 in [0, 1] (background included).
    - depth: (C, H, W) float32 expected depth along the camera z axis, metres (0 where alpha is 0).
    - alpha: (C, H, W) float32 accumulated opacity of the splats in [0, 1].
    """

    rgb: np.ndarray
    depth: np.ndarray
    alpha: np.ndarray

    def rgb_uint8(self) -> np.ndarray:
        return (np.clip(self.rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def resolve_backend(backend: str) -> str:
    """The concrete backend name for "auto" (gsplat where it can run, else cpu); checks names."""
    from render.gsplat_backend import gsplat_unavailable_reason

    if backend not in BACKENDS:
        raise ValueError(f"unknown render backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "auto":
        return "gsplat" if gsplat_unavailable_reason() is None else "cpu"
    return backend


_GSPLAT: dict[str, object] = {}


def render_rig(scene: GaussianScene | ActivatedGaussians, actor_placement: ActorPlacement | None,
               viewmats_world_to_camera: np.ndarray, Ks: np.ndarray, width: int, height: int,
               backend: str = "auto", background: SkyGradient | np.ndarray | tuple | None = None) -> RenderOutput:
    """Render a static scene plus placed actors for C cameras.

    scene: the static Gaussians (pass an ActivatedGaussians to skip activating every call);
    actor_placement: actors to splat in, or None; viewmats_world_to_camera: (C, 4, 4) OpenCV
    axes; Ks: (C, 3, 3) for images of width x height; background: None (black), an rgb
    triple, or a SkyGradient.
    """
    name = resolve_backend(backend)
    static = scene if isinstance(scene, ActivatedGaussians) else activate(scene)
    dynamic = place_actors(actor_placement) if actor_placement is not None else None
    viewmats = np.asarray(viewmats_world_to_camera, np.float64).reshape(-1, 4, 4)
    ks = np.asarray(Ks, np.float64).reshape(-1, 3, 3)
    constant_bg = (None if isinstance(background, SkyGradient) or background is None
                   else np.asarray(background, np.float32))
    if name == "gsplat":
        from render.gsplat_backend import GsplatRasterizer

        rasterizer = _GSPLAT.get("cuda")
        if rasterizer is None:
            rasterizer = _GSPLAT["cuda"] = GsplatRasterizer()
        rgb, depth, alpha = rasterizer.rasterize(static, dynamic, viewmats, ks, width, height, constant_bg)
    elif name == "cpu":
        parts = [static] if dynamic is None else [static, dynamic]
        rgb, depth, alpha = rasterize_cpu(parts, viewmats, ks, width, height, constant_bg)
    else:
        from render.torch_reference import rasterize_torch_reference

        gaussians = static if dynamic is None else concatenate_activated([static, dynamic])
        rgb, depth, alpha = rasterize_torch_reference(gaussians, viewmats, ks, width, height, constant_bg)
    if isinstance(background, SkyGradient):
        sky = background
        rgb = np.ascontiguousarray(rgb, np.float32)
        with PARALLEL_LOCK:
            _composite_sky(rgb, alpha, viewmats, ks, np.asarray(sky.zenith_rgb, np.float32),
                           np.asarray(sky.horizon_rgb, np.float32), np.asarray(sky.below_rgb, np.float32),
                           float(sky.exponent), float(sky.below_fade))
    return RenderOutput(rgb=rgb, depth=depth, alpha=alpha)

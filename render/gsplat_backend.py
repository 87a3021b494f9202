"""gsplat on CUDA: `gsplat.rasterization` batched over the cameras of a rig.

gsplat and torch are imported on first use, so that importing `render` never needs them; the
backend is available only where `torch.cuda.is_available()` (gsplat imports on a CPU-only
machine but cannot rasterize there).
"""

from __future__ import annotations

import numpy as np

from render.gaussians import ActivatedGaussians


def gsplat_unavailable_reason() -> str | None:
    """None when the gsplat backend can run here, otherwise why not."""
    try:
        import torch
    except ImportError as exc:
        return f"torch is not importable ({exc})"
    if not torch.cuda.is_available():
        return "CUDA is not available (torch.cuda.is_available() is False); gsplat rasterizes on CUDA only"
    try:
        import gsplat  # noqa: F401
    except ImportError as exc:
        return f"gsplat is not importable ({exc})"
    return None


class GsplatRasterizer:
    """Rasterizes ActivatedGaussians with gsplat; keeps the last static set on the GPU.

    The static part (a renderer's background) is uploaded once and reused while the same
    object is passed; per-frame parts (placed actors) are uploaded each call.
    """

    def __init__(self, device: str = "cuda", packed: bool = False) -> None:
        reason = gsplat_unavailable_reason()
        if reason is not None:
            raise RuntimeError(f"gsplat backend unavailable: {reason}")
        self.device = device
        self.packed = packed
        self._static_key: ActivatedGaussians | None = None
        self._static_tensors: dict | None = None

    def _upload(self, g: ActivatedGaussians) -> dict:
        import torch

        def t(a):
            return torch.from_numpy(np.ascontiguousarray(a)).to(self.device, non_blocking=True)

        return {"means": t(g.means), "quats": t(g.quats_wxyz), "scales": t(g.scales),
                "opacities": t(g.opacities), "sh": t(g.sh)}

    def rasterize(self, static: ActivatedGaussians, dynamic: ActivatedGaussians | None,
                  viewmats_world_to_camera: np.ndarray, Ks: np.ndarray, width: int, height: int,
                  background_rgb: np.ndarray | None = None, rgb_uint8: bool = False,
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rgb (C, H, W, 3) float32 or uint8, depth (C, H, W) expected z, alpha (C, H, W))."""
        import torch
        from gsplat import rasterization

        if self._static_key is not static:
            self._static_tensors = self._upload(static)
            self._static_key = static
        parts = [self._static_tensors]
        if dynamic is not None and dynamic.num_gaussians:
            parts.append(self._upload(dynamic))
        k = max(p["sh"].shape[1] for p in parts)
        sh = [p["sh"] if p["sh"].shape[1] == k else torch.nn.functional.pad(p["sh"], (0, 0, 0, k - p["sh"].shape[1]))
              for p in parts]
        cat = (lambda name: torch.cat([p[name] for p in parts])) if len(parts) > 1 else (lambda name: parts[0][name])
        viewmats = torch.as_tensor(np.asarray(viewmats_world_to_camera), dtype=torch.float32, device=self.device)
        ks = torch.as_tensor(np.asarray(Ks), dtype=torch.float32, device=self.device)
        num_cameras = viewmats.shape[0]
        bg = torch.zeros(3) if background_rgb is None else torch.as_tensor(background_rgb, dtype=torch.float32)
        with torch.no_grad():
            colors, alphas, _ = rasterization(
                means=cat("means"), quats=cat("quats"), scales=cat("scales"), opacities=cat("opacities"),
                colors=torch.cat(sh) if len(sh) > 1 else sh[0], viewmats=viewmats, Ks=ks, width=width, height=height,
                near_plane=0.01, eps2d=0.3, sh_degree=int(round(k ** 0.5)) - 1, packed=self.packed,
                backgrounds=bg.to(self.device)[None].expand(num_cameras, 3).contiguous(), render_mode="RGB+ED",
                rasterize_mode="classic")
            rgb = colors[..., :3]
            if rgb_uint8:
                rgb = (rgb.clamp(0.0, 1.0) * 255.0 + 0.5).to(torch.uint8)
            return rgb.cpu().numpy(), colors[..., 3].float().cpu().numpy(), alphas[..., 0].cpu().numpy()

"""Image quality: PSNR and SSIM (the 3DGS papers' definitions), in torch (differentiable, for the
loss) and on numpy images (for the evaluation).

SSIM is Wang et al. 2004 as the INRIA 3DGS code computes it: an 11 x 11 Gaussian window of
sigma 1.5, C1 = 0.01^2, C2 = 0.03^2, per channel, zero padding at the border ("same" size),
the map averaged. PSNR is 10 log10(1 / MSE) for images in [0, 1].

LPIPS is not computed: the `lpips` package downloads its network weights from the internet at
run time, and no package available here ships them.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
_C1 = 0.01 ** 2
_C2 = 0.03 ** 2


def _window(size: int, sigma: float, channels: int, device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """The Gaussian window as its two 1D factors: (C, 1, 1, size) and (C, 1, size, 1) kernels."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
    g = torch.exp(-x * x / (2 * sigma * sigma))
    g = (g / g.sum()).to(device=device, dtype=dtype)
    return g.view(1, 1, 1, size).expand(channels, 1, 1, size), g.view(1, 1, size, 1).expand(channels, 1, size, 1)


def ssim_map(a: torch.Tensor, b: torch.Tensor, window: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """Per-pixel SSIM (H, W) of images (H, W, 3), averaged over the channels."""
    x = a.permute(2, 0, 1)[None]
    y = b.permute(2, 0, 1)[None]
    c = x.shape[1]
    w_row, w_col = _window(window, sigma, c, x.device, x.dtype)
    pad = window // 2

    def blur(t: torch.Tensor) -> torch.Tensor:
        # the 2D window is separable: two 1D passes, 2 x 11 instead of 121 products per pixel
        t = F.conv2d(t, w_row, padding=(0, pad), groups=c)
        return F.conv2d(t, w_col, padding=(pad, 0), groups=c)

    mu_x = blur(x)
    mu_y = blur(y)
    sxx = blur(x * x) - mu_x * mu_x
    syy = blur(y * y) - mu_y * mu_y
    sxy = blur(x * y) - mu_x * mu_y
    num = (2 * mu_x * mu_y + _C1) * (2 * sxy + _C2)
    den = (mu_x * mu_x + mu_y * mu_y + _C1) * (sxx + syy + _C2)
    return (num / den)[0].mean(0)


def ssim_torch(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean SSIM of images (H, W, 3)."""
    return ssim_map(a, b).mean()


def psnr_torch(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return -10.0 * torch.log10(torch.clamp_min(F.mse_loss(a, b), 1e-20))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of images in [0, 1] (any shape); inf-free (MSE floored at 1e-20)."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return 10.0 * math.log10(1.0 / max(mse, 1e-20))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two (H, W, 3) images in [0, 1]."""
    with torch.no_grad():
        return float(ssim_torch(torch.as_tensor(np.asarray(a, np.float32)), torch.as_tensor(np.asarray(b, np.float32))))

"""Helpers shared by the render tests."""

from __future__ import annotations

import numpy as np

from render.gaussians import SH_C0


def colors_of(scene) -> np.ndarray:
    return scene.sh[:, 0] * SH_C0 + 0.5


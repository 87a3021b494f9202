"""The Gaussian builder."""

from __future__ import annotations

import numpy as np

from render.primitives import GaussianBuilder
from tests.render.conftest import colors_of


def test_builder_keeps_colours_and_opacities() -> None:
    b = GaussianBuilder()
    b.add(np.zeros((2, 3)), np.eye(3), (0.1, 0.2, 0.3), (0.25, 0.5, 0.75), 0.9)
    scene = b.build()
    np.testing.assert_allclose(colors_of(scene), [[0.25, 0.5, 0.75]] * 2, atol=1e-6)
    np.testing.assert_allclose(scene.opacities, 0.9, atol=1e-6)
    np.testing.assert_allclose(scene.scales, [[0.1, 0.2, 0.3]] * 2, rtol=1e-6)

"""gsplat on CUDA agrees with the CPU rasterizer (runs only where CUDA is available)."""

from __future__ import annotations

import numpy as np
import pytest

from render.backends import render_rig
from render.gsplat_backend import gsplat_unavailable_reason
from render.procedural import StreetSceneConfig, build_street_scene, synthetic_road_map
from render.rig import nuscenes_default_rig, viewmats_world_to_camera
from sim.geometry import pose_from_xy_yaw
from tests.render.test_cpu_rasterizer import random_scene

REASON = gsplat_unavailable_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"gsplat backend unavailable: {REASON}")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / max(np.mean((np.clip(a, 0, 1) - np.clip(b, 0, 1)) ** 2), 1e-20)))


def test_gsplat_matches_cpu_on_a_random_scene() -> None:
    k = np.array([[[60.0, 0, 32], [0, 60.0, 24], [0, 0, 1]]])
    gs = render_rig(random_scene(1500), None, np.eye(4)[None], k, 64, 48, backend="gsplat", background=(0.2, 0.4, 0.6))
    cpu = render_rig(random_scene(1500), None, np.eye(4)[None], k, 64, 48, backend="cpu", background=(0.2, 0.4, 0.6))
    assert psnr(gs.rgb, cpu.rgb) >= 40.0 and psnr(gs.alpha, cpu.alpha) >= 40.0


def test_gsplat_matches_cpu_on_the_street_rig() -> None:
    scene = build_street_scene(synthetic_road_map(), StreetSceneConfig())
    rig = nuscenes_default_rig(480, 270)
    views = viewmats_world_to_camera(pose_from_xy_yaw(-40.0, -5.25, 0.0, 0.0), rig.pose_camera_to_ego)
    gs = render_rig(scene, None, views, rig.intrinsics, 480, 270, backend="gsplat")
    cpu = render_rig(scene, None, views, rig.intrinsics, 480, 270, backend="cpu")
    assert psnr(gs.rgb, cpu.rgb) >= 40.0

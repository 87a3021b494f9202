"""The CPU tile rasterizer: analytic footprint, agreement with the torch reference, actor motion."""

from __future__ import annotations

import numpy as np

from render.assets import ActorPlacement
from render.backends import render_rig
from render.cpu_rasterizer import rasterize_cpu
from render.gaussians import GaussianScene, activate
from render.torch_reference import rasterize_torch_reference
from sim.geometry import pose_from_xy_yaw, quaternion_from_yaw, rotation_matrix_from_quaternion

W, H = 64, 48
K = np.array([[60.0, 0.0, 32.0], [0.0, 60.0, 24.0], [0.0, 0.0, 1.0]])


def single(mean, quat, scales, opacity, rgb=(0.8, 0.3, 0.1)) -> GaussianScene:
    return GaussianScene.from_activated(np.array([mean]), np.array([quat]), np.array([scales]), np.array([opacity]),
                                        np.array([rgb]))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / max(np.mean((a - b) ** 2), 1e-20)))


def test_single_gaussian_has_the_analytic_footprint() -> None:
    mean = np.array([0.3, -0.2, 5.0])
    quat = np.array([0.9, 0.1, -0.3, 0.2])
    scales = np.array([0.25, 0.08, 0.15])
    opacity = 0.8
    scene = activate(single(mean, quat, scales, opacity))
    rgb, depth, alpha = rasterize_cpu(scene, np.eye(4)[None], K[None], W, H, np.array([0.0, 0.0, 1.0]))

    # EWA: camera = world here; Sigma2D = J R S S^T R^T J^T + 0.3 I
    rot = rotation_matrix_from_quaternion(quat)
    cov3 = rot @ np.diag(scales ** 2) @ rot.T
    x, y, z = mean
    jac = np.array([[K[0, 0] / z, 0, -K[0, 0] * x / z ** 2], [0, K[1, 1] / z, -K[1, 1] * y / z ** 2]])
    cov2 = jac @ cov3 @ jac.T + 0.3 * np.eye(2)
    center = (K @ mean)[:2] / z
    px, py = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    d = np.stack([px - center[0], py - center[1]], -1)
    maha = np.einsum("...i,ij,...j->...", d, np.linalg.inv(cov2), d)
    expected = np.minimum(0.999, opacity * np.exp(-0.5 * maha))
    expected[expected < 1 / 255] = 0.0

    np.testing.assert_allclose(alpha[0], expected, atol=2e-5)
    peak = np.unravel_index(np.argmax(alpha[0]), alpha[0].shape)
    assert (peak[1], peak[0]) == (int(center[0]), int(center[1]))  # the pixel holding the projected mean
    covered = expected > 0
    np.testing.assert_allclose(depth[0][covered], z, rtol=1e-5)  # expected depth of one Gaussian is its z
    np.testing.assert_allclose(rgb[0][~covered],
                               np.broadcast_to([0.0, 0.0, 1.0], (int((~covered).sum()), 3)))  # background
    np.testing.assert_allclose(rgb[0][covered], expected[covered, None] * [0.8, 0.3, 0.1]
                               + (1 - expected[covered, None]) * [0.0, 0.0, 1.0], atol=2e-5)


def random_scene(n: int, seed: int = 0) -> GaussianScene:
    rng = np.random.default_rng(seed)
    return GaussianScene(
        means=(rng.uniform(-2.5, 2.5, (n, 3)) + [0.0, 0.0, 6.0]).astype(np.float32),
        quats_wxyz=rng.normal(size=(n, 4)).astype(np.float32),
        log_scales=np.log(rng.uniform(0.02, 0.4, (n, 3))).astype(np.float32),
        opacity_logits=rng.normal(0.5, 2.0, n).astype(np.float32),
        sh=rng.normal(0, 0.4, (n, 16, 3)).astype(np.float32),
    )


def test_cpu_rasterizer_matches_the_torch_reference() -> None:
    """SH degree 3, two cameras (one looking obliquely, Gaussians behind it and off screen)."""
    gaussians = activate(random_scene(1500))
    view_b = np.linalg.inv(pose_from_xy_yaw(1.0, -1.0, 0.4, 0.5) @ np.array(
        [[1.0, 0, 0, 0], [0, 0, 1, 0], [0, -1, 0, 0], [0, 0, 0, 1]]))
    viewmats = np.stack([np.eye(4), view_b])
    ks = np.stack([K, K])
    background = np.array([0.2, 0.4, 0.6])
    ours = rasterize_cpu(gaussians, viewmats, ks, W, H, background)
    ref = rasterize_torch_reference(gaussians, viewmats, ks, W, H, background)
    for c in range(2):
        assert psnr(ours[0][c], ref[0][c]) >= 40.0
        assert psnr(ours[2][c], ref[2][c]) >= 40.0
        hit = ref[2][c] > 0.5
        np.testing.assert_allclose(ours[1][c][hit], ref[1][c][hit], rtol=1e-3)


def test_actor_moved_one_metre_moves_as_the_pinhole_predicts() -> None:
    """A one-Gaussian asset at the box centre, placed at 10 m, then 1 m to the left."""
    asset = single([0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.05, 0.05, 0.05], 0.95)
    empty = activate(GaussianScene.empty())
    # camera at the origin looking along world +x (OpenCV axes: x right = -y world, y down = -z world)
    pose_camera_to_world = np.array([[0.0, 0, 1, 0], [-1, 0, 0, 0], [0, -1, 0, 0], [0, 0, 0, 1]])
    view = np.linalg.inv(pose_camera_to_world)[None]
    centroids = []
    for y_m in (0.0, 1.0):
        placement = ActorPlacement((asset,), pose_from_xy_yaw(10.0, y_m, 0.3, 0.0)[None], np.array([True]))
        out = render_rig(empty, placement, view, K[None], W, H, backend="cpu")
        a = out.alpha[0]
        u, v = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
        centroids.append(np.array([np.sum(a * u), np.sum(a * v)]) / a.sum())
    shift = centroids[1] - centroids[0]
    np.testing.assert_allclose(shift, [-K[0, 0] * 1.0 / 10.0, 0.0], atol=0.02)  # 1 m left is 6 px left at 10 m
    hidden = ActorPlacement((asset,), pose_from_xy_yaw(10.0, 0.0, 0.0, 0.0)[None], np.array([False]))
    assert render_rig(empty, hidden, view, K[None], W, H, backend="cpu").alpha.max() == 0.0


def test_actor_rotation_composes_with_the_asset_rotation() -> None:
    """An asset elongated along its box x, yawed by 90 degrees, lies along world y."""
    asset = single([0.0, 0.0, 0.0], quaternion_from_yaw(0.0), [0.6, 0.05, 0.05], 0.9)
    empty = activate(GaussianScene.empty())
    view = np.linalg.inv(np.array([[0.0, 0, 1, 0], [-1, 0, 0, 0], [0, -1, 0, 0], [0, 0, 0, 1]]))[None]
    spans = []
    for yaw in (0.0, np.pi / 2):
        placement = ActorPlacement((asset,), pose_from_xy_yaw(8.0, 0.0, yaw, 0.0)[None], np.array([True]))
        a = render_rig(empty, placement, view, K[None], W, H, backend="cpu").alpha[0]
        spans.append((a > 0.1).any(axis=0).sum())  # width in pixels
    assert spans[1] > 3 * spans[0]  # seen end-on first, broadside after the yaw

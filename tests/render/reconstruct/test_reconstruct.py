"""Reconstruction parts: the differentiable torch rasterizer against the CPU rasterizer, gradients,
the actor/background split, box masks, metrics, checkpoints and the CUDA path's wiring."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from render.cpu_rasterizer import rasterize_cpu
from render.gaussians import GaussianScene, activate
from render.reconstruct.data import ActorInfo, FrameSet, box_masks, boxes_at, holdout_split
from render.reconstruct.diff_raster import rasterize
from render.reconstruct.fit import FitConfig, Trainer, fit
from render.reconstruct.init import InitialScene, assign_to_boxes, gaussians_from_points, initial_scene, split_scene
from render.reconstruct.metrics import psnr, ssim
from sim.geometry import invert_pose, pose_from_xy_yaw
from sim.types.scenario import ActorKind, ActorTracks
from tests.render.test_cpu_rasterizer import random_scene

W, H = 64, 48
K = np.array([[60.0, 0.0, 32.0], [0.0, 60.0, 24.0], [0.0, 0.0, 1.0]])
# camera looking along world +x from (0, 0, 1.5): OpenCV axes x right = -y world, y down = -z, z forward = +x
CAM_TO_WORLD = np.array([[0.0, 0.0, 1.0, 0.0], [-1.0, 0.0, 0.0, 0.0], [0.0, -1.0, 0.0, 1.5], [0.0, 0.0, 0.0, 1.0]])


def _t(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, np.float32))


def torch_render(g, viewmats, ks, background, **kwargs):
    backgrounds = _t(np.tile(background, (len(ks), 1)))
    colors, alphas, _ = rasterize(_t(g.means), _t(g.quats_wxyz), _t(g.scales), _t(g.opacities), _t(g.sh), _t(viewmats),
                                  _t(ks), W, H, sh_degree=g.sh_degree, backgrounds=backgrounds, **kwargs)
    return colors.numpy(), alphas[..., 0].numpy()


def test_torch_rasterizer_forward_agrees_with_the_cpu_rasterizer() -> None:
    """SH degree 3, two cameras (one oblique, Gaussians behind it and off screen): PSNR >= 40 dB."""
    g = activate(random_scene(1500))
    view_b = np.linalg.inv(pose_from_xy_yaw(1.0, -1.0, 0.4, 0.5) @ np.array(
        [[1.0, 0, 0, 0], [0, 0, 1, 0], [0, -1, 0, 0], [0, 0, 0, 1]]))
    viewmats = np.stack([np.eye(4), view_b])
    ks = np.stack([K, K])
    background = np.array([0.2, 0.4, 0.6])
    rgb, depth, alpha = rasterize_cpu(g, viewmats, ks, W, H, background)
    colors, alphas = torch_render(g, viewmats, ks, background)
    for c in range(2):
        assert psnr(colors[c, ..., :3], rgb[c]) >= 40.0
        assert psnr(alphas[c], alpha[c]) >= 40.0
        covered = alpha[c] > 0.5
        np.testing.assert_allclose(colors[c, ..., 3][covered], depth[c][covered], rtol=1e-3, atol=1e-3)


def test_chunked_compositing_equals_one_chunk() -> None:
    """Row bands (chunks) forced by a small pair budget draw the same image."""
    g = activate(random_scene(400, seed=1))
    whole, _ = torch_render(g, np.eye(4)[None], K[None], np.zeros(3))
    banded, _ = torch_render(g, np.eye(4)[None], K[None], np.zeros(3), max_pairs=5_000)
    np.testing.assert_allclose(banded, whole, atol=1e-5)


def test_rasterizer_gradients_match_finite_differences() -> None:
    torch.manual_seed(0)
    d = torch.float64
    means = torch.tensor([[0.1, 0.05, 3.0], [-0.2, 0.1, 3.5], [0.0, -0.1, 4.0], [0.15, 0.1, 2.5]], dtype=d,
                         requires_grad=True)
    quats = torch.randn(4, 4, dtype=d, requires_grad=True)
    scales = (torch.tensor([[0.3, 0.2, 0.25]] * 4, dtype=d) * (torch.rand(4, 1, dtype=d) + 0.5)).requires_grad_(True)
    opacities = torch.tensor([0.7, 0.5, 0.9, 0.6], dtype=d, requires_grad=True)
    sh = (torch.randn(4, 4, 3, dtype=d) * 0.3).requires_grad_(True)
    view = torch.eye(4, dtype=d)[None]
    k = torch.tensor([[[10.0, 0, 6], [0, 10.0, 4], [0, 0, 1]]], dtype=d)
    bg = torch.tensor([[0.2, 0.3, 0.4]], dtype=d)

    def render(m, q, s, o, c):
        colors, alphas, _ = rasterize(m, q, s, o, c, view, k, 12, 8, sh_degree=1, backgrounds=bg)
        return colors, alphas

    assert torch.autograd.gradcheck(render, (means, quats, scales, opacities, sh), eps=1e-6, atol=1e-5, rtol=1e-3)


def _one_actor_frames(num_frames: int = 4) -> tuple[FrameSet, GaussianScene, GaussianScene]:
    """Frames of a small static scene and one box-shaped actor moving across the view."""
    from render.assets import ActorPlacement
    from render.backends import SkyGradient, render_rig

    rng = np.random.default_rng(0)
    ground = np.column_stack([rng.uniform(3, 12, 300), rng.uniform(-4, 4, 300), np.zeros(300)])
    background = gaussians_from_points(ground, rng.uniform(0.2, 0.8, (300, 3)), sh_degree=1, opacity=0.8)
    size = np.array([1.6, 3.0, 1.4])  # w, l, h
    local = rng.uniform(-0.5, 0.5, (80, 3)) * np.array([3.0, 1.6, 1.4])
    actor = gaussians_from_points(local, np.tile([0.8, 0.2, 0.1], (80, 1)), sh_degree=1, opacity=0.9)
    t_us = np.arange(num_frames, dtype=np.int64) * 100_000
    tracks = ActorTracks(np.array(["car"]), np.array(["vehicle.car"]), np.array([ActorKind.VEHICLE], np.int8),
                         size[None],
                         np.stack([7.0 + 0.3 * np.arange(num_frames), np.linspace(-1, 1, num_frames)], -1)[None],
                         np.full((1, num_frames), 0.7), np.full((1, num_frames), 0.3), np.zeros((1, num_frames, 2)),
                         np.ones((1, num_frames), bool))
    poses, present = boxes_at(tracks, t_us, t_us)
    view = invert_pose(CAM_TO_WORLD)
    images = []
    for f in range(num_frames):
        placement = ActorPlacement((actor,), poses[f], present[f])
        images.append(render_rig(background, placement, view[None], K[None], W, H, "cpu", SkyGradient()).rgb[0])
    ego = np.tile(np.eye(4), (num_frames, 1, 1))
    frames = FrameSet(np.clip(np.stack(images), 0, 1).astype(np.float32), np.tile(view, (num_frames, 1, 1)),
                      np.tile(K, (num_frames, 1, 1)), ego, np.tile(CAM_TO_WORLD, (num_frames, 1, 1)),
                      np.array(["CAM"] * num_frames, dtype=object), t_us, np.array([""] * num_frames, dtype=object),
                      ActorInfo.of_tracks(tracks), poses, present)
    return frames, background, actor


def test_gradients_reach_every_parameter_of_the_fit() -> None:
    """One render of a frame with an actor: finite, non-zero gradients on every trained tensor
    (background and actor Gaussians, SH bands, the sky)."""
    frames, background, actor = _one_actor_frames()
    init = InitialScene(background, [actor])
    trainer = Trainer(frames, init, FitConfig(steps=10, sh_degree=1, sh_degree_interval=1, densify=False),
                      np.arange(frames.num_frames), rasterize)
    trainer.step = 5  # SH degree 1 active
    rgb, _, _, _ = trainer.render(1)
    loss = (rgb - torch.as_tensor(frames.images[1]) * 0.9).abs().mean()
    loss.backward()
    owner = trainer.params["owner"].detach().numpy()
    for name, p in trainer.params.items():
        if name == "owner":
            continue
        g = p.grad.numpy().reshape(len(owner), -1)
        assert np.isfinite(g).all(), name
        for part in (owner < 0, owner == 0):
            assert np.abs(g[part]).sum() > 0, f"no gradient on {name} of {'actor' if part[-1] else 'background'}"
    for name, p in trainer.sky.named_parameters():
        assert p.grad is not None and np.isfinite(p.grad.numpy()).all() and np.abs(p.grad.numpy()).sum() > 0, name


def test_background_gets_no_gradient_from_actor_pixels() -> None:
    """The actor pass (background frozen) and the loss masks: a loss on the box pixels only
    moves the actor, never the background."""
    frames, background, actor = _one_actor_frames()
    trainer = Trainer(frames, InitialScene(background, [actor]), FitConfig(steps=10, sh_degree=0, densify=False),
                      np.arange(frames.num_frames), rasterize)
    mask = trainer.masks[2]
    assert bool(mask.any()) and not bool(mask.all())
    rgb, _, _, _ = trainer.render(2, actors_live=True, background_live=False, sky_live=False,
                                  pixel_mask=trainer.render_masks[2])
    ((rgb - 0.5).abs().mean(-1) * mask).sum().backward()
    owner = trainer.params["owner"].detach().numpy()
    grad = trainer.params["means"].grad.numpy()
    assert np.abs(grad[owner < 0]).sum() == 0
    assert np.abs(grad[owner == 0]).sum() > 0


def test_split_puts_gaussians_inside_a_box_into_its_asset_in_the_box_frame() -> None:
    """Hand case: a box at (10, 5) yawed 90 degrees, 4 x 2 x 1.5 m (l, w, h), centre z 0.75."""
    pose = pose_from_xy_yaw(10.0, 5.0, np.pi / 2, 0.75)
    size_wlh = np.array([[2.0, 4.0, 1.5]])
    # world points: box-frame (1.5, 0.5, 0.2) -> world (10 - 0.5, 5 + 1.5, 0.95), inside
    means = np.array([
        [9.5, 6.5, 0.95],   # inside
        [10.0, 5.0, 0.75],  # the centre
        [10.0, 7.5, 0.75],  # 2.5 m along the box's x: outside (half length 2)
        [11.5, 5.0, 0.75],  # 1.5 m along its -y: outside (half width 1)
        [10.0, 5.0, 0.02],  # inside, but in the bottom 10 cm: the road stays background
    ])
    scene = GaussianScene.from_activated(means, np.tile([1.0, 0, 0, 0], (5, 1)), np.full((5, 3), 0.05),
                                         np.full(5, 0.8), np.tile([0.5, 0.5, 0.5], (5, 1)))
    bg, actors = split_scene(scene, pose[None], size_wlh, np.array([True]), ground_clearance_m=0.1)
    assert len(actors) == 1 and actors[0].num_gaussians == 2 and bg.num_gaussians == 3
    np.testing.assert_allclose(actors[0].means, [[1.5, 0.5, 0.2], [0.0, 0.0, 0.0]], atol=1e-5)
    np.testing.assert_allclose(bg.means, means[2:], atol=1e-6)
    # rotations are moved into the box frame too: the identity becomes a -90 degree yaw
    np.testing.assert_allclose(np.abs(actors[0].unit_quats_wxyz[0]), [np.sqrt(0.5), 0, 0, np.sqrt(0.5)], atol=1e-5)
    # overlapping boxes: a point goes to the box whose centre is nearest
    two = np.stack([pose_from_xy_yaw(0.0, 0.0, 0.0, 0.0), pose_from_xy_yaw(1.0, 0.0, 0.0, 0.0)])
    owner = assign_to_boxes(np.array([[0.2, 0, 0], [0.8, 0, 0], [5.0, 0, 0]]), two, np.tile([2.0, 4.0, 2.0], (2, 1)),
                            np.array([True, True]))
    np.testing.assert_array_equal(owner, [0, 1, -1])


def test_lidar_points_inside_a_moving_box_become_the_actors_points() -> None:
    """Initialisation from lidar: each point is tested against the box at its sweep's time."""
    frames, _, _ = _one_actor_frames()
    box = frames.actor_pose_box_to_world
    inside_local = np.array([[0.5, 0.2, 0.1], [-1.0, -0.3, 0.4]])
    # the same box-frame points seen at frame 0 and frame 3 (the box has moved between them)
    world0 = inside_local @ box[0, 0, :3, :3].T + box[0, 0, :3, 3]
    world3 = inside_local @ box[3, 0, :3, :3].T + box[3, 0, :3, 3]
    road = np.array([[6.0, 1.5, 0.0], [9.0, -2.0, 0.0]])  # in view of the camera
    points = np.concatenate([world0, world3, road])
    times = np.concatenate([np.full(2, frames.t_us[0]), np.full(2, frames.t_us[3]), np.full(2, frames.t_us[0])])
    init = initial_scene(frames, np.arange(frames.num_frames), lidar=(points, times))
    assert init.source == "lidar"
    assert init.background.num_gaussians == 2
    got = np.sort(init.actors[0].means[:4], axis=0)
    np.testing.assert_allclose(got, np.sort(np.concatenate([inside_local, inside_local]), axis=0), atol=1e-5)


def test_box_masks_cover_the_projected_box() -> None:
    frames, _, _ = _one_actor_frames()
    m = box_masks(frames.viewmats[0], frames.Ks[0], W, H, frames.actor_pose_box_to_world[0], frames.actors.size_wlh_m,
                  np.array([True]))[0]
    # the box centre projects inside the mask; the sky rows above do not
    centre = frames.actor_pose_box_to_world[0, 0, :3, 3]
    cam = frames.viewmats[0, :3, :3] @ centre + frames.viewmats[0, :3, 3]
    u, v = K[0, 0] * cam[0] / cam[2] + K[0, 2], K[1, 1] * cam[1] / cam[2] + K[1, 2]
    assert m[int(v), int(u)] and not m[0].any() and 0 < m.sum() < m.size
    none = box_masks(frames.viewmats[0], frames.Ks[0], W, H, frames.actor_pose_box_to_world[0],
                     frames.actors.size_wlh_m, np.array([False]))
    assert not none.any()


def test_holdout_split_takes_every_kth_frame() -> None:
    train, test = holdout_split(20, 8)
    np.testing.assert_array_equal(test, [4, 12])
    assert len(train) == 18 and not set(train) & set(test)
    assert len(holdout_split(5, 0)[1]) == 0


def test_metrics() -> None:
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 1, (32, 40, 3)).astype(np.float32)
    assert psnr(a, np.clip(a, 0, 1)) > 190
    assert psnr(np.zeros((4, 4, 3)), np.full((4, 4, 3), 0.1)) == pytest.approx(20.0)
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-6)
    noisy = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1).astype(np.float32)
    assert ssim(a, noisy) == pytest.approx(_reference_ssim(a, noisy), abs=1e-5)
    assert ssim(a, noisy) < 0.99


def _reference_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Wang et al. 2004 with scipy's Gaussian filter (sigma 1.5, 11 x 11, zero padding)."""
    from scipy.ndimage import gaussian_filter

    def blur(x):
        return gaussian_filter(x.astype(np.float64), 1.5, mode="constant", truncate=5 / 1.5)

    c1, c2 = 0.01 ** 2, 0.03 ** 2
    out = []
    for c in range(3):
        x, y = a[..., c], b[..., c]
        mx, my = blur(x), blur(y)
        sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
        out.append((2 * mx * my + c1) * (2 * sxy + c2) / ((mx * mx + my * my + c1) * (sxx + syy + c2)))
    return float(np.mean(out))


def test_fit_resumes_from_a_checkpoint_exactly(tmp_path) -> None:
    frames, background, actor = _one_actor_frames()
    init = InitialScene(background, [actor])
    train, test = np.arange(3), np.array([3])
    config = FitConfig(steps=8, sh_degree=0, refine_start=2, refine_every=3, refine_stop=7, checkpoint_every=4,
                       log_every=100)
    whole = fit(frames, init, config, train, test, rasterize)
    ckpt = tmp_path / "run.ckpt.pt"
    trainer = Trainer(frames, init, config, train, rasterize)
    for _ in range(4):
        trainer.train_step()
    trainer.save_checkpoint(ckpt)  # then the run "dies"
    resumed = fit(frames, init, config, train, test, rasterize, checkpoint_path=ckpt)
    assert resumed.resumed_from == 4
    np.testing.assert_allclose(resumed.background.means, whole.background.means, atol=1e-6)
    np.testing.assert_allclose(resumed.actors[0].sh, whole.actors[0].sh, atol=1e-6)
    np.testing.assert_allclose(resumed.losses, whole.losses, rtol=1e-5)
    other = FitConfig(steps=9, sh_degree=0, checkpoint_every=4)  # a checkpoint of another run is ignored
    assert fit(frames, init, other, train, test, rasterize, checkpoint_path=ckpt).resumed_from == 0


def _cuda_reason() -> str | None:
    from render.reconstruct.gsplat_fit import cuda_unavailable_reason

    return cuda_unavailable_reason()


@pytest.mark.skipif(_cuda_reason() is not None, reason=f"CUDA path needs gsplat on CUDA: {_cuda_reason()}")
def test_gsplat_path_matches_the_torch_rasterizer_and_fits() -> None:
    from render.reconstruct.gsplat_fit import rasterize_gsplat

    g = activate(random_scene(1500))
    dev = torch.device("cuda")
    args = [_t(x).to(dev) for x in (g.means, g.quats_wxyz, g.scales, g.opacities, g.sh)]
    cams = [_t(np.eye(4)[None]).to(dev), _t(K[None]).to(dev)]
    bg = _t([[0.2, 0.4, 0.6]]).to(dev)
    ours, our_alpha, _ = rasterize(*args, *cams, W, H, sh_degree=3, backgrounds=bg)
    theirs, their_alpha, info = rasterize_gsplat(*args, *cams, W, H, sh_degree=3, backgrounds=bg)
    assert psnr(ours[..., :3].cpu().numpy(), theirs[..., :3].cpu().numpy()) >= 40.0
    assert info["means2d"].shape == (1, g.num_gaussians, 2)
    _fit_off_colours(rasterize_gsplat, "cuda", pixel_masks=False)


def _fit_off_colours(rasterize_fn, device: str, pixel_masks: bool) -> None:
    """Fit the one-actor frames from the true scene with its colours shifted: the loss falls."""
    frames, background, actor = _one_actor_frames()
    off = lambda s: GaussianScene(s.means, s.quats_wxyz, s.log_scales, s.opacity_logits, s.sh + 0.5)  # noqa: E731
    result = fit(frames, InitialScene(off(background), [off(actor)]),
                 FitConfig(steps=150, sh_degree=1, sh_degree_interval=20, refine_start=10, refine_every=10,
                           refine_stop=40, lr_multiplier=2.0),
                 np.arange(3), np.array([3]), rasterize_fn, device=device, supports_pixel_masks=pixel_masks)
    assert np.isfinite(result.losses).all() and result.losses[-10:].mean() < 0.5 * result.losses[:10].mean()
    assert result.num_gaussians > background.num_gaussians + actor.num_gaussians  # densification ran


def test_fit_with_densification_reduces_the_loss_on_cpu() -> None:
    _fit_off_colours(rasterize, "cpu", pixel_masks=True)

"""The training loop shared by the CPU path (`tile_raster.rasterize`, the numba tile rasterizer;
`diff_raster.rasterize`, the dense torch reference, on request) and the CUDA path
(`gsplat_fit.rasterize_gsplat`): fit background and actor Gaussians to a FrameSet.

Parameters (gsplat's simple_trainer names): means, quats, scales (logs), opacities (logits),
sh0 (N, 1, 3), shN (N, K-1, 3), plus a non-trained `owner` per Gaussian: -1 for the
background (global frame), m for actor m (its box frame). At each frame an actor's Gaussians
are moved by its box pose there (means, rotations; SH evaluated for the view direction in the
box frame), so one asset is fitted to every frame it appears in, and the engine can later put
it anywhere. Actors absent from a frame are not drawn.

Loss: (1 - lambda) L1 + lambda (1 - SSIM), lambda = 0.2 (3DGS). With actors in view, a frame
is drawn twice: once with every parameter live, whose loss counts only pixels outside the
projected actor boxes (the actors learn there not to spill out of their boxes), and once with
the actors live and the background frozen, whose loss counts only the pixels the boxes cover
(actors are fitted composited over the background). The background therefore never learns
from what the boxes cover, and each pixel counts once. Frames without actors are drawn once.
Actor Gaussians' centres are kept inside their box (grown by actor_box_margin_m) after every
step.

Sky: rays that hit nothing show a learned `render.backends.SkyGradient` (zenith, horizon and
below-horizon colours; its exponent and fade are fixed), so the fitted scene renders with the
same sky in splatsim; `sky="constant"` learns a single colour instead, `"none"` keeps black.

Optimiser: one Adam per parameter (eps 1e-15) with the 3DGS paper's learning rates: means
1.6e-4 x scene scale decaying exponentially to 1 % over the run, scales 5e-3, quats 1e-3,
opacities 5e-2, sh0 2.5e-3, shN 2.5e-3 / 20; `lr_multiplier` scales them all (short runs).
Scene scale = 1.1 x the largest distance of a camera centre from their mean (gsplat's rule).
SH degree grows by one every `sh_degree_interval` steps up to `sh_degree`. Densification is
gsplat's `DefaultStrategy` (duplicate / split by accumulated screen-space gradient, prune by
opacity and size), with growth stopped at `max_gaussians`. One image per step, frames in a
seeded random order per epoch.

Checkpoints (torch.save, written atomically) hold the parameters, optimiser and strategy
state, the sky and the RNG; `fit` resumes from one it finds at `checkpoint_path`.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from render.gaussians import GaussianScene
from render.reconstruct import CPU_RASTERIZERS
from render.reconstruct.data import FrameSet, actor_masks
from render.reconstruct.diff_raster import quat_multiply, sh_to_color
from render.reconstruct.init import InitialScene
from render.reconstruct.metrics import ssim_map
from sim.geometry import quaternion_from_rotation_matrix

SKY_EXPONENT = 0.55  # render.backends.SkyGradient's defaults, fixed during the fit
SKY_BELOW_FADE = 0.08


@dataclass(frozen=True)
class FitConfig:
    """Settings of a fit. Steps count images (one per step).

    - steps: optimisation steps; seed: frame order, splits and densification noise.
    - sh_degree: final SH degree (0..3); sh_degree_interval: steps per added degree.
    - lr_*: learning rates (see the module docstring); lr_means is multiplied by the scene
      scale and decays to lr_means_final_ratio of itself; lr_multiplier scales every rate.
    - ssim_lambda: weight of D-SSIM in the loss.
    - densify: use gsplat's DefaultStrategy; refine_start/stop/every, grow_grad2d, grow_scale3d,
      prune_opa, prune_scale3d, reset_every: its settings (gsplat's defaults; callers scale the
      step counts to short runs). In gsplat 1.5.3 reset_every only starts the pruning of
      Gaussians larger than prune_scale3d x scene scale after that step (its opacity reset
      never fires: `step % reset_every == 0 & step > 0` parses as a chained comparison that is
      always false). max_gaussians: no growth beyond this count.
    - actor_mask_margin_m: projected actor boxes are grown by this for the loss masks.
    - actor_box_margin_m: actor Gaussians' centres are kept inside their box grown by this.
    - sky: "gradient" (learned SkyGradient), "constant" (one learned colour) or "none" (black).
    - max_pairs: the torch rasterizer's pixel-Gaussian pairs per chunk.
    - checkpoint_every: steps between checkpoints (0: none).
    - log_every: steps between progress reports.
    """

    steps: int = 30_000
    seed: int = 0
    sh_degree: int = 3
    sh_degree_interval: int = 1000
    lr_means: float = 1.6e-4
    lr_means_final_ratio: float = 0.01
    lr_scales: float = 5e-3
    lr_quats: float = 1e-3
    lr_opacities: float = 5e-2
    lr_sh0: float = 2.5e-3
    lr_shN: float = 2.5e-3 / 20
    lr_sky: float = 1e-2
    lr_multiplier: float = 1.0
    ssim_lambda: float = 0.2
    densify: bool = True
    refine_start: int = 500
    refine_stop: int = 15_000
    refine_every: int = 100
    grow_grad2d: float = 2e-4
    grow_scale3d: float = 0.01
    prune_opa: float = 0.005
    prune_scale3d: float = 0.1
    reset_every: int = 3000
    max_gaussians: int = 3_000_000
    actor_mask_margin_m: float = 0.1
    actor_box_margin_m: float = 0.25
    sky: str = "gradient"
    max_pairs: int = 3_000_000
    checkpoint_every: int = 1000
    log_every: int = 100


def schedule_for_steps(steps: int, **overrides) -> FitConfig:
    """A FitConfig for a run of `steps`: gsplat's simple_trainer schedule (refine from 500 every
    100 to 15k, reset 3k, SH degree +1 per 1k, of a 30k run) scaled to the run's length. Runs
    shorter than 3,000 steps (the CPU path) use SH degree 0 and learning rates x1.5, which
    converge faster at the small resolutions the CPU path runs at."""
    ratio = steps / 30_000
    base = dict(steps=steps, refine_start=max(int(500 * ratio), 1), refine_every=max(int(100 * ratio), 1),
                refine_stop=max(int(15_000 * ratio), 2), reset_every=max(int(3_000 * ratio), 1),
                sh_degree_interval=max(int(1_000 * ratio), 1), checkpoint_every=max(min(1000, steps // 10), 1),
                log_every=max(min(100, steps // 20), 1))
    if steps < 3_000:
        base.update(sh_degree=0, lr_multiplier=1.5, refine_start=max(steps // 6, 1), refine_every=max(steps // 10, 1),
                    refine_stop=max(int(0.7 * steps), 2), reset_every=max(steps // 2, 1))
    base.update(overrides)
    return FitConfig(**base)


@dataclass
class FitResult:
    """A finished fit.

    - background: GaussianScene (global frame); actors: M GaussianScene (box frames).
    - sky: render.backends.SkyGradient, an rgb triple ("constant") or None ("none").
    - losses: (steps,) training loss per step; seconds: wall time of the optimisation.
    - train_index, test_index: frames fitted to and held out.
    - num_gaussians: final count (background + actors); resumed_from: step of the checkpoint
      the run resumed from (0: none).
    """

    background: GaussianScene
    actors: list[GaussianScene]
    sky: object
    losses: np.ndarray
    seconds: float
    train_index: np.ndarray
    test_index: np.ndarray
    num_gaussians: int
    resumed_from: int = 0
    config: dict = field(default_factory=dict)


RasterizeFn = Callable[..., tuple[torch.Tensor, torch.Tensor, dict]]


def rasterizer_for(device: str, cpu_rasterizer: str = "tile") -> tuple[RasterizeFn, str, bool]:
    """(rasterize function, evaluation backend, whether it takes pixel masks) of a device: gsplat
    on CUDA; on CPU the numba tile rasterizer ("tile") or the dense torch reference ("torch",
    small images only)."""
    if device.startswith("cuda"):
        from render.reconstruct.gsplat_fit import rasterize_gsplat

        return rasterize_gsplat, "gsplat", False
    if cpu_rasterizer == "tile":
        from render.reconstruct.tile_raster import rasterize
    elif cpu_rasterizer == "torch":
        from render.reconstruct.diff_raster import rasterize
    else:
        raise ValueError(f"CPU rasterizer must be one of {CPU_RASTERIZERS}, not {cpu_rasterizer!r}")
    return rasterize, "cpu", True


def scene_scale(frames: FrameSet) -> float:
    centres = frames.camera_centres()
    return float(max(1.1 * np.max(np.linalg.norm(centres - centres.mean(axis=0), axis=1)), 1.0))


class SkyModel(torch.nn.Module):
    """The learned sky behind the splats: SkyGradient's colours by ray elevation, or a constant."""

    def __init__(self, mode: str, init_rgb: np.ndarray) -> None:
        super().__init__()
        if mode not in ("gradient", "constant", "none"):
            raise ValueError(f"sky must be 'gradient', 'constant' or 'none', not {mode!r}")
        self.mode = mode
        c = torch.as_tensor(np.clip(init_rgb, 0.0, 1.0), dtype=torch.float32)
        self.horizon = torch.nn.Parameter(c.clone())
        self.zenith = torch.nn.Parameter(c.clone())
        self.below = torch.nn.Parameter(c.clone())

    def image(self, viewmat: torch.Tensor, K: torch.Tensor, width: int, height: int) -> torch.Tensor:
        """(H, W, 3) sky colour of each pixel's ray (render.backends._composite_sky's formula)."""
        device = viewmat.device
        if self.mode == "none":
            return torch.zeros(height, width, 3, device=device)
        if self.mode == "constant":
            return self.horizon.clamp(0, 1).expand(height, width, 3)
        ux, uy, uz = viewmat[0, 2], viewmat[1, 2], viewmat[2, 2]  # world z in camera axes
        ys = (torch.arange(height, device=device, dtype=torch.float32) + 0.5 - K[1, 2]) / K[1, 1]
        xs = (torch.arange(width, device=device, dtype=torch.float32) + 0.5 - K[0, 2]) / K[0, 0]
        y, x = torch.meshgrid(ys, xs, indexing="ij")
        e = (x * ux + y * uy + uz) / torch.sqrt(x * x + y * y + 1.0)
        up = torch.clamp(e, 0.0, 1.0) ** SKY_EXPONENT
        down = torch.clamp(-e / SKY_BELOW_FADE, 0.0, 1.0)
        horizon, zenith, below = self.horizon.clamp(0, 1), self.zenith.clamp(0, 1), self.below.clamp(0, 1)
        above = horizon + (zenith - horizon) * up[..., None]
        under = horizon + (below - horizon) * down[..., None]
        return torch.where((e >= 0)[..., None], above, under)

    def export(self):
        from render.backends import SkyGradient

        tup = lambda p: tuple(float(v) for v in p.detach().clamp(0, 1).cpu())  # noqa: E731
        if self.mode == "none":
            return None
        if self.mode == "constant":
            return tup(self.horizon)
        return SkyGradient(zenith_rgb=tup(self.zenith), horizon_rgb=tup(self.horizon), below_rgb=tup(self.below),
                           exponent=SKY_EXPONENT, below_fade=SKY_BELOW_FADE)


def _strategy(config: FitConfig):
    from gsplat.strategy import DefaultStrategy

    class CappedDefaultStrategy(DefaultStrategy):
        """gsplat's DefaultStrategy that stops growing at max_gaussians."""

        max_gaussians: int = 3_000_000

        def _grow_gs(self, params, optimizers, state, step):
            if len(params["means"]) >= self.max_gaussians:
                return 0, 0
            return super()._grow_gs(params, optimizers, state, step)

    strategy = CappedDefaultStrategy(
        prune_opa=config.prune_opa, grow_grad2d=config.grow_grad2d, grow_scale3d=config.grow_scale3d,
        prune_scale3d=config.prune_scale3d, refine_start_iter=config.refine_start, refine_stop_iter=config.refine_stop,
        refine_every=config.refine_every, reset_every=config.reset_every, verbose=False)
    strategy.max_gaussians = config.max_gaussians
    return strategy


def _dilate(mask: np.ndarray, pixels: int) -> np.ndarray:
    from scipy.ndimage import binary_dilation

    return binary_dilation(mask, iterations=pixels) if pixels > 0 and mask.any() else mask


class Trainer:
    """One fit in progress (see the module docstring). Use `fit` unless stepping by hand."""

    def __init__(self, frames: FrameSet, init: InitialScene, config: FitConfig, train_index: np.ndarray,
                 rasterize: RasterizeFn, device: str = "cpu", supports_pixel_masks: bool = True) -> None:
        self.frames = frames
        self.config = config
        self.train_index = np.asarray(train_index)
        self.rasterize = rasterize
        self.device = torch.device(device)
        self.supports_pixel_masks = supports_pixel_masks
        self.num_actors = frames.actors.num_actors
        if len(init.actors) != self.num_actors:
            raise ValueError(f"the initial scene has {len(init.actors)} actor sets, "
                             f"the frames {self.num_actors} actors")
        self.scene_scale = scene_scale(frames)
        torch.manual_seed(config.seed)
        degree = config.sh_degree
        parts = [init.background.with_sh_degree(degree)] + [a.with_sh_degree(degree) for a in init.actors]
        owners = [np.full(p.num_gaussians, i - 1, np.float32) for i, p in enumerate(parts)]
        cat = lambda name: np.concatenate([getattr(p, name) for p in parts])  # noqa: E731
        sh = cat("sh")
        dev = self.device
        t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32, device=dev)  # noqa: E731
        self.params: dict[str, torch.nn.Parameter] = {
            "means": torch.nn.Parameter(t(cat("means"))),
            "quats": torch.nn.Parameter(t(cat("quats_wxyz"))),
            "scales": torch.nn.Parameter(t(cat("log_scales"))),
            "opacities": torch.nn.Parameter(t(cat("opacity_logits"))),
            "sh0": torch.nn.Parameter(t(sh[:, :1])),
        }
        if degree > 0:
            self.params["shN"] = torch.nn.Parameter(t(sh[:, 1:]))
        self.params["owner"] = torch.nn.Parameter(t(np.concatenate(owners)), requires_grad=False)
        self.optimizers = self._optimizers()
        top = frames.images[self.train_index, : max(1, frames.height // 10)].reshape(-1, 3)
        self.sky = SkyModel(config.sky, top.mean(axis=0) if len(top) else np.full(3, 0.5)).to(dev)
        self.sky_optimizer = torch.optim.Adam(self.sky.parameters(), lr=config.lr_sky * config.lr_multiplier) \
            if config.sky != "none" else None
        self.strategy = _strategy(config) if config.densify else None
        self.strategy_state = self.strategy.initialize_state(scene_scale=self.scene_scale) if self.strategy else None
        if self.strategy is not None:
            self.strategy.check_sanity(self.params, self.optimizers)
        self.images = torch.as_tensor(frames.images, device=dev)
        self.viewmats = torch.as_tensor(frames.viewmats, dtype=torch.float32, device=dev)
        self.Ks = torch.as_tensor(frames.Ks, dtype=torch.float32, device=dev)
        size = frames.actors.size_wlh_m
        self.box_half_extents = torch.as_tensor(np.stack([size[:, 1], size[:, 0], size[:, 2]], -1).reshape(-1, 3) / 2,
                                                dtype=torch.float32, device=dev)  # (M, 3) box-frame x, y, z
        self.box_poses = torch.as_tensor(frames.actor_pose_box_to_world, dtype=torch.float32, device=dev)
        f, m = frames.num_frames, self.num_actors
        quats = quaternion_from_rotation_matrix(frames.actor_pose_box_to_world[..., :3, :3].reshape(-1, 3, 3))
        identity = np.tile([1.0, 0.0, 0.0, 0.0], (f, 1, 1))
        self.box_quats = torch.as_tensor(np.concatenate([quats.reshape(f, m, 4), identity], 1), dtype=torch.float32,
                                         device=dev)  # (F, M + 1, 4), identity last (the background)
        masks = actor_masks(frames, config.actor_mask_margin_m) if self.num_actors else \
            np.zeros((frames.num_frames, frames.height, frames.width), bool)
        self.masks = torch.as_tensor(masks, device=dev)
        self.render_masks = torch.as_tensor(np.stack([_dilate(m, 5) for m in masks]), device=dev)
        self.step = 0
        self.losses: list[float] = []

    # ---- parameters ---------------------------------------------------------------------------

    def _base_lr(self, name: str) -> float:
        c = self.config
        base = {"means": c.lr_means * self.scene_scale, "quats": c.lr_quats, "scales": c.lr_scales,
                "opacities": c.lr_opacities, "sh0": c.lr_sh0, "shN": c.lr_shN}[name]
        return base * c.lr_multiplier

    def _optimizers(self) -> dict[str, torch.optim.Adam]:
        """One Adam per trained parameter (gsplat's layout: the strategy swaps their tensors). On
        CPU the fused kernel: the unfused one is a chain of ~10 passes over each tensor."""
        fused = self.device.type == "cpu"
        return {name: torch.optim.Adam([{"params": [p], "lr": self._base_lr(name), "name": name}], eps=1e-15,
                                       fused=fused)
                for name, p in self.params.items() if p.requires_grad}

    def _set_learning_rates(self) -> None:
        c = self.config
        frac = min(self.step / max(c.steps, 1), 1.0)
        lr = self._base_lr("means") * c.lr_means_final_ratio ** frac
        for group in self.optimizers["means"].param_groups:
            group["lr"] = lr

    def active_sh_degree(self) -> int:
        return min(self.config.sh_degree, self.step // max(self.config.sh_degree_interval, 1))

    def num_gaussians(self) -> int:
        return int(self.params["means"].shape[0])

    def _world(self, f: int, actors_live: bool, background_live: bool):
        """Gaussians drawn in frame f: indices into the parameters, and their world-frame means,
        quats, scales, opacities and the rotation world -> own frame (for SH directions)."""
        p = self.params
        owner = p["owner"].detach().long()
        present = torch.as_tensor(self.frames.actor_present[f], device=self.device)
        if self.num_actors:
            keep = (owner < 0) | present[owner.clamp(min=0)]
            sel = torch.nonzero(keep)[:, 0]
        else:
            sel = torch.arange(len(owner), device=self.device)
        own = owner[sel]
        is_actor = own >= 0
        # without actors every Gaussian is drawn: no gather (and no scatter in backward)
        pick = (lambda x: x) if not self.num_actors else (lambda x: x[sel])  # noqa: E731

        def live(x: torch.Tensor) -> torch.Tensor:
            if actors_live and background_live:
                return x
            if not actors_live and not background_live:
                return x.detach()
            mask = is_actor if actors_live else ~is_actor
            return torch.where(mask.view(-1, *([1] * (x.dim() - 1))), x, x.detach())

        means = live(pick(p["means"]))
        quats = live(pick(p["quats"]))
        scales = torch.exp(live(pick(p["scales"])))
        opacities = torch.sigmoid(live(pick(p["opacities"])))
        sh = p["sh0"] if "shN" not in p else torch.cat([p["sh0"], p["shN"]], 1)
        sh = live(pick(sh))
        rot = None
        if self.num_actors and bool(is_actor.any()):
            poses = torch.cat([self.box_poses[f], torch.eye(4, device=self.device)[None]])  # identity last
            idx = torch.where(is_actor, own, torch.full_like(own, self.num_actors))
            rot = poses[idx, :3, :3]
            means = (rot @ means[..., None])[..., 0] + poses[idx, :3, 3]
            quats = quat_multiply(self.box_quats[f][idx], quats)
        return sel, means, quats, scales, opacities, sh, rot

    def render(self, f: int, actors_live: bool = True, background_live: bool = True, sky_live: bool = True,
               pixel_mask: torch.Tensor | None = None, viewmat: torch.Tensor | None = None):
        """(rgb (H, W, 3) with the sky, alpha (H, W), info, selected indices) of frame f."""
        sel, means, quats, scales, opacities, sh, rot = self._world(f, actors_live, background_live)
        vm = self.viewmats[f] if viewmat is None else viewmat
        k = self.Ks[f]
        campos = -vm[:3, :3].T @ vm[:3, 3]
        dirs = means - campos
        if rot is not None:
            dirs = (rot.transpose(1, 2) @ dirs[..., None])[..., 0]  # into each Gaussian's own frame
        colors = sh_to_color(sh, dirs, self.active_sh_degree())
        kwargs = {}
        if pixel_mask is not None and self.supports_pixel_masks:
            kwargs["pixel_masks"] = pixel_mask[None]
        if self.supports_pixel_masks:
            kwargs["max_pairs"] = self.config.max_pairs
        out, alphas, info = self.rasterize(means, quats, scales, opacities, colors, vm[None], k[None],
                                           self.frames.width, self.frames.height, **kwargs)
        sky = self.sky.image(vm, k, self.frames.width, self.frames.height)
        if not sky_live:
            sky = sky.detach()
        alpha = alphas[0, ..., 0]
        rgb = out[0, ..., :3] + (1.0 - alpha)[..., None] * sky
        return rgb, alpha, info, sel

    # ---- one step -------------------------------------------------------------------------------

    def _pixel_loss(self, pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        lam = self.config.ssim_lambda
        l1 = (pred - gt).abs().mean(-1)
        if lam <= 0:
            return l1
        return (1 - lam) * l1 + lam * (1 - ssim_map(pred, gt))

    def frame_order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.config.seed, epoch]).permutation(self.train_index)

    def train_step(self) -> float:
        n_train = len(self.train_index)
        f = int(self.frame_order(self.step // n_train)[self.step % n_train])
        self._set_learning_rates()
        gt = self.images[f]
        mask = self.masks[f]
        hw = float(mask.numel())
        passes = []
        if self.num_actors and bool(mask.any()):
            rgb_a, _, info_a, sel_a = self.render(f, actors_live=True, background_live=True)
            rgb_b, _, info_b, sel_b = self.render(f, actors_live=True, background_live=False, sky_live=False,
                                                  pixel_mask=self.render_masks[f])
            for info in (info_a, info_b):
                info["means2d"].retain_grad()
            loss = ((self._pixel_loss(rgb_a, gt) * (~mask)).sum() + (self._pixel_loss(rgb_b, gt) * mask).sum()) / hw
            passes = [(info_a, sel_a), (info_b, sel_b)]
        else:
            rgb, _, info, sel = self.render(f)
            info["means2d"].retain_grad()
            loss = self._pixel_loss(rgb, gt).mean()
            passes = [(info, sel)]
        loss.backward()
        info = self._strategy_info(passes) if self.strategy is not None else None
        for opt in self.optimizers.values():
            opt.step()
            opt.zero_grad(set_to_none=True)
        if self.sky_optimizer is not None:
            self.sky_optimizer.step()
            self.sky_optimizer.zero_grad(set_to_none=True)
        self._keep_actors_in_boxes()
        if self.strategy is not None:  # after the optimiser, as gsplat's simple_trainer
            self.strategy.step_post_backward(self.params, self.optimizers, self.strategy_state, self.step, info)
        self.step += 1
        value = float(loss.detach())
        self.losses.append(value)
        return value

    @torch.no_grad()
    def _keep_actors_in_boxes(self) -> None:
        """Clamp actor Gaussians' centres into their box grown by actor_box_margin_m."""
        if not self.num_actors:
            return
        owner = self.params["owner"].long()
        is_actor = owner >= 0
        if not bool(is_actor.any()):
            return
        limit = self.box_half_extents[owner.clamp(min=0)] + self.config.actor_box_margin_m
        means = self.params["means"]
        clamped = torch.maximum(torch.minimum(means, limit), -limit)
        means.copy_(torch.where(is_actor[:, None], clamped, means))

    def _strategy_info(self, passes) -> dict:
        """gsplat's info for all N Gaussians: the passes' screen-space gradients summed and
        their radii maxed, scattered from the drawn subsets to the full parameter rows."""
        n = self.num_gaussians()
        grad = torch.zeros(1, n, 2, device=self.device)
        radii = torch.zeros(1, n, 2, dtype=torch.int32, device=self.device)
        for info, sel in passes:
            g = info["means2d"].grad
            if g is not None:
                grad[0].index_add_(0, sel, g[0].to(grad.dtype))
            radii[0, sel] = torch.maximum(radii[0, sel], info["radii"][0].to(torch.int32))
        means2d = torch.zeros(1, n, 2, device=self.device)
        means2d.grad = grad
        return {"means2d": means2d, "radii": radii, "width": self.frames.width, "height": self.frames.height,
                "n_cameras": 1, "gaussian_ids": None}

    # ---- checkpoints ----------------------------------------------------------------------------

    def save_checkpoint(self, path: Path) -> None:
        from sim.atomic import atomic_path

        state = {
            "step": self.step,
            "num_frames": self.frames.num_frames,
            "config": asdict(self.config),
            "params": {k: v.detach().cpu() for k, v in self.params.items()},
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "strategy_state": None if self.strategy_state is None else
            {k: (v.cpu() if isinstance(v, torch.Tensor) else v) for k, v in self.strategy_state.items()},
            "sky": self.sky.state_dict(),
            "sky_optimizer": None if self.sky_optimizer is None else self.sky_optimizer.state_dict(),
            "losses": list(self.losses),
            "torch_rng": torch.get_rng_state(),
        }
        with atomic_path(path, suffix=".tmp") as tmp:
            torch.save(state, tmp)

    def load_checkpoint(self, path: Path) -> bool:
        """Resume from a checkpoint of the same run; False (and nothing changed) when it is of
        another run (other frames, steps or settings)."""
        state = torch.load(path, map_location=self.device, weights_only=False)
        if state.get("num_frames") != self.frames.num_frames or state.get("config") != asdict(self.config):
            return False
        self.params = {k: torch.nn.Parameter(v.to(self.device), requires_grad=(k != "owner"))
                       for k, v in state["params"].items()}
        self.optimizers = self._optimizers()
        for k, o in self.optimizers.items():
            o.load_state_dict(state["optimizers"][k])
        if self.strategy_state is not None and state["strategy_state"] is not None:
            self.strategy_state = {k: (v.to(self.device) if isinstance(v, torch.Tensor) else v)
                                   for k, v in state["strategy_state"].items()}
        self.sky.load_state_dict(state["sky"])
        if self.sky_optimizer is not None and state["sky_optimizer"] is not None:
            self.sky_optimizer.load_state_dict(state["sky_optimizer"])
        self.losses = list(state["losses"])
        self.step = int(state["step"])
        torch.set_rng_state(state["torch_rng"])
        return True

    # ---- export ---------------------------------------------------------------------------------

    def export(self) -> tuple[GaussianScene, list[GaussianScene]]:
        p = {k: v.detach().cpu().numpy() for k, v in self.params.items()}
        sh = p["sh0"] if "shN" not in p else np.concatenate([p["sh0"], p["shN"]], 1)
        owner = np.round(p["owner"]).astype(np.int64)
        scene = GaussianScene(means=p["means"].astype(np.float32), quats_wxyz=p["quats"].astype(np.float32),
                              log_scales=p["scales"].astype(np.float32),
                              opacity_logits=p["opacities"].astype(np.float32), sh=sh.astype(np.float32))
        return scene.subset(owner < 0), [scene.subset(owner == j) for j in range(self.num_actors)]


def fit(frames: FrameSet, init: InitialScene, config: FitConfig, train_index: np.ndarray, test_index: np.ndarray,
        rasterize: RasterizeFn, device: str = "cpu", supports_pixel_masks: bool = True,
        checkpoint_path: str | Path | None = None,
        progress: Callable[[int, float, int], None] | None = None) -> FitResult:
    """Fit the initial scene to the training frames (see the module docstring).

    rasterize, supports_pixel_masks: as `rasterizer_for` gives them (`tile_raster.rasterize` or
    `diff_raster.rasterize` on CPU, `gsplat_fit.rasterize_gsplat` on CUDA); progress(step, loss,
    num_gaussians) is called every config.log_every steps and at the end.
    """
    trainer = Trainer(frames, init, config, train_index, rasterize, device, supports_pixel_masks)
    resumed = 0
    ckpt = Path(checkpoint_path) if checkpoint_path is not None else None
    if ckpt is not None and ckpt.exists() and trainer.load_checkpoint(ckpt):
        resumed = trainer.step
    start = time.perf_counter()
    while trainer.step < config.steps:
        loss = trainer.train_step()
        if not math.isfinite(loss):
            raise FloatingPointError(f"the loss became {loss} at step {trainer.step}: lower the learning rates")
        if progress is not None and (trainer.step % max(config.log_every, 1) == 0 or trainer.step == config.steps):
            progress(trainer.step, loss, trainer.num_gaussians())
        if ckpt is not None and config.checkpoint_every and trainer.step % config.checkpoint_every == 0 \
                and trainer.step < config.steps:
            trainer.save_checkpoint(ckpt)
    seconds = time.perf_counter() - start
    background, actors = trainer.export()
    return FitResult(background=background, actors=actors, sky=trainer.sky.export(),
                     losses=np.asarray(trainer.losses, np.float64), seconds=seconds,
                     train_index=np.asarray(train_index), test_index=np.asarray(test_index),
                     num_gaussians=trainer.num_gaussians(), resumed_from=resumed, config=asdict(config))

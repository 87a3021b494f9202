"""The reconstruction self-check: no captured images needed.

A small crop of the procedural street (`build_street_scene(synthetic_road_map(), ...)`, about
10k Gaussians: road, markings, kerbs, a building row, trees) and, optionally, one procedural car
driving ahead in the next lane are rendered with the CPU rasterizer for three front cameras of
the nuScenes rig along a 15 m path, with the default SkyGradient behind. The reconstruction
then starts from what a log without lidar gives (map-based points coloured from the images,
box-surface points for the car), fits with the same loop as `splatsim data reconstruct`, and is
scored on the held-out frames, rendered by splatsim's own renderer from the exported scene.
Because the ground truth is known everywhere, the novel views (ego moved 1 and 3 m left) are
scored too.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from render.reconstruct.fit import FitConfig, schedule_for_steps
from render.reconstruct.init import InitConfig


def short_schedule(steps: int, **overrides) -> FitConfig:
    """The self-check's FitConfig: `schedule_for_steps(steps)` (a short run: SH degree 0,
    learning rates x1.5, densification from 1/6 to 70 % of the run) capped at 8,000 Gaussians."""
    base = dict(max_gaussians=8000, checkpoint_every=0, log_every=max(steps // 10, 1))
    base.update(overrides)
    return schedule_for_steps(steps, **base)


@dataclass(frozen=True)
class SelfCheckConfig:
    """The self-check scene and fit. Lengths in metres.

    - width, height: image size; cameras: nuScenes rig cameras rendered at every pose.
    - path_start_x_m, path_length_m, path_step_m, lane_y_m: the ego drives east along y =
      lane_y_m from path_start_x_m, one pose every path_step_m (0.1 s apart).
    - crop_radius_m: the street is built within this distance of the path.
    - with_actor: a car drives ahead in the next lane (fitted as an actor asset).
    - holdout_every: every n-th frame is held out.
    - init: initial points; fit: the training settings (default: `short_schedule(steps)`).
    - steps: fit steps when `fit` is None; threshold_psnr_db: held-out PSNR to pass.
    """

    width: int = 64
    height: int = 48
    cameras: tuple[str, ...] = ("CAM_FRONT_LEFT", "CAM_FRONT", "CAM_FRONT_RIGHT")
    path_start_x_m: float = -60.0
    path_length_m: float = 15.0
    path_step_m: float = 1.0
    lane_y_m: float = -5.25
    crop_radius_m: float = 14.0
    with_actor: bool = True
    holdout_every: int = 8
    init: InitConfig = field(default_factory=lambda: InitConfig(
        road_points=4000, roadside_points=4000, far_points=1000, path_radius_m=20.0, max_init_scale_m=0.3))
    steps: int = 500
    fit: FitConfig | None = None
    threshold_psnr_db: float = 25.0

    def fit_config(self) -> FitConfig:
        return self.fit if self.fit is not None else short_schedule(self.steps)


def selfcheck_world(config: SelfCheckConfig):
    """(background GaussianScene, ActorAssets or None, ActorTracks or None, road map, ego poses
    (S, 4, 4), times (S,)) of the self-check."""
    from shapely.geometry import LineString

    from render.assets import ActorAssets, car_asset
    from render.procedural import StreetSceneConfig, build_street_scene, synthetic_road_map
    from sim.geometry import pose_from_xy_yaw
    from sim.types.scenario import STEP_US, ActorKind, ActorTracks

    road_map = synthetic_road_map()
    x0, length, y = config.path_start_x_m, config.path_length_m, config.lane_y_m
    region = LineString([(x0, y), (x0 + length, y)]).buffer(config.crop_radius_m)
    background = build_street_scene(road_map, StreetSceneConfig(), None, region)
    xs = np.arange(x0, x0 + length + 1e-9, config.path_step_m)
    poses = pose_from_xy_yaw(xs, y, 0.0, 0.0)
    t_us = np.arange(len(xs), dtype=np.int64) * STEP_US
    if not config.with_actor:
        return background, None, None, road_map, poses, t_us
    size_wlh = np.array([1.9, 4.5, 1.6])
    n = len(xs)
    ax = x0 + 12.0 + 0.6 * np.arange(n)  # ahead of the ego in the next lane (left), slower
    tracks = ActorTracks(
        instance_tokens=np.array(["selfcheck-car-0"]), category=np.array(["vehicle.car"]),
        kind=np.array([ActorKind.VEHICLE], np.int8), size_wlh_m=size_wlh[None],
        xy=np.stack([ax, np.full(n, y + 3.5)], -1)[None], z=np.full((1, n), size_wlh[2] / 2),
        yaw_rad=np.zeros((1, n)), velocity_xy_mps=np.tile([[6.0, 0.0]], (1, n, 1)), valid=np.ones((1, n), bool))
    asset = car_asset(size_wlh[1], size_wlh[0], size_wlh[2], np.random.default_rng(3))
    assets = ActorAssets(tracks.instance_tokens.astype(object), tracks.category.astype(object), tracks.kind,
                         tracks.size_wlh_m, (asset,))
    return background, assets, tracks, road_map, poses, t_us


def run_selfcheck(out_dir: str | Path, config: SelfCheckConfig = SelfCheckConfig(), device: str = "cpu",
                  progress: Callable[[int, float, int], None] | None = None) -> dict:
    """Render, reconstruct and score the self-check scene; write the report under out_dir
    (plus selfcheck.ply and its actor assets); return the metrics (with "passed")."""
    import torch

    from render.backends import SkyGradient
    from render.reconstruct.data import frames_from_renders, holdout_split
    from render.reconstruct.fit import FitResult, fit
    from render.reconstruct.init import initial_scene
    from render.reconstruct.report import render_fit, write_report
    from render.rig import nuscenes_default_rig

    out = Path(out_dir)
    t0 = time.perf_counter()
    background, assets, tracks, road_map, poses, t_us = selfcheck_world(config)
    rig = nuscenes_default_rig(config.width, config.height, list(config.cameras))
    sky = SkyGradient()
    frames = frames_from_renders(background, rig, poses, t_us, config.width, config.height, sky=sky,
                                 actor_assets=assets, actors=tracks, t_grid_us=t_us if tracks is not None else None)
    train, test = holdout_split(frames.num_frames, config.holdout_every)
    fit_config = config.fit_config()
    init = initial_scene(frames, train, config.init, fit_config.sh_degree, road_map=road_map)
    rasterize, backend, pixel_masks = _path_for(device)
    threads = torch.get_num_threads()
    if device == "cpu":
        torch.set_num_threads(1)  # tiny images: one thread is faster and steadier on a shared machine
    try:
        result = fit(frames, init, fit_config, train, test, rasterize, device=device,
                     supports_pixel_masks=pixel_masks, progress=progress)
    finally:
        torch.set_num_threads(threads)

    truth = FitResult(background, list(assets.assets) if assets is not None else [], sky, np.zeros(0), 0.0,
                      np.zeros(0, int), np.zeros(0, int), 0)

    def reference(index: np.ndarray, viewmats: np.ndarray) -> np.ndarray:
        return render_fit(truth, frames, index, "cpu", viewmats=viewmats)

    summary = {"scene": "selfcheck: synthetic crossroads street crop" + (" + 1 car" if config.with_actor else ""),
               "device": device, "init": init.source, "ground_truth_gaussians": background.num_gaussians,
               "selfcheck_config": _jsonable(asdict(replace(config, fit=fit_config))),
               "threshold_psnr_db": config.threshold_psnr_db}
    metrics = write_report(out, frames, result, backend, summary, reference=reference)
    metrics["total_seconds"] = time.perf_counter() - t0
    _export(out / "selfcheck.ply", result, frames)
    from sim.atomic import write_json_atomic

    write_json_atomic(out / "metrics.json", metrics)
    return metrics


def _path_for(device: str):
    """(rasterize function, evaluation backend, whether it takes pixel masks) for a device."""
    from render.reconstruct.fit import rasterizer_for

    if device.startswith("cuda"):
        from render.reconstruct.gsplat_fit import cuda_unavailable_reason

        reason = cuda_unavailable_reason()
        if reason is not None:
            from sim.errors import ConfigError

            raise ConfigError(f"--device cuda: {reason}; use --device cpu (the numba tile rasterizer)")
    return rasterizer_for(device)


def _export(path: Path, result, frames) -> None:
    from render.reconstruct.export import save_reconstruction

    save_reconstruction(path, result, frames.actors)


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    return obj

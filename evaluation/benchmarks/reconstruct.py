"""Seconds per reconstruction training step on CPU, tile rasterizer against the torch reference.

One measured step is everything `render.reconstruct.fit.Trainer.train_step` does: SH colours,
projection, compositing, the sky, the L1 + D-SSIM loss, the backward pass and the Adam steps.
The scene is a crop of the procedural street (`street_scene_with_count`, tuned to the requested
number of Gaussians) along a 15 m drive, rendered by the CPU renderer for the front camera of
the nuScenes rig at the requested size (default 613 x 185, half the KITTI excerpt's images);
training starts from that scene with its colours, opacities and sizes disturbed, so the
Gaussians are where a real fit has them. Densification is off, so every step draws the same
number of Gaussians. The baseline, timed in the same run on the same frames, is the dense
torch rasterizer (`render.reconstruct.diff_raster`). With a dataroot, "wall" also runs the
whole `splatsim data reconstruct` pipeline on it and reports its times and held-out scores.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from evaluation.machine import machine_info

PATH_START_X_M, PATH_LENGTH_M, LANE_Y_M = -60.0, 15.0, -5.25


def _frames_and_init(gaussians: int, width: int, height: int, frames: int, seed: int):
    """(FrameSet of the street crop, InitialScene: that scene disturbed)."""
    from shapely.geometry import LineString

    from render.backends import SkyGradient
    from render.procedural import StreetSceneConfig, street_scene_with_count, synthetic_road_map
    from render.reconstruct.data import frames_from_renders
    from render.reconstruct.init import InitialScene
    from render.rig import nuscenes_default_rig
    from sim.geometry import pose_from_xy_yaw
    from sim.types.scenario import STEP_US

    road_map = synthetic_road_map()
    x0, y = PATH_START_X_M, LANE_Y_M
    region = LineString([(x0, y), (x0 + PATH_LENGTH_M + 40.0, y)]).buffer(20.0)
    scene = street_scene_with_count(road_map, gaussians, StreetSceneConfig(seed=seed), None, region)
    xs = np.linspace(x0, x0 + PATH_LENGTH_M, frames)
    rig = nuscenes_default_rig(width, height, ["CAM_FRONT"])
    frame_set = frames_from_renders(scene, rig, pose_from_xy_yaw(xs, y, 0.0, 0.0),
                                    np.arange(frames, dtype=np.int64) * STEP_US, width, height, sky=SkyGradient())
    rng = np.random.default_rng(seed)
    n = scene.num_gaussians
    disturbed = type(scene)(means=scene.means, quats_wxyz=scene.quats_wxyz,
                            log_scales=(scene.log_scales + rng.normal(0.0, 0.2, (n, 3))).astype(np.float32),
                            opacity_logits=(scene.opacity_logits - 1.0).astype(np.float32),
                            sh=(scene.sh[:, :1] + rng.normal(0.0, 0.2, (n, 1, 3))).astype(np.float32))
    return frame_set, InitialScene(disturbed, [], "given")


def _step_seconds(frames, init, rasterize, steps: int, warmup: int, seed: int) -> np.ndarray:
    from render.reconstruct.fit import Trainer, schedule_for_steps

    config = schedule_for_steps(max(steps + warmup, 1), densify=False, checkpoint_every=0, seed=seed)
    trainer = Trainer(frames, init, config, np.arange(frames.num_frames), rasterize, device="cpu")
    times = []
    for i in range(steps + warmup):
        t0 = time.perf_counter()
        trainer.train_step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return np.asarray(times)


def bench_reconstruct(gaussians: int = 200_000, width: int = 613, height: int = 185, steps: int = 20,
                      baseline_steps: int = 2, threads: int = 1, frames: int = 8, seed: int = 0,
                      wall=None) -> dict:
    """Median seconds per training step of the tile rasterizer (after two warm-up steps, which
    compile the kernels) and of the torch reference (baseline_steps, 0: skipped), their ratio,
    and with `wall` (a resolved evaluation.reconstruction.ReconstructConfig) the pipeline's
    wall time and held-out scores."""
    import torch

    from render.reconstruct import diff_raster, tile_raster

    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, threads))
    try:
        frame_set, init = _frames_and_init(gaussians, width, height, frames, seed)
        tile = _step_seconds(frame_set, init, tile_raster.rasterize, steps, 2, seed)
        result = {"gaussians": init.background.num_gaussians, "width": width, "height": height, "steps": steps,
                  "torch_threads": max(1, threads), "tile_step_s_median": round(float(np.median(tile)), 4),
                  "tile_step_s_min": round(float(np.min(tile)), 4)}
        if baseline_steps > 0:
            base = _step_seconds(frame_set, init, diff_raster.rasterize, baseline_steps, 0, seed)
            result.update({"baseline": "dense pure-torch rasterizer (render.reconstruct.diff_raster)",
                           "baseline_steps": baseline_steps, "torch_step_s_median": round(float(np.median(base)), 3),
                           "speedup_vs_torch": round(float(np.median(base) / np.median(tile)), 1)})
    finally:
        torch.set_num_threads(previous)
    if wall is not None:
        result["wall"] = _wall(wall)
    result["machine"] = machine_info()
    result["load_average_1min"] = round(os.getloadavg()[0], 2)
    return result


def _wall(config) -> dict:
    """Run the reconstruction pipeline once: its times, Gaussians and held-out scores."""
    from evaluation.reconstruction import reconstruct

    t0 = time.perf_counter()
    r = reconstruct(config)
    return {"dataroot": str(Path(config.dataroot)), "scene": config.scene, "steps": r.steps,
            "resolution": list(r.resolution), "fit_seconds": round(r.fit_seconds, 1),
            "total_seconds": round(time.perf_counter() - t0, 1), "gaussians": r.gaussians,
            "heldout_psnr_db": r.heldout_psnr_db, "heldout_ssim": r.heldout_ssim, "heldout_frames": r.heldout_frames}

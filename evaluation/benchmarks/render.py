"""Frames per second of the Gaussian rasterizer on a street scene.

One measured frame is everything a renderer does per step: placing the actors' assets at
their poses, rasterizing every camera of the rig and compositing the sky. The scene is the
procedural street of a synthetic crossroads map (or of a logged scene's map), tuned to the
requested number of Gaussians (street plus actors), with cars and pedestrians on it; the
cameras drive along the road, one pose per repeat. The baseline, timed on the same frames in
the same run, is the dense torch compositor (`render.torch_reference`); the PSNR between the
two is reported too. `--sweep` measures the scaling grid (Gaussians, pixels, cameras).
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from evaluation.machine import machine_info

CAMERA_ORDER = ("CAM_FRONT", "CAM_FRONT_LEFT", "CAM_FRONT_RIGHT", "CAM_BACK", "CAM_BACK_LEFT", "CAM_BACK_RIGHT")


def _street(gaussians: int, dataroot: Path | None, scene: str | None, version: str, seed: int):
    """(background ActivatedGaussians, ActorAssets, ActorTracks, ego poses (R, 4, 4) source, num_gaussians)."""
    from render.assets import build_actor_assets
    from render.gaussians import activate
    from render.procedural import StreetSceneConfig, region_around, street_scene_with_count, synthetic_road_map
    from render.renderer import ground_height_of
    from scenarios.synthetic import ROAD_ORIGIN_XY, ActorSpec, straight_road_scenario
    from sim.types.scenario import ActorKind

    if dataroot is not None:
        from evaluation.scenario_refs import load_scenario_from_args

        scenario = load_scenario_from_args(dataroot, scene, version)
        road_map, height = scenario.map, ground_height_of(scenario)
        valid = np.asarray(scenario.ego.valid, bool)
        ego_xy, ego_yaw = scenario.ego.xy[valid], scenario.ego.yaw_rad[valid]
        region = region_around(ego_xy, StreetSceneConfig().scenario_radius_m)
        tracks = scenario.actors
    else:
        road_map, height, region = synthetic_road_map(), None, None
        ego_xy = np.column_stack([np.linspace(-110.0, 110.0, 64), np.full(64, -5.25)])
        ego_yaw = np.zeros(64)
        # cars in both directions and pedestrians on the sidewalks (lanes 2 and -3 lie there), laid
        # out by the synthetic-scenario generator on a road of the same lanes, moved onto the map
        # (about 1 car and 1 person per 25k Gaussians, so that actors stay ~15 % of the scene)
        rng = np.random.default_rng(seed)
        n = int(np.clip(gaussians // 25_000, 1, 16))
        cars = [ActorSpec(x_m=float(x), lane=int(lane))
                for x, lane in zip(rng.uniform(10, 290, n), rng.choice([0, 1, -1, -2], n))]
        people = [ActorSpec(x_m=float(x), lane=int(lane), size_wlh_m=(0.6, 0.7, 1.75), kind=ActorKind.PEDESTRIAN,
                            category="human.pedestrian.adult")
                  for x, lane in zip(rng.uniform(10, 290, n), rng.choice([2, -3], n))]
        tracks = straight_road_scenario(num_steps=2, actors=tuple(cars + people), road_length_m=300.0,
                                        name="bench").actors
        tracks = replace(tracks, xy=tracks.xy - np.asarray(ROAD_ORIGIN_XY) - np.array([150.0, 0.0]))
    assets = build_actor_assets(tracks, seed=seed)
    actor_count = int(sum(a.num_gaussians for a in assets.assets))
    config = StreetSceneConfig(seed=seed)
    background = street_scene_with_count(road_map, max(gaussians - actor_count, 1000), config, height, region)
    return activate(background), assets, tracks, ego_xy, ego_yaw, background.num_gaussians + actor_count


def _measure(background, assets, tracks, ego_xy, ego_yaw, width, height, cameras, repeats, backend):
    """(per-frame seconds (R,), the last frames' rgb (R, C, H, W, 3))."""
    from render.assets import placement_from_state
    from render.backends import SkyGradient, render_rig
    from render.rig import nuscenes_default_rig, viewmats_world_to_camera
    from sim.geometry import pose_from_xy_yaw

    rig = nuscenes_default_rig(width, height, CAMERA_ORDER[:cameras])
    sky = SkyGradient()
    idx = np.linspace(0, len(ego_xy) - 1, max(repeats, 1)).round().astype(int)
    times, frames = [], []
    for k in idx:
        pose = pose_from_xy_yaw(ego_xy[k, 0], ego_xy[k, 1], ego_yaw[k], 0.0)
        placement = placement_from_state(assets, tracks, tracks.xy[:, 0], tracks.yaw_rad[:, 0], tracks.valid[:, 0], 0)
        t0 = time.perf_counter()
        out = render_rig(background, placement, viewmats_world_to_camera(pose, rig.pose_camera_to_ego), rig.intrinsics,
                         width, height, backend=backend, background=sky)
        times.append(time.perf_counter() - t0)
        frames.append(out.rgb)
    return np.array(times), np.stack(frames)


def bench_once(backend: str, gaussians: int, width: int, height: int, cameras: int, repeats: int,
               baseline_repeats: int, dataroot: Path | None, scene: str | None, version: str, seed: int = 0) -> dict:
    from render.backends import resolve_backend

    name = resolve_backend(backend)
    background, assets, tracks, ego_xy, ego_yaw, total = _street(gaussians, dataroot, scene, version, seed)
    _measure(background, assets, tracks, ego_xy, ego_yaw, width, height, cameras, 2, name)  # compile / warm up
    times, frames = _measure(background, assets, tracks, ego_xy, ego_yaw, width, height, cameras, repeats, name)
    result = {"backend": name, "fps_median": round(1.0 / float(np.median(times)), 2),
              "ms_median": round(1e3 * float(np.median(times)), 2), "gaussians": total, "width": width,
              "height": height, "cameras": cameras, "repeats": repeats}
    if baseline_repeats > 0:
        base_times, base_frames = _measure(background, assets, tracks, ego_xy, ego_yaw, width, height, cameras,
                                           baseline_repeats, "torch")
        _, same_frames = _measure(background, assets, tracks, ego_xy, ego_yaw, width, height, cameras,
                                  baseline_repeats, name)
        mse = float(np.mean((np.clip(same_frames, 0, 1) - np.clip(base_frames, 0, 1)) ** 2))
        base_fps = 1.0 / float(np.median(base_times))
        result.update({"baseline": "torch dense compositor (render.torch_reference)",
                       "baseline_torch_fps_median": round(base_fps, 4),
                       "speedup_vs_baseline": round(result["fps_median"] / base_fps, 1),
                       "psnr_vs_baseline_db": round(10 * np.log10(1.0 / max(mse, 1e-20)), 2)})
    else:
        result.update({"baseline_torch_fps_median": None, "speedup_vs_baseline": None})
    result["machine"] = machine_info()
    # other processes on this (shared) machine slow the median down; say how busy it was
    result["load_average_1min"] = round(os.getloadavg()[0], 2)
    return result


SWEEP = ([("gaussians", g, 480, 270, 1) for g in (50_000, 100_000, 200_000, 400_000)]
         + [("pixels", 200_000, w, h, 1) for w, h in ((960, 540), (1600, 900))]
         + [("cameras", 200_000, 480, 270, c) for c in (3, 6)])


def bench_render(backend: str, gaussians: int, width: int, height: int, cameras: int, repeats: int,
                 baseline_repeats: int, dataroot: Path | None, scene: str | None, version: str,
                 sweep: bool = False) -> dict:
    """One measurement (with the baseline) and, with sweep, the scaling grid (`SWEEP`) under "sweep"."""
    result = bench_once(backend, gaussians, width, height, cameras, repeats, baseline_repeats, dataroot, scene, version)
    if sweep:
        result["sweep"] = []
        for axis, g, w, h, c in SWEEP:
            r = bench_once(backend, g, w, h, c, max(repeats // 2, 3), 0, dataroot, scene, version)
            result["sweep"].append({"axis": axis, "gaussians": r["gaussians"], "width": w, "height": h, "cameras": c,
                                    "fps_median": r["fps_median"], "ms_median": r["ms_median"]})
    return result

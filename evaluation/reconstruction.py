"""Fitting a Gaussian scene to a logged scene's camera images (`splatsim data reconstruct`).

Writes OUT (static background, global frame), OUT-stem.actors.ply/.json (one asset per
annotated actor in its box frame), OUT-stem.sky.json (the learned sky) and a report folder
(metrics.json with held-out PSNR/SSIM, report.md/.html, side-by-side and novel-view PNGs).
A run that dies resumes from OUT-stem.ckpt.pt. Images must exist under the dataroot.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from render.reconstruct import CPU_RASTERIZERS
from sim.errors import ConfigError, DatasetError

CPU_DEFAULT_STEPS = 2_500
CUDA_DEFAULT_STEPS = 30_000
CPU_DEFAULT_RESOLUTION = (160, 90)
CUDA_DEFAULT_RESOLUTION = (800, 450)
CPU_INIT_POINTS = 30_000
CUDA_INIT_POINTS = 200_000
CPU_MAX_GAUSSIANS = 150_000
CUDA_MAX_GAUSSIANS = 3_000_000
INIT_SOURCES = ("auto", "lidar", "stereo", "map")
MIN_STEREO_POINTS = 1_000  # fewer stereo matches than this: start from the map instead

Progress = Callable[[int, float, int], None]  # (step, loss, gaussians)


def parse_resolution(text: str) -> tuple[int, int]:
    """'WxH' -> (W, H); a ConfigError naming the option otherwise."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ConfigError(f"--resolution {text!r}: expected WIDTHxHEIGHT in pixels, e.g. 160x90, or a scale of the "
                          "images' own size such as 0.5") from None
    if w < 8 or h < 8 or w > 8192 or h > 8192:
        raise ConfigError(f"--resolution {text!r}: width and height must be within 8..8192 pixels")
    return w, h


def parse_resolution_or_scale(text: str) -> tuple[int, int] | float:
    """'WxH' -> (W, H) pixels, or a number in (0, 1] -> that scale of the images' own size."""
    if "x" in text.lower():
        return parse_resolution(text)
    try:
        scale = float(text)
    except ValueError:
        return parse_resolution(text)  # raises the message naming both forms
    if not 0.0 < scale <= 1.0:
        raise ConfigError(f"--resolution {text}: a scale must lie in (0, 1] (0.5: half the images' own size)")
    return scale


def scaled_size(width_px: int, height_px: int, scale: float) -> tuple[int, int]:
    """The fitting size of width_px x height_px images at `scale`, at least 8 x 8 pixels."""
    return max(8, round(width_px * scale)), max(8, round(height_px * scale))


def resolve_device(device: str) -> str:
    """'cpu' or 'cuda' for --device auto|cpu|cuda (cuda only where gsplat can rasterize)."""
    from render.reconstruct.gsplat_fit import cuda_unavailable_reason

    if device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"--device {device!r}: choose auto, cpu or cuda")
    reason = cuda_unavailable_reason()
    if device == "cuda" and reason is not None:
        raise ConfigError(f"--device cuda: {reason}. Use --device cpu (the numba tile rasterizer) "
                          "or run on a machine with CUDA")
    if device == "auto":
        return "cuda" if reason is None else "cpu"
    return device


@dataclass(frozen=True)
class ReconstructConfig:
    """A reconstruction. None fields take the device's default (`resolved`).

    - dataroot, scene, version: the nuScenes-layout log; out: the output PLY; report: the report
      folder (None: OUT-stem.report beside OUT).
    - cameras: channels to fit to (empty: every CAM_* channel); every: every N-th image of each
      camera; max_frames: at most this many images (evenly spread); keyframes_only: 2 Hz images.
    - steps: optimisation steps (one image each); resolution: (width, height) pixels, or a float:
      that scale of the images' own size; device: "auto" | "cpu" | "cuda"; holdout_every: every
      N-th time held out, all cameras (0: none); sh_degree: final SH degree 0..3; init: "auto"
      (lidar where sweep files exist, else stereo where a rectified pair exists, else the map) |
      "lidar" | "stereo" | "map"; init_points: initial background
      points; max_gaussians: the densification cap; seed; threads: torch CPU threads;
      rasterizer: the CPU path's, "tile" (numba) or "torch" (the dense reference, small images).
    """

    dataroot: Path
    scene: str
    out: Path
    version: str = "v1.0-mini"
    cameras: tuple[str, ...] = ()
    steps: int | None = None
    resolution: tuple[int, int] | float | None = None
    device: str = "auto"
    every: int = 1
    max_frames: int | None = None
    keyframes_only: bool = False
    holdout_every: int = 8
    sh_degree: int | None = None
    init: str = "auto"
    init_points: int | None = None
    max_gaussians: int | None = None
    report: Path | None = None
    seed: int = 0
    threads: int = 1
    rasterizer: str = "tile"

    def resolved(self) -> ReconstructConfig:
        """The device resolved ("cpu" | "cuda"), every default filled in, every value checked."""
        dev = resolve_device(self.device)
        cuda = dev == "cuda"
        if self.rasterizer not in CPU_RASTERIZERS:
            raise ConfigError(f"--rasterizer {self.rasterizer!r}: choose tile or torch")
        if self.init not in INIT_SOURCES:
            raise ConfigError(f"--init {self.init!r}: choose auto, lidar, stereo or map")
        steps = self.steps if self.steps is not None else (CUDA_DEFAULT_STEPS if cuda else CPU_DEFAULT_STEPS)
        if steps < 1:
            raise ConfigError(f"--steps {steps}: must be at least 1")
        if self.sh_degree is not None and not 0 <= self.sh_degree <= 3:
            raise ConfigError(f"--sh-degree {self.sh_degree}: must be within 0..3")
        cap = self.max_gaussians if self.max_gaussians is not None else (CUDA_MAX_GAUSSIANS if cuda
                                                                          else CPU_MAX_GAUSSIANS)
        points = self.init_points if self.init_points is not None else (CUDA_INIT_POINTS if cuda else CPU_INIT_POINTS)
        return dataclasses.replace(
            self, device=dev, steps=steps, max_gaussians=cap, init_points=points,
            resolution=self.resolution if self.resolution is not None else (CUDA_DEFAULT_RESOLUTION if cuda
                                                                             else CPU_DEFAULT_RESOLUTION),
            report=self.report if self.report is not None else self.out.with_name(self.out.stem + ".report"))


@dataclass(frozen=True)
class ReconstructResult:
    """What a reconstruction wrote and how well it fits the held-out images (PSNR in dB, None
    without held-out images); background_gaussians and actors (None: no actor asset written)
    are for the console only."""

    scene: str
    ply: str
    actors_ply: str | None
    report: str
    heldout_psnr_db: float | None
    heldout_ssim: float | None
    heldout_frames: int
    gaussians: int
    fit_seconds: float
    steps: int
    device: str
    resolution: tuple[int, int]
    background_gaussians: int
    actors: int | None

    def to_json(self) -> dict:
        return {"scene": self.scene, "ply": self.ply, "actors_ply": self.actors_ply, "report": self.report,
                "heldout_psnr_db": self.heldout_psnr_db, "heldout_ssim": self.heldout_ssim,
                "heldout_frames": self.heldout_frames, "gaussians": self.gaussians, "fit_seconds": self.fit_seconds,
                "steps": self.steps, "device": self.device, "resolution": list(self.resolution)}


def reconstruct(config: ReconstructConfig, progress: Progress | None = None,
                log: Callable[[str], None] = lambda message: None) -> ReconstructResult:
    """Fit and write the scene of a `resolved()` config; `progress` hears every step, `log` what
    is being done."""
    import torch

    from render.reconstruct.data import frames_from_nuscenes, holdout_split, lidar_points
    from render.reconstruct.export import save_reconstruction
    from render.reconstruct.fit import fit, rasterizer_for, schedule_for_steps
    from render.reconstruct.init import InitConfig, initial_scene
    from render.reconstruct.report import write_report
    from render.reconstruct.stereo import StereoConfig, stereo_points
    from scenarios.nuscenes import NuScenesSource

    c = config
    if c.device not in ("cpu", "cuda") or c.steps is None or c.resolution is None:
        raise ConfigError("reconstruct needs a resolved config (ReconstructConfig.resolved())")
    if c.device == "cpu":
        torch.set_num_threads(max(1, c.threads))
    t0 = time.perf_counter()
    log(f"loading {c.scene} from {c.dataroot}")
    source = NuScenesSource(c.dataroot, c.version)
    scenario = source.load_scenario(c.scene)
    channels = [ch.strip() for item in c.cameras for ch in item.split(",") if ch.strip()] or None
    if isinstance(c.resolution, float):
        rig = scenario.cameras
        first = next((i for i, name in enumerate(rig.names) if channels is None or name in channels), 0)
        width, height = scaled_size(int(rig.width_px[first]), int(rig.height_px[first]), c.resolution)
    else:
        width, height = c.resolution
    log(f"reading camera images at {width}x{height}")
    frames = frames_from_nuscenes(source.nusc, c.scene, scenario.actors, scenario.t_us, width, height, channels,
                                  c.every, c.max_frames, c.keyframes_only)
    train, test = holdout_split(frames.num_frames, c.holdout_every, frames.t_us)
    if len(train) == 0:
        raise DatasetError(f"scene {c.scene!r}: no training images left after holding out every "
                           f"{c.holdout_every}-th")
    if c.max_gaussians < 1 or c.init_points < 1:
        raise ConfigError("--max-gaussians and --init-points must be positive")
    overrides = {"seed": c.seed, "max_gaussians": c.max_gaussians}
    if c.sh_degree is not None:
        overrides["sh_degree"] = c.sh_degree
    schedule = schedule_for_steps(c.steps, **overrides)
    lidar = stereo = None
    if c.init in ("auto", "lidar"):
        log("reading lidar sweeps")
        lidar = lidar_points(source.nusc, c.scene)
        if lidar is None and c.init == "lidar":
            raise DatasetError(f"{c.dataroot}: scene {c.scene!r} has no LIDAR_TOP sweep files under the dataroot; "
                               "use --init stereo, map or auto")
    if lidar is None and c.init in ("auto", "stereo"):
        log("matching stereo pairs")
        stereo = stereo_points(frames, train, StereoConfig(seed=c.seed))
        if stereo is None and c.init == "stereo":
            raise DatasetError(f"{c.dataroot}: scene {c.scene!r} has no rectified stereo pair among the cameras "
                               f"{', '.join(sorted(set(map(str, frames.camera_names))))} (two cameras of one time, "
                               "the second displaced along the first's x axis only): use --init map or auto")
        if stereo is not None and len(stereo[0]) < MIN_STEREO_POINTS:
            log(f"only {len(stereo[0])} stereo matches: starting from the map's road surface instead")
            stereo = None
    log("initialising Gaussians")
    initial = initial_scene(frames, train, InitConfig(seed=c.seed).with_budget(c.init_points), schedule.sh_degree,
                            lidar=lidar, road_map=scenario.map, points=stereo,
                            points_source="stereo")
    log(f"{frames.num_frames} images ({len(train)} fitted, {len(test)} held out) at {width}x{height}, "
        f"{frames.actors.num_actors} actors, {initial.background.num_gaussians} initial background Gaussians "
        f"from the {initial.source}, device {c.device}")
    rasterize, backend, pixel_masks = rasterizer_for(c.device, c.rasterizer)
    checkpoint = c.out.with_name(c.out.stem + ".ckpt.pt")
    result = fit(frames, initial, schedule, train, test, rasterize, device=c.device, supports_pixel_masks=pixel_masks,
                 checkpoint_path=checkpoint, progress=progress)
    written = save_reconstruction(c.out, result, frames.actors, fill_seed=c.seed)
    log("evaluating held-out frames and writing the report")
    summary = {"scene": c.scene, "dataroot": str(c.dataroot), "device": c.device, "init": initial.source,
               "out": written, "cameras": sorted({str(ch) for ch in frames.camera_names}),
               "total_seconds": time.perf_counter() - t0, "torch_threads": torch.get_num_threads()}
    metrics = write_report(c.report, frames, result, backend, summary)
    if checkpoint.exists():
        checkpoint.unlink()
    return ReconstructResult(
        scene=c.scene, ply=str(c.out), actors_ply=written.get("actors_ply"), report=str(c.report),
        heldout_psnr_db=metrics["heldout"]["psnr_mean"], heldout_ssim=metrics["heldout"]["ssim_mean"],
        heldout_frames=metrics["heldout"]["count"], gaussians=result.num_gaussians, fit_seconds=result.seconds,
        steps=c.steps, device=c.device, resolution=(width, height),
        background_gaussians=result.background.num_gaussians, actors=written.get("actors"))

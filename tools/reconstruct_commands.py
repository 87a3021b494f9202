"""`splatsim data reconstruct` (fit a Gaussian scene to a log's camera images) and
`splatsim data reconstruct-selfcheck` (the same pipeline on renders of a known scene).

Registered in tools/data_commands.py:
    app.command("reconstruct")(reconstruct_commands.reconstruct)
    app.command("reconstruct-selfcheck")(reconstruct_commands.selfcheck)
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from sim.errors import ConfigError, DatasetError

console = Console(stderr=True)

CPU_DEFAULT_STEPS = 2_000
CUDA_DEFAULT_STEPS = 30_000
CPU_DEFAULT_RESOLUTION = (160, 90)
CUDA_DEFAULT_RESOLUTION = (800, 450)
CPU_INIT_POINTS = 20_000
CUDA_INIT_POINTS = 200_000
CPU_MAX_GAUSSIANS = 50_000
CUDA_MAX_GAUSSIANS = 3_000_000


def parse_resolution(text: str) -> tuple[int, int]:
    """'WxH' -> (W, H); a ConfigError naming the option otherwise."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ConfigError(f"--resolution {text!r}: expected WIDTHxHEIGHT in pixels, e.g. 160x90") from None
    if w < 8 or h < 8 or w > 8192 or h > 8192:
        raise ConfigError(f"--resolution {text!r}: width and height must be within 8..8192 pixels")
    return w, h


def resolve_device(device: str) -> str:
    """'cpu' or 'cuda' for --device auto|cpu|cuda (cuda only where gsplat can rasterize)."""
    from render.reconstruct.gsplat_fit import cuda_unavailable_reason

    if device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"--device {device!r}: choose auto, cpu or cuda")
    reason = cuda_unavailable_reason()
    if device == "cuda" and reason is not None:
        raise ConfigError(f"--device cuda: {reason}. Use --device cpu (the pure-torch rasterizer, small resolutions) "
                          "or run on a machine with CUDA")
    if device == "auto":
        return "cuda" if reason is None else "cpu"
    return device


def _progress(total: int):
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    bar = Progress(TextColumn("fitting"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
                   TextColumn("loss {task.fields[loss]:.4f}"), TextColumn("{task.fields[gaussians]} Gaussians"),
                   TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False)
    task = bar.add_task("fit", total=total, loss=float("nan"), gaussians=0)

    def update(step: int, loss: float, gaussians: int) -> None:
        bar.update(task, completed=step, loss=loss, gaussians=gaussians)

    return bar, update


def reconstruct(
    dataroot: Path = typer.Option(..., help="nuScenes-layout dataroot with the scene's camera images."),
    scene: str = typer.Option(..., help="Scene name (see `splatsim data info`)."),
    out: Path = typer.Option(..., help="Output PLY (background, INRIA layout); actor assets, sky and report go beside it."),
    version: str = typer.Option("v1.0-mini", help="Dataset version folder under the dataroot."),
    cameras: List[str] = typer.Option([], "--cameras", help="Camera channels to fit to (repeatable or comma-separated); "
                                                              "default: every CAM_* channel."),
    steps: Optional[int] = typer.Option(None, help=f"Optimisation steps (one image each); default {CUDA_DEFAULT_STEPS} "
                                                   f"on CUDA, {CPU_DEFAULT_STEPS} on CPU."),
    resolution: Optional[str] = typer.Option(None, help="Fitting resolution WxH; default 800x450 on CUDA, 160x90 on CPU."),
    device: str = typer.Option("auto", help="auto (cuda where gsplat can run, else cpu) | cpu | cuda."),
    every: int = typer.Option(1, help="Use every N-th image of each camera."),
    max_frames: Optional[int] = typer.Option(None, help="Use at most this many images (evenly spread)."),
    keyframes_only: bool = typer.Option(False, help="Use the 2 Hz keyframe images only."),
    holdout_every: int = typer.Option(8, help="Hold out every N-th image for evaluation (3DGS protocol); 0: none."),
    sh_degree: Optional[int] = typer.Option(None, help="Final SH degree 0..3; default 3 for 3,000+ steps, else 0."),
    init: str = typer.Option("auto", help="Initial points: auto (lidar sweeps where the files exist, else the map) | "
                                          "lidar | map."),
    init_points: Optional[int] = typer.Option(None, help="Initial background points (lidar subsampled, or map "
                                                         "points); default 200,000 on CUDA, 20,000 on CPU."),
    max_gaussians: Optional[int] = typer.Option(None, help="Densification stops growing at this many Gaussians; "
                                                           "default 3,000,000 on CUDA, 50,000 on CPU."),
    report: Optional[Path] = typer.Option(None, help="Report folder (default: OUT-stem.report beside OUT)."),
    seed: int = typer.Option(0, help="Seed of the frame order, initial points and densification."),
    threads: int = typer.Option(1, help="CPU threads for torch on the CPU path (small images gain little from more)."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics summary as JSON."),
) -> None:
    """Fit a Gaussian scene to a logged scene's camera images and write it for `splatsim render --scene-file`.

    Writes OUT (static background, global frame), OUT-stem.actors.ply/.json (one asset per
    annotated actor in its box frame), OUT-stem.sky.json (the learned sky) and a report folder
    (metrics.json with held-out PSNR/SSIM, report.md/.html, side-by-side and novel-view PNGs).
    A run that dies resumes from OUT-stem.ckpt.pt. Images must exist under the dataroot.
    """
    import torch

    from render.reconstruct.data import frames_from_nuscenes, holdout_split, lidar_points
    from render.reconstruct.export import save_reconstruction
    from render.reconstruct.fit import fit, schedule_for_steps
    from render.reconstruct.init import InitConfig, initial_scene
    from render.reconstruct.report import write_report
    from scenarios.nuscenes import NuScenesSource

    dev = resolve_device(device)
    if init not in ("auto", "lidar", "map"):
        raise ConfigError(f"--init {init!r}: choose auto, lidar or map")
    width, height = parse_resolution(resolution) if resolution else (CUDA_DEFAULT_RESOLUTION if dev == "cuda"
                                                                     else CPU_DEFAULT_RESOLUTION)
    n_steps = steps if steps is not None else (CUDA_DEFAULT_STEPS if dev == "cuda" else CPU_DEFAULT_STEPS)
    if n_steps < 1:
        raise ConfigError(f"--steps {n_steps}: must be at least 1")
    if sh_degree is not None and not 0 <= sh_degree <= 3:
        raise ConfigError(f"--sh-degree {sh_degree}: must be within 0..3")
    channels = [c.strip() for item in cameras for c in item.split(",") if c.strip()] or None
    if dev == "cpu":
        torch.set_num_threads(max(1, threads))
    t0 = time.perf_counter()
    with console.status(f"loading {scene} from {dataroot}"):
        source = NuScenesSource(dataroot, version)
        scenario = source.load_scenario(scene)
    with console.status(f"reading camera images at {width}x{height}"):
        frames = frames_from_nuscenes(source.nusc, scene, scenario.actors, scenario.t_us, width, height, channels,
                                      every, max_frames, keyframes_only)
    train, test = holdout_split(frames.num_frames, holdout_every)
    if len(train) == 0:
        raise DatasetError(f"scene {scene!r}: no training images left after holding out every {holdout_every}-th")
    cap = max_gaussians if max_gaussians is not None else (CUDA_MAX_GAUSSIANS if dev == "cuda" else CPU_MAX_GAUSSIANS)
    points = init_points if init_points is not None else (CUDA_INIT_POINTS if dev == "cuda" else CPU_INIT_POINTS)
    if cap < 1 or points < 1:
        raise ConfigError("--max-gaussians and --init-points must be positive")
    overrides = {"seed": seed, "max_gaussians": cap}
    if sh_degree is not None:
        overrides["sh_degree"] = sh_degree
    config = schedule_for_steps(n_steps, **overrides)
    lidar = None
    if init in ("auto", "lidar"):
        with console.status("reading lidar sweeps"):
            lidar = lidar_points(source.nusc, scene)
        if lidar is None and init == "lidar":
            raise DatasetError(f"{dataroot}: scene {scene!r} has no LIDAR_TOP sweep files under the dataroot; "
                               "use --init map (or auto) to start from the map")
    with console.status("initialising Gaussians"):
        initial = initial_scene(frames, train, InitConfig(seed=seed).with_budget(points), config.sh_degree, lidar=lidar,
                                road_map=scenario.map)
    console.print(f"{frames.num_frames} images ({len(train)} fitted, {len(test)} held out) at {width}x{height}, "
                  f"{frames.actors.num_actors} actors, {initial.background.num_gaussians} initial background Gaussians "
                  f"from the {initial.source}, device {dev}")
    if dev == "cuda":
        from render.reconstruct.gsplat_fit import rasterize_gsplat as rasterize
        backend, pixel_masks = "gsplat", False
    else:
        from render.reconstruct.diff_raster import rasterize
        backend, pixel_masks = "cpu", True
    checkpoint = out.with_name(out.stem + ".ckpt.pt")
    bar, update = _progress(n_steps)
    with bar:
        result = fit(frames, initial, config, train, test, rasterize, device=dev, supports_pixel_masks=pixel_masks,
                     checkpoint_path=checkpoint, progress=update)
    written = save_reconstruction(out, result, frames.actors, fill_seed=seed)
    report_dir = report if report is not None else out.with_name(out.stem + ".report")
    with console.status("evaluating held-out frames and writing the report"):
        summary = {"scene": scene, "dataroot": str(dataroot), "device": dev, "init": initial.source, "out": written,
                   "cameras": sorted({str(c) for c in frames.camera_names}), "total_seconds": time.perf_counter() - t0,
                   "torch_threads": torch.get_num_threads()}
        metrics = write_report(report_dir, frames, result, backend, summary)
    if checkpoint.exists():
        checkpoint.unlink()
    brief = {"scene": scene, "ply": str(out), "actors_ply": written.get("actors_ply"), "report": str(report_dir),
             "heldout_psnr_db": metrics["heldout"]["psnr_mean"], "heldout_ssim": metrics["heldout"]["ssim_mean"],
             "heldout_frames": metrics["heldout"]["count"], "gaussians": result.num_gaussians,
             "fit_seconds": result.seconds, "steps": n_steps, "device": dev, "resolution": [width, height]}
    if as_json:
        print(json.dumps(brief, indent=2))
    else:
        psnr_text = "n/a" if brief["heldout_psnr_db"] is None else f"{brief['heldout_psnr_db']:.2f} dB"
        console.print(f"[green]wrote[/] {out} ({result.background.num_gaussians} Gaussians)"
                      + (f", {written['actors_ply']} ({written['actors']} actors)" if "actors_ply" in written else "")
                      + f"; held-out PSNR {psnr_text}; report {report_dir / 'report.html'}")


def selfcheck(
    out: Path = typer.Option(Path("out/reconstruct-selfcheck"), help="Folder for the report and the fitted scene."),
    steps: int = typer.Option(500, help="Optimisation steps."),
    resolution: str = typer.Option("64x48", help="Image size WxH of the renders fitted to."),
    device: str = typer.Option("cpu", help="cpu | cuda | auto."),
    with_actor: bool = typer.Option(True, help="Include a moving car (fitted as an actor asset)."),
    threshold: float = typer.Option(25.0, help="Held-out PSNR (dB) the check must reach."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics summary as JSON."),
) -> None:
    """Render a small procedural street (and a car) with known cameras, reconstruct it from those
    renders and score the held-out and novel views against the truth. Exit status 1 if the
    held-out PSNR is below the threshold."""
    from render.reconstruct.selfcheck import SelfCheckConfig, run_selfcheck

    dev = resolve_device(device)
    width, height = parse_resolution(resolution)
    config = SelfCheckConfig(width=width, height=height, steps=steps, with_actor=with_actor, threshold_psnr_db=threshold)
    bar, update = _progress(steps)
    with bar:
        metrics = run_selfcheck(out, config, dev, progress=update)
    brief = {"passed": metrics["passed"], "heldout_psnr_db": metrics["heldout"]["psnr_mean"],
             "heldout_ssim": metrics["heldout"]["ssim_mean"], "threshold_psnr_db": threshold,
             "novel_views": metrics.get("novel_view_means"), "fit_seconds": metrics["fit"]["seconds"],
             "total_seconds": metrics["total_seconds"], "gaussians": metrics["fit"]["num_gaussians"],
             "report": str(out / "report.html"), "device": dev}
    if as_json:
        print(json.dumps(brief, indent=2))
    else:
        colour = "green" if brief["passed"] else "red"
        console.print(f"[{colour}]{'passed' if brief['passed'] else 'FAILED'}[/]: held-out PSNR "
                      f"{brief['heldout_psnr_db']:.2f} dB (threshold {threshold:g}), SSIM {brief['heldout_ssim']:.3f}, "
                      f"fit {brief['fit_seconds']:.0f} s; report {brief['report']}")
    if not brief["passed"]:
        raise typer.Exit(1)

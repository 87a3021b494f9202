"""`splatsim data reconstruct` (fit a Gaussian scene to a log's camera images) and
`splatsim data reconstruct-selfcheck` (the same pipeline on renders of a known scene).

Registered in tools/data_commands.py:
    app.command("reconstruct")(reconstruct_commands.reconstruct)
    app.command("reconstruct-selfcheck")(reconstruct_commands.selfcheck)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from evaluation.reconstruction import (
    CPU_DEFAULT_STEPS,
    CUDA_DEFAULT_STEPS,
    ReconstructConfig,
    parse_resolution,
    parse_resolution_or_scale,
    resolve_device,
)
from evaluation.reconstruction import reconstruct as reconstruct_scene

console = Console(stderr=True)

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
    out: Path = typer.Option(..., help="Output PLY (background, INRIA layout); actor assets, sky and report go "
                                       "beside it."),
    version: str = typer.Option("v1.0-mini", help="Dataset version folder under the dataroot."),
    cameras: List[str] = typer.Option([], "--cameras", help="Camera channels to fit to (repeatable or "
                                                              "comma-separated); default: every CAM_* channel."),
    steps: Optional[int] = typer.Option(None, help=f"Optimisation steps (one image each); default "
                                                   f"{CUDA_DEFAULT_STEPS} on CUDA, {CPU_DEFAULT_STEPS} on CPU."),
    resolution: Optional[str] = typer.Option(None, help="Fitting resolution WxH, or a scale of the images' own size "
                                                        "(0.5: half); default 800x450 on CUDA, 160x90 on CPU."),
    device: str = typer.Option("auto", help="auto (cuda where gsplat can run, else cpu) | cpu | cuda."),
    every: int = typer.Option(1, help="Use every N-th image of each camera."),
    max_frames: Optional[int] = typer.Option(None, help="Use at most this many images (evenly spread)."),
    keyframes_only: bool = typer.Option(False, help="Use the 2 Hz keyframe images only."),
    holdout_every: int = typer.Option(8, help="Hold out every N-th time (all its cameras) for evaluation (3DGS "
                                              "protocol); 0: none."),
    sh_degree: Optional[int] = typer.Option(None, help="Final SH degree 0..3; default 3 for 3,000+ steps, else 0."),
    init: str = typer.Option("auto", help="Initial points: auto (lidar sweeps where the files exist, else stereo "
                                          "where a rectified camera pair exists, else the map) | lidar | stereo | map"),
    init_points: Optional[int] = typer.Option(None, help="Initial background points (lidar or stereo subsampled, or "
                                                         "map points); default 200,000 on CUDA, 20,000 on CPU."),
    max_gaussians: Optional[int] = typer.Option(None, help="Densification stops growing at this many Gaussians; "
                                                           "default 3,000,000 on CUDA, 50,000 on CPU."),
    report: Optional[Path] = typer.Option(None, help="Report folder (default: OUT-stem.report beside OUT)."),
    seed: int = typer.Option(0, help="Seed of the frame order, initial points and densification."),
    threads: int = typer.Option(1, help="CPU threads for torch on the CPU path (small images gain little from more)."),
    rasterizer: str = typer.Option("tile", help="CPU rasterizer: tile (numba, real resolutions) | torch (the dense "
                                                "reference, tiny images only)."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics summary as JSON."),
) -> None:
    """Fit a Gaussian scene to a logged scene's camera images and write it for `splatsim render --scene-file`.

    Writes OUT (static background, global frame), OUT-stem.actors.ply/.json (one asset per
    annotated actor in its box frame), OUT-stem.sky.json (the learned sky) and a report folder
    (metrics.json with held-out PSNR/SSIM, report.md/.html, side-by-side and novel-view PNGs).
    A run that dies resumes from OUT-stem.ckpt.pt. Images must exist under the dataroot.
    """
    config = ReconstructConfig(
        dataroot=dataroot, scene=scene, out=out, version=version, cameras=tuple(cameras), steps=steps,
        resolution=parse_resolution_or_scale(resolution) if resolution else None, device=device, every=every,
        max_frames=max_frames, keyframes_only=keyframes_only, holdout_every=holdout_every, sh_degree=sh_degree,
        init=init, init_points=init_points, max_gaussians=max_gaussians, report=report, seed=seed, threads=threads,
        rasterizer=rasterizer).resolved()
    bar, update = _progress(config.steps)
    with bar:
        result = reconstruct_scene(config, update, log=console.print)
    if as_json:
        print(json.dumps(result.to_json(), indent=2))
        return
    psnr_text = "n/a" if result.heldout_psnr_db is None else f"{result.heldout_psnr_db:.2f} dB"
    console.print(f"[green]wrote[/] {out} ({result.background_gaussians} Gaussians)"
                  + (f", {result.actors_ply} ({result.actors} actors)" if result.actors_ply else "")
                  + f"; held-out PSNR {psnr_text}; report {config.report / 'report.html'}")


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
    config = SelfCheckConfig(width=width, height=height, steps=steps, with_actor=with_actor,
                             threshold_psnr_db=threshold)
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

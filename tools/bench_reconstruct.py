"""`splatsim bench reconstruct`: seconds per CPU training step of reconstruction, numba tile
rasterizer against the dense torch reference (`evaluation.benchmarks.reconstruct`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from evaluation.benchmarks.reconstruct import bench_reconstruct
from evaluation.reconstruction import ReconstructConfig, parse_resolution
from sim.errors import ConfigError


def bench_reconstruct_command(
    gaussians: int = typer.Option(200_000, help="Gaussians of the synthetic street the steps are timed on."),
    width: int = typer.Option(613, help="Image width (613x185: half the KITTI odometry images)."),
    height: int = typer.Option(185, help="Image height."),
    steps: int = typer.Option(20, min=1, help="Measured training steps (after two warm-up steps)."),
    baseline_steps: int = typer.Option(2, min=0, help="Steps of the dense torch rasterizer (slow); 0 skips it."),
    threads: int = typer.Option(1, min=1, help="torch CPU threads (as `data reconstruct --threads`)."),
    dataroot: Optional[Path] = typer.Option(None, help="Also time the whole `data reconstruct` pipeline on this "
                                                       "dataroot (wall time to the final model)."),
    scene: Optional[str] = typer.Option(None, help="Scene name with --dataroot."),
    version: str = typer.Option("v1.0-mini", help="Dataset version folder under the dataroot."),
    wall_steps: Optional[int] = typer.Option(None, help="Training steps of the pipeline run (default: its own)."),
    wall_resolution: Optional[str] = typer.Option(None, help="WxH of the pipeline run (default: WIDTHxHEIGHT)."),
    out: Path = typer.Option(Path("out/bench-reconstruct/scene.ply"), help="Where the pipeline run writes."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Median seconds per training step (forward, backward, Adam) on CPU, and the ratio to the torch reference."""
    wall = None
    if dataroot is not None:
        if scene is None:
            raise ConfigError("--dataroot needs --scene (the scene to reconstruct)")
        wall = ReconstructConfig(dataroot=dataroot, scene=scene, out=out, version=version, steps=wall_steps,
                                 resolution=parse_resolution(wall_resolution) if wall_resolution else (width, height),
                                 device="cpu", threads=threads).resolved()
    r = bench_reconstruct(gaussians, width, height, steps, baseline_steps, threads, wall=wall)
    if as_json:
        print(json.dumps(r, indent=2))
        return
    print(f"tile rasterizer: {r['tile_step_s_median']:.3f} s per step median (min {r['tile_step_s_min']:.3f}), "
          f"{r['gaussians']} Gaussians, {width}x{height}, {steps} steps, torch threads {r['torch_threads']}")
    if "torch_step_s_median" in r:
        print(f"torch reference: {r['torch_step_s_median']:.2f} s per step; speed-up {r['speedup_vs_torch']}x")
    if "wall" in r:
        w = r["wall"]
        print(f"pipeline: {w['total_seconds']} s to the final model ({w['fit_seconds']} s fitting, {w['steps']} steps "
              f"at {w['resolution'][0]}x{w['resolution'][1]}), {w['gaussians']} Gaussians, held-out PSNR "
              f"{w['heldout_psnr_db']} dB, SSIM {w['heldout_ssim']}")

"""`splatsim bench render`: frames per second of the Gaussian rasterizer on a street scene
(`evaluation.benchmarks.render`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from evaluation.benchmarks.render import bench_render


def render(
    backend: str = typer.Option("cpu", help="cpu | gsplat | auto (gsplat where CUDA is available, else cpu)."),
    gaussians: int = typer.Option(200_000, help="Gaussians in the scene (street plus actors)."),
    width: int = typer.Option(480, help="Image width."),
    height: int = typer.Option(270, help="Image height."),
    cameras: int = typer.Option(1, min=1, max=6, help="Cameras of the nuScenes rig rendered per frame."),
    repeats: int = typer.Option(20, min=1, help="Measured frames (camera poses along the road)."),
    baseline_repeats: int = typer.Option(1, min=0, help="Frames of the torch baseline (slow: tens of seconds each); "
                                                        "0 skips it."),
    dataroot: Optional[Path] = typer.Option(None, help="Use this dataroot's scene map instead of the synthetic "
                                                       "crossroads."),
    scene: Optional[str] = typer.Option(None, help="Scene name with --dataroot."),
    version: str = typer.Option("v1.0-mini", help="Dataset version folder under the dataroot."),
    sweep: bool = typer.Option(False, help="Also measure the scaling grid (50k-400k Gaussians, 960x540 and 1600x900, "
                                           "3 and 6 cameras)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Rasterizer frames per second on a procedural street (median), with the baseline ratio."""
    result = bench_render(backend, gaussians, width, height, cameras, repeats, baseline_repeats, dataroot, scene,
                          version, sweep)
    if as_json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['backend']}: {result['fps_median']} frames/s median ({result['ms_median']} ms), "
          f"{result['gaussians']} Gaussians, {cameras} x {width}x{height}")
    if result["speedup_vs_baseline"] is not None:
        print(f"torch baseline: {result['baseline_torch_fps_median']} frames/s; "
              f"speed-up {result['speedup_vs_baseline']}x; "
              f"PSNR {result['psnr_vs_baseline_db']} dB")
    for row in result.get("sweep", []):
        print(f"  {row['axis']:>9}: {row['gaussians']:>7} G {row['cameras']} x {row['width']}x{row['height']}: "
              f"{row['fps_median']} frames/s ({row['ms_median']} ms)")

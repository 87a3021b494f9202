"""`splatsim bench egodriver`: the per-step overhead of an AlpaSim driver (`egodriver://`) against splatsim's own
`grpc://` policy, rendering excluded (`evaluation.benchmarks.egodriver`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from evaluation.benchmarks.egodriver import bench_egodriver
from sim.atomic import write_json_atomic
from sim.errors import ConfigError


def egodriver(
    steps: int = typer.Option(300, help="Timed policy calls per case."),
    warmup: int = typer.Option(30, help="Untimed policy calls first."),
    actors: int = typer.Option(20, help="Vehicles in the scenario."),
    cameras: int = typer.Option(0, help="Cameras whose images travel with every step (a replayed frame; 0: none)."),
    width: int = typer.Option(480, help="Image width, pixels."),
    height: int = typer.Option(270, help="Image height, pixels."),
    image_format: str = typer.Option("jpeg", help="Image encoding of both contracts: jpeg | png."),
    out: Optional[Path] = typer.Option(None, help="Also write the JSON report here."),
    as_json: bool = typer.Option(True, "--json/--no-json", help="Print the JSON report on stdout."),
) -> None:
    """Policy-call time (p50/p99) of egodriver:// (a minimal driver, and carla-driver-interface's
    constant_speed in alpasim mode) and of grpc://, each server in its own process; target: egodriver
    within 2x of grpc."""
    if steps < 1 or warmup < 0 or cameras < 0:
        raise ConfigError("--steps must be >= 1, --warmup and --cameras >= 0")
    if image_format not in ("jpeg", "png"):
        raise ConfigError(f"--image-format must be jpeg or png, got {image_format!r}")
    report = bench_egodriver(steps, warmup, actors, cameras, width, height, image_format)
    if out is not None:
        write_json_atomic(out, report)
    if as_json:
        print(json.dumps(report, indent=2, sort_keys=True))

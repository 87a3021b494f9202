"""`splatsim bench adversary`: adversary sampling time and scenario-generation throughput
(`evaluation.benchmarks.adversary`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from evaluation.benchmarks.adversary import measure_adversary


def bench_adversary(
    dataroot: Optional[Path] = typer.Option(None, help="nuScenes-layout dataroot (default: the demo town, built "
                                                       "once)."),
    scenes: List[str] = typer.Option([], help="Scene(s) to use (default: the first three)."),
    checkpoint: Optional[Path] = typer.Option(None, help="Adversary checkpoint (default: the shipped one)."),
    repeats: int = typer.Option(20, help="Plans timed per setting (median reported)."),
    workers: int = typer.Option(2, help="Local Ray workers for the throughput run."),
    per_scene: int = typer.Option(4, help="Generation work items per scene in the throughput run."),
    throughput: bool = typer.Option(True, help="Also measure scenarios generated per minute on Ray."),
    version: str = typer.Option("v1.0-mini", help="Dataset version folder."),
) -> None:
    """Adversary sampling time (50-step DDPM and shipped DDIM) and generation throughput; prints JSON."""
    result = measure_adversary(dataroot, tuple(scenes), checkpoint, repeats, workers, per_scene, throughput, version)
    print(json.dumps(result, indent=2))

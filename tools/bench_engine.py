"""`splatsim bench engine`: closed-loop steps per second without rendering
(`evaluation.benchmarks.engine`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from evaluation.benchmarks.engine import bench_engine, busy_road
from evaluation.scenario_refs import load_scenario_from_args


def engine(
    dataroot: Optional[Path] = typer.Option(None, help="nuScenes-layout dataroot; default: a synthetic busy road."),
    scene: Optional[str] = typer.Option(None, help="Scene name in the dataroot."),
    version: str = typer.Option("v1.0-mini", help="Dataset version folder."),
    actors: int = typer.Option(50, help="Actors on the synthetic road (without --dataroot)."),
    steps: Optional[int] = typer.Option(300, help="Steps per episode (the log's length caps it)."),
    repeats: int = typer.Option(5, help="Episodes timed; the median is reported."),
    reactive: bool = typer.Option(True, help="Vehicles run the IDM (the heavier case)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Closed-loop engine steps per second, no rendering (median over repeats)."""
    scenario = (busy_road(actors, (steps or 300) + 1) if dataroot is None
                else load_scenario_from_args(dataroot, scene, version))
    result = bench_engine(scenario, steps, repeats, reactive)
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['scenario']}: {result['steps_per_s']:.0f} steps/s median ({result['actors']} actors, "
              f"{result['actors_valid_mean']:.1f} valid on average); baseline {result['baseline_steps_per_s']:.0f} "
              f"steps/s, x{result['speedup_vs_baseline']:.1f}")

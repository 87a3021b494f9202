"""`splatsim bench pseudo-sim`: throughput of pseudo-simulation scoring, in scenarios per minute
(`evaluation.benchmarks.pseudo_sim`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from evaluation.benchmarks.pseudo_sim import bench_pseudo_sim
from evaluation.scenario_refs import resolve_scenarios
from tools.score_options import PseudoSimOptions, ScenarioOptions, option


def bench_pseudo_sim_command(
    dataroot: List[Path] = option(ScenarioOptions, "dataroot"),
    version: str = option(ScenarioOptions, "version"),
    scenes: List[str] = option(ScenarioOptions, "scenes"),
    policy: str = typer.Option("idm", help="The policy scored."),
    cameras: List[str] = option(PseudoSimOptions, "cameras"),
    width: int = option(PseudoSimOptions, "width"),
    height: int = option(PseudoSimOptions, "height"),
    backend: str = option(PseudoSimOptions, "backend"),
    frames: int = option(PseudoSimOptions, "frames"),
    lateral: List[float] = option(PseudoSimOptions, "lateral"),
    longitudinal: List[float] = option(PseudoSimOptions, "longitudinal"),
    workers: int = typer.Option(2, help="Ray workers of the Ray runs."),
    ray: bool = typer.Option(True, help="Also time the Ray runs."),
    out: Optional[Path] = typer.Option(None, help="Also write the figures to this JSON file."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
) -> None:
    """Scenarios scored per minute by pseudo-simulation: cache cold and warm, in-process and on Ray."""
    settings = PseudoSimOptions(cameras=cameras, width=width, height=height, backend=backend, frames=frames,
                                lateral=lateral, longitudinal=longitudinal, thumbnails="none").settings()
    refs = resolve_scenarios(dataroot, scenes, version)
    result = bench_pseudo_sim(refs, policy, settings, workers, ray)
    if out is not None:
        from sim.atomic import write_json_atomic

        write_json_atomic(out, result)
    if as_json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        for label, r in result["runs"].items():
            typer.echo(f"{label:>24}: {r['scenarios_per_minute']:7.2f} scenarios/min ({r['frames_per_minute']:.1f} "
                       f"frames/min, {r['wall_s']:.1f} s, {r['renders']} renders)")
        typer.echo(f"machine: {result['machine']['cpu']} ({result['machine']['cores']} cores)")

"""`splatsim bench pseudo-sim`: throughput of pseudo-simulation scoring, in scenarios per minute.

Four timed runs of `splatsim score` on the same scenarios and policy, each from a fresh process
state except for the one warm-up scenario that compiles the kernels first (not timed):

- in-process, cache cold: a fresh, empty observation cache (every observation rendered);
- in-process, cache warm: the same cache again (nothing rendered, no renderer built);
- Ray with N workers (local, N CPUs), cache cold and warm: one scenario per task, each worker
  with its own renderer; Ray's start-up time is included (it is part of what a user waits for).

A scenario's cost is its frames x (2 stage-one + 2 x starts stage-two) observations rendered,
planned and scored with EPDMS (the stage-two EPDMS runs the reference planner from each start).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import List, Optional

import typer

from evaluation.machine import machine_info
from evaluation.scenario_refs import resolve_scenarios
from evaluation.scoring import score_scenarios
from evaluation.settings import ScoreSettings
from sim.errors import ConfigError
from tools.score_options import PseudoSimOptions, ScenarioOptions, option


def bench_pseudo_sim(refs, policy: str, settings: ScoreSettings, workers: int = 2, with_ray: bool = True,
                     progress: bool = False) -> dict:
    """Time the four runs (see the module docstring) and return the figures."""
    import dataclasses

    if not refs:
        raise ConfigError("name at least one scenario to benchmark")
    with tempfile.TemporaryDirectory(prefix="splatsim-bench-ps-") as tmp:
        tmp = Path(tmp)
        warm_up = dataclasses.replace(settings, cache_dir=None, thumbnails="none")
        score_scenarios(refs[:1], [policy], warm_up, None, progress=False)
        runs = {}

        def timed(label: str, cache: Path, n_workers: int | None) -> None:
            s = dataclasses.replace(settings, cache_dir=str(cache), thumbnails="none")
            t0 = time.perf_counter()
            run = score_scenarios(refs, [policy], s, None, workers=n_workers, progress=progress)
            wall = time.perf_counter() - t0
            aggregate = run.policies[policy].aggregate
            frames = aggregate["frames"]
            runs[label] = {"wall_s": round(wall, 3), "scenarios": len(refs), "frames": frames,
                           "scenarios_per_minute": round(60.0 * len(refs) / wall, 3),
                           "frames_per_minute": round(60.0 * frames / wall, 3),
                           "renders": run.cache["renders"], "cache_hits": run.cache["hits"],
                           "workers": n_workers or 1, "score": aggregate["score"]}

        timed("in_process_cold", tmp / "cache-a", None)
        timed("in_process_warm", tmp / "cache-a", None)
        if with_ray:
            timed(f"ray_{workers}_workers_cold", tmp / "cache-b", workers)
            timed(f"ray_{workers}_workers_warm", tmp / "cache-b", workers)
    starts = settings.stage_two
    return {"policy": policy, "scenarios": [r.scene for r in refs], "runs": runs,
            "settings": {"cameras": list(settings.render.cameras), "width": settings.render.width,
                         "height": settings.render.height, "backend": settings.render.backend,
                         "max_frames": settings.frames.max_frames, "start_mode": starts.mode,
                         "grid": [list(starts.lateral_offsets_m), list(starts.longitudinal_offsets_m),
                                  list(starts.heading_offsets_rad), list(starts.speed_offsets_mps)]},
            "machine": machine_info()}


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

"""Throughput of pseudo-simulation scoring, in scenarios per minute.

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

import tempfile
import time
from pathlib import Path

from evaluation.machine import machine_info
from evaluation.scoring import score_scenarios
from evaluation.settings import ScoreSettings
from sim.errors import ConfigError


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

"""Adversary sampling time and scenario-generation throughput.

- Sampling: one adversary's plan (conditioning, guided denoising of `samples` candidates,
  cost ranking, rollout), single-threaded, median over `repeats` plans on a real situation
  (the best candidate of the scene, at its takeover step, expert ego). Two settings:
  the 50-step DDPM-equivalent (50 ancestral steps from pure noise, guidance at every step,
  one gradient step each) and the shipped DDIM setting (PlannerConfig defaults: 10 DDIM steps
  from a conflict proposal noised to half the schedule, two gradient steps each). Target
  (DESIGN.md): <= 0.5 s with 50 steps.
- Throughput: `splatsim generate` on the scene(s) with a local 2-worker Ray: kept scenarios
  and work items per minute of wall time (Ray start-up excluded and reported apart). Baseline
  in the same run: the same generation in this process, one item after another (`workers=0`).
- Sampling baseline in the same run: the 50-step setting against the shipped DDIM setting.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Optional

import numpy as np

from evaluation.machine import machine_info
from sim.errors import ConfigError


def _demo_dataroot() -> Path:
    from scenarios.demo_town.dataroot import build_demo_dataroot

    root = Path(tempfile.gettempdir()) / "splatsim-bench-adversary" / "demo"
    if not (root / "v1.0-mini" / "scene.json").exists():
        build_demo_dataroot(root, seed=0)
    return root


def sampling_times(scenario, model, repeats: int, configs: dict) -> dict:
    """Median seconds per plan for each named (PlannerConfig, use the candidate's collision
    type) on the scene's best candidate."""
    import torch

    from scenarios.adversary.planner import (
        AdversaryPlanner,
        plan_local,
        plan_seed,
        torch_threads,
    )
    from scenarios.adversary.selection import select_candidates
    from scenarios.generate import adversarial_start
    from sim.engine import EngineConfig, prepare

    cands = select_candidates(scenario, "any")
    if not cands:
        raise ConfigError(f"scene {scenario.name} has no plausible adversary to time")
    cand = cands[0]
    ctx = prepare(scenario, EngineConfig(start_step=cand.start_step, max_steps=80))
    state = adversarial_start(ctx, cand.actor)
    out = {"scene": scenario.name, "actor": cand.actor, "start_step": cand.start_step,
           "collision_type": cand.collision_type}
    for name, (cfg, typed) in configs.items():
        if typed:
            cfg = dataclasses.replace(cfg, collision_type=cand.collision_type)
        planner = AdversaryPlanner(model, cfg)
        inputs = planner.inputs(ctx, state, cand.actor)
        times = []
        with torch_threads(1):
            for r in range(repeats + 1):
                gen = torch.Generator().manual_seed(plan_seed(cfg.seed, cand.actor, r))
                t0 = time.perf_counter()
                plan_local(model, cfg, inputs, gen)
                if r:  # the first call warms caches (map tiles, lane chunks)
                    times.append(time.perf_counter() - t0)
        out[name] = {"median_s": float(np.median(times)), "p90_s": float(np.percentile(times, 90)),
                     "denoising_steps": cfg.ddim_steps, "eta": cfg.eta, "samples": cfg.num_samples,
                     "guidance_iterations": cfg.guidance_iterations, "partial_start": (
                         cfg.partial_start if cfg.collision_type != "any" else 1.0)}
    return out


def measure_adversary(dataroot: Optional[Path] = None, scenes: tuple[str, ...] = (), checkpoint: Optional[Path] = None,
                      repeats: int = 20, workers: int = 2, per_scene: int = 4, throughput: bool = True,
                      version: str = "v1.0-mini") -> dict:
    """The benchmark's result dict (see the module docstring)."""
    from scenarios.adversary.model import load_checkpoint
    from scenarios.adversary.planner import PlannerConfig
    from scenarios.generate import GenerateConfig, generate_scenarios
    from scenarios.nuscenes import NuScenesSource

    root = dataroot or _demo_dataroot()
    model = load_checkpoint(checkpoint)
    src = NuScenesSource(root, version)
    names = list(scenes) or sorted(src.scene_names)[:3]
    scenario = src.load_scenario(names[0])
    shipped = PlannerConfig()
    ddpm50 = dataclasses.replace(shipped, collision_type="any", ddim_steps=50, eta=1.0, guidance_iterations=1)
    settings = {"ddpm_50_steps": (ddpm50, False), "shipped_ddim": (shipped, True)}
    result = {"sampling": sampling_times(scenario, model, repeats, settings),
              "checkpoint": str(checkpoint or "default"), "machine": machine_info()}
    result["sampling"]["target_s"] = 0.5
    result["sampling"]["ddpm_50_over_shipped"] = (result["sampling"]["ddpm_50_steps"]["median_s"]
                                                  / result["sampling"]["shipped_ddim"]["median_s"])
    if throughput:
        import ray

        def generate(n_workers: int) -> tuple[dict, float]:
            with tempfile.TemporaryDirectory() as tmp:
                cfg = GenerateConfig(dataroots=(str(root),), out_dir=tmp, version=version, scenes=tuple(names),
                                     per_scene=per_scene, workers=n_workers,
                                     checkpoint=str(checkpoint) if checkpoint else None)
                t1 = time.perf_counter()
                summary = generate_scenarios(cfg, snapshot=None, progress=False, model=model)
                return summary, time.perf_counter() - t1

        in_process, in_process_wall = generate(0)
        t0 = time.perf_counter()
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        startup = time.perf_counter() - t0
        try:
            summary, wall = generate(workers)
        finally:
            ray.shutdown()
        result["generation"] = {
            "workers": workers, "scenes": names, "items": summary["items_total"], "kept": summary["items_kept"],
            "closed_loop_attempts": summary["closed_loop_attempts"], "wall_s": round(wall, 2),
            "ray_startup_s": round(startup, 2), "scenarios_per_minute": 60.0 * summary["items_kept"] / wall,
            "items_per_minute": 60.0 * summary["items_total"] / wall,
            "closed_loop_episodes_per_minute": 60.0 * summary["closed_loop_attempts"] / wall,
            "baseline_in_process": {"wall_s": round(in_process_wall, 2), "kept": in_process["items_kept"],
                                    "items_per_minute": 60.0 * in_process["items_total"] / in_process_wall},
            "items_speedup_vs_in_process": ((summary["items_total"] / wall)
                                            / (in_process["items_total"] / in_process_wall))}
    return result

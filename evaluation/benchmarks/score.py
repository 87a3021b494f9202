"""Benchmark of `splatsim bench score`: time to score one 4 s proposal with EPDMS, and the reference planner.

One measured proposal is everything `sim.scoring.epdms.score_proposal` does for a proposal at a
logged frame once the frame's baseline exists: tracking the 40 poses with the engine's tracker
and bicycle, every sub-metric (NC, DAC, DDC, TLC, TTC, LK, HC with the logged history, EC
against the proposal 0.5 s earlier), EP's normalisation and the human filter. The baseline of a
frame (the PDM-Closed-style reference planner's 15 proposals, tracked and scored, and the
logged human scored for the filter) is computed once per frame and timed separately. Proposals
alternate between the logged human's future and a constant-velocity proposal, over every frame
with 4 s of logged future.

Baseline, timed in the same run: the same scoring with its collision and TTC checks done the way
NAVSIM's PDMScorer does them, with shapely polygons and one STRtree of the actors per step
(`sim.scoring.epdms.reference`; built once per frame and shared by its proposals, as NAVSIM's
occupancy maps are; not timed).
The baseline's time per proposal is ours minus our compiled NC and TTC kernels plus the shapely
checks, both timed on every proposal's simulated states.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from evaluation.machine import machine_info
from evaluation.scenario_refs import load_scenario_from_args
from sim.dynamics.bicycle import SPEED
from sim.engine import prepare
from sim.errors import ConfigError
from sim.scoring.epdms import (
    EPDMSConfig,
    ScoringData,
    actors_window,
    frame_baseline,
    human_proposal,
    scorable_frames,
    score_proposal,
)
from sim.scoring.epdms.reference import actor_trees, shapely_overlaps
from sim.scoring.epdms.window import ego_points, no_collision_term, time_to_collision_term

TARGET_EPDMS_MS = 2.0  # one proposal's EPDMS, median (the suite no longer times it)


def _cv_proposal(speed_mps: float, config: EPDMSConfig) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(1, config.horizon_steps + 1) * config.dt_s
    return np.stack([max(speed_mps, 0.0) * t, np.zeros_like(t)], -1), np.zeros_like(t)


def compiled_checks(data: ScoringData, states: np.ndarray, act: tuple, config: EPDMSConfig) -> None:
    """Our NC and TTC kernels on a proposal's states (n, 6) against actors (time-major)."""
    act_xy, act_yaw, act_speed, act_valid = act
    pts = ego_points(states, data)
    flags = np.zeros(len(states), bool)
    no_collision_term(states, pts, data, act_xy, act_yaw, act_speed, act_valid, flags, config)
    time_to_collision_term(states, pts, data, act_xy, act_yaw, act_valid, flags, config)


def bench_score(dataroot: Path | None, scene: str | None, repeats: int = 3, version: str = "v1.0-mini",
                scenario_file: Path | None = None) -> dict:
    """Time EPDMS scoring on a scenario's frames; return {"epdms_ms_median", "reference_planner_ms_median",
    "proposals", "machine", ...}, the median against the 2 ms target (`target_epdms_ms`, `within_target`)."""
    if repeats < 1:
        raise ConfigError(f"--repeats must be at least 1, got {repeats}")
    scenario = load_scenario_from_args(dataroot, scene, version, scenario_file)
    data = ScoringData.build(prepare(scenario))
    config = EPDMSConfig()
    frames = [int(k) for k in scorable_frames(data, config)]
    if not frames:
        raise ConfigError(f"scenario {scenario.name!r} has no frame with {config.horizon_steps * config.dt_s:g} s of "
                          "logged future to score")
    # Compile the kernels and warm the caches on one frame (not timed).
    xy, yaw = human_proposal(data, frames[0], config)
    score_proposal(data, frames[0], xy, yaw, config=config)
    data.frame_cache.clear()

    frame_ms = []
    for k in frames:
        t0 = time.perf_counter()
        frame_baseline(data, k, config)
        frame_ms.append((time.perf_counter() - t0) * 1e3)
    proposals = []
    for k in frames:
        proposals.append((k, *human_proposal(data, k, config)))
        proposals.append((k, *_cv_proposal(float(data.log_ego.states[k, SPEED]), config)))
    interval = int(round(config.comfort.ec_interval_s / config.dt_s))
    score_ms = []
    for _ in range(repeats):
        previous: dict[tuple[int, int], object] = {}
        for n, (k, xy, yaw) in enumerate(proposals):
            kind = n % 2
            t0 = time.perf_counter()
            result = score_proposal(data, k, xy, yaw, previous_proposal=previous.get((k - interval, kind)),
                                    config=config)
            score_ms.append((time.perf_counter() - t0) * 1e3)
            previous[(k, kind)] = result
    # The baseline's checks in a pass of their own, on the same proposals' simulated states.
    compiled_ms, shapely_ms = [], []
    for k, result in previous.items():
        act = actors_window(data, k[0], config.horizon_steps + 1)
        trees = actor_trees(data, act)
        for _ in range(repeats):
            t0 = time.perf_counter()
            compiled_checks(data, result.states, act, config)
            t1 = time.perf_counter()
            shapely_overlaps(data, result.states, trees, config)
            compiled_ms.append((t1 - t0) * 1e3)
            shapely_ms.append((time.perf_counter() - t1) * 1e3)
    epdms_ms = float(np.median(score_ms))
    baseline_ms = epdms_ms - float(np.median(compiled_ms)) + float(np.median(shapely_ms))
    out = {
        "scenario": scenario.name,
        "frames": len(frames),
        "proposals": len(score_ms),
        "repeats": repeats,
        "epdms_ms_median": epdms_ms,
        "epdms_ms_p90": float(np.percentile(score_ms, 90)),
        "compiled_checks_ms_median": float(np.median(compiled_ms)),
        "baseline_shapely_checks_ms_median": float(np.median(shapely_ms)),
        "baseline_epdms_ms": baseline_ms,
        "speedup_vs_baseline": baseline_ms / epdms_ms,
        "reference_planner_ms_median": float(np.median(frame_ms)),
        "reference_planner_proposals": len(config.reference.speed_fractions) * len(config.reference.lateral_offsets_m),
        "target_epdms_ms": TARGET_EPDMS_MS,
        "within_target": epdms_ms <= TARGET_EPDMS_MS,
        "machine": machine_info(),
    }
    return out

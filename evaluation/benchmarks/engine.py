"""Benchmark of `splatsim bench engine`: closed-loop steps per second without rendering.

One measured step is everything the loop does at 10 Hz except rendering: the observation,
the expert policy's plan, the tracker and bicycle, every actor's update (IDM when reactive)
and all checks (collisions, drivable area, TTC, route progress). The baseline, timed on the
same recorded states in the same run, is the straightforward way to write the per-step checks
with shapely polygons (`sim.checks_reference`); the engine's own checks are compiled kernels.
"""

from __future__ import annotations

import time
from typing import Optional

import numpy as np

from evaluation.machine import machine_info
from scenarios.synthetic import ActorSpec, straight_road_scenario
from sim.checks_reference import shapely_checks
from sim.engine import EngineConfig, evaluate, prepare, run_episode
from sim.policies.builtin import ExpertPolicy
from sim.types.scenario import Scenario


def busy_road(num_actors: int, num_steps: int, seed: int = 0) -> Scenario:
    """A 4-lane road with `num_actors` moving vehicles, all valid the whole time."""
    rng = np.random.default_rng(seed)
    specs = tuple(ActorSpec(x_m=float(x), lane=int(lane), speed_mps=float(v)) for x, lane, v in zip(
        rng.uniform(0, 1500, num_actors), rng.choice([0, 1, -1, -2], num_actors), rng.uniform(2, 12, num_actors)))
    return straight_road_scenario(num_steps=num_steps, actors=specs, road_length_m=1600.0, ego_start_x_m=5.0,
                                  ego_lane=0, name=f"busy-road-{num_actors}")



def bench_engine(scenario: Scenario, steps: Optional[int], repeats: int, reactive: bool) -> dict:
    context = prepare(scenario, EngineConfig(reactive=reactive, max_steps=steps, stop_at_route_end=False))
    run_episode(context, ExpertPolicy())  # compile the kernels before timing
    rates, episode = [], None
    for _ in range(repeats):
        episode = run_episode(context, ExpertPolicy())
        rates.append(episode.num_steps / episode.wall_s)
    indices = np.arange(0, len(episode.step_index), max(len(episode.step_index) // 40, 1))
    states = [episode.recorded_state(int(i)) for i in indices]
    hit = np.zeros(scenario.actors.num_actors, bool)
    t0 = time.perf_counter()
    for s in states:
        evaluate(context, s, float(episode.route_start_s_m), hit)
    own_checks_ms = (time.perf_counter() - t0) / len(states) * 1e3
    t0 = time.perf_counter()
    for s in states:
        shapely_checks(scenario, s, context.config.checks)
    shapely_checks_ms = (time.perf_counter() - t0) / len(states) * 1e3
    median = float(np.median(rates))
    step_ms = 1e3 / median
    # The baseline loop: the same step with the shapely checks in place of the engine's own.
    baseline_rate = 1e3 / (step_ms - own_checks_ms + shapely_checks_ms)
    return {
        "scenario": scenario.name, "steps": int(episode.num_steps), "repeats": repeats, "reactive": reactive,
        "actors": int(scenario.actors.num_actors), "actors_valid_mean": float(episode.actor_valid.sum(axis=1).mean()),
        "steps_per_s": median, "steps_per_s_all": [float(r) for r in rates], "ms_per_step_median": step_ms,
        "checks_ms": own_checks_ms, "baseline_shapely_checks_ms": shapely_checks_ms,
        "baseline_steps_per_s": baseline_rate, "speedup_vs_baseline": median / baseline_rate,
        "machine": machine_info(),
    }

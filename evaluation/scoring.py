"""`splatsim score`: pseudo-simulation scores of policies (NAVSIM v2) on many scenarios, at scale.

Scenarios go to Ray workers with `workers` (a local Ray with N CPUs) or `ray_address`; each task
scores every policy on one scenario with its own renderer (`evaluation.tasks`). Outputs:
DIR/pseudo_sim.json, DIR/report.md + report.html and DIR/img/ (PNG thumbnails of the front camera
of the stage-two observations).

Policies: the built-ins (expert, constant-velocity, idm), the degraded variants
(`sim.policies.degraded`: noisy, laggy, over-cautious, aggressive) and remote stacks
(grpc://HOST:PORT, unix://PATH).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from evaluation.machine import machine_info
from evaluation.observation_cache import RENDERER_VERSION
from evaluation.scenario_refs import ScenarioRef
from evaluation.scorer import PolicyScenarioScore
from evaluation.settings import ScoreSettings
from evaluation.tasks import ScenarioTask, TaskResult, run_tasks
from policies_api.resolve import check_policy_names
from sim.atomic import write_bytes_atomic, write_json_atomic
from sim.errors import ConfigError
from sim.scoring.pseudo_sim import aggregate_frames
from sim.types.scenario import Scenario

CACHE_COUNTERS = ("hits", "misses", "renders", "corrupt")


@dataclass(frozen=True)
class PolicyResults:
    """One policy over every scenario: the aggregate over all frames (`aggregate_frames`, plus
    scenarios, score_mean_over_scenarios, stage_one_mean_over_scenarios) and each scenario's."""

    aggregate: dict
    scenarios: tuple[PolicyScenarioScore, ...]

    def to_json(self) -> dict:
        return {"aggregate": self.aggregate, "scenarios": [s.to_json() for s in self.scenarios]}


@dataclass(frozen=True)
class Throughput:
    """Wall time of a run, scenarios scored and per minute (None for a zero wall time), and where."""

    wall_s: float
    scenarios: int
    scenarios_per_minute: float | None
    workers: int | None
    ray_address: str | None

    def to_json(self) -> dict:
        return {"wall_s": self.wall_s, "scenarios": self.scenarios, "scenarios_per_minute": self.scenarios_per_minute,
                "workers": self.workers, "ray_address": self.ray_address}


@dataclass(frozen=True)
class PseudoSimRun:
    """A pseudo-simulation run (pseudo_sim.json): the settings, the scenario tasks' results, the
    per-policy results, whether any group's stage-two weights vanished (and the warnings), the
    summed cache counters, throughput and machine. `traffic` (top level and in the settings) says
    what the actors of the scored rollouts did: "reactive" or "log-replay"."""

    settings: ScoreSettings
    scenarios: tuple[TaskResult, ...]
    policies: dict[str, PolicyResults]
    weights_vanished: bool
    warnings: tuple[str, ...]
    cache: dict[str, int]
    throughput: Throughput
    machine: dict
    renderer_version: str = RENDERER_VERSION

    def to_json(self) -> dict:
        return {"kind": "splatsim-pseudo-sim", "version": 1, "renderer_version": self.renderer_version,
                "traffic": self.settings.traffic.value, "settings": self.settings.to_dict(),
                "scenarios": [r.to_json() for r in self.scenarios],
                "policies": {name: p.to_json() for name, p in self.policies.items()},
                "weights_vanished": self.weights_vanished, "warnings": list(self.warnings), "cache": self.cache,
                "throughput": self.throughput.to_json(), "machine": self.machine}


def score_scenarios(refs: Sequence[ScenarioRef], policies: Sequence[str], settings: ScoreSettings, out: Path | None,
                    workers: int | None = None, ray_address: str | None = None, progress: bool = True,
                    renderer_factory: Callable[[Scenario], object] | None = None, report: bool = True) -> PseudoSimRun:
    """Score every policy on every scenario; write DIR/pseudo_sim.json, the thumbnails and the
    report when `out` is given."""
    if not policies:
        raise ConfigError("name at least one --policy")
    check_policy_names(policies, settings.egodriver_config)
    t0 = time.perf_counter()
    tasks = [ScenarioTask(ref, tuple(policies), settings) for ref in refs]
    results = run_tasks(tasks, workers, ray_address, progress, "pseudo-sim", renderer_factory)
    run = build_run(results, policies, settings, time.perf_counter() - t0, workers, ray_address)
    if out is not None:
        write_outputs(run, Path(out), report)
    return run


def build_run(results: Sequence[TaskResult], policies: Sequence[str], settings: ScoreSettings, wall_s: float,
              workers: int | None, ray_address: str | None) -> PseudoSimRun:
    """The run's document from its tasks' results."""
    per_policy = {}
    warnings: list[str] = []
    for name in policies:
        rows = [r.scores[name] for r in results]
        agg = aggregate_frames([f for row in rows for f in row.frames]).to_json()
        agg["scenarios"] = len(rows)
        agg["score_mean_over_scenarios"] = _mean([row.summary().score for row in rows])
        agg["stage_one_mean_over_scenarios"] = _mean([row.summary().stage_one_epdms for row in rows])
        per_policy[name] = PolicyResults(agg, tuple(rows))
        for row in rows:
            warnings += row.warnings
    n = len(results)
    throughput = Throughput(round(wall_s, 3), n, round(60.0 * n / wall_s, 3) if wall_s > 0 else None, workers,
                            ray_address)
    return PseudoSimRun(
        settings=settings, scenarios=tuple(results), policies=per_policy,
        weights_vanished=any(p.aggregate["groups_weights_vanished"] for p in per_policy.values()),
        warnings=tuple(warnings), cache={k: sum(getattr(r.cache, k) for r in results) for k in CACHE_COUNTERS},
        throughput=throughput, machine=machine_info())


def _mean(values) -> float | None:
    vals = [v for v in values if v is not None]
    return round(float(np.mean(vals)), 6) if vals else None


def write_outputs(run: PseudoSimRun, out: Path, report: bool = True) -> None:
    """DIR/pseudo_sim.json, the thumbnails under DIR/img/ and (with report) DIR/report.md/html."""
    out.mkdir(parents=True, exist_ok=True)
    for r in run.scenarios:
        for rel, data in r.thumbnails.items():
            write_bytes_atomic(out / rel, data)
    write_json_atomic(out / "pseudo_sim.json", run.to_json())
    if report:
        from evaluation.reports.pseudo_sim import write_score_report

        write_score_report(run, out)

"""One task per scenario: every policy's pseudo-simulation scores and, for `correlate`, its
closed-loop scores; run in this process or fanned out over Ray (`sim.fanout`)."""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass
from typing import Callable, Sequence

from evaluation.observation_cache import CacheStats
from evaluation.scenario_refs import ScenarioRef
from evaluation.scorer import PolicyScenarioScore, ScenarioScorer
from evaluation.settings import ScoreSettings
from policies_api.resolve import resolve_policy
from sim.engine import prepare
from sim.fanout import fan_out
from sim.types.scenario import Scenario


@dataclass(frozen=True)
class ScenarioTask:
    """Score `policies` on one scenario; with closed_loop, also run each in the closed loop once
    per entry of closed_loop_replan_steps (the policy asked every N steps)."""

    ref: ScenarioRef
    policies: tuple[str, ...]
    settings: ScoreSettings
    closed_loop: bool = False
    closed_loop_reactive: bool = False
    closed_loop_replan_steps: tuple[int, ...] = (1,)


@dataclass(frozen=True)
class ClosedLoopScores:
    """One policy in the closed loop over the span its pseudo-simulation frames cover: the
    episode's EPDMS (mean over frames) and sub-scores, route completion, at-fault collisions,
    HUGSIM HD-Score, Bench2Drive-style driving score, NeuroNCAP score (0-5) and wall time."""

    policy: str
    degraded: bool
    steps: int
    end_reason: str
    reactive: bool
    replan_every_steps: int
    epdms_mean: float | None
    subscores_mean: dict
    route_completion: float
    at_fault_collisions: int
    hd_score: float | None
    driving_score: float | None
    neuroncap: float | None
    wall_s: float

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class TaskResult:
    """What one scenario task returns: scores per policy, closed-loop scores per replanning
    interval (steps) and policy (empty without closed_loop), thumbnails (relative path -> PNG
    bytes), cache counters, the frames scored (steps) and the task's wall time."""

    ref: ScenarioRef
    scene: str
    scores: dict[str, PolicyScenarioScore]
    closed_loop: dict[int, dict[str, ClosedLoopScores]]
    thumbnails: dict[str, bytes]
    cache: CacheStats
    frames: tuple[int, ...]
    wall_s: float

    def to_json(self) -> dict:
        """The scenario's entry in pseudo_sim.json (the reference's fields win over `scene`)."""
        return {"scene": self.scene, **self.ref.to_dict(), "frames": list(self.frames), "cache": self.cache.to_json(),
                "wall_s": self.wall_s}


def run_scenario_task(task: ScenarioTask, renderer_factory: Callable[[Scenario], object] | None = None) -> TaskResult:
    """One task: every policy scored on the scenario (and run in the closed loop with closed_loop)."""
    t0 = time.perf_counter()
    scenario = task.ref.load()
    scorer = ScenarioScorer(scenario, task.settings, renderer_factory)
    scores: dict[str, PolicyScenarioScore] = {}
    closed: dict[int, dict[str, ClosedLoopScores]] = {}
    for name in task.policies:
        policy = resolve_policy(name, task.settings.seed, task.settings.egodriver_config)
        try:
            scores[name] = scorer.score_policy(policy, name)
        finally:
            if hasattr(policy, "close"):
                policy.close()
        for replan in task.closed_loop_replan_steps if task.closed_loop else ():
            closed.setdefault(replan, {})[name] = closed_loop_scores(scenario, name, task.settings, scorer,
                                                                     task.closed_loop_reactive, replan)
    return TaskResult(task.ref, scenario.name, scores, closed, scorer.thumbnails, scorer.cache.stats(),
                      tuple(scorer.frames), round(time.perf_counter() - t0, 3))


def closed_loop_span(frames: Sequence[int], settings: ScoreSettings, num_steps: int) -> int:
    """Steps of the closed loop that covers what pseudo-simulation looks at: from step 0 to the
    last frame's stage-two horizon (last frame + 2 x 4 s), within the log."""
    return int(min(max(frames) + 2 * settings.frames.horizon_steps, num_steps - 1))


def closed_loop_scores(scenario: Scenario, policy_name: str, settings: ScoreSettings, scorer: ScenarioScorer,
                       reactive: bool = False, replan_every_steps: int = 1) -> ClosedLoopScores:
    """The policy in the closed loop from the log's start over the span its frames cover
    (`closed_loop_span`), scored with `episode_scores`. Remote policies see rendered cameras;
    the privileged built-ins need none."""
    from policies_api.resolve import sees_images
    from sim.engine import EngineConfig, run_episode
    from sim.policies.registry import is_degraded_policy_name
    from sim.scoring.epdms import ScoringData
    from sim.scoring.episode_scores import episode_scores

    steps = closed_loop_span(scorer.frames, settings, scenario.num_steps)
    context = prepare(scenario, EngineConfig(reactive=reactive, max_steps=steps, replan_every_steps=replan_every_steps))
    policy = resolve_policy(policy_name, settings.seed, settings.egodriver_config)
    renderer = scorer.renderer if sees_images(policy_name) else None
    t0 = time.perf_counter()
    try:
        episode = run_episode(context, policy, renderer)
    finally:
        if hasattr(policy, "close"):
            policy.close()
    scores = episode_scores(episode, ScoringData.build(context))
    return ClosedLoopScores(
        policy=policy_name, degraded=is_degraded_policy_name(policy_name), steps=int(episode.num_steps),
        end_reason=episode.end_reason, reactive=reactive, replan_every_steps=replan_every_steps,
        epdms_mean=scores.epdms_mean, subscores_mean=scores.subscores_mean,
        route_completion=scores.route_completion, at_fault_collisions=scores.at_fault_collisions,
        hd_score=scores.hugsim.hd_score, driving_score=scores.bench2drive.driving_score,
        neuroncap=scores.neuroncap.score, wall_s=round(time.perf_counter() - t0, 3))


def run_tasks(tasks: Sequence[ScenarioTask], workers: int | None = None, ray_address: str | None = None,
              progress: bool = True, desc: str = "scenarios",
              renderer_factory: Callable[[Scenario], object] | None = None) -> list[TaskResult]:
    """Run tasks in-process (workers None/0, no address) or on Ray, with a progress bar; results
    in task order."""
    from tqdm import tqdm

    results: list[TaskResult | None] = [None] * len(tasks)

    def done(index: int, result: TaskResult) -> None:
        results[index] = result
        bar.set_postfix_str(result.scene)
        bar.update(1)

    bar = tqdm(total=len(tasks), desc=desc, unit="scenario", disable=not progress, file=sys.stderr)
    try:
        fan_out(run_scenario_task, [(t, renderer_factory) for t in tasks], done, workers, ray_address)
    finally:
        bar.close()
    return results  # type: ignore[return-value]

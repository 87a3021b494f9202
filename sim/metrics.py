"""Episode metrics: the closed-loop summary written to metrics.json."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from sim.engine import Episode

TTC_REPORT_CAP_S = 3.0  # TTC is projected over 3 s; "no conflict in sight" is reported as this


def route_completion(episode: Episode) -> float:
    """Progress along the route relative to the logged ego's progress, in [0, 1]."""
    expert = episode.route_end_s_m - episode.route_start_s_m
    if expert <= 1.0:
        return 1.0  # the log barely moves: standing still completes it
    return float(np.clip((episode.route_s_m[-1] - episode.route_start_s_m) / expert, 0.0, 1.0))


@dataclass(frozen=True)
class EpisodeMetrics:
    """The closed-loop summary of an episode (metrics.json without its scores and provenance).

    Counts are steps of the 10 Hz grid; min_ttc_s is capped at TTC_REPORT_CAP_S; first_at_fault_
    collision_step is None without one; wall_s, policy_s and render_s are the episode's timings.
    """

    scene: str
    policy: str
    reactive: bool
    start_step: int
    steps: int
    end_reason: str
    collision: bool
    at_fault_collision: bool
    at_fault_collisions: int
    first_at_fault_collision_step: int | None
    max_impact_speed_mps: float
    off_road: bool
    off_road_steps: int
    route_completion: float
    progress_m: float
    expert_progress_m: float
    min_ttc_s: float
    mean_speed_mps: float
    wall_s: float
    policy_s: float
    render_s: float

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def episode_metrics(episode: Episode) -> EpisodeMetrics:
    """The closed-loop summary of an episode."""
    ttc = episode.ttc_s[:-1] if len(episode.ttc_s) > 1 else episode.ttc_s
    at_fault_steps = np.flatnonzero(episode.at_fault_collision)
    return EpisodeMetrics(
        scene=episode.scenario_name,
        policy=episode.policy_name,
        reactive=episode.reactive,
        start_step=episode.start_step,
        steps=episode.num_steps,
        end_reason=episode.end_reason,
        collision=bool(episode.collision.any()),
        at_fault_collision=bool(len(at_fault_steps) > 0),
        at_fault_collisions=int(len(at_fault_steps)),
        first_at_fault_collision_step=int(episode.step_index[at_fault_steps[0]]) if len(at_fault_steps) else None,
        max_impact_speed_mps=float(episode.impact_speed_mps.max()) if len(episode.impact_speed_mps) else 0.0,
        off_road=bool(episode.off_road.any()),
        off_road_steps=int(episode.off_road.sum()),
        route_completion=route_completion(episode),
        progress_m=float(episode.route_s_m[-1] - episode.route_start_s_m),
        expert_progress_m=float(episode.route_end_s_m - episode.route_start_s_m),
        min_ttc_s=float(min(np.min(ttc), TTC_REPORT_CAP_S)) if len(ttc) else TTC_REPORT_CAP_S,
        mean_speed_mps=float(np.mean(episode.ego_speed_mps)),
        wall_s=float(episode.wall_s),
        policy_s=float(episode.policy_s),
        render_s=float(episode.render_s),
    )

"""One closed-loop episode written to a run folder (`splatsim run`, `splatsim render`, the demo).

A run folder holds metrics.json (the episode metrics, the caller's provenance and the
closed-loop scores under "scores"), episode.npz (`sim.scoring.episode_io`), bev.mp4 (when
asked) and, with a renderer and camera videos, one mp4 per camera plus the tiled rig.mp4.
`evaluation.reports.runs` reads these folders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from policies_api.resolve import resolve_policy
from render.bev import write_bev_video
from sim.atomic import write_json_atomic
from sim.engine import EngineConfig, prepare, run_episode
from sim.metrics import EpisodeMetrics, episode_metrics
from sim.scoring.epdms import ScoringData
from sim.scoring.episode_io import save_episode
from sim.scoring.episode_scores import EpisodeScores, episode_scores
from sim.types.observation import Renderer
from sim.types.scenario import Scenario


@dataclass(frozen=True)
class RunConfig:
    """What to run and write: the policy (a name for `policies_api.resolve`), reactive actors,
    at most `steps` steps from `start_step`, the bird's-eye video, camera videos (with a
    renderer), the provenance stored in metrics.json (dataroot, version, scenario_file...) and the
    --egodriver-config file of an egodriver:// policy (None: the defaults)."""

    policy: str = "expert"
    reactive: bool = False
    steps: int | None = None
    start_step: int = 0
    video: bool = True
    camera_videos: bool = False
    provenance: dict = field(default_factory=dict)
    egodriver_config: str | None = None


@dataclass(frozen=True)
class RunResult:
    """A run folder's metrics.json: the episode metrics, the provenance and the closed-loop
    scores (`sim.scoring.episode_scores`)."""

    metrics: EpisodeMetrics
    provenance: dict
    scores: EpisodeScores

    def to_json(self) -> dict:
        return {**self.metrics.to_json(), **self.provenance, "scores": self.scores.to_json()}


def run_one(scenario: Scenario, config: RunConfig, out: Path, renderer: Renderer | None = None) -> RunResult:
    """Run one episode and write its run folder under `out`. With a renderer, the policy sees
    the rendered images."""
    from render.video import RigVideoWriter

    context = prepare(scenario, EngineConfig(reactive=config.reactive, start_step=config.start_step,
                                             max_steps=config.steps))
    policy = resolve_policy(config.policy, egodriver_config=config.egodriver_config)
    writer = RigVideoWriter(out) if renderer is not None and config.camera_videos else None
    on_step = (lambda state, obs: writer.add(obs.images)) if writer is not None else None
    try:
        episode = run_episode(context, policy, renderer, on_step=on_step)
        metrics = episode_metrics(episode)
        if hasattr(policy, "end_episode"):
            policy.end_episode(metrics.to_json())
    except BaseException:
        if writer is not None:
            writer.close(keep=False)
        raise
    finally:
        if hasattr(policy, "close"):
            policy.close()
    if writer is not None:
        writer.close()
    result = RunResult(metrics, dict(config.provenance), episode_scores(episode, ScoringData.build(context)))
    out.mkdir(parents=True, exist_ok=True)
    save_episode(episode, out / "episode.npz")
    if config.video:
        write_bev_video(scenario, episode, out / "bev.mp4")
    write_json_atomic(out / "metrics.json", result.to_json())
    return result

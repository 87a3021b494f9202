"""Run folders shared by the report tests (`write_runs`, also used by tests/tools)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scenarios.scenario_file import save_scenario
from scenarios.synthetic import ActorSpec, straight_road_scenario
from sim.atomic import write_json_atomic
from sim.engine import EngineConfig, prepare, run_episode
from sim.metrics import episode_metrics
from sim.policies.registry import make_policy
from sim.scoring.epdms import ScoringData
from sim.scoring.episode_io import save_episode
from sim.scoring.episode_scores import episode_scores


def _slowing_log(n=80):
    v = np.full(n, 10.0)
    for k in range(5, n):
        v[k] = max(v[k - 1] - 0.3, 5.0)
    return v


def write_runs(root: Path) -> list[Path]:
    """Three runs like `splatsim run` writes them: expert (scores in metrics.json), constant
    velocity into a stopped car (scores in metrics.json), and idm without scores (the report
    scores its episode.npz)."""
    scenario = straight_road_scenario(num_steps=80, ego_speed_mps=_slowing_log(), name="crash-road",
                                      actors=(ActorSpec(x_m=60.0, lane=0, speed_mps=0.0),))
    scenario_file = save_scenario(scenario, root / "crash-road.scenario.npz")
    dirs = []
    for policy, with_scores in (("expert", True), ("constant-velocity", True), ("idm", False)):
        ctx = prepare(scenario, EngineConfig(stop_at_route_end=False))
        episode = run_episode(ctx, make_policy(policy))
        metrics = {**episode_metrics(episode).to_json(), "dataroot": None, "version": "v1.0-mini",
                   "scenario_file": str(scenario_file)}
        if with_scores:
            metrics["scores"] = episode_scores(episode, ScoringData.build(ctx)).to_json()
        out = root / policy
        save_episode(episode, out / "episode.npz")
        write_json_atomic(out / "metrics.json", metrics)
        dirs.append(out)
    return dirs




@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[Path]:
    return write_runs(tmp_path_factory.mktemp("runs"))

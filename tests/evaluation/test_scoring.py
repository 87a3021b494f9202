"""Pseudo-simulation runs on many scenarios: Ray workers give the same scores, and a remote
policy is scored from the rendered images."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.scenario_refs import resolve_scenarios
from evaluation.scoring import score_scenarios
from evaluation.settings import RenderSettings, ScoreSettings
from sim.scoring.stage_two import FrameConfig, StageTwoConfig

SCENE = "scene-demo-0000"
TINY = dict(render=RenderSettings(("CAM_FRONT",), 64, 36, "cpu"), frames=FrameConfig(max_frames=1),
            stage_two=StageTwoConfig(mode="grid", lateral_offsets_m=(-0.5, 0.0, 0.5), longitudinal_offsets_m=(0.0,)))


def test_ray_workers_give_the_same_scores(demo_dataroot, tmp_path):
    ray = pytest.importorskip("ray")
    settings = ScoreSettings(**TINY, cache_dir=str(tmp_path / "cache"), thumbnails="none")
    refs = resolve_scenarios([demo_dataroot], [SCENE])
    local = score_scenarios(refs, ["idm"], settings, None, progress=False)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        remote = score_scenarios(refs, ["idm"], settings, tmp_path / "out", workers=2, progress=False)
    finally:
        ray.shutdown()
    assert remote.cache["renders"] == 0 and remote.cache["misses"] == 0  # the local run filled the cache
    a = local.policies["idm"].aggregate
    b = remote.policies["idm"].aggregate
    assert b["score"] == pytest.approx(a["score"]) and b["stage_one_epdms"] == pytest.approx(a["stage_one_epdms"])
    assert remote.throughput.workers == 2 and (tmp_path / "out" / "report.md").is_file()


def test_a_remote_policy_is_scored_from_the_rendered_images(demo_dataroot, tmp_path):
    from policies_api.policy_server import serve_policy

    seen = []

    def plan(obs):
        seen.append(None if obs.images is None else obs.images.rgb.shape)
        t = np.arange(1, 9) * 0.5
        v = max(obs.ego.speed_mps, 0.0)
        return np.stack([v * t, np.zeros(8), np.zeros(8)], -1)  # constant velocity, 8 poses at 0.5 s

    settings = ScoreSettings(**TINY, cache_dir=str(tmp_path / "cache"), thumbnails="none")
    refs = resolve_scenarios([demo_dataroot], [SCENE])
    with serve_policy(plan, port=0) as server:
        run = score_scenarios(refs, [server.target], settings, None, progress=False)
    assert seen == [(1, 36, 64, 3)] * 8  # 2 stage-one + 2 x 3 stage-two observations, each with its image
    agg = run.policies[server.target].aggregate
    local = score_scenarios(refs, ["constant-velocity"], settings, None, progress=False)
    assert agg["stage_one_epdms"] == pytest.approx(local.policies["constant-velocity"].aggregate["stage_one_epdms"],
                                                   abs=0.05)

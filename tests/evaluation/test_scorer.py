"""The pseudo-simulation scorer of one scenario and its observation cache: a second policy and a
second run re-render nothing; another camera setting is another cache entry."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.observation_cache import default_renderer_factory
from evaluation.scenario_refs import ScenarioRef
from evaluation.scorer import ScenarioScorer
from evaluation.settings import RenderSettings, ScoreSettings
from policies_api.resolve import resolve_policy
from sim.scoring.epdms import logged_ego_state
from sim.scoring.stage_two import FrameConfig, StageTwoConfig

SCENE = "scene-demo-0000"
TINY = dict(render=RenderSettings(("CAM_FRONT",), 64, 36, "cpu"), frames=FrameConfig(max_frames=1),
            stage_two=StageTwoConfig(mode="grid", lateral_offsets_m=(-0.5, 0.0, 0.5), longitudinal_offsets_m=(0.0,)))


class CountingFactory:
    """Builds the real Gaussian renderer and counts its builds and render calls."""

    def __init__(self, render: RenderSettings):
        self.build = default_renderer_factory(render)
        self.builds = 0
        self.renders = 0

    def __call__(self, scenario):
        self.builds += 1
        renderer = self.build(scenario)
        inner = renderer.render

        def counted(sc, state):
            self.renders += 1
            return inner(sc, state)

        renderer.render = counted
        return renderer


def test_a_second_policy_and_a_second_run_re_render_nothing(demo_dataroot, tmp_path):
    settings = ScoreSettings(**TINY, cache_dir=str(tmp_path / "cache"))
    scenario = ScenarioRef(SCENE, str(demo_dataroot)).load()
    first = CountingFactory(settings.render)
    scorer = ScenarioScorer(scenario, settings, first)
    starts = scorer.starts[scorer.frames[0]]
    assert scorer.frames == [5] and len(starts) == 3
    a = scorer.score_policy(resolve_policy("idm"), "idm")
    # stage one: 2 logged frames; stage two: 3 starts at 3.5 s and at 4 s
    assert first.builds == 1 and first.renders == 2 + 2 * 3 == scorer.cache.renders
    b = scorer.score_policy(resolve_policy("constant-velocity"), "constant-velocity")
    assert first.renders == 8 and scorer.cache.hits >= 8
    assert a.frames[0].score != b.frames[0].score
    files = list((tmp_path / "cache").rglob("*.npz"))
    assert len(files) == 8 and not list((tmp_path / "cache").rglob(".*"))
    # a fresh process-like scorer on the same cache: no renderer is even built
    second = CountingFactory(settings.render)
    again = ScenarioScorer(scenario, settings, second)
    c = again.score_policy(resolve_policy("idm"), "idm")
    assert second.builds == 0 and second.renders == 0 and again.cache.misses == 0
    assert c.frames[0].score == pytest.approx(a.frames[0].score)
    # the cached observation is the rendered one
    obs = again.observation(5, logged_ego_state(again.data, 5))
    assert obs.images.rgb.shape == (1, 36, 64, 3) and obs.images.rgb.dtype == np.uint8
    # a corrupt cache file is re-rendered, not trusted
    files[0].write_bytes(b"not a zip")
    third = CountingFactory(settings.render)
    fixed = ScenarioScorer(scenario, settings, third)
    fixed.prerender()
    assert fixed.cache.corrupt == 1 and third.renders == 1


def test_another_camera_setting_is_another_cache_entry(demo_dataroot, tmp_path):
    scenario = ScenarioRef(SCENE, str(demo_dataroot)).load()
    small = ScenarioScorer(scenario, ScoreSettings(**TINY, cache_dir=str(tmp_path)))
    other = ScenarioScorer(scenario, ScoreSettings(**{**TINY, "render": RenderSettings(("CAM_FRONT",), 48, 27)},
                                                   cache_dir=str(tmp_path)))
    ego = small.starts[5].now.ego(0)
    assert small.cache.key(45, ego) != other.cache.key(45, ego)
    same = ScenarioScorer(scenario, ScoreSettings(**TINY, cache_dir=str(tmp_path)))
    assert small.cache.key(45, ego) == same.cache.key(45, ego)

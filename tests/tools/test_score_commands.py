"""`splatsim score` / `splatsim correlate` end to end on the demo town with tiny images: the
observation cache (a second policy re-renders nothing), vanished-weight flags in the output, the
Ray path, and the correlation statistics."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from policies_api.resolve import resolve_policy
from sim.scoring.epdms import logged_ego_state
from sim.scoring.pseudo_sim import PseudoSimConfig
from sim.scoring.stage_two import FrameConfig, StageTwoConfig
from tools.correlate import correlate, correlate_command, fit_stats
from tools.score_commands import (
    RenderSettings,
    ScenarioRef,
    ScenarioScorer,
    ScoreSettings,
    default_renderer_factory,
    resolve_scenarios,
    score_command,
    score_scenarios,
)

SCENE = "scene-demo-0000"
TINY = dict(render=RenderSettings(("CAM_FRONT",), 64, 36, "cpu"), frames=FrameConfig(max_frames=1),
            stage_two=StageTwoConfig(lateral_offsets_m=(-0.5, 0.0, 0.5), longitudinal_offsets_m=(0.0,)))


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
    assert scorer.frames == [5] and len(starts.offsets) == 3
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
    assert small.cache.key(45, ego) == ScenarioScorer(scenario, ScoreSettings(**TINY, cache_dir=str(tmp_path))).cache.key(45, ego)


def test_score_command_end_to_end(demo_dataroot, tmp_path):
    app = typer.Typer()
    app.command("score")(score_command)
    app.command("other")(lambda: None)  # a multi-command app, as in the real CLI
    out = tmp_path / "out"
    args = ["score", "--dataroot", demo_dataroot, "--scenes", SCENE, "--policy", "idm", "--policy", "over-cautious",
            "--width", 64, "--height", 36, "--frames", 1, "--lateral", -0.5, "--lateral", 0.0, "--lateral", 0.5,
            "--longitudinal", 0.0, "--cache", tmp_path / "cache", "--out", out, "--json", "--no-progress"]
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert set(summary["policies"]) == {"idm", "over-cautious"}
    doc = json.loads((out / "pseudo_sim.json").read_text())
    assert doc["kind"] == "splatsim-pseudo-sim" and doc["renderer_version"]
    scen = doc["policies"]["idm"]["scenarios"][0]
    frame = scen["frames"][0]
    assert frame["step"] == 5 and len(frame["starts"]) == 3
    for key in ("score", "stage_one_epdms", "stage_two_epdms_weighted", "weights_vanished", "now", "prev"):
        assert key in frame
    assert set(frame["now"]["stage_one_subscores"]) == {"nc", "dac", "ddc", "tlc", "ep", "ttc", "lk", "hc", "ec"}
    assert len(frame["now"]["weights"]) == 3 and sum(frame["now"]["weights"]) == pytest.approx(1.0, abs=1e-5)
    assert "epdms" in frame["starts"][0]["stage_two_now"] and "nc" in frame["stage_one"]["now"]
    # the over-cautious plan ends metres behind every start: flagged in the JSON, the report and stderr
    slow = doc["policies"]["over-cautious"]["aggregate"]
    assert slow["groups_weights_vanished"] == 2 and doc["weights_vanished"] is True and summary["weights_vanished"]
    assert any("over-cautious" in w and "weights_vanished" in w for w in doc["warnings"])
    assert "WARNING weights_vanished" in result.stderr
    report = (out / "report.md").read_text()
    assert "WARNING: stage-two weights vanished" in report and "over-cautious" in report
    thumbs = sorted((out / "img" / "obs" / SCENE).glob("*.png"))
    assert len(thumbs) == 4 and thumbs[0].stat().st_size > 500  # stage one + 3 starts
    assert "img/obs/" in report and (out / "report.html").read_text().count("<img") >= 4
    assert doc["cache"]["renders"] == 8 and doc["throughput"]["scenarios_per_minute"] > 0
    assert not [p for p in out.rglob(".*")]


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
    assert remote["cache"]["renders"] == 0 and remote["cache"]["misses"] == 0  # the local run filled the cache
    a = local["policies"]["idm"]["aggregate"]
    b = remote["policies"]["idm"]["aggregate"]
    assert b["score"] == pytest.approx(a["score"]) and b["stage_one_epdms"] == pytest.approx(a["stage_one_epdms"])
    assert remote["throughput"]["workers"] == 2 and (tmp_path / "out" / "report.md").is_file()


def test_fit_stats_hand_values():
    s = fit_stats([0.1, 0.4, 0.7, 0.9], [0.2, 0.5, 0.8, 1.0])
    assert s["r2"] == pytest.approx(1.0) and s["spearman_rho"] == pytest.approx(1.0) and s["slope"] == pytest.approx(1.0)
    s = fit_stats([1, 2, 3, 4], [1, 3, 2, 4])
    assert s["r2"] == pytest.approx(0.64) and s["spearman_rho"] == pytest.approx(0.8) and s["n"] == 4
    assert fit_stats([1, 2], [1, 2])["r2"] is None and fit_stats([1, 1, 1], [1, 2, 3])["r2"] is None
    assert fit_stats([1, 2, 3, math.nan], [1, 2, 3, 4])["n"] == 3


def test_correlate_end_to_end(demo_dataroot, tmp_path):
    settings = ScoreSettings(**TINY, cache_dir=str(tmp_path / "cache"), thumbnails="none",
                             pseudo=PseudoSimConfig())
    refs = resolve_scenarios([demo_dataroot], [SCENE])
    doc = correlate(refs, ["expert", "constant-velocity", "over-cautious"], settings, tmp_path / "corr",
                    progress=False)
    assert [p["policy"] for p in doc["per_policy"]] == ["expert", "constant-velocity", "over-cautious"]
    for p in doc["per_policy"]:
        for k in ("closed_loop_epdms", "open_loop_epdms", "pseudo_sim", "driving_score"):
            assert p[k] is not None and 0.0 <= p[k] <= 1.0
    table = doc["correlation"]["policy_level"]["closed_loop_epdms"]
    assert table["pseudo_sim"]["n"] == 3 and table["open_loop_epdms"]["n"] == 3
    assert (tmp_path / "corr" / "img" / "correlation.png").stat().st_size > 10_000
    assert "R² vs closed-loop EPDMS" in (tmp_path / "corr" / "correlate.md").read_text()
    assert (tmp_path / "corr" / "pseudo_sim" / "pseudo_sim.json").is_file()
    assert json.loads((tmp_path / "corr" / "correlation.json").read_text())["plot"] == "img/correlation.png"
    assert callable(correlate_command)


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
        doc = score_scenarios(refs, [server.target], settings, None, progress=False)
    assert seen == [(1, 36, 64, 3)] * 8  # 2 stage-one + 2 x 3 stage-two observations, each with its image
    agg = doc["policies"][server.target]["aggregate"]
    local = score_scenarios(refs, ["constant-velocity"], settings, None, progress=False)
    assert agg["stage_one_epdms"] == pytest.approx(local["policies"]["constant-velocity"]["aggregate"]
                                                   ["stage_one_epdms"], abs=0.05)

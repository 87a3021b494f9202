"""`evaluation.correlation`: the fit statistics by hand, and a correlation run end to end."""

from __future__ import annotations

import json
import math

import pytest

from evaluation.correlation import correlate, fit_stats
from evaluation.scenario_refs import resolve_scenarios
from evaluation.settings import RenderSettings, ScoreSettings
from sim.scoring.pseudo_sim import PseudoSimConfig
from sim.scoring.stage_two import FrameConfig, StageTwoConfig

SCENE = "scene-demo-0000"
TINY = dict(render=RenderSettings(("CAM_FRONT",), 64, 36, "cpu"), frames=FrameConfig(max_frames=1),
            stage_two=StageTwoConfig(lateral_offsets_m=(-0.5, 0.0, 0.5), longitudinal_offsets_m=(0.0,)))


def test_fit_stats_hand_values():
    s = fit_stats([0.1, 0.4, 0.7, 0.9], [0.2, 0.5, 0.8, 1.0])
    assert s.r2 == pytest.approx(1.0) and s.spearman_rho == pytest.approx(1.0) and s.slope == pytest.approx(1.0)
    s = fit_stats([1, 2, 3, 4], [1, 3, 2, 4])
    assert s.r2 == pytest.approx(0.64) and s.spearman_rho == pytest.approx(0.8) and s.n == 4
    assert fit_stats([1, 2], [1, 2]).r2 is None and fit_stats([1, 1, 1], [1, 2, 3]).r2 is None
    assert fit_stats([1, 2, 3, math.nan], [1, 2, 3, 4]).n == 3


def test_correlate_end_to_end(demo_dataroot, tmp_path):
    settings = ScoreSettings(**TINY, cache_dir=str(tmp_path / "cache"), thumbnails="none",
                             pseudo=PseudoSimConfig())
    refs = resolve_scenarios([demo_dataroot], [SCENE])
    run = correlate(refs, ["expert", "constant-velocity", "over-cautious"], settings, tmp_path / "corr",
                    progress=False)
    assert [p.policy for p in run.per_policy] == ["expert", "constant-velocity", "over-cautious"]
    for p in run.per_policy:
        for score in (p.closed_loop_epdms, p.open_loop_epdms, p.pseudo_sim, p.driving_score):
            assert score is not None and 0.0 <= score <= 1.0
    table = run.correlation["policy_level"]["closed_loop_epdms"]
    assert table["pseudo_sim"].n == 3 and table["open_loop_epdms"].n == 3
    assert (tmp_path / "corr" / "img" / "correlation.png").stat().st_size > 10_000
    assert "R² vs closed-loop EPDMS" in (tmp_path / "corr" / "correlate.md").read_text()
    assert (tmp_path / "corr" / "pseudo_sim" / "pseudo_sim.json").is_file()
    doc = json.loads((tmp_path / "corr" / "correlation.json").read_text())
    assert doc == json.loads(json.dumps(run.to_json()))
    # one traffic for the closed loop and the pseudo-simulation, reactive by default, named everywhere
    assert doc["traffic"] == "reactive" and doc["closed_loop"]["reactive"] is True
    assert json.loads((tmp_path / "corr" / "pseudo_sim" / "pseudo_sim.json").read_text())["traffic"] == "reactive"
    assert "Pseudo-simulation traffic: reactive" in (tmp_path / "corr" / "correlate.md").read_text()

"""`evaluation.correlation`: the fit statistics by hand, and a correlation run end to end."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from evaluation.correlation import DEFAULT_POLICIES, bootstrap_fit, correlate, fit_stats
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


def test_bootstrap_of_perfectly_linear_policy_means_is_one_with_a_tight_interval():
    # 10 policies x 6 scenes; closed = 0.5 + 0.05 p + scene effect; predictor = 2 closed + 1: every
    # resample's policy means lie on one line, so R^2 = 1 and rho = 1 wherever defined.
    closed = 0.5 + 0.05 * np.arange(10)[:, None] + np.linspace(-0.1, 0.1, 6)[None, :]
    fit = bootstrap_fit(closed, 2 * closed + 1, resamples=500, seed=0)
    assert fit.r2 == pytest.approx(1.0) and fit.spearman == pytest.approx(1.0)
    assert fit.r2_ci95 == pytest.approx((1.0, 1.0)) and fit.spearman_ci95 == pytest.approx((1.0, 1.0))
    assert (fit.n_policies, fit.n_scenes, fit.resamples) == (10, 6, 500) and fit.resamples_used == 500


def test_bootstrap_of_independent_noise_gives_intervals_reaching_zero():
    rng = np.random.default_rng(1)
    closed, predictor = rng.normal(size=(30, 4)), rng.normal(size=(30, 4))
    fit = bootstrap_fit(closed, predictor, resamples=1000, seed=0)
    low, high = fit.spearman_ci95
    assert low < 0.0 < high
    assert fit.r2_ci95[0] < 0.01 and fit.r2_ci95[1] < 0.5  # R^2 >= 0: its interval starts at ~0


def test_bootstrap_is_seeded_and_skips_missing_pairs():
    rng = np.random.default_rng(2)
    closed = rng.uniform(size=(8, 5))
    predictor = closed + rng.normal(scale=0.1, size=(8, 5))
    predictor[0, 0] = np.nan  # the pair drops out; policy 0 keeps its other 4 scenes
    runs = [bootstrap_fit(closed, predictor, resamples=300, seed=s) for s in (7, 7, 8)]
    assert runs[0] == runs[1] and runs[0].r2_ci95 != runs[2].r2_ci95
    # the point estimate: each policy's mean over its finite pairs, by hand
    keep = np.isfinite(predictor)
    mx = np.array([closed[i, keep[i]].mean() for i in range(8)])
    my = np.array([predictor[i, keep[i]].mean() for i in range(8)])
    assert runs[0].r2 == pytest.approx(np.corrcoef(mx, my)[0, 1] ** 2, abs=1e-4)
    assert runs[0].r2_ci95[0] <= runs[0].r2 <= runs[0].r2_ci95[1]


def test_the_default_study_has_at_least_30_distinct_resolvable_policies():
    from policies_api.resolve import check_policy_names

    assert len(DEFAULT_POLICIES) >= 30 and len(set(DEFAULT_POLICIES)) == len(DEFAULT_POLICIES)
    check_policy_names(DEFAULT_POLICIES)


def test_correlate_end_to_end(demo_dataroot, tmp_path):
    settings = ScoreSettings(**TINY, cache_dir=str(tmp_path / "cache"), thumbnails="none",
                             pseudo=PseudoSimConfig())
    refs = resolve_scenarios([demo_dataroot], [SCENE])
    names = ["expert", "constant-velocity", "idm[speed=0.7,bias=0.6]"]
    run = correlate(refs, names, settings, tmp_path / "corr", bootstrap_resamples=200, progress=False)
    assert [p.policy for p in run.per_policy] == names
    for p in run.per_policy:
        for score in (p.closed_loop_epdms, p.closed_loop_epdms_beside, p.open_loop_epdms, p.pseudo_sim,
                      p.driving_score):
            assert score is not None and 0.0 <= score <= 1.0
    table = run.correlation["policy_level"]["closed_loop_epdms"]
    assert table["pseudo_sim"].n == 3 and table["open_loop_epdms"].n == 3
    assert (tmp_path / "corr" / "img" / "correlation.png").stat().st_size > 10_000
    assert "R² vs closed-loop EPDMS" in (tmp_path / "corr" / "correlate.md").read_text()
    assert (tmp_path / "corr" / "pseudo_sim" / "pseudo_sim.json").is_file()
    doc = json.loads((tmp_path / "corr" / "correlation.json").read_text())
    assert doc == json.loads(json.dumps(run.to_json()))
    assert doc["policies"] == names
    for key in ("pseudo_sim", "open_loop"):
        fit = doc[key]
        assert {"r2", "r2_ci95", "spearman", "spearman_ci95"} <= set(fit) and fit["replan_every_steps"] == 1
        assert fit["n_policies"] == 3 and fit["n_scenes"] == 1 and fit["resamples"] == 200
        assert fit["r2"] == pytest.approx(table[fit["predictor"]].r2, abs=2e-4)  # the full table's policy means
        assert fit["r2_ci95"] is None or len(fit["r2_ci95"]) == 2
        assert fit["beside"]["replan_every_steps"] == 5 and "r2_ci95" in fit["beside"]
    assert doc["closed_loop"] == {"reactive": True, "replan_every_steps": 1, "beside_replan_every_steps": 5}
    assert "R² [95 % CI], closed loop at 10 Hz" in (tmp_path / "corr" / "correlate.md").read_text()
    assert "closed loop at 2 Hz" in (tmp_path / "corr" / "correlate.md").read_text()
    # one traffic for the closed loop and the pseudo-simulation, reactive by default, named everywhere
    assert doc["traffic"] == "reactive" and doc["closed_loop"]["reactive"] is True
    assert json.loads((tmp_path / "corr" / "pseudo_sim" / "pseudo_sim.json").read_text())["traffic"] == "reactive"
    assert "Pseudo-simulation traffic: reactive" in (tmp_path / "corr" / "correlate.md").read_text()


def test_a_sweeps_members_share_their_family():
    from evaluation.correlation import policy_family

    assert policy_family("idm[speed=0.5,headway=2]") == "idm"
    assert policy_family("noisy[sigma=1]") == "noisy" and policy_family("expert") == "expert"

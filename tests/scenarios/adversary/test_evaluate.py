"""The adversary evaluation: requested modes only, Wilson intervals."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sim.errors import ConfigError


def test_evaluation_runs_only_the_requested_modes(demo_dataroot, model, tmp_path):
    from scenarios.adversary.evaluate import EvalConfig, critical_by_type, evaluate_adversary

    cfg = EvalConfig(dataroots=(str(demo_dataroot),), scenes=("scene-demo-0002",), attempts_per_scene=1,
                     episode_steps=20, modes=("unguided",))
    report = evaluate_adversary(cfg, tmp_path, progress=False, model=model)
    assert set(report["table"]) == {"log", "unguided"} and report["table"]["unguided"]["attempts"] == 1
    unguided = report["table"]["unguided"]
    assert 0.0 <= unguided["nonego_at_fault_rate"] <= unguided["nonego_collision_rate"]
    lo, hi = unguided["nonego_collision_ci95"]
    assert 0.0 <= lo <= unguided["nonego_collision_rate"] <= hi <= 1.0
    assert "adversary at fault" in (tmp_path / "adversary_eval.md").read_text()
    assert critical_by_type(report, "guided") == {}
    assert sum(n for _, n in critical_by_type(report, "unguided").values()) == 1
    with pytest.raises(ConfigError, match="unknown evaluation mode"):
        evaluate_adversary(dataclasses.replace(cfg, modes=("sideways",)), None, progress=False, model=model)


def test_wilson_interval_matches_scipy():
    from scipy.stats import binomtest

    from scenarios.adversary.evaluate import wilson_interval

    for k, n in [(0, 10), (4, 96), (96, 96), (31, 320)]:
        ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        np.testing.assert_allclose(wilson_interval(k, n), (ci.low, ci.high), atol=2e-5)
    assert wilson_interval(0, 0) == (0.0, 1.0)

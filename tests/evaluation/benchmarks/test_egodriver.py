"""`evaluation.benchmarks.egodriver` runs end to end (a few steps) and reports what it promises."""

from __future__ import annotations

import json

import pytest


def test_bench_egodriver_reports_the_three_cases_and_the_ratio():
    pytest.importorskip("carla_driver_interface", reason="carla-driver-interface (a dev dependency) is the peer")
    from evaluation.benchmarks.egodriver import TARGET_RATIO, bench_egodriver

    report = bench_egodriver(steps=10, warmup=2, actors=3)
    json.dumps(report, allow_nan=False)  # JSON-ready
    assert set(report["results"]) == {"grpc", "egodriver", "egodriver_carla_driver_interface"}
    for stats in report["results"].values():
        assert stats["n"] == 10 and 0 < stats["p50_ms"] <= stats["p99_ms"]
    assert "constant_speed" in report["results"]["egodriver_carla_driver_interface"]["driver"]
    g, e = report["results"]["grpc"]["p50_ms"], report["results"]["egodriver"]["p50_ms"]
    assert report["ratio_p50"] == pytest.approx(e / g) and report["target_ratio"] == TARGET_RATIO == 2.0
    assert report["config"]["image_format"] is None and report["render"] == {"renderer": "none"}

"""`evaluation.benchmarks.grpc` runs end to end (a few steps) and reports what it promises."""

from __future__ import annotations

import json


def test_bench_grpc_reports_medians_p99_transports_and_baseline():
    from evaluation.benchmarks.grpc import bench_grpc

    report = bench_grpc(steps=15, warmup=3, cameras=2, width=64, height=36, actors=5, backend="cpu")
    json.dumps(report, allow_nan=False)  # JSON-ready
    assert report["config"]["cameras"] == 2
    assert report["render"]["renderer"].startswith(("GaussianRenderer", "none"))
    cases = {"no_images", "images_2x64x36"}
    for transport in ("tcp", "unix"):
        assert set(report["results"][transport]) == cases
        for case in cases:
            stats = report["results"][transport][case]
            assert stats["n"] == 15 and 0 < stats["p50_ms"] <= stats["p99_ms"]
    baseline = report["results"]["in_process"]["no_images"]
    assert set(baseline) == {"engine", "session", "session_serialize_decode"}
    assert set(report["meets_targets"]) == {"tcp", "unix"}

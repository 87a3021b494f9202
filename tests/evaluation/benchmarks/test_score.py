"""The EPDMS scoring benchmark behind `splatsim bench score`."""

from __future__ import annotations

from evaluation.benchmarks.score import bench_score
from scenarios.scenario_file import save_scenario
from scenarios.synthetic import straight_road_scenario


def test_bench_score_reports_medians_and_the_baseline(tmp_path):
    path = save_scenario(straight_road_scenario(num_steps=60, ego_speed_mps=10.0), tmp_path / "road.scenario.npz")
    out = bench_score(None, None, repeats=1, scenario_file=path)
    assert out["speedup_vs_baseline"] == out["baseline_epdms_ms"] / out["epdms_ms_median"]
    assert out["within_target"] == (out["epdms_ms_median"] <= out["target_epdms_ms"])
    assert out["baseline_shapely_checks_ms_median"] > 0 and out["compiled_checks_ms_median"] > 0
    assert out["proposals"] == 2 * out["frames"] == 2 * 20
    assert 0 < out["epdms_ms_median"] < 50 and out["reference_planner_ms_median"] > 0

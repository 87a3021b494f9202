"""`splatsim bench score`."""

from __future__ import annotations

import json

from scenarios.scenario_file import save_scenario
from scenarios.synthetic import straight_road_scenario
from tools.bench_score import bench_score


def test_bench_score_reports_medians_and_the_machine(tmp_path, capsys):
    path = save_scenario(straight_road_scenario(num_steps=60, ego_speed_mps=10.0), tmp_path / "road.scenario.npz")
    out = bench_score(None, None, repeats=1, as_json=True, scenario_file=path)
    printed = json.loads(capsys.readouterr().out)
    for key in ("epdms_ms_median", "reference_planner_ms_median", "proposals", "machine", "baseline_epdms_ms",
                "speedup_vs_baseline"):
        assert key in out and key in printed
    assert out["baseline_shapely_checks_ms_median"] > 0 and out["compiled_checks_ms_median"] > 0
    assert out["proposals"] == 2 * out["frames"] == 2 * 20
    assert 0 < out["epdms_ms_median"] < 50 and out["reference_planner_ms_median"] > 0

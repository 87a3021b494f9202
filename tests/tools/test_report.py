"""`splatsim report` (Markdown + HTML with plots and snapshots) and `splatsim bench score`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from scenarios.scenario_file import save_scenario
from scenarios.synthetic import ActorSpec, straight_road_scenario
from sim.atomic import write_json_atomic
from sim.engine import EngineConfig, prepare, run_episode
from sim.errors import ConfigError
from sim.metrics import episode_metrics
from sim.policies.registry import make_policy
from sim.scoring.epdms import ScoringData
from sim.scoring.episode_io import save_episode
from sim.scoring.episode_scores import episode_scores
from tools.bench_score import bench_score
from tools.report import report_command, write_report


def _slowing_log(n=80):
    v = np.full(n, 10.0)
    for k in range(5, n):
        v[k] = max(v[k - 1] - 0.3, 5.0)
    return v


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three runs like `splatsim run` writes them: expert (scores in metrics.json), constant
    velocity into a stopped car (scores in metrics.json), and idm without scores (the report
    scores its episode.npz)."""
    root = tmp_path_factory.mktemp("runs")
    scenario = straight_road_scenario(num_steps=80, ego_speed_mps=_slowing_log(), name="crash-road",
                                      actors=(ActorSpec(x_m=60.0, lane=0, speed_mps=0.0),))
    scenario_file = save_scenario(scenario, root / "crash-road.scenario.npz")
    dirs = []
    for policy, with_scores in (("expert", True), ("constant-velocity", True), ("idm", False)):
        ctx = prepare(scenario, EngineConfig(stop_at_route_end=False))
        episode = run_episode(ctx, make_policy(policy))
        metrics = episode_metrics(episode)
        metrics.update({"dataroot": None, "version": "v1.0-mini", "scenario_file": str(scenario_file)})
        if with_scores:
            metrics["scores"] = episode_scores(episode, ScoringData.build(ctx)).to_json()
        out = root / policy
        save_episode(episode, out / "episode.npz")
        write_json_atomic(out / "metrics.json", metrics)
        dirs.append(out)
    return dirs


def test_report_explains_lost_points_with_tables_plots_and_snapshots(runs, tmp_path):
    md_path = write_report(runs, tmp_path / "report")
    assert md_path == tmp_path / "report" / "report.md"
    md = md_path.read_text()
    page = (tmp_path / "report" / "report.html").read_text()
    for text in ("Mean EPDMS, policies x scenes", "Closed-loop scores per run", "EPDMS sub-scores",
                 "Why points were lost", "Worst frames", "NeuroNCAP", "HUGSIM HD-Score", "Bench2Drive DS"):
        assert text in md and text in page
    assert "| constant-velocity | " in md and "crash-road" in md
    assert "NC=0 at t=" in md and "at-fault collision with vehicle.car (stopped object)" in md
    assert "scores computed by the report from episode.npz" in md  # the idm run
    images = sorted(p.name for p in (tmp_path / "report" / "img").iterdir())
    assert "epdms_distribution.png" in images and "epdms_over_time.png" in images
    assert any(name.startswith("constant-velocity-worst") for name in images)
    for name in images:
        assert f"img/{name}" in md and f"img/{name}" in page
        assert (tmp_path / "report" / "img" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    leftovers = [p for p in (tmp_path / "report").rglob("*") if p.name.startswith(".")]
    assert not leftovers
    assert page.startswith("<!DOCTYPE html>") and "<table>" in page


def test_report_without_episode_files_lists_scores_and_says_why_there_are_no_snapshots(runs, tmp_path):
    run = tmp_path / "metrics-only"
    run.mkdir()
    (run / "metrics.json").write_text((runs[1] / "metrics.json").read_text())
    md = write_report([run], tmp_path / "out").read_text()
    assert "no episode.npz: worst frames listed without snapshots" in md
    assert "NC=0 at t=" in md


def test_report_names_a_directory_without_metrics(tmp_path):
    with pytest.raises(ConfigError, match="metrics.json"):
        write_report([tmp_path], tmp_path / "out")
    with pytest.raises(ConfigError):
        write_report([], tmp_path / "out")


def test_report_command_runs_under_typer(runs, tmp_path):
    app = typer.Typer()
    app.command("report")(report_command)
    app.command("other")(lambda: None)
    result = CliRunner().invoke(app, ["report", str(runs[0]), str(runs[1]), "--out", str(tmp_path / "r"),
                                      "--snapshots", "1"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r" / "report.html").is_file() and "report.md" in result.output


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
    assert out["machine"]["cores"] >= 1

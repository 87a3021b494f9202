"""The command line end to end (typer's runner, real files)."""

import dataclasses
import json

import pytest
from typer.testing import CliRunner

from sim.metrics import EpisodeMetrics
from tests.conftest import real_dataroot_params
from tools.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.parametrize("dataroot", real_dataroot_params())
def test_run_writes_metrics_and_bev_video_on_a_real_log(dataroot, tmp_path):
    scene = json.loads(invoke("data", "info", "--dataroot", dataroot, "--json").stdout)[0]["name"]
    result = invoke("run", "--dataroot", dataroot, "--scene", scene, "--policy", "idm", "--reactive", "--steps", 40,
                    "--out", tmp_path / "run", "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert set(metrics) == {f.name for f in dataclasses.fields(EpisodeMetrics)} | {"dataroot", "version",
                                                                                     "scenario_file", "scores"}
    assert 30 <= metrics["steps"] <= 40 and metrics["policy"] == "idm"
    assert (tmp_path / "run" / "bev.mp4").stat().st_size > 10_000
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.startswith(".")]  # no temp leftovers


def test_run_on_the_demo_town(demo_dataroot, tmp_path):
    result = invoke("run", "--dataroot", demo_dataroot, "--scene", "scene-demo-0000", "--policy", "expert",
                    "--steps", 30, "--out", tmp_path, "--no-video")
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert 25 <= metrics["steps"] <= 30 and metrics["route_completion"] > 0.95 and "scores" in metrics


def test_unknown_scene_is_a_clear_error_with_exit_status_2(demo_dataroot, tmp_path, capsys):
    import sys

    from tools.cli import main
    argv = sys.argv
    sys.argv = ["splatsim", "run", "--dataroot", str(demo_dataroot), "--scene", "scene-nope", "--out", str(tmp_path)]
    try:
        with pytest.raises(SystemExit) as exit_info:
            main()
    finally:
        sys.argv = argv
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "scene-nope" in err and "scene-demo-0000" in err


def test_bench_engine_reports_a_median_and_a_baseline_ratio():
    result = invoke("bench", "engine", "--actors", 10, "--steps", 20, "--repeats", 1, "--json")
    out = json.loads(result.stdout)
    assert out["steps_per_s"] > 0 and out["actors"] == 10 and out["speedup_vs_baseline"] > 1

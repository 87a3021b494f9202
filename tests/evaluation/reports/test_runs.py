"""The report of closed-loop runs: Markdown + HTML with tables, plots and snapshots."""

from __future__ import annotations

import pytest

from evaluation.reports.runs import write_report
from sim.errors import ConfigError


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

"""`splatsim report` under typer."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from tests.evaluation.conftest import write_runs
from tools.report import report_command


def test_report_command_runs_under_typer(tmp_path):
    runs = write_runs(tmp_path / "runs")
    app = typer.Typer()
    app.command("report")(report_command)
    app.command("other")(lambda: None)
    result = CliRunner().invoke(app, ["report", str(runs[0]), str(runs[1]), "--out", str(tmp_path / "r"),
                                      "--snapshots", "1"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r" / "report.html").is_file() and "report.md" in result.output

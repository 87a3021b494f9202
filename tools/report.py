"""`splatsim report RUN_DIR... --out DIR`: a readable report of one or many closed-loop runs
(`evaluation.reports.runs`)."""

from __future__ import annotations

from pathlib import Path

import typer

from evaluation.reports.runs import write_report


def report_command(
    run_dirs: list[Path] = typer.Argument(..., help="Run directories written by `splatsim run --out DIR`."),
    out: Path = typer.Option(..., "--out", help="Folder for report.md, report.html and img/."),
    snapshots: int = typer.Option(3, help="Bird's-eye snapshots of each run's worst frames (needs episode.npz)."),
) -> None:
    """Turn runs' metrics.json (and episode.npz) into a Markdown + HTML report with plots."""
    path = write_report(run_dirs, out, snapshots)
    typer.echo(f"wrote {path} and {path.with_suffix('.html')}")

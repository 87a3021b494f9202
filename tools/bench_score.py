"""`splatsim bench score`: milliseconds to score one 4 s proposal with EPDMS
(`evaluation.benchmarks.score`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from evaluation.benchmarks.score import TARGET_EPDMS_MS, bench_score


def score(
    dataroot: Optional[Path] = typer.Option(None, help="nuScenes-layout dataroot (holds <version>/*.json and maps/)."),
    scene: Optional[str] = typer.Option(None, help="Scene name in the dataroot."),
    version: str = typer.Option("v1.0-mini", help="Dataset version folder."),
    scenario_file: Optional[Path] = typer.Option(None, help="A .scenario.npz file instead of --dataroot/--scene."),
    repeats: int = typer.Option(3, help="Passes over all frames' proposals; the median over all is reported."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Milliseconds to score one 4 s proposal with EPDMS (median), and the reference planner per frame."""
    result = bench_score(dataroot, scene, repeats, version, scenario_file)
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        r = result
        print(f"{r['scenario']}: EPDMS of one 4 s proposal {r['epdms_ms_median']:.2f} ms median "
              f"(p90 {r['epdms_ms_p90']:.2f} ms, {r['proposals']} proposals, target <= {TARGET_EPDMS_MS:g} ms: "
              f"{'met' if r['within_target'] else 'MISSED'}); reference planner "
              f"and human baseline {r['reference_planner_ms_median']:.1f} ms per frame ({r['frames']} frames); "
              f"baseline with NAVSIM-style shapely collision and TTC checks {result['baseline_epdms_ms']:.2f} ms, "
              f"x{result['speedup_vs_baseline']:.1f}")

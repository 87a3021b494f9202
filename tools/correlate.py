"""`splatsim correlate`: how well open-loop EPDMS and pseudo-simulation predict the closed loop
(`evaluation.correlation`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List

import typer
from rich.console import Console

from evaluation.correlation import DEFAULT_POLICIES, correlate
from evaluation.reports.document import fmt
from tools.score_options import PseudoSimOptions, ScenarioOptions, expand_options


@expand_options
def correlate_command(
    scenarios: ScenarioOptions = ScenarioOptions(),
    policies: List[str] = typer.Option(list(DEFAULT_POLICIES), "--policies",
                                       help="Policies (repeatable or comma-separated): built-ins, degraded variants "
                                            "(noisy, laggy, over-cautious, aggressive) or grpc://HOST:PORT."),
    options: PseudoSimOptions = PseudoSimOptions(),
    replan_every: int = typer.Option(1, help="Closed loop: ask the policy every N steps (1 = 10 Hz)."),
    out: Path = typer.Option(..., "--out", help="Output folder: correlation.json, correlate.md/html, img/, "
                                                "pseudo_sim/."),
    as_json: bool = typer.Option(False, "--json", help="Print the correlation tables as JSON to stdout."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Closed-loop, open-loop and pseudo-simulation scores of policies on the same scenarios, and
    how well the latter two predict the first (R^2, Spearman), with a scatter plot. --reactive /
    --no-reactive sets the traffic of the closed loop and of the pseudo-simulation alike."""
    console = Console(stderr=True)
    names = [s.strip() for item in policies for s in str(item).split(",") if s.strip()]
    run = correlate(scenarios.refs(), names, options.settings(), out, options.workers, options.ray_address,
                    replan_every, progress)
    if run.weights_vanished:
        console.print(f"[bold yellow]WARNING weights_vanished: {run.warnings_count} stage-two group(s) had vanished "
                      f"weights; see {out / 'pseudo_sim' / 'report.md'}[/]", highlight=False)
    doc = run.to_json()
    if as_json:
        print(json.dumps({"traffic": doc["traffic"], "correlation": doc["correlation"], "per_policy": doc["per_policy"],
                          "weights_vanished": run.weights_vanished, "out": str(out)}, indent=2, sort_keys=True))
        return
    for level in ("policy_level", "pair_level"):
        t = run.correlation[level]["closed_loop_epdms"]
        ol, ps = t["open_loop_epdms"], t["pseudo_sim"]
        console.print(f"{level}: open-loop R²={fmt(ol.r2)} ρ={fmt(ol.spearman_rho)} | pseudo-sim R²={fmt(ps.r2)} "
                      f"ρ={fmt(ps.spearman_rho)} (n={ps.n})", highlight=False)
    console.print(f"traffic: {doc['traffic']}", highlight=False)
    console.print(f"[green]wrote[/] {out / 'correlation.json'}, {out / 'correlate.md'} and "
                  f"{out / 'img' / 'correlation.png'}", highlight=False)

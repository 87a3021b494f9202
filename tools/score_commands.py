"""`splatsim score`: pseudo-simulation scores of policies (NAVSIM v2), at scale
(`evaluation.scoring`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List

import typer
from rich.console import Console

from evaluation.scoring import score_scenarios
from tools.score_options import PseudoSimOptions, ScenarioOptions, expand_options

POLICY_HELP = ("expert | constant-velocity | idm | noisy | laggy | over-cautious | aggressive | grpc://HOST:PORT | "
               "unix://PATH (repeatable).")


@expand_options
def score_command(
    scenarios: ScenarioOptions = ScenarioOptions(),
    policy: List[str] = typer.Option(["idm"], "--policy", help=POLICY_HELP),
    options: PseudoSimOptions = PseudoSimOptions(),
    out: Path = typer.Option(..., "--out", help="Output folder: pseudo_sim.json, report.md/html, img/."),
    as_json: bool = typer.Option(False, "--json", help="Print the per-policy aggregates as JSON to stdout."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Pseudo-simulation (NAVSIM v2) scores of policies: stage one from the logged frames, stage two
    from rendered start states 4 s later, weighted by proximity to each plan's end."""
    console = Console(stderr=True)
    settings = options.settings()
    run = score_scenarios(scenarios.refs(), policy, settings, out, options.workers, options.ray_address, progress)
    for line in run.warnings:
        console.print(f"[bold yellow]{line}[/]", highlight=False)
    if run.weights_vanished:
        console.print(f"[bold yellow]WARNING weights_vanished: {len(run.warnings)} group(s) had vanished stage-two "
                      f"weights (see {out / 'report.md'})[/]", highlight=False)
    summary = {name: p.aggregate for name, p in run.policies.items()}
    if as_json:
        print(json.dumps({"policies": summary, "weights_vanished": run.weights_vanished, "cache": run.cache,
                          "throughput": run.throughput.to_json(), "out": str(out)}, indent=2, sort_keys=True))
        return
    for name, agg in summary.items():
        console.print(f"{name:>18}: pseudo-sim EPDMS={_f(agg['score'])} stage one={_f(agg['stage_one_epdms'])} "
                      f"stage two={_f(agg['stage_two_epdms_weighted'])} frames={agg['frames']} "
                      f"vanished groups={agg['groups_weights_vanished']}/{agg['groups']}", highlight=False)
    t = run.throughput
    console.print(f"[green]wrote[/] {out / 'pseudo_sim.json'} and {out / 'report.md'}: {t.scenarios} scenario(s) "
                  f"in {t.wall_s:.1f} s ({t.scenarios_per_minute} / min); cache {run.cache}", highlight=False)


def _f(v) -> str:
    return "-" if v is None else f"{v:.3f}"

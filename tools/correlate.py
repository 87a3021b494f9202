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


def split_policy_names(items: List[str]) -> list[str]:
    """Names from repeatable, comma-separated values; commas inside a family member's brackets
    (`idm[speed=1.3,headway=0.8]`) do not split."""
    names, depth, current = [], 0, ""
    for ch in ",".join(map(str, items)) + ",":
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if ch == "," and depth <= 0:
            if current.strip():
                names.append(current.strip())
            current, depth = "", 0
        else:
            current += ch
    return names


def _ci(fit: dict, key: str) -> str:
    ci = fit[f"{key}_ci95"]
    return f"{fmt(fit[key])} [{fmt(ci[0])}, {fmt(ci[1])}]" if ci else fmt(fit[key])


@expand_options
def correlate_command(
    scenarios: ScenarioOptions = ScenarioOptions(),
    policies: List[str] = typer.Option(list(DEFAULT_POLICIES), "--policies",
                                       help="Policies (repeatable or comma-separated): built-ins, degraded variants "
                                            "(noisy, laggy, over-cautious, aggressive), family members "
                                            "(idm[speed=F,headway=S,accel=A,bias=M], noisy[sigma=M], laggy[lag=S]) "
                                            "or grpc://HOST:PORT. Default: the 32-policy study family."),
    options: PseudoSimOptions = PseudoSimOptions(),
    replan_every: int = typer.Option(1, help="Closed loop: ask the policy every N steps (1 = 10 Hz); the target."),
    beside_replan_every: int = typer.Option(5, help="Also run the closed loop asking the policy every N steps "
                                                    "(5 = 2 Hz) and report the correlations against it beside "
                                                    "(0: not)."),
    bootstrap: int = typer.Option(2000, help="Bootstrap resamples (policies and scenes) of the 95 % intervals."),
    bootstrap_seed: int = typer.Option(0, help="Seed of the bootstrap."),
    out: Path = typer.Option(..., "--out", help="Output folder: correlation.json, correlate.md/html, img/, "
                                                "pseudo_sim/."),
    as_json: bool = typer.Option(False, "--json", help="Print the correlation tables as JSON to stdout."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Closed-loop, open-loop and pseudo-simulation scores of policies on the same scenarios, and
    how well the latter two predict the first (policy-level R^2 and Spearman with bootstrap 95 %
    intervals), with a scatter plot. Frames every 1 s over the whole log unless --stride-s /
    --frames say otherwise. --reactive / --no-reactive sets the traffic of the closed loop and of
    the pseudo-simulation alike (default reactive)."""
    console = Console(stderr=True)
    run = correlate(scenarios.refs(), split_policy_names(policies), options.settings(frames_default=0,
                                                                                      stride_s_default=1.0),
                    out, options.workers, options.ray_address, replan_every, beside_replan_every or None, bootstrap,
                    bootstrap_seed, progress)
    if run.weights_vanished:
        console.print(f"[bold yellow]WARNING weights_vanished: {run.warnings_count} stage-two group(s) had vanished "
                      f"weights; see {out / 'pseudo_sim' / 'report.md'}[/]", highlight=False)
    doc = run.to_json()
    if as_json:
        print(json.dumps({"traffic": doc["traffic"], "policies": doc["policies"], "open_loop": doc["open_loop"],
                          "pseudo_sim": doc["pseudo_sim"], "correlation": doc["correlation"],
                          "per_policy": doc["per_policy"], "weights_vanished": run.weights_vanished,
                          "out": str(out)}, indent=2, sort_keys=True))
        return
    for key, label in (("open_loop", "open loop"), ("pseudo_sim", "pseudo-sim")):
        fit = doc[key]
        line = (f"{label}: R²={_ci(fit, 'r2')} ρ={_ci(fit, 'spearman')} ({fit['n_policies']} policies, "
                f"{fit['n_scenes']} scenes, replanning every {fit['replan_every_steps']} step(s))")
        if fit["beside"]:
            line += (f"; replanning every {fit['beside']['replan_every_steps']} steps: R²={_ci(fit['beside'], 'r2')} "
                     f"ρ={_ci(fit['beside'], 'spearman')}")
        console.print(line, highlight=False)
    console.print(f"traffic: {doc['traffic']}", highlight=False)
    console.print(f"[green]wrote[/] {out / 'correlation.json'}, {out / 'correlate.md'} and "
                  f"{out / 'img' / 'correlation.png'}", highlight=False)

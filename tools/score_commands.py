"""`splatsim score`: pseudo-simulation scores of policies (NAVSIM v2), at scale
(`evaluation.scoring`), or the open-loop stage one alone (`evaluation.open_loop`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from evaluation.open_loop import HUMAN, score_open_loop
from evaluation.scoring import score_scenarios
from sim.atomic import write_json_atomic
from sim.errors import ConfigError
from sim.scoring.traffic import Traffic
from tools.score_options import PseudoSimOptions, ScenarioOptions, expand_options

POLICY_HELP = ("expert | constant-velocity | idm | noisy | laggy | over-cautious | aggressive | grpc://HOST:PORT | "
               "unix://PATH | egodriver://HOST:PORT | egodriver+unix://PATH (repeatable); with --stage one, a single "
               f"one of the in-process names or {HUMAN} (the "
               "logged trajectory).")
STAGES = ("both", "one")


@expand_options
def score_command(
    scenarios: ScenarioOptions = ScenarioOptions(),
    policy: List[str] = typer.Option(["idm"], "--policy", help=POLICY_HELP),
    stage: str = typer.Option("both", help="both: pseudo-simulation (stage one x proximity-weighted stage two); "
                                           "one: open loop, stage one alone at every scorable frame of each log."),
    options: PseudoSimOptions = PseudoSimOptions(),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder: pseudo_sim.json, report.md/html, img/ "
                                                           "(required for --stage both); open_loop.json for --stage "
                                                           "one."),
    as_json: bool = typer.Option(False, "--json", help="Print the per-policy aggregates as JSON to stdout."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Pseudo-simulation (NAVSIM v2) scores of policies: stage one from the logged frames, stage two
    from rendered start states 4 s later, weighted by proximity to each plan's end. With --stage
    one, the open-loop EPDMS of one policy (or of the logged human) alone."""
    if stage not in STAGES:
        raise ConfigError(f"--stage must be one of {', '.join(STAGES)}, got {stage!r}")
    if stage == "one":
        _open_loop(scenarios, policy, options, out, as_json)
        return
    if out is None:
        raise ConfigError("the two-stage score writes its report: give --out DIR (or score the open loop alone with "
                          "--stage one)")
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
        print(json.dumps({"policies": summary, "traffic": settings.traffic.value,
                          "weights_vanished": run.weights_vanished, "cache": run.cache,
                          "throughput": run.throughput.to_json(), "out": str(out)}, indent=2, sort_keys=True))
        return
    console.print(f"traffic: {settings.traffic.value}", highlight=False)
    for name, agg in summary.items():
        console.print(f"{name:>18}: pseudo-sim EPDMS={_f(agg['score'])} stage one={_f(agg['stage_one_epdms'])} "
                      f"stage two={_f(agg['stage_two_epdms_weighted'])} frames={agg['frames']} "
                      f"vanished groups={agg['groups_weights_vanished']}/{agg['groups']}", highlight=False)
    t = run.throughput
    console.print(f"[green]wrote[/] {out / 'pseudo_sim.json'} and {out / 'report.md'}: {t.scenarios} scenario(s) "
                  f"in {t.wall_s:.1f} s ({t.scenarios_per_minute} / min); cache {run.cache}", highlight=False)


def _open_loop(scenarios: ScenarioOptions, policy: List[str], options: PseudoSimOptions, out: Path | None,
               as_json: bool) -> None:
    if len(policy) != 1:
        raise ConfigError(f"--stage one scores one policy at a time, got {len(policy)}: {', '.join(policy)}")
    run = score_open_loop(scenarios.refs(), policy[0], options.traffic(Traffic.LOG_REPLAY), seed=options.seed)
    doc = run.to_json()
    if out is not None:
        write_json_atomic(Path(out) / "open_loop.json", doc)
    if as_json:
        print(json.dumps(doc, indent=2, sort_keys=True))
        return
    s = run.summary
    Console(stderr=True).print(f"{run.policy}: open-loop EPDMS={_f(s.epdms_mean)} "
                               f"share >= 0.9={_f(s.share_at_or_above)} frames={s.frames} "
                               f"traffic={run.traffic.value}", highlight=False)


def _f(v) -> str:
    return "-" if v is None else f"{v:.3f}"

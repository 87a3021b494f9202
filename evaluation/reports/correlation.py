"""The Markdown + HTML report of a correlation run (`splatsim correlate`)."""

from __future__ import annotations

from pathlib import Path

from evaluation.correlation import CLOSED_TARGETS, HEADLINE, PREDICTORS, CorrelationRun
from evaluation.reports.document import fmt, write_blocks
from evaluation.reports.pseudo_sim import traffic_sentence


def _with_ci(fit: dict | None, key: str) -> str:
    if fit is None:
        return "-"
    ci = fit[f"{key}_ci95"]
    return f"{fmt(fit[key])} [{fmt(ci[0])}, {fmt(ci[1])}]" if ci else fmt(fit[key])


def _hz(steps: int) -> str:
    return f"{10.0 / steps:g} Hz"


def headline_table(run: CorrelationRun) -> tuple:
    """Policy-level R^2 and rho with their bootstrap intervals, for each replanning rate."""
    rates = [(run.replan_every_steps, False)] + ([(run.beside_replan_every_steps, True)]
                                                 if run.beside_replan_every_steps else [])
    headers = ["score"]
    for steps, _ in rates:
        headers += [f"R² [95 % CI], closed loop at {_hz(steps)}", f"ρ [95 % CI], closed loop at {_hz(steps)}"]
    rows = []
    for key, predictor in HEADLINE.items():
        row = [PREDICTORS[predictor]]
        for _, beside in rates:
            fit = run.headline[key]["beside"] if beside else run.headline[key]
            row += [_with_ci(fit, "r2"), _with_ci(fit, "spearman")]
        rows.append(row)
    return ("table", headers, rows)


def correlate_blocks(run: CorrelationRun) -> list[tuple]:
    cs = run.correlation
    fit = run.headline["pseudo_sim"]
    blocks: list[tuple] = [("h1", "splatsim correlate: open loop and pseudo-simulation against the closed loop")]
    blocks.append(("p", f"{len(run.policies)} policies on {len(run.scenarios)} scenario(s). Closed loop: "
                        f"{'reactive' if run.reactive else 'log-replay'} actors, the policy asked every "
                        f"{run.replan_every_steps} step(s) ({_hz(run.replan_every_steps)}; the target)"
                        + (f" and, reported beside, every {run.beside_replan_every_steps} steps "
                           f"({_hz(run.beside_replan_every_steps)})" if run.beside_replan_every_steps else "")
                        + ", from the log's start over the span the pseudo-simulation frames cover. R^2: coefficient "
                        "of determination of the least-squares line; rho: Spearman's rank correlation. The paper "
                        "reports R^2 = 0.8 (pseudo-simulation) and 0.7 (best open-loop metric) over 83 planners."))
    blocks.append(("p", f"Pseudo-simulation traffic: {traffic_sentence(run.settings.traffic)}"))
    blocks.append(("h2", "Policy level, with bootstrap 95 % intervals"))
    blocks.append(("p", "Each policy's mean over the scenes against its closed-loop EPDMS; the intervals are the "
                        f"2.5th and 97.5th percentiles over {fit['resamples']} resamples (seed {fit['seed']}) that "
                        f"draw the {fit['n_policies']} policies and the {fit['n_scenes']} scene(s) with replacement "
                        f"({fit['resamples_used']} resamples had defined statistics)."))
    blocks.append(headline_table(run))
    if run.weights_vanished:
        blocks.append(("p", f"WARNING: {run.warnings_count} stage-two group(s) had vanished weights (see "
                            f"{run.pseudo_sim_json.replace('.json', '')} report); their pseudo-simulation scores use "
                            "the configured fallback."))
    targets = {t: label for t, label in CLOSED_TARGETS.items() if t != "closed_loop_epdms_beside"}
    if run.beside_replan_every_steps:
        targets["closed_loop_epdms_beside"] = f"closed-loop EPDMS at {_hz(run.beside_replan_every_steps)}"
    for level, title in (("policy_level", "Per policy (means over scenarios)"), ("pair_level",
                                                                                   "Per (policy, scenario) pair")):
        blocks.append(("h2", f"Correlation, {title}"))
        headers = ["score"]
        for t in targets.values():
            headers += [f"R² vs {t}", f"ρ vs {t}"]
        rows = []
        for p, label in PREDICTORS.items():
            row = [label]
            for t in targets:
                s = cs[level][t][p]
                row += [fmt(s.r2), fmt(s.spearman_rho)]
            rows.append(row)
        blocks.append(("table", headers, rows))
    blocks.append(("img", run.plot, "Open-loop and pseudo-simulation EPDMS against closed-loop EPDMS"))
    blocks.append(("h2", "Per policy"))
    blocks.append(("table", ["policy", "closed-loop EPDMS", "closed-loop EPDMS beside", "Bench2Drive DS", "HD-Score",
                             "route completion", "at-fault collisions", "open-loop EPDMS", "pseudo-sim", "stage two",
                             "vanished groups", "plan end to nearest start (m)"],
                   [[p.policy, fmt(p.closed_loop_epdms), fmt(p.closed_loop_epdms_beside), fmt(p.driving_score),
                     fmt(p.hd_score), fmt(p.route_completion), fmt(p.at_fault_collisions, 2), fmt(p.open_loop_epdms),
                     fmt(p.pseudo_sim), fmt(p.stage_two_weighted), f"{p.groups_weights_vanished}/{p.groups}",
                     fmt(p.mean_nearest_start_m, 2)]
                    for p in run.per_policy]))
    blocks.append(("h2", "Per (policy, scenario)"))
    blocks.append(("table", ["policy", "scene", "closed-loop EPDMS", "DS", "open-loop", "pseudo-sim",
                             "vanished groups"],
                   [[r.policy, r.scene, fmt(r.closed_loop_epdms), fmt(r.driving_score), fmt(r.open_loop_epdms),
                     fmt(r.pseudo_sim), f"{r.groups_weights_vanished}/{r.groups}"]
                    for r in run.pairs]))
    blocks.append(("p", f"Wall time {run.wall_s:.0f} s on {run.machine.get('cpu')} "
                        f"({run.machine.get('cores')} cores)."))
    return blocks


def write_correlate_report(run: CorrelationRun, out: Path) -> Path:
    """out/correlate.md and correlate.html; returns correlate.md."""
    return write_blocks(Path(out), "correlate", correlate_blocks(run), "splatsim correlate")

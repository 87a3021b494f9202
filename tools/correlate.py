"""`splatsim correlate`: how well open-loop EPDMS and pseudo-simulation predict the closed loop.

For a set of policies on the same scenarios, each scenario task (in-process or on Ray) runs:

- the closed loop: `run_episode` from the log's start over the span the pseudo-simulation frames
  look at (`tools.score_commands.closed_loop_span`), scored with `episode_scores`; the target is
  the closed-loop EPDMS (mean per-frame EPDMS of the realised trajectory), with the
  Bench2Drive-style driving score and HUGSIM's HD-Score reported alongside;
- open-loop EPDMS: stage one of the pseudo-simulation alone (the plan from the real frame);
- pseudo-simulation: the two-stage score (`sim.scoring.pseudo_sim`), plus sensitivity variants
  recombined from the same stage-two scores (other sigma^2, and "nearest" where weights vanish).

Correlations are computed at two levels: per policy (each policy's mean over scenarios, the
paper's setting: one point per planner) and per (policy, scenario) pair. R^2 is the coefficient
of determination of the least-squares line (= Pearson r^2); rank correlation is Spearman's rho
(scipy.stats). The paper (Cao et al., CoRL 2025) reports R^2 = 0.8 for pseudo-simulation and 0.7
for the best open-loop metric against closed-loop scores over 83 planners; ours are what they
are, written to DIR/correlation.json, DIR/correlate.md / .html and DIR/img/correlation.png, with
the pseudo-simulation details and thumbnails under DIR/pseudo_sim/.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import List, Optional, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import typer  # noqa: E402

from policies_api.resolve import check_policy_names  # noqa: E402
from sim.atomic import write_json_atomic  # noqa: E402
from sim.errors import ConfigError  # noqa: E402
from sim.scoring.pseudo_sim import aggregate_frames, rescore_frame  # noqa: E402
from tools.report import _fmt, _save_fig  # noqa: E402
from tools.score_commands import (  # noqa: E402
    COMMON_OPTIONS,
    ScenarioRef,
    ScenarioTask,
    ScoreSettings,
    build_document,
    resolve_scenarios,
    run_tasks,
    settings_from_options,
    write_outputs,
)

DEFAULT_POLICIES = ("expert", "idm", "constant-velocity", "noisy", "laggy", "over-cautious", "aggressive")
CLOSED_TARGETS = {"closed_loop_epdms": "closed-loop EPDMS", "driving_score": "Bench2Drive-style DS",
                  "hd_score": "HUGSIM HD-Score"}
SENSITIVITY = (("pseudo_sim_sigma2_1", {"sigma_squared_m2": 1.0}),
               ("pseudo_sim_sigma2_10", {"sigma_squared_m2": 10.0}),
               ("pseudo_sim_nearest", {"on_vanished": "nearest"}))


def fit_stats(x: Sequence[float], y: Sequence[float]) -> dict:
    """R^2 (least-squares line), Pearson r, Spearman rho (with p-values), slope, intercept, n.
    Undefined statistics (fewer than 3 points, or a constant series) are None."""
    from scipy import stats

    xa, ya = np.asarray(x, np.float64), np.asarray(y, np.float64)
    ok = np.isfinite(xa) & np.isfinite(ya)
    xa, ya = xa[ok], ya[ok]
    out = {"n": int(len(xa)), "r2": None, "pearson_r": None, "pearson_p": None, "spearman_rho": None,
           "spearman_p": None, "slope": None, "intercept": None}
    if len(xa) < 3 or np.ptp(xa) == 0 or np.ptp(ya) == 0:
        return out
    fit = stats.linregress(xa, ya)
    rho = stats.spearmanr(xa, ya)
    out.update(r2=_r(fit.rvalue ** 2), pearson_r=_r(fit.rvalue), pearson_p=_sig(fit.pvalue), slope=_r(fit.slope),
               intercept=_r(fit.intercept), spearman_rho=_r(float(rho.statistic)), spearman_p=_sig(float(rho.pvalue)))
    return out


def _r(v) -> float | None:
    v = float(v)
    return round(v, 4) if math.isfinite(v) else None


def _sig(v) -> float | None:
    """Three significant digits (p-values)."""
    v = float(v)
    return float(f"{v:.3g}") if math.isfinite(v) else None


def collect_points(results: list[dict], policies: Sequence[str], settings: ScoreSettings) -> list[dict]:
    """One row per (policy, scenario): closed-loop scores, open-loop EPDMS, pseudo-simulation
    score and its sensitivity variants, and the diagnostics that explain gaps."""
    rows = []
    for r in results:
        for name in policies:
            score = r["scores"][name]
            closed = r["closed_loop"][name]
            summary = score.summary()
            row = {"policy": name, "scene": r["scene"], "closed_loop_epdms": closed["epdms_mean"],
                   "driving_score": closed["driving_score"], "hd_score": closed["hd_score"],
                   "route_completion": closed["route_completion"], "at_fault_collisions": closed["at_fault_collisions"],
                   "closed_loop_steps": closed["steps"],
                   "open_loop_epdms": summary["stage_one_epdms"], "pseudo_sim": summary["score"],
                   "stage_two_weighted": summary["stage_two_epdms_weighted"],
                   "groups": summary["groups"], "groups_weights_vanished": summary["groups_weights_vanished"],
                   "mean_nearest_start_m": round(float(np.mean([g.weights.nearest_distance_m for f in score.frames
                                                                for g in f.groups])), 3)}
            for key, change in SENSITIVITY:
                cfg = dataclasses.replace(settings.pseudo, **change)
                row[key] = aggregate_frames([rescore_frame(f, cfg) for f in score.frames]).score
            rows.append(row)
    return rows


PREDICTORS = {"open_loop_epdms": "open-loop EPDMS (stage one)", "pseudo_sim": "pseudo-simulation (sigma^2 as set)",
              "stage_two_weighted": "stage two alone (weighted)",
              "pseudo_sim_sigma2_1": "pseudo-simulation, sigma^2 = 1 m^2",
              "pseudo_sim_sigma2_10": "pseudo-simulation, sigma^2 = 10 m^2",
              "pseudo_sim_nearest": "pseudo-simulation, nearest start where weights vanish"}


def policy_means(rows: list[dict], policies: Sequence[str]) -> list[dict]:
    keys = list(CLOSED_TARGETS) + list(PREDICTORS) + ["route_completion", "at_fault_collisions", "mean_nearest_start_m"]
    out = []
    for name in policies:
        mine = [r for r in rows if r["policy"] == name]
        row = {"policy": name, "scenarios": len(mine),
               "groups_weights_vanished": sum(r["groups_weights_vanished"] for r in mine),
               "groups": sum(r["groups"] for r in mine)}
        for k in keys:
            vals = [r[k] for r in mine if r[k] is not None]
            row[k] = round(float(np.mean(vals)), 4) if vals else None
        out.append(row)
    return out


def correlation_table(points: list[dict]) -> dict:
    """{target: {predictor: fit_stats}} over the given points."""
    return {t: {p: fit_stats([r[t] if r[t] is not None else np.nan for r in points],
                             [r[p] if r[p] is not None else np.nan for r in points]) for p in PREDICTORS}
            for t in CLOSED_TARGETS}


def plot_correlation(per_policy: list[dict], pairs: list[dict], stats_policy: dict, stats_pairs: dict,
                     path: Path, target: str = "closed_loop_epdms") -> None:
    panels = [("open_loop_epdms", "open-loop EPDMS (stage one)"), ("pseudo_sim", "pseudo-simulation EPDMS")]
    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 5.2), dpi=100, squeeze=False)
    colors = plt.get_cmap("tab10")
    names = [p["policy"] for p in per_policy]
    for ax, (key, label) in zip(axes[0], panels):
        for i, name in enumerate(names):
            pts = [(r[target], r[key]) for r in pairs if r["policy"] == name and r[key] is not None
                   and r[target] is not None]
            if pts:
                xs, ys = zip(*pts)
                ax.scatter(xs, ys, s=14, alpha=0.35, color=colors(i % 10))
        for i, p in enumerate(per_policy):
            if p[target] is None or p[key] is None:
                continue
            ax.scatter([p[target]], [p[key]], s=90, color=colors(i % 10), edgecolor="black", zorder=3,
                       label=p["policy"])
            ax.annotate(p["policy"], (p[target], p[key]), textcoords="offset points", xytext=(6, 4), fontsize=8)
        sp, sq = stats_policy[target][key], stats_pairs[target][key]
        if sp["slope"] is not None:
            xs = np.linspace(0, 1, 10)
            ax.plot(xs, sp["intercept"] + sp["slope"] * xs, color="black", lw=1, ls="--")
        ax.set_xlim(-0.05, 1.05)
        ax.set_ylim(-0.05, 1.05)
        ax.plot([0, 1], [0, 1], color="#bbbbbb", lw=0.8)
        ax.set_xlabel(CLOSED_TARGETS[target])
        ax.set_ylabel(label)
        ax.set_title(f"{label}\npolicies: R²={_fmt(sp['r2'], 2)}, ρ={_fmt(sp['spearman_rho'], 2)} (n={sp['n']}); "
                     f"pairs: R²={_fmt(sq['r2'], 2)}, ρ={_fmt(sq['spearman_rho'], 2)} (n={sq['n']})", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8, loc="lower right")
    fig.suptitle("Open-loop and pseudo-simulation scores against the closed loop (big: policy means; small: "
                 "policy x scenario)", fontsize=10)
    fig.tight_layout()
    _save_fig(fig, path)


def correlate(refs: Sequence[ScenarioRef], policies: Sequence[str], settings: ScoreSettings, out: Path,
              workers: int | None = None, ray_address: str | None = None, reactive: bool = False,
              replan_every_steps: int = 1, progress: bool = True) -> dict:
    """Run everything, write the outputs, return correlation.json's document."""
    if len(policies) < 3:
        raise ConfigError(f"correlate needs at least 3 policies to fit a line, got {len(policies)}")
    check_policy_names(policies)
    t0 = time.perf_counter()
    tasks = [ScenarioTask(ref, tuple(policies), settings, True, reactive, replan_every_steps) for ref in refs]
    results = run_tasks(tasks, workers, ray_address, progress, "correlate")
    wall = time.perf_counter() - t0
    out = Path(out)
    doc_ps = build_document(results, policies, settings, wall, workers, ray_address)
    write_outputs(results, doc_ps, out / "pseudo_sim")
    pairs = collect_points(results, policies, settings)
    per_policy = policy_means(pairs, policies)
    stats_policy, stats_pairs = correlation_table(per_policy), correlation_table(pairs)
    (out / "img").mkdir(parents=True, exist_ok=True)
    plot_correlation(per_policy, pairs, stats_policy, stats_pairs, out / "img" / "correlation.png")
    doc = {"kind": "splatsim-correlate", "version": 1, "policies": list(policies),
           "scenarios": [r["scene"] for r in results], "closed_loop": {"reactive": reactive,
                                                                       "replan_every_steps": replan_every_steps},
           "settings": settings.to_dict(), "per_policy": per_policy, "pairs": pairs,
           "correlation": {"policy_level": stats_policy, "pair_level": stats_pairs},
           "plot": "img/correlation.png", "pseudo_sim": "pseudo_sim/pseudo_sim.json",
           "weights_vanished": doc_ps["weights_vanished"], "warnings_count": len(doc_ps["warnings"]),
           "wall_s": round(wall, 3), "machine": doc_ps["machine"]}
    write_json_atomic(out / "correlation.json", doc)
    write_correlate_report(doc, out)
    return doc


def correlate_blocks(doc: dict) -> list[tuple]:
    cs = doc["correlation"]
    blocks: list[tuple] = [("h1", "splatsim correlate: open loop and pseudo-simulation against the closed loop")]
    blocks.append(("p", f"{len(doc['policies'])} policies on {len(doc['scenarios'])} scenario(s). Closed loop: "
                        f"{'reactive' if doc['closed_loop']['reactive'] else 'log-replay'} actors, the policy asked every "
                        f"{doc['closed_loop']['replan_every_steps']} step(s), from the log's start over the span the "
                        "pseudo-simulation frames cover. R^2: coefficient of determination of the least-squares line; "
                        "rho: Spearman's rank correlation. The paper reports R^2 = 0.8 (pseudo-simulation) and 0.7 (best "
                        "open-loop metric) over 83 planners."))
    if doc["weights_vanished"]:
        blocks.append(("p", f"WARNING: {doc['warnings_count']} stage-two group(s) had vanished weights (see "
                            f"{doc['pseudo_sim'].replace('.json', '')} report); their pseudo-simulation scores use the "
                            "configured fallback."))
    for level, title in (("policy_level", "Per policy (means over scenarios)"), ("pair_level",
                                                                                   "Per (policy, scenario) pair")):
        blocks.append(("h2", f"Correlation, {title}"))
        headers = ["score"]
        for t in CLOSED_TARGETS.values():
            headers += [f"R² vs {t}", f"ρ vs {t}"]
        rows = []
        for p, label in PREDICTORS.items():
            row = [label]
            for t in CLOSED_TARGETS:
                s = cs[level][t][p]
                row += [_fmt(s["r2"]), _fmt(s["spearman_rho"])]
            rows.append(row)
        blocks.append(("table", headers, rows))
    blocks.append(("img", doc["plot"], "Open-loop and pseudo-simulation EPDMS against closed-loop EPDMS"))
    blocks.append(("h2", "Per policy"))
    blocks.append(("table", ["policy", "closed-loop EPDMS", "Bench2Drive DS", "HD-Score", "route completion",
                             "at-fault collisions", "open-loop EPDMS", "pseudo-sim", "stage two", "vanished groups",
                             "plan end to nearest start (m)"],
                   [[p["policy"], _fmt(p["closed_loop_epdms"]), _fmt(p["driving_score"]), _fmt(p["hd_score"]),
                     _fmt(p["route_completion"]), _fmt(p["at_fault_collisions"], 2), _fmt(p["open_loop_epdms"]),
                     _fmt(p["pseudo_sim"]), _fmt(p["stage_two_weighted"]),
                     f"{p['groups_weights_vanished']}/{p['groups']}", _fmt(p["mean_nearest_start_m"], 2)]
                    for p in doc["per_policy"]]))
    blocks.append(("h2", "Per (policy, scenario)"))
    blocks.append(("table", ["policy", "scene", "closed-loop EPDMS", "DS", "open-loop", "pseudo-sim",
                             "vanished groups"],
                   [[r["policy"], r["scene"], _fmt(r["closed_loop_epdms"]), _fmt(r["driving_score"]),
                     _fmt(r["open_loop_epdms"]), _fmt(r["pseudo_sim"]), f"{r['groups_weights_vanished']}/{r['groups']}"]
                    for r in doc["pairs"]]))
    blocks.append(("p", f"Wall time {doc['wall_s']:.0f} s on {doc['machine'].get('cpu')} "
                        f"({doc['machine'].get('cores')} cores)."))
    return blocks


def write_correlate_report(doc: dict, out: Path) -> Path:
    from tools.pseudo_sim_report import write_blocks

    return write_blocks(Path(out), "correlate", correlate_blocks(doc), "splatsim correlate")


def correlate_command(
    dataroot: List[Path] = COMMON_OPTIONS["dataroot"],
    version: str = COMMON_OPTIONS["version"],
    scenes: List[str] = COMMON_OPTIONS["scenes"],
    scenario_file: List[Path] = COMMON_OPTIONS["scenario_file"],
    policies: List[str] = typer.Option(list(DEFAULT_POLICIES), "--policies",
                                       help="Policies (repeatable or comma-separated): built-ins, degraded variants "
                                            "(noisy, laggy, over-cautious, aggressive) or grpc://HOST:PORT."),
    cameras: List[str] = COMMON_OPTIONS["cameras"],
    width: int = COMMON_OPTIONS["width"],
    height: int = COMMON_OPTIONS["height"],
    backend: str = COMMON_OPTIONS["backend"],
    frames: int = COMMON_OPTIONS["frames"],
    stride_s: float = COMMON_OPTIONS["stride_s"],
    first_frame_s: float = COMMON_OPTIONS["first_frame_s"],
    lateral: List[float] = COMMON_OPTIONS["lateral"],
    longitudinal: List[float] = COMMON_OPTIONS["longitudinal"],
    heading: List[float] = COMMON_OPTIONS["heading"],
    speed: List[float] = COMMON_OPTIONS["speed"],
    sample_starts: int = COMMON_OPTIONS["sample_starts"],
    sigma2: float = COMMON_OPTIONS["sigma2"],
    on_vanished: str = COMMON_OPTIONS["on_vanished"],
    cache: Optional[Path] = COMMON_OPTIONS["cache"],
    no_cache: bool = COMMON_OPTIONS["no_cache"],
    workers: Optional[int] = COMMON_OPTIONS["workers"],
    ray_address: Optional[str] = COMMON_OPTIONS["ray_address"],
    seed: int = COMMON_OPTIONS["seed"],
    thumbnails: str = COMMON_OPTIONS["thumbnails"],
    reactive: bool = typer.Option(False, help="Closed loop with reactive (IDM) vehicles instead of log replay."),
    replan_every: int = typer.Option(1, help="Closed loop: ask the policy every N steps (1 = 10 Hz)."),
    out: Path = typer.Option(..., "--out", help="Output folder: correlation.json, correlate.md/html, img/, pseudo_sim/."),
    as_json: bool = typer.Option(False, "--json", help="Print the correlation tables as JSON to stdout."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Closed-loop, open-loop and pseudo-simulation scores of policies on the same scenarios, and
    how well the latter two predict the first (R^2, Spearman), with a scatter plot."""
    from rich.console import Console

    console = Console(stderr=True)
    names = [s.strip() for item in policies for s in str(item).split(",") if s.strip()]
    settings = settings_from_options(cameras, width, height, backend, frames, stride_s, first_frame_s, lateral,
                                     longitudinal, heading, speed, sample_starts, sigma2, on_vanished, cache, no_cache,
                                     thumbnails, seed)
    refs = resolve_scenarios(dataroot, scenes, version, scenario_file)
    doc = correlate(refs, names, settings, out, workers, ray_address, reactive, replan_every, progress)
    if doc["weights_vanished"]:
        console.print(f"[bold yellow]WARNING weights_vanished: {doc['warnings_count']} stage-two group(s) had vanished "
                      f"weights; see {out / 'pseudo_sim' / 'report.md'}[/]", highlight=False)
    if as_json:
        print(json.dumps({"correlation": doc["correlation"], "per_policy": doc["per_policy"],
                          "weights_vanished": doc["weights_vanished"], "out": str(out)}, indent=2, sort_keys=True))
    else:
        for level in ("policy_level", "pair_level"):
            t = doc["correlation"][level]["closed_loop_epdms"]
            console.print(f"{level}: open-loop R²={_fmt(t['open_loop_epdms']['r2'])} ρ={_fmt(t['open_loop_epdms']['spearman_rho'])}"
                          f" | pseudo-sim R²={_fmt(t['pseudo_sim']['r2'])} ρ={_fmt(t['pseudo_sim']['spearman_rho'])} "
                          f"(n={t['pseudo_sim']['n']})", highlight=False)
        console.print(f"[green]wrote[/] {out / 'correlation.json'}, {out / 'correlate.md'} and "
                      f"{out / 'img' / 'correlation.png'}", highlight=False)

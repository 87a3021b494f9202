"""How well open-loop EPDMS and pseudo-simulation predict the closed loop (`splatsim correlate`).

For a set of policies on the same scenarios, each scenario task (in-process or on Ray) runs:

- the closed loop: `run_episode` from the log's start over the span the pseudo-simulation frames
  look at (`evaluation.tasks.closed_loop_span`), scored with `episode_scores`; the target is
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

The study's design (fixed before any result was seen; issue 16): `DEFAULT_POLICIES`, 32
in-process policies: the baselines, the degraded variants, one-parameter sweeps of the IDM
planner (desired speed, time headway, maximum acceleration, lateral bias) and of the noisy and
laggy variants, and two mixed IDM settings; frames every 1 s over the whole log (the command's
defaults); reactive traffic in the closed loop and the pseudo-simulation; the closed loop run with
the policy asked at 10 Hz (the main target) and again at 2 Hz (reported beside it). The headline
figures, `open_loop` and `pseudo_sim` in correlation.json, are policy-level R^2 and Spearman's rho
against the closed-loop EPDMS with 95 % percentile intervals from a bootstrap that resamples
policies and scenes with replacement (`bootstrap_fit`; 2,000 resamples, seed 0).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from evaluation.reports.document import fmt, save_fig  # noqa: E402
from evaluation.scenario_refs import ScenarioRef  # noqa: E402
from evaluation.scoring import build_run, write_outputs  # noqa: E402
from evaluation.settings import ScoreSettings  # noqa: E402
from evaluation.tasks import ScenarioTask, TaskResult, run_tasks  # noqa: E402
from policies_api.resolve import check_policy_names  # noqa: E402
from sim.atomic import write_json_atomic  # noqa: E402
from sim.errors import ConfigError  # noqa: E402
from sim.scoring.pseudo_sim import aggregate_frames, rescore_frame  # noqa: E402
from sim.scoring.traffic import Traffic  # noqa: E402

# One-parameter sweeps around the defaults (idm: speed x 1, headway 1.5 s, accel 1.5 m/s^2, bias 0;
# noisy: sigma 0.5 m; laggy: 0.5 .. 1 s), chosen to span clearly worse to about as good as `idm`.
IDM_SWEEPS = {"speed": (0.5, 0.7, 0.85, 1.15, 1.3), "headway": (0.5, 1.0, 2.5, 4.0), "accel": (0.5, 1.0, 2.5, 4.0),
              "bias": (-1.2, -0.6, 0.6, 1.2)}
DEFAULT_POLICIES = ("expert", "idm", "constant-velocity", "noisy", "laggy", "over-cautious", "aggressive",
                    *(f"idm[{key}={v:g}]" for key, values in IDM_SWEEPS.items() for v in values),
                    *(f"noisy[sigma={v:g}]" for v in (0.25, 1.0, 2.0)), *(f"laggy[lag={v:g}]" for v in (0.2, 0.4, 1.5)),
                    "idm[speed=1.3,headway=0.8,accel=3]", "idm[speed=0.7,headway=2.5,accel=0.8]")
CLOSED_TARGETS = {"closed_loop_epdms": "closed-loop EPDMS", "driving_score": "Bench2Drive-style DS",
                  "hd_score": "HUGSIM HD-Score",
                  "closed_loop_epdms_beside": "closed-loop EPDMS, replanning beside"}
# The headline: correlation.json key -> predictor, each against the closed-loop EPDMS.
HEADLINE = {"open_loop": "open_loop_epdms", "pseudo_sim": "pseudo_sim"}
SENSITIVITY = (("pseudo_sim_sigma2_1", {"sigma_squared_m2": 1.0}),
               ("pseudo_sim_sigma2_10", {"sigma_squared_m2": 10.0}),
               ("pseudo_sim_nearest", {"on_vanished": "nearest"}))
PREDICTORS = {"open_loop_epdms": "open-loop EPDMS (stage one)", "pseudo_sim": "pseudo-simulation (sigma^2 as set)",
              "stage_two_weighted": "stage two alone (weighted)",
              "pseudo_sim_sigma2_1": "pseudo-simulation, sigma^2 = 1 m^2",
              "pseudo_sim_sigma2_10": "pseudo-simulation, sigma^2 = 10 m^2",
              "pseudo_sim_nearest": "pseudo-simulation, nearest start where weights vanish"}


@dataclass(frozen=True)
class FitStats:
    """R^2 (least-squares line), Pearson r, Spearman rho (with p-values), slope, intercept, n.
    Undefined statistics (fewer than 3 points, or a constant series) are None."""

    n: int
    r2: float | None = None
    pearson_r: float | None = None
    pearson_p: float | None = None
    spearman_rho: float | None = None
    spearman_p: float | None = None
    slope: float | None = None
    intercept: float | None = None

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def fit_stats(x: Sequence[float], y: Sequence[float]) -> FitStats:
    """The fit of y on x over the points where both are finite."""
    from scipy import stats

    xa, ya = np.asarray(x, np.float64), np.asarray(y, np.float64)
    ok = np.isfinite(xa) & np.isfinite(ya)
    xa, ya = xa[ok], ya[ok]
    if len(xa) < 3 or np.ptp(xa) == 0 or np.ptp(ya) == 0:
        return FitStats(int(len(xa)))
    fit = stats.linregress(xa, ya)
    rho = stats.spearmanr(xa, ya)
    return FitStats(int(len(xa)), r2=_r(fit.rvalue ** 2), pearson_r=_r(fit.rvalue), pearson_p=_sig(fit.pvalue),
                    spearman_rho=_r(float(rho.statistic)), spearman_p=_sig(float(rho.pvalue)), slope=_r(fit.slope),
                    intercept=_r(fit.intercept))


def _r(v) -> float | None:
    v = float(v)
    return round(v, 4) if math.isfinite(v) else None


def _sig(v) -> float | None:
    """Three significant digits (p-values)."""
    v = float(v)
    return float(f"{v:.3g}") if math.isfinite(v) else None


@dataclass(frozen=True)
class BootstrapFit:
    """Policy-level R^2 and Spearman's rho of y on x (each policy's mean over the scenes), with
    95 % percentile intervals over bootstrap resamples of policies and scenes. resamples_used:
    the resamples where both statistics are defined (a resample whose means are constant, or
    with fewer than 3 distinct policies, is left out). None where undefined."""

    r2: float | None
    r2_ci95: tuple[float, float] | None
    spearman: float | None
    spearman_ci95: tuple[float, float] | None
    n_policies: int
    n_scenes: int
    resamples: int
    resamples_used: int
    seed: int

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        for key in ("r2_ci95", "spearman_ci95"):
            out[key] = list(out[key]) if out[key] is not None else None
        return out


def _r2_rho(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(Pearson r^2, Spearman rho) over the finite pairs; NaN when fewer than 3 distinct points or
    either side is constant."""
    from scipy.stats import rankdata

    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(np.unique(np.stack([x, y], -1), axis=0)) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan, math.nan
    r = np.corrcoef(x, y)[0, 1]
    rho = np.corrcoef(rankdata(x), rankdata(y))[0, 1]
    return float(r * r), float(rho)


def _scene_means(values: np.ndarray, ok: np.ndarray, scene_counts: np.ndarray) -> np.ndarray:
    """(P,) each policy's mean over scenes weighted by how often each was drawn, over the scenes
    where `ok`; NaN where there is none."""
    w = ok * scene_counts[None, :]
    total = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (np.where(ok, values, 0.0) * w).sum(axis=1) / total, np.nan)


def bootstrap_fit(x: np.ndarray, y: np.ndarray, resamples: int = 2000, seed: int = 0) -> BootstrapFit:
    """R^2 and Spearman's rho of the policy means of y on those of x, with a bootstrap 95 %
    interval. x, y: (P, S) per (policy, scene) scores, NaN where missing (a pair counts where both
    are finite). Each resample draws P policies and S scenes with replacement (numpy's PCG64
    seeded by `seed`), takes each drawn policy's mean over the drawn scenes (a scene drawn twice
    counts twice) and computes both statistics over the drawn policies; the interval is the 2.5th
    and 97.5th percentile of the resamples where they are defined."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.shape != y.shape or x.ndim != 2:
        raise ValueError(f"x and y must be (policies, scenes) arrays of one shape, got {x.shape} and {y.shape}")
    n_p, n_s = x.shape
    ok = np.isfinite(x) & np.isfinite(y)
    ones = np.ones(n_s)
    r2, rho = _r2_rho(_scene_means(x, ok, ones), _scene_means(y, ok, ones))
    rng = np.random.default_rng(seed)
    stats = np.full((resamples, 2), np.nan)
    for b in range(resamples):
        policies = rng.integers(0, n_p, n_p)
        counts = np.bincount(rng.integers(0, n_s, n_s), minlength=n_s).astype(np.float64)
        mx = _scene_means(x[policies], ok[policies], counts)
        my = _scene_means(y[policies], ok[policies], counts)
        stats[b] = _r2_rho(mx, my)
    used = stats[np.isfinite(stats).all(axis=1)]

    def interval(column: int) -> tuple[float, float] | None:
        if not len(used):
            return None
        lo, hi = np.percentile(used[:, column], [2.5, 97.5])
        return _r(lo), _r(hi)

    return BootstrapFit(r2=_r(r2), r2_ci95=interval(0), spearman=_r(rho), spearman_ci95=interval(1),
                        n_policies=n_p, n_scenes=n_s, resamples=resamples, resamples_used=len(used), seed=seed)


@dataclass(frozen=True)
class PairPoint:
    """One (policy, scenario): closed-loop scores (closed_loop_epdms_beside: the closed-loop
    EPDMS with the policy asked at the second replanning rate, None without one), open-loop
    EPDMS, pseudo-simulation score and its sensitivity variants, and the diagnostics that explain
    gaps (groups with vanished weights, mean distance from a plan's end to the nearest stage-two
    start, m)."""

    policy: str
    scene: str
    closed_loop_epdms: float | None
    closed_loop_epdms_beside: float | None
    driving_score: float | None
    hd_score: float | None
    route_completion: float
    at_fault_collisions: int
    closed_loop_steps: int
    open_loop_epdms: float | None
    pseudo_sim: float | None
    stage_two_weighted: float | None
    groups: int
    groups_weights_vanished: int
    mean_nearest_start_m: float
    pseudo_sim_sigma2_1: float | None
    pseudo_sim_sigma2_10: float | None
    pseudo_sim_nearest: float | None

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class PolicyMeans:
    """One policy's means over its scenarios (None where no scenario has a value), with the
    summed group counts."""

    policy: str
    scenarios: int
    groups_weights_vanished: int
    groups: int
    closed_loop_epdms: float | None
    closed_loop_epdms_beside: float | None
    driving_score: float | None
    hd_score: float | None
    open_loop_epdms: float | None
    pseudo_sim: float | None
    stage_two_weighted: float | None
    pseudo_sim_sigma2_1: float | None
    pseudo_sim_sigma2_10: float | None
    pseudo_sim_nearest: float | None
    route_completion: float | None
    at_fault_collisions: float | None
    mean_nearest_start_m: float | None

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


MEAN_KEYS = tuple(CLOSED_TARGETS) + tuple(PREDICTORS) + ("route_completion", "at_fault_collisions",
                                                         "mean_nearest_start_m")


def collect_points(results: Sequence[TaskResult], policies: Sequence[str], settings: ScoreSettings,
                   replan_every_steps: int = 1, beside_replan_every_steps: int | None = None) -> list[PairPoint]:
    """One point per (policy, scenario), scenario-major in the order of `results` and `policies`;
    the closed loop is the one with the policy asked every `replan_every_steps` steps."""
    rows = []
    for r in results:
        for name in policies:
            score = r.scores[name]
            closed = r.closed_loop[replan_every_steps][name]
            beside = r.closed_loop[beside_replan_every_steps][name] if beside_replan_every_steps else None
            summary = score.summary()
            sensitivity = {key: aggregate_frames([rescore_frame(f, dataclasses.replace(settings.pseudo, **change))
                                                  for f in score.frames]).score for key, change in SENSITIVITY}
            rows.append(PairPoint(
                policy=name, scene=r.scene, closed_loop_epdms=closed.epdms_mean,
                closed_loop_epdms_beside=beside.epdms_mean if beside is not None else None,
                driving_score=closed.driving_score,
                hd_score=closed.hd_score, route_completion=closed.route_completion,
                at_fault_collisions=closed.at_fault_collisions, closed_loop_steps=closed.steps,
                open_loop_epdms=summary.stage_one_epdms, pseudo_sim=summary.score,
                stage_two_weighted=summary.stage_two_epdms_weighted, groups=summary.groups,
                groups_weights_vanished=summary.groups_weights_vanished,
                mean_nearest_start_m=round(float(np.mean([g.weights.nearest_distance_m for f in score.frames
                                                          for g in f.groups])), 3),
                **sensitivity))
    return rows


def policy_means(rows: Sequence[PairPoint], policies: Sequence[str]) -> list[PolicyMeans]:
    out = []
    for name in policies:
        mine = [r for r in rows if r.policy == name]
        means = {}
        for k in MEAN_KEYS:
            vals = [getattr(r, k) for r in mine if getattr(r, k) is not None]
            means[k] = round(float(np.mean(vals)), 4) if vals else None
        out.append(PolicyMeans(policy=name, scenarios=len(mine),
                               groups_weights_vanished=sum(r.groups_weights_vanished for r in mine),
                               groups=sum(r.groups for r in mine), **means))
    return out


def correlation_table(points: Sequence[PairPoint | PolicyMeans]) -> dict[str, dict[str, FitStats]]:
    """{target: {predictor: FitStats}} over the given points."""
    def column(key: str) -> list[float]:
        return [getattr(r, key) if getattr(r, key) is not None else np.nan for r in points]

    return {t: {p: fit_stats(column(t), column(p)) for p in PREDICTORS} for t in CLOSED_TARGETS}


def policy_family(name: str) -> str:
    """"idm" for "idm[speed=0.5]": the family a policy's parameters sweep (the name itself otherwise)."""
    return name.split("[", 1)[0]


def plot_correlation(per_policy: Sequence[PolicyMeans], pairs: Sequence[PairPoint], stats_policy: dict,
                     stats_pairs: dict, path: Path, target: str = "closed_loop_epdms") -> None:
    """Two panels (open loop, pseudo-simulation) against the closed loop. With dozens of policies
    names would hide the points: colours are families (a sweep's members share one), and only
    the policies without parameters are named."""
    panels = [("open_loop_epdms", "open-loop EPDMS (stage one)"), ("pseudo_sim", "pseudo-simulation EPDMS")]
    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 5.6), dpi=100, squeeze=False)
    colors = plt.get_cmap("tab10")
    families = list(dict.fromkeys(policy_family(p.policy) for p in per_policy))
    color_of = {f: colors(i % 10) for i, f in enumerate(families)}
    for ax, (key, label) in zip(axes[0], panels):
        pts = [(getattr(r, target), getattr(r, key), color_of[policy_family(r.policy)]) for r in pairs
               if getattr(r, key) is not None and getattr(r, target) is not None]
        if pts:
            xs, ys, cs = zip(*pts)
            ax.scatter(xs, ys, s=12, alpha=0.3, color=cs)
        shown: set[str] = set()
        for p in per_policy:
            x, y = getattr(p, target), getattr(p, key)
            if x is None or y is None:
                continue
            family = policy_family(p.policy)
            ax.scatter([x], [y], s=70, color=color_of[family], edgecolor="black", zorder=3,
                       label=None if family in shown else family)
            shown.add(family)
            if family == p.policy:
                ax.annotate(p.policy, (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8)
        sp, sq = stats_policy[target][key], stats_pairs[target][key]
        if sp.slope is not None:
            xs = np.linspace(0, 1, 10)
            ax.plot(xs, sp.intercept + sp.slope * xs, color="black", lw=1, ls="--")
        ax.set_xlim(-0.05, 1.05)
        ax.set_ylim(-0.05, 1.05)
        ax.plot([0, 1], [0, 1], color="#bbbbbb", lw=0.8)
        ax.set_xlabel(CLOSED_TARGETS[target])
        ax.set_ylabel(label)
        ax.set_title(f"{label}\npolicies: R²={fmt(sp.r2, 2)}, ρ={fmt(sp.spearman_rho, 2)} (n={sp.n}); "
                     f"pairs: R²={fmt(sq.r2, 2)}, ρ={fmt(sq.spearman_rho, 2)} (n={sq.n})", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8, loc="upper left", title="policy family", title_fontsize=8)
    fig.suptitle("Open-loop and pseudo-simulation scores against the closed loop (big: policy means; small: "
                 "policy x scenario)", fontsize=10)
    fig.tight_layout()
    save_fig(fig, path)


def pair_matrix(pairs: Sequence[PairPoint], policies: Sequence[str], key: str) -> np.ndarray:
    """(P, S) the `key` of each (policy, scenario) pair, NaN where None; pairs scenario-major as
    `collect_points` returns them."""
    values = np.array([np.nan if getattr(r, key) is None else getattr(r, key) for r in pairs], np.float64)
    return values.reshape(-1, len(policies)).T


def headline(pairs: Sequence[PairPoint], policies: Sequence[str], replan_every_steps: int,
             beside_replan_every_steps: int | None, resamples: int, seed: int) -> dict[str, dict]:
    """{"open_loop" | "pseudo_sim": the predictor's `BootstrapFit` against the closed-loop EPDMS
    (replanning every `replan_every_steps` steps) as JSON, with the target, the replanning
    interval and the same fit against the closed loop replanning every `beside_replan_every_steps`
    steps under "beside" (None without it)}."""
    out = {}
    for name, predictor in HEADLINE.items():
        x = pair_matrix(pairs, policies, predictor)
        main = bootstrap_fit(pair_matrix(pairs, policies, "closed_loop_epdms"), x, resamples, seed)
        beside = None
        if beside_replan_every_steps:
            fit = bootstrap_fit(pair_matrix(pairs, policies, "closed_loop_epdms_beside"), x, resamples, seed)
            beside = {"replan_every_steps": beside_replan_every_steps, **fit.to_json()}
        out[name] = {"predictor": predictor, "target": "closed_loop_epdms", "replan_every_steps": replan_every_steps,
                     **main.to_json(), "beside": beside}
    return out


@dataclass(frozen=True)
class CorrelationRun:
    """correlation.json: the policies and scenarios, the traffic of the closed loop and of the
    pseudo-simulation's scored rollouts ("reactive" | "log-replay"), the closed loop's settings (reactive,
    replan_every_steps, and beside_replan_every_steps, the second rate reported beside, or None), the
    score settings, the headline {open_loop, pseudo_sim} (see `headline`), per-policy means, the
    (policy, scenario) points, {policy_level, pair_level}: {target: {predictor: FitStats}}, the plot
    and pseudo-simulation document (paths relative to the output folder), vanished-weight flags,
    wall time, machine."""

    policies: tuple[str, ...]
    scenarios: tuple[str, ...]
    reactive: bool
    replan_every_steps: int
    beside_replan_every_steps: int | None
    settings: ScoreSettings
    headline: dict[str, dict]
    per_policy: tuple[PolicyMeans, ...]
    pairs: tuple[PairPoint, ...]
    correlation: dict[str, dict[str, dict[str, FitStats]]]
    weights_vanished: bool
    warnings_count: int
    wall_s: float
    machine: dict
    plot: str = "img/correlation.png"
    pseudo_sim_json: str = "pseudo_sim/pseudo_sim.json"

    def to_json(self) -> dict:
        return {"kind": "splatsim-correlate", "version": 2, "policies": list(self.policies),
                "scenarios": list(self.scenarios), "traffic": self.settings.traffic.value,
                "closed_loop": {"reactive": self.reactive, "replan_every_steps": self.replan_every_steps,
                                "beside_replan_every_steps": self.beside_replan_every_steps},
                **self.headline,
                "settings": self.settings.to_dict(), "per_policy": [p.to_json() for p in self.per_policy],
                "pairs": [p.to_json() for p in self.pairs],
                "correlation": {level: {t: {p: s.to_json() for p, s in row.items()} for t, row in table.items()}
                                for level, table in self.correlation.items()},
                "plot": self.plot, "pseudo_sim_json": self.pseudo_sim_json, "weights_vanished": self.weights_vanished,
                "warnings_count": self.warnings_count, "wall_s": self.wall_s, "machine": self.machine}


def correlate(refs: Sequence[ScenarioRef], policies: Sequence[str], settings: ScoreSettings, out: Path,
              workers: int | None = None, ray_address: str | None = None, replan_every_steps: int = 1,
              beside_replan_every_steps: int | None = 5, bootstrap_resamples: int = 2000, bootstrap_seed: int = 0,
              progress: bool = True) -> CorrelationRun:
    """Run everything and write the outputs (correlation.json, correlate.md/html, the plot and
    the pseudo-simulation run under pseudo_sim/). settings.traffic is the traffic of both the
    closed loop (reactive IDM actors or log replay) and the pseudo-simulation's scored rollouts.
    The closed loop runs with the policy asked every `replan_every_steps` steps (the target) and,
    unless None or the same, every `beside_replan_every_steps` steps (reported beside it)."""
    if len(policies) < 3:
        raise ConfigError(f"correlate needs at least 3 policies to fit a line, got {len(policies)}")
    if len(set(policies)) != len(policies):
        raise ConfigError(f"correlate: policies named twice: {sorted({p for p in policies if policies.count(p) > 1})}")
    if replan_every_steps < 1 or (beside_replan_every_steps is not None and beside_replan_every_steps < 0):
        raise ConfigError(f"correlate: replanning intervals must be >= 1 step, got {replan_every_steps} and "
                          f"{beside_replan_every_steps}")
    if bootstrap_resamples < 1:
        raise ConfigError(f"correlate: bootstrap resamples must be >= 1, got {bootstrap_resamples}")
    check_policy_names(policies, settings.egodriver_config)
    beside = beside_replan_every_steps if beside_replan_every_steps not in (None, 0, replan_every_steps) else None
    t0 = time.perf_counter()
    reactive = settings.traffic is Traffic.REACTIVE
    replans = (replan_every_steps,) + ((beside,) if beside else ())
    tasks = [ScenarioTask(ref, tuple(policies), settings, True, reactive, replans) for ref in refs]
    results = run_tasks(tasks, workers, ray_address, progress, "correlate")
    wall = time.perf_counter() - t0
    out = Path(out)
    pseudo = build_run(results, policies, settings, wall, workers, ray_address)
    write_outputs(pseudo, out / "pseudo_sim")
    pairs = collect_points(results, policies, settings, replan_every_steps, beside)
    per_policy = policy_means(pairs, policies)
    stats_policy, stats_pairs = correlation_table(per_policy), correlation_table(pairs)
    (out / "img").mkdir(parents=True, exist_ok=True)
    plot_correlation(per_policy, pairs, stats_policy, stats_pairs, out / "img" / "correlation.png")
    run = CorrelationRun(policies=tuple(policies), scenarios=tuple(r.scene for r in results), reactive=reactive,
                         replan_every_steps=replan_every_steps, beside_replan_every_steps=beside, settings=settings,
                         headline=headline(pairs, policies, replan_every_steps, beside, bootstrap_resamples,
                                           bootstrap_seed),
                         per_policy=tuple(per_policy), pairs=tuple(pairs),
                         correlation={"policy_level": stats_policy, "pair_level": stats_pairs},
                         weights_vanished=pseudo.weights_vanished, warnings_count=len(pseudo.warnings),
                         wall_s=round(wall, 3), machine=pseudo.machine)
    write_json_atomic(out / "correlation.json", run.to_json())
    from evaluation.reports.correlation import write_correlate_report

    write_correlate_report(run, out)
    return run

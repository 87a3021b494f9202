"""Evaluation of the adversary model on held-out logs: how often guided samples create a
safety-critical moment against a reference ego, and how realistic guided and unguided samples
stay, next to the logged behaviour of the same actors.

For each held-out scene, the plausible adversaries (selection.py) are taken round-robin (with
a new seed on each pass) until `attempts_per_scene` attempts; every attempt runs three closed
loops from the same start with the same reference ego (expert replay by default):
- `log`: the actor replays its log (what really happened);
- `unguided`: the actor re-plans every 0.5 s with plain model samples (no proposal, no guidance
  costs, one sample per plan), each warm-started from its previous plan when
  `PlannerConfig.warm_start` > 0 (partial diffusion from the model's own last sample);
- `realism-guided`: the same with the realism guidance only (off-road, collisions, lanes,
  smoothness; no adversarial terms, best of `num_samples`): the model as a realistic actor;
- `guided`: the actor re-plans with guided diffusion from a conflict proposal of the
  candidate's collision type (what `splatsim generate` does, before any filtering).
Rates are per attempt (realism.py defines each); acceleration and jerk samples (the same
0.5 s-smoothed finite differences for all) are compared by the 1-D Wasserstein distance
(scipy.stats.wasserstein_distance) against the log of every moving vehicle of the held-out
scenes and between guided and unguided samples.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.stats import wasserstein_distance

from scenarios.adversary.model import AdversaryModel, load_checkpoint
from scenarios.adversary.planner import PlannerConfig
from scenarios.adversary.realism import RealismConfig, adversary_outcome, log_kinematics
from scenarios.adversary.selection import SelectionConfig, select_candidates
from sim.engine import EngineConfig, prepare, run_episode
from sim.errors import ConfigError
from sim.policies.registry import make_policy

MODES = ("log", "unguided", "realism-guided", "guided")


@dataclass(frozen=True)
class EvalConfig:
    """Evaluation settings.

    - dataroots, version: where the scenes are. scenes: scene names ("" = the checkpoint's
      held-out scenes found in these dataroots).
    - checkpoint: the model (None: shipped default).
    - attempts_per_scene: closed-loop attempts per scene (each runs log, unguided and guided).
    - collision_type: candidate filter ("any" pools the three types).
    - policy: the reference ego. seed. episode_steps: closed-loop length after the takeover.
    - reactive: other vehicles follow the IDM (they brake for the adversary) instead of replaying.
    - modes: the sampled behaviours to run (of MODES[1:]); the log always runs.
    - planner: guided sampling settings (collision type and seed set per attempt).
    - realism, selection: thresholds and candidate filter.
    """

    dataroots: tuple[str, ...] = ()
    version: str = "v1.0-mini"
    scenes: tuple[str, ...] = ()
    checkpoint: str | None = None
    attempts_per_scene: int = 12
    collision_type: str = "any"
    policy: str = "expert"
    seed: int = 0
    episode_steps: int = 80
    reactive: bool = False
    modes: tuple[str, ...] = MODES[1:]
    planner: PlannerConfig = field(default_factory=PlannerConfig)
    realism: RealismConfig = field(default_factory=RealismConfig)
    selection: SelectionConfig = field(default_factory=lambda: SelectionConfig(max_distance_m=45.0))


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a binomial rate (95 % for z = 1.96): unlike p +- z*se it stays
    inside [0, 1] and is not empty at 0 of n, which is where the realism rates sit."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


# Rates reported with their 95 % interval: (report key, Outcome field).
RATES = (("critical_rate", "critical"), ("collision_rate", "contact"), ("offroad_rate", "off_road"),
         ("nonego_collision_rate", "nonego_collision"), ("nonego_at_fault_rate", "nonego_at_fault"),
         ("nonego_struck_from_behind_rate", "nonego_struck_from_behind"), ("bounded_kinematics_rate", "bounded"))


def _rates(outcomes: list) -> dict:
    n = len(outcomes)
    if n == 0:
        return {"attempts": 0}
    out: dict = {"attempts": n}
    for key, field_name in RATES:
        k = int(sum(bool(getattr(o, field_name)) for o in outcomes))
        out[key] = k / n
        out[key.replace("_rate", "_ci95")] = list(wilson_interval(k, n))
    out["ttc_below_threshold_rate"] = float(np.mean([o.min_ttc_s < np.inf and not o.contact and o.critical
                                                     for o in outcomes]))
    out["median_min_ttc_s"] = float(np.median([min(o.min_ttc_s, 10.0) for o in outcomes]))
    return out


def evaluate_adversary(config: EvalConfig, out_dir: str | Path | None = None, progress: bool = True,
                       model: AdversaryModel | None = None) -> dict:
    """Run the evaluation; with out_dir write `adversary_eval.json` and `adversary_eval.md`."""
    from tqdm.auto import tqdm

    from scenarios.adversary.train import load_dataroots
    from scenarios.generate import (
        run_adversary_episode,
        write_bytes_atomic,
        write_json_atomic,
    )

    unknown = set(config.modes) - set(MODES[1:])
    if unknown or not config.modes:
        what = f"unknown evaluation mode(s) {sorted(unknown)}" if unknown else "no evaluation mode given"
        raise ConfigError(f"{what}: choose among {list(MODES[1:])} (--mode, repeatable)")
    modes = ("log",) + tuple(m for m in MODES[1:] if m in config.modes)
    model = model if model is not None else load_checkpoint(config.checkpoint)
    if not config.dataroots:
        raise ConfigError("no dataroot given: pass --dataroot DIR with the held-out scenes")
    scenes = load_dataroots(config.dataroots, config.version)
    wanted = set(config.scenes) or set(model.metadata.get("heldout_scenes", []))
    chosen = [s for s in scenes if s.scene_id in wanted or s.scene_id.split("/", 1)[1] in wanted]
    if not chosen:
        raise ConfigError(f"none of the scenes {sorted(wanted)} is in {list(config.dataroots)}: pass --scenes or the "
                          "dataroots the model held out")
    t0 = time.perf_counter()
    outcomes: dict[str, list] = {m: [] for m in modes}
    acc: dict[str, list] = {m: [] for m in modes}
    jerk: dict[str, list] = {m: [] for m in modes}
    log_acc, log_jerk = [], []
    per_scene = []
    jobs = []
    for s in chosen:
        a, j = log_kinematics(s.scenario)
        log_acc.append(a)
        log_jerk.append(j)
        cands = select_candidates(s.scenario, config.collision_type, config.selection)
        for k in range(config.attempts_per_scene if cands else 0):
            jobs.append((s, cands[k % len(cands)], k // len(cands), k))
        per_scene.append({"scene": s.scene_id, "candidates": len(cands)})
    bar = tqdm(jobs, desc="evaluating", unit="attempt", disable=not progress)
    details = []
    for s, cand, rep, k in bar:
        sc = s.scenario
        seed = config.seed * 1000 + k
        # The log: replay everything, analyse the candidate's logged behaviour.
        ctx = prepare(sc, EngineConfig(start_step=cand.start_step, max_steps=config.episode_steps))
        ep_log = run_episode(ctx, make_policy(config.policy))
        results = {"log": adversary_outcome(sc, ep_log, cand.actor, config.realism)}
        for mode in modes[1:]:
            pcfg = dataclasses.replace(config.planner, collision_type=cand.collision_type, seed=seed,
                                       guided=(mode != "unguided"), adversarial=(mode == "guided"))
            if mode == "unguided":
                pcfg = dataclasses.replace(pcfg, num_samples=1)
            ep, _ = run_adversary_episode(sc, model, cand, pcfg, make_policy(config.policy), config.episode_steps,
                                          config.reactive)
            results[mode] = adversary_outcome(sc, ep, cand.actor, config.realism)
        for mode, o in results.items():
            outcomes[mode].append(o)
            acc[mode].append(o.accel)
            jerk[mode].append(o.jerk)
        details.append({"scene": s.scene_id, "candidate": cand.to_dict(), "seed": seed,
                        **{m: results[m].to_dict() for m in modes}})
        bar.set_postfix({f"{m} {k}": f"{np.mean([getattr(o, a) for o in outcomes[m]]):.2f}"
                         for m, k, a in (("guided", "critical", "critical"),
                                         ("unguided", "non-ego", "nonego_collision"))
                         if m in modes})
    la, lj = np.concatenate(log_acc), np.concatenate(log_jerk)
    table = {}
    for mode in modes:
        row = _rates(outcomes[mode])
        a = np.concatenate(acc[mode]) if acc[mode] else np.zeros(0)
        j = np.concatenate(jerk[mode]) if jerk[mode] else np.zeros(0)
        row["w1_accel_vs_log"] = float(wasserstein_distance(a, la)) if len(a) and len(la) else None
        row["w1_jerk_vs_log"] = float(wasserstein_distance(j, lj)) if len(j) and len(lj) else None
        row["accel_p05_p50_p95"] = np.percentile(a, [5, 50, 95]).round(3).tolist() if len(a) else None
        row["jerk_p05_p50_p95"] = np.percentile(j, [5, 50, 95]).round(3).tolist() if len(j) else None
        table[mode] = row
    w1_gu = None
    if "guided" in modes and "unguided" in modes:
        ga, ua = np.concatenate(acc["guided"]), np.concatenate(acc["unguided"])
        gj, uj = np.concatenate(jerk["guided"]), np.concatenate(jerk["unguided"])
        w1_gu = {"accel": float(wasserstein_distance(ga, ua)), "jerk": float(wasserstein_distance(gj, uj))}
    report = {
        "scenes": per_scene, "policy": config.policy, "collision_type": config.collision_type,
        "other_vehicles": "idm" if config.reactive else "replay",
        "checkpoint": str(config.checkpoint or "default"), "planner": dataclasses.asdict(config.planner),
        "realism": dataclasses.asdict(config.realism), "table": table,
        "w1_guided_vs_unguided": w1_gu,
        "log_reference": {"accel_samples": len(la), "jerk_samples": len(lj),
                          "accel_p05_p50_p95": np.percentile(la, [5, 50, 95]).round(3).tolist(),
                          "jerk_p05_p50_p95": np.percentile(lj, [5, 50, 95]).round(3).tolist()},
        "targets": {"guided_critical_rate": ">= 0.60", "guided_offroad_rate": "<= 0.05",
                    "guided_nonego_collision_rate": "<= 0.02"},
        "wall_s": round(time.perf_counter() - t0, 1), "attempts": details,
    }
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out / "adversary_eval.json", report)
        write_bytes_atomic(out / "adversary_eval.md", markdown_table(report).encode())
    return report


def markdown_table(report: dict) -> str:
    """The report's table as Markdown."""
    t = report["table"]
    def fmt(v):
        return "-" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))

    def rate(r: dict, key: str) -> str:
        ci = r.get(key.replace("_rate", "_ci95"))
        return fmt(r.get(key)) + (f" ({ci[0]:.3f}-{ci[1]:.3f})" if ci else "")

    lines = [f"Adversary evaluation on held-out scenes {', '.join(s['scene'] for s in report['scenes'])} "
             f"(reference ego: {report['policy']}; other vehicles: {report.get('other_vehicles', 'replay')}; "
             f"collision type: {report['collision_type']})", "",
             "| behaviour | attempts | critical (collision or TTC < 1 s) | collision | off-road | non-ego collision "
             "| non-ego collision, adversary at fault | bounded accel/jerk | W1 accel vs log (m/s^2) "
             "| W1 jerk vs log (m/s^3) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for mode in (m for m in MODES if m in t):
        r = t[mode]
        lines.append(f"| {mode} | {r.get('attempts', 0)} | {rate(r, 'critical_rate')} | {fmt(r.get('collision_rate'))} "
                     f"| {rate(r, 'offroad_rate')} | {rate(r, 'nonego_collision_rate')} "
                     f"| {rate(r, 'nonego_at_fault_rate')} | {fmt(r.get('bounded_kinematics_rate'))} "
                     f"| {fmt(r.get('w1_accel_vs_log'))} | {fmt(r.get('w1_jerk_vs_log'))} |")
    g = report["w1_guided_vs_unguided"]
    warm = report["planner"].get("warm_start", 0.0)
    lines += [""] + ([f"W1 guided vs unguided: accel {g['accel']:.3f} m/s^2, jerk {g['jerk']:.3f} m/s^3."] if g else [])
    by_type = critical_by_type(report, "guided")
    if by_type:
        lines.append("Guided, critical by collision type: "
                     + ", ".join(f"{k} {c}/{n}" for k, (c, n) in by_type.items()) + ".")
    lines += ["Unguided: one plain model sample per 0.5 s re-plan, no proposal and no guidance costs"
              + (f"; from the second plan on, warm-started from the previous plan noised to {warm:g} of the "
                 "schedule." if warm > 0 else ", each from pure noise."),
              "Rates in brackets: Wilson 95 % intervals over the attempts.",
              "Targets: guided critical >= 0.60, off-road <= 0.05, non-ego collisions <= 0.02.", ""]
    return "\n".join(lines)


def critical_by_type(report: dict, mode: str) -> dict[str, tuple[int, int]]:
    """{collision type: (critical attempts, attempts)} of one behaviour, from a report's attempts."""
    out: dict[str, tuple[int, int]] = {}
    for a in report.get("attempts", []):
        if mode in a:
            c, n = out.get(a["candidate"]["collision_type"], (0, 0))
            out[a["candidate"]["collision_type"]] = (c + int(a[mode]["critical"]), n + 1)
    return dict(sorted(out.items()))


def report_json(report: dict) -> str:
    return json.dumps(report, indent=1, default=str)

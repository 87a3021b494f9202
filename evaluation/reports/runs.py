"""A readable report of one or many closed-loop runs (`splatsim report RUN_DIR... --out DIR`).

Each run directory holds metrics.json (from `splatsim run`; with the closed-loop scores under
"scores" when the run computed them) and, optionally, episode.npz (`sim.scoring.episode_io`).
Runs without "scores" but with an episode file are scored here (the scenario is loaded from the
metrics' dataroot/version/scene or scenario_file). The report, written to DIR as report.md and
report.html with the figures under DIR/img/, holds:

- a table of policies x scenes (mean per-frame EPDMS) and one row per run with the closed-loop
  scores (route completion, collisions, NeuroNCAP, HUGSIM HD-Score, Bench2Drive-style score);
- the EPDMS sub-score breakdown of each run;
- why each run lost points: one sentence per run of frames that lost the same metric, e.g.
  "NC=0 at t=4.2 s: at-fault collision with vehicle.car (front)";
- its worst frames, each with a bird's-eye snapshot (`render.bev.bev_frame`);
- plots: the distribution of per-frame EPDMS per run, and per-frame EPDMS over time per scene.

Every file is written to a temporary name and renamed, so a reader never sees half a report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from evaluation.reports.document import METRIC_LABELS, fmt, save_fig, write_blocks  # noqa: E402
from sim.atomic import atomic_path  # noqa: E402
from sim.errors import ConfigError, SplatsimError  # noqa: E402
from sim.scoring.epdms import METRIC_NAMES  # noqa: E402

MAX_EVENTS_PER_RUN = 12


@dataclass
class Run:
    """One run directory as the report sees it."""

    path: Path
    metrics: dict
    scores: dict | None
    label: str
    scene: str
    policy: str
    notes: list[str] = field(default_factory=list)
    snapshots: list[dict] = field(default_factory=list)


# ---- loading ---------------------------------------------------------------------------------------


def _read_metrics(run_dir: Path) -> dict:
    path = run_dir / "metrics.json"
    if not path.is_file():
        raise ConfigError(f"{run_dir} holds no metrics.json: pass directories written by `splatsim run --out DIR`")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path} is not valid JSON ({err.msg} at line {err.lineno}): run the episode again") from None


def _load_scenario(metrics: dict, cache: dict):
    """The run's scenario from metrics.json's provenance, or None with a reason."""
    scenario_file = metrics.get("scenario_file")
    dataroot = metrics.get("dataroot")
    scene = metrics.get("scene")
    key = (scenario_file, dataroot, metrics.get("version"), scene)
    if key in cache:
        return cache[key]
    try:
        if scenario_file:
            from scenarios.scenario_file import load_scenario_file

            value = (load_scenario_file(scenario_file), None)
        elif dataroot and scene:
            from scenarios.nuscenes import load_scenario

            value = (load_scenario(dataroot, scene, metrics.get("version") or "v1.0-mini"), None)
        else:
            value = (None, "metrics.json names no dataroot/scene or scenario_file")
    except SplatsimError as err:
        value = (None, str(err))
    cache[key] = value
    return value


def _context_for(scenario, metrics: dict, episode):
    from sim.engine import EngineConfig, prepare

    max_steps = int(episode.step_index[-1] - episode.step_index[0]) if episode is not None else metrics.get("steps")
    return prepare(scenario, EngineConfig(reactive=bool(metrics.get("reactive", False)),
                                          start_step=int(metrics.get("start_step", 0) or 0), max_steps=max_steps))


def load_run(run_dir: Path, scenario_cache: dict, snapshot_dir: Path | None = None, snapshots: int = 3) -> Run:
    """A run's metrics and scores, scoring its episode file when metrics.json has no scores; with
    snapshot_dir, bird's-eye snapshots of its worst frames are written there."""
    run_dir = Path(run_dir)
    metrics = _read_metrics(run_dir)
    scene = str(metrics.get("scene", run_dir.name))
    policy = str(metrics.get("policy", "?")) + (" (reactive)" if metrics.get("reactive") else "")
    run = Run(run_dir, metrics, metrics.get("scores"), run_dir.name, scene, policy)
    episode_path = run_dir / "episode.npz"
    episode = None
    if episode_path.is_file():
        from sim.scoring.episode_io import load_episode

        try:
            episode = load_episode(episode_path)
        except SplatsimError as err:
            run.notes.append(f"episode file unusable: {err}")
    scenario = None
    if episode is not None and (run.scores is None or snapshot_dir is not None):
        scenario, why = _load_scenario(metrics, scenario_cache)
        if scenario is None:
            run.notes.append(f"scenario not loaded ({why}): no rescoring or snapshots")
    if run.scores is None:
        if episode is not None and scenario is not None:
            from sim.scoring.epdms import ScoringData
            from sim.scoring.episode_scores import episode_scores

            data = ScoringData.build(_context_for(scenario, metrics, episode))
            run.scores = episode_scores(episode, data).to_json()  # the same form as metrics.json's
            run.notes.append("scores computed by the report from episode.npz")
        else:
            run.notes.append("no closed-loop scores: metrics.json has none and there is no usable episode.npz")
    if snapshot_dir is not None and run.scores and episode is not None and scenario is not None:
        from render.bev import bev_frame

        for k, worst in enumerate(run.scores.get("worst_frames", [])[:snapshots]):
            index = int(worst.get("snapshot_index", worst["index"]))
            if not 0 <= index < len(episode.step_index):
                continue
            image = bev_frame(scenario, episode, index, size_px=480)
            name = f"{_slug(run.label)}-worst{k + 1}.png"
            _save_png(snapshot_dir / name, image)
            run.snapshots.append({**worst, "image": f"img/{name}"})
    elif run.scores and run.scores.get("worst_frames") and episode is None:
        run.notes.append("no episode.npz: worst frames listed without snapshots")
    return run


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text)[:80] or "run"


def _save_png(path: Path, image: np.ndarray) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        plt.imsave(tmp, image, format="png")


# ---- figures ---------------------------------------------------------------------------------------


def _plot_distributions(runs: list[Run], path: Path) -> bool:
    data = [(r.label, r.scores["per_step"]["epdms"]) for r in runs if r.scores and r.scores["per_step"]["epdms"]]
    if not data:
        return False
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(data) + 2), 4), dpi=100)
    ax.boxplot([d for _, d in data], showmeans=True)
    for i, (_, d) in enumerate(data, start=1):
        ax.scatter(np.full(len(d), i) + np.random.default_rng(i).uniform(-0.12, 0.12, len(d)), d, s=8, alpha=0.5,
                   color="#4c78a8", zorder=3)
    ax.set_xticks(range(1, len(data) + 1), [lbl for lbl, _ in data], rotation=20, ha="right")
    ax.set_ylabel("per-frame EPDMS")
    ax.set_ylim(-0.05, 1.05)
    ax.set_title("Distribution of per-frame EPDMS")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    save_fig(fig, path)
    return True


def _plot_over_time(runs: list[Run], path: Path) -> bool:
    scenes = sorted({r.scene for r in runs if r.scores and r.scores["per_step"]["t_s"]})
    if not scenes:
        return False
    fig, axes = plt.subplots(len(scenes), 1, figsize=(8, 2.8 * len(scenes)), dpi=100, squeeze=False)
    for ax, scene in zip(axes[:, 0], scenes):
        for r in runs:
            if r.scene == scene and r.scores and r.scores["per_step"]["t_s"]:
                ax.step(r.scores["per_step"]["t_s"], r.scores["per_step"]["epdms"], where="post", label=r.policy,
                        marker=".")
        ax.set_ylim(-0.05, 1.05)
        ax.set_ylabel("EPDMS")
        ax.set_title(scene)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower left")
    axes[-1, 0].set_xlabel("time since episode start (s)")
    fig.tight_layout()
    save_fig(fig, path)
    return True


# ---- the document ----------------------------------------------------------------------------------


def _blocks(runs: list[Run], figures: dict[str, str]) -> list[tuple]:
    blocks: list[tuple] = [("h1", "splatsim report")]
    scored = [r for r in runs if r.scores]
    blocks.append(("p", f"{len(runs)} run(s), {len(scored)} with closed-loop scores. EPDMS is NAVSIM v2's extended "
                        "PDM score (NC x DAC x DDC x TLC x (5 EP + 5 TTC + 2 LK + 2 HC + 2 EC) / 16), computed every "
                        "0.5 s on the 4 s the ego actually drove from that frame; 1 is best."))
    # policies x scenes
    scenes = sorted({r.scene for r in runs})
    policies = sorted({r.policy for r in runs})
    cell: dict[tuple[str, str], list[float]] = {}
    for r in scored:
        if r.scores.get("epdms_mean") is not None:
            cell.setdefault((r.policy, r.scene), []).append(r.scores["epdms_mean"])
    blocks.append(("h2", "Mean EPDMS, policies x scenes"))
    blocks.append(("table", ["policy"] + scenes + ["mean"],
                   [[p] + [fmt(float(np.mean(cell[(p, s)]))) if (p, s) in cell else "-" for s in scenes]
                    + [fmt(float(np.mean([v for (pp, _), vs in cell.items() if pp == p for v in vs])))
                       if any(pp == p for pp, _ in cell) else "-"] for p in policies]))
    blocks.append(("h2", "Closed-loop scores per run"))
    rows = []
    for r in runs:
        s = r.scores or {}
        rows.append([r.label, r.scene, r.policy, fmt(s.get("epdms_mean")), fmt(s.get("route_completion",
                     r.metrics.get("route_completion"))), fmt(s.get("at_fault_collisions",
                     r.metrics.get("at_fault_collisions"))), fmt((s.get("neuroncap") or {}).get("score"), 2),
                     fmt((s.get("hugsim") or {}).get("hd_score")),
                     fmt((s.get("bench2drive") or {}).get("driving_score"))])
    blocks.append(("table", ["run", "scene", "policy", "EPDMS", "route completion", "at-fault collisions",
                             "NeuroNCAP (0-5)", "HUGSIM HD-Score", "Bench2Drive DS"], rows))
    blocks.append(("h2", "EPDMS sub-scores (mean over frames)"))
    blocks.append(("table", ["run"] + [METRIC_LABELS[k] for k in METRIC_NAMES] + ["frames"],
                   [[r.label] + [fmt(r.scores["subscores_mean"].get(k)) for k in METRIC_NAMES]
                    + [fmt(r.scores.get("frames"))] for r in scored]))
    if figures:
        blocks.append(("h2", "Plots"))
        for caption, src in figures.items():
            blocks.append(("img", src, caption))
    blocks.append(("h2", "Why points were lost"))
    for r in runs:
        blocks.append(("h3", f"{r.label}: {r.policy} on {r.scene}"))
        for note in r.notes:
            blocks.append(("p", f"Note: {note}"))
        if not r.scores:
            continue
        s = r.scores
        facts = [f"route completion {fmt(s['route_completion'])}", f"{s['at_fault_collisions']} at-fault collision(s)"]
        ncap = s.get("neuroncap") or {}
        if ncap.get("collided"):
            facts.append(f"first impact at {fmt(ncap.get('impact_speed_mps'), 1)} m/s against a reference of "
                         f"{fmt(ncap.get('reference_impact_speed_mps'), 1)} m/s ({ncap.get('reference')})")
        blocks.append(("p", "; ".join(facts) + "."))
        events = s.get("events", [])
        items = []
        for e in events[:MAX_EVENTS_PER_RUN]:
            span = (f" (lost on the frames from {e['t_start_s']:.1f} s to {e['t_end_s']:.1f} s)" if e["frames"] > 1
                    else "")
            items.append(e["sentence"] + span)
        if len(events) > MAX_EVENTS_PER_RUN:
            items.append(f"... and {len(events) - MAX_EVENTS_PER_RUN} more runs of lost points")
        blocks.append(("ul", items) if items else ("p", "No points lost on any frame."))
        worst = r.snapshots or [{**w, "image": None} for w in s.get("worst_frames", [])]
        if worst:
            blocks.append(("h4", "Worst frames"))
            for w in worst:
                blocks.append(("p", f"t={w['t_s']:.1f} s (step {w['step']}), EPDMS {w['epdms']:.3f}: "
                                    + ("; ".join(w["reasons"]) or "no lost points")))
                if w.get("image"):
                    blocks.append(("img", w["image"],
                                   f"{r.label}: the state that explains the frame at t={w['t_s']:.1f} s"))
    return blocks


def write_report(run_dirs: list[Path], out_dir: Path, snapshots: int = 3) -> Path:
    """Write out_dir/report.md, out_dir/report.html and out_dir/img/*.png; return report.md's path."""
    if not run_dirs:
        raise ConfigError("name at least one run directory (each holding metrics.json)")
    out_dir = Path(out_dir)
    img = out_dir / "img"
    img.mkdir(parents=True, exist_ok=True)
    cache: dict = {}
    runs = [load_run(Path(d), cache, img, snapshots) for d in run_dirs]
    labels = [r.label for r in runs]
    for r in runs:  # distinct labels for runs in same-named folders
        if labels.count(r.label) > 1:
            r.label = f"{r.path.parent.name}/{r.path.name}"
    figures = {}
    if _plot_distributions(runs, img / "epdms_distribution.png"):
        caption = "Per-frame EPDMS of each run (box: quartiles, triangle: mean, dots: frames)"
        figures[caption] = "img/epdms_distribution.png"
    if _plot_over_time(runs, img / "epdms_over_time.png"):
        figures["Per-frame EPDMS over time, one panel per scene"] = "img/epdms_over_time.png"
    return write_blocks(out_dir, "report", _blocks(runs, figures), "splatsim report")

"""The Markdown + HTML report of a pseudo-simulation run (`splatsim score`)."""

from __future__ import annotations

from pathlib import Path

from evaluation.reports.document import METRIC_LABELS, fmt, write_blocks
from evaluation.scoring import PseudoSimRun
from sim.scoring.epdms import METRIC_NAMES
from sim.scoring.traffic import Traffic

MAX_WARNINGS_LISTED = 40


def _warning_blocks(warnings: list[str], what: str) -> list[tuple]:
    if not warnings:
        return []
    items = warnings[:MAX_WARNINGS_LISTED]
    if len(warnings) > MAX_WARNINGS_LISTED:
        items.append(f"... and {len(warnings) - MAX_WARNINGS_LISTED} more (pseudo_sim.json lists them all)")
    return [("h2", "WARNING: stage-two weights vanished"),
            ("p", f"{len(warnings)} group(s) {what} ended farther from every stage-two start than the proximity kernel "
                  "can see (all unnormalised weights below the threshold). Their stage-two term is not a proximity-"
                  "weighted score; the fallback is named in each line. Widen the start grid (--longitudinal, "
                  "--lateral) or sigma^2 (--sigma2) to cover where these plans end."),
            ("ul", items)]


def traffic_sentence(traffic: Traffic) -> str:
    """How a report says which traffic the scored rollouts met."""
    if traffic is Traffic.REACTIVE:
        return ("reactive: in both stages the vehicles of each plan's rollout follow the IDM and react to the "
                "ego's simulated states (NAVSIM v2's two-stage default).")
    return "log-replay: in both stages the actors replay the log, whatever the plan does."


# ---- splatsim score -----------------------------------------------------------------------------------


def score_blocks(run: PseudoSimRun) -> list[tuple]:
    s = run.settings
    st, ps, fr, rd = s.stage_two, s.pseudo, s.frames, s.render
    blocks: list[tuple] = [("h1", "splatsim pseudo-simulation report")]
    blocks.append(("p", "Pseudo-simulation (NAVSIM v2): stage one scores each policy's 4 s plan from the real frame; "
                        "stage two scores its plans from synthetic start states rendered 4 s later; the stage-two "
                        "scores are weighted by exp(-d^2 / (2 sigma^2)), d the distance from the end of the stage-one "
                        "plan to each start. Score = stage one x weighted stage two, averaged over the frame and the "
                        "frame 0.5 s earlier, then over frames. EPDMS: 1 is best."))
    blocks.append(("p", f"Traffic: {traffic_sentence(s.traffic)}"))
    blocks += _warning_blocks(list(run.warnings), "of stage-one plans")
    blocks.append(("h2", "Scores per policy"))
    rows = []
    for name, p in run.policies.items():
        a = p.aggregate
        rows.append([name, a["scenarios"], a["frames"], fmt(a["score"]), fmt(a["stage_one_epdms"]),
                     fmt(a["stage_two_epdms_weighted"]), f"{a['groups_weights_vanished']}/{a['groups']}",
                     a["frames_without_score"]])
    blocks.append(("table", ["policy", "scenarios", "frames", "pseudo-sim EPDMS", "stage one (open-loop) EPDMS",
                             "stage two (weighted)", "groups with vanished weights", "frames without score"], rows))
    blocks.append(("h2", "Per scenario"))
    rows = []
    for name, p in run.policies.items():
        for sc in p.scenarios:
            a = sc.summary()
            rows.append([name, sc.scene, a.frames, fmt(a.score), fmt(a.stage_one_epdms),
                         fmt(a.stage_two_epdms_weighted), f"{a.groups_weights_vanished}/{a.groups}"])
    blocks.append(("table", ["policy", "scene", "frames", "pseudo-sim", "stage one", "stage two", "vanished groups"],
                   rows))
    blocks.append(("h2", "Sub-scores (mean over frames and groups)"))
    for stage, key in (("Stage one", "stage_one_subscores"), ("Stage two (proximity-weighted)",
                                                              "stage_two_subscores_weighted")):
        blocks.append(("h4", stage))
        blocks.append(("table", ["policy"] + [METRIC_LABELS[k] for k in METRIC_NAMES],
                       [[name] + [fmt((p.aggregate.get(key) or {}).get(k)) for k in METRIC_NAMES]
                        for name, p in run.policies.items()]))
    blocks.append(("h2", "Stage-two starts and their observations"))
    blocks.append(("p", f"Starts: {st.mode} ("
                        + (f"lateral {list(st.lateral_offsets_m)} m x longitudinal {list(st.longitudinal_offsets_m)} m "
                           f"x heading {list(st.heading_offsets_rad)} rad x speed {list(st.speed_offsets_mps)} m/s"
                           if st.mode == "grid" else f"{st.num_samples} samples, seed {st.seed}")
                        + f"; speed +{st.speed_per_longitudinal} m/s per metre ahead; off-road starts dropped: "
                          f"{st.drop_off_road}). Thumbnails: front camera of the 4 s starts ({rd.width}x"
                          f"{rd.height}, {rd.backend}). Weights and EPDMS of each policy's plans from each start:"))
    names = list(run.policies)
    frames_of = {name: [sc.frame_dicts() for sc in p.scenarios] for name, p in run.policies.items()}
    for si, sc in enumerate(run.policies[names[0]].scenarios):
        shown = [f for f in frames_of[names[0]][si]
                 if f.get("stage_one_thumbnail") or any(r.get("thumbnail") for r in f["starts"])]
        for frame in shown[:3]:
            blocks.append(("h3", f"{sc.scene}, frame t={frame['t_s']:.1f} s (step {frame['step']})"))
            headers = ["start", "made by", "lon m", "lat m", "dyaw rad", "dv m/s", "speed m/s"]
            for name in names:
                headers += [f"{name}: weight", f"{name}: EPDMS"]
            rows = []
            for i, start in enumerate(frame["starts"]):
                # rollout starts have no offsets around the log
                row = [i, start["label"], *(start.get(k, "") for k in ("longitudinal_m", "lateral_m",
                                                                        "heading_offset_rad", "speed_offset_mps")),
                       start["now"]["speed_mps"]]
                for name in names:
                    pf = _frame_of(frames_of[name][si], frame["step"])
                    row += [fmt(pf["now"]["weights"][i] if pf else None), fmt(pf["now"]["stage_two_epdms"][i]
                                                                                 if pf else None)]
                rows.append(row)
            blocks.append(("table", headers, rows))
            ends = []
            for name in names:
                pf = _frame_of(frames_of[name][si], frame["step"])
                if pf:
                    ends.append(f"{name}: plan ends {pf['now']['nearest_distance_m']:.2f} m from start "
                                f"{pf['now']['nearest']}" + (" (WEIGHTS VANISHED)" if pf["now"]["weights_vanished"]
                                                              else ""))
            blocks.append(("ul", ends))
            items = []
            if frame.get("stage_one_thumbnail"):
                items.append((frame["stage_one_thumbnail"], "stage one: the logged frame"))
            for i, start in enumerate(frame["starts"]):
                if start.get("thumbnail"):
                    where = start["label"] if "longitudinal_m" not in start else (
                        f"lon {start['longitudinal_m']:+.1f} m, lat {start['lateral_m']:+.1f} m, "
                        f"dyaw {start['heading_offset_rad']:+.2f}")
                    caption = f"start {i}: {where}, {start['now']['speed_mps']:.1f} m/s"
                    items.append((start["thumbnail"], caption))
            if items:
                blocks.append(("gallery", items))
    blocks.append(("h2", "Run"))
    t, c = run.throughput, run.cache
    blocks.append(("ul", [f"{t.scenarios} scenario(s) in {t.wall_s:.1f} s: {fmt(t.scenarios_per_minute, 2)} "
                          f"scenarios per minute (workers: {t.workers or 'in-process'}"
                          + (f", Ray at {t.ray_address}" if t.ray_address else "") + ")",
                          f"observation cache: {c['hits']} hits, {c['misses']} misses, {c['renders']} renders, "
                          f"{c['corrupt']} corrupt files re-rendered; renderer {run.renderer_version}",
                          f"frames: every {fr.stride_s:g} s from {fr.first_frame_s:g} s, at most "
                          f"{fr.max_frames} per scenario; sigma^2 = {ps.sigma_squared_m2:g} m^2; vanished "
                          f"weights: sum <= {ps.vanish_threshold:g}, then {ps.on_vanished}",
                          f"cameras {', '.join(rd.cameras)} at {rd.width}x{rd.height}",
                          f"machine: {run.machine.get('cpu')} ({run.machine.get('cores')} cores)"]))
    return blocks


def _frame_of(frames: list[dict], step: int) -> dict | None:
    return next((f for f in frames if f["step"] == step), None)


def write_score_report(run: PseudoSimRun, out_dir: Path) -> Path:
    """out_dir/report.md and report.html of a pseudo-simulation run; returns report.md."""
    return write_blocks(Path(out_dir), "report", score_blocks(run), "splatsim pseudo-simulation report")

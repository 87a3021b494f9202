"""Closed-loop scores of a whole episode: EPDMS sub-metrics over the realised trajectory, route
completion, at-fault collisions, NeuroNCAP, HUGSIM's HD-Score and a Bench2Drive-style driving
score. `episode_scores(episode, data) -> EpisodeScores`; its `to_json()` is metrics.json's "scores".

Per-frame EPDMS (`sim.scoring.epdms`), on frames every 0.5 s (NAVSIM's and HUGSIM's 2 Hz
frames): the window is the 4 s of states the ego actually reached from that frame (fewer at the
episode's end, at least 1 s), against the actors as the episode recorded them (replayed or
reactive). NC, DAC, DDC, TTC, LK and HC (with the episode's own past 1.5 s) are computed on
that window; EP compares its progress with the reference planner run from the frame's state
(PDM-Closed-style, as for proposals); EC compares the policy's plans made 0.5 s apart (each
tracked from its frame's state), since the realised windows of two frames coincide on their
overlap. The human filter does not apply (the ego is not at the logged state).

Other scores (sources):
- route_completion: `sim.metrics.route_completion` (progress along the route over the logged
  ego's progress, clipped to [0, 1]).
- NeuroNCAP (Ljungbergh et al., "NeuroNCAP: Photorealistic Closed-loop Safety Testing for
  Autonomous Driving", ECCV 2024; atonderski/neuro-ncap docs/evaluation-protocol-overview.md):
  5 without a collision, else 4 * max(0, 1 - v_i / v_r), v_i the impact speed (magnitude of the
  relative velocity at impact), v_r the impact speed had no action been taken. Here a collision
  is the engine's first at-fault collision (contacts the ego cannot be blamed for, such as a
  replayed car driving into the stopped ego, do not count), and "no action" is the ego holding
  its speed and heading from the episode's first state against the same actor's recorded track;
  if that never reaches the actor, v_r is the ego's initial speed (driving into a standing
  obstacle without braking).
- HUGSIM HD-Score (Zhou et al., "HUGSIM: A Real-Time, Photo-Realistic and Closed-Loop Simulator
  for Autonomous Driving", arXiv:2412.01718; its sim/utils/score_calculator.py): the mean over
  frames of NC * DAC * (5 TTC + 2 C) / 7 (C: comfort, here HC), times route completion.
- Bench2Drive-style driving score (Jia et al., "Bench2Drive", NeurIPS 2024 D&B; CARLA
  leaderboard 2.x, leaderboard.carla.org/evaluation_v2_1): route completion times the product of
  a penalty per infraction: collision with a pedestrian 0.50, a vehicle (cyclists included, as
  CARLA's two-wheelers are vehicles) 0.60, a static object 0.65; red lights (0.70) and stop signs
  (0.80) cannot be detected on our maps (no signals) and are not scored. Off-road driving does not
  multiply: as in CARLA, the share of the route driven off-road is taken off route completion.
  Collisions are the engine's at-fault ones (each actor once).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from sim.dynamics.bicycle import ACCEL, SPEED, YAW
from sim.engine import Episode, SimContext
from sim.geometry import global_to_local_xy, wrap_angle
from sim.metrics import route_completion
from sim.scoring.comfort import extended_comfort, history_kinematics, kinematics_from_states
from sim.scoring.epdms import (
    COLLISION_TYPE_NAMES,
    METRIC_NAMES,
    EPDMSConfig,
    EPDMSResult,
    ScoringData,
    assemble_result,
    evaluate_window,
    proposal_states,
    reference_baseline,
    stop_controls,
)
from sim.types.state import EgoState

SCORES_VERSION = 1


@dataclass(frozen=True)
class CollisionEvent:
    """One at-fault collision of the episode: step, t_s (since the episode's start), actor (-1
    unknown), category, kind ("collision_vehicle" | "collision_pedestrian" | "collision_static"),
    collision_type (NAVSIM's, e.g. "front"), impact_speed_mps."""

    step: int
    t_s: float
    actor: int
    category: str
    kind: str
    collision_type: str
    impact_speed_mps: float

    def to_json(self) -> dict:
        return {"step": self.step, "t_s": self.t_s, "actor": self.actor, "category": self.category, "kind": self.kind,
                "collision_type": self.collision_type, "impact_speed_mps": self.impact_speed_mps}


@dataclass(frozen=True)
class NeuroNCAPScore:
    """NeuroNCAP's score (see the module docstring): score, whether the ego collided, the impact
    speed and the reference's, how the reference was found ("no-action rollout" | "initial ego
    speed", None without a collision), the actor hit (-1), its category and t_s (None without a
    collision)."""

    score: float
    collided: bool
    impact_speed_mps: float
    reference_impact_speed_mps: float | None
    reference: str | None
    actor: int
    category: str
    t_s: float | None = None

    def to_json(self) -> dict:
        out = {"score": self.score, "collided": self.collided, "impact_speed_mps": self.impact_speed_mps,
               "reference_impact_speed_mps": self.reference_impact_speed_mps, "reference": self.reference,
               "actor": self.actor, "category": self.category}
        if self.collided:
            out["t_s"] = self.t_s
        return out


@dataclass(frozen=True)
class Infraction:
    """A Bench2Drive infraction: the collision and its penalty coefficient."""

    event: CollisionEvent
    penalty: float

    def to_json(self) -> dict:
        return {**self.event.to_json(), "penalty": self.penalty}


@dataclass(frozen=True)
class Bench2DriveScore:
    """The Bench2Drive-style driving score (see the module docstring): driving_score =
    route_completion (off-road share taken off) * infraction_penalty; off_road_m driven off the
    road, off_road_route_share of the route; infractions."""

    driving_score: float
    route_completion: float
    infraction_penalty: float
    off_road_m: float
    off_road_route_share: float
    infractions: tuple[Infraction, ...]

    def to_json(self) -> dict:
        return {"driving_score": self.driving_score, "route_completion": self.route_completion,
                "infraction_penalty": self.infraction_penalty, "off_road_m": self.off_road_m,
                "off_road_route_share": self.off_road_route_share,
                "infractions": [i.to_json() for i in self.infractions]}


@dataclass(frozen=True)
class HugsimScore:
    """HUGSIM's HD-Score: hd_score = pdms_mean * route_completion."""

    hd_score: float
    pdms_mean: float
    route_completion: float

    def to_json(self) -> dict:
        return {"hd_score": self.hd_score, "pdms_mean": self.pdms_mean, "route_completion": self.route_completion}


@dataclass(frozen=True)
class PerStepScores:
    """The scored frames' step, t_s, epdms and sub-scores (each (F,), rounded to 4 digits)."""

    step: tuple[int, ...]
    t_s: tuple[float, ...]
    epdms: tuple[float, ...]
    nc: tuple[float, ...]
    dac: tuple[float, ...]
    ddc: tuple[float, ...]
    tlc: tuple[float, ...]
    ep: tuple[float, ...]
    ttc: tuple[float, ...]
    lk: tuple[float, ...]
    hc: tuple[float, ...]
    ec: tuple[float, ...]

    def to_json(self) -> dict:
        return {f.name: list(getattr(self, f.name)) for f in dataclasses.fields(self)}


@dataclass(frozen=True)
class ScoreEvent:
    """A run of consecutive frames losing the same metric: its first sentence and time span."""

    metric: str
    t_start_s: float
    t_end_s: float
    frames: int
    sentence: str

    def to_json(self) -> dict:
        return {"metric": self.metric, "t_start_s": self.t_start_s, "t_end_s": self.t_end_s, "frames": self.frames,
                "sentence": self.sentence}


@dataclass(frozen=True)
class WorstFrame:
    """One of the lowest-scoring frames: index (state), snapshot_index (the state that shows why),
    step, t_s, epdms, reasons (sentences)."""

    index: int
    snapshot_index: int
    step: int
    t_s: float
    epdms: float
    reasons: tuple[str, ...]

    def to_json(self) -> dict:
        return {"index": self.index, "snapshot_index": self.snapshot_index, "step": self.step, "t_s": self.t_s,
                "epdms": self.epdms, "reasons": list(self.reasons)}


@dataclass(frozen=True)
class EpisodeScores:
    """Every closed-loop score of an episode (see the module docstring). epdms_mean is None and
    subscores_mean empty without a scored frame."""

    version: int
    frames: int
    frame_stride_s: float
    epdms_mean: float | None
    subscores_mean: dict[str, float]
    progress_computed: bool
    route_completion: float
    at_fault_collisions: int
    collisions: tuple[CollisionEvent, ...]
    max_impact_speed_mps: float
    neuroncap: NeuroNCAPScore
    hugsim: HugsimScore
    bench2drive: Bench2DriveScore
    per_step: PerStepScores
    events: tuple[ScoreEvent, ...]
    worst_frames: tuple[WorstFrame, ...]

    def to_json(self) -> dict:
        return {"version": self.version, "frames": self.frames, "frame_stride_s": self.frame_stride_s,
                "epdms_mean": self.epdms_mean, "subscores_mean": dict(self.subscores_mean),
                "progress_computed": self.progress_computed, "route_completion": self.route_completion,
                "at_fault_collisions": self.at_fault_collisions, "collisions": [c.to_json() for c in self.collisions],
                "max_impact_speed_mps": self.max_impact_speed_mps, "neuroncap": self.neuroncap.to_json(),
                "hugsim": self.hugsim.to_json(), "bench2drive": self.bench2drive.to_json(),
                "per_step": self.per_step.to_json(), "events": [e.to_json() for e in self.events],
                "worst_frames": [w.to_json() for w in self.worst_frames]}


@dataclass(frozen=True)
class EpisodeScoreConfig:
    """Settings of the closed-loop scores.

    - epdms: the EPDMS constants.
    - frame_stride_steps: frames are scored every this many steps (5 = 0.5 s, NAVSIM's and
      HUGSIM's 2 Hz frames); min_window_steps: a frame needs at least this many steps of
      realised future (10 = 1 s; later frames are covered by earlier windows).
    - with_progress: run the reference planner for EP at every frame (about 30 ms a frame);
      without it EP is 1 (reported as not computed).
    - neuroncap_no_collision (5), neuroncap_collision_scale (4): NeuroNCAP's constants.
    - hugsim_ttc_weight (5), hugsim_comfort_weight (2): HUGSIM's per-frame weights.
    - penalty_pedestrian (0.50), penalty_vehicle (0.60), penalty_static (0.65): Bench2Drive /
      CARLA leaderboard infraction coefficients.
    - worst_frames: how many lowest-scoring frames are listed for reports.
    """

    epdms: EPDMSConfig = field(default_factory=EPDMSConfig)
    frame_stride_steps: int = 5
    min_window_steps: int = 10
    with_progress: bool = True
    neuroncap_no_collision: float = 5.0
    neuroncap_collision_scale: float = 4.0
    hugsim_ttc_weight: float = 5.0
    hugsim_comfort_weight: float = 2.0
    penalty_pedestrian: float = 0.50
    penalty_vehicle: float = 0.60
    penalty_static: float = 0.65
    worst_frames: int = 3


def _ego_at(episode: Episode, i: int) -> EgoState:
    return EgoState(float(episode.ego_xy[i, 0]), float(episode.ego_xy[i, 1]), float(episode.ego_yaw_rad[i]),
                    float(episode.ego_speed_mps[i]), float(episode.ego_accel_mps2[i]), float(episode.ego_steer_rad[i]),
                    float(episode.ego_yaw_rate_radps[i]))


def _episode_states(episode: Episode) -> np.ndarray:
    return np.stack([episode.ego_xy[:, 0], episode.ego_xy[:, 1], episode.ego_yaw_rad, episode.ego_speed_mps,
                     episode.ego_accel_mps2, episode.ego_steer_rad], -1)


def _plan_proposal(episode: Episode, i: int) -> tuple[np.ndarray, np.ndarray]:
    """The plan recorded at state i as (40, 2) xy and (40,) yaw in that state's ego frame, with
    the headings the policy planned (a heading from the plan's displacements would be noise where
    the plan stands or creeps, and its first step from the ego the tracking offset)."""
    ego_xy = episode.ego_xy[i]
    yaw0 = float(episode.ego_yaw_rad[i])
    return global_to_local_xy(episode.plan_xy[i], ego_xy, yaw0), wrap_angle(episode.plan_yaw_rad[i] - yaw0)


def _t(episode: Episode, i: int) -> float:
    return round(float(episode.t_us[i] - episode.t_us[0]) * 1e-6, 3)


def episode_frame_results(episode: Episode, data: ScoringData,
                          config: EpisodeScoreConfig = EpisodeScoreConfig()) -> list[tuple[int, EPDMSResult]]:
    """(state index, EPDMSResult) of every scored frame of the episode's realised trajectory."""
    cfg = config.epdms
    sc = data.scenario
    states = _episode_states(episode)
    s_count = len(states)
    h = cfg.horizon_steps
    hist_n = int(round(cfg.comfort.history_s / cfg.dt_s))
    plans: dict[int, np.ndarray] = {}
    out = []
    for i in range(0, s_count, config.frame_stride_steps):
        n = min(h, s_count - 1 - i) + 1
        if n - 1 < config.min_window_steps:
            break
        window = states[i:i + n]
        act = (episode.actor_xy[i:i + n], episode.actor_yaw_rad[i:i + n], episode.actor_speed_mps[i:i + n],
               episode.actor_valid[i:i + n])
        lo = max(i - hist_n, 0)
        history = history_kinematics(states[lo:i + 1, YAW], states[lo:i + 1, SPEED], states[lo:i + 1, ACCEL],
                                     episode.ego_yaw_rate_radps[lo:i + 1], cfg.dt_s, cfg.comfort)
        hint = float(episode.route_s_m[i]) + data.route.offset_m
        step = int(episode.step_index[i])
        m = evaluate_window(data, window, *act, hint, cfg, history=history, full=True,
                            stops=stop_controls(data, cfg), step_index=step)
        ego = _ego_at(episode, i)
        if config.with_progress:
            # The reference plans over the same span as the realised window (shorter at the end).
            ref_cfg = cfg if n == h + 1 else dataclasses.replace(cfg, horizon_steps=n - 1)
            ref_progress = reference_baseline(data, ego, hint, *act, sc.ego_params, ref_cfg, step_index=step)[0]
        else:
            ref_progress = m.progress_m * m.multiplier
        ec = None
        if episode.plan_valid[i]:
            plans[i] = proposal_states(*_plan_proposal(episode, i), ego, data, sc.ego_params, cfg)
            prev = i - int(round(cfg.comfort.ec_interval_s / cfg.dt_s))
            if prev in plans:
                wheelbase = data.ego_box.wheelbase_m
                ec = extended_comfort(kinematics_from_states(plans[i], wheelbase, cfg.dt_s),
                                      kinematics_from_states(plans[prev], wheelbase, cfg.dt_s), i - prev, cfg.dt_s,
                                      cfg.comfort)
        result = assemble_result(step, m, ref_progress, ec, None, "not applicable", window, data,
                                 cfg)
        out.append((i, result))
    return out


# ---- NeuroNCAP and Bench2Drive --------------------------------------------------------------------


def _no_action_impact_speed(episode: Episode, context: SimContext, actor: int) -> float | None:
    """Relative speed at the first contact between the ego holding its initial speed and heading
    and `actor`'s recorded track; None when they never touch."""
    from sim.checks import obb_overlap

    p = context.scenario.ego_params
    size = context.scenario.actors.size_wlh_m[actor]
    x0, y0 = episode.ego_xy[0]
    yaw = float(episode.ego_yaw_rad[0])
    v = max(float(episode.ego_speed_mps[0]), 0.0)
    c, s = math.cos(yaw), math.sin(yaw)
    t0 = episode.t_us[0]
    for i in range(len(episode.t_us)):
        if not episode.actor_valid[i, actor]:
            continue
        t = (episode.t_us[i] - t0) * 1e-6
        cx = x0 + (v * t + p.rear_axle_to_center_m) * c
        cy = y0 + (v * t + p.rear_axle_to_center_m) * s
        ax, ay = episode.actor_xy[i, actor]
        ayaw = float(episode.actor_yaw_rad[i, actor])
        if obb_overlap(cx, cy, yaw, 0.5 * p.length_m, 0.5 * p.width_m, ax, ay, ayaw, 0.5 * size[1], 0.5 * size[0]):
            av = float(episode.actor_speed_mps[i, actor])
            return float(math.hypot(v * c - av * math.cos(ayaw), v * s - av * math.sin(ayaw)))
    return None


def _collision_kind_name(kind: int) -> str:
    return {0: "collision_vehicle", 1: "collision_pedestrian", 2: "collision_vehicle", 3: "collision_static"}[int(kind)]


def _collision_events(episode: Episode, context: SimContext) -> list[CollisionEvent]:
    tracks = context.scenario.actors
    events = []
    for i in np.flatnonzero(episode.at_fault_collision):
        a = int(episode.collided_actor[i])
        events.append(CollisionEvent(
            step=int(episode.step_index[i]), t_s=_t(episode, i), actor=a,
            category=str(tracks.category[a]) if a >= 0 else "",
            kind=_collision_kind_name(tracks.kind[a]) if a >= 0 else "collision_vehicle",
            collision_type=COLLISION_TYPE_NAMES.get(int(episode.collision_type[i]), "none"),
            impact_speed_mps=round(float(episode.impact_speed_mps[i]), 3)))
    return events


def neuroncap_score(episode: Episode, context: SimContext,
                    config: EpisodeScoreConfig = EpisodeScoreConfig()) -> NeuroNCAPScore:
    """NeuroNCAP's score of an episode (see the module docstring)."""
    events = _collision_events(episode, context)
    if not events:
        return NeuroNCAPScore(score=config.neuroncap_no_collision, collided=False, impact_speed_mps=0.0,
                              reference_impact_speed_mps=None, reference=None, actor=-1, category="")
    first = events[0]
    v_i = first.impact_speed_mps
    v_r = _no_action_impact_speed(episode, context, first.actor)
    reference = "no-action rollout"
    if v_r is None or v_r <= 0.0:
        v_r, reference = max(float(episode.ego_speed_mps[0]), 0.0), "initial ego speed"
    score = config.neuroncap_collision_scale * max(0.0, 1.0 - v_i / v_r) if v_r > 0 else 0.0
    return NeuroNCAPScore(score=round(score, 4), collided=True, impact_speed_mps=v_i,
                          reference_impact_speed_mps=round(v_r, 3), reference=reference, actor=first.actor,
                          category=first.category, t_s=first.t_s)


def bench2drive_score(episode: Episode, context: SimContext,
                      config: EpisodeScoreConfig = EpisodeScoreConfig()) -> Bench2DriveScore:
    """Bench2Drive-style driving score (see the module docstring)."""
    penalty_of = {"collision_pedestrian": config.penalty_pedestrian, "collision_vehicle": config.penalty_vehicle,
                  "collision_static": config.penalty_static}
    infractions = []
    penalty = 1.0
    for ev in _collision_events(episode, context):
        p = penalty_of[ev.kind]
        penalty *= p
        infractions.append(Infraction(ev, p))
    rc = route_completion(episode)
    step_m = np.zeros(len(episode.ego_xy))
    step_m[1:] = np.linalg.norm(np.diff(episode.ego_xy, axis=0), axis=1)
    off_road_m = float(step_m[episode.off_road].sum())
    expert = float(episode.route_end_s_m - episode.route_start_s_m)
    off_share = min(off_road_m / expert, 1.0) if expert > 1.0 else (1.0 if off_road_m > 0 else 0.0)
    rc_eff = max(rc - off_share, 0.0)
    return Bench2DriveScore(driving_score=round(rc_eff * penalty, 4), route_completion=round(rc_eff, 4),
                            infraction_penalty=round(penalty, 4), off_road_m=round(off_road_m, 3),
                            off_road_route_share=round(off_share, 4), infractions=tuple(infractions))


# ---- explanations ----------------------------------------------------------------------------------


def explain(result: EPDMSResult, t0_s: float = 0.0) -> list[tuple[str, str]]:
    """(metric, sentence) for every point group a result lost, with times t0_s + the event's
    offset in the window."""

    def at(offset: float) -> str:
        return f"t={t0_s + max(offset, 0.0):.1f} s"

    out = []
    r = result
    if r.nc < 1.0:
        out.append(("nc", f"NC={r.nc:g} at {at(r.collision_time_s)}: at-fault collision with {r.collision_category} "
                           f"({r.collision_type})"))
    if r.dac < 1.0:
        out.append(("dac", f"DAC=0 at {at(r.off_road_time_s)}: the footprint left the drivable area"))
    if r.ddc < 1.0:
        out.append(("ddc", f"DDC={r.ddc:g} at {at(r.oncoming_time_s)}: {r.oncoming_m:.1f} m driven outside lanes of "
                           "the route's direction within 1 s"))
    if r.tlc < 1.0:
        out.append(("tlc", f"TLC=0 at {at(r.red_light_time_s)}: crossed a stop line while it was red (a line where "
                           "the logged driver waited)"))
    if r.ttc < 1.0:
        out.append(("ttc", f"TTC=0 at {at(r.ttc_time_s)}: at its current velocity the ego would hit {r.ttc_category} "
                           f"within {r.ttc_projection_s:.1f} s"))
    if r.lk < 1.0:
        out.append(("lk", f"LK=0 at {at(r.lane_keeping_time_s)}: more than 0.5 m from the route centerline for 2 s "
                          f"(up to {r.lane_deviation_max_m:.1f} m)"))
    if r.hc < 1.0:
        name, value = r.hc_worst
        out.append(("hc", f"HC=0 at {at(r.hc_time_s)}: {', '.join(r.hc_failed)} outside comfort bounds "
                          f"(worst {name} {value:.2f})"))
    if r.ec < 1.0:
        name, value = r.ec_worst
        out.append(("ec", f"EC=0 at {at(0.0)}: the plan changed from 0.5 s earlier ({', '.join(r.ec_failed)}; "
                          f"{name} RMS difference {value:.2f})"))
    if r.ep < 0.999 and r.multiplier > 0.0:
        out.append(("ep", f"EP={r.ep:.2f} at {at(0.0)}: {r.progress_m:.1f} m of progress where the reference "
                          f"planner made {r.reference_progress_m:.1f} m"))
    return out


def _event_index(r: EPDMSResult, i: int, num_states: int, config: EpisodeScoreConfig) -> int:
    """The state that shows why a frame lost points: its first collision, off-road, wrong-way,
    red-line or TTC event (in that order of precedence), else the frame itself."""
    for lost, offset in ((r.nc < 1.0, r.collision_time_s), (r.dac < 1.0, r.off_road_time_s),
                         (r.ddc < 1.0, r.oncoming_time_s), (r.tlc < 1.0, r.red_light_time_s),
                         (r.ttc < 1.0, r.ttc_time_s)):
        if lost and offset >= 0:
            return int(min(i + round(offset / config.epdms.dt_s), num_states - 1))
    return int(i)


def _group_events(frames: list[tuple[float, EPDMSResult]]) -> list[ScoreEvent]:
    """One entry per run of consecutive frames losing the same metric: first sentence, time span."""
    runs: dict[str, dict] = {}
    out = []
    for idx, (t, r) in enumerate(frames):
        lost = dict(explain(r, t))
        for metric in list(runs):
            if metric not in lost:
                out.append(runs.pop(metric))
        for metric, sentence in lost.items():
            if metric in runs:
                runs[metric]["t_end_s"] = t
                runs[metric]["frames"] += 1
            else:
                runs[metric] = {"metric": metric, "t_start_s": t, "t_end_s": t, "frames": 1, "sentence": sentence}
    out.extend(runs.values())
    out.sort(key=lambda e: (e["t_start_s"], METRIC_NAMES.index(e["metric"])))
    return [ScoreEvent(**e) for e in out]


# ---- the whole episode ------------------------------------------------------------------------------


def episode_scores(episode: Episode, data: ScoringData,
                   config: EpisodeScoreConfig = EpisodeScoreConfig()) -> EpisodeScores:
    """Every closed-loop score of an episode (see the module docstring) on the ScoringData of the
    episode's context."""
    context = data.context
    frames = episode_frame_results(episode, data, config)
    rc = route_completion(episode)
    times = [_t(episode, i) for i, _ in frames]
    results = [r for _, r in frames]
    per_step = PerStepScores(step=tuple(r.step_index for r in results), t_s=tuple(times),
                             epdms=tuple(round(r.epdms, 4) for r in results),
                             **{k: tuple(round(getattr(r, k), 4) for r in results) for k in METRIC_NAMES})
    c = config
    hugsim_frames = [r.nc * r.dac * (c.hugsim_ttc_weight * r.ttc + c.hugsim_comfort_weight * r.hc)
                     / (c.hugsim_ttc_weight + c.hugsim_comfort_weight) for r in results]
    hugsim_mean = float(np.mean(hugsim_frames)) if hugsim_frames else 0.0
    order = np.argsort([r.epdms for r in results], kind="stable")
    worst, used = [], []
    min_gap = 2 * config.frame_stride_steps
    for j in order:
        if len(worst) >= config.worst_frames or results[j].epdms >= 1.0:
            break
        i = frames[j][0]
        if any(abs(i - u) < min_gap for u in used):
            continue
        used.append(i)
        worst.append(WorstFrame(index=int(i),
                                snapshot_index=_event_index(results[j], i, len(episode.step_index), config),
                                step=results[j].step_index, t_s=times[j], epdms=round(results[j].epdms, 4),
                                reasons=tuple(s for _, s in explain(results[j], times[j]))))
    collisions = _collision_events(episode, context)
    max_impact = round(float(episode.impact_speed_mps.max()), 3) if len(episode.impact_speed_mps) else 0.0
    return EpisodeScores(
        version=SCORES_VERSION,
        frames=len(results),
        frame_stride_s=round(config.frame_stride_steps * config.epdms.dt_s, 3),
        epdms_mean=round(float(np.mean([r.epdms for r in results])), 4) if results else None,
        subscores_mean={k: round(float(np.mean([getattr(r, k) for r in results])), 4) for k in METRIC_NAMES}
        if results else {},
        progress_computed=config.with_progress,
        route_completion=round(rc, 4),
        at_fault_collisions=len(collisions),
        collisions=tuple(collisions),
        max_impact_speed_mps=max_impact,
        neuroncap=neuroncap_score(episode, context, config),
        hugsim=HugsimScore(hd_score=round(hugsim_mean * rc, 4), pdms_mean=round(hugsim_mean, 4),
                           route_completion=round(rc, 4)),
        bench2drive=bench2drive_score(episode, context, config),
        per_step=per_step,
        events=tuple(_group_events(list(zip(times, results)))),
        worst_frames=tuple(worst),
    )

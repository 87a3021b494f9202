"""Pseudo-simulation frames and stage-two start states (pure: no rendering, no policies).

Frames. `select_frames` picks the log steps k that pseudo-simulation scores: from `first_frame_s`
every `stride_s`, at most `max_frames`, each with its "prev" frame k - 0.5 s logged and the whole
span k - 0.5 s .. k + 8 s logged (stage one scores 4 s from k; stage two scores 4 s from k + 4 s).

Start states (mode "rollout", the default). NAVSIM v2's follow-up scenes are rollouts of
different 4 s plans from the original frame, each giving a pair of synthetic scenes 0.5 s apart:
the "now" group is weighted by the distance of the stage-one plan's end to each pair's first
scene, the "prev" group to its second (navsim/planning/script/run_pdm_score.py reads the pairs
from `reactive_all_mapping`; scene_aggregator.py `SceneAggregator.aggregate_scores` and
`calculate_pseudo_closed_loop_weights`; 10 to 14 pairs per frame). Here the plans are a fixed,
policy-independent family, each tracked from the logged ego at k by the engine's tracker and
bicycle (`sim.scoring.epdms.proposal_states`) for the 4 s horizon:

- the reference planner's proposals (PDM-Closed's IDM at every speed fraction x lateral offset
  of `EPDMSConfig.reference`, as `frame_baseline` rolls them out: stopping for leaders and red
  lines on its constant-velocity forecast);
- brake (the reference planner's maximum deceleration, to a standstill), hold (the logged
  speed) and accelerate (its maximum acceleration), along the route centerline;
- the log itself: the logged ego from k, the scene that NAVSIM's synthetic scenes are made
  around (like every other member it does not depend on the policy scored).

Each rollout's state 3.5 s after k starts the "prev" group (log step k + 35, 4 s after the prev
frame k - 5) and its state at 4 s the "now" group (k + 40): the pair is one rollout 0.5 s apart,
so EC compares the two plans of start i as NAVSIM compares a synthetic pair. A start carries the
rollout's own acceleration, steering and yaw rate, and its history for HC is the motion that led
to it: the log up to k, then the rollout, sampled as NAVSIM samples a history
(`history_kinematics`, `StartGroup.history`). Rollouts whose pairs lie within `min_separation_m`
of an earlier one in both groups are the same start (brake and hold at a standstill, IDM
proposals capped by one leader, the log where a proposal drives as it did) and merged.

Other modes. "grid" and "sample" place starts by four offsets around the log at k + 40 and
k + 35 (the same offsets in both groups):

- longitudinal (m): along the logged path (arclength, so starts follow curves; straight on past
  the log's end);
- lateral (m): perpendicular to the path there, positive to the left;
- heading (rad): added to the path's heading there;
- speed (m/s): added to the logged speed there, plus `speed_per_longitudinal` x the longitudinal
  offset (a car 4 m ahead of the log after 4 s drove about 2 m/s faster: d = dv * 4 s / 2 under
  a constant speed difference built up linearly).

"grid" is the product of the four offset lists (3 lateral x 3 longitudinal = 9 starts); "sample"
draws `num_samples` offsets uniformly from the ranges (seeded by the config's seed, the
scenario's name and the frame), the first one being the logged pose itself. Their history is
the log carried over by the offsets: at each step of the history before the start, the start
those offsets give there, with the log's acceleration and yaw rate; their acceleration, steering
and yaw rate are the log's.

In every mode a start whose footprint leaves the drivable area (in either group) is dropped when
`drop_off_road` (NAVSIM keeps only valid synthetic scenes); the dropped count is reported. If
every start is dropped, the logged pose itself is kept so that stage two is never empty.
"""

from __future__ import annotations

import dataclasses
import itertools
import zlib
from dataclasses import dataclass

import numpy as np

from sim.checks import ego_corners, off_road
from sim.dynamics.bicycle import ACCEL, SPEED, STEER, YAW, X, Y
from sim.engine import SimContext
from sim.errors import ConfigError
from sim.geometry import global_to_local_xy, wrap_angle
from sim.scoring.comfort import Kinematics, history_kinematics
from sim.scoring.epdms import EPDMSConfig, ScoringData, frame_baseline, logged_ego_state, proposal_states
from sim.scoring.epdms.kernels import project_track
from sim.types.scenario import DT_S, Scenario
from sim.types.state import EgoState

START_MODES = ("rollout", "grid", "sample")
KINEMATIC_PLANS = ("brake", "hold", "accelerate")
LOG_PLAN = "log"


@dataclass(frozen=True)
class FrameConfig:
    """Which log steps are pseudo-simulation frames.

    - first_frame_s: time of the first frame after the log's start (>= previous_offset_s).
    - stride_s: spacing of frames (e.g. 2 s).
    - max_frames: most frames per scenario (None: all that fit).
    - previous_offset_s: the "prev" group's frame is this much earlier (NAVSIM: 0.5 s).
    - horizon_s: plan horizon and the time from a frame to its stage-two starts (4 s).
    """

    first_frame_s: float = 0.5
    stride_s: float = 2.0
    max_frames: int | None = 3
    previous_offset_s: float = 0.5
    horizon_s: float = 4.0

    @property
    def previous_offset_steps(self) -> int:
        return int(round(self.previous_offset_s / DT_S))

    @property
    def horizon_steps(self) -> int:
        return int(round(self.horizon_s / DT_S))


@dataclass(frozen=True)
class StageTwoConfig:
    """The stage-two start states (see the module docstring).

    - mode: "rollout" | "grid" | "sample".
    - rollout: the family is `EPDMSConfig.reference`'s proposals plus KINEMATIC_PLANS;
      min_separation_m: a rollout whose now and prev starts both lie closer than this to those of
      an earlier rollout is merged into it (0: keep every rollout).
    - grid: lateral_offsets_m, longitudinal_offsets_m, heading_offsets_rad, speed_offsets_mps
      (their product; default 3 x 3 x 1 x 1 = 9 starts).
    - sample: num_samples offsets uniform in +-lateral_range_m, +-longitudinal_range_m,
      +-heading_range_rad, +-speed_range_mps; the first is the logged pose; seed.
    - speed_per_longitudinal: m/s of start speed per metre of longitudinal offset (0.5 /s).
    - drop_off_road: drop starts whose footprint leaves the drivable area.
    """

    mode: str = "rollout"
    min_separation_m: float = 0.5
    lateral_offsets_m: tuple[float, ...] = (-1.0, 0.0, 1.0)
    longitudinal_offsets_m: tuple[float, ...] = (-4.0, 0.0, 4.0)
    heading_offsets_rad: tuple[float, ...] = (0.0,)
    speed_offsets_mps: tuple[float, ...] = (0.0,)
    num_samples: int = 12
    lateral_range_m: float = 1.5
    longitudinal_range_m: float = 5.0
    heading_range_rad: float = 0.15
    speed_range_mps: float = 2.0
    seed: int = 0
    speed_per_longitudinal: float = 0.5
    drop_off_road: bool = True

    def __post_init__(self):
        if self.mode not in START_MODES:
            raise ConfigError(f"stage-two mode must be one of {', '.join(START_MODES)}, got {self.mode!r}")
        if self.mode == "grid" and not (self.lateral_offsets_m and self.longitudinal_offsets_m
                                        and self.heading_offsets_rad and self.speed_offsets_mps):
            raise ConfigError("every stage-two offset list needs at least one value (use (0.0,) for none)")
        if self.mode == "sample" and self.num_samples < 1:
            raise ConfigError(f"num_samples must be >= 1, got {self.num_samples}")
        if self.min_separation_m < 0.0:
            raise ConfigError(f"min_separation_m must be >= 0, got {self.min_separation_m}")


def start_offsets(config: StageTwoConfig, key: str = "") -> np.ndarray:
    """(N, 4) offsets of "grid" or "sample": longitudinal m, lateral m, heading rad, speed m/s.
    `key` seeds "sample"."""
    if config.mode == "grid":
        rows = [(lon, lat, dh, dv) for lon, lat, dh, dv in itertools.product(
            config.longitudinal_offsets_m, config.lateral_offsets_m, config.heading_offsets_rad,
            config.speed_offsets_mps)]
        return np.array(rows, np.float64).reshape(-1, 4)
    if config.mode != "sample":
        raise ConfigError(f"mode {config.mode!r} places no starts by offsets")
    rng = np.random.default_rng([config.seed, zlib.crc32(key.encode())])
    half = np.array([config.longitudinal_range_m, config.lateral_range_m, config.heading_range_rad,
                     config.speed_range_mps])
    out = rng.uniform(-1.0, 1.0, (config.num_samples, 4)) * half
    out[0] = 0.0
    return out


@dataclass(frozen=True, eq=False)
class StartGroup:
    """N start states at log step `step` (rear axle, global).

    states: (N, 6) engine state vectors [x, y, yaw, speed, accel, steer]; yaw_rate_radps: (N,);
    logged_xy: (2,) the logged ego there; history: N Kinematics, the motion that led to each
    start over the comfort history (see the module docstring)."""

    step: int
    states: np.ndarray
    yaw_rate_radps: np.ndarray
    logged_xy: np.ndarray
    history: tuple[Kinematics, ...] = ()

    @property
    def xy(self) -> np.ndarray:
        """(N, 2) rear-axle positions."""
        return self.states[:, [X, Y]]

    @property
    def yaw_rad(self) -> np.ndarray:
        return self.states[:, YAW]

    @property
    def speed_mps(self) -> np.ndarray:
        return self.states[:, SPEED]

    def ego(self, i: int) -> EgoState:
        s = self.states[i]
        return EgoState(float(s[X]), float(s[Y]), float(s[YAW]), float(s[SPEED]), float(s[ACCEL]), float(s[STEER]),
                        float(self.yaw_rate_radps[i]))

    def subset(self, keep: np.ndarray) -> StartGroup:
        """The starts where the (N,) mask `keep` is set."""
        return StartGroup(self.step, self.states[keep], self.yaw_rate_radps[keep], self.logged_xy,
                          tuple(h for h, k in zip(self.history, keep) if k))

    def __len__(self) -> int:
        return len(self.states)


@dataclass(frozen=True, eq=False)
class StageTwoStarts:
    """The stage-two starts of one frame. N starts.

    - frame_step: k; labels: (N,) what made each start ("reference 0.4 x -1 m", "brake", "grid",
      "log"); offsets: (N, 4) longitudinal m, lateral m, heading rad, speed m/s of "grid" and
      "sample" starts (None for rollouts).
    - now: StartGroup at k + horizon; prev: StartGroup at k - prev + horizon (or None).
    - dropped: how many starts were dropped as off-road; merged: how many rollouts were merged
      into an earlier one (min_separation_m).
    """

    frame_step: int
    labels: tuple[str, ...]
    offsets: np.ndarray | None
    now: StartGroup
    prev: StartGroup | None
    dropped: int
    merged: int = 0

    def __len__(self) -> int:
        return len(self.now)

    def to_dicts(self) -> list[dict]:
        out = []
        for i in range(len(self)):
            row = {"index": i, "label": self.labels[i]}
            if self.offsets is not None:
                row.update({"longitudinal_m": round(float(self.offsets[i, 0]), 3),
                            "lateral_m": round(float(self.offsets[i, 1]), 3),
                            "heading_offset_rad": round(float(self.offsets[i, 2]), 4),
                            "speed_offset_mps": round(float(self.offsets[i, 3]), 3)})
            for name, g in (("now", self.now), ("prev", self.prev)):
                if g is not None:
                    row[name] = {"step": g.step, "x_m": round(float(g.xy[i, 0]), 3), "y_m": round(float(g.xy[i, 1]), 3),
                                 "yaw_rad": round(float(g.yaw_rad[i]), 4), "speed_mps": round(float(g.speed_mps[i]), 3)}
            out.append(row)
        return out


def select_frames(context: SimContext, config: FrameConfig = FrameConfig()) -> list[int]:
    """The frames to score (see the module docstring); empty when the log is too short."""
    sc = context.scenario
    valid = np.asarray(sc.ego.valid, bool)
    h, p = config.horizon_steps, config.previous_offset_steps
    first = max(int(round(config.first_frame_s / DT_S)), p)
    stride = max(int(round(config.stride_s / DT_S)), 1)
    frames = []
    for k in range(first, sc.num_steps, stride):
        lo, hi = k - p, k + 2 * h
        if hi >= sc.num_steps:
            break
        if valid[lo:hi + 1].all():
            frames.append(k)
        if config.max_frames is not None and len(frames) >= config.max_frames:
            break
    return frames


# ---- rollouts ----------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class RolloutFamily:
    """The family's P plans from frame k, tracked: states (P, H+1, 6) at steps k .. k + H
    (H = the scorer's horizon); yaw_rate_radps (P, H+1); labels (P,)."""

    states: np.ndarray
    yaw_rate_radps: np.ndarray
    labels: tuple[str, ...]


def kinematic_advance_m(speed0_mps: float, accel_mps2: float, t_s: np.ndarray) -> np.ndarray:
    """Distance (m) at times t_s under a constant acceleration from speed0, stopping at 0 m/s."""
    v0 = max(float(speed0_mps), 0.0)
    t = np.asarray(t_s, np.float64)
    if accel_mps2 >= 0.0:
        return v0 * t + 0.5 * accel_mps2 * t ** 2
    t_stop = v0 / -accel_mps2
    tc = np.minimum(t, t_stop)
    return v0 * tc + 0.5 * accel_mps2 * tc ** 2


def rollout_family(data: ScoringData, frame_step: int, epdms: EPDMSConfig = EPDMSConfig()) -> RolloutFamily:
    """The reference planner's proposals and the brake / hold / accelerate plans from the logged
    ego at frame k, tracked by the engine's tracker and bicycle over epdms' horizon."""
    ref = epdms.reference
    baseline = frame_baseline(data, frame_step, epdms)  # the reference proposals, already tracked
    labels = [f"reference {f:g} x {o:+g} m" for o in ref.lateral_offsets_m for f in ref.speed_fractions]
    ego = logged_ego_state(data, frame_step)
    route = data.route
    s0 = float(project_track(route.xy_m, route.s_m, ego.xy[None], float(data.log_ego.route_s_m[frame_step]))[0][0])
    t = np.arange(1, epdms.horizon_steps + 1) * epdms.dt_s
    seg_heading = np.arctan2(np.diff(route.xy_m[:, 1]), np.diff(route.xy_m[:, 0]))
    kinematic = []
    for accel in (-ref.max_decel_mps2, 0.0, ref.max_accel_mps2):  # KINEMATIC_PLANS
        s = s0 + kinematic_advance_m(ego.speed_mps, accel, t)
        xy = np.stack([np.interp(s, route.s_m, route.xy_m[:, 0]), np.interp(s, route.s_m, route.xy_m[:, 1])], -1)
        yaw = seg_heading[np.clip(np.searchsorted(route.s_m, s, side="right") - 1, 0, len(seg_heading) - 1)]
        kinematic.append(proposal_states(global_to_local_xy(xy, ego.xy, ego.yaw_rad), wrap_angle(yaw - ego.yaw_rad),
                                         ego, data, data.scenario.ego_params, epdms))
    tracked = np.concatenate([baseline.reference_states, np.array(kinematic)], axis=0)
    # the bicycle's yaw rate, as NAVSIM's propagated states carry it
    tracked_yaw_rate = tracked[..., SPEED] * np.tan(tracked[..., STEER]) / data.ego_box.wheelbase_m
    span = slice(frame_step, frame_step + epdms.horizon_steps + 1)
    states = np.concatenate([tracked, data.log_ego.states[None, span]], axis=0)
    yaw_rate = np.concatenate([tracked_yaw_rate, data.log_ego.yaw_rate_radps[None, span]], axis=0)
    return RolloutFamily(states, yaw_rate, tuple(labels) + KINEMATIC_PLANS + (LOG_PLAN,))


def rollout_group(data: ScoringData, frame_step: int, family: RolloutFamily, index: int,
                  epdms: EPDMSConfig = EPDMSConfig()) -> StartGroup:
    """The starts at rollout state `index` (log step frame_step + index), each with the motion that
    led to it as its HC history: the log before the frame, then the rollout up to the start
    (fewer samples at the log's start, as `log_history`)."""
    h = int(round(epdms.comfort.history_s / epdms.dt_s))
    valid = np.flatnonzero(data.log_ego.valid[:frame_step])
    lo = max(frame_step + index - h, int(valid[0]) if len(valid) else frame_step)
    logged = data.log_ego.states[lo:frame_step]
    logged_yaw_rate = data.log_ego.yaw_rate_radps[lo:frame_step]
    history = []
    for i in range(len(family.states)):
        st = np.concatenate([logged, family.states[i, :index + 1]])
        w = np.concatenate([logged_yaw_rate, family.yaw_rate_radps[i, :index + 1]])
        st, w = st[-(h + 1):], w[-(h + 1):]
        history.append(history_kinematics(np.unwrap(st[:, YAW]), st[:, SPEED], st[:, ACCEL], w, epdms.dt_s,
                                          epdms.comfort))
    step = frame_step + index
    return StartGroup(int(step), family.states[:, index].copy(), family.yaw_rate_radps[:, index].copy(),
                      logged_ego_state(data, step).xy.copy(), tuple(history))


# ---- offsets (grid, sample) ---------------------------------------------------------------------------


def _path(data: ScoringData) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The logged path: (M, 2) positions, (M,) arclength (strictly increasing), (M,) unwrapped
    heading and speed, over the log's valid steps (stationary stretches merged)."""
    steps = np.flatnonzero(data.log_ego.valid)
    states = data.log_ego.states[steps]
    xy = states[:, [X, Y]]
    yaw = np.unwrap(states[:, YAW])
    speed = states[:, SPEED]
    seg = np.linalg.norm(np.diff(xy, axis=0), axis=1) if len(xy) > 1 else np.zeros(0)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    keep = np.concatenate([[True], np.diff(s) > 1e-3])
    return xy[keep], s[keep], yaw[keep], speed[keep]


def _step_arclength(data: ScoringData, step: int) -> float:
    steps = np.flatnonzero(data.log_ego.valid)
    xy = data.log_ego.states[steps][:, [X, Y]]
    seg = np.linalg.norm(np.diff(xy, axis=0), axis=1) if len(xy) > 1 else np.zeros(0)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    return float(s[int(np.searchsorted(steps, step))])


def start_group(data: ScoringData, step: int, offsets: np.ndarray, config: StageTwoConfig = StageTwoConfig()
                ) -> StartGroup:
    """Start states at `offsets` (N, 4) around the logged ego at `step` (no history)."""
    base = logged_ego_state(data, step)
    path_xy, path_s, path_yaw, path_v = _path(data)
    s0 = _step_arclength(data, step)
    s = s0 + offsets[:, 0]
    n = len(offsets)
    xy = np.empty((n, 2))
    heading = np.empty(n)
    v_path = np.empty(n)
    if len(path_s) < 2:  # the log never moves: offsets straight along the logged heading
        heading[:] = base.yaw_rad
        xy[:] = base.xy[None] + offsets[:, :1] * np.array([np.cos(base.yaw_rad), np.sin(base.yaw_rad)])[None]
        v_path[:] = base.speed_mps
    else:
        inside = np.clip(s, path_s[0], path_s[-1])
        heading[:] = np.interp(inside, path_s, path_yaw)
        xy[:, 0] = np.interp(inside, path_s, path_xy[:, 0])
        xy[:, 1] = np.interp(inside, path_s, path_xy[:, 1])
        v_path[:] = np.interp(inside, path_s, path_v)
        beyond = s - inside  # straight on past either end of the log
        xy += beyond[:, None] * np.stack([np.cos(heading), np.sin(heading)], -1)
    normal = np.stack([-np.sin(heading), np.cos(heading)], -1)
    xy += offsets[:, 1:2] * normal
    states = np.empty((n, 6))
    states[:, [X, Y]] = xy
    states[:, YAW] = wrap_angle(heading + offsets[:, 2])
    states[:, SPEED] = np.maximum(v_path + offsets[:, 3] + config.speed_per_longitudinal * offsets[:, 0], 0.0)
    states[:, ACCEL] = base.accel_mps2
    states[:, STEER] = base.steer_rad
    return StartGroup(int(step), states, np.full(n, base.yaw_rate_radps), base.xy.copy())


def start_history(data: ScoringData, step: int, offsets: np.ndarray, config: StageTwoConfig = StageTwoConfig(),
                  epdms: EPDMSConfig = EPDMSConfig()) -> tuple[Kinematics, ...]:
    """The motion that led to the starts at `offsets` (N, 4) around the log at `step`: over the
    comfort history before it (fewer samples at the log's start, as `log_history`), the starts
    the same offsets give at each earlier step and at the step itself, with the log's acceleration
    and yaw rate, sampled as NAVSIM samples a history (`history_kinematics`)."""
    h = int(round(epdms.comfort.history_s / epdms.dt_s))
    valid = np.flatnonzero(data.log_ego.valid[:step])
    lo = max(step - h, int(valid[0]) if len(valid) else step)
    groups = [start_group(data, j, offsets, config) for j in range(lo, step + 1)]  # the start is the last sample
    yaw = np.array([g.yaw_rad for g in groups]).reshape(-1, len(offsets))
    speed = np.array([g.speed_mps for g in groups]).reshape(-1, len(offsets))
    accel = data.log_ego.states[lo:step + 1, ACCEL]
    yaw_rate = data.log_ego.yaw_rate_radps[lo:step + 1]
    # built as the log's own history is (`log_history`): NAVSIM's 2 Hz knots, interpolated
    return tuple(history_kinematics(np.unwrap(yaw[:, i]), speed[:, i], accel, yaw_rate, epdms.dt_s, epdms.comfort)
                 for i in range(len(offsets)))


def _offset_group(data: ScoringData, step: int, offsets: np.ndarray, config: StageTwoConfig,
                  epdms: EPDMSConfig) -> StartGroup:
    return dataclasses.replace(start_group(data, step, offsets, config),
                               history=start_history(data, step, offsets, config, epdms))


# ---- the starts of a frame ----------------------------------------------------------------------------


def stage_two_starts(data: ScoringData, frame_step: int, config: StageTwoConfig = StageTwoConfig(),
                     frames: FrameConfig = FrameConfig(), with_previous: bool = True,
                     epdms: EPDMSConfig = EPDMSConfig()) -> StageTwoStarts:
    """The stage-two starts of frame k at k + horizon (and k - prev + horizon), each with the
    history that led to it (see the module docstring)."""
    sc = data.scenario
    h, p = frames.horizon_steps, frames.previous_offset_steps
    now_step = frame_step + h
    if not 0 <= now_step < sc.num_steps or not sc.ego.valid[now_step]:
        raise ConfigError(f"frame {frame_step} of scenario {sc.name!r} has no logged ego {frames.horizon_s:g} s later "
                          f"(step {now_step}); choose frames with select_frames")
    offsets = None
    if config.mode == "rollout":
        if h != epdms.horizon_steps or not 0 < p <= h:
            raise ConfigError(f"rollout starts need the frames' horizon ({frames.horizon_s:g} s) to be the scorer's "
                              f"({epdms.horizon_steps * epdms.dt_s:g} s) and the prev frame inside it")
        family = rollout_family(data, frame_step, epdms)
        labels = family.labels
        now = rollout_group(data, frame_step, family, h, epdms)
        prev = rollout_group(data, frame_step, family, h - p, epdms) if with_previous else None
    else:
        offsets = start_offsets(config, f"{sc.name}/{frame_step}")
        labels = (config.mode,) * len(offsets)
        now = _offset_group(data, now_step, offsets, config, epdms)
        prev = _offset_group(data, now_step - p, offsets, config, epdms) if with_previous else None
    dropped = merged = 0
    if config.drop_off_road:
        keep = np.array([not _off_road(sc, now.ego(i)) and (prev is None or not _off_road(sc, prev.ego(i)))
                         for i in range(len(now))])
        dropped = int((~keep).sum())
        if not keep.any():  # never leave stage two empty: the logged pose itself
            log = np.zeros((1, 4))
            return StageTwoStarts(int(frame_step), ("log",), log, _offset_group(data, now_step, log, config, epdms),
                                  _offset_group(data, now_step - p, log, config, epdms) if with_previous else None,
                                  dropped)
        labels, offsets = _select(labels, offsets, keep)
        now, prev = now.subset(keep), prev.subset(keep) if prev is not None else None
    if config.mode == "rollout" and config.min_separation_m > 0.0:
        keep = _separated(now, prev, config.min_separation_m)
        merged = int((~keep).sum())
        labels, offsets = _select(labels, offsets, keep)
        now, prev = now.subset(keep), prev.subset(keep) if prev is not None else None
    return StageTwoStarts(int(frame_step), tuple(labels), offsets, now, prev, dropped, merged)


def _separated(now: StartGroup, prev: StartGroup | None, min_separation_m: float) -> np.ndarray:
    """(N,) mask: each start unless an earlier kept one lies within min_separation_m of it in
    both groups."""
    keep = np.zeros(len(now), bool)
    for i in range(len(now)):
        near = np.linalg.norm(now.xy[keep] - now.xy[i], axis=1) < min_separation_m
        if prev is not None:
            near &= np.linalg.norm(prev.xy[keep] - prev.xy[i], axis=1) < min_separation_m
        keep[i] = not near.any()
    return keep


def _select(labels: tuple[str, ...], offsets: np.ndarray | None, keep: np.ndarray
            ) -> tuple[tuple[str, ...], np.ndarray | None]:
    return tuple(lab for lab, k in zip(labels, keep) if k), (offsets[keep] if offsets is not None else None)


def _off_road(scenario: Scenario, ego: EgoState) -> bool:
    return off_road(scenario.map, ego_corners(ego, scenario.ego_params))

"""Pseudo-simulation frames and stage-two start states (pure: no rendering, no policies).

Frames. `select_frames` picks the log steps k that pseudo-simulation scores: from `first_frame_s`
every `stride_s`, at most `max_frames`, each with its "prev" frame k - 0.5 s logged and the whole
span k - 0.5 s .. k + 8 s logged (stage one scores 4 s from k; stage two scores 4 s from k + 4 s).

Start states. Around the logged ego at k + 4 s (the "now" group) and at k + 3.5 s (the "prev"
group, 4 s after k - 0.5 s) we place N synthetic starts, each given by four offsets:

- longitudinal (m): along the logged path (arclength, so starts follow curves; straight on past
  the log's end);
- lateral (m): perpendicular to the path there, positive to the left;
- heading (rad): added to the path's heading there;
- speed (m/s): added to the logged speed there, plus `speed_per_longitudinal` x the longitudinal
  offset (a car 4 m ahead of the log after 4 s drove about 2 m/s faster: d = dv * 4 s / 2 under
  a constant speed difference built up linearly).

History. HC scores a plan after the ego's motion that led to its start (NAVSIM's synthetic scenes
carry the ego history of the rollout that produced them). The motion that leads to a start is
the log carried over by the start's offsets: at each of the history_s before the start, the start
state those offsets give there (`start_group`), with the log's acceleration and yaw rate, so the
history runs continuously into the start.

Both groups use the same N offsets, so start i at 3.5 s leads to start i at 4 s as the log does,
and EC compares the two plans of start i (NAVSIM's synthetic pairs). The ego's acceleration,
steering and yaw rate are the log's there.

Sets: mode "grid" is the product of the four offset lists (default 3 lateral x 3 longitudinal =
9 starts); mode "sample" draws `num_samples` offsets uniformly from the ranges (seeded by the
config's seed, the scenario's name and the frame), the first one being the logged pose itself.
A start whose footprint leaves the drivable area (in either group) is dropped when
`drop_off_road` (NAVSIM keeps only valid synthetic scenes); the dropped count is reported.
"""

from __future__ import annotations

import dataclasses
import itertools
import zlib
from dataclasses import dataclass

import numpy as np

from sim.checks import ego_corners, off_road
from sim.dynamics.bicycle import ACCEL, SPEED, YAW, X, Y
from sim.engine import SimContext
from sim.errors import ConfigError
from sim.geometry import wrap_angle
from sim.scoring.comfort import Kinematics, history_kinematics
from sim.scoring.epdms import EPDMSConfig, ScoringData, logged_ego_state
from sim.types.scenario import DT_S, Scenario
from sim.types.state import EgoState

START_MODES = ("grid", "sample")


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

    - mode: "grid" | "sample".
    - grid: lateral_offsets_m, longitudinal_offsets_m, heading_offsets_rad, speed_offsets_mps
      (their product; default 3 x 3 x 1 x 1 = 9 starts).
    - sample: num_samples offsets uniform in +-lateral_range_m, +-longitudinal_range_m,
      +-heading_range_rad, +-speed_range_mps; the first is the logged pose; seed.
    - speed_per_longitudinal: m/s of start speed per metre of longitudinal offset (0.5 /s).
    - drop_off_road: drop starts whose footprint leaves the drivable area.
    """

    mode: str = "grid"
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


def start_offsets(config: StageTwoConfig, key: str = "") -> np.ndarray:
    """(N, 4) offsets: longitudinal m, lateral m, heading rad, speed m/s. `key` seeds "sample"."""
    if config.mode == "grid":
        rows = [(lon, lat, dh, dv) for lon, lat, dh, dv in itertools.product(
            config.longitudinal_offsets_m, config.lateral_offsets_m, config.heading_offsets_rad,
            config.speed_offsets_mps)]
        return np.array(rows, np.float64).reshape(-1, 4)
    rng = np.random.default_rng([config.seed, zlib.crc32(key.encode())])
    half = np.array([config.longitudinal_range_m, config.lateral_range_m, config.heading_range_rad,
                     config.speed_range_mps])
    out = rng.uniform(-1.0, 1.0, (config.num_samples, 4)) * half
    out[0] = 0.0
    return out


@dataclass(frozen=True, eq=False)
class StartGroup:
    """N start states around the log at `step` (rear axle, global).

    xy (N, 2), yaw_rad (N,), speed_mps (N,); base: the logged EgoState there (acceleration,
    steering and yaw rate shared by every start); logged_xy (2,); history: N Kinematics, the
    motion that led to each start over the comfort history (see the module docstring)."""

    step: int
    xy: np.ndarray
    yaw_rad: np.ndarray
    speed_mps: np.ndarray
    base: EgoState
    logged_xy: np.ndarray
    history: tuple[Kinematics, ...] = ()

    def ego(self, i: int) -> EgoState:
        b = self.base
        return EgoState(float(self.xy[i, 0]), float(self.xy[i, 1]), float(self.yaw_rad[i]), float(self.speed_mps[i]),
                        b.accel_mps2, b.steer_rad, b.yaw_rate_radps)

    def __len__(self) -> int:
        return len(self.xy)


@dataclass(frozen=True, eq=False)
class StageTwoStarts:
    """The stage-two starts of one frame.

    - frame_step: k; offsets: (N, 4) longitudinal m, lateral m, heading rad, speed m/s.
    - now: StartGroup at k + horizon; prev: StartGroup at k - prev + horizon (or None).
    - dropped: how many offsets were dropped as off-road.
    """

    frame_step: int
    offsets: np.ndarray
    now: StartGroup
    prev: StartGroup | None
    dropped: int

    def to_dicts(self) -> list[dict]:
        out = []
        for i in range(len(self.offsets)):
            row = {"index": i, "longitudinal_m": round(float(self.offsets[i, 0]), 3),
                   "lateral_m": round(float(self.offsets[i, 1]), 3),
                   "heading_offset_rad": round(float(self.offsets[i, 2]), 4),
                   "speed_offset_mps": round(float(self.offsets[i, 3]), 3)}
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
    """Start states at `offsets` (N, 4) around the logged ego at `step`."""
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
    yaw = wrap_angle(heading + offsets[:, 2])
    speed = np.maximum(v_path + offsets[:, 3] + config.speed_per_longitudinal * offsets[:, 0], 0.0)
    return StartGroup(int(step), xy, yaw, speed, base, base.xy.copy())


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


def stage_two_starts(data: ScoringData, frame_step: int, config: StageTwoConfig = StageTwoConfig(),
                     frames: FrameConfig = FrameConfig(), with_previous: bool = True,
                     epdms: EPDMSConfig = EPDMSConfig()) -> StageTwoStarts:
    """The stage-two starts of frame k: around the log at k + horizon (and k - prev + horizon),
    each with the history that led to it (`start_history`, over epdms' comfort history)."""
    sc = data.scenario
    h, p = frames.horizon_steps, frames.previous_offset_steps
    now_step = frame_step + h
    if not 0 <= now_step < sc.num_steps or not sc.ego.valid[now_step]:
        raise ConfigError(f"frame {frame_step} of scenario {sc.name!r} has no logged ego {frames.horizon_s:g} s later "
                          f"(step {now_step}); choose frames with select_frames")
    offsets = start_offsets(config, f"{sc.name}/{frame_step}")

    def group(step: int) -> StartGroup:
        return dataclasses.replace(start_group(data, step, offsets, config),
                                   history=start_history(data, step, offsets, config, epdms))

    now = group(now_step)
    prev = group(now_step - p) if with_previous else None
    dropped = 0
    if config.drop_off_road:
        keep = np.array([not _off_road(sc, g.ego(i)) for i in range(len(offsets))
                         for g in [now]]) & np.array([prev is None or not _off_road(sc, prev.ego(i))
                                                      for i in range(len(offsets))])
        if not keep.any():  # never leave stage two empty: keep the logged pose's own offsets
            keep = np.all(np.abs(offsets) < 1e-12, axis=1)
            if not keep.any():
                keep[np.argmin(np.abs(offsets).sum(axis=1))] = True
        dropped = int((~keep).sum())
        offsets = offsets[keep]
        now = _subset(now, keep)
        prev = _subset(prev, keep) if prev is not None else None
    return StageTwoStarts(int(frame_step), offsets, now, prev, dropped)


def _off_road(scenario: Scenario, ego: EgoState) -> bool:
    return off_road(scenario.map, ego_corners(ego, scenario.ego_params))


def _subset(group: StartGroup, keep: np.ndarray) -> StartGroup:
    return StartGroup(group.step, group.xy[keep], group.yaw_rad[keep], group.speed_mps[keep], group.base,
                      group.logged_xy, tuple(h for h, k in zip(group.history, keep) if k))

"""Comfort terms of NAVSIM v2's EPDMS: history comfort (HC) and two-frame extended comfort (EC).

Both follow NAVSIM's `navsim/planning/simulation/planner/pdm_planner/scoring/pdm_comfort_metrics.py`
(autonomousvision/navsim, main) and the paper "Pseudo-Simulation for Autonomous Driving" (Cao et al.,
CoRL 2025, arXiv:2506.04218, Sec. 3 and App. A); this is our own code.

- HC (`PDMScorer._calculate_history_comfort`, `ego_is_comfortable`): the ego's past followed by the
  simulated 4 s states must keep six signals strictly inside bounds (nuPlan's comfort thresholds):
  longitudinal acceleration in (-4.05, 2.40) m/s^2, |lateral acceleration| < 4.89 m/s^2, |jerk| <
  8.37 m/s^3, |longitudinal jerk| < 4.13 m/s^3, |yaw acceleration| < 1.93 rad/s^2, |yaw rate| <
  0.95 rad/s. Savitzky-Golay filters (scipy's default mode "interp"), with the windows NAVSIM's
  `_compute_*` functions end up using: accelerations smoothed with window min(8, n), order 2
  (`_extract_ego_acceleration`); jerks the first derivative (window min(15, n), order 2, delta dt)
  of that smoothed acceleration (`_extract_ego_jerk`); yaw rate and yaw acceleration the first
  (order 2) and second (order 3) derivatives of the unwrapped heading with window 5
  (`_extract_ego_yaw_rate` does not pass its window on to `_approximate_derivatives`).
  The past is NAVSIM's `past_human_trajectory`: the ego at -1.5, -1.0, -0.5 and 0 s (its 2 Hz
  frames) linearly interpolated at -1.5, -1.4, .., -0.2 s (14 samples; the -0.1 s sample is
  dropped), then the 41 states follow as if 0.1 s apart (`history_kinematics`).
- EC (`ego_is_two_frame_extended_comfort`, `SceneAggregator._compute_two_frame_comfort`): two
  proposals 0.5 s apart are compared on their overlap (the current one's first states against the
  previous one's states 0.5 s later): the RMS difference of acceleration magnitude (<= 0.7 m/s^2),
  jerk (<= 0.5 m/s^3), yaw rate (<= 0.1 rad/s) and yaw acceleration (<= 0.1 rad/s^2), with
  `extract_features`' windows: acceleration smoothed with window 8, jerk its derivative with window
  15, yaw rate and yaw acceleration with window 5 (both order 2).

Kinematics: the quantities of NAVSIM's state array (`StateIndex`) that the metrics read, at the
rear axle in the body frame. NAVSIM's simulated states (`BatchKinematicBicycleModel.propagate_state`)
carry the longitudinal acceleration only (ACCELERATION_Y is 0), the yaw rate v tan(steer) / L and
the yaw acceleration as the backward difference of that yaw rate. States built from a log's ego
status (`ego_status_to_ego_state`: the past and the first state of every rollout) carry the logged
longitudinal and lateral accelerations and zero yaw rate and yaw acceleration (nuPlan's defaults).
The box centre's acceleration (`state_array_to_center_state_array`, `get_acceleration_shifted`
with displacement (d, 0)) adds d * (yaw_rate^2 + yaw_accel) to x only; y keeps the rear axle's. The
acceleration magnitude of the jerk and EC terms is the rear axle's. So on a constant-radius curve
at constant speed NAVSIM's simulated lateral acceleration is 0, not v^2 / R.

Filters are linear, so each (length, window, order, derivative) pair is applied as a cached
matrix product, which gives exactly `scipy.signal.savgol_filter`'s output (its default
`mode="interp"` edges included) at a fraction of its call overhead.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.signal import savgol_filter

from sim.dynamics.bicycle import ACCEL, SPEED, STEER, YAW

HC_NAMES = ("lon_accel", "lat_accel", "jerk", "lon_jerk", "yaw_accel", "yaw_rate")
EC_NAMES = ("accel", "jerk", "yaw_rate", "yaw_accel")


@dataclass(frozen=True)
class ComfortConfig:
    """NAVSIM's comfort constants (pdm_comfort_metrics.py; nuPlan's ego comfort thresholds).

    History comfort (all strict bounds, as NAVSIM's `_within_bound`):
    - min_lon_accel_mps2, max_lon_accel_mps2: longitudinal acceleration at the box centre.
    - max_abs_lat_accel_mps2: lateral acceleration at the box centre.
    - max_abs_jerk_mps3: jerk of the acceleration magnitude (rear axle).
    - max_abs_lon_jerk_mps3: jerk of the longitudinal acceleration (box centre).
    - max_abs_yaw_accel_radps2, max_abs_yaw_rate_radps: from the unwrapped heading.
    - history_s: how much of the past precedes the simulated states (NAVSIM: 1.5 s).
    - history_knot_interval_s: spacing of the past states the history is interpolated from
      (NAVSIM's 2 Hz frames: 0.5 s).

    Savitzky-Golay settings (NAVSIM's, see the module docstring; windows are capped at the length):
    - accel_window, accel_order: smoothing of every acceleration (HC's and EC's).
    - jerk_window, jerk_order: derivative of the smoothed acceleration (HC's and EC's jerks).
    - yaw_window: window of the heading derivatives; yaw_rate_order (1st derivative) and
      yaw_accel_order (2nd derivative) for HC; ec_yaw_accel_order for EC's yaw acceleration.
    - decimals: NAVSIM rounds the filtered signals to this many decimals.

    Extended comfort (RMS of the difference on the overlap, inclusive bounds):
    - ec_max_accel_rms_mps2, ec_max_jerk_rms_mps3, ec_max_yaw_rate_rms_radps,
      ec_max_yaw_accel_rms_radps2.
    - ec_interval_s: time between the two compared proposals (NAVSIM's 2 Hz frames: 0.5 s).
    """

    min_lon_accel_mps2: float = -4.05
    max_lon_accel_mps2: float = 2.40
    max_abs_lat_accel_mps2: float = 4.89
    max_abs_jerk_mps3: float = 8.37
    max_abs_lon_jerk_mps3: float = 4.13
    max_abs_yaw_accel_radps2: float = 1.93
    max_abs_yaw_rate_radps: float = 0.95
    history_s: float = 1.5
    history_knot_interval_s: float = 0.5
    accel_window: int = 8
    accel_order: int = 2
    jerk_window: int = 15
    jerk_order: int = 2
    yaw_window: int = 5
    yaw_rate_order: int = 2
    yaw_accel_order: int = 3
    ec_yaw_accel_order: int = 2
    decimals: int = 8
    ec_max_accel_rms_mps2: float = 0.7
    ec_max_jerk_rms_mps3: float = 0.5
    ec_max_yaw_rate_rms_radps: float = 0.1
    ec_max_yaw_accel_rms_radps2: float = 0.1
    ec_interval_s: float = 0.5


@dataclass(frozen=True, eq=False)
class Kinematics:
    """What NAVSIM's comfort metrics read from its state arrays: n samples on a uniform grid, at the
    rear axle, in the body frame.

    yaw_rad: (n,) heading (wrapped or not); accel_x_mps2, accel_y_mps2: (n,) longitudinal and
    lateral acceleration (ACCELERATION_2D); yaw_rate_radps: (n,) ANGULAR_VELOCITY;
    yaw_accel_radps2: (n,) ANGULAR_ACCELERATION.
    """

    yaw_rad: np.ndarray
    accel_x_mps2: np.ndarray
    accel_y_mps2: np.ndarray
    yaw_rate_radps: np.ndarray
    yaw_accel_radps2: np.ndarray

    def __len__(self) -> int:
        return len(self.yaw_rad)

    def slice(self, start: int, stop: int) -> Kinematics:
        """Samples start .. stop - 1."""
        return Kinematics(*(getattr(self, f)[start:stop] for f in _FIELDS))


_FIELDS = ("yaw_rad", "accel_x_mps2", "accel_y_mps2", "yaw_rate_radps", "yaw_accel_radps2")


def logged_kinematics(yaw_rad: np.ndarray, speed_mps: np.ndarray, accel_mps2: np.ndarray,
                      yaw_rate_radps: np.ndarray) -> Kinematics:
    """Ego states as NAVSIM builds them from a log's ego status (`ego_status_to_ego_state`): the
    logged accelerations, zero yaw rate and yaw acceleration (nuPlan's `build_from_rear_axle`
    defaults). Our logs carry poses, so the logged lateral acceleration is speed * yaw rate."""
    yaw, v, a, w = (np.asarray(x, np.float64) for x in (yaw_rad, speed_mps, accel_mps2, yaw_rate_radps))
    return Kinematics(yaw, a, v * w, np.zeros_like(yaw), np.zeros_like(yaw))


def kinematics_from_states(states: np.ndarray, wheelbase_m: float, dt_s: float) -> Kinematics:
    """A rollout (n, 6) [x, y, yaw, speed, accel, steer] from its start state (row 0), as NAVSIM's
    `PDMSimulator.simulate_proposals` fills its state array: row 0 is the start built from an ego
    status (`logged_kinematics`), rows 1.. are `BatchKinematicBicycleModel.propagate_state`'s (no
    lateral acceleration, yaw rate v tan(steer) / L, yaw acceleration its backward difference, the
    first one from the start's zero yaw rate)."""
    states = np.asarray(states, dtype=np.float64)
    v = states[:, SPEED]
    w = v * np.tan(states[:, STEER]) / wheelbase_m
    start = logged_kinematics(states[:1, YAW], v[:1], states[:1, ACCEL], w[:1])
    w_sim = np.concatenate([start.yaw_rate_radps, w[1:]])
    alpha = np.concatenate([start.yaw_accel_radps2, np.diff(w_sim) / dt_s])
    accel_y = np.concatenate([start.accel_y_mps2, np.zeros(len(v) - 1)])
    return Kinematics(states[:, YAW], states[:, ACCEL], accel_y, w_sim, alpha)


def history_kinematics(yaw_rad: np.ndarray, speed_mps: np.ndarray, accel_mps2: np.ndarray,
                       yaw_rate_radps: np.ndarray, dt_s: float, config: ComfortConfig = ComfortConfig()
                       ) -> Kinematics:
    """NAVSIM's HC history from the ego's past on the dt_s grid, the last sample being the current
    state (m,) each, oldest first (`PDMScorer._calculate_history_comfort` on the metric cache's
    `past_human_trajectory`): the states every history_knot_interval_s back to history_s (those
    the past reaches) are interpolated linearly (heading along the shorter arc) at the dt_s grid
    from the oldest of them, the current state and the sample before it excluded. Each sample is a
    logged state (`logged_kinematics`). Empty when the past holds no earlier knot."""
    m = len(yaw_rad)
    knot_step = int(round(config.history_knot_interval_s / dt_s))
    n_knots = int(round(config.history_s / config.history_knot_interval_s))
    knots = (m - 1) - knot_step * np.arange(min(n_knots, (m - 1) // knot_step), -1, -1)
    if len(knots) < 2:
        return logged_kinematics(*(np.zeros(0),) * 4)
    t_knot = (knots - (m - 1)) * dt_s
    t = np.arange(knots[0] - (m - 1), -1) * dt_s  # oldest knot .. -2 dt (NAVSIM's arange(...)[:-1])
    at_knots = logged_kinematics(*(np.asarray(x, np.float64)[knots]
                                   for x in (yaw_rad, speed_mps, accel_mps2, yaw_rate_radps)))
    return Kinematics(*(np.interp(t, t_knot, np.unwrap(x) if f == "yaw_rad" else x)
                        for f, x in ((f, getattr(at_knots, f)) for f in _FIELDS)))


def concat_kinematics(first: Kinematics | None, second: Kinematics) -> Kinematics:
    """`first` followed by `second` (history then simulated states), as NAVSIM pads its states."""
    if first is None or len(first) == 0:
        return second
    return Kinematics(*(np.concatenate([getattr(first, f), getattr(second, f)]) for f in _FIELDS))


@lru_cache(maxsize=256)
def savgol_matrix(n: int, window: int, order: int, deriv: int, delta: float) -> np.ndarray:
    """(n, n) matrix M with M @ y == savgol_filter(y, min(window, n), order, deriv, delta)."""
    m = savgol_filter(np.eye(n), min(window, n), order, deriv=deriv, delta=delta, axis=0)
    m.setflags(write=False)
    return m


def _filter(y: np.ndarray, window: int, order: int, deriv: int, dt_s: float, decimals: int) -> np.ndarray:
    n = len(y)
    if min(window, n) <= order:
        raise ValueError(f"a Savitzky-Golay filter of order {order} needs more than {min(window, n)} samples")
    return np.round(savgol_matrix(n, window, order, deriv, float(dt_s)) @ y, decimals)


def _unwrap(yaw: np.ndarray) -> np.ndarray:
    """NAVSIM's `_phase_unwrap`: successive differences brought into [-pi, pi]."""
    two_pi = 2.0 * np.pi
    adjust = np.zeros_like(yaw)
    adjust[1:] = np.cumsum(np.round(np.diff(yaw) / two_pi))
    return yaw - two_pi * adjust


def comfort_signals(kin: Kinematics, dt_s: float, rear_axle_to_center_m: float,
                    config: ComfortConfig = ComfortConfig()) -> dict[str, np.ndarray]:
    """The six filtered history-comfort signals, each (n,), keyed by HC_NAMES."""
    c = config
    center = _center_accel(kin, rear_axle_to_center_m)
    lon_smooth = _filter(center[0], c.accel_window, c.accel_order, 0, dt_s, c.decimals)
    mag_smooth = _filter(np.hypot(kin.accel_x_mps2, kin.accel_y_mps2), c.accel_window, c.accel_order, 0, dt_s,
                         c.decimals)
    yaw = _unwrap(kin.yaw_rad)
    return {
        "lon_accel": lon_smooth,
        "lat_accel": _filter(center[1], c.accel_window, c.accel_order, 0, dt_s, c.decimals),
        "jerk": _filter(mag_smooth, c.jerk_window, c.jerk_order, 1, dt_s, c.decimals),
        "lon_jerk": _filter(lon_smooth, c.jerk_window, c.jerk_order, 1, dt_s, c.decimals),
        "yaw_accel": _filter(yaw, c.yaw_window, c.yaw_accel_order, 2, dt_s, c.decimals),
        "yaw_rate": _filter(yaw, c.yaw_window, c.yaw_rate_order, 1, dt_s, c.decimals),
    }


def _center_accel(kin: Kinematics, rear_axle_to_center_m: float) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) acceleration at the box centre as NAVSIM shifts it (`get_acceleration_shifted` with
    displacement (d, 0): both rigid-body terms are scaled by the displacement's x and land on x)."""
    w = kin.yaw_rate_radps
    return kin.accel_x_mps2 + rear_axle_to_center_m * (w * w + kin.yaw_accel_radps2), kin.accel_y_mps2


def comfort_bounds(config: ComfortConfig = ComfortConfig()) -> dict[str, tuple[float, float]]:
    """(lower, upper) strict bounds of each HC signal."""
    c = config
    return {
        "lon_accel": (c.min_lon_accel_mps2, c.max_lon_accel_mps2),
        "lat_accel": (-c.max_abs_lat_accel_mps2, c.max_abs_lat_accel_mps2),
        "jerk": (-c.max_abs_jerk_mps3, c.max_abs_jerk_mps3),
        "lon_jerk": (-c.max_abs_lon_jerk_mps3, c.max_abs_lon_jerk_mps3),
        "yaw_accel": (-c.max_abs_yaw_accel_radps2, c.max_abs_yaw_accel_radps2),
        "yaw_rate": (-c.max_abs_yaw_rate_radps, c.max_abs_yaw_rate_radps),
    }


@dataclass(frozen=True)
class ComfortResult:
    """Outcome of a comfort check.

    - ok: every criterion holds; failed: names of the criteria that do not.
    - first_index: index of the first violating sample over all failed criteria (-1 if ok).
    - worst: (name, value) of the largest excursion among the failed criteria ("", 0.0 if ok).
    """

    ok: bool
    failed: tuple[str, ...]
    first_index: int
    worst: tuple[str, float]


def history_comfort(kin: Kinematics, dt_s: float, rear_axle_to_center_m: float,
                    config: ComfortConfig = ComfortConfig()) -> ComfortResult:
    """NAVSIM's `ego_is_comfortable` over the whole series (history followed by the proposal; see
    `history_kinematics` and `kinematics_from_states`). Fewer than 4 samples (too few for the yaw
    acceleration's cubic) pass."""
    if len(kin) < 4:
        return ComfortResult(True, (), -1, ("", 0.0))
    signals = comfort_signals(kin, dt_s, rear_axle_to_center_m, config)
    failed, first, worst, worst_excess = [], -1, ("", 0.0), -1.0
    for name, (lo, hi) in comfort_bounds(config).items():
        value = signals[name]
        bad = ~((value > lo) & (value < hi))
        if bad.any():
            failed.append(name)
            i = int(np.argmax(bad))
            first = i if first < 0 else min(first, i)
            excess = np.maximum(value - hi, lo - value)
            k = int(np.argmax(excess))
            if excess[k] / max(hi, 1e-9) > worst_excess:
                worst_excess = excess[k] / max(hi, 1e-9)
                worst = (name, float(value[k]))
    return ComfortResult(not failed, tuple(failed), first, worst)


def extended_comfort_features(kin: Kinematics, dt_s: float,
                              config: ComfortConfig = ComfortConfig()) -> dict[str, np.ndarray]:
    """NAVSIM's `extract_features`: acceleration magnitude, jerk, yaw rate, yaw acceleration."""
    c = config
    mag = _filter(np.hypot(kin.accel_x_mps2, kin.accel_y_mps2), c.accel_window, c.accel_order, 0, dt_s, c.decimals)
    yaw = _unwrap(kin.yaw_rad)
    return {
        "accel": mag,
        "jerk": _filter(mag, c.jerk_window, c.jerk_order, 1, dt_s, c.decimals),
        "yaw_rate": _filter(yaw, c.yaw_window, c.yaw_rate_order, 1, dt_s, c.decimals),
        "yaw_accel": _filter(yaw, c.yaw_window, c.ec_yaw_accel_order, 2, dt_s, c.decimals),
    }


def extended_comfort(current: Kinematics, previous: Kinematics, offset_steps: int, dt_s: float,
                     config: ComfortConfig = ComfortConfig()) -> ComfortResult:
    """NAVSIM v2's two-frame extended comfort between two simulated proposals.

    `previous` was planned `offset_steps` steps (of dt_s) before `current`; the overlap is
    current[:-offset] against previous[offset:] (NAVSIM's SceneAggregator). ok is True when every
    RMS difference is within its threshold. first_index is -1; worst names the feature whose RMS
    difference exceeds its threshold by the largest ratio, with that RMS value.
    """
    if offset_steps <= 0:
        raise ValueError(f"extended comfort compares proposals planned at different times, got offset {offset_steps}")
    n = min(len(current), len(previous)) - offset_steps
    if n < 3:
        return ComfortResult(True, (), -1, ("", 0.0))
    cur = current.slice(0, n)
    prev = previous.slice(offset_steps, offset_steps + n)
    fa = extended_comfort_features(cur, dt_s, config)
    fb = extended_comfort_features(prev, dt_s, config)
    c = config
    limits = {"accel": c.ec_max_accel_rms_mps2, "jerk": c.ec_max_jerk_rms_mps3, "yaw_rate": c.ec_max_yaw_rate_rms_radps,
              "yaw_accel": c.ec_max_yaw_accel_rms_radps2}
    failed, worst, worst_ratio = [], ("", 0.0), 0.0
    for name in EC_NAMES:
        rms = float(np.sqrt(np.mean((fa[name] - fb[name]) ** 2)))
        if rms > limits[name]:
            failed.append(name)
            if rms / limits[name] > worst_ratio:
                worst_ratio, worst = rms / limits[name], (name, rms)
    return ComfortResult(not failed, tuple(failed), -1, worst)


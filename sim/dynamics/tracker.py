"""Trajectory tracking: a gain-scheduled LQR for lateral control and a feedforward + PI-like
law for speed, in the style of nuPlan's and NAVSIM's LQR tracker.

A planned trajectory (ego-frame poses with times) becomes a `Reference` in the global frame:
poses densified to the engine's step, arclength, speed and curvature along it. Like nuPlan's
tracker, the speed profile is fitted to the poses by regularised least squares
(`rate_fit_matrix`) and the curvature is measured over metres of path
(`sim.geometry.path_curvature_kernel`), so pose noise is not tracked as acceleration or steering.
The lateral LQR works on the path-error model (lateral error e_y, heading error e_psi against
the plan's headings, input curvature offset) discretised at the engine step; its
infinite-horizon gains are solved once per speed on a grid and interpolated, so a step costs a
few microseconds inside the compiled kernel. Feedforwards are previewed by the actuator lags.

The tracker also turns every EPDMS proposal into states, and EPDMS's extended comfort compares
rollouts of consecutive plans: the gains are chosen so that two rollouts of the same logged
human, started 0.5 s apart, agree (which is what extended comfort measures).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.linalg
from numba import njit

from sim.dynamics.bicycle import (
    ACCEL_TAU,
    SPEED,
    STATE_SIZE,
    STEER,
    STEER_TAU,
    WHEELBASE,
    YAW,
    X,
    Y,
    bicycle_step_kernel,
    params_vector,
)
from sim.errors import ActionError
from sim.geometry import path_curvature_kernel, project_point_kernel
from sim.types.scenario import DT_S, EgoParams
from sim.types.state import EgoState, TrajectoryAction


@dataclass(frozen=True)
class TrackerParams:
    """Tracker gains.

    - lateral_q_error_m: weight of lateral error^2 in the LQR cost.
    - lateral_q_heading_rad: weight of heading error^2.
    - lateral_r_curvature: weight of curvature-offset^2 (1/m)^2; larger is smoother (50: the
      unmodelled steering lag no longer makes the feedback ring, 20 did on the AV2 logs).
    - speed_gain_per_s: feedback gain on speed error (m/s^2 per m/s).
    - position_gain_per_s2: feedback gain on along-track position error (m/s^2 per m).
    - min_schedule_speed_mps: LQR gains below this speed use this speed (the model degenerates at 0).
    """

    lateral_q_error_m: float = 1.0
    lateral_q_heading_rad: float = 2.0
    lateral_r_curvature: float = 50.0
    speed_gain_per_s: float = 2.0
    position_gain_per_s2: float = 1.5
    min_schedule_speed_mps: float = 1.0

    def vector(self) -> np.ndarray:
        return np.array([self.speed_gain_per_s, self.position_gain_per_s2], dtype=np.float64)


GAIN_SPEEDS_MPS = np.linspace(0.0, 40.0, 81)
CURVATURE_MIN_ARC_M = 2.0  # path length a reference's curvature is measured over (path_curvature_kernel)


@lru_cache(maxsize=16)
def lqr_gain_table(params: TrackerParams, dt_s: float = DT_S) -> np.ndarray:
    """(len(GAIN_SPEEDS_MPS), 2) lateral LQR gains [k_e_y, k_e_psi] per scheduled speed."""
    q = np.diag([params.lateral_q_error_m, params.lateral_q_heading_rad])
    r = np.array([[params.lateral_r_curvature]])
    gains = np.zeros((len(GAIN_SPEEDS_MPS), 2))
    for i, v in enumerate(np.maximum(GAIN_SPEEDS_MPS, params.min_schedule_speed_mps)):
        a = np.array([[1.0, v * dt_s], [0.0, 1.0]])
        b = np.array([[0.5 * v * v * dt_s * dt_s], [v * dt_s]])
        p = scipy.linalg.solve_discrete_are(a, b, q, r)
        gains[i] = np.linalg.solve(r + b.T @ p @ b, b.T @ p @ a)[0]
    return gains


@dataclass(frozen=True, eq=False)
class Reference:
    """A trajectory to track, in the global frame, densified to M points.

    t_s: (M,) time relative to the planning state (starts at or before 0, see
    `_reference_kernel`); xy: (M, 2); yaw_rad: (M,) unwrapped;
    s_m: (M,) arclength; speed_mps: (M,); curvature_per_m: (M,).
    """

    t_s: np.ndarray
    xy: np.ndarray
    yaw_rad: np.ndarray
    s_m: np.ndarray
    speed_mps: np.ndarray
    curvature_per_m: np.ndarray


def validate_trajectory(action: TrajectoryAction) -> None:
    """Raise ActionError for a trajectory the tracker cannot follow."""
    xy, yaw, t = action.xy_in_ego, action.yaw_in_ego_rad, action.t_offset_s
    if not (isinstance(xy, np.ndarray) and isinstance(yaw, np.ndarray) and isinstance(t, np.ndarray)):
        xy, yaw, t = (np.asarray(a, dtype=np.float64) for a in (xy, yaw, t))
    if xy.ndim != 2 or xy.shape[1] != 2 or len(xy) < 1:
        raise ActionError(f"trajectory xy_in_ego must have shape (K, 2) with K >= 1, got {xy.shape}")
    if yaw.shape != (len(xy),) or t.shape != (len(xy),):
        raise ActionError(f"trajectory yaw and t_offset_s must have shape ({len(xy)},), got {yaw.shape} and {t.shape}")
    problem = _trajectory_problem(np.asarray(xy, np.float64), np.asarray(yaw, np.float64), np.asarray(t, np.float64))
    if problem:
        raise ActionError(_TRAJECTORY_PROBLEMS[problem])


_TRAJECTORY_PROBLEMS = {
    1: "trajectory contains NaN or infinite values",
    2: "trajectory t_offset_s must be positive and strictly increasing",
    3: "trajectory reaches beyond 10 km or 60 s; poses must be metres in the ego frame, times in seconds",
}


@njit(cache=True)
def _trajectory_problem(xy, yaw, t):
    """0 when the trajectory is usable, else a key of _TRAJECTORY_PROBLEMS."""
    for i in range(t.shape[0]):
        if not (math.isfinite(xy[i, 0]) and math.isfinite(xy[i, 1]) and math.isfinite(yaw[i]) and math.isfinite(t[i])):
            return 1
    for i in range(t.shape[0]):
        if t[i] <= (t[i - 1] if i > 0 else 0.0):
            return 2
    for i in range(t.shape[0]):
        if abs(xy[i, 0]) > 1e4 or abs(xy[i, 1]) > 1e4 or t[i] > 60.0:
            return 3
    return 0


def reference_from_trajectory(action: TrajectoryAction, ego: EgoState, dt_s: float = DT_S) -> Reference:
    """The global-frame reference of a trajectory planned from `ego`, starting at the ego pose."""
    validate_trajectory(action)
    return _with_fitted_speed(*_reference_kernel(np.asarray(action.t_offset_s, dtype=np.float64),
                                                 np.asarray(action.xy_in_ego, dtype=np.float64),
                                                 np.asarray(action.yaw_in_ego_rad, dtype=np.float64),
                                                 ego.x_m, ego.y_m, ego.yaw_rad, dt_s), dt_s)


def reference_from_global_poses(xy: np.ndarray, yaw_rad: np.ndarray, dt_s: float = DT_S) -> Reference:
    """A reference from global poses (M, 2), (M,) on the engine's time grid; pose 0 is now."""
    xy = np.asarray(xy, dtype=np.float64)
    yaw = np.asarray(yaw_rad, dtype=np.float64)
    t = np.arange(1, len(xy)) * dt_s
    rel = xy[1:] - xy[0]
    c, s = np.cos(yaw[0]), np.sin(yaw[0])
    local = np.stack([c * rel[:, 0] + s * rel[:, 1], -s * rel[:, 0] + c * rel[:, 1]], -1)
    return _with_fitted_speed(*_reference_kernel(t, local, yaw[1:] - yaw[0], xy[0, 0], xy[0, 1], yaw[0], dt_s),
                              dt_s)


SPEED_PROFILE_JERK_PENALTY = 1e-4  # (m / (m/s^2))^2: see rate_fit_matrix


@lru_cache(maxsize=64)
def rate_fit_matrix(m: int, dt_s: float, penalty: float) -> np.ndarray:
    """(m, m-1) matrix F: F @ diff(q) is the rate of a signal q sampled at m points dt_s apart,
    fitted by regularised least squares, as nuPlan's LQR tracker fits its reference profiles.

    The model: the rate changes at a constant slope d_j within each interval, so the increment
    over interval j is dt * rate_j + dt^2 / 2 * d_j; the squared increment residuals plus
    penalty * sum (d_{j+1} - d_j)^2 are minimised over the initial rate and the slopes. For
    distance along a path with penalty 1e-4, a jump of 1 m/s^2 in acceleration costs as much as
    a 1 cm misfit: centimetre pose noise no longer turns into m/s^2 of acceleration, while real
    speed changes are kept."""
    n_int = m - 1
    a = np.zeros((n_int, m))  # unknowns: [rate_0, d_0 .. d_{m-2}]
    rate_of = np.zeros((m, m))  # rate at each sample from the unknowns
    rate_of[:, 0] = 1.0
    for j in range(m):
        rate_of[j, 1:1 + j] = dt_s
    for j in range(n_int):
        a[j] = dt_s * rate_of[j]
        a[j, 1 + j] += 0.5 * dt_s * dt_s
    reg = np.zeros((max(n_int - 1, 0), m))
    for j in range(n_int - 1):
        reg[j, 1 + j], reg[j, 2 + j] = -math.sqrt(penalty), math.sqrt(penalty)
    solve = np.linalg.pinv(np.vstack([a, reg]))[:, :n_int]
    fit = rate_of @ solve
    fit.setflags(write=False)
    return fit


def _with_fitted_speed(t, xy, yaw, arc, speed, curv, first_knot: int, dt_s: float) -> Reference:
    """The reference with its speed from the plan's poses by `rate_fit_matrix` (the raw
    central differences are kept where the plan has fewer than 3 dense points). Before the first
    knot the speed follows the fitted trend back to t = 0, so a braking plan asks for the speed
    the ego should have now, not the lower speed of the plan's first segment."""
    m = len(t) - first_knot
    if m >= 3:
        fitted = rate_fit_matrix(m, float(dt_s), SPEED_PROFILE_JERK_PENALTY) @ np.diff(arc[first_knot:])
        slope = (fitted[1] - fitted[0]) / dt_s
        speed = np.empty_like(speed)
        speed[first_knot:] = fitted
        speed[:first_knot] = fitted[0] + slope * (t[:first_knot] - t[first_knot])
        np.maximum(speed, 0.0, out=speed)
    return Reference(t, xy, yaw, arc, speed, curv)


@njit(cache=True)
def _reference_kernel(t_knots, xy_local, yaw_local, ox, oy, oyaw, dt_s):
    """Densify ego-frame knots to the step grid, move them to global, and derive arclength,
    speed (central differences; `_with_fitted_speed` replaces them) and curvature. Also returns
    the index of the first dense point at or after the first knot.

    The path is the plan itself, extended backward from its first pose to before t = 0 at the
    first segment's speed; it does not start at the ego. So an ego that is ahead of its plan
    projects behind it and is told to slow down, rather than reading "drive back to that
    point" as forward speed. The extension continues the plan's curvature at its first pose
    (`_initial_curvature`) as an arc, headings turning with it, and the curvature is then
    measured along the whole path: the engine replans every step and so always tracks a
    reference near its start, where a straight extension would halve the curvature (measured
    over metres of path, half of them on the extension) and leave a steady heading error in
    every curve, and the closed loop would disagree with the rollouts EPDMS compares.
    """
    k = t_knots.shape[0]
    kt = np.empty(k + 1)
    kx = np.empty(k + 1)
    ky = np.empty(k + 1)
    kyaw = np.empty(k + 1)
    kyaw[1] = yaw_local[0]
    for i in range(k):
        kt[i + 1] = t_knots[i]
        kx[i + 1] = xy_local[i, 0]
        ky[i + 1] = xy_local[i, 1]
        if i > 0:
            # Unwrap so interpolation never takes the long way round.
            d = yaw_local[i] - kyaw[i]
            kyaw[i + 1] = kyaw[i] + (d + math.pi) % (2.0 * math.pi) - math.pi
    if k == 1:
        kt[0], kx[0], ky[0], kyaw[0] = 0.0, 0.0, 0.0, 0.0  # one knot: the path runs from the ego to it
    else:
        # The extension reaches 0.5 s before now; it is built below, this knot only pins the grid.
        kt[0], kx[0], ky[0], kyaw[0] = -0.5, kx[1], ky[1], kyaw[1]
    n = int(math.floor((kt[k] - kt[0]) / dt_s + 0.5)) + 1
    t = kt[0] + np.arange(n) * dt_s
    t[n - 1] = kt[k]
    i1 = 0
    if k > 1:
        while i1 < n - 1 and t[i1] < kt[1] - 1e-9:
            i1 += 1
    local = np.empty((n, 2))
    yaw = np.empty(n)
    for i in range(i1, n):
        local[i, 0] = _interp(t[i], kt, kx)
        local[i, 1] = _interp(t[i], kt, ky)
        yaw[i] = oyaw + _interp(t[i], kt, kyaw)
    if k > 1:
        plan_arc = np.zeros(n - i1)
        for i in range(1, n - i1):
            plan_arc[i] = plan_arc[i - 1] + math.hypot(local[i1 + i, 0] - local[i1 + i - 1, 0],
                                                       local[i1 + i, 1] - local[i1 + i - 1, 1])
        kappa0 = _initial_curvature(plan_arc, yaw[i1:], CURVATURE_MIN_ARC_M)
        dx = kx[2] - kx[1]
        dy = ky[2] - ky[1]
        length = math.hypot(dx, dy)
        v_first = length / (kt[2] - kt[1])
        # The tangent at the first pose: the first chord's direction turned back by half its arc.
        theta = math.atan2(dy, dx) - 0.5 * kappa0 * length if length > 1e-9 else kyaw[1]
        for i in range(i1):
            back_m = v_first * (kt[1] - t[i])
            turn = kappa0 * back_m
            if abs(turn) > 1e-9:
                local[i, 0] = kx[1] - (math.sin(theta) - math.sin(theta - turn)) / kappa0
                local[i, 1] = ky[1] - (math.cos(theta - turn) - math.cos(theta)) / kappa0
            else:
                local[i, 0] = kx[1] - back_m * math.cos(theta)
                local[i, 1] = ky[1] - back_m * math.sin(theta)
            yaw[i] = oyaw + kyaw[1] - turn
    c, s_ = math.cos(oyaw), math.sin(oyaw)
    xy = np.empty((n, 2))
    for i in range(n):
        xy[i, 0] = ox + c * local[i, 0] - s_ * local[i, 1]
        xy[i, 1] = oy + s_ * local[i, 0] + c * local[i, 1]
    arc = np.zeros(n)
    for i in range(1, n):
        arc[i] = arc[i - 1] + math.hypot(xy[i, 0] - xy[i - 1, 0], xy[i, 1] - xy[i - 1, 1])
    speed = np.zeros(n)
    for i in range(n):
        lo = max(i - 1, 0)
        hi = min(i + 1, n - 1)
        if hi > lo:
            speed[i] = max((arc[hi] - arc[lo]) / (t[hi] - t[lo]), 0.0)
    curv = path_curvature_kernel(arc, yaw, CURVATURE_MIN_ARC_M)
    return t, xy, yaw, arc, speed, curv, i1


@njit(cache=True)
def _initial_curvature(arc_m, yaw_rad, min_arc_m):
    """Curvature (1/m) at the start of a path (n,) arclengths / unwrapped headings: the slope at
    s = 0 of a least-squares quadratic heading(s) over the first min_arc_m of path (exact where
    the curvature changes linearly, as `path_curvature_kernel`'s centred windows are further on;
    a one-sided window would read a turn ahead as curvature now). 0 where the path is shorter
    than half of min_arc_m, as there."""
    m = 0
    while m < arc_m.shape[0] and arc_m[m] <= min_arc_m:
        m += 1
    if m < 3 or arc_m[m - 1] <= 0.5 * min_arc_m:
        return 0.0
    normal = np.zeros((3, 3))
    rhs = np.zeros(3)
    for j in range(m):
        basis = np.array([1.0, arc_m[j], arc_m[j] * arc_m[j]])
        normal += np.outer(basis, basis)
        rhs += basis * yaw_rad[j]
    return np.linalg.solve(normal, rhs)[1]


@njit(cache=True)
def _interp(xq, xs, ys):
    n = xs.shape[0]
    if xq <= xs[0]:
        return ys[0]
    if xq >= xs[n - 1]:
        return ys[n - 1]
    lo = 0
    hi = n - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if xs[mid] <= xq:
            lo = mid
        else:
            hi = mid
    f = (xq - xs[lo]) / (xs[hi] - xs[lo])
    return ys[lo] + f * (ys[hi] - ys[lo])


@njit(cache=True)
def track_step_kernel(state, t_now_s, ref_t, ref_xy, ref_yaw, ref_s, ref_speed, ref_curv,
                      gain_speeds, gains, long_gains, params, dt_s):
    """Controls (accel_cmd, steer_cmd) that follow the reference from `state` at time t_now_s."""
    wheelbase = params[WHEELBASE]
    tau_a = params[ACCEL_TAU]
    tau_s = params[STEER_TAU]
    speed = state[SPEED]
    t_end = ref_t[ref_t.shape[0] - 1]

    # Longitudinal: feedforward of the reference acceleration the actuator lag ahead (a lag
    # delays a ramp by its time constant, and the bicycle integrates speed with the lagged
    # acceleration at the end of each step), feedback on the speed and position errors now.
    s_ego, e_y, path_heading = project_point_kernel(ref_xy, ref_s, state[X], state[Y])
    t_a = t_now_s + tau_a
    v_next = _interp(t_a + dt_s, ref_t, ref_speed) if t_a + dt_s <= t_end else 0.0
    v_prev = _interp(t_a - dt_s, ref_t, ref_speed) if t_a - dt_s <= t_end else 0.0
    accel_ff = (v_next - v_prev) / (2.0 * dt_s)
    v_now = _interp(t_now_s, ref_t, ref_speed) if t_now_s <= t_end else 0.0
    s_now = _interp(t_now_s, ref_t, ref_s)
    accel_cmd = accel_ff + long_gains[0] * (v_now - speed) + long_gains[1] * (s_now - s_ego)
    if t_now_s >= t_end and speed < 0.3:
        accel_cmd = -1.0  # hold the stop at the end of the plan

    # Lateral: curvature feedforward previewed by the steering lag, LQR feedback on errors. The
    # heading error is taken against the plan's heading where the ego projects: the direction of
    # the dense segments is noise where the plan stands or creeps (millimetre segments).
    if math.isnan(path_heading):
        return accel_cmd, state[STEER]
    e_psi = (state[YAW] - _interp(s_ego, ref_s, ref_yaw) + math.pi) % (2.0 * math.pi) - math.pi
    v_sched = min(max(speed, gain_speeds[0]), gain_speeds[gain_speeds.shape[0] - 1])
    k_y = _interp(v_sched, gain_speeds, gains[:, 0])
    k_psi = _interp(v_sched, gain_speeds, gains[:, 1])
    kappa_ref = _interp(s_ego + speed * tau_s, ref_s, ref_curv)
    kappa = kappa_ref - (k_y * e_y + k_psi * e_psi)
    steer_cmd = math.atan(wheelbase * kappa)
    return accel_cmd, steer_cmd


@njit(cache=True)
def rollout_kernel(state0, n_steps, ref_t, ref_xy, ref_yaw, ref_s, ref_speed, ref_curv,
                   gain_speeds, gains, long_gains, params, dt_s):
    """(n_steps + 1, STATE_SIZE) states of the bicycle tracking the reference from state0 at t = 0."""
    out = np.empty((n_steps + 1, STATE_SIZE))
    out[0] = state0
    state = state0.copy()
    for k in range(n_steps):
        a_cmd, d_cmd = track_step_kernel(state, k * dt_s, ref_t, ref_xy, ref_yaw, ref_s, ref_speed, ref_curv,
                                         gain_speeds, gains, long_gains, params, dt_s)
        state = bicycle_step_kernel(state, a_cmd, d_cmd, params, dt_s)
        out[k + 1] = state
    return out


def tracking_controls(reference: Reference, state_vec: np.ndarray, t_now_s: float, ego_params: EgoParams,
                      tracker: TrackerParams, dt_s: float = DT_S) -> tuple[float, float]:
    """(accel_cmd_mps2, steer_cmd_rad) that follow `reference` from the state vector at t_now_s."""
    return track_step_kernel(state_vec, float(t_now_s), reference.t_s, reference.xy, reference.yaw_rad,
                             reference.s_m, reference.speed_mps, reference.curvature_per_m, GAIN_SPEEDS_MPS,
                             lqr_gain_table(tracker, dt_s), tracker.vector(), params_vector(ego_params), float(dt_s))


def rollout(reference: Reference, state_vec: np.ndarray, n_steps: int, ego_params: EgoParams,
            tracker: TrackerParams, dt_s: float = DT_S) -> np.ndarray:
    """(n_steps + 1, STATE_SIZE) state vectors of the ego tracking `reference` (open loop over the plan)."""
    return rollout_kernel(np.asarray(state_vec, dtype=np.float64), int(n_steps), reference.t_s, reference.xy,
                          reference.yaw_rad, reference.s_m, reference.speed_mps, reference.curvature_per_m,
                          GAIN_SPEEDS_MPS, lqr_gain_table(tracker, dt_s), tracker.vector(),
                          params_vector(ego_params), float(dt_s))

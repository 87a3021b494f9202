"""Ego dynamics: a kinematic bicycle about the rear axle with first-order actuator lags.

The state vector layout is shared by the compiled kernels here and in `sim.dynamics.tracker`:
`[x_m, y_m, yaw_rad, speed_mps, accel_mps2, steer_rad]` in the global frame, rear axle.
Kernels are numba-compiled so that the engine step and the scorer's 40-step rollouts stay
in the microsecond range.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sim.types.scenario import EgoParams
from sim.types.state import EgoState

X, Y, YAW, SPEED, ACCEL, STEER = range(6)
STATE_SIZE = 6
# The entries of `params_vector`.
WHEELBASE, MAX_STEER, MAX_STEER_RATE, MAX_ACCEL, MAX_DECEL, ACCEL_TAU, STEER_TAU = range(7)


def params_vector(params: EgoParams) -> np.ndarray:
    """EgoParams as the float64 vector the kernels read (entries WHEELBASE .. STEER_TAU)."""
    return np.array([
        params.wheelbase_m,
        params.max_steer_rad,
        params.max_steer_rate_radps,
        params.max_accel_mps2,
        params.max_decel_mps2,
        params.accel_time_constant_s,
        params.steer_time_constant_s,
    ], dtype=np.float64)


@njit(cache=True, fastmath=False)
def bicycle_step_kernel(state: np.ndarray, accel_cmd_mps2: float, steer_cmd_rad: float,
                        params: np.ndarray, dt_s: float) -> np.ndarray:
    """One step of the lagged kinematic bicycle; returns the next state vector.

    Actuators follow their commands with exact first-order lags (time constant 0 means
    immediate), steering is rate- and angle-limited, speed never goes below zero (the ego
    brakes to a stop, it does not reverse). Within the step, speed is taken at its mean and
    the yaw rate as constant, and the position is integrated exactly along the arc.
    """
    wheelbase, max_steer, max_steer_rate, max_accel, max_decel, tau_a, tau_s = (
        params[WHEELBASE], params[MAX_STEER], params[MAX_STEER_RATE], params[MAX_ACCEL], params[MAX_DECEL],
        params[ACCEL_TAU], params[STEER_TAU])
    accel_cmd = min(max(accel_cmd_mps2, -max_decel), max_accel)
    steer_cmd = min(max(steer_cmd_rad, -max_steer), max_steer)

    accel = state[ACCEL] + (accel_cmd - state[ACCEL]) * (1.0 - math.exp(-dt_s / tau_a) if tau_a > 0 else 1.0)
    steer_target = state[STEER] + (steer_cmd - state[STEER]) * (1.0 - math.exp(-dt_s / tau_s) if tau_s > 0 else 1.0)
    max_delta = max_steer_rate * dt_s
    steer = state[STEER] + min(max(steer_target - state[STEER], -max_delta), max_delta)
    steer = min(max(steer, -max_steer), max_steer)

    speed0 = state[SPEED]
    speed1 = max(speed0 + accel * dt_s, 0.0)
    if speed1 == 0.0 and accel < 0.0:
        accel = -speed0 / dt_s  # the stop happened within the step
    speed_mean = 0.5 * (speed0 + speed1)
    yaw_rate = speed_mean * math.tan(steer) / wheelbase
    yaw0 = state[YAW]
    out = np.empty(STATE_SIZE)
    if abs(yaw_rate) > 1e-9:
        yaw1 = yaw0 + yaw_rate * dt_s
        radius = speed_mean / yaw_rate
        out[X] = state[X] + radius * (math.sin(yaw1) - math.sin(yaw0))
        out[Y] = state[Y] - radius * (math.cos(yaw1) - math.cos(yaw0))
    else:
        yaw1 = yaw0
        out[X] = state[X] + speed_mean * dt_s * math.cos(yaw0)
        out[Y] = state[Y] + speed_mean * dt_s * math.sin(yaw0)
    out[YAW] = (yaw1 + math.pi) % (2.0 * math.pi) - math.pi
    out[SPEED] = speed1
    out[ACCEL] = accel
    out[STEER] = steer
    return out


def ego_state_vector(ego: EgoState) -> np.ndarray:
    return np.array([ego.x_m, ego.y_m, ego.yaw_rad, ego.speed_mps, ego.accel_mps2, ego.steer_rad])


def ego_state_from_vector(vec: np.ndarray, wheelbase_m: float) -> EgoState:
    return EgoState(
        x_m=float(vec[X]), y_m=float(vec[Y]), yaw_rad=float(vec[YAW]), speed_mps=float(vec[SPEED]),
        accel_mps2=float(vec[ACCEL]), steer_rad=float(vec[STEER]),
        yaw_rate_radps=float(vec[SPEED] * math.tan(vec[STEER]) / wheelbase_m),
    )


def bicycle_step(ego: EgoState, accel_cmd_mps2: float, steer_cmd_rad: float, params: EgoParams,
                 dt_s: float) -> EgoState:
    """Pure Python-facing wrapper of `bicycle_step_kernel` on EgoState."""
    nxt = bicycle_step_kernel(ego_state_vector(ego), float(accel_cmd_mps2), float(steer_cmd_rad),
                              params_vector(params), float(dt_s))
    return ego_state_from_vector(nxt, params.wheelbase_m)

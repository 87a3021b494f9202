"""Proposals: a 4 s trajectory in the ego frame turned into the states the ego reaches tracking it
(`proposal_states`, with the tail extension and resampling), and the proposals of the logged
human, of a policy and of a policy's action."""

from __future__ import annotations

import math

import numpy as np

from sim.actors.behaviour import initial_actor_state
from sim.dynamics.bicycle import YAW, X, Y, bicycle_step_kernel, params_vector
from sim.dynamics.tracker import reference_from_trajectory, rollout
from sim.engine import observe
from sim.errors import ActionError
from sim.geometry import global_to_local_xy, wrap_angle
from sim.scoring.epdms.config import TRACKER_TAIL_S, EPDMSConfig
from sim.scoring.epdms.data import ScoringData, logged_ego_state
from sim.types.state import ControlAction, EgoState, TrajectoryAction, WorldState


def ego_state_vector(ego: EgoState) -> np.ndarray:
    """(6,) the engine's state vector [x, y, yaw, speed, accel, steer] of an EgoState."""
    return np.array([ego.x_m, ego.y_m, ego.yaw_rad, ego.speed_mps, ego.accel_mps2, ego.steer_rad])


def proposal_states(proposal_xy_in_ego: np.ndarray, proposal_yaw_in_ego: np.ndarray, ego: EgoState,
                    data: ScoringData, ego_params, config: EPDMSConfig = EPDMSConfig(),
                    t_offset_s: np.ndarray | None = None) -> np.ndarray:
    """(H+1, 6) states of the ego tracking a proposal (H = config.horizon_steps) from `ego`."""
    h = config.horizon_steps
    xy = np.asarray(proposal_xy_in_ego, np.float64)
    yaw = np.asarray(proposal_yaw_in_ego, np.float64)
    grid = np.arange(1, h + 1) * config.dt_s
    if t_offset_s is None:
        if xy.shape != (h, 2) or yaw.shape != (h,):
            raise ActionError(f"a proposal has {h} poses at {config.dt_s:g} s spacing: xy ({h}, 2) and yaw ({h},), got "
                              f"{xy.shape} and {yaw.shape}; pass t_offset_s to resample other timings")
    else:
        t = np.asarray(t_offset_s, np.float64)
        if t.ndim != 1 or len(t) != len(xy) or yaw.shape != t.shape or xy.shape != (len(t), 2):
            raise ActionError(f"proposal xy {xy.shape}, yaw {yaw.shape} and t_offset_s {t.shape} do not match")
        xy, yaw = _resample_proposal(xy, yaw, t, grid)
    # The engine's tracker reads the end of a plan as "stop there" and brakes in its last 0.4 s;
    # a proposal says nothing about after its horizon, so the tracker is given the proposal
    # continued with its final speed trend and turn rate for TRACKER_TAIL_S more (only the
    # horizon is simulated).
    xy_ext, yaw_ext = _extend_proposal(xy, yaw, int(round(TRACKER_TAIL_S / config.dt_s)))
    action = TrajectoryAction(xy_ext, yaw_ext, np.arange(1, len(xy_ext) + 1) * config.dt_s)
    reference = reference_from_trajectory(action, ego, config.dt_s)
    state0 = ego_state_vector(ego)
    return rollout(reference, state0, h, ego_params, config.tracker, config.dt_s)


TAIL_FIT_POSES = 6  # poses the speed trend and turn rate of a proposal's end are fitted on
_TAIL_T = np.arange(TAIL_FIT_POSES, dtype=np.float64) - (TAIL_FIT_POSES - 1)
_TAIL_QUADRATIC = np.linalg.pinv(np.stack([np.ones(TAIL_FIT_POSES), _TAIL_T, _TAIL_T ** 2], -1))
_TAIL_LINEAR = np.linalg.pinv(np.stack([np.ones(TAIL_FIT_POSES), _TAIL_T], -1))


def _extend_proposal(xy: np.ndarray, yaw: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Poses (H, 2) / (H,) continued for `steps` more poses: a second-order hold of the distance
    travelled (speed and acceleration from a least-squares quadratic over the last
    TAIL_FIT_POSES poses, speed floored at 0) and a first-order hold of the heading (turn rate from
    a linear fit). The tracker's feedforward then sees the proposal's last trend, not an
    artificial change at its horizon."""
    pts = np.vstack([np.zeros((1, 2)), xy])
    yaws = np.concatenate([[0.0], np.unwrap(yaw)])
    if len(pts) < TAIL_FIT_POSES:
        pts = np.vstack([np.repeat(pts[:1], TAIL_FIT_POSES - len(pts), axis=0), pts])
        yaws = np.concatenate([np.repeat(yaws[:1], TAIL_FIT_POSES - len(yaws)), yaws])
    seg = np.hypot(*np.diff(pts[-TAIL_FIT_POSES:], axis=0).T)
    dist = np.concatenate([[0.0], np.cumsum(seg)])
    _, v_end, half_a = _TAIL_QUADRATIC @ dist  # per step, per step^2 / 2 at the last pose
    step = max(v_end, 0.0)
    accel_step = 2.0 * half_a
    turn = float((_TAIL_LINEAR @ yaws[-TAIL_FIT_POSES:])[1])
    d1 = pts[-1] - pts[-2]
    heading = math.atan2(d1[1], d1[0]) if np.hypot(*d1) > 1e-6 else float(yaws[-1])
    j = np.arange(1, steps + 1)
    speed = np.maximum(step + accel_step * np.arange(0, steps + 1), 0.0)  # distance per step, j = 0 .. steps
    dist = 0.5 * (speed[:-1] + speed[1:])
    direction = heading + (j - 0.5) * turn
    out_xy = xy[-1] + np.cumsum(dist[:, None] * np.stack([np.cos(direction), np.sin(direction)], -1), axis=0)
    return np.vstack([xy, out_xy]), np.concatenate([yaw, float(yaw[-1]) + j * turn])


def _resample_proposal(xy: np.ndarray, yaw: np.ndarray, t: np.ndarray, grid: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Poses at `grid` from poses at times t (linear from the ego's origin at t = 0; held after
    the last pose)."""
    if not (np.all(np.diff(t) > 0) and t[0] > 0):
        raise ActionError("proposal t_offset_s must be positive and strictly increasing")
    tk = np.concatenate([[0.0], t])
    xk = np.vstack([[0.0, 0.0], xy])
    yk = np.unwrap(np.concatenate([[0.0], yaw]))
    return (np.stack([np.interp(grid, tk, xk[:, 0]), np.interp(grid, tk, xk[:, 1])], -1), np.interp(grid, tk, yk))


def human_proposal(data: ScoringData, step_index: int, config: EPDMSConfig = EPDMSConfig()
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The logged human's future as a proposal: (H, 2) xy and (H,) yaw in the ego frame of the
    logged state on the 0.1 s grid. The log is sampled every human_pose_interval_s (NAVSIM: its
    2 Hz database interval) and linearly interpolated; the last logged pose is held past the end."""
    valid = np.flatnonzero(data.log_ego.valid)
    log = data.log_ego.states
    stride = max(int(round(config.human_pose_interval_s / config.dt_s)), 1)
    offsets = np.arange(stride, config.horizon_steps + 1, stride)
    if len(offsets) == 0 or offsets[-1] != config.horizon_steps:
        offsets = np.append(offsets, config.horizon_steps)
    steps = np.minimum(step_index + offsets, int(valid[-1]))
    s0 = log[step_index]
    xy = global_to_local_xy(log[steps][:, [X, Y]], s0[[X, Y]], s0[YAW])
    yaw = wrap_angle(log[steps, YAW] - s0[YAW])
    if stride == 1:
        return xy, yaw
    return _resample_proposal(xy, yaw, offsets * config.dt_s, np.arange(1, config.horizon_steps + 1) * config.dt_s)


def policy_proposal(data: ScoringData, policy, step_index: int, config: EPDMSConfig = EPDMSConfig()
                    ) -> tuple[np.ndarray, np.ndarray]:
    """A policy's proposal at a logged frame: (40, 2) xy and (40,) yaw in the ego frame.

    The policy sees the observation of the logged world at that step (privileged ground truth
    included, as the built-in policies need). Direct controls are held for the horizon."""
    context = data.context
    sc = context.scenario
    ego = logged_ego_state(data, step_index)
    actors = initial_actor_state(sc.actors, context.paths, step_index, False)
    state = WorldState(step_index=step_index, t_us=int(sc.t_us[step_index]), ego=ego, actors=actors)
    obs = observe(context, state, float(data.log_ego.route_s_m[step_index] - data.route.offset_m))
    return action_to_proposal(policy.plan(obs), ego, sc.ego_params, config)


def action_to_proposal(action, ego: EgoState, ego_params, config: EPDMSConfig = EPDMSConfig()
                       ) -> tuple[np.ndarray, np.ndarray]:
    """A policy's action as a proposal on the 0.1 .. 4 s grid in the ego frame: (40, 2), (40,).
    Trajectories are resampled (linear from the ego at t = 0, held after their last pose);
    direct controls are held for the horizon through the bicycle."""
    grid = np.arange(1, config.horizon_steps + 1) * config.dt_s
    if isinstance(action, TrajectoryAction):
        xy, yaw, t = (np.asarray(a, np.float64) for a in (action.xy_in_ego, action.yaw_in_ego_rad, action.t_offset_s))
        if not (np.all(np.isfinite(xy)) and np.all(np.isfinite(yaw)) and np.all(np.isfinite(t))):
            raise ActionError("the policy returned a trajectory with NaN or infinite values")
        return _resample_proposal(xy.reshape(-1, 2), yaw, t, grid)
    if isinstance(action, ControlAction):
        vec = ego_state_vector(ego)
        pv = params_vector(ego_params)
        poses = []
        for _ in range(config.horizon_steps):
            vec = bicycle_step_kernel(vec, float(action.accel_mps2), float(action.steer_rad), pv, config.dt_s)
            poses.append(vec[[X, Y, YAW]])
        poses = np.array(poses)
        return global_to_local_xy(poses[:, :2], ego.xy, ego.yaw_rad), wrap_angle(poses[:, 2] - ego.yaw_rad)
    raise ActionError(f"the policy returned {type(action).__name__}, not a TrajectoryAction or ControlAction")

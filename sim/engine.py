"""The closed-loop engine: a pure `step(context, state, action) -> state` at 10 Hz, the checks
of each step, and the episode loop that wires a policy (and optionally a renderer) to it.

Everything derived from a scenario once (actor paths, route arclengths) lives in a
`SimContext`; states are frozen; given the same scenario, config and policy, an episode is
bit-for-bit the same.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

from sim.actors.behaviour import (
    ActorBehaviorParams,
    ActorPaths,
    build_actor_paths,
    idm_update,
    initial_actor_state,
    replay_actors,
)
from sim.checks import (
    CheckParams,
    CollisionType,
    actor_corners,
    colliding_actors,
    collision_type,
    ego_box_center,
    ego_corners,
    is_at_fault,
    off_road,
    straddles_lanes,
    time_to_collision,
)
from sim.dynamics.bicycle import bicycle_step_kernel, ego_state_from_vector, ego_state_vector, params_vector
from sim.dynamics.tracker import TrackerParams, reference_from_trajectory, tracking_controls
from sim.errors import ActionError, ConfigError, PolicyTerminated
from sim.geometry import (
    global_to_local_xy,
    polyline_arclength,
    project_point_kernel,
    project_to_polyline,
    resample_polyline,
    wrap_angle,
)
from sim.types.observation import Observation, Policy, Renderer
from sim.types.scenario import DT_S, STEP_US, DrivingCommand, Scenario
from sim.types.state import (
    ActorMode,
    ActorState,
    ControlAction,
    EgoState,
    EndReason,
    TrajectoryAction,
    WorldState,
)

PLAN_HORIZON_STEPS = 40  # plans are recorded on a 0.1 s grid over 4 s
PLAN_TIMES_S = np.arange(1, PLAN_HORIZON_STEPS + 1) * DT_S


@dataclass(frozen=True)
class EngineConfig:
    """Closed-loop settings.

    - reactive: vehicles follow their paths with the IDM instead of replaying the log.
    - start_step: first step of the episode on the scenario's 10 Hz grid.
    - max_steps: most steps to simulate; None runs to the end of the scenario.
    - replan_every_steps: the policy is asked every this many steps (1 = 10 Hz); in between
      the ego keeps tracking the last plan.
    - adversary_replan_steps: adversarial actors re-plan this often (5 = 0.5 s).
    - stop_at_route_end: end the episode once the ego passes the end of its route.
    - route_end_margin_m: how close to the route's end counts as done.
    - route_window_m: route projection searches this far around the last arclength, so a
      route that passes near itself never jumps.
    - tracker, actors, checks: sub-configs.
    """

    reactive: bool = False
    start_step: int = 0
    max_steps: int | None = None
    replan_every_steps: int = 1
    adversary_replan_steps: int = 5
    stop_at_route_end: bool = True
    route_end_margin_m: float = 1.0
    route_window_m: float = 30.0
    tracker: TrackerParams = TrackerParams()
    actors: ActorBehaviorParams = ActorBehaviorParams()
    checks: CheckParams = CheckParams()


class ActorPlanner(Protocol):
    """Plans for adversarial actors (injected; see scenarios/adversary).

    `plan` returns global poses at 10 Hz, row 0 applying at the step after `state`:
    xy (R, H, 2) and yaw (R, H) for the actor rows `rows` (R,).
    """

    def plan(self, context: "SimContext", state: WorldState, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True, eq=False)
class SimContext:
    """Per-scenario data prepared once for the engine.

    - scenario, config.
    - paths: the actors' paths (sim.actors.ActorPaths).
    - route_xy: (Q, 2) the route centerline resampled every 1 m; route_s_m: (Q,).
    - route_start_s_m / route_end_s_m: arclength of the logged ego at the episode's first and
      last step: the expert's progress is route_end - route_start.
    - ego_params_vec: the ego parameters as the compiled kernels read them.
    """

    scenario: Scenario
    config: EngineConfig
    paths: ActorPaths
    route_xy: np.ndarray
    route_s_m: np.ndarray
    route_start_s_m: float
    route_end_s_m: float
    last_step: int
    ego_params_vec: np.ndarray = field(repr=False)


def prepare(scenario: Scenario, config: EngineConfig = EngineConfig()) -> SimContext:
    """Check the config against the scenario and precompute what every step needs."""
    t = scenario.num_steps
    if not 0 <= config.start_step < t - 1:
        raise ConfigError(f"start_step {config.start_step} is outside scenario {scenario.name!r} "
                          f"(steps 0..{t - 2}); choose a smaller --start-step")
    if config.replan_every_steps < 1 or config.adversary_replan_steps < 1:
        raise ConfigError("replan_every_steps and adversary_replan_steps must be >= 1")
    last = t - 1 if config.max_steps is None else min(t - 1, config.start_step + config.max_steps)
    route_xy = resample_polyline(scenario.route.centerline_xy, 1.0)
    if len(route_xy) < 2:
        route_xy = resample_polyline(scenario.ego.xy[scenario.ego.valid], 1.0)
    route_s = polyline_arclength(route_xy)
    valid_steps = np.flatnonzero(scenario.ego.valid)
    first = max(config.start_step, int(valid_steps[0]))
    end = int(valid_steps[valid_steps <= last][-1]) if np.any(valid_steps <= last) else first
    s_start = _route_s_global(route_xy, route_s, scenario.ego.xy[first])
    span = valid_steps[(valid_steps >= first) & (valid_steps <= end)]
    s_end = _route_s_window(route_xy, route_s, scenario.ego.xy[span], s_start, config.route_window_m)
    return SimContext(scenario, config, build_actor_paths(scenario.actors, scenario.map, config.actors),
                      route_xy, route_s, s_start, s_end, last, params_vector(scenario.ego_params))


def _route_s_global(route_xy: np.ndarray, route_s: np.ndarray, xy: np.ndarray) -> float:
    return float(project_to_polyline(xy[None], route_xy)[0][0])


def _route_s_window(route_xy: np.ndarray, route_s: np.ndarray, xy_seq: np.ndarray, s0: float, window_m: float) -> float:
    """Arclength of the last of a sequence of points, tracked along the route from s0."""
    s = s0
    for xy in xy_seq[::5]:
        s = route_arclength(route_xy, route_s, xy, s, window_m)
    return route_arclength(route_xy, route_s, xy_seq[-1], s, window_m) if len(xy_seq) else s0


def route_arclength(route_xy: np.ndarray, route_s: np.ndarray, xy: np.ndarray, s_hint_m: float,
                    window_m: float) -> float:
    """Arclength of `xy` on the route, searching only near the previous arclength."""
    lo = max(int(np.searchsorted(route_s, s_hint_m - 0.3 * window_m)) - 1, 0)
    hi = min(int(np.searchsorted(route_s, s_hint_m + window_m)) + 1, len(route_s))
    if hi - lo < 2:
        lo, hi = max(hi - 2, 0), max(hi, 2)
    s_m, _, _ = project_point_kernel(route_xy[lo:hi], route_s[lo:hi], float(xy[0]), float(xy[1]))
    return float(s_m)


def initial_state(context: SimContext) -> WorldState:
    """The world at the episode's first step: the ego and actors where the log has them."""
    sc, k = context.scenario, context.config.start_step
    steps = np.flatnonzero(sc.ego.valid)
    k_ego = int(steps[np.argmin(np.abs(steps - k))])
    ego = EgoState(x_m=float(sc.ego.xy[k_ego, 0]), y_m=float(sc.ego.xy[k_ego, 1]),
                   yaw_rad=float(sc.ego.yaw_rad[k_ego]), speed_mps=float(max(sc.ego.speed_mps[k_ego], 0.0)),
                   accel_mps2=0.0, steer_rad=0.0, yaw_rate_radps=0.0)
    actors = initial_actor_state(sc.actors, context.paths, k, context.config.reactive)
    return WorldState(step_index=k, t_us=int(sc.t_us[k]), ego=ego, actors=actors)


def step(context: SimContext, state: WorldState, action: TrajectoryAction | ControlAction,
         planner: ActorPlanner | None = None) -> WorldState:
    """Advance the world by one 0.1 s step under `action` (pure)."""
    sc = context.scenario
    ego_vec = ego_state_vector(state.ego)
    if isinstance(action, TrajectoryAction):
        reference = reference_from_trajectory(action, state.ego)
        accel_cmd, steer_cmd = tracking_controls(reference, ego_vec, 0.0, sc.ego_params, context.config.tracker)
    elif isinstance(action, ControlAction):
        accel_cmd, steer_cmd = float(action.accel_mps2), float(action.steer_rad)
        if not (np.isfinite(accel_cmd) and np.isfinite(steer_cmd)):
            raise ActionError(f"controls must be finite, got accel={accel_cmd}, steer={steer_cmd}")
    else:
        raise ActionError(f"unknown action type {type(action).__name__}; use TrajectoryAction or ControlAction")
    ego_next = ego_state_from_vector(bicycle_step_kernel(ego_vec, accel_cmd, steer_cmd, context.ego_params_vec, DT_S),
                                     sc.ego_params.wheelbase_m)
    actors_next = advance_actors(context, state, planner)
    k = state.step_index + 1
    t_us = int(sc.t_us[k]) if k < sc.num_steps else int(sc.t_us[-1]) + (k - sc.num_steps + 1) * STEP_US
    return WorldState(step_index=k, t_us=t_us, ego=ego_next, actors=actors_next)


def advance_actors(context: SimContext, state: WorldState, planner: ActorPlanner | None = None) -> ActorState:
    """The actors one step after `state`: replayed from the log, IDM actors against the actors and
    the ego of `state`, adversaries along their plans (the scorer's reactive traffic uses it too)."""
    sc, cfg, cur = context.scenario, context.config, state.actors
    k_next = state.step_index + 1
    xy, yaw, speed, valid = replay_actors(sc.actors, k_next)
    path_s = cur.path_s_m.copy()
    plan_xy, plan_yaw, plan_step = cur.plan_xy, cur.plan_yaw_rad, cur.plan_step

    idm_rows = np.flatnonzero((cur.mode == ActorMode.IDM) & valid)
    if len(idm_rows):
        was_valid = cur.valid[idm_rows]
        running = idm_rows[was_valid]
        spawned = idm_rows[~was_valid]
        path_s[spawned] = context.paths.start_s_m[spawned, min(k_next, sc.num_steps - 1)]
        if len(running):
            others_xy, half_w, half_l, others_v, others_yaw, rows_of = _blockers(context, state)
            s_new, v_new, _ = idm_update(cur, running, context.paths, sc.actors.size_wlh_m, others_xy, half_w, half_l,
                                         others_v, others_yaw, rows_of[running], cfg.actors, DT_S)
            path_s[running] = s_new
            pos, heading = context.paths.pose_at(s_new, running)
            xy[running], yaw[running], speed[running] = pos, heading, v_new

    adv_rows = np.flatnonzero(cur.mode == ActorMode.ADVERSARY)
    if len(adv_rows) and planner is not None:
        due = (plan_xy.shape[1] == 0) | (state.step_index + 1 - plan_step[adv_rows] >= cfg.adversary_replan_steps)
        if np.any(due):
            rows = adv_rows[due] if plan_xy.shape[1] else adv_rows
            new_xy, new_yaw = planner.plan(context, state, rows)
            if plan_xy.shape[1] != new_xy.shape[1]:
                plan_xy = np.zeros((len(cur.xy), new_xy.shape[1], 2))
                plan_yaw = np.zeros((len(cur.xy), new_xy.shape[1]))
            else:
                plan_xy, plan_yaw = plan_xy.copy(), plan_yaw.copy()
            plan_step = plan_step.copy()
            plan_xy[rows], plan_yaw[rows], plan_step[rows] = new_xy, new_yaw, state.step_index + 1
        idx = np.clip(k_next - plan_step[adv_rows], 0, plan_xy.shape[1] - 1)
        prev = np.clip(idx - 1, 0, plan_xy.shape[1] - 1)
        xy[adv_rows] = plan_xy[adv_rows, idx]
        yaw[adv_rows] = plan_yaw[adv_rows, idx]
        prev_xy = np.where((idx > 0)[:, None], plan_xy[adv_rows, prev], cur.xy[adv_rows])
        moved = np.linalg.norm(plan_xy[adv_rows, idx] - prev_xy, axis=1)
        speed[adv_rows] = moved / DT_S
        valid[adv_rows] = True
    return ActorState(xy=xy, yaw_rad=yaw, speed_mps=speed, valid=valid, mode=cur.mode, path_s_m=path_s,
                      plan_xy=plan_xy, plan_yaw_rad=plan_yaw, plan_step=plan_step)


def _blockers(context: SimContext, state: WorldState):
    """Positions, half-widths, half-lengths, speeds and headings of everything that can block an
    actor: the valid actors and the ego (as its body box centre); and each actor's row among
    them (-1 when invalid)."""
    sc, act = context.scenario, state.actors
    rows = np.flatnonzero(act.valid)
    rows_of = np.full(len(act.valid), -1, np.int64)
    rows_of[rows] = np.arange(len(rows))
    p = sc.ego_params
    xy = np.vstack([act.xy[rows], ego_box_center(state.ego, p)[None]])
    half_w = np.concatenate([0.5 * sc.actors.size_wlh_m[rows, 0], [0.5 * p.width_m]])
    half_l = np.concatenate([0.5 * sc.actors.size_wlh_m[rows, 1], [0.5 * p.length_m]])
    v = np.concatenate([act.speed_mps[rows], [state.ego.speed_mps]])
    yaw = np.concatenate([act.yaw_rad[rows], [state.ego.yaw_rad]])
    return xy, half_w, half_l, v, yaw, rows_of


@dataclass(frozen=True, eq=False)
class StepChecks:
    """What the checks found at one state.

    - contacts: (N,) bool, every actor the ego overlaps now.
    - collision: the ego overlaps some actor; collided_actor: the first such actor or -1;
      collision_type: CollisionType of that contact.
    - at_fault_collision: a NEW at-fault contact (each actor counts once per episode).
    - impact_speed_mps: relative speed at a new contact (0 without one).
    - off_road: a footprint corner left the drivable area.
    - route_s_m: arclength along the route; ttc_s: time to collision (inf when none).
    """

    contacts: np.ndarray
    collision: bool
    collided_actor: int
    collision_type: int
    at_fault_collision: bool
    impact_speed_mps: float
    off_road: bool
    route_s_m: float
    ttc_s: float


def evaluate(context: SimContext, state: WorldState, prev_route_s_m: float, hit_before: np.ndarray) -> StepChecks:
    """The checks of one state. `hit_before` (N,) marks actors already collided with."""
    sc = context.scenario
    p = sc.ego_params
    box = ego_corners(state.ego, p)
    hits = colliding_actors(state.ego, p, state.actors, sc.actors.size_wlh_m)
    is_off_road = off_road(sc.map, box)
    boxes = actor_corners(state.actors, sc.actors.size_wlh_m) if hits.any() else None
    first = int(np.argmax(hits)) if hits.any() else -1
    kind = CollisionType.NONE
    at_fault = False
    impact = 0.0
    new = np.flatnonzero(hits & ~hit_before)
    if first >= 0:
        kind = collision_type(state.ego, p, state.actors.xy[first], float(state.actors.speed_mps[first]), boxes[first])
    if len(new):
        straddle = is_off_road or straddles_lanes(sc.map, box, state.ego.yaw_rad)
        for a in new:
            kind_a = collision_type(state.ego, p, state.actors.xy[a], float(state.actors.speed_mps[a]), boxes[a])
            # Hitting a static object counts (NAVSIM weighs it at 0.5 in NC); fault rules are the same.
            if is_at_fault(kind_a, straddle):
                at_fault = True
                first, kind = int(a), kind_a
                ego_v = state.ego.speed_mps * np.array([np.cos(state.ego.yaw_rad), np.sin(state.ego.yaw_rad)])
                act_yaw = state.actors.yaw_rad[a]
                act_v = state.actors.speed_mps[a] * np.array([np.cos(act_yaw), np.sin(act_yaw)])
                impact = float(np.linalg.norm(ego_v - act_v))
                break
    route_s = route_arclength(context.route_xy, context.route_s_m, state.ego.xy, prev_route_s_m,
                              context.config.route_window_m)
    ttc = time_to_collision(state.ego, p, state.actors, sc.actors.size_wlh_m, context.config.checks)
    return StepChecks(hits, bool(hits.any()), first, int(kind), at_fault, impact, is_off_road, route_s, ttc)


@dataclass(frozen=True, eq=False)
class Episode:
    """A closed-loop episode. S recorded states (the initial one and one per step), N actors.

    - scenario_name, policy_name, start_step, reactive; end_reason: EndReason.
    - step_index: (S,) int64; t_us: (S,) int64.
    - ego_xy: (S, 2) rear axle, global; ego_yaw_rad, ego_speed_mps, ego_accel_mps2,
      ego_steer_rad, ego_yaw_rate_radps: (S,).
    - actor_xy: (S, N, 2); actor_yaw_rad, actor_speed_mps: (S, N); actor_valid: (S, N) bool;
      actor_mode: (N,) int8.
    - plan_xy: (S, 40, 2) and plan_yaw_rad: (S, 40): the policy's plan at each state resampled
      to 0.1 s .. 4.0 s in global (the last row repeats the previous plan); plan_valid: (S,) bool
      (False for controls).
    - collision, at_fault_collision, off_road: (S,) bool; collided_actor, collision_type: (S,)
      int; impact_speed_mps, route_s_m, ttc_s: (S,) float (ttc inf when none).
    - route_start_s_m, route_end_s_m: the expert's progress span on the route.
    - wall_s: wall time of the loop; policy_s: time spent in the policy; render_s: rendering.
    """

    scenario_name: str
    policy_name: str
    start_step: int
    reactive: bool
    end_reason: EndReason
    step_index: np.ndarray
    t_us: np.ndarray
    ego_xy: np.ndarray
    ego_yaw_rad: np.ndarray
    ego_speed_mps: np.ndarray
    ego_accel_mps2: np.ndarray
    ego_steer_rad: np.ndarray
    ego_yaw_rate_radps: np.ndarray
    actor_xy: np.ndarray
    actor_yaw_rad: np.ndarray
    actor_speed_mps: np.ndarray
    actor_valid: np.ndarray
    actor_mode: np.ndarray
    plan_xy: np.ndarray
    plan_yaw_rad: np.ndarray
    plan_valid: np.ndarray
    collision: np.ndarray
    collided_actor: np.ndarray
    collision_type: np.ndarray
    at_fault_collision: np.ndarray
    impact_speed_mps: np.ndarray
    off_road: np.ndarray
    route_s_m: np.ndarray
    ttc_s: np.ndarray
    route_start_s_m: float
    route_end_s_m: float
    wall_s: float
    policy_s: float
    render_s: float

    @property
    def num_steps(self) -> int:
        return len(self.step_index) - 1

    def recorded_state(self, i: int) -> WorldState:
        """Recorded state i as a WorldState with the poses, speeds and validity the checks read;
        actor plans and IDM memory are not recorded (empty)."""
        ego = EgoState(*self.ego_xy[i], self.ego_yaw_rad[i], self.ego_speed_mps[i], self.ego_accel_mps2[i],
                       self.ego_steer_rad[i], self.ego_yaw_rate_radps[i])
        n = self.actor_xy.shape[1]
        actors = ActorState(self.actor_xy[i], self.actor_yaw_rad[i], self.actor_speed_mps[i], self.actor_valid[i],
                            self.actor_mode, np.zeros(n), np.zeros((n, 0, 2)), np.zeros((n, 0)), np.zeros(n, np.int64))
        return WorldState(int(self.step_index[i]), int(self.t_us[i]), ego, actors)


def route_ahead_in_ego(context: SimContext, ego: EgoState, route_s_m: float, length_m: float = 100.0,
                       spacing_m: float = 2.0) -> np.ndarray:
    """(K, 2) route centerline points from the ego's arclength forward, in the ego frame."""
    s = np.arange(route_s_m, min(route_s_m + length_m, context.route_s_m[-1]) + 1e-9, spacing_m)
    if len(s) == 0:
        s = np.array([context.route_s_m[-1]])
    xy = np.stack([np.interp(s, context.route_s_m, context.route_xy[:, 0]),
                   np.interp(s, context.route_s_m, context.route_xy[:, 1])], -1)
    return global_to_local_xy(xy, ego.xy, ego.yaw_rad)


def observe(context: SimContext, state: WorldState, route_s_m: float, renderer: Renderer | None = None) -> Observation:
    """The observation of a state (images when a renderer is given)."""
    sc = context.scenario
    k = min(state.step_index, sc.num_steps - 1)
    return Observation(
        t_us=state.t_us, step_index=state.step_index, ego=state.ego,
        driving_command=DrivingCommand(int(sc.route.driving_command[k])),
        route_xy_in_ego=route_ahead_in_ego(context, state.ego, route_s_m),
        images=renderer.render(sc, state) if renderer is not None else None,
        scenario=sc, state=state)


def _plan_in_global(action: TrajectoryAction | ControlAction, ego: EgoState) -> tuple[np.ndarray, bool]:
    """(PLAN_HORIZON_STEPS, 3) global [x, y, yaw] of the plan on the recording grid, and whether
    the action is a plan at all."""
    if not isinstance(action, TrajectoryAction):
        return np.zeros((PLAN_HORIZON_STEPS, 3)), False
    t_knots = action.t_offset_s
    yaw_local = np.unwrap(np.concatenate([[0.0], action.yaw_in_ego_rad]))
    if len(t_knots) == PLAN_HORIZON_STEPS and np.allclose(t_knots, PLAN_TIMES_S):
        local = action.xy_in_ego  # already on the recording grid (the built-in policies' case)
        yaw_local = yaw_local[1:]
    else:
        t_knots = np.concatenate([[0.0], t_knots])
        xy = np.vstack([[0.0, 0.0], action.xy_in_ego])
        local = np.stack([np.interp(PLAN_TIMES_S, t_knots, xy[:, 0]), np.interp(PLAN_TIMES_S, t_knots, xy[:, 1])], -1)
        yaw_local = np.interp(PLAN_TIMES_S, t_knots, yaw_local)
    c, s = np.cos(ego.yaw_rad), np.sin(ego.yaw_rad)
    out = np.empty((PLAN_HORIZON_STEPS, 3))
    out[:, 0] = ego.x_m + c * local[:, 0] - s * local[:, 1]
    out[:, 1] = ego.y_m + s * local[:, 0] + c * local[:, 1]
    out[:, 2] = wrap_angle(ego.yaw_rad + yaw_local)
    return out, True


def _shift_plan(action: TrajectoryAction, planned_from: EgoState, now: EgoState, elapsed_s: float) -> TrajectoryAction:
    """A held plan re-expressed in the current ego frame with times counted from now."""
    keep = action.t_offset_s > elapsed_s + 1e-9
    if not keep.any():
        keep[-1] = True
    c, s = np.cos(planned_from.yaw_rad), np.sin(planned_from.yaw_rad)
    x, y = action.xy_in_ego[keep, 0], action.xy_in_ego[keep, 1]
    xy_g = np.stack([planned_from.x_m + c * x - s * y, planned_from.y_m + s * x + c * y], -1)
    t = np.maximum(action.t_offset_s[keep] - elapsed_s, DT_S)
    t = t + np.arange(len(t)) * 1e-6  # keep strictly increasing after the clamp
    return TrajectoryAction(global_to_local_xy(xy_g, now.xy, now.yaw_rad),
                            action.yaw_in_ego_rad[keep] + planned_from.yaw_rad - now.yaw_rad, t)


class EpisodeRecorder:
    """The bookkeeping of one closed-loop episode, step by step: the checks of every state (with
    route progress and the actors already hit), the plan records, the plan held between
    replans, and the end rules. `run_episode` drives it with an in-process policy; a server
    session (policies_api) drives it with the actions a remote client sends, so that both
    record the same Episode.

    - state, checks: the current state and its checks; route_s_m; hit_before (N,) bool.
    - done; end_reason: EndReason (what ends the episode if nothing else does, until done).
    """

    def __init__(self, context: SimContext, state0: WorldState | None = None):
        cfg = context.config
        self.context = context
        self.state = state0 if state0 is not None else initial_state(context)
        self.hit_before = np.zeros(context.scenario.actors.num_actors, dtype=bool)
        self.route_s_m = context.route_start_s_m
        self.records: list[tuple[WorldState, StepChecks, np.ndarray, bool]] = []
        self.held: tuple[TrajectoryAction | ControlAction, EgoState, int] | None = None
        self.end_reason = EndReason.SCENARIO_END if cfg.max_steps is None else EndReason.MAX_STEPS
        self.done = False
        self.checks = self._check(self.state)

    def _check(self, state: WorldState) -> StepChecks:
        ctx, cfg = self.context, self.context.config
        checks = evaluate(ctx, state, self.route_s_m, self.hit_before)
        self.route_s_m = checks.route_s_m
        self.hit_before |= checks.contacts
        done = state.step_index >= ctx.last_step
        # A log that barely moves has no route to complete: it runs to its last step.
        has_route = ctx.route_end_s_m - ctx.route_start_s_m > 2.0 * cfg.route_end_margin_m
        if cfg.stop_at_route_end and has_route and self.route_s_m >= ctx.route_end_s_m - cfg.route_end_margin_m \
                and state.step_index > cfg.start_step:
            done, self.end_reason = True, EndReason.ROUTE_COMPLETE
        if done:
            self.done = True
            self.records.append((state, checks, self.records[-1][2] if self.records else
                                 np.zeros((PLAN_HORIZON_STEPS, 3)), False))
        return checks

    def wants_plan(self) -> bool:
        """Whether the policy is due (no plan yet, or replan_every_steps since the last one)."""
        return self.held is None or (self.state.step_index - self.held[2]) >= self.context.config.replan_every_steps

    def observe(self, renderer: Renderer | None = None) -> Observation:
        """The observation of the current state."""
        return observe(self.context, self.state, self.route_s_m, renderer)

    def advance(self, action: TrajectoryAction | ControlAction | None = None,
                planner: ActorPlanner | None = None) -> WorldState:
        """Apply `action` (None: keep tracking the held plan) for one step and check the new
        state. Nothing changes when the action is refused (ActionError)."""
        if self.done:
            raise ActionError(f"the episode is over ({self.end_reason}); start another")
        state = self.state
        if action is not None:
            held = (action, state.ego, state.step_index)
        elif self.held is not None:
            held = self.held
        else:
            raise ActionError("no action and no earlier plan to keep tracking; send a trajectory or controls")
        act, planned_from, k_plan = held
        if isinstance(act, TrajectoryAction) and k_plan != state.step_index:
            act = _shift_plan(act, planned_from, state.ego, (state.step_index - k_plan) * DT_S)
        plan_pose, plan_ok = _plan_in_global(act, state.ego)
        new_state = step(self.context, state, act, planner)
        self.held = held
        self.records.append((state, self.checks, plan_pose, plan_ok))
        self.state = new_state
        self.checks = self._check(new_state)
        return new_state

    def terminate(self, reason: EndReason) -> None:
        """End the episode at the current state (a policy that asked to stop)."""
        if not self.done:
            last_plan = self.records[-1][2] if self.records else np.zeros((PLAN_HORIZON_STEPS, 2))
            self.records.append((self.state, self.checks, last_plan, False))
            self.done, self.end_reason = True, reason

    def episode(self, policy_name: str, wall_s: float = 0.0, policy_s: float = 0.0, render_s: float = 0.0) -> Episode:
        """The Episode recorded so far (a running episode is closed at its current state)."""
        records = self.records
        if not self.done:
            last_plan = records[-1][2] if records else np.zeros((PLAN_HORIZON_STEPS, 3))
            records = records + [(self.state, self.checks, last_plan, False)]
        return _episode_from_records(self.context, policy_name, records, self.end_reason, wall_s, policy_s, render_s)


def run_episode(context: SimContext, policy: Policy, renderer: Renderer | None = None,
                planner: ActorPlanner | None = None,
                on_step: Callable[[WorldState, Observation | None], None] | None = None,
                state0: WorldState | None = None) -> Episode:
    """Run one closed-loop episode from the scenario's log (or `state0`) to its end."""
    policy.reset(context.scenario)
    t_start = time.perf_counter()
    recorder = EpisodeRecorder(context, state0)
    policy_s = render_s = 0.0
    while not recorder.done:
        action = None
        if recorder.wants_plan():
            t0 = time.perf_counter()
            obs = recorder.observe(renderer)
            t1 = time.perf_counter()
            try:
                action = policy.plan(obs)
            except PolicyTerminated:
                recorder.terminate(EndReason.POLICY_TERMINATED)
                break
            finally:
                policy_s += time.perf_counter() - t1
            render_s += t1 - t0
            if on_step is not None:
                on_step(recorder.state, obs)
        recorder.advance(action, planner)
    return recorder.episode(policy.name, time.perf_counter() - t_start, policy_s, render_s)


def _episode_from_records(context: SimContext, policy_name: str, records, end_reason: EndReason,
                          wall_s: float, policy_s: float, render_s: float) -> Episode:
    states = [r[0] for r in records]
    checks = [r[1] for r in records]
    ego = [s.ego for s in states]
    return Episode(
        scenario_name=context.scenario.name, policy_name=policy_name, start_step=context.config.start_step,
        reactive=context.config.reactive, end_reason=end_reason,
        step_index=np.array([s.step_index for s in states], np.int64),
        t_us=np.array([s.t_us for s in states], np.int64),
        ego_xy=np.array([[e.x_m, e.y_m] for e in ego]), ego_yaw_rad=np.array([e.yaw_rad for e in ego]),
        ego_speed_mps=np.array([e.speed_mps for e in ego]), ego_accel_mps2=np.array([e.accel_mps2 for e in ego]),
        ego_steer_rad=np.array([e.steer_rad for e in ego]),
        ego_yaw_rate_radps=np.array([e.yaw_rate_radps for e in ego]),
        actor_xy=np.array([s.actors.xy for s in states]).reshape(len(states), -1, 2),
        actor_yaw_rad=np.array([s.actors.yaw_rad for s in states]).reshape(len(states), -1),
        actor_speed_mps=np.array([s.actors.speed_mps for s in states]).reshape(len(states), -1),
        actor_valid=np.array([s.actors.valid for s in states]).reshape(len(states), -1),
        actor_mode=states[0].actors.mode.copy(),
        plan_xy=np.array([r[2][:, :2] for r in records]), plan_yaw_rad=np.array([r[2][:, 2] for r in records]),
        plan_valid=np.array([r[3] for r in records]),
        collision=np.array([c.collision for c in checks]), collided_actor=np.array([c.collided_actor for c in checks]),
        collision_type=np.array([c.collision_type for c in checks]),
        at_fault_collision=np.array([c.at_fault_collision for c in checks]),
        impact_speed_mps=np.array([c.impact_speed_mps for c in checks]),
        off_road=np.array([c.off_road for c in checks]), route_s_m=np.array([c.route_s_m for c in checks]),
        ttc_s=np.array([c.ttc_s for c in checks]),
        route_start_s_m=context.route_start_s_m, route_end_s_m=context.route_end_s_m,
        wall_s=wall_s, policy_s=policy_s, render_s=render_s)

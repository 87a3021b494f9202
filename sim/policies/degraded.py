"""Deliberately degraded policies: known-worse variants of the built-in baselines, used to check
that a score ranks policies the way the closed loop does (`splatsim correlate`).

- `noisy`: the IDM planner with seeded Gaussian noise on its plan poses: a smooth Gaussian
  process over the plan's times (squared-exponential kernel, `length_scale_s`), independently in
  x and y, with a standard deviation growing linearly from 0 at t=0 to `sigma_m` at 4 s; fresh
  noise at every plan, seeded by the seed, the scenario's name and the step. (Independent noise
  per pose would make the tracker weave off the road at any scale; a smooth error is what a
  mis-calibrated planner makes.)
- `laggy`: the IDM planner fed observations 0.5 to 1 s old (the lag drawn per plan, seeded); the
  old plan is re-expressed in the current ego frame with its times counted from now, so it is
  ego-motion compensated but blind to the last lag seconds. In a closed loop the old observation
  comes from the policy's own history; where it has none (an episode's first steps, or a
  pseudo-simulation frame, which gives one observation) it is reconstructed from the privileged
  ground truth: the ego moved back along its heading at its current speed, the actors where the
  log had them lag seconds earlier (NAVSIM's agents get such history frames too).
- `over-cautious`: the IDM planner at 0.6 x its usual desired speed, with a 3 s time headway, a
  6 m standstill gap and gentle acceleration.
- `aggressive`: the IDM planner at 1.4 x its usual desired speed (up to 22 m/s), with a 0.5 s
  headway, a 1 m gap and hard acceleration and braking.

All are privileged (they read `observation.scenario` / `observation.state`), like their base.
Pure `sim`: no rendering, no policies_api.
"""

from __future__ import annotations

import zlib
from collections import deque
from dataclasses import dataclass

import numpy as np

from sim.actors.idm import IDMParams
from sim.errors import ConfigError
from sim.geometry import global_to_local_xy, local_to_global_xy
from sim.policies.builtin import BUILTIN_POLICIES, PLAN_TIMES_S, IDMPolicy, IDMPolicyParams
from sim.types.observation import Observation
from sim.types.scenario import DT_S, STEP_US, Scenario
from sim.types.state import ActorState, EgoState, TrajectoryAction, WorldState


def _seed_key(seed: int, scenario: Scenario | None, step: int) -> list[int]:
    name = scenario.name if scenario is not None else ""
    return [int(seed), zlib.crc32(name.encode()), int(step) & 0xFFFFFFFF]


@dataclass(frozen=True)
class NoisyParams:
    """- base: the built-in policy whose plans get noise; sigma_m: std of the noise on x and y at
    4 s (linear in time from 0); length_scale_s: correlation time of the noise; seed."""

    base: str = "idm"
    sigma_m: float = 0.5
    length_scale_s: float = 1.0
    seed: int = 0


def _base_policy(policy: str, base: str):
    if base not in BUILTIN_POLICIES:
        raise ConfigError(f"{policy} policy: base must be one of {', '.join(BUILTIN_POLICIES)}, got {base!r}")
    return BUILTIN_POLICIES[base]()


class NoisyPolicy:
    """A built-in policy with seeded Gaussian noise on its plan poses (headings kept)."""

    def __init__(self, params: NoisyParams = NoisyParams(), name: str = "noisy"):
        self.name = name
        if params.sigma_m < 0:
            raise ConfigError(f"{name} policy: sigma_m must be >= 0, got {params.sigma_m}")
        self.params = params
        self.base = _base_policy(self.name, params.base)
        self._scenario: Scenario | None = None

    def reset(self, scenario: Scenario) -> None:
        self._scenario = scenario
        self.base.reset(scenario)

    def plan(self, observation: Observation) -> TrajectoryAction:
        action = self.base.plan(observation)
        rng = np.random.default_rng(_seed_key(self.params.seed, observation.scenario or self._scenario,
                                              observation.step_index))
        t = np.asarray(action.t_offset_s, np.float64)
        std = self.params.sigma_m * np.clip(t / PLAN_TIMES_S[-1], 0.0, 1.0)
        k = np.exp(-0.5 * ((t[:, None] - t[None]) / max(self.params.length_scale_s, 1e-3)) ** 2)
        chol = np.linalg.cholesky(k + 1e-6 * np.eye(len(t)))
        noise = (chol @ rng.standard_normal((len(t), 2))) * std[:, None]
        return TrajectoryAction(np.asarray(action.xy_in_ego) + noise, np.asarray(action.yaw_in_ego_rad).copy(),
                                t.copy())


@dataclass(frozen=True)
class LaggyParams:
    """- base: the built-in policy that plans; lag_s: (min, max) age of the observations it plans
    from, drawn uniformly per plan and rounded to 0.1 s; seed; history_steps: observations kept."""

    base: str = "idm"
    lag_s: tuple[float, float] = (0.5, 1.0)
    seed: int = 0
    history_steps: int = 30


class LaggyPolicy:
    """A built-in policy planning from old observations (see the module docstring)."""

    def __init__(self, params: LaggyParams = LaggyParams(), name: str = "laggy"):
        self.name = name
        lo, hi = params.lag_s
        if not 0.0 <= lo <= hi:
            raise ConfigError(f"{name} policy: lag_s must be (min, max) with 0 <= min <= max, got {params.lag_s}")
        self.params = params
        self.base = _base_policy(self.name, params.base)
        self._history: deque[Observation] = deque(maxlen=params.history_steps)
        self._scenario: Scenario | None = None

    def reset(self, scenario: Scenario) -> None:
        self._scenario = scenario
        self._history.clear()
        self.base.reset(scenario)

    def lag_steps(self, observation: Observation) -> int:
        """The lag (steps) of the plan made at this observation (seeded, reproducible)."""
        lo, hi = self.params.lag_s
        rng = np.random.default_rng(_seed_key(self.params.seed, observation.scenario or self._scenario,
                                              observation.step_index))
        return int(round(rng.uniform(lo, hi) / DT_S))

    def plan(self, observation: Observation) -> TrajectoryAction:
        lag = self.lag_steps(observation)
        old = self._from_history(observation.step_index - lag)
        self._history.append(observation)
        if lag == 0:
            return self.base.plan(observation)
        if old is None:
            old = reconstruct_past_observation(observation, lag)
        action = self.base.plan(old)
        return shift_plan(action, old.ego, observation.ego, (observation.step_index - old.step_index) * DT_S)

    def _from_history(self, step: int) -> Observation | None:
        for obs in reversed(self._history):
            if obs.step_index == step:
                return obs
        return None


def reconstruct_past_observation(observation: Observation, lag_steps: int) -> Observation:
    """The observation `lag_steps` earlier, rebuilt from privileged ground truth: the ego moved
    back along its heading at its current speed, the actors at their logged poses then, the route
    extended back to the old ego along its first direction. No images."""
    sc, state = observation.scenario, observation.state
    if sc is None or state is None:
        raise ConfigError("the laggy policy needs privileged ground truth (scenario and state) to rebuild a past "
                          "observation it has not seen")
    from sim.actors.behaviour import replay_actors

    ego = observation.ego
    back = max(ego.speed_mps, 0.0) * lag_steps * DT_S
    c, s = np.cos(ego.yaw_rad), np.sin(ego.yaw_rad)
    old_ego = EgoState(ego.x_m - back * c, ego.y_m - back * s, ego.yaw_rad, ego.speed_mps, 0.0, 0.0, 0.0)
    step = max(observation.step_index - lag_steps, 0)
    xy, yaw, speed, valid = replay_actors(sc.actors, step)
    cur = state.actors
    actors = ActorState(xy=xy, yaw_rad=yaw, speed_mps=speed, valid=valid, mode=cur.mode, path_s_m=cur.path_s_m,
                        plan_xy=cur.plan_xy, plan_yaw_rad=cur.plan_yaw_rad, plan_step=cur.plan_step)
    route = local_to_global_xy(np.asarray(observation.route_xy_in_ego, np.float64).reshape(-1, 2), ego.xy, ego.yaw_rad)
    if len(route) >= 2:
        d = route[1] - route[0]
        n = np.linalg.norm(d)
        if n > 1e-6:
            start = global_to_local_xy(route[0], old_ego.xy, old_ego.yaw_rad)
            gap = float(np.hypot(*start))
            if gap > 1e-3:
                extra = route[0] - (d / n) * np.arange(gap, 0.0, -2.0)[:, None]
                route = np.vstack([extra, route])
    t_us = int(observation.t_us) - lag_steps * STEP_US
    old_state = WorldState(step_index=step, t_us=t_us, ego=old_ego, actors=actors)
    return Observation(t_us=t_us, step_index=step, ego=old_ego, driving_command=observation.driving_command,
                       route_xy_in_ego=global_to_local_xy(route, old_ego.xy, old_ego.yaw_rad), images=None,
                       scenario=sc, state=old_state)


def shift_plan(action: TrajectoryAction, planned_from: EgoState, now: EgoState, elapsed_s: float) -> TrajectoryAction:
    """A plan made `elapsed_s` ago at `planned_from`, in the current ego frame on the 0.1 .. 4 s
    grid: poses already passed are dropped and the tail is continued at the plan's final velocity."""
    t = np.asarray(action.t_offset_s, np.float64) - elapsed_s
    xy_g = local_to_global_xy(np.asarray(action.xy_in_ego, np.float64), planned_from.xy, planned_from.yaw_rad)
    yaw_g = np.asarray(action.yaw_in_ego_rad, np.float64) + planned_from.yaw_rad
    t_all = np.concatenate([[-elapsed_s], t])
    xy_all = np.vstack([planned_from.xy[None], xy_g])
    yaw_all = np.concatenate([[planned_from.yaw_rad], yaw_g])
    grid = PLAN_TIMES_S
    out_xy = np.stack([np.interp(grid, t_all, xy_all[:, 0]), np.interp(grid, t_all, xy_all[:, 1])], -1)
    out_yaw = np.interp(grid, t_all, yaw_all)
    past_end = grid > t_all[-1]
    if past_end.any() and len(t_all) >= 2:
        dt = max(t_all[-1] - t_all[-2], 1e-6)
        vel = (xy_all[-1] - xy_all[-2]) / dt
        out_xy[past_end] = xy_all[-1] + (grid[past_end] - t_all[-1])[:, None] * vel
    return TrajectoryAction(global_to_local_xy(out_xy, now.xy, now.yaw_rad), out_yaw - now.yaw_rad, grid.copy())


def over_cautious_policy() -> IDMPolicy:
    return IDMPolicy(IDMPolicyParams(
        idm=IDMParams(max_accel_mps2=0.8, comfort_decel_mps2=2.0, time_headway_s=3.0, min_gap_m=6.0),
        min_desired_speed_mps=3.0, max_desired_speed_mps=15.0, desired_speed_factor=0.6), "over-cautious")


def aggressive_policy() -> IDMPolicy:
    return IDMPolicy(IDMPolicyParams(
        idm=IDMParams(max_accel_mps2=3.0, comfort_decel_mps2=4.5, time_headway_s=0.5, min_gap_m=1.0),
        min_desired_speed_mps=5.0, max_desired_speed_mps=22.0, desired_speed_factor=1.4), "aggressive")


DEGRADED_POLICIES = {
    "noisy": lambda seed: NoisyPolicy(NoisyParams(seed=seed)),
    "laggy": lambda seed: LaggyPolicy(LaggyParams(seed=seed)),
    "over-cautious": lambda seed: over_cautious_policy(),
    "aggressive": lambda seed: aggressive_policy(),
}


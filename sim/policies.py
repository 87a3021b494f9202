"""Built-in policies: the baselines every score is compared with.

- `expert`: replays the logged ego trajectory through the tracker.
- `constant-velocity`: keeps the current speed and heading.
- `idm`: follows the route centerline at an IDM speed that brakes for whatever is ahead.

They read the privileged `observation.scenario` / `observation.state` (ground truth), as
NAVSIM's privileged baselines do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.errors import ConfigError
from sim.geometry import global_to_local_xy, wrap_angle, interpolate_polyline, polyline_arclength, project_to_polyline
from sim.idm import IDMParams, idm_acceleration
from sim.observation import Observation
from sim.scenario import DT_S, Scenario
from sim.state import TrajectoryAction

HORIZON_STEPS = 40  # plans cover 4 s at 0.1 s
PLAN_TIMES_S = np.arange(1, HORIZON_STEPS + 1) * DT_S


def _require_privileged(observation: Observation, policy: str) -> tuple[Scenario, object]:
    if observation.scenario is None or observation.state is None:
        raise ConfigError(f"the {policy!r} policy needs privileged ground truth (scenario and state) in its observation")
    return observation.scenario, observation.state


class ExpertPolicy:
    """Replays the log: the next 4 s of logged ego poses, in the current ego frame. Where the
    log ends the plan holds the last pose, so the tracker brings the ego to a stop there."""

    name = "expert"

    def reset(self, scenario: Scenario) -> None:
        pass

    def plan(self, observation: Observation) -> TrajectoryAction:
        sc, _ = _require_privileged(observation, self.name)
        valid = np.flatnonzero(sc.ego.valid)
        last = int(valid[-1])
        steps = np.minimum(observation.step_index + np.arange(1, HORIZON_STEPS + 1), last)
        ego = observation.ego
        xy = global_to_local_xy(sc.ego.xy[steps], ego.xy, ego.yaw_rad)
        yaw = wrap_angle(sc.ego.yaw_rad[steps] - ego.yaw_rad)
        return TrajectoryAction(xy, yaw, PLAN_TIMES_S.copy())


class ConstantVelocityPolicy:
    """Drives straight on at the current speed (the classic open-loop baseline)."""

    name = "constant-velocity"

    def reset(self, scenario: Scenario) -> None:
        pass

    def plan(self, observation: Observation) -> TrajectoryAction:
        v = max(observation.ego.speed_mps, 0.0)
        xy = np.stack([v * PLAN_TIMES_S, np.zeros(HORIZON_STEPS)], -1)
        return TrajectoryAction(xy, np.zeros(HORIZON_STEPS), PLAN_TIMES_S.copy())


@dataclass(frozen=True)
class IDMPolicyParams:
    """The IDM planner.

    - idm: IDM parameters; desired speed = clip(max logged ego speed, min, max) unless
      `desired_speed_mps` is set.
    - min_desired_speed_mps, max_desired_speed_mps: clip of the derived desired speed.
    - corridor_margin_m: agents within half-widths + this of the route ahead are leaders.
    - lookahead_m: how far along the route leaders are searched.
    - lateral_convergence_s: how fast the plan pulls back to the centerline.
    """

    idm: IDMParams = IDMParams(max_accel_mps2=1.5, comfort_decel_mps2=3.0, time_headway_s=1.5, min_gap_m=3.0)
    desired_speed_mps: float | None = None
    min_desired_speed_mps: float = 5.0
    max_desired_speed_mps: float = 15.0
    corridor_margin_m: float = 0.3
    lookahead_m: float = 60.0
    lateral_convergence_s: float = 2.0


class IDMPolicy:
    """Lane following along the route with IDM speed control against leaders on the route."""

    name = "idm"

    def __init__(self, params: IDMPolicyParams = IDMPolicyParams()):
        self.params = params
        self._desired_speed_mps = params.desired_speed_mps or params.max_desired_speed_mps

    def reset(self, scenario: Scenario) -> None:
        p = self.params
        if p.desired_speed_mps is None:
            logged = scenario.ego.speed_mps[scenario.ego.valid]
            top = float(np.percentile(logged, 95)) if len(logged) else p.max_desired_speed_mps
            self._desired_speed_mps = float(np.clip(top, p.min_desired_speed_mps, p.max_desired_speed_mps))

    def plan(self, observation: Observation) -> TrajectoryAction:
        sc, state = _require_privileged(observation, self.name)
        p = self.params
        route = observation.route_xy_in_ego  # ego frame, from the ego's route position forward
        if len(route) < 2:
            return ConstantVelocityPolicy().plan(observation)
        ego = observation.ego
        s_line = polyline_arclength(route)
        gap, lead_v = self._leader(route, s_line, state, sc)
        # Integrate the IDM over the horizon with the leader at constant speed.
        v, s, lead_s = max(ego.speed_mps, 0.0), 0.0, gap
        s_plan = np.zeros(HORIZON_STEPS)
        for k in range(HORIZON_STEPS):
            a = idm_acceleration(np.array([v]), np.array([lead_s - s]), np.array([lead_v]),
                                 np.array([self._desired_speed_mps]), p.idm)[0]
            v_next = max(v + a * DT_S, 0.0)
            s += 0.5 * (v + v_next) * DT_S
            v = v_next
            lead_s += lead_v * DT_S
            s_plan[k] = s
        # The route starts at the ego's foot point; blend the current lateral offset out.
        s0, lat0, _ = project_to_polyline(np.zeros((1, 2)), route)
        pts, heading = interpolate_polyline(route, s0[0] + s_plan)
        decay = np.exp(-PLAN_TIMES_S / p.lateral_convergence_s)
        normal = np.stack([-np.sin(heading), np.cos(heading)], -1)
        pts = pts + (lat0[0] * decay)[:, None] * normal
        return TrajectoryAction(pts, np.unwrap(heading), PLAN_TIMES_S.copy())

    def _leader(self, route: np.ndarray, s_line: np.ndarray, state, sc: Scenario) -> tuple[float, float]:
        """Gap (m, from the ego's front bumper) and speed of the nearest agent on the route ahead."""
        p = self.params
        ego = state.ego
        act = state.actors
        rows = np.flatnonzero(act.valid)
        if len(rows) == 0:
            return np.inf, 0.0
        xy_local = global_to_local_xy(act.xy[rows], ego.xy, ego.yaw_rad)
        near = np.linalg.norm(xy_local, axis=1) < p.lookahead_m + 10.0
        rows, xy_local = rows[near], xy_local[near]
        if len(rows) == 0:
            return np.inf, 0.0
        s, lat, heading = project_to_polyline(xy_local, route)
        size = sc.actors.size_wlh_m[rows]
        half_w = 0.5 * sc.ego_params.width_m + 0.5 * size[:, 0] + p.corridor_margin_m
        front = sc.ego_params.rear_axle_to_center_m + 0.5 * sc.ego_params.length_m
        ahead = (np.abs(lat) < half_w) & (s > 0.0) & (s < min(p.lookahead_m, s_line[-1])) & (xy_local[:, 0] > front - 1.0)
        if not ahead.any():
            return np.inf, 0.0
        gaps = s - front - 0.5 * size[:, 1]
        i = np.flatnonzero(ahead)[np.argmin(gaps[ahead])]
        along = np.cos(act.yaw_rad[rows[i]] - ego.yaw_rad - heading[i])
        return max(float(gaps[i]), 0.0), max(float(act.speed_mps[rows[i]] * along), 0.0)


BUILTIN_POLICIES = {"expert": ExpertPolicy, "constant-velocity": ConstantVelocityPolicy, "idm": IDMPolicy}


def make_policy(name: str):
    """A built-in policy by name."""
    if name not in BUILTIN_POLICIES:
        raise ConfigError(f"unknown policy {name!r}; choose one of {', '.join(BUILTIN_POLICIES)} "
                          "(or grpc://HOST:PORT for a remote policy)")
    return BUILTIN_POLICIES[name]()

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

from sim.actors.idm import IDMParams, idm_acceleration
from sim.errors import ConfigError
from sim.geometry import global_to_local_xy, interpolate_polyline, polyline_arclength, project_to_polyline, wrap_angle
from sim.types.observation import Observation
from sim.types.scenario import DT_S, ActorKind, Scenario
from sim.types.state import TrajectoryAction

HORIZON_STEPS = 40  # plans cover 4 s at 0.1 s
PLAN_TIMES_S = np.arange(1, HORIZON_STEPS + 1) * DT_S


def _require_privileged(observation: Observation, policy: str) -> tuple[Scenario, object]:
    if observation.scenario is None or observation.state is None:
        raise ConfigError(f"the {policy!r} policy needs privileged ground truth (scenario and state) in its "
                          "observation")
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
    - desired_speed_factor: the derived desired speed x this, clipped again (a speed sweep).
    - lateral_bias_m: the plan converges to this offset from the centerline (positive left)
      instead of the centerline itself.
    - corridor_margin_m: agents within half-widths + this of the route ahead are leaders.
    - pedestrian_margin_m: the same margin for pedestrians.
    - lookahead_m: how far along the route leaders are searched.
    - lateral_convergence_s: how fast the plan pulls back to the centerline.
    - max_lateral_accel_mps2: curves are taken no faster than sqrt(a_lat / curvature).
    - curve_decel_mps2: the deceleration planned ahead of a curve.
    - forecast_horizon_s, forecast_step_s: constant-velocity forecast of the other agents.
    - yield_margin_s: the ego yields at a crossing point unless it would get there this much
      earlier than the crossing agent.
    """

    idm: IDMParams = IDMParams(max_accel_mps2=1.5, comfort_decel_mps2=3.0, time_headway_s=1.5, min_gap_m=3.0)
    desired_speed_mps: float | None = None
    min_desired_speed_mps: float = 5.0
    max_desired_speed_mps: float = 15.0
    desired_speed_factor: float = 1.0
    lateral_bias_m: float = 0.0
    corridor_margin_m: float = 0.3
    lookahead_m: float = 60.0
    lateral_convergence_s: float = 2.0
    max_lateral_accel_mps2: float = 2.0
    curve_decel_mps2: float = 2.0
    forecast_horizon_s: float = 4.0
    forecast_step_s: float = 0.5
    yield_margin_s: float = 1.5
    pedestrian_margin_m: float = 0.8


class IDMPolicy:
    """Lane following along the route with IDM speed control against leaders on the route."""

    def __init__(self, params: IDMPolicyParams = IDMPolicyParams(), name: str = "idm"):
        self.name = name
        self.params = params
        self._desired_speed_mps = params.desired_speed_mps or params.max_desired_speed_mps

    def reset(self, scenario: Scenario) -> None:
        p = self.params
        if p.desired_speed_mps is None:
            logged = scenario.ego.speed_mps[scenario.ego.valid]
            top = float(np.percentile(logged, 95)) if len(logged) else p.max_desired_speed_mps
            clipped = np.clip(top, p.min_desired_speed_mps, p.max_desired_speed_mps)
            self._desired_speed_mps = float(np.clip(clipped * p.desired_speed_factor, p.min_desired_speed_mps,
                                                    p.max_desired_speed_mps))

    def plan(self, observation: Observation) -> TrajectoryAction:
        sc, state = _require_privileged(observation, self.name)
        p = self.params
        route = observation.route_xy_in_ego  # ego frame, from the ego's route position forward
        if len(route) < 2:
            return ConstantVelocityPolicy().plan(observation)
        ego = observation.ego
        s_line = polyline_arclength(route)
        gap, lead_v = self._leader(route, s_line, state, sc)
        curve_limit = self._curve_speed_limit(route, s_line)
        # Integrate the IDM over the horizon with the leader at constant speed; the desired speed
        # drops ahead of curves.
        v, s, lead_s = max(ego.speed_mps, 0.0), 0.0, gap
        s_plan = np.zeros(HORIZON_STEPS)
        for k in range(HORIZON_STEPS):
            desired = min(self._desired_speed_mps, float(np.interp(s, s_line, curve_limit)))
            a = idm_acceleration(np.array([v]), np.array([lead_s - s]), np.array([lead_v]),
                                 np.array([desired]), p.idm)[0]
            v_next = max(v + a * DT_S, 0.0)
            s += 0.5 * (v + v_next) * DT_S
            v = v_next
            lead_s += lead_v * DT_S
            s_plan[k] = s
        # The route starts at the ego's foot point; blend the current lateral offset into the bias.
        s0, lat0, _ = project_to_polyline(np.zeros((1, 2)), route)
        pts, heading = interpolate_polyline(route, s0[0] + s_plan)
        decay = np.exp(-PLAN_TIMES_S / p.lateral_convergence_s)
        normal = np.stack([-np.sin(heading), np.cos(heading)], -1)
        pts = pts + (lat0[0] * decay + p.lateral_bias_m * (1.0 - decay))[:, None] * normal
        # The headings follow the blend (the tracker steers by the plan's headings, so a plan
        # whose headings ignore its sideways drift is hardly followed sideways).
        lateral_rate_mps = (p.lateral_bias_m - lat0[0]) * decay / p.lateral_convergence_s
        speed_mps = np.maximum(np.diff(np.concatenate([[0.0], s_plan])) / DT_S, 1.0)
        return TrajectoryAction(pts, np.unwrap(heading) + np.arctan2(lateral_rate_mps, speed_mps),
                                PLAN_TIMES_S.copy())

    def _curve_speed_limit(self, route: np.ndarray, s_line: np.ndarray) -> np.ndarray:
        """(K,) the highest speed at each route point that still takes every curve ahead at the
        lateral-acceleration limit, braking at curve_decel_mps2 (a backward pass)."""
        p = self.params
        heading = np.unwrap(np.arctan2(np.diff(route[:, 1]), np.diff(route[:, 0])))
        ds = np.maximum(np.diff(s_line), 1e-3)
        curvature = np.abs(np.diff(heading)) / np.maximum(0.5 * (ds[1:] + ds[:-1]), 1e-3)
        first, last = (curvature[0], curvature[-1]) if len(curvature) else (0.0, 0.0)
        curvature = np.concatenate([[first], curvature, [last]])
        limit = np.sqrt(p.max_lateral_accel_mps2 / np.maximum(curvature, 1e-6))
        for i in range(len(limit) - 2, -1, -1):
            braking = 2.0 * p.curve_decel_mps2 * (s_line[i + 1] - s_line[i])
            limit[i] = min(limit[i], np.sqrt(limit[i + 1] ** 2 + braking))
        return limit

    def _leader(self, route: np.ndarray, s_line: np.ndarray, state, sc: Scenario) -> tuple[float, float]:
        """Gap (m, from the ego's front bumper) and speed of what the ego must stay behind.

        Agents on the route ahead are leaders at their speed along the route. Agents that will
        cross the route (constant-velocity forecast) are treated as standing at the crossing
        point when the ego would get there no more than `yield_margin_s` after them; so the
        ego yields at intersections instead of driving into crossing traffic.
        """
        p = self.params
        ego = state.ego
        act = state.actors
        rows = np.flatnonzero(act.valid)
        if len(rows) == 0:
            return np.inf, 0.0
        horizon = np.arange(0.0, p.forecast_horizon_s + 1e-9, p.forecast_step_s)  # (H,)
        velocity = act.speed_mps[rows, None] * np.stack([np.cos(act.yaw_rad[rows]), np.sin(act.yaw_rad[rows])], -1)
        xy_future = act.xy[rows, None, :] + horizon[None, :, None] * velocity[:, None, :]  # (M, H, 2)
        local = global_to_local_xy(xy_future.reshape(-1, 2), ego.xy, ego.yaw_rad)
        near = (np.linalg.norm(local, axis=1) < p.lookahead_m + 10.0).reshape(len(rows), len(horizon))
        keep = near.any(axis=1)
        rows, local = rows[keep], local.reshape(len(keep), len(horizon), 2)[keep]
        if len(rows) == 0:
            return np.inf, 0.0
        s, lat, heading = project_to_polyline(local.reshape(-1, 2), route)
        s, lat, heading = (a.reshape(len(rows), len(horizon)) for a in (s, lat, heading))
        size = sc.actors.size_wlh_m[rows]
        # Pedestrians get a wider berth: they turn onto crossings without warning.
        margin = np.where(sc.actors.kind[rows] == ActorKind.PEDESTRIAN, p.pedestrian_margin_m, p.corridor_margin_m)
        half_w = (0.5 * sc.ego_params.width_m + 0.5 * size[:, 0] + margin)[:, None]
        front = sc.ego_params.rear_axle_to_center_m + 0.5 * sc.ego_params.length_m
        on_route = (np.abs(lat) < half_w) & (s > 0.0) & (s < min(p.lookahead_m, s_line[-1])) \
            & (local[..., 0] > front - 1.0)
        gaps = s - front - 0.5 * size[:, 1, None]
        # Now: an ordinary leader, followed at its speed along the route.
        best_gap, best_v = np.inf, 0.0
        if on_route[:, 0].any():
            i = np.flatnonzero(on_route[:, 0])[np.argmin(gaps[on_route[:, 0], 0])]
            along = np.cos(act.yaw_rad[rows[i]] - ego.yaw_rad - heading[i, 0])
            best_gap, best_v = max(float(gaps[i, 0]), 0.0), max(float(act.speed_mps[rows[i]] * along), 0.0)
        # Later: a crossing point the agent reaches before the ego clearly would (the ego goes
        # first only when it gets there more than yield_margin_s ahead of the agent).
        ego_arrival_s = np.maximum(gaps, 0.0) / max(ego.speed_mps, 1.0)
        crossing = on_route[:, 1:] & (ego_arrival_s[:, 1:] >= horizon[None, 1:] - p.yield_margin_s)
        if crossing.any():
            gap = float(np.min(gaps[:, 1:][crossing]))
            if gap < best_gap:
                best_gap, best_v = max(gap, 0.0), 0.0
        return best_gap, best_v


BUILTIN_POLICIES = {"expert": ExpertPolicy, "constant-velocity": ConstantVelocityPolicy, "idm": IDMPolicy}


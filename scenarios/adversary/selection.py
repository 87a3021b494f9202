"""Picking the adversary: the nearest plausible actor for a collision type.

A candidate is (actor, start step). Plausible means:
- a vehicle that moves somewhere in its log (parked cars stay parked);
- valid from `history_steps` before the start through `horizon_steps` after it (its log
  covers the planning horizon, so the unguided model has a realistic situation to continue);
- its centre on the drivable area, within `max_distance_m` of the ego's box centre;
- placed for the collision type, in the ego's frame at the start (x forward, y left, relative
  heading dpsi):
  - rear-end: same direction (|dpsi| < 0.5 rad), in the ego's lane (|y| < 2.5 m), either
    behind (-35 < x < -6 m: it runs into the ego) or ahead (6 < x < 40 m with the ego moving
    > 3 m/s: it brakes in front of the ego);
  - cut-in: same direction, in a neighbouring lane (2 < |y| < 7 m), -15 < x < 25 m;
  - head-on: opposite direction (|dpsi| > pi - 0.6), ahead (8 < x < 70 m), in the nearest
    opposing lane or the ego's own (|y| < 6 m), closing.
- reachable: the type's heuristic proposal (proposals.py), aimed at the ego's *logged*
  future, stays on the drivable area, needs no more than the control limits, meets the ego
  (the two boxes, each grown by `reach_tolerance_m`, overlap) within the horizon, and meets
  it at the type's relative heading (rear-end < 0.5 rad, head-on > pi - 0.8, cut-in between),
  with a lateral acceleration of at most `max_lateral_accel_mps2` on the way.
  This rejects actors that look right now but that the ego turns away from.
Among an actor's plausible start steps the one nearest to the type's preferred distance (a
few seconds away from the conflict) is kept; actors are ranked by that distance mismatch
("nearest plausible"), ties by start step then actor index. "any" pools all three types.
Selection is an open-loop decision made on the log, so it may use the ego's logged future;
the adversary itself only ever sees the closed-loop state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scenarios.adversary.data import ego_center_track
from scenarios.adversary.features import FUTURE_STEPS, HIST_STEPS
from sim.geometry import (
    box_corners_xy,
    boxes_overlap,
    global_to_local_xy,
    polyline_arclength,
    wrap_angle,
)
from sim.types.scenario import ActorKind, Scenario

PREFERRED_DISTANCE_M = {"rear-end": 12.0, "cut-in": 8.0, "head-on": 35.0}


@dataclass(frozen=True)
class SelectionConfig:
    """Candidate filter.

    - max_distance_m: farthest adversary from the ego at the start.
    - history_steps, horizon_steps: the log must cover the actor over [start - history, start + horizon].
    - min_episode_steps: the scenario must continue at least this long after the start.
    - step_stride: start steps considered (every this many steps).
    - min_path_m: an actor must move at least this far in its log.
    - reach_tolerance_m: the proposal's box and the ego's, each grown by this, must overlap.
    - offroad_tolerance_m: how far a proposal's corners may stray off the drivable area.
    - max_lateral_accel_mps2: the sharpest turn a proposal may need (speed x yaw rate).
    """

    max_distance_m: float = 45.0
    history_steps: int = HIST_STEPS - 1
    horizon_steps: int = 30
    min_episode_steps: int = FUTURE_STEPS
    step_stride: int = 5
    min_path_m: float = 2.0
    reach_tolerance_m: float = 1.0
    offroad_tolerance_m: float = 0.3
    max_lateral_accel_mps2: float = 4.5


@dataclass(frozen=True)
class Candidate:
    """actor: row in the scenario's tracks; start_step; collision_type (never "any");
    distance_m from the ego; rel_x_m, rel_y_m, rel_yaw_rad: placement in the ego frame;
    score: rank key (lower first)."""

    actor: int
    start_step: int
    collision_type: str
    distance_m: float
    rel_x_m: float
    rel_y_m: float
    rel_yaw_rad: float
    score: float

    def to_dict(self) -> dict:
        return {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in self.__dict__.items()}


def compatible_type(rel_x: float, rel_y: float, rel_yaw: float, ego_speed: float, actor_speed: float) -> list[str]:
    """The collision types an actor placed at (rel_x, rel_y, rel_yaw) in the ego frame suits."""
    out = []
    same = abs(rel_yaw) < 0.5
    if same and abs(rel_y) < 2.5 and (-35.0 < rel_x < -6.0 or (6.0 < rel_x < 40.0 and ego_speed > 3.0)):
        out.append("rear-end")
    if same and 2.0 < abs(rel_y) < 7.0 and -15.0 < rel_x < 25.0:
        out.append("cut-in")
    if abs(rel_yaw) > np.pi - 0.6 and 8.0 < rel_x < 70.0 and abs(rel_y) < 6.0 and ego_speed + actor_speed > 3.0:
        out.append("head-on")
    return out


def select_candidates(scenario: Scenario, collision_type: str = "any",
                      config: SelectionConfig = SelectionConfig()) -> list[Candidate]:
    """Plausible adversaries of a scenario, best first (one per actor and type)."""
    a = scenario.actors
    t_total = scenario.num_steps
    ego_c = ego_center_track(scenario)
    types = ("rear-end", "cut-in", "head-on") if collision_type == "any" else (collision_type,)
    speed = np.linalg.norm(a.velocity_xy_mps, axis=-1)
    best: dict[tuple[int, str], Candidate] = {}
    first = config.history_steps
    last = t_total - 1 - max(config.min_episode_steps, config.horizon_steps)
    for i in np.flatnonzero(a.kind == ActorKind.VEHICLE):
        path = a.xy[i][a.valid[i]]
        if len(path) < 2 or polyline_arclength(path)[-1] < config.min_path_m:
            continue
        for k in range(first, last + 1, config.step_stride):
            if not (a.valid[i, k - config.history_steps:k + config.horizon_steps + 1].all() and scenario.ego.valid[k]):
                continue
            d = float(np.linalg.norm(a.xy[i, k] - ego_c[k]))
            if d > config.max_distance_m:
                continue
            rel = global_to_local_xy(a.xy[i, k][None], ego_c[k], float(scenario.ego.yaw_rad[k]))[0]
            dyaw = float(wrap_angle(a.yaw_rad[i, k] - scenario.ego.yaw_rad[k]))
            for ctype in compatible_type(float(rel[0]), float(rel[1]), dyaw, float(scenario.ego.speed_mps[k]),
                                         float(speed[i, k])):
                if ctype not in types:
                    continue
                score = abs(d - PREFERRED_DISTANCE_M[ctype]) + 0.01 * k
                key = (int(i), ctype)
                if key in best and best[key].score <= score:
                    continue
                if not bool(scenario.map.is_drivable(a.xy[i, k][None])[0]):
                    continue
                if not reachable(scenario, int(i), int(k), ctype, float(speed[i, k]), ego_c, config):
                    continue
                best[key] = Candidate(int(i), int(k), ctype, d, float(rel[0]), float(rel[1]), dyaw, float(score))
    return sorted(best.values(), key=lambda c: (c.score, c.start_step, c.actor, c.collision_type))


def reachable(scenario: Scenario, actor: int, step: int, collision_type: str, speed_mps: float, ego_center: np.ndarray,
              config: SelectionConfig = SelectionConfig()) -> bool:
    """Whether the type's proposal from actor's logged state at `step` meets the ego's logged
    future on the road at the type's relative heading (see the module docstring)."""
    from scenarios.adversary.drivable import signed_distance
    from scenarios.adversary.dynamics import unicycle_rollout_np
    from scenarios.adversary.proposals import conflict_proposal

    a = scenario.actors
    valid = np.flatnonzero(scenario.ego.valid)
    ks = np.minimum(step + 1 + np.arange(FUTURE_STEPS), int(valid[-1]))
    origin, yaw0 = a.xy[actor, step], float(a.yaw_rad[actor, step])
    e_xy = global_to_local_xy(ego_center[ks], origin, yaw0)
    e_yaw = np.unwrap(scenario.ego.yaw_rad[ks] - yaw0)
    length, width = float(a.size_wlh_m[actor, 1]), float(a.size_wlh_m[actor, 0])
    controls = conflict_proposal(collision_type, speed_mps, length, e_xy, e_yaw, scenario.ego_params.length_m,
                                 FUTURE_STEPS)
    roll = unicycle_rollout_np(np.array([0.0, 0.0, 0.0, speed_mps]), controls)
    # The first step at which the two boxes, each grown by reach_tolerance_m, overlap.
    grow = config.reach_tolerance_m
    ego_l, ego_w = scenario.ego_params.length_m, scenario.ego_params.width_m
    adv_box = box_corners_xy(roll[:, :2], roll[:, 2], length + grow, width + grow)
    ego_box = box_corners_xy(e_xy, e_yaw, ego_l + grow, ego_w + grow)
    touch = np.flatnonzero(boxes_overlap(adv_box, ego_box))
    if len(touch) == 0:
        return False
    k = int(touch[0])
    rel = abs(float(wrap_angle(roll[k, 2] - e_yaw[k])))
    if collision_type == "rear-end" and rel > 0.5 or collision_type == "head-on" and rel < np.pi - 0.8 \
            or collision_type == "cut-in" and not 0.05 < rel < 1.2:
        return False
    upto = roll[:k + 1]
    if np.max(np.abs(upto[:, 3] * controls[:k + 1, 1])) > config.max_lateral_accel_mps2:
        return False
    c, s = np.cos(upto[:, 2] + yaw0), np.sin(upto[:, 2] + yaw0)
    g = origin + np.stack([np.cos(yaw0) * upto[:, 0] - np.sin(yaw0) * upto[:, 1],
                           np.sin(yaw0) * upto[:, 0] + np.cos(yaw0) * upto[:, 1]], -1)
    corners = np.concatenate([g + sx * 0.5 * length * np.stack([c, s], -1) + sy * 0.5 * width * np.stack([-s, c], -1)
                              for sx in (1, -1) for sy in (1, -1)])
    return bool(signed_distance(scenario.map, corners[::2]).min() >= -config.offroad_tolerance_m)

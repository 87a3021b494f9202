"""How an adversary behaved in a closed-loop episode: did it create a safety-critical moment,
and did it stay realistic.

- critical: the adversary's box overlapped the ego's, or the time to collision between the
  ego and the adversary (sim.checks.time_to_collision with only the adversary, i.e. constant
  velocity projections, the adversary ahead of the ego) fell below `ttc_threshold_s`.
- off_road: some footprint corner of the adversary was more than `offroad_tolerance_m`
  outside the drivable area (exact shapely distances).
- nonego_collision: the adversary's box overlapped another actor's (not the ego's); which
  actor, its kind, and whether it struck the adversary from behind (replayed actors do not
  brake for an adversary that left its log) are recorded. nonego_at_fault applies nuPlan's
  at-fault rule with the adversary in the ego's place: a collision counts against it unless
  it was struck from behind or was standing still (below STOPPED_SPEED_MPS).
- accel / jerk: `kinematics` of its positions; bounded when |a| <= max_abs_accel_mps2 and
  |jerk| <= max_abs_jerk_mps3.
Realism is judged from the start up to the first contact with the ego (after a crash the
trajectory no longer means anything); criticality over the whole episode.

`kinematics` measures logs and samples identically: finite differences of 10 Hz positions
with speed and acceleration each averaged over 0.5 s, the logs' keyframe spacing, so the
2 Hz interpolation of the logged tracks does not show up as impulses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scenarios.adversary.drivable import signed_distance
from sim.checks import CheckParams, ego_corners, time_to_collision
from sim.geometry import box_corners_xy, boxes_overlap, global_to_local_xy
from sim.types.scenario import DT_S, ActorKind, EgoParams, Scenario
from sim.types.state import ActorState, EgoState

SMOOTH_STEPS = 5
STOPPED_SPEED_MPS = 0.05  # nuPlan's threshold for a stopped ego in its at-fault collision rule


@dataclass(frozen=True)
class RealismConfig:
    """Thresholds of `adversary_outcome` (see the module docstring)."""

    ttc_threshold_s: float = 1.0
    offroad_tolerance_m: float = 0.3
    max_abs_accel_mps2: float = 8.0
    max_abs_jerk_mps3: float = 12.0


def _moving_average(x: np.ndarray, width: int) -> np.ndarray:
    if len(x) < width:
        return x.copy()
    pad = width // 2
    xp = np.concatenate([np.full(pad, x[0]), x, np.full(width - 1 - pad, x[-1])])
    return np.convolve(xp, np.ones(width) / width, mode="valid")


def kinematics(xy: np.ndarray, dt_s: float = DT_S, smooth_steps: int = SMOOTH_STEPS) -> tuple[np.ndarray, np.ndarray]:
    """(accel (T-2,), jerk (T-3,)) of a 10 Hz position track (T, 2); see the module docstring."""
    if len(xy) < 4:
        return np.zeros(0), np.zeros(0)
    v = _moving_average(np.linalg.norm(np.diff(xy, axis=0), axis=1) / dt_s, smooth_steps)
    a = _moving_average(np.diff(v) / dt_s, smooth_steps)
    return a, np.diff(a) / dt_s


def log_kinematics(scenario: Scenario, min_steps: int = 20, min_path_m: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Accel and jerk samples of every moving vehicle's valid runs in a scenario's log."""
    from sim.types.scenario import ActorKind

    acc, jerk = [], []
    a = scenario.actors
    for i in np.flatnonzero(a.kind == ActorKind.VEHICLE):
        valid = a.valid[i]
        edges = np.flatnonzero(np.diff(np.concatenate([[0], valid.astype(np.int8), [0]])))
        for s, e in zip(edges[::2], edges[1::2]):
            xy = a.xy[i, s:e]
            if e - s < min_steps or np.linalg.norm(np.diff(xy, axis=0), axis=1).sum() < min_path_m:
                continue
            aa, jj = kinematics(xy)
            acc.append(aa)
            jerk.append(jj)
    return (np.concatenate(acc) if acc else np.zeros(0)), (np.concatenate(jerk) if jerk else np.zeros(0))


@dataclass(frozen=True)
class Outcome:
    """What an adversary did in an episode (see the module docstring). Steps are indices into
    the episode's records."""

    contact: bool
    first_contact_index: int
    min_ttc_s: float
    critical: bool
    critical_index: int
    off_road: bool
    max_offroad_m: float
    nonego_collision: bool
    nonego_actor: int
    nonego_kind: str
    nonego_struck_from_behind: bool
    nonego_at_fault: bool
    max_abs_accel_mps2: float
    max_abs_jerk_mps3: float
    bounded: bool
    realistic: bool
    accel: np.ndarray
    jerk: np.ndarray

    def to_dict(self) -> dict:
        """JSON-ready (no arrays; an infinite TTC, i.e. none, becomes None)."""
        out = {}
        for k, v in self.__dict__.items():
            if k in ("accel", "jerk"):
                continue
            v = v.item() if isinstance(v, (np.floating, np.integer, np.bool_)) else v
            out[k] = None if isinstance(v, float) and not np.isfinite(v) else v
        return out


def adversary_outcome(scenario: Scenario, episode, row: int, config: RealismConfig = RealismConfig()) -> Outcome:
    """Analyse actor `row` of a closed-loop episode on `scenario` (see the module docstring)."""
    p: EgoParams = scenario.ego_params
    size = scenario.actors.size_wlh_m
    s = len(episode.step_index)
    adv_xy, adv_yaw = episode.actor_xy[:, row], episode.actor_yaw_rad[:, row]
    adv_box = box_corners_xy(adv_xy, adv_yaw, size[row, 1], size[row, 0])  # (S, 4, 2)
    contacts = np.zeros(s, bool)
    ttc = np.full(s, np.inf)
    check = CheckParams()
    for k in range(s):
        ego = EgoState(float(episode.ego_xy[k, 0]), float(episode.ego_xy[k, 1]), float(episode.ego_yaw_rad[k]),
                       float(episode.ego_speed_mps[k]), 0.0, 0.0, 0.0)
        contacts[k] = bool(boxes_overlap(ego_corners(ego, p), adv_box[k]))
        one = ActorState(xy=adv_xy[k:k + 1], yaw_rad=adv_yaw[k:k + 1],
                         speed_mps=episode.actor_speed_mps[k, row:row + 1], valid=np.ones(1, bool),
                         mode=np.zeros(1, np.int8), path_s_m=np.zeros(1), plan_xy=np.zeros((1, 0, 2)),
                         plan_yaw_rad=np.zeros((1, 0)), plan_step=np.zeros(1, np.int64))
        ttc[k] = time_to_collision(ego, p, one, size[row:row + 1], check)
    first_contact = int(np.argmax(contacts)) if contacts.any() else -1
    end = first_contact + 1 if first_contact >= 0 else s
    min_ttc = float(np.min(ttc[:end])) if end else np.inf
    critical = first_contact >= 0 or min_ttc < config.ttc_threshold_s
    critical_index = first_contact if first_contact >= 0 else int(np.argmin(ttc))
    # Realism up to the first contact.
    sd = signed_distance(scenario.map, adv_box[:end].reshape(-1, 2))
    max_off = float(max(0.0, -np.min(sd))) if len(sd) else 0.0
    others = np.flatnonzero(np.arange(size.shape[0]) != row)
    nonego, hit_actor, hit_kind, from_behind, at_fault = False, -1, "", False, False
    if len(others):
        ob = box_corners_xy(episode.actor_xy[:end][:, others], episode.actor_yaw_rad[:end][:, others],
                            size[others, 1], size[others, 0])  # (end, N, 4, 2)
        near = np.linalg.norm(episode.actor_xy[:end][:, others] - adv_xy[:end, None], axis=-1) < 12.0
        near &= episode.actor_valid[:end][:, others]
        if near.any():
            ks, js = np.nonzero(near)
            touching = boxes_overlap(adv_box[ks], ob[ks, js])
            nonego = bool(touching.any())
            if nonego:
                k, j = int(ks[touching][0]), int(others[js[touching][0]])
                hit_actor = j
                hit_kind = ActorKind(int(scenario.actors.kind[j])).name.lower()
                # Struck from behind: the other actor's centre is behind the adversary's and it
                # closes in (a replayed actor does not brake for an adversary that left its log).
                rel = global_to_local_xy(episode.actor_xy[k, j][None], adv_xy[k], float(adv_yaw[k]))[0]
                from_behind = bool(rel[0] < 0 and abs(rel[1]) < abs(rel[0])
                                   and episode.actor_speed_mps[k, j] > episode.actor_speed_mps[k, row])
                at_fault = not from_behind and episode.actor_speed_mps[k, row] >= STOPPED_SPEED_MPS
    accel, jerk = kinematics(adv_xy[:end])
    max_a = float(np.max(np.abs(accel))) if len(accel) else 0.0
    max_j = float(np.max(np.abs(jerk))) if len(jerk) else 0.0
    bounded = max_a <= config.max_abs_accel_mps2 and max_j <= config.max_abs_jerk_mps3
    off = max_off > config.offroad_tolerance_m
    return Outcome(bool(first_contact >= 0), first_contact, min_ttc, bool(critical), critical_index, bool(off), max_off,
                   nonego, hit_actor, hit_kind, from_behind, bool(at_fault), max_a, max_j, bool(bounded),
                   bool(not off and not nonego and bounded), accel, jerk)

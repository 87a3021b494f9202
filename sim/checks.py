"""Per-step checks as pure functions: collisions (with NAVSIM's at-fault rules), drivable-area
compliance of the ego footprint, time to collision, progress along the route.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from sim.geometry import box_corners_xy, boxes_overlap, global_to_local_xy
from sim.types.roadmap import RoadMap
from sim.types.scenario import EgoParams
from sim.types.state import ActorState, EgoState


class CollisionType(enum.IntEnum):
    """NAVSIM's collision types (navsim/planning/metric_utils/ego_is_at_fault semantics)."""

    NONE = 0
    STOPPED_EGO = 1  # the ego stood still: never its fault
    STOPPED_TRACK = 2  # the other stood still: the ego's fault
    ACTIVE_FRONT = 3  # the ego's front bumper hit it: the ego's fault
    ACTIVE_REAR = 4  # it hit the ego from behind: not the ego's fault
    ACTIVE_LATERAL = 5  # side contact: the ego's fault only when it straddles lanes or is off-road


STOPPED_SPEED_MPS = 5e-2  # NAVSIM's stopped-speed threshold


@dataclass(frozen=True)
class CheckParams:
    """Check settings.

    - ttc_horizon_s, ttc_step_s: constant-velocity projection horizon and resolution for TTC.
    - ttc_search_radius_m: actors farther than this plus the closing distance are skipped.
    """

    ttc_horizon_s: float = 3.0
    ttc_step_s: float = 0.1
    ttc_search_radius_m: float = 10.0


def ego_box_center(ego: EgoState, params: EgoParams) -> np.ndarray:
    """(2,) centre of the ego's body box in global (the state is the rear axle)."""
    return np.array([ego.x_m + params.rear_axle_to_center_m * np.cos(ego.yaw_rad),
                     ego.y_m + params.rear_axle_to_center_m * np.sin(ego.yaw_rad)])


def ego_corners(ego: EgoState, params: EgoParams) -> np.ndarray:
    """(4, 2) ego footprint corners in global, counter-clockwise from front-left."""
    return box_corners_xy(ego_box_center(ego, params), ego.yaw_rad, params.length_m, params.width_m)


def actor_corners(actors: ActorState, size_wlh_m: np.ndarray) -> np.ndarray:
    """(N, 4, 2) actor footprint corners in global."""
    return box_corners_xy(actors.xy, actors.yaw_rad, size_wlh_m[:, 1], size_wlh_m[:, 0])


def colliding_actors(ego: EgoState, params: EgoParams, actors: ActorState, size_wlh_m: np.ndarray) -> np.ndarray:
    """(N,) bool: valid actors whose footprint overlaps the ego's."""
    c = ego_box_center(ego, params)
    return _contacts_kernel(c[0], c[1], ego.yaw_rad, 0.5 * params.length_m, 0.5 * params.width_m, actors.xy,
                            actors.yaw_rad, 0.5 * size_wlh_m[:, 1], 0.5 * size_wlh_m[:, 0], actors.valid)


@njit(cache=True)
def _contacts_kernel(ex, ey, eyaw, ehl, ehw, xy, yaw, half_l, half_w, valid):
    out = np.zeros(xy.shape[0], dtype=np.bool_)
    ereach = math.hypot(ehl, ehw)
    for j in range(xy.shape[0]):
        if not valid[j]:
            continue
        reach = ereach + math.hypot(half_l[j], half_w[j])
        dx = xy[j, 0] - ex
        dy = xy[j, 1] - ey
        if dx * dx + dy * dy > reach * reach:
            continue
        out[j] = obb_overlap(ex, ey, eyaw, ehl, ehw, xy[j, 0], xy[j, 1], yaw[j], half_l[j], half_w[j])
    return out


def collision_type(ego: EgoState, params: EgoParams, actor_xy: np.ndarray, actor_speed_mps: float,
                   actor_box: np.ndarray) -> CollisionType:
    """NAVSIM-style classification of one ego-actor contact."""
    if abs(ego.speed_mps) <= STOPPED_SPEED_MPS:
        return CollisionType.STOPPED_EGO
    if abs(actor_speed_mps) <= STOPPED_SPEED_MPS:
        return CollisionType.STOPPED_TRACK
    corners = ego_corners(ego, params)
    # The front bumper: the segment between the front-left and front-right corners.
    if bool(boxes_overlap(_thin_box(corners[0], corners[3]), actor_box)):
        return CollisionType.ACTIVE_FRONT
    rel = global_to_local_xy(actor_xy, np.array([ego.x_m, ego.y_m]), ego.yaw_rad)
    if rel[0] < 0.0:
        return CollisionType.ACTIVE_REAR
    return CollisionType.ACTIVE_LATERAL


def _thin_box(a: np.ndarray, b: np.ndarray, thickness_m: float = 0.05) -> np.ndarray:
    """(4, 2) a thin box around segment a-b (a bumper as an area for the overlap test)."""
    d = b - a
    n = np.array([-d[1], d[0]]) / max(np.linalg.norm(d), 1e-9) * 0.5 * thickness_m
    return np.stack([a + n, a - n, b - n, b + n])


def is_at_fault(kind: CollisionType, ego_straddles_lanes_or_off_road: bool) -> bool:
    """NAVSIM's at-fault rule for a collision of the given type."""
    if kind in (CollisionType.STOPPED_TRACK, CollisionType.ACTIVE_FRONT):
        return True
    if kind == CollisionType.ACTIVE_LATERAL:
        return ego_straddles_lanes_or_off_road
    return False


def off_road(road: RoadMap, ego_box: np.ndarray) -> bool:
    """True when any corner of the ego footprint leaves the drivable area."""
    return not bool(np.all(road.is_drivable(ego_box)))


def straddles_lanes(road: RoadMap, ego_box: np.ndarray, ego_yaw_rad: float) -> bool:
    """True when the footprint's corners sit on more than one (non-connector) lane."""
    match = road.nearest_lane(ego_box, np.full(4, ego_yaw_rad), max_distance_m=5.0)
    lanes = match.lane[match.lane >= 0]
    lanes = lanes[~road.lanes.is_connector[lanes]] if len(lanes) else lanes
    return len(np.unique(lanes)) > 1


@njit(cache=True)
def obb_overlap(cx0, cy0, yaw0, hl0, hw0, cx1, cy1, yaw1, hl1, hw1):
    """Separating-axis test of two oriented boxes given by centre, yaw, half length and width."""
    dx = cx1 - cx0
    dy = cy1 - cy0
    c0, s0, c1, s1 = math.cos(yaw0), math.sin(yaw0), math.cos(yaw1), math.sin(yaw1)
    for ax, ay in ((c0, s0), (-s0, c0), (c1, s1), (-s1, c1)):
        r0 = hl0 * abs(c0 * ax + s0 * ay) + hw0 * abs(-s0 * ax + c0 * ay)
        r1 = hl1 * abs(c1 * ax + s1 * ay) + hw1 * abs(-s1 * ax + c1 * ay)
        if abs(dx * ax + dy * ay) > r0 + r1:
            return False
    return True


@njit(cache=True)
def _ttc_kernel(ex, ey, eyaw, ev, ehl, ehw, xy, yaw, speed, half_l, half_w, valid, horizon_s, step_s, radius_m):
    evx = ev * math.cos(eyaw)
    evy = ev * math.sin(eyaw)
    c, s = math.cos(eyaw), math.sin(eyaw)
    n_t = int(round(horizon_s / step_s))
    best = np.inf
    for j in range(xy.shape[0]):
        if not valid[j]:
            continue
        rx = xy[j, 0] - ex
        ry = xy[j, 1] - ey
        if c * rx + s * ry <= 0.0:
            continue  # behind the ego: not the ego's to avoid
        reach = (abs(ev) + abs(speed[j])) * horizon_s + radius_m
        if rx * rx + ry * ry > reach * reach:
            continue
        if obb_overlap(ex, ey, eyaw, ehl, ehw, xy[j, 0], xy[j, 1], yaw[j], half_l[j], half_w[j]):
            continue  # already in contact: a collision, not a TTC
        avx = speed[j] * math.cos(yaw[j])
        avy = speed[j] * math.sin(yaw[j])
        for k in range(1, n_t + 1):
            t = k * step_s
            if t >= best:
                break
            if obb_overlap(ex + evx * t, ey + evy * t, eyaw, ehl, ehw, xy[j, 0] + avx * t, xy[j, 1] + avy * t,
                            yaw[j], half_l[j], half_w[j]):
                best = t
                break
    return best


def time_to_collision(ego: EgoState, params: EgoParams, actors: ActorState, size_wlh_m: np.ndarray,
                      check: CheckParams) -> float:
    """Smallest t in (0, horizon] at which constant-velocity projections of the ego and an actor
    ahead of it overlap; inf when none does. Actors already in contact are skipped (that is a
    collision, not a TTC), as are actors behind the ego (they are not the ego's to avoid).
    """
    c = ego_box_center(ego, params)
    return float(_ttc_kernel(c[0], c[1], ego.yaw_rad, ego.speed_mps, 0.5 * params.length_m, 0.5 * params.width_m,
                             actors.xy, actors.yaw_rad, actors.speed_mps, 0.5 * size_wlh_m[:, 1],
                             0.5 * size_wlh_m[:, 0], actors.valid, check.ttc_horizon_s, check.ttc_step_s,
                             check.ttc_search_radius_m))

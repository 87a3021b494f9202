"""Collision, at-fault, drivable-area and TTC checks on hand-made geometry."""

import numpy as np
import pytest
from shapely.geometry import box as shapely_box

from sim.checks import (
    CheckParams,
    CollisionType,
    colliding_actors,
    collision_type,
    ego_corners,
    is_at_fault,
    off_road,
    time_to_collision,
)
from sim.geometry import box_corners_xy, boxes_overlap
from sim.types.roadmap import LaneGraph, RoadMap
from sim.types.scenario import EgoParams
from sim.types.state import ActorState, EgoState

PARAMS = EgoParams(length_m=4.0, width_m=2.0, rear_axle_to_center_m=1.0)


def ego_at(x=0.0, y=0.0, yaw=0.0, speed=5.0) -> EgoState:
    return EgoState(x, y, yaw, speed, 0.0, 0.0, 0.0)


def actors(xy, yaw, speed, valid=None) -> ActorState:
    n = len(xy)
    return ActorState(np.asarray(xy, float), np.asarray(yaw, float), np.asarray(speed, float),
                      np.ones(n, bool) if valid is None else np.asarray(valid), np.zeros(n, np.int8), np.zeros(n),
                      np.zeros((n, 0, 2)), np.zeros((n, 0)), np.zeros(n, np.int64))


SIZE = np.array([[2.0, 4.0, 1.5]])  # w, l, h


def test_box_overlap_separating_axis_cases():
    a = box_corners_xy(np.array([0.0, 0.0]), 0.0, 4.0, 2.0)
    assert boxes_overlap(a, box_corners_xy(np.array([3.9, 0.0]), 0.0, 4.0, 2.0))
    assert not boxes_overlap(a, box_corners_xy(np.array([4.1, 0.0]), 0.0, 4.0, 2.0))
    # Rotated 45 degrees: the corner reaches sqrt(2) * 1 + ... ; corner-to-edge miss on a diagonal.
    assert not boxes_overlap(a, box_corners_xy(np.array([3.5, 2.2]), np.pi / 4, 2.0, 2.0))
    assert boxes_overlap(a, box_corners_xy(np.array([2.5, 1.5]), np.pi / 4, 2.0, 2.0))


def test_colliding_actors_uses_the_body_box_not_the_rear_axle():
    ego = ego_at()  # body centre at x = 1.0, spans x in [-1, 3]
    a = actors([[5.1, 0.0], [4.9, 0.0]], [0.0, 0.0], [0.0, 0.0])
    hits = colliding_actors(ego, PARAMS, a, np.repeat(SIZE, 2, axis=0))
    assert hits.tolist() == [False, True]
    invalid = actors([[4.9, 0.0]], [0.0], [0.0], valid=[False])
    assert not colliding_actors(ego, PARAMS, invalid, SIZE).any()


@pytest.mark.parametrize("ego_speed,actor_xy,actor_yaw,actor_speed,expected,at_fault", [
    (0.0, [4.9, 0.0], 0.0, 3.0, CollisionType.STOPPED_EGO, False),
    (5.0, [4.9, 0.0], 0.0, 0.0, CollisionType.STOPPED_TRACK, True),  # rear-ends a stopped car
    (5.0, [4.9, 0.0], 0.0, 2.0, CollisionType.ACTIVE_FRONT, True),
    (5.0, [-2.9, 0.0], 0.0, 8.0, CollisionType.ACTIVE_REAR, False),  # hit from behind
    (5.0, [0.5, 1.9], 0.0, 5.0, CollisionType.ACTIVE_LATERAL, False),  # side swipe, in lane
])
def test_collision_type_and_fault_follow_navsim(ego_speed, actor_xy, actor_yaw, actor_speed, expected, at_fault):
    ego = ego_at(speed=ego_speed)
    corners = box_corners_xy(np.array(actor_xy), actor_yaw, 4.0, 2.0)
    kind = collision_type(ego, PARAMS, np.array(actor_xy), actor_speed, corners)
    assert kind == expected
    assert is_at_fault(kind, ego_straddles_lanes_or_off_road=False) == at_fault


def test_lateral_collision_is_at_fault_only_when_straddling_or_off_road():
    assert is_at_fault(CollisionType.ACTIVE_LATERAL, True)
    assert not is_at_fault(CollisionType.ACTIVE_LATERAL, False)


def test_off_road_checks_every_footprint_corner():
    lanes = LaneGraph(np.array(["l"]), np.array([[0.0, 0.0], [50.0, 0.0]]), np.array([0, 2]), np.array([3.5]),
                      np.array([False]), np.array([0, 0]), np.zeros(0, np.int64))
    road = RoadMap("t", shapely_box(-10.0, -2.0, 50.0, 2.0), lanes)
    assert not off_road(road, ego_corners(ego_at(y=0.0), PARAMS))
    assert off_road(road, ego_corners(ego_at(y=1.2), PARAMS))  # left corners at y = 2.2 > 2
    assert off_road(road, ego_corners(ego_at(x=47.5), PARAMS))  # front corners past the end
    assert not off_road(road, ego_corners(ego_at(x=46.9), PARAMS))


def test_time_to_collision_for_a_closing_leader():
    ego = ego_at(speed=10.0)  # ego front at x = 3
    lead = actors([[3.0 + 10.2 + 2.0, 0.0]], [0.0], [5.0])  # rear bumper 10.2 m ahead, 5 m/s slower
    ttc = time_to_collision(ego, PARAMS, lead, SIZE, CheckParams(ttc_horizon_s=3.0, ttc_step_s=0.1))
    assert ttc == pytest.approx(2.1, abs=1e-9)  # first 0.1 s step after the 10.2 m gap closes at 5 m/s
    far = actors([[3.0 + 40.0 + 2.0, 0.0]], [0.0], [5.0])
    assert time_to_collision(ego, PARAMS, far, SIZE, CheckParams()) == np.inf


def test_time_to_collision_ignores_actors_behind_and_in_contact():
    ego = ego_at(speed=2.0)
    behind = actors([[-10.0, 0.0]], [0.0], [15.0])
    assert time_to_collision(ego, PARAMS, behind, SIZE, CheckParams()) == np.inf
    touching = actors([[4.9, 0.0]], [0.0], [0.0])
    assert time_to_collision(ego, PARAMS, touching, SIZE, CheckParams()) == np.inf

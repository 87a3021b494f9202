"""Driving commands before and through turns, on a real log and a hand-made map."""

from __future__ import annotations

import math

import numpy as np
import pytest
from shapely.geometry import box

from scenarios.nuscenes import RouteConfig
from scenarios.nuscenes.route import build_route
from sim.geometry import interpolate_polyline
from sim.types.roadmap import RoadMap
from sim.types.scenario import DrivingCommand
from tests.conftest import REAL_DATAROOTS
from tests.scenarios.nuscenes.conftest import ego_along, lane_graph, scenario_of


def test_driving_command_says_left_before_the_left_turn():
    dataroot = next((p for p in REAL_DATAROOTS if p.name == "av2-7fab2350-pit"), None)
    if dataroot is None:
        pytest.skip("real log av2-7fab2350-pit not found")
    scenario = scenario_of(dataroot)
    # The ego stops, then turns left through an intersection (yaw -33 deg -> +25 deg).
    assert math.degrees(scenario.ego.yaw_rad[-1] - scenario.ego.yaw_rad[0]) > 45
    commands = scenario.route.driving_command
    assert commands[0] == DrivingCommand.STRAIGHT
    assert np.all(commands[60:140] == DrivingCommand.LEFT)
    assert not np.any(commands == DrivingCommand.RIGHT)


def test_driving_command_is_left_before_and_through_a_left_turn():
    arc = np.radians(np.linspace(-90.0, 0.0, 32))  # quarter circle, radius 10 m, centre (50, 10)
    lines = [np.array([[0.0, 0.0], [50.0, 0.0]]), np.stack([50 + 10 * np.cos(arc), 10 + 10 * np.sin(arc)], -1),
             np.array([[60.0, 10.0], [60.0, 80.0]])]
    road_map = RoadMap(name="test", drivable_area=box(-5, -5, 65, 85),
                       lanes=lane_graph(lines, [[1], [2], []], [False, True, False]))
    route_xy = np.concatenate(lines)
    s = np.arange(0.0, 120.0, 1.0)
    ego_xy, _ = interpolate_polyline(route_xy, s)
    ego = ego_along(ego_xy)
    route = build_route(road_map, ego, RouteConfig())
    assert route.lane_indices.tolist() == [0, 1, 2]
    commands = route.driving_command
    assert np.all(commands[:25] == DrivingCommand.STRAIGHT)  # the turn is more than 20 m ahead
    assert np.all(commands[36:55] == DrivingCommand.LEFT)
    assert np.all(commands[70:] == DrivingCommand.STRAIGHT)  # past the turn, on the straight
    assert not np.any(commands == DrivingCommand.RIGHT)

"""The route on the real logs and on hand-made maps."""

from __future__ import annotations

import numpy as np
from shapely.geometry import box

from scenarios.nuscenes import RouteConfig
from scenarios.nuscenes.route import build_route
from sim.geometry import project_to_polyline
from sim.types.roadmap import RoadMap
from sim.types.scenario import DrivingCommand
from tests.scenarios.nuscenes.conftest import ego_along, lane_graph, real_logs, scenario_of


@real_logs
def test_route_follows_the_ego(dataroot):
    scenario = scenario_of(dataroot)
    route, lanes = scenario.route, scenario.map.lanes
    assert len(route.lane_indices) >= 2
    for a, b in zip(route.lane_indices[:-1], route.lane_indices[1:]):
        assert b in lanes.successors(a)  # these logs drive without lane changes
    _, lateral_m, _ = project_to_polyline(scenario.ego.xy, route.centerline_xy)
    assert np.mean(np.abs(lateral_m) < 2.0) >= 0.95
    assert np.all(np.linalg.norm(np.diff(route.centerline_xy, axis=0), axis=1) > 0)
    assert route.driving_command.shape == (scenario.num_steps,)
    assert set(np.unique(route.driving_command)) <= {c.value for c in DrivingCommand}


def _straight_lanes_map() -> RoadMap:
    """Lane 0: x 0..50 at y=0 -> lane 1 (connector): x 50..51 -> lane 2: x 51..120.
    Lane 3: x 0..120 at y=3.5 (left of them), linked to nothing."""
    lines = [np.array([[0.0, 0.0], [50.0, 0.0]]), np.array([[50.0, 0.0], [51.0, 0.0]]),
             np.array([[51.0, 0.0], [120.0, 0.0]]), np.array([[0.0, 3.5], [120.0, 3.5]])]
    lanes = lane_graph(lines, [[1], [2], [], []], [False, True, False, False])
    return RoadMap(name="test", drivable_area=box(-5, -2, 125, 5.5), lanes=lanes)


def test_route_fills_in_a_connector_the_ego_skipped():
    x = np.arange(0.0, 100.0, 2.0)  # 20 m/s: never a step on the 1 m connector
    ego = ego_along(np.stack([x, np.zeros_like(x)], -1))
    route = build_route(_straight_lanes_map(), ego, RouteConfig())
    assert route.lane_indices.tolist() == [0, 1, 2]
    assert np.allclose(route.centerline_xy[[0, -1]], [[0, 0], [120, 0]])
    assert np.all(route.driving_command == DrivingCommand.STRAIGHT)


def test_route_follows_a_lane_change():
    x = np.arange(0.0, 100.0, 1.0)
    y = np.interp(x, [0, 30, 70, 100], [0, 0, 3.5, 3.5])  # to the left lane over 40 m
    ego = ego_along(np.stack([x, y], -1))
    route = build_route(_straight_lanes_map(), ego, RouteConfig())
    assert route.lane_indices.tolist() == [0, 3]  # the unlinked lane change is kept
    # The centerline leaves lane 0 and joins lane 3 where the ego did, not at the lanes' ends.
    _, lateral_m, _ = project_to_polyline(ego.xy, route.centerline_xy)
    assert np.abs(lateral_m).max() < 2.0
    # At most a brief LEFT as the change starts; never RIGHT while the ego still points left.
    assert np.mean(route.driving_command == DrivingCommand.STRAIGHT) > 0.9
    assert not np.any(route.driving_command == DrivingCommand.RIGHT)

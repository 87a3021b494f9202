"""The demo scenes' ego routes: distinct, driven at sensible speeds, longer than the scene."""

from __future__ import annotations

import numpy as np
import shapely

from scenarios.demo_town import DEMO_SCENES, build_town
from scenarios.demo_town.paths import expand_route
from scenarios.demo_town.recording import SCENE_DURATION_S


def test_ego_routes_differ_and_are_driven_at_sensible_speeds(recordings):
    town = build_town()
    routes = [rec.ego_lane_names for rec in recordings]
    assert len(set(routes)) == len(routes)
    turns = {town.turn_of(town.lane_index[n]) for route in routes for n in route if n.startswith("connector:")}
    assert turns == {"left", "right", "straight"}
    assert any("curve_nb" in r or "curve_sb" in r for r in routes)
    for rec in recordings:
        step_speed = np.linalg.norm(np.diff(rec.xy_in_global[0], axis=0), axis=1) / 0.1
        assert 5.0 <= step_speed.max() <= 14.0, rec.spec.name
        # The ego completes its manoeuvre: it ends past the route's connector (or on its last lane).
        route = [town.lanes[town.lane_index[n]] for n in rec.ego_lane_names]
        end = shapely.Point(rec.xy_in_global[0, -1])
        distance = [shapely.LineString(lane.pose_at(lane.sample_s(1.0))[0]).distance(end) for lane in route]
        last_connector = max([0] + [i for i, lane in enumerate(route) if lane.is_connector])
        assert int(np.argmin(distance)) > last_connector, rec.spec.name


def test_every_ego_route_outlasts_the_scene():
    """IDM never exceeds the desired speed, so no seed can run the ego off the town's edge."""
    town = build_town()
    for spec in DEMO_SCENES:
        route = expand_route(town, spec.ego_lanes)
        remaining_m = sum(town.lanes[i].length_m for i in route) - spec.ego_start_s_m
        assert remaining_m > SCENE_DURATION_S * spec.ego_desired_speed_mps + 5.0, spec.name
        assert 5.0 <= spec.ego_desired_speed_mps <= 14.0

"""The demo traffic never collides, keeps to its surfaces, and pedestrians walk and cross."""

from __future__ import annotations

import numpy as np
import shapely
from nuscenes.map_expansion.map_api import NuScenesMap
from shapely.ops import unary_union

from scenarios.demo_town import build_town
from sim.geometry import box_corners_xy, boxes_overlap, polyline_arclength
from sim.types.scenario import ActorKind


def test_no_vehicle_box_ever_overlaps_another_box(recordings):
    """At every 10 Hz step: vehicles (ego included) against vehicles and pedestrians."""
    for rec in recordings:
        corners = box_corners_xy(rec.xy_in_global, rec.yaw_rad, rec.size_wlh_m[:, 1, None], rec.size_wlh_m[:, 0, None])
        vehicle = rec.kind == ActorKind.VEHICLE
        for t in range(len(rec.t_from_start_us)):
            live = np.flatnonzero(rec.valid[:, t])
            overlap = boxes_overlap(corners[live, None, t], corners[None, live, t])
            overlap[np.diag_indices(len(live))] = False
            overlap &= vehicle[live][:, None] | vehicle[live][None]
            assert not overlap.any(), (rec.spec.name, t, live[np.argwhere(overlap)[0]])


def test_actors_stay_on_their_surfaces(nmap: NuScenesMap, recordings):
    drivable = unary_union([nmap.extract_polygon(p) for rec in nmap.drivable_area for p in rec["polygon_tokens"]])
    walkable = unary_union([nmap.extract_polygon(w["polygon_token"]) for w in nmap.walkway + nmap.ped_crossing])
    for rec in recordings:
        for agent in range(rec.num_agents):
            xy = rec.xy_in_global[agent, rec.valid[agent]]
            surface = walkable if rec.kind[agent] == ActorKind.PEDESTRIAN else drivable
            assert shapely.contains_xy(surface.buffer(0.05), xy[:, 0], xy[:, 1]).all(), (rec.spec.name, agent)


def test_pedestrians_walk_and_cross(recordings):
    crossing_xy = np.array([c.polygon.centroid.coords[0] for c in build_town().crossings])
    crossed = 0
    for rec in recordings:
        for agent in np.flatnonzero(rec.kind == ActorKind.PEDESTRIAN):
            xy = rec.xy_in_global[agent, rec.valid[agent]]
            assert polyline_arclength(xy)[-1] > 5.0
            crossed += int(np.min(np.linalg.norm(xy[:, None] - crossing_xy[None], axis=-1)) < 2.0)
    assert crossed >= len(recordings)

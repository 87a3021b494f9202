"""The demo traffic never collides, keeps to its surfaces, and pedestrians walk and cross."""

from __future__ import annotations

import numpy as np
import shapely
from nuscenes.map_expansion.map_api import NuScenesMap
from shapely.ops import unary_union

from scenarios.demo_town import build_town
from scenarios.demo_town.conflicts import opposing_entry_s
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


def test_the_unprotected_left_turner_waits_inside_the_intersection(recordings):
    """scene-demo-0008: the ego stops with its front past the stop line (on its connector) and short
    of the oncoming traffic's path, while eastbound vehicles pass, then completes the turn."""
    town = build_town()
    rec = next(r for r in recordings if r.spec.name == "scene-demo-0008")
    connector = town.lane_index["connector:avenue_e_wb_inner->south_sb"]
    line = shapely.LineString(town.lanes[connector].pose_at(town.lanes[connector].sample_s(0.5))[0])
    waiting = np.flatnonzero(rec.speed_mps[0] < 0.3)
    assert len(waiting) >= 20  # at least 2 s
    heading = np.stack([np.cos(rec.yaw_rad[0, waiting]), np.sin(rec.yaw_rad[0, waiting])], -1)
    front = rec.xy_in_global[0, waiting] + 0.5 * rec.size_wlh_m[0, 1] * heading
    along = line.project(shapely.points(front))
    entry = opposing_entry_s(town, connector, 0.5 * rec.size_wlh_m[0, 0])
    assert np.all(along > 0.5) and np.all(along < entry), (along.min(), along.max(), entry)
    # oncoming (eastbound, yaw ~ 0) vehicles drive through the intersection while it waits
    x_box = line.coords[0][0]
    eastbound = (np.cos(rec.yaw_rad[1:, waiting]) > 0.9) & rec.valid[1:, waiting] & (rec.speed_mps[1:, waiting] > 3.0)
    near = np.abs(rec.xy_in_global[1:, waiting, 0] - x_box) < 15.0
    assert (eastbound & near).any(axis=1).sum() >= 1

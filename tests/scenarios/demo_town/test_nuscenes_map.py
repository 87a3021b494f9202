"""The demo map expansion: layout, semantic prior, lanes, connectivity and drivable area."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from nuscenes.map_expansion.arcline_path_utils import discretize_lane
from nuscenes.map_expansion.map_api import NuScenesMap
from nuscenes.nuscenes import NuScenes
from shapely.ops import unary_union

from scenarios.demo_town import build_town
from scenarios.demo_town.town import INTERSECTION_CENTER_XY, INTERSECTION_HALF_SIZE_M
from sim.geometry import project_to_polyline, wrap_angle


def _lane_tokens(nmap: NuScenesMap) -> dict[str, str]:
    """Lane / connector name -> token, matched by start pose (the map does not store names)."""
    town = build_town()
    starts = {}
    for token, paths in nmap.arcline_path_3.items():
        starts.setdefault(tuple(np.round(paths[0]["start_pose"][:2], 2)), []).append((token, paths))
    out = {}
    for lane in town.lanes:
        end = np.array(lane.end_pose[:2])
        for token, paths in starts[tuple(np.round(lane.start_pose[:2], 2))]:
            if np.allclose(paths[-1]["end_pose"][:2], end, atol=1e-3):
                out[lane.name] = token
    assert len(out) == len(town.lanes)
    return out


def _discretized(nmap: NuScenesMap, token: str, resolution_m: float = 0.25) -> np.ndarray:
    return np.array(discretize_lane(nmap.arcline_path_3[token], resolution_m))


def test_coordinates_are_positive_and_compact(nmap: NuScenesMap, nusc: NuScenes):
    xy = np.array([[n["x"], n["y"]] for n in nmap.node])
    assert xy.min() >= 20.0
    assert np.ptp(xy, axis=0).max() <= 300.0
    assert xy[:, 0].max() <= nmap.canvas_edge[0] and xy[:, 1].max() <= nmap.canvas_edge[1]
    ego = np.array([p["translation"] for p in nusc.ego_pose])
    assert ego[:, :2].min() >= 20.0


def test_semantic_prior_marks_the_road(nusc: NuScenes):
    mask = nusc.map[0]["mask"]
    cx, cy = INTERSECTION_CENTER_XY
    assert mask.is_on_mask([cx, 50.0], [cy, cy]).tolist() == [True, True]  # the box, the avenue
    assert not mask.is_on_mask(100.0, 200.0)[0]  # a block between roads


def test_lanes_discretize_where_intended(nmap: NuScenesMap):
    tokens = _lane_tokens(nmap)
    town = build_town()
    for lane in town.lanes:
        points = _discretized(nmap, tokens[lane.name])
        _, lateral, _ = project_to_polyline(points[:, :2], lane.pose_at(lane.sample_s(0.05))[0])
        assert np.abs(lateral).max() < 0.01, lane.name
        assert np.allclose(points[[0, -1], :2], [lane.start_pose[:2], lane.end_pose[:2]], atol=0.01), lane.name
    cx, cy = INTERSECTION_CENTER_XY
    half = INTERSECTION_HALF_SIZE_M

    def radii(name: str, center: tuple[float, float]) -> np.ndarray:
        points = _discretized(nmap, tokens[name])[:, :2]
        return np.linalg.norm(points - center, axis=1)

    # The curve: 78.25 m northbound, 81.75 m southbound, about (240, 190).
    assert np.allclose(radii("curve_nb", (240.0, 190.0)), 78.25, atol=0.01)
    assert np.allclose(radii("curve_sb", (240.0, 190.0)), 81.75, atol=0.01)
    # Left turns are quarter circles about the box's corners; straight connectors stay on their line.
    assert np.allclose(radii("connector:avenue_w_eb_inner->north_nb", (cx - half, cy + half)), 13.75, atol=0.01)
    assert np.allclose(radii("connector:south_nb->avenue_w_wb_inner", (cx - half, cy - half)), 13.75, atol=0.01)
    straight = _discretized(nmap, tokens["connector:avenue_w_eb_outer->avenue_e_eb_outer"])
    assert np.allclose(straight[:, 1], cy - 5.25, atol=1e-6) and np.allclose(straight[:, 2], 0.0, atol=1e-6)
    # A right turn: 3.5 m straight, then a 6.75 m radius arc ending heading south.
    right = _discretized(nmap, tokens["connector:avenue_w_eb_outer->south_sb"])
    on_arc = right[right[:, 0] > cx - half + 3.5 + 1e-6]
    assert np.allclose(np.linalg.norm(on_arc[:, :2] - (cx - half + 3.5, cy - half), axis=1), 6.75, atol=0.01)
    assert right[-1, 2] == pytest.approx(-math.pi / 2, abs=1e-6)
    shapes = {p["shape"] for token in tokens.values() for p in nmap.arcline_path_3[token]}
    assert shapes == {"LSR", "LSL", "RSR"}


def test_connectivity_matches_geometry_and_covers_the_turns(nmap: NuScenesMap):
    connector_tokens = {c["token"] for c in nmap.lane_connector}
    assert len(connector_tokens) == 14  # 4-way: straight from every lane, left and right where allowed
    for token, links in nmap.connectivity.items():
        end = _discretized(nmap, token)[-1]
        for nxt in links["outgoing"]:
            start = _discretized(nmap, nxt)[0]
            assert np.allclose(end[:2], start[:2], atol=1e-3) and abs(wrap_angle(end[2] - start[2])) < 1e-6
            assert token in nmap.connectivity[nxt]["incoming"]
    turns = {"left": 0, "right": 0, "straight": 0}
    for token in connector_tokens:
        points = _discretized(nmap, token)
        dyaw = wrap_angle(points[-1, 2] - points[0, 2])
        turns["straight" if abs(dyaw) < 0.1 else ("left" if dyaw > 0 else "right")] += 1
    assert turns == {"left": 4, "right": 4, "straight": 6}


def test_drivable_area_covers_every_lane_and_walkways_do_not(nmap: NuScenesMap):
    drivable = unary_union([nmap.extract_polygon(p) for rec in nmap.drivable_area for p in rec["polygon_tokens"]])
    walkways = unary_union([nmap.extract_polygon(w["polygon_token"]) for w in nmap.walkway])
    for token in nmap.arcline_path_3:
        points = _discretized(nmap, token, 0.5)[:, :2]
        assert shapely.contains_xy(drivable.buffer(1e-3), points[:, 0], points[:, 1]).all()
    assert walkways.intersection(drivable).area < 1e-3
    for crossing in nmap.ped_crossing:
        assert drivable.buffer(1e-3).contains(nmap.extract_polygon(crossing["polygon_token"]))

"""The embedded demo dataset: loads with the real nuscenes-devkit, is consistent, and its traffic
never collides."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import shapely
from nuscenes.map_expansion.arcline_path_utils import discretize_lane
from nuscenes.map_expansion.map_api import NuScenesMap
from nuscenes.nuscenes import NuScenes
from pyquaternion import Quaternion
from shapely.ops import unary_union

from scenarios.demo_town import (
    DEMO_MAP_NAME,
    DEMO_SCENES,
    DEMO_VERSION,
    build_demo_dataroot,
    build_town,
    simulate_demo_scenes,
    simulate_scene,
)
from scenarios.demo_town.town import INTERSECTION_CENTER_XY, INTERSECTION_HALF_SIZE_M
from scenarios.demo_town.traffic import SCENE_DURATION_S, expand_route
from sim.errors import DatasetError
from sim.geometry import (
    box_corners_xy,
    boxes_overlap,
    polyline_arclength,
    project_to_polyline,
    wrap_angle,
    yaw_from_quaternion,
)
from sim.types.scenario import ActorKind, EgoParams

TABLES = ("attribute", "calibrated_sensor", "category", "ego_pose", "instance", "log", "map", "sample",
          "sample_annotation", "sample_data", "scene", "sensor", "visibility")
CAMERAS = ("CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_BACK_RIGHT", "CAM_BACK", "CAM_BACK_LEFT", "CAM_FRONT_LEFT")


@pytest.fixture(scope="module")
def nusc(demo_dataroot: Path) -> NuScenes:
    return NuScenes(version=DEMO_VERSION, dataroot=str(demo_dataroot), verbose=False)


@pytest.fixture(scope="module")
def nmap(demo_dataroot: Path) -> NuScenesMap:
    return NuScenesMap(dataroot=str(demo_dataroot), map_name=DEMO_MAP_NAME)


@pytest.fixture(scope="module")
def recordings():
    """The 10 Hz traffic behind the demo dataroot (seed 0, as conftest builds it)."""
    return simulate_demo_scenes(seed=0)


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


# ----- loading and layout ----------------------------------------------------------------------


def test_devkit_loads_all_tables_and_maps(demo_dataroot: Path, nusc: NuScenes, nmap: NuScenesMap):
    assert sorted(p.stem for p in (demo_dataroot / DEMO_VERSION).glob("*.json")) == sorted(TABLES)
    for table in TABLES:
        assert len(getattr(nusc, table)) > 0, table
    assert nusc.log[0]["location"] == DEMO_MAP_NAME
    assert (demo_dataroot / nusc.map[0]["filename"]).is_file()
    assert nmap.version == "1.3"
    for layer in ("drivable_area", "road_segment", "road_block", "lane", "lane_connector", "ped_crossing", "walkway",
                  "stop_line", "road_divider", "lane_divider"):
        assert len(getattr(nmap, layer)) > 0, layer
    for name in ("singapore-onenorth", "singapore-hollandvillage", "singapore-queenstown"):
        assert NuScenesMap(dataroot=str(demo_dataroot), map_name=name).lane == []


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


# ----- lanes -----------------------------------------------------------------------------------


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


# ----- scenes, samples, tokens -----------------------------------------------------------------


def test_scenes_are_20_s_with_10_to_40_annotated_actors(nusc: NuScenes):
    assert len(nusc.scene) >= 6
    assert [s["name"] for s in nusc.scene] == [f"scene-demo-{k:04d}" for k in range(len(nusc.scene))]
    for scene in nusc.scene:
        first = nusc.get("sample", scene["first_sample_token"])
        last = nusc.get("sample", scene["last_sample_token"])
        assert (last["timestamp"] - first["timestamp"]) == 20_000_000
        assert scene["nbr_samples"] == 41 and scene["description"]
        instances = {nusc.get("sample_annotation", a)["instance_token"]
                     for s in nusc.field2token("sample", "scene_token", scene["token"])
                     for a in nusc.get("sample", s)["anns"]}
        assert 10 <= len(instances) <= 40, scene["name"]


def test_categories_and_sizes_are_nuscenes_like(nusc: NuScenes):
    by_category: dict[str, list[list[float]]] = {}
    for ann in nusc.sample_annotation:
        by_category.setdefault(ann["category_name"], []).append(ann["size"])
    assert {"vehicle.car", "vehicle.truck", "human.pedestrian.adult"} <= set(by_category)
    width, length, height = np.array(by_category["vehicle.car"]).T
    assert 1.6 < width.min() and width.max() < 2.1 and 4.0 < length.min() and length.max() < 5.0
    assert np.array(by_category["vehicle.truck"])[:, 1].min() > 6.0
    assert np.array(by_category["human.pedestrian.adult"])[:, 2].min() > 1.5


def test_sample_and_sample_data_chains(nusc: NuScenes):
    for scene in nusc.scene:
        token, samples = scene["first_sample_token"], []
        while token:
            samples.append(nusc.get("sample", token))
            token = samples[-1]["next"]
        assert samples[-1]["token"] == scene["last_sample_token"] and len(samples) == scene["nbr_samples"]
        assert np.all(np.diff([s["timestamp"] for s in samples]) == 500_000)
        assert all(set(s["data"]) == {"LIDAR_TOP", *CAMERAS} for s in samples)
        # LIDAR_TOP at 10 Hz from the first keyframe to the last, a keyframe every fifth sweep.
        sd = nusc.get("sample_data", samples[0]["data"]["LIDAR_TOP"])
        sweeps = [sd]
        while sweeps[-1]["next"]:
            sweeps.append(nusc.get("sample_data", sweeps[-1]["next"]))
        assert sd["prev"] == "" and len(sweeps) == 201
        assert np.all(np.diff([s["timestamp"] for s in sweeps]) == 100_000)
        assert [s["is_key_frame"] for s in sweeps] == [m % 5 == 0 for m in range(201)]
        assert [s["token"] for s in sweeps[::5]] == [s["data"]["LIDAR_TOP"] for s in samples]
        for camera in CAMERAS:
            cam = [nusc.get("sample_data", s["data"][camera]) for s in samples]
            assert all(c["is_key_frame"] and c["width"] == 1600 and c["height"] == 900 and c["fileformat"] == "jpg"
                       for c in cam)
            assert [c["next"] for c in cam[:-1]] == [c["token"] for c in cam[1:]] and cam[-1]["next"] == ""


def test_annotation_and_instance_links(nusc: NuScenes):
    visibility = {v["token"] for v in nusc.visibility}
    for instance in nusc.instance:
        chain = [nusc.get("sample_annotation", instance["first_annotation_token"])]
        while chain[-1]["next"]:
            chain.append(nusc.get("sample_annotation", chain[-1]["next"]))
        assert chain[-1]["token"] == instance["last_annotation_token"]
        assert len(chain) == instance["nbr_annotations"]
        assert all(a["instance_token"] == instance["token"] for a in chain)
        assert np.all(np.diff([nusc.get("sample", a["sample_token"])["timestamp"] for a in chain]) == 500_000)
    for ann in nusc.sample_annotation:
        assert ann["num_lidar_pts"] > 0 and ann["visibility_token"] in visibility
        assert ann["translation"][2] == pytest.approx(ann["size"][2] / 2, abs=1e-3)
        assert len(ann["attribute_tokens"]) == 1
        assert nusc.get("attribute", ann["attribute_tokens"][0])["name"].split(".")[0] in ("vehicle", "pedestrian")


def test_six_cameras_with_nuscenes_like_calibration(nusc: NuScenes):
    sample = nusc.sample[0]
    yaws = []
    for camera in CAMERAS:
        sd = nusc.get("sample_data", sample["data"][camera])
        cs = nusc.get("calibrated_sensor", sd["calibrated_sensor_token"])
        k = np.array(cs["camera_intrinsic"])
        assert k.shape == (3, 3) and 700 < k[0, 2] < 900 and 400 < k[1, 2] < 500 and k[0, 0] > 500
        rotation = Quaternion(cs["rotation"]).rotation_matrix  # the devkit's own quaternion library
        optical_axis = rotation[:, 2]  # camera z in ego coordinates
        assert abs(optical_axis[2]) < 1e-6  # level
        assert rotation[2, 1] == pytest.approx(-1.0)  # camera y points down
        yaws.append(math.degrees(math.atan2(optical_axis[1], optical_axis[0])))
        assert 0.0 < cs["translation"][2] < 2.0
    assert np.allclose(yaws, [0.0, -55.0, -110.0, 180.0, 110.0, 55.0], atol=1e-4)


# ----- the traffic -----------------------------------------------------------------------------


def test_recordings_are_what_was_written(nusc: NuScenes, recordings):
    ego = EgoParams()
    for scene, rec in zip(nusc.scene, recordings):
        samples = [nusc.get("sample", t) for t in nusc.field2token("sample", "scene_token", scene["token"])]
        samples.sort(key=lambda s: s["timestamp"])
        for i, sample in enumerate(samples):
            pose = nusc.get("ego_pose", nusc.get("sample_data", sample["data"]["LIDAR_TOP"])["ego_pose_token"])
            yaw = yaw_from_quaternion(np.array(pose["rotation"]))
            forward = np.array([np.cos(yaw), np.sin(yaw)])
            center = np.array(pose["translation"][:2]) + ego.rear_axle_to_center_m * forward
            assert np.allclose(center, rec.xy_in_global[0, 5 * i], atol=1e-3)
            assert len(sample["anns"]) == int(rec.valid[1:, 5 * i].sum())


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


def test_pedestrians_walk_and_cross(recordings):
    crossing_xy = np.array([c.polygon.centroid.coords[0] for c in build_town().crossings])
    crossed = 0
    for rec in recordings:
        for agent in np.flatnonzero(rec.kind == ActorKind.PEDESTRIAN):
            xy = rec.xy_in_global[agent, rec.valid[agent]]
            assert polyline_arclength(xy)[-1] > 5.0
            crossed += int(np.min(np.linalg.norm(xy[:, None] - crossing_xy[None], axis=-1)) < 2.0)
    assert crossed >= len(recordings)


# ----- determinism and writing -----------------------------------------------------------------


def _files(root: Path) -> dict[Path, bytes]:
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_files_and_rebuilding_replaces(tmp_path: Path):
    """Two scenes keep it fast; every file kind is written."""
    first = _files(build_demo_dataroot(tmp_path / "a", seed=5, scenes=DEMO_SCENES[:2]))
    (tmp_path / "a" / DEMO_VERSION / "scene.json").write_text("stale")
    again = _files(build_demo_dataroot(tmp_path / "a", seed=5, scenes=DEMO_SCENES[:2]))
    assert first.keys() == again.keys() and len(first) == 13 + 4 + 2  # tables, maps, PNG, marker
    for relative, content in first.items():
        assert again[relative] == content, relative
    assert [p.name for p in tmp_path.iterdir()] == ["a"]  # no staging leftovers


def test_other_seeds_change_the_traffic_not_the_town():
    town = build_town()
    a = simulate_scene(town, DEMO_SCENES[0], seed=(0, 0))
    b = simulate_scene(town, DEMO_SCENES[0], seed=(1, 0))
    assert a.num_agents != b.num_agents or not np.allclose(a.xy_in_global, b.xy_in_global)
    assert a.ego_lane_names == b.ego_lane_names


def test_refuses_to_overwrite_anything_else(tmp_path: Path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match="not a demo dataroot"):
        build_demo_dataroot(foreign)
    assert (foreign / "notes.txt").read_text() == "mine"
    (tmp_path / "file").write_text("x")
    with pytest.raises(DatasetError):
        build_demo_dataroot(tmp_path / "file")

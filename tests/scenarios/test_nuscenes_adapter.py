"""The nuScenes adapter on the real AV2 logs, the demo dataroot and deliberately broken copies."""

from __future__ import annotations

import functools
import json
import math
import os
import shutil
import stat
import time
from pathlib import Path

import numpy as np
import pytest
from shapely.geometry import box

from scenarios.nuscenes_adapter import (
    CAMERA_ORDER,
    AdapterConfig,
    NuScenesSource,
    RouteConfig,
    actor_kind,
    annotated_span_mask,
    build_route,
    interpolate_track,
    list_scenes,
    load_scenario,
)
from sim.errors import DatasetError
from sim.geometry import interpolate_polyline, project_to_polyline, quaternion_from_yaw, yaw_from_quaternion
from sim.types.roadmap import LaneGraph, RoadMap
from sim.types.scenario import STEP_US, ActorKind, DrivingCommand, EgoLog
from tests.conftest import REAL_DATAROOTS, real_dataroot_params

VERSION = "v1.0-mini"
# From ../shared/data/nuscenes-real/README.md: lanes + lane connectors of each log's map.
EXPECTED_LANES = {"av2-adcf7d18-pit": (138, 61), "av2-7fab2350-pit": (110, 73)}
real_logs = pytest.mark.parametrize("dataroot", real_dataroot_params())


@functools.lru_cache(maxsize=None)
def _source(dataroot: Path) -> NuScenesSource:
    return NuScenesSource(dataroot, VERSION)


@functools.lru_cache(maxsize=None)
def _scenario(dataroot: Path):
    source = _source(dataroot)
    return source.load_scenario(source.scene_names[0])


def _only_scene(dataroot: Path) -> str:
    return _source(dataroot).scene_names[0]


# ---- real logs --------------------------------------------------------------------------------


@real_logs
def test_list_scenes_describes_the_log(dataroot):
    (info,) = list_scenes(dataroot, VERSION)
    assert info.name == f"scene-av2-{dataroot.name.split('-')[1]}"
    assert info.map_name == "boston-seaport"
    assert info.num_ego_poses == 156  # every 10 Hz LIDAR_TOP sweep, not the 32 keyframes
    assert info.duration_s == pytest.approx(15.5, abs=0.01)
    assert info.num_actors == len({a["instance_token"] for a in _source(dataroot).nusc.sample_annotation})


@real_logs
def test_load_is_fast(dataroot):
    start = time.perf_counter()
    scenario = load_scenario(dataroot, _only_scene(dataroot), VERSION)
    assert time.perf_counter() - start < 5.0
    assert scenario.metadata["source"] == "nuscenes"
    assert scenario.metadata["scene_token"] == _source(dataroot).nusc.scene[0]["token"]
    assert scenario.metadata["location"] == "boston-seaport"
    assert scenario.metadata["version"] == VERSION


@real_logs
def test_ego_log_is_the_10hz_sweeps_on_the_grid(dataroot):
    scenario = _scenario(dataroot)
    nusc = _source(dataroot).nusc
    assert 150 <= scenario.num_steps <= 160
    assert np.all(np.diff(scenario.t_us) == STEP_US)
    assert scenario.ego.valid.all()
    # Every grid step has a sweep within 5 ms; the ego there is that sweep's pose (not a 2 Hz
    # keyframe interpolation, which would cut corners by decimetres).
    sweeps = sorted((nusc.get("ego_pose", sd["ego_pose_token"]) for sd in nusc.sample_data
                     if sd["channel"] == "LIDAR_TOP"), key=lambda p: p["timestamp"])
    assert len(sweeps) > len(nusc.sample)
    t_sweep = np.array([p["timestamp"] for p in sweeps])
    xy_sweep = np.array([p["translation"][:2] for p in sweeps])
    yaw_sweep = yaw_from_quaternion(np.array([p["rotation"] for p in sweeps]))
    nearest = np.abs(scenario.t_us[:, None] - t_sweep[None]).argmin(axis=1)
    dt_s = np.abs(scenario.t_us - t_sweep[nearest]) * 1e-6
    assert dt_s.max() < 0.005
    speed_bound = np.abs(scenario.ego.speed_mps) * dt_s + 0.01
    assert np.all(np.linalg.norm(scenario.ego.xy - xy_sweep[nearest], axis=1) <= speed_bound)
    assert np.allclose(np.cos(scenario.ego.yaw_rad - yaw_sweep[nearest]), 1.0, atol=1e-4)
    # Speed is the path's rate: a forward-driving log, below urban limits.
    assert scenario.ego.speed_mps.max() < 20.0
    assert scenario.ego.speed_mps.min() > -0.5
    path_m = np.linalg.norm(np.diff(scenario.ego.xy, axis=0), axis=1).sum()
    assert np.sum(scenario.ego.speed_mps[:-1]) * 0.1 == pytest.approx(path_m, rel=0.05)


@real_logs
def test_actors_are_valid_only_within_their_annotated_span(dataroot):
    scenario = _scenario(dataroot)
    nusc = _source(dataroot).nusc
    actors = scenario.actors
    tolerance_us = AdapterConfig().timestamp_tolerance_us
    assert actors.num_actors > 100
    for i, token in enumerate(actors.instance_tokens):
        anns = [a for a in nusc.sample_annotation if a["instance_token"] == token]
        t_ann = np.array(sorted(nusc.get("sample", a["sample_token"])["timestamp"] for a in anns))
        t_valid = scenario.t_us[actors.valid[i]]
        assert t_valid.min() >= t_ann[0] - tolerance_us
        assert t_valid.max() <= t_ann[-1] + tolerance_us
        # No gaps in these logs (keyframes 0.5 s apart): every grid step inside the span is valid.
        inside = (scenario.t_us >= t_ann[0]) & (scenario.t_us <= t_ann[-1])
        assert actors.valid[i, inside].all()
        category = nusc.get("category", nusc.get("instance", token)["category_token"])["name"]
        assert actors.category[i] == category
        assert actors.kind[i] == actor_kind(category)
        assert np.allclose(actors.size_wlh_m[i], np.median([a["size"] for a in anns], axis=0))
    assert np.isfinite(actors.xy).all() and np.isfinite(actors.velocity_xy_mps).all()
    assert not actors.velocity_xy_mps[~actors.valid].any()
    # At a keyframe on the grid, an actor is where its annotation puts it.
    first = nusc.get("sample_annotation", nusc.sample[0]["anns"][0])
    row = list(actors.instance_tokens).index(first["instance_token"])
    assert np.allclose(actors.xy[row, 0], first["translation"][:2], atol=0.01)
    assert actors.kind.dtype == np.int8 and actors.size_wlh_m.shape == (actors.num_actors, 3)


@real_logs
def test_map_holds_lanes_connectors_and_crossings(dataroot):
    scenario = _scenario(dataroot)
    lanes = scenario.map.lanes
    num_lanes, num_connectors = EXPECTED_LANES[dataroot.name]
    assert lanes.num_lanes == num_lanes + num_connectors
    assert lanes.is_connector.sum() == num_connectors
    assert np.all(np.diff(lanes.offsets) >= 2)
    spacing = np.linalg.norm(np.diff(lanes.centerline(0), axis=0), axis=1)
    assert spacing.max() <= 0.5 + 1e-6
    assert np.all((lanes.width_m > 1.0) & (lanes.width_m < 10.0))
    assert len(lanes.successor_indices) > 0
    assert np.all((lanes.successor_indices >= 0) & (lanes.successor_indices < lanes.num_lanes))
    assert len(scenario.map.ped_crossings) == 11
    assert scenario.map.is_drivable(scenario.ego.xy).all()


@real_logs
def test_route_follows_the_ego(dataroot):
    scenario = _scenario(dataroot)
    route, lanes = scenario.route, scenario.map.lanes
    assert len(route.lane_indices) >= 2
    for a, b in zip(route.lane_indices[:-1], route.lane_indices[1:]):
        assert b in lanes.successors(a)  # these logs drive without lane changes
    _, lateral_m, _ = project_to_polyline(scenario.ego.xy, route.centerline_xy)
    assert np.mean(np.abs(lateral_m) < 2.0) >= 0.95
    assert np.all(np.linalg.norm(np.diff(route.centerline_xy, axis=0), axis=1) > 0)
    assert route.driving_command.shape == (scenario.num_steps,)
    assert set(np.unique(route.driving_command)) <= {c.value for c in DrivingCommand}


def test_driving_command_says_left_before_the_left_turn():
    dataroot = next((p for p in REAL_DATAROOTS if p.name == "av2-7fab2350-pit"), None)
    if dataroot is None:
        pytest.skip("real log av2-7fab2350-pit not found")
    scenario = _scenario(dataroot)
    # The ego stops, then turns left through an intersection (yaw -33 deg -> +25 deg).
    assert math.degrees(scenario.ego.yaw_rad[-1] - scenario.ego.yaw_rad[0]) > 45
    commands = scenario.route.driving_command
    assert commands[0] == DrivingCommand.STRAIGHT
    assert np.all(commands[60:140] == DrivingCommand.LEFT)
    assert not np.any(commands == DrivingCommand.RIGHT)


@real_logs
def test_camera_rig_has_the_seven_ring_cameras(dataroot):
    rig = _scenario(dataroot).cameras
    # Both logs carry 7fab2350's calibration: five nuScenes-named channels in nuScenes order,
    # then AV2's side cameras by name (there is no CAM_BACK).
    assert list(rig.names) == ["CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_BACK_RIGHT", "CAM_BACK_LEFT", "CAM_FRONT_LEFT",
                               "CAM_SIDE_LEFT", "CAM_SIDE_RIGHT"]
    assert rig.intrinsics.shape == (7, 3, 3) and np.all(rig.intrinsics[:, 2, 2] == 1.0)
    front = list(rig.names).index("CAM_FRONT")
    assert (rig.width_px[front], rig.height_px[front]) == (1550, 2048)  # AV2's portrait front camera
    rotation = rig.pose_camera_to_ego[:, :3, :3]
    assert np.allclose(rotation @ np.swapaxes(rotation, 1, 2), np.eye(3), atol=1e-6)
    # The front camera looks along ego +x (its optical axis is camera +z), from about 1.7 m up.
    assert np.allclose(rotation[front, :, 2], [1, 0, 0], atol=0.05)
    assert 1.0 < rig.pose_camera_to_ego[front, 2, 3] < 2.5


def test_camera_order_starts_with_nuscenes_channels():
    assert CAMERA_ORDER == ("CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_BACK_RIGHT", "CAM_BACK", "CAM_BACK_LEFT",
                            "CAM_FRONT_LEFT")


@real_logs
def test_source_reuses_tables_and_whole_map(dataroot):
    source = NuScenesSource(dataroot, VERSION)
    first = source.load_scenario(source.scene_names[0])
    second = source.load_scenario(source.scene_names[0])
    assert first.map is second.map  # a small map is built once per source
    assert np.array_equal(first.ego.xy, second.ego.xy)


# ---- interpolation and categories -------------------------------------------------------------


def test_yaw_interpolation_takes_the_shortest_arc_across_pi():
    t_us = np.array([0, 500_000], dtype=np.int64)
    xyz = np.array([[0.0, 0.0, 0.0], [5.0, 0.0, 0.0]])
    yaw = np.array([math.pi - 0.05, -math.pi + 0.05])
    grid = np.arange(0, 500_001, STEP_US, dtype=np.int64)
    xyz_grid, yaw_grid = interpolate_track(t_us, xyz, yaw, grid)
    assert np.allclose(xyz_grid[:, 0], [0, 1, 2, 3, 4, 5])
    assert np.all(np.abs(yaw_grid) >= math.pi - 0.05 - 1e-9)  # never swings through 0
    assert np.cos(yaw_grid[0] - (math.pi - 0.05)) == pytest.approx(1.0)
    assert np.cos(yaw_grid[-1] - (-math.pi + 0.05)) == pytest.approx(1.0)


def test_annotated_span_mask_splits_gaps():
    grid = np.arange(0, 5_000_001, STEP_US, dtype=np.int64)
    t_ann = np.array([1_000_000, 1_500_000, 4_000_000], dtype=np.int64)  # 2.5 s gap
    valid = annotated_span_mask(t_ann, grid, max_gap_us=1_500_000, tolerance_us=2_000)
    assert np.array_equal(np.flatnonzero(valid), [10, 11, 12, 13, 14, 15, 40])


@pytest.mark.parametrize("category, kind", [
    ("vehicle.car", ActorKind.VEHICLE), ("vehicle.bus.rigid", ActorKind.VEHICLE),
    ("vehicle.bicycle", ActorKind.CYCLIST), ("vehicle.motorcycle", ActorKind.CYCLIST),
    ("human.pedestrian.adult", ActorKind.PEDESTRIAN), ("animal", ActorKind.PEDESTRIAN),
    ("movable_object.barrier", ActorKind.STATIC), ("static_object.bicycle_rack", ActorKind.STATIC),
])
def test_actor_kind_of_categories(category, kind):
    assert actor_kind(category) == kind


def test_actor_kind_rejects_unknown_category():
    with pytest.raises(DatasetError, match="flying.saucer"):
        actor_kind("flying.saucer")


# ---- route on hand-made maps ------------------------------------------------------------------


def _lane_graph(lines: list[np.ndarray], successors: list[list[int]], is_connector: list[bool]) -> LaneGraph:
    return LaneGraph(
        tokens=np.array([f"lane-{i}" for i in range(len(lines))]),
        centerline_xy=np.concatenate(lines),
        offsets=np.concatenate([[0], np.cumsum([len(line) for line in lines])]).astype(np.int64),
        width_m=np.full(len(lines), 3.5),
        is_connector=np.array(is_connector),
        successor_offsets=np.concatenate([[0], np.cumsum([len(s) for s in successors])]).astype(np.int64),
        successor_indices=np.array([i for s in successors for i in s], dtype=np.int64),
    )


def _straight_lanes_map() -> RoadMap:
    """Lane 0: x 0..50 at y=0 -> lane 1 (connector): x 50..51 -> lane 2: x 51..120.
    Lane 3: x 0..120 at y=3.5 (left of them), linked to nothing."""
    lines = [np.array([[0.0, 0.0], [50.0, 0.0]]), np.array([[50.0, 0.0], [51.0, 0.0]]),
             np.array([[51.0, 0.0], [120.0, 0.0]]), np.array([[0.0, 3.5], [120.0, 3.5]])]
    lanes = _lane_graph(lines, [[1], [2], [], []], [False, True, False, False])
    return RoadMap(name="test", drivable_area=box(-5, -2, 125, 5.5), lanes=lanes)


def _ego_along(xy: np.ndarray) -> EgoLog:
    heading = np.diff(xy, axis=0)
    yaw = np.arctan2(heading[:, 1], heading[:, 0])
    yaw = np.append(yaw, yaw[-1])
    n = len(xy)
    return EgoLog(xy=xy, z=np.zeros(n), yaw_rad=yaw, speed_mps=np.full(n, 20.0), valid=np.ones(n, bool))


def test_route_fills_in_a_connector_the_ego_skipped():
    x = np.arange(0.0, 100.0, 2.0)  # 20 m/s: never a step on the 1 m connector
    ego = _ego_along(np.stack([x, np.zeros_like(x)], -1))
    route = build_route(_straight_lanes_map(), ego, RouteConfig())
    assert route.lane_indices.tolist() == [0, 1, 2]
    assert np.allclose(route.centerline_xy[[0, -1]], [[0, 0], [120, 0]])
    assert np.all(route.driving_command == DrivingCommand.STRAIGHT)


def test_route_follows_a_lane_change():
    x = np.arange(0.0, 100.0, 1.0)
    y = np.interp(x, [0, 30, 70, 100], [0, 0, 3.5, 3.5])  # to the left lane over 40 m
    ego = _ego_along(np.stack([x, y], -1))
    route = build_route(_straight_lanes_map(), ego, RouteConfig())
    assert route.lane_indices.tolist() == [0, 3]  # the unlinked lane change is kept
    # The centerline leaves lane 0 and joins lane 3 where the ego did, not at the lanes' ends.
    _, lateral_m, _ = project_to_polyline(ego.xy, route.centerline_xy)
    assert np.abs(lateral_m).max() < 2.0
    # At most a brief LEFT as the change starts; never RIGHT while the ego still points left.
    assert np.mean(route.driving_command == DrivingCommand.STRAIGHT) > 0.9
    assert not np.any(route.driving_command == DrivingCommand.RIGHT)


def test_driving_command_is_left_before_and_through_a_left_turn():
    arc = np.radians(np.linspace(-90.0, 0.0, 32))  # quarter circle, radius 10 m, centre (50, 10)
    lines = [np.array([[0.0, 0.0], [50.0, 0.0]]), np.stack([50 + 10 * np.cos(arc), 10 + 10 * np.sin(arc)], -1),
             np.array([[60.0, 10.0], [60.0, 80.0]])]
    road_map = RoadMap(name="test", drivable_area=box(-5, -5, 65, 85),
                       lanes=_lane_graph(lines, [[1], [2], []], [False, True, False]))
    route_xy = np.concatenate(lines)
    s = np.arange(0.0, 120.0, 1.0)
    ego_xy, _ = interpolate_polyline(route_xy, s)
    ego = _ego_along(ego_xy)
    route = build_route(road_map, ego, RouteConfig())
    assert route.lane_indices.tolist() == [0, 1, 2]
    commands = route.driving_command
    assert np.all(commands[:25] == DrivingCommand.STRAIGHT)  # the turn is more than 20 m ahead
    assert np.all(commands[36:55] == DrivingCommand.LEFT)
    assert np.all(commands[70:] == DrivingCommand.STRAIGHT)  # past the turn, on the straight
    assert not np.any(commands == DrivingCommand.RIGHT)


# ---- demo dataroot ----------------------------------------------------------------------------


def test_every_demo_scene_loads(request):
    demo_town = pytest.importorskip("scenarios.demo_town", reason="the demo generator is not present")
    if not hasattr(demo_town, "build_demo_dataroot"):
        pytest.skip("scenarios.demo_town has no build_demo_dataroot yet")
    dataroot = request.getfixturevalue("demo_dataroot")
    source = NuScenesSource(dataroot, VERSION)
    infos = source.list_scenes()
    assert infos
    for info in infos:
        scenario = source.load_scenario(info.name)
        assert scenario.name == info.name
        assert scenario.num_steps >= 2 and np.all(np.diff(scenario.t_us) == STEP_US)
        assert scenario.ego.valid.all() and np.isfinite(scenario.ego.xy).all()
        assert scenario.map.lanes.num_lanes > 0
        assert scenario.route.driving_command.shape == (scenario.num_steps,)
        _, lateral_m, _ = project_to_polyline(scenario.ego.xy, scenario.route.centerline_xy)
        assert np.mean(np.abs(lateral_m) < 2.0) >= 0.9
        # Scenes whose description names a turn get that command before or during it.
        commands = set(scenario.route.driving_command.tolist())
        if "turns left" in info.description:
            assert DrivingCommand.LEFT in commands and DrivingCommand.RIGHT not in commands
        if "turns right" in info.description:
            assert DrivingCommand.RIGHT in commands and DrivingCommand.LEFT not in commands


# ---- errors on broken copies ------------------------------------------------------------------


@pytest.fixture
def broken_root(tmp_path) -> Path:
    """A writable copy of the smaller real dataroot, to corrupt."""
    if not REAL_DATAROOTS:
        pytest.skip("real logs not found under ../shared/data/nuscenes-real")
    root = tmp_path / "dataroot"
    shutil.copytree(REAL_DATAROOTS[0], root)
    for path in [root, *root.rglob("*")]:  # the shared data is read-only
        os.chmod(path, os.stat(path).st_mode | stat.S_IWUSR)
    return root


def _rewrite_table(root: Path, table: str, edit) -> None:
    path = root / VERSION / f"{table}.json"
    records = json.loads(path.read_text())
    edit(records)
    path.write_text(json.dumps(records))


def test_error_dataroot_without_tables(tmp_path):
    with pytest.raises(DatasetError) as err:
        list_scenes(tmp_path, VERSION)
    message = str(err.value)
    assert str(tmp_path / VERSION / "sample_annotation.json") in message
    assert f"contains {VERSION}/" in message


def test_error_parent_folder_instead_of_dataroot():
    if not REAL_DATAROOTS:
        pytest.skip("real logs not found under ../shared/data/nuscenes-real")
    with pytest.raises(DatasetError, match="scene.json") as err:
        NuScenesSource(REAL_DATAROOTS[0].parent, VERSION)
    assert REAL_DATAROOTS[0].name in str(err.value)  # the dataroots below are named (paths may be resolved)


def test_error_unknown_scene_lists_the_available_ones(broken_root):
    with pytest.raises(DatasetError) as err:
        load_scenario(broken_root, "scene-0061", VERSION)
    assert "scene-0061" in str(err.value)
    assert _only_scene(REAL_DATAROOTS[0]) in str(err.value)


def test_error_map_file_missing(broken_root):
    map_path = broken_root / "maps" / "expansion" / "boston-seaport.json"
    map_path.unlink()
    with pytest.raises(DatasetError, match="boston-seaport.json") as err:
        load_scenario(broken_root, _only_scene(REAL_DATAROOTS[0]), VERSION)
    assert str(map_path) in str(err.value)


@pytest.mark.parametrize("version", ["1.0", "1.2", "2.0"])
def test_error_map_of_the_wrong_version(broken_root, version):
    map_path = broken_root / "maps" / "expansion" / "boston-seaport.json"
    content = json.loads(map_path.read_text())
    content["version"] = version
    map_path.write_text(json.dumps(content))
    with pytest.raises(DatasetError) as err:
        load_scenario(broken_root, _only_scene(REAL_DATAROOTS[0]), VERSION)
    assert str(map_path) in str(err.value) and "'1.3'" in str(err.value) and repr(version) in str(err.value)


def test_error_map_png_missing(broken_root):
    (png,) = (broken_root / "maps").glob("*.png")
    png.unlink()
    with pytest.raises(DatasetError) as err:
        NuScenesSource(broken_root, VERSION)
    assert str(png) in str(err.value) and "map.json" in str(err.value)


def test_error_annotation_links_to_a_missing_instance(broken_root):
    broken = {}

    def edit(records):
        records[5]["instance_token"] = "0123456789abcdef0123456789abcdef"
        broken["token"] = records[5]["token"]

    _rewrite_table(broken_root, "sample_annotation", edit)
    with pytest.raises(DatasetError) as err:
        NuScenesSource(broken_root, VERSION)
    message = str(err.value)
    assert "sample_annotation.json" in message and "instance.json" in message
    assert broken["token"] in message and "0123456789abcdef0123456789abcdef" in message


def test_error_sample_data_links_to_a_missing_ego_pose(broken_root):
    broken = {}

    def edit(records):
        lidar = next(r for r in records if "LIDAR_TOP" in r["filename"] and not r["is_key_frame"])
        lidar["ego_pose_token"] = "feedfacefeedfacefeedfacefeedface"
        broken["token"] = lidar["token"]

    _rewrite_table(broken_root, "sample_data", edit)
    with pytest.raises(DatasetError) as err:
        load_scenario(broken_root, _only_scene(REAL_DATAROOTS[0]), VERSION)
    message = str(err.value)
    assert "sample_data.json" in message and "ego_pose.json" in message and broken["token"] in message


def test_error_table_that_is_not_json(broken_root):
    table = broken_root / VERSION / "instance.json"
    table.write_text(table.read_text()[:1000])
    with pytest.raises(DatasetError, match="not valid JSON") as err:
        NuScenesSource(broken_root, VERSION)
    assert str(table) in str(err.value)


def test_yaw_across_pi_in_a_dataset_is_interpolated_the_short_way(broken_root):
    """An actor annotated at +179 deg and -179 deg in turn never swings through 0 on the grid."""
    target = {}

    def edit(records):
        instance = records[0]["instance_token"]
        target["instance"] = instance
        for k, record in enumerate(r for r in records if r["instance_token"] == instance):
            yaw = math.radians(179.0 if k % 2 == 0 else -179.0)
            record["rotation"] = quaternion_from_yaw(yaw).tolist()

    _rewrite_table(broken_root, "sample_annotation", edit)
    scenario = load_scenario(broken_root, _only_scene(REAL_DATAROOTS[0]), VERSION)
    row = list(scenario.actors.instance_tokens).index(target["instance"])
    yaw = scenario.actors.yaw_rad[row, scenario.actors.valid[row]]
    assert len(yaw) > 10
    assert np.all(np.abs(yaw) >= math.radians(179.0) - 1e-6)


@real_logs
def test_large_maps_are_cropped_to_the_scene(dataroot):
    config = AdapterConfig(crop_min_canvas_m2=0.0, crop_margin_m=10.0)  # treat the log map as a city map
    cropped = NuScenesSource(dataroot, VERSION, config).load_scenario(_only_scene(dataroot))
    whole = _scenario(dataroot)
    # AV2 annotates actors up to ~220 m away, so the crop keeps most lanes of these small maps.
    assert 0 < cropped.map.lanes.num_lanes <= whole.map.lanes.num_lanes
    assert set(cropped.map.lanes.tokens) <= set(whole.map.lanes.tokens)
    xy = np.concatenate([cropped.ego.xy, cropped.actors.xy[cropped.actors.valid]])
    lo, hi = xy.min(axis=0) - 10.0, xy.max(axis=0) + 10.0
    bounds = np.array(cropped.map.drivable_area.bounds)
    assert np.all(bounds[:2] >= lo - 1e-9) and np.all(bounds[2:] <= hi + 1e-9)
    assert cropped.map.drivable_area.area < whole.map.drivable_area.area
    assert cropped.map.is_drivable(cropped.ego.xy).all()
    _, lateral_m, _ = project_to_polyline(cropped.ego.xy, cropped.route.centerline_xy)
    assert np.mean(np.abs(lateral_m) < 2.0) >= 0.95


def test_keyframe_poses_are_used_without_lidar(broken_root):
    _rewrite_table(broken_root, "sample_data",
                   lambda records: records.__setitem__(slice(None), [r for r in records
                                                                     if "LIDAR_TOP" not in r["filename"]]))
    source = NuScenesSource(broken_root, VERSION)
    (info,) = source.list_scenes()
    assert info.num_ego_poses == len(source.nusc.sample)  # one pose per keyframe
    scenario = source.load_scenario(info.name)
    full = _scenario(REAL_DATAROOTS[0])
    assert abs(scenario.num_steps - full.num_steps) <= 1
    # Keyframe poses come from the camera closest to the sample time (within 23 ms), so the
    # 2 Hz path stays within decimetres of the 10 Hz one.
    steps = min(scenario.num_steps, full.num_steps)
    assert np.median(np.linalg.norm(scenario.ego.xy[:steps] - full.ego.xy[:steps], axis=1)) < 0.5

"""Scenario files: exact round trips, atomic writes, and an error naming the file for each defect."""

from __future__ import annotations

import dataclasses
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon, box

from scenarios.scenario_file import (
    FORMAT_VERSION,
    MANIFEST_ENTRY,
    SCENARIO_SUFFIX,
    load_scenario_file,
    save_scenario,
    scenario_differences,
    scenarios_equal,
)
from sim.errors import ScenarioFileError
from sim.types.roadmap import LaneGraph, RoadMap
from sim.types.scenario import (
    STEP_US,
    ActorKind,
    ActorTracks,
    CameraRig,
    DrivingCommand,
    EgoLog,
    EgoParams,
    Route,
    Scenario,
)
from tests.conftest import real_dataroot_params


def _tiny_scenario() -> Scenario:
    """Two chained lanes, one car, one camera, 5 steps: every field populated, odd values included."""
    num_steps = 5
    lanes = LaneGraph(
        tokens=np.array(["lane-a", "lane-b"]),
        centerline_xy=np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 0.0], [20.0, 0.1]]),
        offsets=np.array([0, 2, 4], dtype=np.int64),
        width_m=np.array([3.5, 3.25]),
        is_connector=np.array([False, True]),
        successor_offsets=np.array([0, 1, 1], dtype=np.int64),
        successor_indices=np.array([1], dtype=np.int64),
    )
    road_map = RoadMap(
        name="boston-seaport",
        # A MultiPolygon with a hole and coordinates that are not short decimals: WKB must keep all.
        drivable_area=MultiPolygon([Polygon([(0, -2), (20, -2), (20, 2), (0, 2)], [[(5, -0.5), (6, -0.5), (6, 0.5)]]),
                                    box(30.1, 0.3, 40.7, 1.0 / 3.0 + 1.0)]),
        lanes=lanes,
        ped_crossings=(box(8, -2, 9, 2), box(18, -2, 19.5, 2)),
        walkways=(),
    )
    ego = EgoLog(xy=np.stack([np.linspace(0, 4, num_steps), np.zeros(num_steps)], -1), z=np.full(num_steps, -0.0),
                 yaw_rad=np.zeros(num_steps), speed_mps=np.full(num_steps, 10.0), valid=np.ones(num_steps, bool))
    actors = ActorTracks(
        instance_tokens=np.array(["car-1"]), category=np.array(["vehicle.car"]),
        kind=np.array([ActorKind.VEHICLE], dtype=np.int8), size_wlh_m=np.array([[1.8, 4.5, 1.5]]),
        xy=np.full((1, num_steps, 2), 12.5), z=np.full((1, num_steps), 0.75), yaw_rad=np.full((1, num_steps), np.pi),
        velocity_xy_mps=np.zeros((1, num_steps, 2)), valid=np.array([[False, True, True, True, False]]))
    cameras = CameraRig(names=np.array(["CAM_FRONT"]), intrinsics=np.array([[[1000.0, 0, 800], [0, 1000, 450],
                                                                               [0, 0, 1]]]),
                        pose_camera_to_ego=np.eye(4)[None], width_px=np.array([1600], dtype=np.int64),
                        height_px=np.array([900], dtype=np.int64))
    route = Route(lane_indices=np.array([0, 1], dtype=np.int64), centerline_xy=np.array([[0.0, 0], [10, 0], [20, 0.1]]),
                  driving_command=np.full(num_steps, DrivingCommand.STRAIGHT, dtype=np.int8))
    return Scenario(name="tiny", t_us=1_000_000 + STEP_US * np.arange(num_steps, dtype=np.int64), map=road_map,
                    ego=ego, actors=actors, cameras=cameras, route=route,
                    ego_params=EgoParams(length_m=4.9), metadata={"source": "test", "note": "ünïcode"})


@pytest.fixture
def saved(tmp_path) -> Path:
    return save_scenario(_tiny_scenario(), tmp_path / f"tiny{SCENARIO_SUFFIX}")


def _rewrite(path: Path, drop: tuple[str, ...] = (), manifest_update: dict | None = None,
             manifest_bytes: bytes | None = None) -> None:
    """Rewrite a scenario file without some entries, with manifest fields replaced, or with raw manifest bytes."""
    with zipfile.ZipFile(path) as archive:
        entries = {name: archive.read(name) for name in archive.namelist() if name not in drop}
    if manifest_bytes is not None:
        entries[MANIFEST_ENTRY] = manifest_bytes
    if manifest_update:
        manifest = json.loads(entries[MANIFEST_ENTRY])
        manifest.update(manifest_update)
        entries[MANIFEST_ENTRY] = json.dumps(manifest).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)


# ---- round trips ------------------------------------------------------------------------------


def test_round_trip_is_exact_on_a_hand_made_scenario(saved):
    original = _tiny_scenario()
    loaded = load_scenario_file(saved)
    assert scenario_differences(original, loaded) == []
    assert loaded.ego_params == EgoParams(length_m=4.9)
    assert loaded.metadata == {"source": "test", "note": "ünïcode"}
    assert isinstance(loaded.map.drivable_area, MultiPolygon)
    assert shapely.to_wkb(loaded.map.drivable_area) == shapely.to_wkb(original.map.drivable_area)
    assert loaded.map.walkways == ()
    assert np.signbit(loaded.ego.z).all()  # -0.0 survives: bytes, not values, are compared
    assert loaded.map.lanes.successors(0).tolist() == [1]


@pytest.mark.parametrize("dataroot", real_dataroot_params())
def test_round_trip_is_exact_on_a_real_log(dataroot, tmp_path):
    from scenarios.nuscenes import load_scenario

    original = load_scenario(dataroot, f"scene-av2-{dataroot.name.split('-')[1]}")
    loaded = load_scenario_file(save_scenario(original, tmp_path / f"real{SCENARIO_SUFFIX}"))
    assert scenarios_equal(original, loaded), scenario_differences(original, loaded)
    for group in ("ego", "actors", "cameras", "route"):
        for name, value in vars(getattr(original, group)).items():
            copy = getattr(getattr(loaded, group), name)
            assert copy.dtype == value.dtype and np.array_equal(copy, value), f"{group}.{name}"
    assert shapely.to_wkb(loaded.map.drivable_area) == shapely.to_wkb(original.map.drivable_area)
    assert [shapely.to_wkb(p) for p in loaded.map.ped_crossings] == [shapely.to_wkb(p) for p in
                                                                      original.map.ped_crossings]
    assert loaded.map.lanes.tokens.dtype == original.map.lanes.tokens.dtype
    assert loaded.metadata == original.metadata


def test_round_trip_is_exact_on_the_demo_scenes(request, tmp_path):
    from scenarios.nuscenes import NuScenesSource

    demo_town = pytest.importorskip("scenarios.demo_town", reason="the demo generator is not present")
    if not hasattr(demo_town, "build_demo_dataroot"):
        pytest.skip("scenarios.demo_town has no build_demo_dataroot yet")
    source = NuScenesSource(request.getfixturevalue("demo_dataroot"))
    for name in source.scene_names:
        original = source.load_scenario(name)
        loaded = load_scenario_file(save_scenario(original, tmp_path / f"{name}{SCENARIO_SUFFIX}"))
        assert scenario_differences(original, loaded) == []


def test_differences_name_the_field():
    a, b = _tiny_scenario(), _tiny_scenario()
    b.actors.xy[0, 2, 0] += 1e-12
    assert scenario_differences(a, b) == ["actors.xy: values differ"]
    wider = a.route.driving_command.astype(np.int64)
    c = dataclasses.replace(a, route=dataclasses.replace(a.route, driving_command=wider))
    assert scenario_differences(a, c) == ["route.driving_command: int8(5,) != int64(5,)"]
    assert not scenarios_equal(a, c)


def test_numpy_can_read_the_arrays(saved):
    with np.load(saved) as archive:
        assert np.array_equal(archive["ego.xy"], _tiny_scenario().ego.xy)


# ---- atomic writes ----------------------------------------------------------------------------


def test_write_leaves_no_temp_file_and_overwrites(tmp_path):
    path = tmp_path / f"s{SCENARIO_SUFFIX}"
    save_scenario(_tiny_scenario(), path)
    save_scenario(_tiny_scenario(), path)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_failed_write_keeps_the_old_file_and_no_temp(saved, monkeypatch):
    before = saved.read_bytes()

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np.lib.format, "write_array", fail)
    with pytest.raises(OSError, match="disk full"):
        save_scenario(_tiny_scenario(), saved)
    assert saved.read_bytes() == before
    assert [p.name for p in saved.parent.iterdir()] == [saved.name]


def test_object_arrays_are_refused_with_the_field_named(tmp_path):
    tiny = _tiny_scenario()
    objects = np.array(["vehicle.car"], dtype=object)
    scenario = dataclasses.replace(tiny, actors=dataclasses.replace(tiny.actors, category=objects))
    with pytest.raises(ScenarioFileError, match="actors.category"):
        save_scenario(scenario, tmp_path / f"s{SCENARIO_SUFFIX}")
    assert list(tmp_path.iterdir()) == []


# ---- errors -----------------------------------------------------------------------------------


def test_error_missing_file(tmp_path):
    path = tmp_path / f"nothing{SCENARIO_SUFFIX}"
    with pytest.raises(ScenarioFileError, match="does not exist") as err:
        load_scenario_file(path)
    assert str(path) in str(err.value)


def test_error_not_a_zip(tmp_path):
    path = tmp_path / f"text{SCENARIO_SUFFIX}"
    path.write_text("hello")
    with pytest.raises(ScenarioFileError, match="not a splatsim scenario file") as err:
        load_scenario_file(path)
    assert str(path) in str(err.value)


def test_error_truncated_file(saved):
    saved.write_bytes(saved.read_bytes()[: saved.stat().st_size // 2])
    with pytest.raises(ScenarioFileError) as err:
        load_scenario_file(saved)
    assert str(saved) in str(err.value)


def test_error_corrupt_array_bytes(saved):
    # Flip bytes inside a stored (compressed) member: the CRC or inflate check must catch it.
    with zipfile.ZipFile(saved) as archive:
        info = archive.getinfo("map.lanes.centerline_xy.npy")
    data = bytearray(saved.read_bytes())
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 10
    data[start:start + 8] = bytes(255 - b for b in data[start:start + 8])
    saved.write_bytes(bytes(data))
    with pytest.raises(ScenarioFileError, match="map.lanes.centerline_xy") as err:
        load_scenario_file(saved)
    assert str(saved) in str(err.value)


def test_error_plain_npz_is_the_wrong_format(tmp_path):
    path = tmp_path / f"plain{SCENARIO_SUFFIX}"
    with open(path, "wb") as f:
        np.savez(f, xy=np.zeros(3))
    with pytest.raises(ScenarioFileError, match=MANIFEST_ENTRY):
        load_scenario_file(path)


def test_error_other_format_name(saved):
    _rewrite(saved, manifest_update={"format": "someone-elses-format"})
    with pytest.raises(ScenarioFileError, match="someone-elses-format") as err:
        load_scenario_file(saved)
    assert "not a splatsim scenario file" in str(err.value)


def test_error_newer_version_says_to_upgrade(saved):
    _rewrite(saved, manifest_update={"version": FORMAT_VERSION + 1})
    with pytest.raises(ScenarioFileError) as err:
        load_scenario_file(saved)
    message = str(err.value)
    assert f"version {FORMAT_VERSION + 1}" in message
    assert f"up to version {FORMAT_VERSION}" in message and "upgrade splatsim" in message


def test_error_missing_array_is_named(saved):
    _rewrite(saved, drop=("ego.xy.npy",))
    with pytest.raises(ScenarioFileError, match="'ego.xy'") as err:
        load_scenario_file(saved)
    assert str(saved) in str(err.value)


def test_error_array_missing_from_the_manifest_is_named(saved):
    with zipfile.ZipFile(saved) as archive:
        arrays = json.loads(archive.read(MANIFEST_ENTRY))["arrays"]
    del arrays["route.driving_command"]
    _rewrite(saved, drop=("route.driving_command.npy",), manifest_update={"arrays": arrays})
    with pytest.raises(ScenarioFileError, match="'route.driving_command'"):
        load_scenario_file(saved)


def test_error_manifest_not_json(saved):
    _rewrite(saved, manifest_bytes=b"{not json")
    with pytest.raises(ScenarioFileError, match="not valid JSON"):
        load_scenario_file(saved)


# ---- values that would change scores -------------------------------------------------------------


def _negative_size(sc: Scenario) -> None:
    sc.actors.size_wlh_m[0, 1] = -4.5


def _nan_actor_position(sc: Scenario) -> None:
    sc.actors.xy[0, 2, 0] = np.nan


def _inf_ego_yaw(sc: Scenario) -> None:
    sc.ego.yaw_rad[1] = np.inf


def _zero_lane_width(sc: Scenario) -> None:
    sc.map.lanes.width_m[1] = 0.0


def _route_lane_out_of_range(sc: Scenario) -> None:
    sc.route.lane_indices[1] = 7


def _unknown_actor_kind(sc: Scenario) -> None:
    sc.actors.kind[0] = 9


def _time_grid_gap(sc: Scenario) -> None:
    sc.t_us[3:] += 50_000


@pytest.mark.parametrize("corrupt, array, problem", [
    (_negative_size, "actors.size_wlh_m", "<= 0"),
    (_nan_actor_position, "actors.xy", "non-finite"),
    (_inf_ego_yaw, "ego.yaw_rad", "non-finite"),
    (_zero_lane_width, "map.lanes.width_m", "<= 0"),
    (_route_lane_out_of_range, "route.lane_indices", "holds 7"),
    (_unknown_actor_kind, "actors.kind", "holds 9"),
    (_time_grid_gap, "t_us", "grid"),
], ids=lambda v: v.__name__.strip("_") if callable(v) else None)
def test_error_bad_values_name_the_file_and_the_array(tmp_path, corrupt, array, problem):
    scenario = _tiny_scenario()
    corrupt(scenario)
    path = save_scenario(scenario, tmp_path / f"bad{SCENARIO_SUFFIX}")  # writing does not check; reading does
    with pytest.raises(ScenarioFileError) as err:
        load_scenario_file(path)
    assert str(err.value).startswith(f"{path}: array '{array}' ") and problem in str(err.value)


def test_empty_arrays_of_any_dtype_load(tmp_path):
    """A scenario without actors: np.array([]) makes float64 tokens, which hold no value of a wrong type."""
    tiny = _tiny_scenario()
    no_actors = dataclasses.replace(tiny.actors, **{f.name: getattr(tiny.actors, f.name)[:0]
                                                    for f in dataclasses.fields(tiny.actors)})
    no_actors = dataclasses.replace(no_actors, instance_tokens=np.array([]))
    scenario = dataclasses.replace(tiny, actors=no_actors)
    loaded = load_scenario_file(save_scenario(scenario, tmp_path / f"empty{SCENARIO_SUFFIX}"))
    assert scenario_differences(scenario, loaded) == []


def test_error_array_shape_against_the_other_arrays(tmp_path):
    tiny = _tiny_scenario()
    short = dataclasses.replace(tiny, ego=dataclasses.replace(tiny.ego, speed_mps=tiny.ego.speed_mps[:4]))
    path = save_scenario(short, tmp_path / f"short{SCENARIO_SUFFIX}")
    with pytest.raises(ScenarioFileError, match=r"array 'ego.speed_mps' has 4 entries along axis 0, not 5 \(T\)"):
        load_scenario_file(path)


def test_error_array_that_differs_from_its_manifest_entry(saved):
    with zipfile.ZipFile(saved) as archive:
        arrays = json.loads(archive.read(MANIFEST_ENTRY))["arrays"]
    arrays["actors.z"]["shape"] = [1, 6]
    _rewrite(saved, manifest_update={"arrays": arrays})
    with pytest.raises(ScenarioFileError, match=r"array 'actors.z' is <f8\[1, 5\] but the manifest declares"):
        load_scenario_file(saved)


def test_error_non_finite_ego_params(tmp_path):
    scenario = dataclasses.replace(_tiny_scenario(), ego_params=EgoParams(wheelbase_m=float("nan")))
    path = save_scenario(scenario, tmp_path / f"nan{SCENARIO_SUFFIX}")
    with pytest.raises(ScenarioFileError, match="ego_params.wheelbase_m"):
        load_scenario_file(path)


# ---- the same bytes ---------------------------------------------------------------------------------

_SAVE_TINY = ("import sys; from pathlib import Path; from tests.scenarios.test_scenario_file import _tiny_scenario; "
              "from scenarios.scenario_file import save_scenario; save_scenario(_tiny_scenario(), Path(sys.argv[1]))")


def test_same_scenario_gives_the_same_bytes_wherever_and_whenever_it_is_written(tmp_path):
    """Two writers 14 hours apart in local time (the zip's clock) and with other umasks: one file."""
    import os
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    paths = []
    for tz, umask in (("UTC", 0o022), ("Pacific/Kiritimati", 0o077)):
        path = tmp_path / tz.replace("/", "-") / f"tiny{SCENARIO_SUFFIX}"
        path.parent.mkdir()
        subprocess.run([sys.executable, "-c", f"import os; os.umask({umask}); {_SAVE_TINY}", str(path)],
                       cwd=REPO_ROOT, env={**os.environ, "TZ": tz}, check=True)
        paths.append(path)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    with zipfile.ZipFile(paths[0]) as archive:
        names = archive.namelist()
    assert names[0] == MANIFEST_ENTRY and names[1:] == sorted(names[1:])

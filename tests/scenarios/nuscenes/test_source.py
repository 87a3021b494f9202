"""NuScenesSource, list_scenes and load_scenario on the real AV2 logs and the demo dataroot."""

from __future__ import annotations

import time

import numpy as np
import pytest

from scenarios.nuscenes import NuScenesSource, list_scenes, load_scenario
from sim.geometry import project_to_polyline
from sim.types.scenario import STEP_US, DrivingCommand
from tests.scenarios.nuscenes.conftest import VERSION, only_scene, real_logs, source_of


@real_logs
def test_list_scenes_describes_the_log(dataroot):
    (info,) = list_scenes(dataroot, VERSION)
    assert info.name == f"scene-av2-{dataroot.name.split('-')[1]}"
    assert info.map_name == "boston-seaport"
    assert info.num_ego_poses == 156  # every 10 Hz LIDAR_TOP sweep, not the 32 keyframes
    assert info.duration_s == pytest.approx(15.5, abs=0.01)
    assert info.num_actors == len({a["instance_token"] for a in source_of(dataroot).nusc.sample_annotation})


@real_logs
def test_load_is_fast(dataroot):
    start = time.perf_counter()
    scenario = load_scenario(dataroot, only_scene(dataroot), VERSION)
    assert time.perf_counter() - start < 5.0
    assert scenario.metadata["source"] == "nuscenes"
    assert scenario.metadata["scene_token"] == source_of(dataroot).nusc.scene[0]["token"]
    assert scenario.metadata["location"] == "boston-seaport"
    assert scenario.metadata["version"] == VERSION


@real_logs
def test_source_reuses_tables_and_whole_map(dataroot):
    source = NuScenesSource(dataroot, VERSION)
    first = source.load_scenario(source.scene_names[0])
    second = source.load_scenario(source.scene_names[0])
    assert first.map is second.map  # a small map is built once per source
    assert np.array_equal(first.ego.xy, second.ego.xy)


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

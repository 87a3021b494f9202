"""Road maps: lanes, connectors and crossings of the real logs; cropping; map file errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scenarios.nuscenes import AdapterConfig, NuScenesSource, load_scenario
from sim.errors import DatasetError
from sim.geometry import project_to_polyline
from tests.conftest import REAL_DATAROOTS
from tests.scenarios.nuscenes.conftest import VERSION, only_scene, real_logs, scenario_of

# From ../shared/data/nuscenes-real/README.md: lanes + lane connectors of each log's map.
EXPECTED_LANES = {"av2-adcf7d18-pit": (138, 61), "av2-7fab2350-pit": (110, 73)}


@real_logs
def test_map_holds_lanes_connectors_and_crossings(dataroot):
    scenario = scenario_of(dataroot)
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
def test_large_maps_are_cropped_to_the_scene(dataroot):
    config = AdapterConfig(crop_min_canvas_m2=0.0, crop_margin_m=10.0)  # treat the log map as a city map
    cropped = NuScenesSource(dataroot, VERSION, config).load_scenario(only_scene(dataroot))
    whole = scenario_of(dataroot)
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


def test_error_map_file_missing(broken_root):
    map_path = broken_root / "maps" / "expansion" / "boston-seaport.json"
    map_path.unlink()
    with pytest.raises(DatasetError, match="boston-seaport.json") as err:
        load_scenario(broken_root, only_scene(REAL_DATAROOTS[0]), VERSION)
    assert str(map_path) in str(err.value)


@pytest.mark.parametrize("version", ["1.0", "1.2", "2.0"])
def test_error_map_of_the_wrong_version(broken_root, version):
    map_path = broken_root / "maps" / "expansion" / "boston-seaport.json"
    content = json.loads(map_path.read_text())
    content["version"] = version
    map_path.write_text(json.dumps(content))
    with pytest.raises(DatasetError) as err:
        load_scenario(broken_root, only_scene(REAL_DATAROOTS[0]), VERSION)
    assert str(map_path) in str(err.value) and "'1.3'" in str(err.value) and repr(version) in str(err.value)


def _demo_copy_with_map_edit(demo_dataroot, tmp_path, edit):
    import shutil

    root = tmp_path / "dataroot"
    shutil.copytree(demo_dataroot, root)
    path = root / "maps" / "expansion" / "boston-seaport.json"
    content = json.loads(path.read_text())
    edit(content)
    path.write_text(json.dumps(content))
    return root, path, content


def test_error_map_node_that_is_not_finite(demo_dataroot, tmp_path):
    root, path, content = _demo_copy_with_map_edit(demo_dataroot, tmp_path,
                                                   lambda m: m["node"][11].update(x=float("nan")))
    with pytest.raises(DatasetError) as err:
        load_scenario(root, "scene-demo-0000", VERSION)
    assert str(err.value).startswith(f"{path.resolve()}: node record {content['node'][11]['token']} has x, y (nan,")


def test_error_map_arcline_piece_with_a_negative_radius(demo_dataroot, tmp_path):
    def edit(m):
        token = sorted(m["arcline_path_3"])[3]
        m["arcline_path_3"][token][0]["radius"] = -5.0
        m["edited"] = token

    root, path, content = _demo_copy_with_map_edit(demo_dataroot, tmp_path, edit)
    with pytest.raises(DatasetError, match="radius a finite number > 0") as err:
        load_scenario(root, "scene-demo-0000", VERSION)
    assert str(err.value).startswith(f"{path.resolve()}: arcline_path_3 record {content['edited']} has a piece")

"""Loading the tables: the errors that name the broken file and record, on broken copies of a real log."""

from __future__ import annotations

import pytest

from scenarios.nuscenes import NuScenesSource, list_scenes, load_scenario
from sim.errors import DatasetError
from tests.conftest import REAL_DATAROOTS
from tests.scenarios.nuscenes.conftest import VERSION, only_scene, rewrite_table


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
    assert only_scene(REAL_DATAROOTS[0]) in str(err.value)


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

    rewrite_table(broken_root, "sample_annotation", edit)
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

    rewrite_table(broken_root, "sample_data", edit)
    with pytest.raises(DatasetError) as err:
        load_scenario(broken_root, only_scene(REAL_DATAROOTS[0]), VERSION)
    message = str(err.value)
    assert "sample_data.json" in message and "ego_pose.json" in message and broken["token"] in message


def test_error_table_that_is_not_json(broken_root):
    table = broken_root / VERSION / "instance.json"
    table.write_text(table.read_text()[:1000])
    with pytest.raises(DatasetError, match="not valid JSON") as err:
        NuScenesSource(broken_root, VERSION)
    assert str(table) in str(err.value)

"""The checks of every table's values, on corrupted copies of the demo town: each bad value is refused with
the file, the record and the field named; a scaled quaternion is normalised."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from scenarios.nuscenes import NuScenesSource
from sim.errors import DatasetError
from tests.scenarios.nuscenes.conftest import VERSION, rewrite_table


@pytest.fixture
def root(demo_dataroot, tmp_path) -> Path:
    copy = tmp_path / "dataroot"
    shutil.copytree(demo_dataroot, copy)
    return copy


def _set(index: int, field: str, value):
    def edit(records):
        records[index][field] = value
    return edit


def _next_of_first_points_back(records):
    chained = next(r for r in records if r["next"])
    successor = next(r for r in records if r["token"] == chained["next"])
    chained["timestamp"], successor["timestamp"] = successor["timestamp"], chained["timestamp"]
    records.insert(0, records.pop(records.index(chained)))  # the record named is records[0]


# (table, edit, index of the record named, field named, words of the problem)
CASES = [
    ("sample_annotation", _set(7, "size", [1.8, 0.0, 1.5]), 7, "size", "> 0"),
    ("sample_annotation", _set(7, "size", [1.8, float("inf"), 1.5]), 7, "size", "finite"),
    ("sample_annotation", _set(7, "translation", [1.0, 2.0]), 7, "translation", "list of 3 numbers"),
    ("sample_annotation", _set(7, "translation", [1.0, "2", 3.0]), 7, "translation", "list of 3 numbers"),
    ("sample_annotation", _set(7, "rotation", [float("nan"), 0, 0, 1]), 7, "rotation", "finite"),
    ("sample_annotation", _set(7, "instance_token", "f" * 32), 7, "instance_token", "instance.json"),
    ("ego_pose", _set(3, "rotation", [1e-9, 0.0, 0.0, 1e-9]), 3, "rotation", "zero norm"),
    ("ego_pose", _set(3, "timestamp", 1.5e15), 3, "timestamp", "integer"),
    ("calibrated_sensor", _set(2, "translation", None), 2, "translation", "list of 3 numbers"),
    ("sample_data", _set(4, "ego_pose_token", "e" * 32), 4, "ego_pose_token", "ego_pose.json"),
    ("sample_data", _set(4, "is_key_frame", "false"), 4, "is_key_frame", "true or false"),
    ("sample_data", _set(4, "next", "d" * 32), 4, "next", "not in"),
    ("sample", _next_of_first_points_back, 0, "timestamp", "increase along each prev/next chain"),
    ("instance", _set(0, "category_token", "c" * 32), 0, "category_token", "category.json"),
    ("scene", _set(1, "name", "scene-demo-0000"), 1, "name", "no earlier scene"),
]


@pytest.mark.parametrize("table, edit, index, field, problem", CASES,
                         ids=[f"{c[0]}-{c[3]}-{c[4]}" for c in CASES])
def test_bad_value_is_refused_naming_file_record_and_field(root, table, edit, index, field, problem):
    records = json.loads((root / VERSION / f"{table}.json").read_text())
    edit(records)
    (root / VERSION / f"{table}.json").write_text(json.dumps(records))
    with pytest.raises(DatasetError) as err:
        NuScenesSource(root, VERSION)
    message = str(err.value)
    assert message.startswith(f"{root.resolve() / VERSION / table}.json: record {records[index]['token']} ")
    assert field in message and problem in message


def test_record_that_is_not_an_object(root):
    rewrite_table(root, "instance", lambda records: records.insert(2, ["not", "a", "record"]))
    with pytest.raises(DatasetError, match=r"instance\.json: record #2 is a list, not an object"):
        NuScenesSource(root, VERSION)


def test_token_of_two_records(root):
    twice = {}

    def edit(records):
        records[9]["token"] = twice["token"] = records[4]["token"]

    rewrite_table(root, "ego_pose", edit)
    with pytest.raises(DatasetError, match=rf"ego_pose\.json: token {twice['token']} belongs to more than one"):
        NuScenesSource(root, VERSION)


def test_table_that_is_not_a_list(root):
    (root / VERSION / "log.json").write_text('{"token": "x"}')
    with pytest.raises(DatasetError, match=r"log\.json holds a dict, not a list"):
        NuScenesSource(root, VERSION)


def test_quaternion_of_any_norm_is_normalised(root):
    poses = json.loads((root / VERSION / "ego_pose.json").read_text())
    stored = np.array(poses[5]["rotation"])
    poses[5]["rotation"] = (3.0 * stored).tolist()
    (root / VERSION / "ego_pose.json").write_text(json.dumps(poses))
    loaded = NuScenesSource(root, VERSION).nusc.get("ego_pose", poses[5]["token"])["rotation"]
    np.testing.assert_allclose(loaded, stored / np.linalg.norm(stored), rtol=0, atol=1e-15)


def test_a_log_without_annotations_loads_with_no_actors(root):
    for table in ("sample_annotation", "instance"):
        rewrite_table(root, table, lambda records: records.clear())
    source = NuScenesSource(root, VERSION)
    assert source.load_scenario(source.scene_names[0]).actors.num_actors == 0

"""`splatsim run` refuses a dataroot with a bad value, naming the file, the record and the field (exit status 2).

Each test corrupts one record of a copy of the generated demo town: values that, unchecked, changed
or hid safety scores (issue 19).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from tools.cli import main

VERSION = "v1.0-mini"
SCENE = "scene-demo-0005"


@pytest.fixture
def dataroot(demo_dataroot, tmp_path) -> Path:
    root = tmp_path / "dataroot"
    shutil.copytree(demo_dataroot, root)
    return root


def table(root: Path, name: str) -> list[dict]:
    return json.loads((root / VERSION / f"{name}.json").read_text())


def write_table(root: Path, name: str, records: list[dict]) -> None:
    (root / VERSION / f"{name}.json").write_text(json.dumps(records))  # NaN is written as the literal NaN


def refusal(root: Path, tmp_path: Path, capsys) -> str:
    """stderr of `splatsim run` on the scene, which must exit with status 2; line breaks removed."""
    argv = sys.argv
    sys.argv = ["splatsim", "run", "--dataroot", str(root), "--scene", SCENE, "--policy", "constant-velocity",
                "--out", str(tmp_path / "out"), "--no-video"]
    try:
        with pytest.raises(SystemExit) as exit_info:
            main()
    finally:
        sys.argv = argv
    assert exit_info.value.code == 2
    assert not (tmp_path / "out" / "metrics.json").exists()
    return "".join(capsys.readouterr().err.split())  # rich wraps long paths


def scene_samples(root: Path) -> list[dict]:
    (scene,) = [s for s in table(root, "scene") if s["name"] == SCENE]
    return [s for s in table(root, "sample") if s["scene_token"] == scene["token"]]


def test_negative_size_of_the_truck_that_constant_velocity_hits(dataroot, tmp_path, capsys):
    samples = {s["token"] for s in scene_samples(dataroot)}
    trucks = {c["token"] for c in table(dataroot, "category") if c["name"] == "vehicle.truck"}
    truck_instances = {i["token"] for i in table(dataroot, "instance") if i["category_token"] in trucks}
    annotations = table(dataroot, "sample_annotation")
    truck = [a for a in annotations if a["sample_token"] in samples and a["instance_token"] in truck_instances]
    assert len({a["instance_token"] for a in truck}) == 1  # the scene's one truck
    for a in truck:
        a["size"][0] = -a["size"][0]
    write_table(dataroot, "sample_annotation", annotations)
    err = refusal(dataroot, tmp_path, capsys)
    assert str(dataroot / VERSION / "sample_annotation.json") in err
    assert truck[0]["token"] in err and "size" in err and ">0" in err


def test_nan_ego_translation(dataroot, tmp_path, capsys):
    poses = table(dataroot, "ego_pose")
    poses[40]["translation"][1] = float("nan")
    write_table(dataroot, "ego_pose", poses)
    err = refusal(dataroot, tmp_path, capsys)
    assert str(dataroot / VERSION / "ego_pose.json") in err
    assert poses[40]["token"] in err and "translation" in err and "finite" in err


def test_zero_quaternion(dataroot, tmp_path, capsys):
    poses = table(dataroot, "ego_pose")
    poses[40]["rotation"] = [0.0, 0.0, 0.0, 0.0]
    write_table(dataroot, "ego_pose", poses)
    err = refusal(dataroot, tmp_path, capsys)
    assert str(dataroot / VERSION / "ego_pose.json") in err
    assert poses[40]["token"] in err and "rotation" in err and "zeronorm" in err


def test_string_timestamp(dataroot, tmp_path, capsys):
    samples = table(dataroot, "sample")
    samples[3]["timestamp"] = str(samples[3]["timestamp"])
    write_table(dataroot, "sample", samples)
    err = refusal(dataroot, tmp_path, capsys)
    assert str(dataroot / VERSION / "sample.json") in err
    assert samples[3]["token"] in err and "timestamp" in err and "integer" in err


def test_binary_garbage_in_scene_json(dataroot, tmp_path, capsys):
    (dataroot / VERSION / "scene.json").write_bytes(bytes(range(256)) * 4)
    err = refusal(dataroot, tmp_path, capsys)
    assert str(dataroot / VERSION / "scene.json") in err and "notvalidJSON" in err


@pytest.mark.parametrize("content", ["", "[]"], ids=["no-bytes", "no-records"])
def test_empty_sample_json(dataroot, tmp_path, capsys, content):
    (dataroot / VERSION / "sample.json").write_text(content)
    err = refusal(dataroot, tmp_path, capsys)
    assert str(dataroot / VERSION / "sample.json") in err and "sample_data.json" not in err

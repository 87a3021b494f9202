"""The demo tables: scenes, samples, annotations, cameras, and the traffic they record."""

from __future__ import annotations

import math

import numpy as np
import pytest
from nuscenes.nuscenes import NuScenes
from pyquaternion import Quaternion

from sim.geometry import yaw_from_quaternion
from sim.types.scenario import EgoParams

CAMERAS = ("CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_BACK_RIGHT", "CAM_BACK", "CAM_BACK_LEFT", "CAM_FRONT_LEFT")



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

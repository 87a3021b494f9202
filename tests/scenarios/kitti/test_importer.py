"""`import_kitti` on small fake files: the dataroot the devkit loads, and the input errors."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image
from shapely.geometry import Point

from scenarios.kitti import KittiImport, import_kitti
from scenarios.kitti.importer import LEFT_CHANNEL, RIGHT_CHANNEL, START_US
from scenarios.nuscenes import NuScenesSource
from sim.errors import DatasetError


def _drive(root, frames=6, width=40, height=12, step_m=1.0):
    """Fake KITTI files: gray images, P0/P1 with a 0.5 m baseline, cam0 moving step_m forward a frame."""
    for cam in ("image_0", "image_1"):
        (root / cam).mkdir()
        for i in range(frames):
            Image.fromarray(np.full((height, width), 10 * i, np.uint8)).save(root / cam / f"{i:06d}.png")
    (root / "calib.txt").write_text("P0: 50 0 20 0 0 50 6 0 0 0 1 0\nP1: 50 0 20 -25 0 50 6 0 0 0 1 0\n")
    (root / "poses.txt").write_text("".join(f"1 0 0 0 0 1 0 0 0 0 1 {i * step_m}\n" for i in range(frames)))
    return KittiImport(left=root / "image_0", right=root / "image_1", calib=root / "calib.txt",
                       poses=root / "poses.txt", out=root / "dataroot", scene="fake")


def test_the_dataroot_loads_as_a_scenario_with_both_cameras_and_a_lane(tmp_path):
    summary = import_kitti(_drive(tmp_path))
    assert (summary.frames, summary.image_size, summary.baseline_m) == (6, (40, 12), 0.5)
    scenario = NuScenesSource(tmp_path / "dataroot").load_scenario("fake")
    # 10 Hz without a times file: 0.5 s, 6 poses on the 10 Hz grid, 1 m per frame = 10 m/s forward
    assert scenario.num_steps == 6 and scenario.t_us[0] == START_US
    np.testing.assert_allclose(np.diff(scenario.ego.xy[:, 0]), 1.0)
    np.testing.assert_allclose(scenario.ego.xy[:, 1], scenario.ego.xy[0, 1])
    np.testing.assert_allclose(scenario.ego.yaw_rad, 0.0, atol=1e-9)
    assert scenario.actors.num_actors == 0
    assert list(scenario.cameras.names) == [LEFT_CHANNEL, RIGHT_CHANNEL]
    np.testing.assert_allclose(scenario.cameras.intrinsics[0], [[50, 0, 20], [0, 50, 6], [0, 0, 1]])
    np.testing.assert_allclose(scenario.cameras.pose_camera_to_ego[1][:3, 3], [0, -0.5, 1.65])
    # one lane along the path, 30 m past each end; a 12 m wide corridor around it
    assert scenario.map.lanes.num_lanes == 1
    line = scenario.map.lanes.centerline(0)
    np.testing.assert_allclose(line[[0, -1], 0], [scenario.ego.xy[0, 0] - 30.0, scenario.ego.xy[-1, 0] + 30.0])
    assert scenario.map.drivable_area.contains(Point(*scenario.ego.xy[0]).buffer(5.9))
    images = sorted((tmp_path / "dataroot" / "samples" / RIGHT_CHANNEL).iterdir())
    assert len(images) == 6 and np.asarray(Image.open(images[3])).max() == 30


def test_times_file_sets_the_timestamps(tmp_path):
    job = _drive(tmp_path, frames=3)
    (tmp_path / "times.txt").write_text("0.0\n0.25\n0.5\n")
    import_kitti(replace(job, times=tmp_path / "times.txt"))
    poses = json.loads((tmp_path / "dataroot" / "v1.0-mini" / "ego_pose.json").read_text())
    assert sorted(p["timestamp"] - START_US for p in poses) == [0, 250_000, 500_000]


def test_mismatched_counts_name_the_file(tmp_path):
    job = _drive(tmp_path)
    (tmp_path / "image_1" / "000005.png").unlink()
    with pytest.raises(DatasetError, match=f"{tmp_path / 'image_1'}: holds 5 frames but .*poses.txt holds 6 poses"):
        import_kitti(job)


def test_an_unrelated_output_folder_is_not_overwritten(tmp_path):
    job = _drive(tmp_path)
    job.out.mkdir()
    (job.out / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match="is not a dataroot written by `splatsim data import-kitti`"):
        import_kitti(job)

"""KITTI calibration, poses and times files: parsing against hand-written values, and the errors
that name the file."""

from __future__ import annotations

import numpy as np
import pytest

from scenarios.kitti.files import check_frame_numbers, list_images, read_calibration, read_poses, read_times
from sim.errors import DatasetError

P0 = "700 0 600 0 0 700 180 0 0 0 1 0"
P1 = "700 0 600 -350 0 700 180 0 0 0 1 0"  # -fx * baseline: baseline 0.5 m


def test_unlabelled_rows_are_p0_then_p1(tmp_path):
    path = tmp_path / "calib.txt"
    path.write_text(f"{P0}\n{P1}")
    calib = read_calibration(path)
    np.testing.assert_array_equal(calib.K0, [[700, 0, 600], [0, 700, 180], [0, 0, 1]])
    np.testing.assert_allclose(calib.cam1_centre_in_cam0_m(), [0.5, 0.0, 0.0])


def test_labelled_rows_of_the_official_layout(tmp_path):
    path = tmp_path / "calib.txt"
    path.write_text(f"P0: {P0}\nP1: {P1}\nP2: {P0}\nP3: {P0}\nTr: 1 0 0 0 0 1 0 0 0 0 1 0\n")
    np.testing.assert_allclose(read_calibration(path).cam1_centre_in_cam0_m(), [0.5, 0.0, 0.0])


@pytest.mark.parametrize("text, words", [
    (f"{P0}\n", "holds 1 projection"),
    (f"{P0}\n700 0 600\n", "line 2 has 3 values"),
    (f"{P0}\n700 0 600 x 0 700 180 0 0 0 1 0\n", "line 2 is not numbers"),
    (f"P0: {P0}\nP2: {P1}\n", "has no P1"),
    (f"0 0 600 0 0 700 180 0 0 0 1 0\n{P1}\n", "not camera intrinsics"),
    (f"{P1}\n{P1}\n", "P0's last column"),
])
def test_malformed_calibration_is_named(tmp_path, text, words):
    path = tmp_path / "calib.txt"
    path.write_text(text)
    with pytest.raises(DatasetError, match=words) as err:
        read_calibration(path)
    assert str(path) in str(err.value)


def test_poses_rows_become_4x4(tmp_path):
    path = tmp_path / "poses.txt"
    path.write_text("1 0 0 0 0 1 0 0 0 0 1 0\n1 0 0 0.5 0 1 0 -0.1 0 0 1 2\n")
    poses = read_poses(path)
    assert poses.shape == (2, 4, 4)
    np.testing.assert_array_equal(poses[1, :3, 3], [0.5, -0.1, 2.0])
    np.testing.assert_array_equal(poses[1, 3], [0, 0, 0, 1])


def test_a_pose_that_is_not_a_rotation_is_named(tmp_path):
    path = tmp_path / "poses.txt"
    path.write_text("1 0 0 0 0 1 0 0 0 0 1 0\n2 0 0 0 0 1 0 0 0 0 1 0\n")
    with pytest.raises(DatasetError, match="line 2's 3x3 block is not a rotation"):
        read_poses(path)


def test_times_must_increase(tmp_path):
    path = tmp_path / "times.txt"
    path.write_text("0.0\n0.1\n0.1\n")
    with pytest.raises(DatasetError, match=r"line 3 \(0.1\) follows 0.1"):
        read_times(path)
    path.write_text("0.0\n1.0e-01\n")
    np.testing.assert_allclose(read_times(path), [0.0, 0.1])


def test_a_missing_frame_is_named(tmp_path):
    for i in (0, 1, 3):
        (tmp_path / f"{i:06d}.png").write_bytes(b"")
    with pytest.raises(DatasetError, match="000002.png: frame 2 is missing"):
        check_frame_numbers(list_images(tmp_path, "--left"), tmp_path)


def test_an_empty_folder_is_named(tmp_path):
    with pytest.raises(DatasetError, match="holds no .png or .jpg images: pass the camera's image folder as --right"):
        list_images(tmp_path, "--right")

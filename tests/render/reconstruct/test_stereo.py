"""Stereo initial points: pairs found from the cameras, depth = fx * baseline / disparity."""

from __future__ import annotations

import numpy as np

from render.reconstruct.data import ActorInfo, FrameSet, holdout_split
from render.reconstruct.stereo import StereoConfig, stereo_pairs, stereo_points

FX, BASELINE_M, DISPARITY_PX = 100.0, 0.5, 8  # a wall at 100 * 0.5 / 8 = 6.25 m


def _pair(width=160, height=48, camera_x_m=3.0) -> FrameSet:
    """A left and a right image of a textured wall facing the cameras; the right camera BASELINE_M
    to the right of the left one, which sits at world x = camera_x_m looking along world +z."""
    rng = np.random.default_rng(0)
    texture = rng.uniform(0, 1, (height // 2, (width + DISPARITY_PX) // 2)).repeat(2, 0).repeat(2, 1)
    left = texture[:, :width]
    right = texture[:, DISPARITY_PX:DISPARITY_PX + width]  # a wall point at left column u is at u - d on the right
    k = np.array([[FX, 0, width / 2], [0, FX, height / 2], [0, 0, 1]])
    viewmats = np.tile(np.eye(4), (2, 1, 1))
    viewmats[0, 0, 3] = -camera_x_m
    viewmats[1, 0, 3] = -camera_x_m - BASELINE_M
    images = np.repeat(np.stack([left, right])[..., None], 3, axis=-1).astype(np.float32)
    eye = np.tile(np.eye(4), (2, 1, 1))
    return FrameSet(images=images, viewmats=viewmats, Ks=np.stack([k, k]), pose_ego_to_global=eye,
                    pose_camera_to_ego=eye,
                    camera_names=np.array(["L", "R"], dtype=object), t_us=np.array([5, 5]),
                    filenames=np.array(["", ""], dtype=object), actors=ActorInfo.none(),
                    actor_pose_box_to_world=np.zeros((2, 0, 4, 4)), actor_present=np.zeros((2, 0), bool))


def test_the_rectified_pair_is_found_with_its_baseline() -> None:
    frames = _pair()
    pairs = stereo_pairs(frames)
    assert [(a, b) for a, b, _ in pairs] == [(0, 1)]
    assert abs(pairs[0][2] - BASELINE_M) < 1e-12
    assert stereo_pairs(frames, np.array([0])) == []  # the right image held out: no pair


def test_points_lie_on_the_wall_at_fx_baseline_over_disparity() -> None:
    points, times = stereo_points(_pair(), config=StereoConfig(points_per_pair=0))
    assert len(points) > 1000 and set(times.tolist()) == {5}
    z = points[:, 2]
    assert abs(np.median(z) - 6.25) < 0.02
    assert np.mean(np.abs(z - 6.25) < 0.2) > 0.95
    # x through the left camera (world x = 3 m) and its principal point: the wall's middle column
    u = FX * (points[:, 0] - 3.0) / z + 80.0
    assert u.min() >= 0 and u.max() <= 160


def test_holdout_by_time_takes_both_cameras_of_every_8th_time() -> None:
    t_us = np.repeat(np.arange(20) * 100_000, 2)
    train, test = holdout_split(40, 8, t_us)
    np.testing.assert_array_equal(test, [8, 9, 24, 25])  # times 4 and 12, both cameras
    assert len(train) == 36

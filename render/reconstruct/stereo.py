"""Initial points without lidar: depth from rectified stereo pairs (OpenCV's semi-global block
matching), back-projected with the calibration into the global frame.

A stereo pair is two frames of one time whose cameras differ by a translation along the left
camera's x axis only (a rectified pair: same rotation, same fy and cy), the right camera at
+x; `stereo_pairs` finds them from the frames' view matrices and intrinsics, so a dataroot
needs no stereo flag. Disparity d (pixels) at a left pixel gives depth z = fx * baseline / d;
matches are kept when OpenCV's left-right check, uniqueness test and speckle filter pass and
z lies within [min_depth_m, max_depth_m] (far matches are a pixel or two of disparity: too
noisy to place a point; the sky and the far background are left to the learned sky). Pixel
centres are at index + 0.5, as everywhere in splatsim.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from render.reconstruct.data import FrameSet
from sim.geometry import invert_pose


@dataclass(frozen=True)
class StereoConfig:
    """Matching and sampling settings.

    - min_depth_m, max_depth_m: depths kept; block_size: SGBM's matching window (odd, pixels).
    - uniqueness_ratio, speckle_window, speckle_range, max_lr_diff_px: OpenCV's filters.
    - points_per_pair: random valid pixels kept per pair (0: all).
    - seed: the sampling's random stream.
    """

    min_depth_m: float = 2.0
    max_depth_m: float = 40.0
    block_size: int = 5
    uniqueness_ratio: int = 10
    speckle_window: int = 100
    speckle_range: int = 2
    max_lr_diff_px: int = 1
    points_per_pair: int = 20_000
    seed: int = 0


def stereo_pairs(frames: FrameSet, index: np.ndarray | None = None, tolerance: float = 1e-3) -> list[tuple[int, int,
                                                                                                       float]]:
    """(left frame, right frame, baseline in metres) of every rectified pair among frames `index`
    (default all), in time order."""
    index = np.arange(frames.num_frames) if index is None else np.asarray(index)
    by_time: dict[int, list[int]] = {}
    for f in index:
        by_time.setdefault(int(frames.t_us[f]), []).append(int(f))
    pairs = []
    for t in sorted(by_time):
        group = by_time[t]
        for a in group:
            for b in group:
                if a == b:
                    continue
                rel = frames.viewmats[b] @ invert_pose(frames.viewmats[a])  # left camera -> right camera
                baseline = -rel[0, 3]
                ka, kb = frames.Ks[a], frames.Ks[b]
                if (baseline > 0 and np.allclose(rel[:3, :3], np.eye(3), atol=tolerance)
                        and np.all(np.abs(rel[1:3, 3]) <= tolerance * max(baseline, 1.0))
                        and np.allclose(ka, kb, rtol=tolerance, atol=tolerance)):
                    pairs.append((a, b, float(baseline)))
    return pairs


def disparity(left_gray: np.ndarray, right_gray: np.ndarray, max_disparity_px: float,
              config: StereoConfig = StereoConfig()) -> np.ndarray:
    """(H, W) float32 disparity of a rectified pair of (H, W) uint8 images, NaN where no match."""
    import cv2

    num = int(np.clip(np.ceil(max_disparity_px / 16.0), 1, max(1, left_gray.shape[1] // 16 - 1))) * 16
    bs = config.block_size
    sgbm = cv2.StereoSGBM_create(minDisparity=0, numDisparities=num, blockSize=bs, P1=8 * bs * bs, P2=32 * bs * bs,
                                 disp12MaxDiff=config.max_lr_diff_px, uniquenessRatio=config.uniqueness_ratio,
                                 speckleWindowSize=config.speckle_window, speckleRange=config.speckle_range,
                                 mode=cv2.STEREO_SGBM_MODE_SGBM_3WAY)
    raw = sgbm.compute(np.ascontiguousarray(left_gray), np.ascontiguousarray(right_gray)).astype(np.float32) / 16.0
    raw[raw <= 0] = np.nan
    return raw


def _gray_u8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(image, np.float32).mean(axis=-1) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def stereo_points(frames: FrameSet, index: np.ndarray | None = None,
                  config: StereoConfig = StereoConfig()) -> tuple[np.ndarray, np.ndarray] | None:
    """Points (P, 3) in the global frame and their frame times (P,) int64 from every stereo
    pair among frames `index` (the training frames); None when there is no pair."""
    pairs = stereo_pairs(frames, index)
    if not pairs:
        return None
    rng = np.random.default_rng(config.seed)
    points, times = [], []
    for left, right, baseline in pairs:
        k = frames.Ks[left]
        fx_b = k[0, 0] * baseline
        disp = disparity(_gray_u8(frames.images[left]), _gray_u8(frames.images[right]), fx_b / config.min_depth_m,
                         config)
        with np.errstate(invalid="ignore", divide="ignore"):
            depth = fx_b / disp
        v, u = np.nonzero(np.isfinite(depth) & (depth >= config.min_depth_m) & (depth <= config.max_depth_m))
        if config.points_per_pair and len(u) > config.points_per_pair:
            pick = rng.choice(len(u), config.points_per_pair, replace=False)
            u, v = u[pick], v[pick]
        z = depth[v, u].astype(np.float64)
        cam = np.stack([(u + 0.5 - k[0, 2]) / k[0, 0] * z, (v + 0.5 - k[1, 2]) / k[1, 1] * z, z], axis=-1)
        to_world = invert_pose(frames.viewmats[left])
        points.append(cam @ to_world[:3, :3].T + to_world[:3, 3])
        times.append(np.full(len(z), int(frames.t_us[left]), np.int64))
    return np.concatenate(points), np.concatenate(times)

"""Reading a KITTI odometry drive's files: calibration, camera poses, timestamps, image lists.

Formats (KITTI odometry devkit):
- calibration: rows of 12 numbers, a 3x4 projection matrix each, row-major, optionally
  labelled (`P0: ...`, as the official `sequences/XX/calib.txt`, which also holds P2, P3 and
  Tr); unlabelled rows are taken as P0, P1 in order (the excerpt in ../shared/data).
- poses: one row of 12 numbers per frame, the 3x4 pose of cam0 in the world frame (cam0 of
  frame 0), camera axes x right, y down, z forward, metres.
- times: one number per frame, seconds from the start of the drive.
- images: one file per frame in each camera folder, frames in file-name order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.errors import DatasetError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class StereoCalibration:
    """The rectified stereo pair's projection matrices.

    - P0, P1: (3, 4) projection matrices of cam0 (left) and cam1 (right), pixels.
    """

    P0: np.ndarray
    P1: np.ndarray

    @property
    def K0(self) -> np.ndarray:
        """(3, 3) intrinsics of cam0."""
        return self.P0[:, :3].copy()

    @property
    def K1(self) -> np.ndarray:
        """(3, 3) intrinsics of cam1."""
        return self.P1[:, :3].copy()

    def cam1_centre_in_cam0_m(self) -> np.ndarray:
        """(3,) cam1's centre in cam0's axes: P1 = K1 [I | t1] with t1 = -centre (rectified pair),
        so for KITTI (P1[0, 3] = -fx * baseline) the centre is (baseline, 0, 0)."""
        return -np.linalg.solve(self.K1, self.P1[:, 3])


def _numbers(path: Path, line_no: int, text: str, count: int, what: str) -> np.ndarray:
    try:
        values = np.array([float(v) for v in text.split()], np.float64)
    except ValueError:
        raise DatasetError(f"{path}: line {line_no} is not numbers ({text[:60]!r}): expected {what}") from None
    if len(values) != count or not np.all(np.isfinite(values)):
        raise DatasetError(f"{path}: line {line_no} has {len(values)} values, expected {count} finite numbers ({what})")
    return values


def read_calibration(path: Path) -> StereoCalibration:
    """P0 and P1 of a KITTI calibration file (see the module docstring)."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the calibration file ({exc.strerror}): pass --calib FILE") from None
    labelled: dict[str, np.ndarray] = {}
    unlabelled: list[np.ndarray] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        label, sep, rest = line.partition(":")
        what = "a 3x4 projection matrix, row-major"
        if sep:
            if label.strip() in ("P0", "P1"):
                labelled[label.strip()] = _numbers(path, n, rest, 12, what).reshape(3, 4)
        else:
            unlabelled.append(_numbers(path, n, line, 12, what).reshape(3, 4))
    if labelled:
        if set(labelled) != {"P0", "P1"}:
            raise DatasetError(f"{path}: has no {'P1' if 'P0' in labelled else 'P0'} row: the stereo pair needs the "
                               "projection matrices P0 (left) and P1 (right)")
        p0, p1 = labelled["P0"], labelled["P1"]
    elif len(unlabelled) >= 2:
        p0, p1 = unlabelled[0], unlabelled[1]
    else:
        raise DatasetError(f"{path}: holds {len(unlabelled)} projection matrices, expected two rows of 12 numbers "
                           "(P0, P1) or lines labelled 'P0:' and 'P1:'")
    for name, p in (("P0", p0), ("P1", p1)):
        k = p[:, :3]
        if not (k[0, 0] > 0 and k[1, 1] > 0 and np.allclose(k[2], [0, 0, 1]) and k[1, 0] == 0 and k[2, 2] == 1):
            raise DatasetError(f"{path}: {name}'s left 3x3 block {k.tolist()} is not camera intrinsics "
                               "[[fx, s, cx], [0, fy, cy], [0, 0, 1]] of a rectified camera")
    if abs(p0[0, 3]) > 1e-9 * max(1.0, abs(p0[0, 0])) or np.any(p0[1:, 3] != 0):
        raise DatasetError(f"{path}: P0's last column {p0[:, 3].tolist()} is not zero: the poses are of cam0, so "
                           "P0 must be the reference camera K [I | 0]")
    return StereoCalibration(P0=p0, P1=p1)


def read_poses(path: Path) -> np.ndarray:
    """(N, 4, 4) cam0-to-world poses of a KITTI poses file (see the module docstring)."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the poses file ({exc.strerror}): pass --poses FILE") from None
    rows = [_numbers(path, n, line, 12, "a 3x4 camera-to-world pose, row-major")
            for n, line in enumerate(lines, 1) if line.strip()]
    if not rows:
        raise DatasetError(f"{path}: holds no poses (expected one row of 12 numbers per frame)")
    poses = np.tile(np.eye(4), (len(rows), 1, 1))
    poses[:, :3, :] = np.stack(rows).reshape(-1, 3, 4)
    det = np.linalg.det(poses[:, :3, :3])
    bad = np.flatnonzero(np.abs(det - 1.0) > 1e-3)
    if len(bad):
        raise DatasetError(f"{path}: line {bad[0] + 1}'s 3x3 block is not a rotation (determinant {det[bad[0]]:.4f})")
    return poses


def read_times(path: Path) -> np.ndarray:
    """(N,) frame times in seconds of a KITTI times file, strictly increasing."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the times file ({exc.strerror}): pass --times FILE or leave it "
                           "out for 10 Hz") from None
    times = np.array([_numbers(path, n, line, 1, "a time in seconds")[0] for n, line in enumerate(lines, 1)
                      if line.strip()])
    if len(times) and np.any(np.diff(times) <= 0):
        i = int(np.flatnonzero(np.diff(times) <= 0)[0])
        raise DatasetError(f"{path}: times must increase, but line {i + 2} ({times[i + 1]}) follows {times[i]}")
    return times


def list_images(folder: Path, option: str) -> list[Path]:
    """The image files of a camera folder in name order; a DatasetError naming the folder when
    there are none (option: the CLI flag, for the message)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: is not a folder of images: pass {option} DIR (e.g. sequences/04/image_0)")
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not images:
        raise DatasetError(f"{folder}: holds no .png or .jpg images: pass the camera's image folder as {option}")
    return images


def check_frame_numbers(images: list[Path], folder: Path) -> None:
    """Numbered frames (000000.png, ...) must run without a gap: a missing frame is named."""
    stems = [p.stem for p in images]
    if not all(s.isdigit() for s in stems):
        return
    numbers = np.array([int(s) for s in stems])
    expected = np.arange(numbers[0], numbers[0] + len(numbers))
    if np.array_equal(numbers, expected):
        return
    missing = sorted(set(range(numbers[0], numbers[-1] + 1)) - set(numbers.tolist()))
    name = f"{missing[0]:0{len(stems[0])}d}{images[0].suffix}" if missing else "?"
    raise DatasetError(f"{folder / name}: frame {missing[0] if missing else '?'} is missing ({len(missing)} frame(s) "
                       f"missing between {images[0].name} and {images[-1].name}): restore it or pass a complete "
                       "sequence")

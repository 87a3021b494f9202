"""mp4 videos of a camera rig: one per camera and one tiled rig view (imageio-ffmpeg, libx264).

Frames are streamed to hidden temporary files beside the targets (`.<name>.<random>.partial.mp4`)
and renamed into place, with the mode of any other output (0666 less the umask), when the writer
closes: a crash never leaves a half-written video under the final name. An exception (SIGTERM
included: `splatsim` turns it into SystemExit) removes the temporaries; those a SIGKILL left
behind are removed when a writer next writes the same target.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import imageio.v2 as imageio
import numpy as np

from sim.atomic import publish, stale_temporaries, temporary_beside
from sim.types.observation import CameraImages

PARTIAL_SUFFIX = ".partial.mp4"  # of the temporaries frames are streamed to
# nuScenes' customary 2 x 3 layout: front cameras on top, rear cameras below (mirrored, as a driver sees them)
NUSCENES_LAYOUT = (("CAM_FRONT_LEFT", "CAM_FRONT", "CAM_FRONT_RIGHT"), ("CAM_BACK_RIGHT", "CAM_BACK", "CAM_BACK_LEFT"))


def tile_rig(rgb: np.ndarray, names: np.ndarray | list[str]) -> np.ndarray:
    """One (rows * H, 3 * W, 3) uint8 image of C camera images (C, H, W, 3).

    The six nuScenes cameras go in NUSCENES_LAYOUT; any other rig in rows of three, in order,
    with black cells where a row is short.
    """
    names = [str(n) for n in names]
    c, h, w, _ = rgb.shape
    index = {n: i for i, n in enumerate(names)}
    if set(names) == {n for row in NUSCENES_LAYOUT for n in row}:
        grid = [[index[n] for n in row] for row in NUSCENES_LAYOUT]
    else:
        grid = [list(range(r, min(r + 3, c))) for r in range(0, c, 3)]
    black = np.zeros((h, w, 3), np.uint8)
    return np.concatenate([np.concatenate([rgb[i] for i in row] + [black] * (3 - len(row)), axis=1) for row in grid],
                          axis=0)


def _even(frame: np.ndarray) -> np.ndarray:
    """Pad to even height and width (yuv420p, which players expect, needs them)."""
    h, w = frame.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return frame
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)))


class RigVideoWriter:
    """Streams CameraImages to `<out_dir>/<prefix><CAMERA>.mp4` and `<out_dir>/<prefix>rig.mp4`.

    Use as a context manager; `add(images)` once per step. Files appear only on a clean close.
    """

    def __init__(self, out_dir: str | Path, fps: float = 10.0, prefix: str = "", per_camera: bool = True,
                 quality: int = 8) -> None:
        self.out_dir = Path(out_dir)
        self.fps = fps
        self.prefix = prefix
        self.per_camera = per_camera
        self.quality = quality
        self._writers: dict[str, tuple[object, Path, Path]] = {}
        self.paths: dict[str, Path] = {}

    def _writer(self, key: str, target: Path):
        if key not in self._writers:
            for stale in stale_temporaries(target, PARTIAL_SUFFIX):
                with contextlib.suppress(FileNotFoundError):
                    stale.unlink()
            tmp = temporary_beside(target, PARTIAL_SUFFIX)
            writer = imageio.get_writer(tmp, format="FFMPEG", fps=self.fps, codec="libx264", quality=self.quality,
                                        macro_block_size=1, pixelformat="yuv420p")
            self._writers[key] = (writer, tmp, target)
        return self._writers[key][0]

    def add(self, images: CameraImages) -> None:
        if self.per_camera:
            for name, frame in zip(images.names, images.rgb):
                self._writer(str(name), self.out_dir / f"{self.prefix}{name}.mp4").append_data(_even(frame))
        rig_writer = self._writer("rig", self.out_dir / f"{self.prefix}rig.mp4")
        rig_writer.append_data(_even(tile_rig(images.rgb, images.names)))

    def close(self, keep: bool = True) -> None:
        try:
            for key, (writer, tmp, target) in self._writers.items():
                if keep:
                    writer.close()
                    publish(tmp, target)
                    self.paths[key] = target
        finally:  # on an error, and whatever close() raised: no partial file stays
            for writer, tmp, _ in self._writers.values():
                with contextlib.suppress(Exception):
                    writer.close()
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            self._writers.clear()

    def __enter__(self) -> "RigVideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(keep=exc_type is None)


def write_rig_videos(frames: list[CameraImages], out_dir: str | Path, fps: float = 10.0,
                     prefix: str = "") -> dict[str, Path]:
    """Write per-camera and tiled rig mp4s of a list of frames; returns {camera name or "rig": path}."""
    with RigVideoWriter(out_dir, fps=fps, prefix=prefix) as writer:
        for images in frames:
            writer.add(images)
    return writer.paths

"""Rig videos as files: the mode of any other output, and no partial file left by a killed writer."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time

import imageio.v2 as imageio
import numpy as np
import pytest

from render.video import PARTIAL_SUFFIX, write_rig_videos
from sim.types.observation import CameraImages
from tests.conftest import REPO_ROOT


def _images(value: int) -> CameraImages:
    rgb = np.full((1, 16, 24, 3), value, np.uint8)
    return CameraImages(names=np.array(["CAM_FRONT"]), rgb=rgb, depth_m=np.zeros((1, 16, 24), np.float32),
                        alpha=np.ones((1, 16, 24), np.float32), intrinsics=np.eye(3)[None],
                        pose_camera_to_ego=np.eye(4)[None])


def test_videos_get_the_mode_of_ordinary_files(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    paths = write_rig_videos([_images(40), _images(200)], tmp_path, fps=10)
    assert set(paths) == {"CAM_FRONT", "rig"}
    for path in paths.values():
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask  # 0644 under the usual umask 022
    assert len(imageio.mimread(paths["CAM_FRONT"])) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CAM_FRONT.mp4", "rig.mp4"]


def test_stale_partials_of_a_killed_writer_are_removed_when_the_target_is_written_again(tmp_path):
    stale = tmp_path / f".CAM_FRONT.mp4.k1ll3d{PARTIAL_SUFFIX}"
    other = tmp_path / f".CAM_FRONT_LEFT.mp4.k1ll3d{PARTIAL_SUFFIX}"  # another target's: kept
    stale.write_bytes(b"half a video")
    other.write_bytes(b"half a video")
    write_rig_videos([_images(90)], tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["CAM_FRONT.mp4", "rig.mp4", other.name])


# A process that streams frames until it is signalled, with the CLI's SIGTERM handling.
_WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    from render.video import RigVideoWriter
    from sim.types.observation import CameraImages
    from tools.cli import exit_on_sigterm

    exit_on_sigterm()
    rgb = np.zeros((1, 16, 24, 3), np.uint8)
    images = CameraImages(np.array(["CAM_FRONT"]), rgb, np.zeros((1, 16, 24), np.float32),
                          np.ones((1, 16, 24), np.float32), np.eye(3)[None], np.eye(4)[None])
    with RigVideoWriter(sys.argv[1]) as writer:
        for i in range(1_000_000):
            writer.add(images)
            if i == 5:
                print("writing", flush=True)
""")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_writer_killed_mid_write_leaves_no_file(tmp_path, signum):
    out = tmp_path / "videos"
    # A job started in the background by a non-interactive shell (as CI may run the suite) inherits
    # SIGINT ignored, and Python then never raises KeyboardInterrupt: give the child the default.
    child = subprocess.Popen([sys.executable, "-c", _WRITER, str(out)], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert child.stdout.readline().strip() == "writing", child.stderr.read()
        assert any(p.name.endswith(PARTIAL_SUFFIX) for p in out.iterdir())  # killed while partials exist
        time.sleep(0.2)
        child.send_signal(signum)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == (143 if signum == signal.SIGTERM else -signal.SIGINT)  # exit status, or the signal
    assert list(out.iterdir()) == []

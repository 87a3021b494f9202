"""The real-street path on the shared KITTI excerpt: `data import-kitti` -> reconstruct from the
stereo images (a few downscaled frames, a few steps) -> `render` a closed-loop episode through
the reconstructed street on a path the car never drove."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from evaluation.reconstruction import ReconstructConfig, reconstruct
from scenarios.nuscenes import load_scenario
from sim.geometry import project_to_polyline
from tests.conftest import SHARED_DATA
from tools.cli import app

EXCERPT = SHARED_DATA / "kitti-odometry-excerpt"
pytestmark = pytest.mark.skipif(not (EXCERPT / "poses.txt").is_file(),
                                reason=f"the KITTI excerpt is not under {EXCERPT} (shared data absent)")


def _cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_import_reconstruct_and_drive_a_new_path(tmp_path):
    root = tmp_path / "kitti"
    summary = json.loads(_cli("data", "import-kitti", "--left", str(EXCERPT / "image_l_kitti"), "--right",
                              str(EXCERPT / "image_r_kitti"), "--calib", str(EXCERPT / "calib_kitti.txt"),
                              "--poses", str(EXCERPT / "poses.txt"), "--out", str(root), "--scene", "excerpt",
                              "--json"))
    assert summary["frames"] == 51 and abs(summary["baseline_m"] - 0.537) < 1e-3  # the README's figures
    assert 55.0 < summary["path_length_m"] < 65.0  # "about 60 m"

    ply = tmp_path / "scene.ply"
    config = ReconstructConfig(dataroot=root, scene="excerpt", out=ply, device="cpu", resolution=0.08, every=3,
                               steps=30, init_points=2000, max_gaussians=4000).resolved()
    result = reconstruct(config)
    metrics = json.loads((config.report / "metrics.json").read_text())
    assert result.resolution == (98, 30)  # 0.08 x 1226x370
    assert metrics["init"] == "stereo"
    held = metrics["heldout"]["frames"]
    # both cameras of every held-out time
    assert len(held) == 4 and len({r["t_us"] for r in held}) == 2
    # better than the flat mean gray of each held-out image (the fit learned the street)
    flat = []
    for r in held:
        img = np.asarray(Image.open(r["file"]).convert("L").resize((98, 30)), np.float32) / 255.0
        flat.append(-10 * np.log10(np.mean((img - img.mean()) ** 2)))
    assert result.heldout_psnr_db > np.mean(flat)
    assert len(list((config.report / "novel").glob("*.png"))) > 0
    assert len(list((config.report / "heldout").glob("*.png"))) == 4

    out = tmp_path / "drive"
    _cli("render", "--dataroot", str(root), "--scene", "excerpt", "--scene-file", str(ply), "--policy", "idm[bias=2]",
         "--width", "64", "--height", "20", "--backend", "cpu", "--steps", "30", "--out", str(out))
    assert (out / "CAM_FRONT.mp4").stat().st_size > 0 and (out / "rig.mp4").stat().st_size > 0
    episode = np.load(out / "episode.npz")
    log = load_scenario(root, "excerpt").ego.xy
    _, lateral, _ = project_to_polyline(episode["ego_xy"], log)
    assert np.max(np.abs(lateral)) > 1.0  # the ego left the logged path
    assert not episode["off_road"].any()

"""Reconstruction end to end: the self-check reaches its PSNR on CPU, a dataroot without images
is refused naming the file, and `splatsim data reconstruct` on a demo dataroot given rendered
camera images writes a scene and actor assets that `GaussianRenderer` loads and draws."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from sim.errors import DatasetError
from tools import reconstruct_commands


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("reconstruct")(reconstruct_commands.reconstruct)
    app.command("reconstruct-selfcheck")(reconstruct_commands.selfcheck)
    return app


def write_camera_images(dataroot: Path, scene: str, channels: list[str], width: int, height: int,
                        version: str = "v1.0-mini") -> int:
    """Render the scene's procedural street and actors (CPU rasterizer, SkyGradient) at every camera
    sample_data of `channels`, from its logged ego pose and calibration, and write the images
    under the records' file names (PNG data, lossless; PIL reads by content). Returns the count."""
    import imageio.v3 as iio

    from render.assets import build_actor_assets, placement_from_state
    from render.backends import SkyGradient, render_rig
    from render.gaussians import activate
    from render.reconstruct.data import camera_records
    from render.renderer import build_scenario_street
    from scenarios.nuscenes import NuScenesSource
    from sim.geometry import invert_pose

    source = NuScenesSource(dataroot, version)
    scenario = source.load_scenario(scene)
    background = activate(build_scenario_street(scenario))
    assets = build_actor_assets(scenario.actors)
    act = scenario.actors
    count = 0
    for record in camera_records(source.nusc, scenario.metadata["scene_token"], channels):
        k = record.K.copy()
        k[0] *= width / record.width_px
        k[1] *= height / record.height_px
        step = int(np.argmin(np.abs(scenario.t_us - record.t_us)))
        placement = placement_from_state(assets, act, act.xy[:, step], act.yaw_rad[:, step], act.valid[:, step], step)
        view = invert_pose(record.pose_ego_to_global @ record.pose_camera_to_ego)
        out = render_rig(background, placement, view[None], k[None], width, height, "cpu", SkyGradient())
        record.path.parent.mkdir(parents=True, exist_ok=True)
        record.path.write_bytes(iio.imwrite("<bytes>", out.rgb_uint8()[0], extension=".png"))
        count += 1
    return count


def test_selfcheck_reconstructs_a_procedural_street_to_25_db(tmp_path) -> None:
    """The CPU self-check: a street crop and a moving car rendered at 64x48 by 3 cameras along
    15 m (48 frames, 6 held out), fitted for 500 steps from map-based points."""
    from render.reconstruct.selfcheck import SelfCheckConfig, run_selfcheck

    start = time.perf_counter()
    metrics = run_selfcheck(tmp_path, SelfCheckConfig())
    seconds = time.perf_counter() - start
    print(f"self-check: held-out PSNR {metrics['heldout']['psnr_mean']:.2f} dB, "
          f"SSIM {metrics['heldout']['ssim_mean']:.3f}, "
          f"novel views {metrics['novel_view_means']}, fit {metrics['fit']['seconds']:.1f} s, total {seconds:.1f} s")
    assert metrics["heldout"]["psnr_mean"] >= 25.0 and metrics["passed"]
    assert metrics["heldout"]["ssim_mean"] >= 0.85
    assert metrics["heldout"]["count"] == 6 and metrics["lpips"] is None
    assert metrics["fit"]["actor_gaussians"][0] > 0
    for row in metrics["side_by_side"] + metrics["novel_views"]:
        assert (tmp_path / row["image"]).is_file()
    assert {"1m", "3m"} <= set(metrics["novel_view_means"])
    for name in ("report.md", "report.html", "metrics.json", "selfcheck.ply", "selfcheck.actors.ply",
                 "selfcheck.actors.json", "selfcheck.sky.json"):
        assert (tmp_path / name).is_file(), name
    assert json.loads((tmp_path / "metrics.json").read_text())["passed"] is True


def test_missing_camera_images_name_the_file(demo_dataroot, tmp_path) -> None:
    from render.reconstruct.data import frames_from_nuscenes
    from scenarios.nuscenes import NuScenesSource

    source = NuScenesSource(demo_dataroot, "v1.0-mini")
    scenario = source.load_scenario("scene-demo-0000")
    with pytest.raises(DatasetError) as err:
        frames_from_nuscenes(source.nusc, "scene-demo-0000", scenario.actors, scenario.t_us, 32, 18, ["CAM_FRONT"])
    message = str(err.value)
    first = min((sd for sd in source.nusc.sample_data if sd["channel"] == "CAM_FRONT"
                 and source.nusc.get("sample", sd["sample_token"])["scene_token"] == scenario.metadata["scene_token"]),
                key=lambda sd: sd["timestamp"])
    assert str(Path(demo_dataroot).resolve() / first["filename"]) in message
    assert "has no camera images" in message
    # the command line reports the same error (the CLI's main turns it into one line and status 2)
    result = CliRunner().invoke(_app(), ["reconstruct", "--dataroot", str(demo_dataroot), "--scene", "scene-demo-0000",
                                         "--out", str(tmp_path / "s.ply"), "--device", "cpu"])
    assert isinstance(result.exception, DatasetError) and "has no camera images" in str(result.exception)
    assert not (tmp_path / "s.ply").exists()


def test_reconstruct_writes_a_scene_that_the_renderer_loads(tmp_path) -> None:
    from evaluation.scene_renderer import build_renderer
    from render.reconstruct.export import actor_assets_path
    from scenarios.demo_town import DEMO_SCENES, build_demo_dataroot
    from scenarios.nuscenes import load_scenario

    dataroot = build_demo_dataroot(tmp_path / "demo", scenes=DEMO_SCENES[:1])
    scene = "scene-demo-0000"
    assert write_camera_images(dataroot, scene, ["CAM_FRONT"], 96, 54) > 10
    out = tmp_path / "recon" / "scene.ply"
    result = CliRunner().invoke(_app(), [
        "reconstruct", "--dataroot", str(dataroot), "--scene", scene, "--out", str(out), "--cameras", "CAM_FRONT",
        "--steps", "30", "--resolution", "48x27", "--device", "cpu", "--every", "2", "--init-points", "3000",
        "--max-gaussians", "6000", "--holdout-every", "4", "--json"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    assert summary["heldout_frames"] >= 2 and np.isfinite(summary["heldout_psnr_db"])
    for path in (out, actor_assets_path(out), actor_assets_path(out).with_suffix(".json"),
                 out.with_name("scene.sky.json"), out.with_name("scene.report") / "metrics.json",
                 out.with_name("scene.report") / "report.html"):
        assert path.is_file(), path
    leftovers = [p.name for p in out.parent.iterdir()
                 if p.name.startswith(".") or p.name.endswith((".tmp", ".ckpt.pt"))]
    assert leftovers == []  # written atomically, checkpoint removed after success
    from render.backends import SkyGradient
    from render.reconstruct.export import load_sky, sky_path

    sky = load_sky(sky_path(out))
    assert isinstance(sky, SkyGradient) and all(0.0 <= v <= 1.0 for v in sky.zenith_rgb + sky.horizon_rgb)
    # the renderer of `splatsim render --scene-file` loads the scene and the reconstructed actors
    scenario = load_scenario(dataroot, scene)
    renderer = build_renderer(scenario, ["CAM_FRONT"], 48, 27, "cpu", scene_ply=out)
    from render.ply import load_ply

    assert renderer.background.num_gaussians == load_ply(out).num_gaussians
    assert [str(t) for t in renderer.assets.instance_tokens] == [str(t) for t in scenario.actors.instance_tokens]
    assert all(a.num_gaussians > 0 for a in renderer.assets.assets)
    from render.rig import ego_pose_at

    ego, act = scenario.ego, scenario.actors
    pose = ego_pose_at(scenario, 5, float(ego.xy[5, 0]), float(ego.xy[5, 1]), float(ego.yaw_rad[5]))
    out_img = renderer.render_output_at(scenario, 5, pose, act.xy[:, 5], act.yaw_rad[:, 5], act.valid[:, 5])
    assert np.isfinite(out_img.rgb).all() and out_img.alpha.mean() > 0.3

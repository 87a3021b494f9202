"""Camera rigs and view matrices, the GaussianRenderer on a scenario, and rig videos."""

from __future__ import annotations

import dataclasses

import imageio.v2 as imageio
import numpy as np
import pytest

from render.renderer import GaussianRenderer
from render.rig import NUSCENES_CAMERA_NAMES, nuscenes_default_rig, viewmats_world_to_camera
from render.video import tile_rig, write_rig_videos
from scenarios.synthetic import ActorSpec, straight_road_scenario
from sim.engine import initial_state, prepare
from sim.geometry import pose_from_xy_yaw
from sim.types.observation import CameraImages


def test_default_rig_points_its_cameras_around_the_ego() -> None:
    rig = nuscenes_default_rig(480, 270)
    assert list(rig.names) == list(NUSCENES_CAMERA_NAMES)
    np.testing.assert_allclose(rig.intrinsics[0, 0, 0], 1266.417 * 480 / 1600, rtol=1e-6)
    forward = rig.pose_camera_to_ego[:, :3, 2]  # optical axes in the ego frame
    yaw = np.degrees(np.arctan2(forward[:, 1], forward[:, 0]))
    np.testing.assert_allclose(yaw, [0.3, -56.4, -110.8, 179.9, 108.6, 55.2], atol=0.5)


def test_view_matrix_projects_a_point_ahead_to_the_principal_point() -> None:
    rig = nuscenes_default_rig(480, 270, ["CAM_FRONT"])
    pose_ego_to_global = pose_from_xy_yaw(100.0, 50.0, np.pi / 2, 2.0)  # heading north
    view = viewmats_world_to_camera(pose_ego_to_global, rig.pose_camera_to_ego)[0]
    camera_in_world = np.linalg.inv(view)[:3, 3]
    np.testing.assert_allclose(camera_in_world, [100.0 - 0.016, 50.0 + 1.70, 2.0 + 1.511], atol=0.01)
    p = view @ np.array([100.0, 50.0 + 1.70 + 30.0, 2.0 + 1.511, 1.0])  # 30 m ahead at camera height
    uv = (rig.intrinsics[0] @ p[:3])[:2] / p[2]
    principal_point = rig.intrinsics[0, :2, 2]
    assert p[2] > 29.0 and np.all(np.abs(uv - principal_point) < 4.0)  # the camera is pitched by 0.3 degrees


def test_renderer_draws_the_rig_and_hides_invalid_actors(tmp_path) -> None:
    scenario = straight_road_scenario(num_steps=10, actors=(ActorSpec(x_m=32.0, lane=0),), road_length_m=120.0)
    renderer = GaussianRenderer.for_scenario(scenario, 96, 54, backend="cpu")
    state = initial_state(prepare(scenario))
    images = renderer.render(scenario, state)
    assert isinstance(images, CameraImages) and list(images.names) == ["CAM_FRONT"]
    assert images.rgb.shape == (1, 54, 96, 3) and images.rgb.dtype == np.uint8
    assert images.depth_m.shape == (1, 54, 96) and images.alpha.min() >= 0 and images.alpha.max() <= 1
    top = images.rgb[0, :5, 40:56].reshape(-1, 3).astype(int)
    assert np.mean(top[:, 2] > top[:, 0] + 20) > 0.8  # blue sky above the street
    assert images.rgb[0, -5:].mean() < 110  # asphalt at the bottom
    # the car 12 m ahead covers the image centre; hidden when invalid
    ys, xs = slice(22, 31), slice(42, 54)  # the car body; the road there is > 20 m away
    assert images.depth_m[0, ys, xs].min() < 15.0
    hidden = type(state.actors)(**{**state.actors.__dict__, "valid": np.zeros_like(state.actors.valid)})
    empty = renderer.render(scenario, type(state)(state.step_index, state.t_us, state.ego, hidden))
    assert empty.depth_m[0, ys, xs].min() > 15.0

    paths = write_rig_videos([images, empty, images], tmp_path / "video", fps=10)
    assert set(paths) == {"CAM_FRONT", "rig"}
    frames = imageio.mimread(paths["CAM_FRONT"])
    assert len(frames) == 3 and frames[0].shape == (54, 96, 3)
    assert not list((tmp_path / "video").glob(".*"))  # temporaries renamed away


def test_camera_by_camera_rendering_equals_the_batch_and_can_be_stopped() -> None:
    scenario = straight_road_scenario(num_steps=10, actors=(ActorSpec(x_m=20.0, lane=0),), road_length_m=120.0)
    rig = nuscenes_default_rig()
    scenario = dataclasses.replace(scenario, cameras=dataclasses.replace(rig, names=rig.names.astype(str)))
    renderer = GaussianRenderer.for_scenario(scenario, 32, 18, backend="cpu")
    state = initial_state(prepare(scenario))
    batch, called = renderer.render(scenario, state), []
    one_by_one = renderer.render(scenario, state, called.append)
    assert called == [0, 1, 2, 3, 4, 5]
    assert np.array_equal(batch.rgb, one_by_one.rgb) and np.array_equal(batch.depth_m, one_by_one.depth_m)

    class Stop(Exception):
        pass

    def stop_at_third(i: int) -> None:
        called.append(i)
        if i == 2:
            raise Stop

    called.clear()
    with pytest.raises(Stop):
        renderer.render(scenario, state, stop_at_third)
    assert called == [0, 1, 2]


def test_tile_rig_uses_the_nuscenes_layout() -> None:
    rgb = np.stack([np.full((4, 6, 3), i, np.uint8) for i in range(6)])
    tiled = tile_rig(rgb, NUSCENES_CAMERA_NAMES)
    assert tiled.shape == (8, 18, 3)
    index = {n: i for i, n in enumerate(NUSCENES_CAMERA_NAMES)}
    assert tiled[0, 6, 0] == index["CAM_FRONT"] and tiled[0, 0, 0] == index["CAM_FRONT_LEFT"]
    assert tiled[4, 6, 0] == index["CAM_BACK"]

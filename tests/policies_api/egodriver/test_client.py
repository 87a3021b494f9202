"""splatsim drives real AlpaSim drivers: carla-driver-interface's `serve --mode alpasim` (unmodified) in its own
process, over TCP and a Unix socket."""

from __future__ import annotations

import ast
import json
import pickle

import numpy as np
import pytest

from evaluation.scenario_refs import load_scenario_from_args
from evaluation.scene_renderer import build_renderer
from policies_api.client import RemoteError
from policies_api.egodriver import EgodriverPolicy
from policies_api.egodriver.config import CameraMap
from sim.engine import EngineConfig, prepare, run_episode
from sim.metrics import episode_metrics
from sim.types.state import EndReason
from tests.conftest import REPO_ROOT

DRIVERS = "tests.policies_api.egodriver.drivers"
W, H = 96, 54


@pytest.fixture(scope="module")
def scene(demo_dataroot):
    return load_scenario_from_args(demo_dataroot, "scene-demo-0000", "v1.0-mini", None)


@pytest.fixture(scope="module")
def front_camera(scene):
    return build_renderer(scene, ["CAM_FRONT"], W, H, "cpu")


def _refuse_unpickling_in_plan(monkeypatch):
    """pickle refuses to load while the adapter handles a step (numba's own cache may load elsewhere)."""
    def refuse(*args, **kwargs):
        raise AssertionError("splatsim unpickled something a driver sent")

    plan = EgodriverPolicy.plan

    def guarded(self, observation):
        with monkeypatch.context() as m:
            for name in ("loads", "load", "Unpickler"):
                m.setattr(pickle, name, refuse)
            return plan(self, observation)

    monkeypatch.setattr(EgodriverPolicy, "plan", guarded)


def test_route_follower_completes_the_route_with_one_camera(scene, front_camera, driver, monkeypatch):
    d = driver("route_follower", "--cruise-speed", "10")
    _refuse_unpickling_in_plan(monkeypatch)  # alpasim mode puts a pickle in every DriveResponse.debug_info
    context = prepare(scene, EngineConfig(start_step=150))
    with EgodriverPolicy(d.address, d.config(), seed=7) as policy:
        episode = run_episode(context, policy, front_camera)
    metrics = episode_metrics(episode)
    assert episode.end_reason == EndReason.ROUTE_COMPLETE
    assert metrics.at_fault_collisions == 0 and not metrics.off_road
    assert metrics.route_completion > 0.95 and metrics.mean_speed_mps > 5.0
    assert "route_follower" in episode.policy_name


def test_the_driver_sees_the_camera_route_and_pose_splatsim_declares(scene, front_camera, driver):
    d = driver(f"{DRIVERS}:Recorder")
    context = prepare(scene, EngineConfig(start_step=100, max_steps=3))
    with EgodriverPolicy(d.address, d.config(ground_truth=True), seed=7) as policy:
        episode = run_episode(context, policy, front_camera)
    assert episode.num_steps == 3
    seen = json.loads(d.record.read_text())
    t0 = int(scene.t_us[100])
    assert (seen["scene"], seen["seed"], seen["time_now_us"], seen["time_query_us"]) == (
        "scene-demo-0000", 7, t0, t0 + 100_000)
    cam = seen["cameras"]["camera_front_wide_120fov"]
    assert (cam["w"], cam["h"], cam["shutter"], cam["image_shape"], cam["frame_end_us"]) == (W, H, 5, [H, W, 3], t0)
    # nuScenes CAM_FRONT (fx 1266.4, cx 816.3 at 1600 px wide) scaled to W
    assert (cam["fx"], cam["cx"]) == pytest.approx((1266.4 * W / 1600, 816.3 * W / 1600), abs=0.01)
    assert cam["xyz"] == pytest.approx([1.7, 0.02, 1.51], abs=1e-5)
    w, x, y, z = cam["wxyz"]  # the optical frame: its z axis (third column of R) is the rig's x (forward)
    assert [2 * (x * z + w * y), 2 * (y * z - w * x), 1 - 2 * (x * x + y * y)] == pytest.approx([1, 0, 0], abs=1e-5)
    assert seen["pose_xyz"] == pytest.approx([*scene.ego.xy[100], 0.0], abs=1e-4)
    assert seen["pose_yaw"] == pytest.approx(float(scene.ego.yaw_rad[100]), abs=1e-5)
    assert seen["speed_mps"] == pytest.approx(float(scene.ego.speed_mps[100]), abs=1e-5)
    route = np.array(seen["route"])
    gaps = np.linalg.norm(np.diff(route[:, :2], axis=0), axis=1)
    assert route.shape == (20, 3) and np.isfinite(route).all() and np.all(route[:, 2] == 0)
    assert np.linalg.norm(route[0]) < 1.0 and np.all(gaps <= 80 / 19 + 1e-3) and np.all(gaps > 3.5)
    assert abs(route[-1, 1]) < 0.5 * route[-1, 0]  # the route lies ahead of the rig (x forward)
    gt = np.array(seen["ground_truth"])  # the logged ego in the rig frame of now: step 100 at the origin
    assert len(gt) == int(scene.ego.valid.sum()) and gt[100, 0] == t0
    assert gt[100, 1:] == pytest.approx([0, 0, 0], abs=1e-4) and gt[110, 1] > 5.0 > abs(gt[110, 2])


def test_a_refused_session_is_reported_as_failed_precondition(scene, front_camera, driver):
    d = driver(f"{DRIVERS}:NeedsFrontCamera")
    cfg = d.config(cameras=(CameraMap("CAM_FRONT", "camera_front_tele_30fov"),))
    context = prepare(scene, EngineConfig(start_step=100, max_steps=2))
    with EgodriverPolicy(d.address, cfg) as policy, pytest.raises(RemoteError) as err:
        run_episode(context, policy, front_camera)
    assert err.value.code.name == "FAILED_PRECONDITION"
    assert "refused the session" in str(err.value) and "needs camera_front_wide_120fov" in str(err.value)
    assert "camera_front_tele_30fov" in str(err.value)


def test_empty_plans_hold_and_terminate_session_ends_the_episode_over_a_unix_socket(scene, driver):
    d = driver(f"{DRIVERS}:HoldsThenStops", unix=True)
    assert d.address.startswith("egodriver+unix:///")
    context = prepare(scene, EngineConfig(start_step=100))
    with EgodriverPolicy(d.address, d.config()) as policy:
        episode = run_episode(context, policy)
    assert episode.end_reason == EndReason.POLICY_TERMINATED == "policy_terminated"
    assert episode.num_steps == 4  # drives 1-4 hold, the fifth ends the session
    assert np.all(np.diff(episode.ego_speed_mps) < 0)  # holding: the tracker brakes


def test_no_module_of_the_adapter_can_unpickle():
    for path in (REPO_ROOT / "policies_api" / "egodriver").glob("*.py"):
        names = {a.name.split(".")[0] for node in ast.walk(ast.parse(path.read_text()))
                 if isinstance(node, (ast.Import, ast.ImportFrom))
                 for a in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])}
        assert not names & {"pickle", "dill", "cloudpickle", "joblib", "marshal", "shelve"}, path

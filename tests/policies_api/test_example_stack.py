"""The example driving stack, in its own process, drives the demo scenario to completion over
gRPC with images from the real Gaussian renderer."""

from __future__ import annotations

import json

import pytest

from examples.lane_follower_stack import LaneFollower
from policies_api.catalog import ScenarioCatalog
from policies_api.client import metrics_equal
from policies_api.renderer_factory import gaussian_renderer_factory
from policies_api.server import ServerConfig, SimulatorServer
from sim.engine import EngineConfig, prepare, run_episode
from sim.metrics import episode_metrics
from tests.policies_api.conftest import run_python

DEMO_SCENE = "scene-demo-0000"


def test_example_stack_drives_the_demo_scene_with_rendered_images(demo_dataroot, tmp_path):
    factory = gaussian_renderer_factory(backend="cpu")
    if factory is None:
        pytest.skip("render.renderer.GaussianRenderer is not available")
    catalog = ScenarioCatalog(dataroots=[(demo_dataroot, "v1.0-mini")])
    with SimulatorServer(catalog, ServerConfig(port=0), factory) as server:
        out = tmp_path / "metrics.json"
        done = run_python(["examples/lane_follower_stack.py", "--target", server.tcp_target, "--scenario", DEMO_SCENE,
                           "--camera", "CAM_FRONT", "--width", "96", "--height", "54", "--json", str(out)],
                          timeout_s=400)
        assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads(out.read_text())
    # The episode runs to its end and the stack follows the route (it watches no traffic, so
    # collisions depend on the demo town's traffic and are not asserted).
    assert metrics["end_reason"] in ("route_complete", "scenario_end") and metrics["route_completion"] > 0.85
    assert not metrics["off_road"] and metrics["steps"] > 50
    assert metrics["stack"]["frames_seen"] == metrics["steps"]
    assert 20.0 < metrics["stack"]["mean_front_brightness"] < 235.0  # a rendered street, not a blank frame
    assert "mean brightness" in done.stderr  # the stack logs what it sees
    local = episode_metrics(run_episode(prepare(catalog.scenario(DEMO_SCENE), EngineConfig(reactive=True)),
                                        LaneFollower())).to_json()
    assert metrics_equal({k: v for k, v in metrics.items() if k != "stack"}, local)

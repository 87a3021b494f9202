"""Fixtures of the gRPC boundary tests: small synthetic scenarios, a deterministic test renderer,
and real servers on loopback TCP and Unix sockets (in tmp dirs)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from policies_api.catalog import ScenarioCatalog
from policies_api.server import ServerConfig, SimulatorServer
from render.rig import rig_for_scenario
from scenarios.synthetic import ActorSpec, straight_road_scenario
from sim.types.observation import CameraImages

REPO_ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


def make_scenarios() -> list:
    """Five small scenarios: an open road, a slow car ahead in the ego's lane (collisions for a
    fast stack), oncoming traffic, a two-lane road with a car alongside, and a parked ego (a log
    with no route to complete)."""
    return [
        straight_road_scenario(num_steps=50, name="road-open"),
        straight_road_scenario(num_steps=60, ego_speed_mps=6.0, name="road-slow-leader",
                               actors=(ActorSpec(x_m=45.0, lane=0, speed_mps=2.0),)),
        straight_road_scenario(num_steps=50, name="road-oncoming",
                               actors=(ActorSpec(x_m=150.0, lane=-1, speed_mps=8.0),
                                       ActorSpec(x_m=90.0, lane=-2, speed_mps=5.0))),
        straight_road_scenario(num_steps=55, ego_speed_mps=9.0, name="road-alongside",
                               actors=(ActorSpec(x_m=25.0, lane=1, speed_mps=9.0),
                                       ActorSpec(x_m=70.0, lane=1, speed_mps=4.0))),
        straight_road_scenario(num_steps=30, ego_speed_mps=0.0, name="road-parked",  # a log that barely moves
                               actors=(ActorSpec(x_m=40.0, lane=-1, speed_mps=6.0),)),
    ]


class FlatRenderer:
    """A deterministic stand-in renderer: each camera's image is one colour that encodes the
    step index and the camera index, depth is 10 m and alpha 1 (tests only; the product uses
    the Gaussian renderer)."""

    def __init__(self, scenario, camera_names, width, height):
        self.rig = rig_for_scenario(scenario, width, height, camera_names)
        self.width, self.height = width, height
        self.closed = False

    def render(self, scenario, state, before_camera=None) -> CameraImages:
        c = self.rig.num_cameras
        rgb = np.empty((c, self.height, self.width, 3), np.uint8)
        for i in range(c):
            if before_camera is not None:
                before_camera(i)
            rgb[i] = ((7 * state.step_index + 40 * i) % 256, 128, 255 - i)
        return CameraImages(self.rig.names.copy(), rgb, np.full((c, self.height, self.width), 10.0, np.float32),
                            np.ones((c, self.height, self.width), np.float32), self.rig.intrinsics.copy(),
                            self.rig.pose_camera_to_ego.copy())

    def close(self) -> None:
        self.closed = True


@pytest.fixture(scope="session")
def scenarios():
    return make_scenarios()


@pytest.fixture(scope="session")
def scenario_dir(scenarios, tmp_path_factory) -> Path:
    """The scenarios as files, for servers started as separate processes."""
    from scenarios.scenario_file import save_scenario

    folder = tmp_path_factory.mktemp("scenario-files")
    for sc in scenarios:
        save_scenario(sc, folder / f"{sc.name}.scenario.npz")
    return folder


@pytest.fixture(scope="session")
def socket_dir():
    """A short tmp dir for Unix sockets (paths are limited to ~100 bytes)."""
    with tempfile.TemporaryDirectory(prefix="ssim-") as d:
        yield Path(d)


@pytest.fixture(scope="module")
def server(scenarios, socket_dir):
    """A simulator server with the test renderer, on loopback TCP and a Unix socket."""
    sock = socket_dir / f"sim-{os.getpid()}-{id(scenarios) % 10000}.sock"
    config = ServerConfig(port=0, unix_socket=str(sock), max_sessions=32, idle_timeout_s=60.0, max_workers=16)
    with SimulatorServer(ScenarioCatalog(scenarios=scenarios), config, FlatRenderer) as srv:
        yield srv


def run_python(code_or_args: list[str], timeout_s: float = 120.0, **kwargs) -> subprocess.CompletedProcess:
    """Run a Python subprocess from the repository root (bounded in time)."""
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    return subprocess.run([PYTHON, *code_or_args], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout_s, **kwargs)


@pytest.fixture(autouse=True)
def no_access_settings_from_the_environment(monkeypatch):
    """Clients read SPLATSIM_TOKEN, SPLATSIM_TLS_* and SPLATSIM_POLICY_*: a developer's own settings
    must not reach the tests' servers."""
    for name in list(os.environ):
        if name.startswith(("SPLATSIM_TOKEN", "SPLATSIM_TLS_", "SPLATSIM_POLICY_")):
            monkeypatch.delenv(name)

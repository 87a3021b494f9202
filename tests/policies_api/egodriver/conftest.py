"""A real AlpaSim driver for the egodriver tests: carla-driver-interface's `serve` (alpasim mode) in its own process."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from policies_api.egodriver.config import EgodriverConfig
from tests.conftest import REPO_ROOT

SERVE = shutil.which("carla-driver-interface", path=str(Path(sys.executable).parent)) or shutil.which(
    "carla-driver-interface")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Driver:
    """A running `carla-driver-interface serve` process; `address` is splatsim's --policy value."""

    def __init__(self, policy: str, tmp: Path, *args: str, unix: bool = False):
        if SERVE is None:
            pytest.skip("carla-driver-interface (a dev dependency) is not installed: pip install -e '.[dev]'")
        self.record = tmp / "record.json"
        if unix:
            sock = tmp / "driver.sock"
            bind, self.address = ["--host", f"unix://{sock}"], f"egodriver+unix://{sock}"
        else:
            port = _free_port()
            bind, self.address = ["--port", str(port)], f"egodriver://127.0.0.1:{port}"
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "EGODRIVER_RECORD": str(self.record)}
        self.log = open(tmp / "driver.log", "w")
        self.proc = subprocess.Popen([SERVE, "serve", "--policy", policy, "--mode", "alpasim", *bind, *args],
                                     cwd=REPO_ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def config(self, **kw) -> EgodriverConfig:
        return EgodriverConfig(connect_timeout_s=30.0, **kw)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture
def driver(tmp_path):
    """driver(policy, *serve_args, unix=False) starts one; all are stopped at the end of the test."""
    started = []

    def start(policy: str, *args: str, unix: bool = False) -> Driver:
        d = Driver(policy, tmp_path, *args, unix=unix)
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop()

"""Fixtures of the demo town tests: the demo dataroot read by the devkit, and its recorded traffic."""

from __future__ import annotations

from pathlib import Path

import pytest
from nuscenes.map_expansion.map_api import NuScenesMap
from nuscenes.nuscenes import NuScenes

from scenarios.demo_town import DEMO_MAP_NAME, DEMO_VERSION, simulate_demo_scenes


@pytest.fixture(scope="module")
def nusc(demo_dataroot: Path) -> NuScenes:
    return NuScenes(version=DEMO_VERSION, dataroot=str(demo_dataroot), verbose=False)


@pytest.fixture(scope="module")
def nmap(demo_dataroot: Path) -> NuScenesMap:
    return NuScenesMap(dataroot=str(demo_dataroot), map_name=DEMO_MAP_NAME)


@pytest.fixture(scope="module")
def recordings():
    """The 10 Hz traffic behind the demo dataroot (seed 0, as conftest builds it)."""
    return simulate_demo_scenes(seed=0)


"""Shared helpers of the nuScenes adapter tests: cached sources of the real logs, a writable broken copy,
hand-made lane graphs."""

from __future__ import annotations

import functools
import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest

from scenarios.nuscenes import NuScenesSource
from sim.types.roadmap import LaneGraph
from sim.types.scenario import EgoLog
from tests.conftest import REAL_DATAROOTS, real_dataroot_params

VERSION = "v1.0-mini"
real_logs = pytest.mark.parametrize("dataroot", real_dataroot_params())


@functools.lru_cache(maxsize=None)
def source_of(dataroot: Path) -> NuScenesSource:
    return NuScenesSource(dataroot, VERSION)


@functools.lru_cache(maxsize=None)
def scenario_of(dataroot: Path):
    source = source_of(dataroot)
    return source.load_scenario(source.scene_names[0])


def only_scene(dataroot: Path) -> str:
    return source_of(dataroot).scene_names[0]


@pytest.fixture
def broken_root(tmp_path) -> Path:
    """A writable copy of the smaller real dataroot, to corrupt."""
    if not REAL_DATAROOTS:
        pytest.skip("real logs not found under ../shared/data/nuscenes-real")
    root = tmp_path / "dataroot"
    shutil.copytree(REAL_DATAROOTS[0], root)
    for path in [root, *root.rglob("*")]:  # the shared data is read-only
        os.chmod(path, os.stat(path).st_mode | stat.S_IWUSR)
    return root


def rewrite_table(root: Path, table: str, edit) -> None:
    path = root / VERSION / f"{table}.json"
    records = json.loads(path.read_text())
    edit(records)
    path.write_text(json.dumps(records))


def lane_graph(lines: list[np.ndarray], successors: list[list[int]], is_connector: list[bool]) -> LaneGraph:
    return LaneGraph(
        tokens=np.array([f"lane-{i}" for i in range(len(lines))]),
        centerline_xy=np.concatenate(lines),
        offsets=np.concatenate([[0], np.cumsum([len(line) for line in lines])]).astype(np.int64),
        width_m=np.full(len(lines), 3.5),
        is_connector=np.array(is_connector),
        successor_offsets=np.concatenate([[0], np.cumsum([len(s) for s in successors])]).astype(np.int64),
        successor_indices=np.array([i for s in successors for i in s], dtype=np.int64),
    )


def ego_along(xy: np.ndarray) -> EgoLog:
    heading = np.diff(xy, axis=0)
    yaw = np.arctan2(heading[:, 1], heading[:, 0])
    yaw = np.append(yaw, yaw[-1])
    n = len(xy)
    return EgoLog(xy=xy, z=np.zeros(n), yaw_rad=yaw, speed_mps=np.full(n, 20.0), valid=np.ones(n, bool))


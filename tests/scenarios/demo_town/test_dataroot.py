"""The demo dataroot: the devkit loads it; the same seed writes the same files; it overwrites only itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from nuscenes.map_expansion.map_api import NuScenesMap
from nuscenes.nuscenes import NuScenes

from scenarios.demo_town import (
    DEMO_MAP_NAME,
    DEMO_SCENES,
    DEMO_VERSION,
    build_demo_dataroot,
    build_town,
    simulate_scene,
)
from sim.errors import DatasetError

TABLES = ("attribute", "calibrated_sensor", "category", "ego_pose", "instance", "log", "map", "sample",
          "sample_annotation", "sample_data", "scene", "sensor", "visibility")


def test_devkit_loads_all_tables_and_maps(demo_dataroot: Path, nusc: NuScenes, nmap: NuScenesMap):
    assert sorted(p.stem for p in (demo_dataroot / DEMO_VERSION).glob("*.json")) == sorted(TABLES)
    for table in TABLES:
        assert len(getattr(nusc, table)) > 0, table
    assert nusc.log[0]["location"] == DEMO_MAP_NAME
    assert (demo_dataroot / nusc.map[0]["filename"]).is_file()
    assert nmap.version == "1.3"
    for layer in ("drivable_area", "road_segment", "road_block", "lane", "lane_connector", "ped_crossing", "walkway",
                  "stop_line", "road_divider", "lane_divider"):
        assert len(getattr(nmap, layer)) > 0, layer
    for name in ("singapore-onenorth", "singapore-hollandvillage", "singapore-queenstown"):
        assert NuScenesMap(dataroot=str(demo_dataroot), map_name=name).lane == []


def _files(root: Path) -> dict[Path, bytes]:
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_files_and_rebuilding_replaces(tmp_path: Path):
    """Two scenes keep it fast; every file kind is written."""
    first = _files(build_demo_dataroot(tmp_path / "a", seed=5, scenes=DEMO_SCENES[:2]))
    (tmp_path / "a" / DEMO_VERSION / "scene.json").write_text("stale")
    again = _files(build_demo_dataroot(tmp_path / "a", seed=5, scenes=DEMO_SCENES[:2]))
    assert first.keys() == again.keys() and len(first) == 13 + 4 + 2  # tables, maps, PNG, marker
    for relative, content in first.items():
        assert again[relative] == content, relative
    assert [p.name for p in tmp_path.iterdir()] == ["a"]  # no staging leftovers


def test_other_seeds_change_the_traffic_not_the_town():
    town = build_town()
    a = simulate_scene(town, DEMO_SCENES[0], seed=(0, 0))
    b = simulate_scene(town, DEMO_SCENES[0], seed=(1, 0))
    assert a.num_agents != b.num_agents or not np.allclose(a.xy_in_global, b.xy_in_global)
    assert a.ego_lane_names == b.ego_lane_names


def test_refuses_to_overwrite_anything_else(tmp_path: Path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match="not a demo dataroot"):
        build_demo_dataroot(foreign)
    assert (foreign / "notes.txt").read_text() == "mine"
    (tmp_path / "file").write_text("x")
    with pytest.raises(DatasetError):
        build_demo_dataroot(tmp_path / "file")

"""Writing the demo dataroot: tables, map expansion and semantic prior, atomically."""

from __future__ import annotations

import functools
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from scenarios.demo_town.conflicts import connector_conflicts
from scenarios.demo_town.nuscenes_map import build_empty_map, build_map_expansion, semantic_prior_png
from scenarios.demo_town.nuscenes_tables import build_tables
from scenarios.demo_town.recording import SceneRecording, simulate_scene
from scenarios.demo_town.scene_spec import SceneSpec
from scenarios.demo_town.scenes import DEMO_SCENES
from scenarios.demo_town.tokens import table_token
from scenarios.demo_town.town import build_town
from sim.errors import DatasetError

DEMO_MAP_NAME = "boston-seaport"
DEMO_VERSION = "v1.0-mini"
OTHER_MAP_NAMES = ("singapore-onenorth", "singapore-hollandvillage", "singapore-queenstown")
MARKER_FILE = "splatsim_demo.json"  # identifies a dataroot this module wrote, so it may replace it
GENERATOR = "scenarios.demo_town"
FORMAT_VERSION = 1


def _table_json(records: list[dict]) -> str:
    """One record per line, like the nuScenes-layout logs in ../shared/data."""
    return "[\n" + ",\n".join(json.dumps(r, separators=(",", ":")) for r in records) + "\n]\n"


def simulate_demo_scenes(seed: int, scenes: Sequence[SceneSpec] = DEMO_SCENES) -> tuple[SceneRecording, ...]:
    """The recorded traffic of the demo scenes at 10 Hz, exactly as build_demo_dataroot writes it
    (read-only arrays)."""
    return _simulate_demo_scenes(int(seed), tuple(scenes))


@functools.lru_cache(maxsize=2)  # building a dataroot and checking its traffic need the same run
def _simulate_demo_scenes(seed: int, scenes: tuple[SceneSpec, ...]) -> tuple[SceneRecording, ...]:
    town = build_town()
    conflicts = connector_conflicts(town)
    # Each scene has its own random stream, so adding a scene does not change the others.
    return tuple(simulate_scene(town, spec, seed=(seed, k), conflicts=conflicts) for k, spec in enumerate(scenes))


def _write_dataroot(root: Path, seed: int, scenes: Sequence[SceneSpec]) -> None:
    town = build_town()
    recordings = simulate_demo_scenes(seed, scenes)
    map_token = table_token("map", DEMO_MAP_NAME, "demo-town")
    map_filename = f"maps/{map_token}.png"
    (root / "maps" / "expansion").mkdir(parents=True)
    (root / map_filename).write_bytes(semantic_prior_png(town.drivable_area, town.canvas_edge_m))
    (root / "maps" / "expansion" / f"{DEMO_MAP_NAME}.json").write_text(
        json.dumps(build_map_expansion(town), separators=(",", ":")))
    for name in OTHER_MAP_NAMES:
        (root / "maps" / "expansion" / f"{name}.json").write_text(json.dumps(build_empty_map(town.canvas_edge_m)))
    tables = build_tables(recordings, seed, map_token, map_filename, DEMO_MAP_NAME)
    (root / DEMO_VERSION).mkdir()
    for name, records in tables.items():
        (root / DEMO_VERSION / f"{name}.json").write_text(_table_json(records))
    (root / MARKER_FILE).write_text(json.dumps(
        {"generator": GENERATOR, "format_version": FORMAT_VERSION, "seed": seed, "version": DEMO_VERSION,
         "map_name": DEMO_MAP_NAME}, indent=1) + "\n")


def _is_demo_dataroot(path: Path) -> bool:
    try:
        return json.loads((path / MARKER_FILE).read_text()).get("generator") == GENERATOR
    except (OSError, ValueError, AttributeError):
        return False


def build_demo_dataroot(out_dir: Path, seed: int = 0, scenes: Sequence[SceneSpec] = DEMO_SCENES) -> Path:
    """Write the demo town as a nuScenes dataroot at out_dir and return out_dir.

    Writes `<out_dir>/v1.0-mini/*.json` (13 tables), `<out_dir>/maps/expansion/boston-seaport.json`
    (plus empty placeholders for the three Singapore map names), the map table's PNG in
    `<out_dir>/maps/` and a marker file. The same seed gives byte-identical files. The dataroot is
    built next to out_dir and renamed into place; a dataroot this function wrote before is replaced.
    scenes: which scenes to record (all of DEMO_SCENES by default).

    Raises DatasetError if out_dir exists and is anything else (a file, or a non-empty directory
    without the marker).
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not (out_dir.is_dir() and (_is_demo_dataroot(out_dir) or not any(out_dir.iterdir()))):
        raise DatasetError(f"{out_dir}: exists and is not a demo dataroot written by splatsim (no {MARKER_FILE}); "
                           f"choose another directory or remove it")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
    retired = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir()
        _write_dataroot(staging, seed, scenes)
        if out_dir.exists():
            out_dir.rename(retired)
        try:
            staging.rename(out_dir)
        except OSError:
            if retired.exists():
                retired.rename(out_dir)
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(retired, ignore_errors=True)
    return out_dir

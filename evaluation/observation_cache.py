"""Rendered observations on disk, one compressed npz per observation (written atomically).

Keyed by the scenario's name and content hash, the step and ego pose, the cameras, image size,
render backend, procedural-street settings and RENDERER_VERSION: scoring a second policy
re-renders nothing, and a warm run never builds a renderer.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from evaluation.settings import RenderSettings
from render import RENDERER_VERSION
from sim.atomic import atomic_path
from sim.geometry import wrap_angle
from sim.types.observation import CameraImages
from sim.types.scenario import Scenario
from sim.types.state import EgoState

CACHE_FORMAT = 1


def scenario_content_hash(scenario: Scenario) -> str:
    """sha256 of everything in a scenario that rendering and scoring read (name, time grid, ego
    log, actor tracks, rig, route, map lanes and drivable area)."""
    import shapely

    h = hashlib.sha256(scenario.name.encode())

    def add(name: str, value) -> None:
        a = np.asarray(value)
        if a.dtype.hasobject:
            a = a.astype(str)
        a = np.ascontiguousarray(a)
        h.update(f"{name}|{a.dtype.str}|{a.shape}".encode())
        h.update(a.tobytes())

    add("t_us", scenario.t_us)
    for group in ("ego", "actors", "cameras", "route"):
        obj = getattr(scenario, group)
        for f in dataclasses.fields(obj):
            add(f"{group}.{f.name}", getattr(obj, f.name))
    for f in dataclasses.fields(scenario.map.lanes):
        add(f"lanes.{f.name}", getattr(scenario.map.lanes, f.name))
    h.update(shapely.to_wkb(scenario.map.drivable_area))
    h.update(repr(dataclasses.asdict(scenario.ego_params)).encode())
    return h.hexdigest()


def slug(text: str) -> str:
    """A file-name-safe form of text (at most 80 characters)."""
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text)[:80] or "x"


@dataclass(frozen=True)
class CacheStats:
    """Counters of an observation cache: hits (disk or memory), misses, renders (renderer
    calls), corrupt (unreadable files that were re-rendered); folder: None without a disk cache."""

    hits: int
    misses: int
    renders: int
    corrupt: int
    folder: str | None

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


class ObservationCache:
    """Rendered observations of one scenario, on disk (npz per observation) and in memory.

    Counters: hits (disk or memory), misses, renders (renderer calls), corrupt (unreadable files
    that were re-rendered)."""

    def __init__(self, root: Path | None, scenario: Scenario, render: RenderSettings, backend: str,
                 street_config: str):
        self.root = Path(root) if root is not None else None
        self.scenario_hash = scenario_content_hash(scenario)
        self.render = render
        self.backend = backend
        self.street_config = street_config
        self.folder = (self.root / slug(RENDERER_VERSION) / f"{slug(scenario.name)}-{self.scenario_hash[:16]}"
                       if self.root is not None else None)
        self.memory: dict[str, CameraImages] = {}
        self.hits = self.misses = self.renders = self.corrupt = 0

    def key(self, step: int, ego: EgoState) -> str:
        spec = {"format": CACHE_FORMAT, "renderer": RENDERER_VERSION, "scenario": self.scenario_hash, "step": int(step),
                "pose": [f"{ego.x_m:.5f}", f"{ego.y_m:.5f}", f"{float(wrap_angle(ego.yaw_rad)):.6f}"],
                "cameras": list(self.render.cameras), "width": self.render.width, "height": self.render.height,
                "backend": self.backend, "street": self.street_config}
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:32]

    def path(self, key: str) -> Path | None:
        return self.folder / f"{key}.npz" if self.folder is not None else None

    def get(self, key: str) -> CameraImages | None:
        if key in self.memory:
            self.hits += 1
            return self.memory[key]
        path = self.path(key)
        if path is not None and path.is_file():
            try:
                with np.load(path, allow_pickle=False) as z:
                    images = CameraImages(names=z["names"], rgb=z["rgb"], depth_m=z["depth_m"].astype(np.float32),
                                          alpha=z["alpha"].astype(np.float32), intrinsics=z["intrinsics"],
                                          pose_camera_to_ego=z["pose_camera_to_ego"])
                self.memory[key] = images
                self.hits += 1
                return images
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
                self.corrupt += 1
        self.misses += 1
        return None

    def put(self, key: str, images: CameraImages) -> None:
        self.memory[key] = images
        path = self.path(key)
        if path is None:
            return
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez_compressed(tmp, names=np.asarray(images.names, dtype=str), rgb=images.rgb,
                                depth_m=images.depth_m.astype(np.float16), alpha=images.alpha.astype(np.float16),
                                intrinsics=images.intrinsics, pose_camera_to_ego=images.pose_camera_to_ego)

    def stats(self) -> CacheStats:
        return CacheStats(self.hits, self.misses, self.renders, self.corrupt,
                          str(self.folder) if self.folder is not None else None)


def default_renderer_factory(render: RenderSettings) -> Callable[[Scenario], object]:
    """Builds the Gaussian renderer of a scenario (procedural street, procedural actor assets)."""

    def build(scenario: Scenario):
        from render.renderer import GaussianRenderer

        return GaussianRenderer.for_scenario(scenario, render.width, render.height, list(render.cameras),
                                             render.backend)

    return build


def street_config_key() -> str:
    """The procedural street's settings, part of every cache key."""
    from render.procedural import StreetSceneConfig

    return repr(StreetSceneConfig())

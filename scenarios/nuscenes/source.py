"""A dataroot as a source of scenarios: `NuScenesSource`, and `list_scenes` / `load_scenario` for one-off use."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from nuscenes.nuscenes import NuScenes

from scenarios.nuscenes.actors import actor_tracks
from scenarios.nuscenes.cameras import camera_rig
from scenarios.nuscenes.config import AdapterConfig
from scenarios.nuscenes.ego import ego_log, ego_poses
from scenarios.nuscenes.maps import RoadMaps
from scenarios.nuscenes.route import build_route
from scenarios.nuscenes.tables import NuScenesTables
from sim.types.scenario import STEP_US, Scenario

SOURCE_NAME = "nuscenes"


@dataclass(frozen=True)
class SceneInfo:
    """A scene of a dataroot, without loading it.

    - name, token, description: the scene record's.
    - duration_s: time from the first to the last ego pose the scenario is built from.
    - num_actors: annotated instances in the scene.
    - map_name: the log's location, i.e. the map file's name.
    - num_ego_poses: ego poses the ego log is built from (LIDAR_TOP sweeps, else keyframes).
    """

    name: str
    token: str
    description: str
    duration_s: float
    num_actors: int
    map_name: str
    num_ego_poses: int


class NuScenesSource:
    """One dataroot's tables and maps, loaded once and shared by every scene loaded from it.

    Construction loads and checks the tables (a DatasetError names what is wrong); maps are
    loaded on first use and cached by name, as are discretised lane centerlines and, for maps
    kept whole, the RoadMap itself.
    """

    def __init__(self, dataroot: str | Path, version: str = "v1.0-mini", config: AdapterConfig | None = None):
        self.dataroot = Path(dataroot).resolve()
        self.version = version
        self.config = config or AdapterConfig()
        self.tables = NuScenesTables(self.dataroot, version)
        self._road_maps = RoadMaps(self.dataroot, self.config, self.tables.table_path("log"))

    @property
    def nusc(self) -> NuScenes:
        """The devkit's tables, for readers of sensor records (camera images, lidar sweeps)."""
        return self.tables.nusc

    @property
    def scene_names(self) -> list[str]:
        return [s["name"] for s in self.tables.scenes]

    def list_scenes(self) -> list[SceneInfo]:
        tables = self.tables
        infos = []
        for scene in tables.scenes:
            t_us, _, _ = ego_poses(tables, scene)
            instances = {tables.record("sample_annotation", a, "sample", s["token"], "anns")["instance_token"]
                         for s in tables.samples(scene) for a in s["anns"]}
            infos.append(SceneInfo(
                name=scene["name"], token=scene["token"], description=scene.get("description", ""),
                duration_s=(int(t_us[-1]) - int(t_us[0])) * 1e-6, num_actors=len(instances),
                map_name=tables.log(scene)["location"], num_ego_poses=len(t_us)))
        return infos

    def load_scenario(self, scene_name: str) -> Scenario:
        tables = self.tables
        scene = tables.scene(scene_name)
        log = tables.log(scene)
        t_pose_us, xyz_pose, q_pose = ego_poses(tables, scene)
        span_us = t_pose_us[-1] - t_pose_us[0] + self.config.timestamp_tolerance_us
        num_steps = int(span_us // STEP_US) + 1
        t_us = t_pose_us[0] + STEP_US * np.arange(num_steps, dtype=np.int64)
        ego = ego_log(t_pose_us, xyz_pose, q_pose, t_us)
        actors = actor_tracks(tables, scene, t_us, self.config)
        road_map = self._road_maps.road_map(log["location"], ego, actors)
        return Scenario(
            name=scene["name"],
            t_us=t_us,
            map=road_map,
            ego=ego,
            actors=actors,
            cameras=camera_rig(tables, scene),
            route=build_route(road_map, ego, self.config.route),
            metadata={
                "source": SOURCE_NAME,
                "dataroot": str(self.dataroot),
                "version": self.version,
                "scene_token": scene["token"],
                "log_token": log["token"],
                "logfile": str(log.get("logfile", "")),
                "location": log["location"],
            },
        )


def list_scenes(dataroot: str | Path, version: str = "v1.0-mini") -> list[SceneInfo]:
    """The scenes of a nuScenes-layout dataroot."""
    return NuScenesSource(dataroot, version).list_scenes()


def load_scenario(dataroot: str | Path, scene_name: str, version: str = "v1.0-mini",
                  config: AdapterConfig | None = None) -> Scenario:
    """One scene as a Scenario. Loading many scenes? Use one NuScenesSource for all of them."""
    return NuScenesSource(dataroot, version, config).load_scenario(scene_name)

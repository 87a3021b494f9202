"""nuScenes-layout datasets -> `sim.types.scenario.Scenario`, on nuscenes-devkit 1.2.

A dataroot holds `<dataroot>/<version>/*.json` tables and `<dataroot>/maps/expansion/<map>.json`
vector maps (and the `map` table's PNG masks, which `NuScenes()` insists on). Sensor files may be
absent: only tables and maps are read.

What a scenario is made of:
- the time grid: 10 Hz (`sim.types.scenario.STEP_US`) from the scene's first to its last ego pose;
- the ego log: every LIDAR_TOP ego pose of the scene (sweeps and keyframes, about 10 Hz), or the
  keyframes' poses (2 Hz) when the scene has no LIDAR_TOP, interpolated onto the grid;
- actor tracks: each instance's 2 Hz annotations interpolated onto the grid, valid only inside
  its annotated span;
- the map around the scene as a `RoadMap` (lanes and lane connectors in one `LaneGraph`);
- the camera rig from the CAM_* calibrations;
- the route: the lanes the ego drove, and a NAVSIM-style driving command at each step.

Interpolation everywhere is linear in position and shortest-arc in yaw.

Modules: `tables` (loading the tables; every record is read through `NuScenesTables`), `checks`
(every value checked before use: finite, sizes > 0, quaternions normalisable, timestamps increasing,
links), `ego`,
`actors`, `maps`, `route`, `commands`, `cameras`, `interpolation`, `config`, and `source`
(`NuScenesSource`, which composes them).
"""

from scenarios.nuscenes.config import AdapterConfig, DrivingCommandConfig, RouteConfig
from scenarios.nuscenes.source import NuScenesSource, SceneInfo, list_scenes, load_scenario

__all__ = ["AdapterConfig", "DrivingCommandConfig", "NuScenesSource", "RouteConfig", "SceneInfo", "list_scenes",
           "load_scenario"]

"""The embedded demo dataset: a small synthetic town with recorded traffic, written in the exact
nuScenes on-disk layout so that everything runs without downloading nuScenes.

`build_demo_dataroot(out_dir, seed)` writes a dataroot that the unmodified nuscenes-devkit loads
with `NuScenes(version="v1.0-mini", dataroot=...)` and
`NuScenesMap(dataroot=..., map_name="boston-seaport")`.

The map is called "boston-seaport" only because the devkit accepts nothing but its four map
names; Boston drives on the right, like the demo town. The town itself (see `town`) is fixed: a
four-lane avenue with a signal-free four-way intersection, a 1+1-lane cross street whose north
arm runs into an 80 m radius curve, crossings and sidewalks. The seed varies the traffic (see
`traffic`) recorded in the eight 20 s scenes (see `scenes`).
"""

from scenarios.demo_town.dataroot import DEMO_MAP_NAME, DEMO_VERSION, build_demo_dataroot, simulate_demo_scenes
from scenarios.demo_town.recording import SceneRecording, simulate_scene
from scenarios.demo_town.scene_spec import SceneSpec
from scenarios.demo_town.scenes import DEMO_SCENES
from scenarios.demo_town.town import DemoTown, build_town

__all__ = ["DEMO_MAP_NAME", "DEMO_SCENES", "DEMO_VERSION", "DemoTown", "SceneRecording", "SceneSpec",
           "build_demo_dataroot", "build_town", "simulate_demo_scenes", "simulate_scene"]

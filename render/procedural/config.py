"""The procedural street's settings and palette."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ASPHALT = np.array([0.25, 0.25, 0.26])
SIDEWALK = np.array([0.60, 0.59, 0.56])
KERB = np.array([0.72, 0.72, 0.70])
GRASS = np.array([0.28, 0.42, 0.17])
WHITE = np.array([0.92, 0.92, 0.90])
YELLOW = np.array([0.90, 0.72, 0.10])
FACADES = np.array([
    [0.58, 0.30, 0.22], [0.78, 0.72, 0.60], [0.62, 0.62, 0.60], [0.86, 0.85, 0.80], [0.42, 0.33, 0.27],
    [0.70, 0.55, 0.42], [0.52, 0.56, 0.60], [0.80, 0.78, 0.70],
])
GLASS = np.array([0.16, 0.20, 0.25])


@dataclass(frozen=True)
class StreetSceneConfig:
    """Knobs of the procedural street. Lengths in metres.

    - seed: random stream of every placement and colour.
    - density: multiplies every Gaussian count (all spacings are divided by sqrt(density),
      tree crowns get density times as many Gaussians).
    - road_spacing_m: ground Gaussian spacing on asphalt and sidewalks.
    - grass_spacing_m: ground Gaussian spacing on grass.
    - marking_spacing_m: spacing along lane lines and within zebra stripes.
    - facade_spacing_m: spacing on building fronts (side walls use twice this).
    - ground_margin_m: ground is modelled out to this distance from the drivable area.
    - sidewalk_width_m, kerb_height_m: the band of raised sidewalk around the drivable area.
    - building_setback_m: gap between the sidewalk and building fronts.
    - building_frontage_m, building_depth_m, building_height_m: (min, max) of each building.
    - tree_spacing_m, lamp_spacing_m: spacing of trees and lamp posts along sidewalks (0: none).
    - traffic_lights: put a traffic light at each stop line.
    - scenario_radius_m: a scene built for a scenario covers this distance around the ego's
      logged path (what its cameras can see), not the whole map.
    """

    seed: int = 0
    density: float = 1.0
    road_spacing_m: float = 0.47
    grass_spacing_m: float = 1.3
    marking_spacing_m: float = 0.15
    facade_spacing_m: float = 0.5
    ground_margin_m: float = 45.0
    sidewalk_width_m: float = 3.5
    kerb_height_m: float = 0.12
    building_setback_m: float = 0.5
    building_frontage_m: tuple[float, float] = (10.0, 24.0)
    building_depth_m: tuple[float, float] = (10.0, 16.0)
    building_height_m: tuple[float, float] = (7.0, 22.0)
    tree_spacing_m: float = 13.0
    lamp_spacing_m: float = 30.0
    traffic_lights: bool = True
    scenario_radius_m: float = 150.0

    def spacing(self, base_m: float) -> float:
        return base_m / float(np.sqrt(self.density))

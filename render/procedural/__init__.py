"""A procedural Gaussian street scene from a RoadMap, so that every scenario renders without
captured images; and a small synthetic map (a straight road with a crossroads) for benchmarks.

What is built, in the map's global frame (x east, y north, z up, metres):
- ground: asphalt on the drivable area; raised sidewalks (the map's walkways plus a band
  around the drivable area) with kerbs (a vertical face and a light top edge); grass beyond,
  coarser, out to `ground_margin_m` from the road.
- markings: lane borders (solid white at the road edge, dashed white between lanes of the same
  direction, double solid yellow between opposite directions), stop lines at lane ends that
  enter an intersection, zebra stripes on pedestrian crossings.
- buildings along the streets: facades with windows by floor, a shop-front ground floor, a
  cornice; plain side walls. Back walls and roofs are left out (not visible from the road).
- street furniture: trees and lamp posts along the sidewalks, traffic lights at stop lines.
- the sky is not made of Gaussians: `render.backends.SkyGradient` is composited under the
  splats by the renderer.

Ground heights come from a `GroundHeight` (inverse-distance weighting of sampled heights, e.g.
the ego log's z) or are 0. Everything is seeded and deterministic: the same map, config and
seed give a bit-identical scene. About 200k Gaussians for a 300 m town at density 1.

Modules: `config` (settings, palette), `ground`, `markings`, `buildings`, `furniture`, `maps` (regions,
clipping, the synthetic crossroads) and `scene`, which composes them.
"""

from render.procedural.config import StreetSceneConfig
from render.procedural.ground import GroundHeight
from render.procedural.maps import region_around, synthetic_road_map
from render.procedural.scene import build_street_scene, street_scene_with_count

__all__ = ["GroundHeight", "StreetSceneConfig", "build_street_scene", "region_around", "street_scene_with_count",
           "synthetic_road_map"]

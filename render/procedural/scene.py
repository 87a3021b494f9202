"""The street scene of a map: ground, markings, kerbs, buildings and furniture, in that order."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import shapely
from shapely.geometry import LineString, Polygon

from render import primitives as prim
from render.gaussians import GaussianScene
from render.procedural.buildings import buildings
from render.procedural.config import ASPHALT, GRASS, SIDEWALK, WHITE, StreetSceneConfig
from render.procedural.furniture import furniture
from render.procedural.ground import Edges, GroundHeight, flat_ground, grid_in, kerbs, noise, rings
from render.procedural.maps import clip_map
from render.procedural.markings import lane_markings, zebra_crossings
from sim.types.roadmap import RoadMap


def build_street_scene(road_map: RoadMap, config: StreetSceneConfig = StreetSceneConfig(),
                       ground_height: GroundHeight | None = None, region: Polygon | None = None) -> GaussianScene:
    """The procedural street of a map (see the module docstring); deterministic per config.seed.

    region: build only what lies in it (the map is clipped to it, widened by the ground
    margin so that its edge creates no kerbs or buildings in view, and Gaussians outside it
    are dropped); None builds the whole map.
    """
    cfg = config
    if region is not None:
        road_map = clip_map(road_map, region.buffer(cfg.ground_margin_m))
    scene = _build(road_map, cfg, ground_height)
    if region is None:
        return scene
    shapely.prepare(region)
    return scene.subset(shapely.contains_xy(region, scene.means[:, 0], scene.means[:, 1]))


def _build(road_map: RoadMap, cfg: StreetSceneConfig, ground_height: GroundHeight | None) -> GaussianScene:
    z_of = ground_height if ground_height is not None else GroundHeight()
    rng = np.random.default_rng(cfg.seed)
    drivable = road_map.drivable_area
    if drivable.is_empty and road_map.lanes.num_lanes:
        drivable = shapely.union_all([LineString(road_map.lanes.centerline(i)).buffer(0.5 * road_map.lanes.width_m[i])
                                      for i in range(road_map.lanes.num_lanes)])
    walkways = shapely.union_all(list(road_map.walkways)) if road_map.walkways else Polygon()
    road_spacing = cfg.spacing(cfg.road_spacing_m)
    grass_spacing = cfg.spacing(cfg.grass_spacing_m)
    sidewalks = drivable.buffer(cfg.sidewalk_width_m, join_style="round").union(walkways)
    fine_zone = sidewalks.buffer(grass_spacing)
    for geometry in (drivable, sidewalks):  # point queries below run against them by the 100k
        shapely.prepare(geometry)
    builder = prim.GaussianBuilder()
    # markings first: the ground discs beside them are shaped around them
    edges = Edges()
    for ring in rings(drivable) + rings(sidewalks):
        edges.add_polyline(ring)
    marks = prim.GaussianBuilder()
    stops = lane_markings(marks, road_map, drivable, z_of, cfg, edges)
    stripes = zebra_crossings(marks, road_map, z_of, cfg, edges)
    # ground: asphalt, raised sidewalks and a fine grass fringe, then coarse grass
    pts = grid_in(fine_zone, road_spacing, rng)
    on_road = shapely.contains_xy(drivable, pts[:, 0], pts[:, 1])
    on_walk = ~on_road & shapely.contains_xy(sidewalks, pts[:, 0], pts[:, 1])
    z = z_of(pts)
    shade = 1.0 + 0.08 * noise(rng, pts, 20.0)[:, None] + rng.normal(0, 0.025, (len(pts), 1))
    colors = np.where(on_road[:, None], ASPHALT, np.where(on_walk[:, None], SIDEWALK, GRASS)) * shade
    if stripes:
        zebra = shapely.union_all(stripes)
        shapely.prepare(zebra)
        colors[shapely.contains_xy(zebra, pts[:, 0], pts[:, 1])] = WHITE
    flat_ground(builder, pts, z + np.where(on_road, 0.0, cfg.kerb_height_m), road_spacing, colors, edges)
    ground = drivable.buffer(cfg.ground_margin_m)
    grass = grid_in(ground, grass_spacing, rng, exclude=fine_zone.buffer(-0.5 * grass_spacing))
    tint = 1.0 + 0.15 * noise(rng, grass, 12.0)[:, None] + rng.normal(0, 0.06, (len(grass), 1))
    flat_ground(builder, grass, z_of(grass) + cfg.kerb_height_m, grass_spacing, GRASS * tint)
    kerbs(builder, drivable, z_of, cfg)
    builder.extend(marks)
    footprints = buildings(builder, drivable, road_map.walkways, z_of, rng, cfg)
    furniture(builder, drivable, road_map.ped_crossings, footprints, stops, z_of, rng, cfg)
    return builder.build()


def street_scene_with_count(road_map: RoadMap, target_gaussians: int, config: StreetSceneConfig = StreetSceneConfig(),
                            ground_height: GroundHeight | None = None, region: Polygon | None = None) -> GaussianScene:
    """A street scene whose density is tuned to about target_gaussians (within 3 %, or the
    closest of six builds): secant steps on log(count) against log(density), as furniture and
    kerbs do not scale with the density the way the ground and facades do."""
    cfg = config
    scene = build_street_scene(road_map, cfg, ground_height, region)
    tried = [(np.log(cfg.density), np.log(max(scene.num_gaussians, 1)), scene)]
    for _ in range(5):
        log_d, log_n, _ = tried[-1]
        if abs(log_n - np.log(target_gaussians)) < 0.03:
            break
        slope = 1.0
        if len(tried) > 1 and abs(tried[-1][0] - tried[-2][0]) > 1e-9:
            slope = float(np.clip((tried[-1][1] - tried[-2][1]) / (tried[-1][0] - tried[-2][0]), 0.2, 2.0))
        cfg = replace(cfg, density=float(np.exp(log_d + (np.log(target_gaussians) - log_n) / slope)))
        scene = build_street_scene(road_map, cfg, ground_height, region)
        tried.append((np.log(cfg.density), np.log(max(scene.num_gaussians, 1)), scene))
    return min(tried, key=lambda t: abs(t[1] - np.log(target_gaussians)))[2]

"""The procedural street: deterministic, in the right places, clipped to a region."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import box

from render.procedural import StreetSceneConfig, build_street_scene, region_around, synthetic_road_map
from render.procedural.config import WHITE, YELLOW
from render.procedural.maps import lane_graph
from sim.types.roadmap import RoadMap
from tests.render.conftest import colors_of


def small_map() -> RoadMap:
    """A 60 m two-way road (one lane each way) with a crossing, by hand."""
    east = np.stack([np.linspace(0, 60, 13), np.full(13, -1.75)], 1)
    west = np.stack([np.linspace(60, 0, 13), np.full(13, 1.75)], 1)
    lanes = lane_graph([("east", east, 3.5, False), ("west", west, 3.5, False)], [[], []])
    return RoadMap("hand-made", box(0, -3.5, 60, 3.5), lanes, ped_crossings=(box(30, -3.5, 33, 3.5),))


def test_street_is_deterministic_per_seed() -> None:
    cfg = StreetSceneConfig(seed=3, tree_spacing_m=10.0)
    a = build_street_scene(small_map(), cfg)
    b = build_street_scene(small_map(), cfg)
    for name in ("means", "quats_wxyz", "log_scales", "opacity_logits", "sh"):
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), name
    c = build_street_scene(small_map(), StreetSceneConfig(seed=4, tree_spacing_m=10.0))
    assert c.num_gaussians != a.num_gaussians or c.means.tobytes() != a.means.tobytes()


def test_street_has_asphalt_markings_sidewalks_and_buildings_where_they_belong() -> None:
    scene = build_street_scene(small_map(), StreetSceneConfig(seed=0))
    rgb = colors_of(scene)
    xy, z = scene.means[:, :2], scene.means[:, 2]
    road = shapely.contains_xy(box(0, -3.5, 60, 3.5), xy[:, 0], xy[:, 1])
    flat = z < 0.05
    # yellow centre line near y = 0, white edge lines near |y| = 3.2, zebra stripes on the crossing
    yellow = np.all(np.abs(rgb - YELLOW) < 0.05, axis=1)
    assert yellow.sum() > 100 and np.all(np.abs(xy[yellow, 1]) < 0.3)
    white = np.all(np.abs(rgb - WHITE) < 0.05, axis=1) & flat & road
    assert np.any(np.abs(np.abs(xy[white, 1]) - 3.2) < 0.1)
    assert np.any((xy[white, 0] > 30) & (xy[white, 0] < 33) & (np.abs(xy[white, 1]) < 1.0))
    # asphalt is dark and at road level; sidewalks are raised by the kerb height beside it
    dark = np.all(rgb < 0.35, axis=1) & road & flat
    assert dark.sum() > 1000
    beside = (np.abs(xy[:, 1]) > 4.0) & (np.abs(xy[:, 1]) < 6.5) & (scene.means[:, 2] < 0.2)
    np.testing.assert_allclose(np.median(z[beside]), 0.12, atol=0.01)
    # buildings: tall Gaussians beyond the sidewalks; above the road only lamp arms and tree crowns
    tall = z > 3.0
    assert tall.sum() > 1000
    along = (xy[:, 0] > 0) & (xy[:, 0] < 60)  # beyond the dead ends, buildings close the street
    assert not np.any(tall & along & (np.abs(xy[:, 1]) < 1.5))


def test_region_keeps_only_what_is_near_the_path() -> None:
    road_map = synthetic_road_map()
    region = region_around(np.array([[-100.0, -5.0], [-60.0, -5.0]]), 40.0)
    scene = build_street_scene(road_map, StreetSceneConfig(), region=region)
    assert scene.num_gaussians > 10_000
    assert shapely.contains_xy(region.buffer(1e-6), scene.means[:, 0], scene.means[:, 1]).all()

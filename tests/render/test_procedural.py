"""The procedural street and actor assets: deterministic, in the right places, recognisable parts."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import box

from render.assets import asset_for_actor, build_actor_assets, load_actor_assets, save_actor_assets
from render.primitives import GaussianBuilder
from render.procedural import (
    WHITE,
    YELLOW,
    StreetSceneConfig,
    _lane_graph,
    build_street_scene,
    region_around,
    synthetic_road_map,
)
from sim.types.roadmap import RoadMap
from sim.types.scenario import ActorKind


def small_map() -> RoadMap:
    """A 60 m two-way road (one lane each way) with a crossing, by hand."""
    east = np.stack([np.linspace(0, 60, 13), np.full(13, -1.75)], 1)
    west = np.stack([np.linspace(60, 0, 13), np.full(13, 1.75)], 1)
    lanes = _lane_graph([("east", east, 3.5, False), ("west", west, 3.5, False)], [[], []])
    return RoadMap("hand-made", box(0, -3.5, 60, 3.5), lanes, ped_crossings=(box(30, -3.5, 33, 3.5),))


def colors_of(scene) -> np.ndarray:
    return scene.sh[:, 0] * 0.28209479177387814 + 0.5


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


def test_synthetic_map_has_a_crossroads_and_the_scene_about_200k_gaussians() -> None:
    road_map = synthetic_road_map()
    assert road_map.is_drivable(np.array([[0.0, 100.0], [100.0, 0.0], [0.0, -100.0], [-100.0, 0.0]])).all()
    assert road_map.lanes.is_connector.sum() == 2 * (2 + 2) + 2 * (1 + 2)  # straight per lane, a left and a right turn per approach
    assert len(road_map.ped_crossings) == 4
    scene = build_street_scene(road_map, StreetSceneConfig())
    assert 150_000 < scene.num_gaussians < 300_000


def test_region_keeps_only_what_is_near_the_path() -> None:
    road_map = synthetic_road_map()
    region = region_around(np.array([[-100.0, -5.0], [-60.0, -5.0]]), 40.0)
    scene = build_street_scene(road_map, StreetSceneConfig(), region=region)
    assert scene.num_gaussians > 10_000
    assert shapely.contains_xy(region.buffer(1e-6), scene.means[:, 0], scene.means[:, 1]).all()


def test_actor_assets_fill_their_boxes_and_round_trip(tmp_path) -> None:
    rng = np.random.default_rng(0)
    for kind, category, size in ((ActorKind.VEHICLE, "vehicle.car", (1.9, 4.6, 1.6)),
                                 (ActorKind.VEHICLE, "vehicle.truck", (2.5, 8.0, 3.2)),
                                 (ActorKind.VEHICLE, "vehicle.bus.rigid", (2.6, 11.0, 3.3)),
                                 (ActorKind.PEDESTRIAN, "human.pedestrian.adult", (0.6, 0.7, 1.75)),
                                 (ActorKind.CYCLIST, "vehicle.bicycle", (0.7, 1.8, 1.7)),
                                 (ActorKind.STATIC, "movable_object.trafficcone", (0.4, 0.4, 0.8)),
                                 (ActorKind.STATIC, "movable_object.barrier", (0.5, 2.0, 1.0))):
        asset = asset_for_actor(kind, category, np.array(size), rng)
        w, l, h = size
        lo, hi = asset.means.min(axis=0), asset.means.max(axis=0)
        assert asset.num_gaussians > 200, category
        assert np.all(lo > -np.array([l, w, h]) / 2 - 0.1) and np.all(hi < np.array([l, w, h]) / 2 + 0.1), category
        assert hi[2] - lo[2] > 0.7 * h, category  # fills the box
        if kind in (ActorKind.VEHICLE, ActorKind.CYCLIST, ActorKind.STATIC):
            assert hi[0] - lo[0] > 0.6 * min(l, 1.8), category
    car = asset_for_actor(ActorKind.VEHICLE, "vehicle.car", np.array((1.9, 4.6, 1.6)), np.random.default_rng(1))
    rgb = colors_of(car)
    tyres = np.all(rgb < 0.08, axis=1) & (car.means[:, 2] < -0.3)
    assert tyres.sum() > 50  # dark wheels at the bottom
    assert np.any((rgb[:, 0] > 0.8) & (rgb[:, 1] < 0.1) & (car.means[:, 0] < -2.2))  # red tail lights at the back

    from sim.types.scenario import ActorTracks

    n = 3
    tracks = ActorTracks(np.array(["a", "b", "c"]), np.array(["vehicle.car", "human.pedestrian.adult", "vehicle.truck"]),
                         np.array([0, 1, 0], np.int8), np.array([[1.9, 4.6, 1.6], [0.6, 0.7, 1.8], [2.5, 8.0, 3.0]]),
                         np.zeros((n, 2, 2)), np.zeros((n, 2)), np.zeros((n, 2)), np.zeros((n, 2, 2)), np.ones((n, 2), bool))
    assets = build_actor_assets(tracks, seed=5)
    save_actor_assets(tmp_path / "actors.ply", assets)
    back = load_actor_assets(tmp_path / "actors.ply")
    assert list(back.instance_tokens) == ["a", "b", "c"] and list(back.kind) == [0, 1, 0]
    for x, y in zip(assets.assets, back.assets):
        assert x.means.tobytes() == y.means.tobytes() and x.sh.tobytes() == y.sh.tobytes()


def test_builder_keeps_colours_and_opacities() -> None:
    b = GaussianBuilder()
    b.add(np.zeros((2, 3)), np.eye(3), (0.1, 0.2, 0.3), (0.25, 0.5, 0.75), 0.9)
    scene = b.build()
    np.testing.assert_allclose(colors_of(scene), [[0.25, 0.5, 0.75]] * 2, atol=1e-6)
    np.testing.assert_allclose(scene.opacities, 0.9, atol=1e-6)
    np.testing.assert_allclose(scene.scales, [[0.1, 0.2, 0.3]] * 2, rtol=1e-6)

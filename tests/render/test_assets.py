"""Actor assets: they fill their boxes, have recognisable parts and round-trip through PLY."""

from __future__ import annotations

import numpy as np

from render.assets import asset_for_actor, build_actor_assets, load_actor_assets, save_actor_assets
from sim.types.scenario import ActorKind
from tests.render.conftest import colors_of


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
        width_m, length_m, height_m = size
        lo, hi = asset.means.min(axis=0), asset.means.max(axis=0)
        assert asset.num_gaussians > 200, category
        half_lwh = np.array([length_m, width_m, height_m]) / 2
        assert np.all(lo > -half_lwh - 0.1) and np.all(hi < half_lwh + 0.1), category
        assert hi[2] - lo[2] > 0.7 * height_m, category  # fills the box
        if kind in (ActorKind.VEHICLE, ActorKind.CYCLIST, ActorKind.STATIC):
            assert hi[0] - lo[0] > 0.6 * min(length_m, 1.8), category
    car = asset_for_actor(ActorKind.VEHICLE, "vehicle.car", np.array((1.9, 4.6, 1.6)), np.random.default_rng(1))
    rgb = colors_of(car)
    tyres = np.all(rgb < 0.08, axis=1) & (car.means[:, 2] < -0.3)
    assert tyres.sum() > 50  # dark wheels at the bottom
    assert np.any((rgb[:, 0] > 0.8) & (rgb[:, 1] < 0.1) & (car.means[:, 0] < -2.2))  # red tail lights at the back

    from sim.types.scenario import ActorTracks

    n = 3
    tracks = ActorTracks(np.array(["a", "b", "c"]),
                         np.array(["vehicle.car", "human.pedestrian.adult", "vehicle.truck"]),
                         np.array([0, 1, 0], np.int8), np.array([[1.9, 4.6, 1.6], [0.6, 0.7, 1.8], [2.5, 8.0, 3.0]]),
                         np.zeros((n, 2, 2)), np.zeros((n, 2)), np.zeros((n, 2)), np.zeros((n, 2, 2)),
                         np.ones((n, 2), bool))
    assets = build_actor_assets(tracks, seed=5)
    save_actor_assets(tmp_path / "actors.ply", assets)
    back = load_actor_assets(tmp_path / "actors.ply")
    assert list(back.instance_tokens) == ["a", "b", "c"] and list(back.kind) == [0, 1, 0]
    for x, y in zip(assets.assets, back.assets):
        assert x.means.tobytes() == y.means.tobytes() and x.sh.tobytes() == y.sh.tobytes()

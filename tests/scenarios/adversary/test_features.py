"""The adversary's features and constant-velocity futures."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import shapely.affinity
import torch

from scenarios.adversary.features import actor_features, constant_velocity_futures
from scenarios.synthetic import ActorSpec, straight_road_scenario


def test_features_are_invariant_to_the_global_frame():
    # A road length that is no multiple of the 2 m chunk spacing: resampling is then robust to
    # the rounding of rotated coordinates.
    sc = straight_road_scenario(num_steps=60, road_length_m=401.3, actors=(
        ActorSpec(x_m=10.0, lane=0, speed_mps=8.0), ActorSpec(x_m=60.0, lane=-1, speed_mps=6.0)))
    a = sc.actors

    def feats(shift, yaw):
        c, s = math.cos(yaw), math.sin(yaw)
        def rot(p):
            return p @ np.array([[c, s], [-s, c]]) + shift
        area = shapely.affinity.affine_transform(sc.map.drivable_area, [c, -s, s, c, shift[0], shift[1]])
        lanes = dataclasses.replace(sc.map.lanes, centerline_xy=rot(sc.map.lanes.centerline_xy))
        road = dataclasses.replace(sc.map, drivable_area=area, lanes=lanes)
        k = 10
        return actor_features(road, rot(a.xy[0, k]), a.yaw_rad[0, k] + yaw, rot(a.xy[0, k - 9:k + 1]),
                              a.yaw_rad[0, k - 9:k + 1] + yaw, np.ones(10, bool), 8.0, (4.6, 1.9),
                              rot(sc.ego.xy[k]), yaw, 10.0, rot(a.xy[1:, k]), a.yaw_rad[1:, k] + yaw,
                              a.velocity_xy_mps[1:, k] @ np.array([[c, s], [-s, c]]), np.array([[4.6, 1.9]]),
                              rot(sc.ego.xy[k + 1:k + 41]), rot(a.xy[1:, k + 1:k + 41]), a.valid[1:, k + 1:k + 41])

    f0, f1 = feats(np.zeros(2), 0.0), feats(np.array([-500.0, 1234.5]), 2.3)
    for key in ("hist", "scalars", "neigh"):
        np.testing.assert_allclose(f0[key], f1[key], atol=2e-4, err_msg=key)
    np.testing.assert_allclose(f0["road"], f1["road"], atol=0.1)  # a 0.25 m raster, rotated
    # Lane chunks at equal distances may come in another order; the encoder pools over them.
    def canon(lanes):
        return np.array(sorted(map(tuple, np.round(lanes.reshape(len(lanes), -1), 3))))
    np.testing.assert_allclose(canon(f0["lanes"]), canon(f1["lanes"]), atol=2e-3)
    assert f0["neigh"][0, -2] == 1.0  # slot 0 is the ego


def test_constant_velocity_futures_match_a_constant_speed_log():
    # Actors at constant speed along a straight lane: their logged futures are the forecast.
    sc = straight_road_scenario(num_steps=60, actors=(ActorSpec(x_m=10.0, lane=0, speed_mps=8.0),
                                                      ActorSpec(x_m=40.0, lane=-1, speed_mps=6.0)))
    a, k = sc.actors, 10
    f = actor_features(sc.map, a.xy[0, k], a.yaw_rad[0, k], a.xy[0, k - 9:k + 1], a.yaw_rad[0, k - 9:k + 1],
                       np.ones(10, bool), 8.0, (4.6, 1.9), sc.ego.xy[k] + 200.0, 0.0, 10.0, a.xy[1:, k],
                       a.yaw_rad[1:, k], a.velocity_xy_mps[1:, k], np.array([[4.6, 1.9]]),
                       sc.ego.xy[k + 1:k + 41] + 200.0, a.xy[1:, k + 1:k + 41], a.valid[1:, k + 1:k + 41])
    logged = torch.from_numpy(f["neigh"])
    assert logged[0, -1] == 0.0 and logged[1, -1] == 1.0  # the ego is out of range; one neighbour
    np.testing.assert_allclose(constant_velocity_futures(logged).numpy(), logged.numpy(), atol=1e-5)

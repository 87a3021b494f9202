"""The synthetic crossroads map and its street scene."""

from __future__ import annotations

import numpy as np

from render.procedural import StreetSceneConfig, build_street_scene, synthetic_road_map


def test_synthetic_map_has_a_crossroads_and_the_scene_about_200k_gaussians() -> None:
    road_map = synthetic_road_map()
    assert road_map.is_drivable(np.array([[0.0, 100.0], [100.0, 0.0], [0.0, -100.0], [-100.0, 0.0]])).all()
    # straight per lane, a left and a right turn per approach
    assert road_map.lanes.is_connector.sum() == 2 * (2 + 2) + 2 * (1 + 2)
    assert len(road_map.ped_crossings) == 4
    scene = build_street_scene(road_map, StreetSceneConfig())
    assert 150_000 < scene.num_gaussians < 300_000

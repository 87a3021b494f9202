"""Actor tracks: annotated spans, categories, yaw interpolation in a dataset."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scenarios.nuscenes import AdapterConfig, load_scenario
from scenarios.nuscenes.actors import actor_kind, annotated_span_mask
from sim.errors import DatasetError
from sim.geometry import quaternion_from_yaw
from sim.types.scenario import STEP_US, ActorKind
from tests.conftest import REAL_DATAROOTS
from tests.scenarios.nuscenes.conftest import VERSION, only_scene, real_logs, rewrite_table, scenario_of, source_of


@real_logs
def test_actors_are_valid_only_within_their_annotated_span(dataroot):
    scenario = scenario_of(dataroot)
    nusc = source_of(dataroot).nusc
    actors = scenario.actors
    tolerance_us = AdapterConfig().timestamp_tolerance_us
    assert actors.num_actors > 100
    for i, token in enumerate(actors.instance_tokens):
        anns = [a for a in nusc.sample_annotation if a["instance_token"] == token]
        t_ann = np.array(sorted(nusc.get("sample", a["sample_token"])["timestamp"] for a in anns))
        t_valid = scenario.t_us[actors.valid[i]]
        assert t_valid.min() >= t_ann[0] - tolerance_us
        assert t_valid.max() <= t_ann[-1] + tolerance_us
        # No gaps in these logs (keyframes 0.5 s apart): every grid step inside the span is valid.
        inside = (scenario.t_us >= t_ann[0]) & (scenario.t_us <= t_ann[-1])
        assert actors.valid[i, inside].all()
        category = nusc.get("category", nusc.get("instance", token)["category_token"])["name"]
        assert actors.category[i] == category
        assert actors.kind[i] == actor_kind(category)
        assert np.allclose(actors.size_wlh_m[i], np.median([a["size"] for a in anns], axis=0))
    assert np.isfinite(actors.xy).all() and np.isfinite(actors.velocity_xy_mps).all()
    assert not actors.velocity_xy_mps[~actors.valid].any()
    # At a keyframe on the grid, an actor is where its annotation puts it.
    first = nusc.get("sample_annotation", nusc.sample[0]["anns"][0])
    row = list(actors.instance_tokens).index(first["instance_token"])
    assert np.allclose(actors.xy[row, 0], first["translation"][:2], atol=0.01)
    assert actors.kind.dtype == np.int8 and actors.size_wlh_m.shape == (actors.num_actors, 3)


def test_annotated_span_mask_splits_gaps():
    grid = np.arange(0, 5_000_001, STEP_US, dtype=np.int64)
    t_ann = np.array([1_000_000, 1_500_000, 4_000_000], dtype=np.int64)  # 2.5 s gap
    valid = annotated_span_mask(t_ann, grid, max_gap_us=1_500_000, tolerance_us=2_000)
    assert np.array_equal(np.flatnonzero(valid), [10, 11, 12, 13, 14, 15, 40])


@pytest.mark.parametrize("category, kind", [
    ("vehicle.car", ActorKind.VEHICLE), ("vehicle.bus.rigid", ActorKind.VEHICLE),
    ("vehicle.bicycle", ActorKind.CYCLIST), ("vehicle.motorcycle", ActorKind.CYCLIST),
    ("human.pedestrian.adult", ActorKind.PEDESTRIAN), ("animal", ActorKind.PEDESTRIAN),
    ("movable_object.barrier", ActorKind.STATIC), ("static_object.bicycle_rack", ActorKind.STATIC),
])
def test_actor_kind_of_categories(category, kind):
    assert actor_kind(category) == kind


def test_actor_kind_rejects_unknown_category():
    with pytest.raises(DatasetError, match="flying.saucer"):
        actor_kind("flying.saucer")


def test_yaw_across_pi_in_a_dataset_is_interpolated_the_short_way(broken_root):
    """An actor annotated at +179 deg and -179 deg in turn never swings through 0 on the grid."""
    target = {}

    def edit(records):
        instance = records[0]["instance_token"]
        target["instance"] = instance
        for k, record in enumerate(r for r in records if r["instance_token"] == instance):
            yaw = math.radians(179.0 if k % 2 == 0 else -179.0)
            record["rotation"] = quaternion_from_yaw(yaw).tolist()

    rewrite_table(broken_root, "sample_annotation", edit)
    scenario = load_scenario(broken_root, only_scene(REAL_DATAROOTS[0]), VERSION)
    row = list(scenario.actors.instance_tokens).index(target["instance"])
    yaw = scenario.actors.yaw_rad[row, scenario.actors.valid[row]]
    assert len(yaw) > 10
    assert np.all(np.abs(yaw) >= math.radians(179.0) - 1e-6)

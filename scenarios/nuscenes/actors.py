"""Actor tracks: each instance's 2 Hz annotations interpolated onto the grid, valid only inside
its annotated span."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from scenarios.nuscenes.config import AdapterConfig
from scenarios.nuscenes.interpolation import finite_difference_velocity, interpolate_track
from scenarios.nuscenes.tables import NuScenesTables
from sim.errors import DatasetError
from sim.geometry import yaw_from_quaternion
from sim.types.scenario import DT_S, ActorKind, ActorTracks


def actor_kind(category: str) -> ActorKind:
    """The ActorKind of a nuScenes category name; a DatasetError for names outside the taxonomy."""
    if category in ("vehicle.bicycle", "vehicle.motorcycle"):
        return ActorKind.CYCLIST
    if category.startswith("vehicle."):
        return ActorKind.VEHICLE
    if category.startswith("human.") or category.split(".")[0] == "animal":
        return ActorKind.PEDESTRIAN
    if category.startswith(("movable_object.", "static_object.")):
        return ActorKind.STATIC
    raise DatasetError(f"category {category!r} is not in the nuScenes taxonomy (vehicle.*, human.*, animal, "
                       "movable_object.*, static_object.*): rename it in category.json to a nuScenes category")


def annotated_span_mask(t_ann_us: np.ndarray, t_grid_us: np.ndarray, max_gap_us: int, tolerance_us: int) -> np.ndarray:
    """(T,) bool: grid times inside an actor's annotated span, not inside a gap > max_gap_us.

    t_ann_us: (A,) increasing annotation times. Grid times within tolerance_us of an annotation
    count as annotated.
    """
    t_ann = np.asarray(t_ann_us, np.int64)
    nearest = np.abs(t_grid_us[:, None] - t_ann[None, :]).min(axis=1)
    near_annotation = nearest <= tolerance_us
    inside = (t_grid_us >= t_ann[0]) & (t_grid_us <= t_ann[-1])
    if len(t_ann) > 1:
        before = np.clip(np.searchsorted(t_ann, t_grid_us, side="right") - 1, 0, len(t_ann) - 2)
        inside &= np.diff(t_ann)[before] <= max_gap_us
    return inside | near_annotation


def actor_tracks(tables: NuScenesTables, scene: dict, t_us: np.ndarray, config: AdapterConfig) -> ActorTracks:
    """Every instance annotated in the scene, on the grid t_us (T,), in order of first annotation;
    instances annotated only between two grid steps are left out."""
    annotations: dict[str, list[tuple[int, dict]]] = defaultdict(list)  # first-seen order
    for sample in tables.samples(scene):
        for token in sample["anns"]:
            ann = tables.record("sample_annotation", token, "sample", sample["token"], "anns")
            annotations[ann["instance_token"]].append((sample["timestamp"], ann))
    max_gap_us = int(round(config.max_annotation_gap_s * 1e6))
    tokens, categories, sizes, xyzs, yaws, valids = [], [], [], [], [], []
    for instance_token, anns in annotations.items():
        anns.sort(key=lambda item: item[0])
        t_ann = np.array([t for t, _ in anns], dtype=np.int64)
        t_ann, first = np.unique(t_ann, return_index=True)
        records = [anns[i][1] for i in first]
        valid = annotated_span_mask(t_ann, t_us, max_gap_us, config.timestamp_tolerance_us)
        if not valid.any():  # annotated only between two grid steps: nothing to replay
            continue
        xyz = np.array([r["translation"] for r in records], dtype=np.float64)
        yaw = yaw_from_quaternion(np.array([r["rotation"] for r in records], dtype=np.float64))
        xyz_grid, yaw_grid = interpolate_track(t_ann, xyz, yaw, t_us)
        instance = tables.record("instance", instance_token, "sample_annotation", records[0]["token"],
                                 "instance_token")
        category = tables.record("category", instance["category_token"], "instance", instance_token,
                                 "category_token")["name"]
        tokens.append(instance_token)
        categories.append(category)
        # Box sizes are constant per instance in nuScenes; the median absorbs per-frame jitter
        # of converted datasets.
        sizes.append(np.median(np.array([r["size"] for r in records], dtype=np.float64), axis=0))
        xyzs.append(xyz_grid)
        yaws.append(yaw_grid)
        valids.append(valid)
    num_steps = len(t_us)
    xyz = np.array(xyzs, dtype=np.float64).reshape(len(tokens), num_steps, 3)
    valid = np.array(valids, dtype=bool).reshape(len(tokens), num_steps)
    return ActorTracks(
        instance_tokens=np.array(tokens, dtype=str),
        category=np.array(categories, dtype=str),
        kind=np.array([actor_kind(c) for c in categories], dtype=np.int8),
        size_wlh_m=np.array(sizes, dtype=np.float64).reshape(len(tokens), 3),
        xy=xyz[..., :2].copy(),
        z=xyz[..., 2].copy(),
        yaw_rad=np.array(yaws, dtype=np.float64).reshape(len(tokens), num_steps),
        velocity_xy_mps=finite_difference_velocity(xyz[..., :2], valid, DT_S),
        valid=valid,
    )

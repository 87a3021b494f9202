"""The 13 nuScenes tables of the demo dataset, built from the recorded scenes.

Layout as in nuScenes v1.0: per scene, LIDAR_TOP sample_data at 10 Hz, each with its own
ego_pose (keyframes every 0.5 s flagged is_key_frame, sweeps in between pointing to the following
sample); samples at 2 Hz; six cameras with sample_data at the keyframes only, at the keyframe's
timestamp and sharing its ego_pose; sample_annotation at keyframes only. Sensor files are not
written. One log holds all scenes; one calibrated_sensor per sensor.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from scenarios.demo_town.recording import SceneRecording
from scenarios.demo_town.tokens import table_token
from sim.geometry import quaternion_from_rotation_matrix, quaternion_from_yaw
from sim.types.scenario import ActorKind, EgoParams

KEYFRAME_EVERY_STEPS = 5  # 10 Hz sweeps, 2 Hz samples
FIRST_SCENE_START_US = 1_533_124_800_000_000  # 2018-08-01 12:00 UTC, when nuScenes Boston was driven
SCENE_START_SPACING_US = 60_000_000  # scenes start a minute apart on the log's clock
IMAGE_WIDTH_PX, IMAGE_HEIGHT_PX = 1600, 900
LIDAR_CHANNEL = "LIDAR_TOP"
# The lidar sits above the rear half of the roof, x to the right of the car as on nuScenes' rig.
LIDAR_TRANSLATION_M = (0.94, 0.0, 1.84)
LIDAR_YAW_RAD = -math.pi / 2
LIDAR_POINTS_AT_1M_PER_M2 = 20_000.0  # num_lidar_pts ~ this * width * height / range^2
# nuScenes' visibility levels, chosen here by range: nearer objects are less often occluded.
VISIBILITY_BY_RANGE_M = ((25.0, "4"), (40.0, "3"), (60.0, "2"), (math.inf, "1"))


@dataclass(frozen=True)
class CameraSpec:
    """A camera of the rig, modelled on nuScenes' (values rounded from its calibration).

    - channel: nuScenes channel name; yaw_deg: optical axis direction on the ego, left positive.
    - translation_m: camera centre in the ego frame; focal_px; principal_point_px for 1600 x 900.
    """

    channel: str
    yaw_deg: float
    translation_m: tuple[float, float, float]
    focal_px: float
    principal_point_px: tuple[float, float]

    def rotation_camera_to_ego(self) -> np.ndarray:
        """3x3: OpenCV camera axes (x right, y down, z forward) expressed in the ego frame."""
        forward_camera = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
        c, s = math.cos(math.radians(self.yaw_deg)), math.sin(math.radians(self.yaw_deg))
        yaw = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        return yaw @ forward_camera

    def intrinsics(self) -> np.ndarray:
        cx, cy = self.principal_point_px
        return np.array([[self.focal_px, 0.0, cx], [0.0, self.focal_px, cy], [0.0, 0.0, 1.0]])


CAMERAS: tuple[CameraSpec, ...] = (
    CameraSpec("CAM_FRONT", 0.0, (1.70, 0.02, 1.51), 1266.4, (816.3, 491.5)),
    CameraSpec("CAM_FRONT_RIGHT", -55.0, (1.55, -0.49, 1.50), 1260.8, (808.0, 495.3)),
    CameraSpec("CAM_BACK_RIGHT", -110.0, (1.01, -0.48, 1.56), 1256.7, (792.1, 492.8)),
    CameraSpec("CAM_BACK", 180.0, (0.03, 0.00, 1.58), 809.2, (829.2, 481.8)),
    CameraSpec("CAM_BACK_LEFT", 110.0, (1.04, 0.48, 1.59), 1256.7, (817.8, 452.0)),
    CameraSpec("CAM_FRONT_LEFT", 55.0, (1.52, 0.49, 1.51), 1272.6, (826.6, 479.8)),
)

CATEGORIES = (  # name, nuScenes-lidarseg index, description
    ("human.pedestrian.adult", 2, "Adult subcategory."),
    ("vehicle.bus.rigid", 16, "Rigid bus subcategory."),
    ("vehicle.car", 17, "Vehicle designed primarily for personal use, e.g. sedans, hatch-backs, wagons, vans, "
                        "mini-vans, SUVs and jeeps."),
    ("vehicle.truck", 23, "Vehicles primarily designed to haul cargo including pick-ups, lorries, trucks and "
                          "semi-tractors."),
)
ATTRIBUTES = (
    ("vehicle.moving", "Vehicle is moving."),
    ("vehicle.stopped", "Vehicle, with a driver/rider in/on it, is currently stationary but has an intent to move."),
    ("vehicle.parked", "Vehicle is stationary (usually for longer duration) with no immediate intent to move."),
    ("cycle.with_rider", "There is a rider on the bicycle or motorcycle."),
    ("cycle.without_rider", "There is NO rider on the bicycle or motorcycle."),
    ("pedestrian.sitting_lying_down", "The human is sitting or lying down."),
    ("pedestrian.standing", "The human is standing."),
    ("pedestrian.moving", "The human is moving."),
)
VISIBILITY = (
    ("1", "v0-40", "visibility of whole object is between 0 and 40%"),
    ("2", "v40-60", "visibility of whole object is between 40 and 60%"),
    ("3", "v60-80", "visibility of whole object is between 60 and 80%"),
    ("4", "v80-100", "visibility of whole object is between 80 and 100%"),
)
MOVING_SPEED_MPS = {ActorKind.VEHICLE: 0.5, ActorKind.PEDESTRIAN: 0.2}


def _floats(values: np.ndarray, decimals: int) -> list[float]:
    """Plain Python floats, rounded so the JSON is short and byte-stable."""
    return [round(float(v), decimals) + 0.0 for v in np.asarray(values).ravel()]  # + 0.0 drops -0.0


def _scene_description(recording: SceneRecording, annotated: np.ndarray) -> str:
    names = {"vehicle.car": ("car", "cars"), "vehicle.truck": ("truck", "trucks"),
             "vehicle.bus.rigid": ("bus", "buses"), "human.pedestrian.adult": ("pedestrian", "pedestrians")}
    counts = []
    for category, (one, many) in names.items():
        count = int(np.sum(recording.category[annotated] == category))
        if count:
            counts.append(f"{count} {one if count == 1 else many}")
    return f"{recording.spec.description} Annotated: {', '.join(counts)}."


def build_tables(recordings: Sequence[SceneRecording], seed: int, map_token: str, map_filename: str,
                 map_name: str) -> dict[str, list[dict]]:
    """All 13 tables, keyed by table name, records in a fixed order."""
    def tok(*parts: object) -> str:
        return table_token("splatsim-demo", seed, *parts)

    sensors, calibrated = [], []
    channels = [(LIDAR_CHANNEL, "lidar")] + [(cam.channel, "camera") for cam in CAMERAS]
    for channel, modality in channels:
        sensors.append({"token": table_token("sensor", channel), "channel": channel, "modality": modality})
    calibrated.append({
        "token": tok("calibrated_sensor", LIDAR_CHANNEL), "sensor_token": table_token("sensor", LIDAR_CHANNEL),
        "translation": list(LIDAR_TRANSLATION_M), "rotation": _floats(quaternion_from_yaw(LIDAR_YAW_RAD), 8),
        "camera_intrinsic": []})
    for cam in CAMERAS:
        calibrated.append({
            "token": tok("calibrated_sensor", cam.channel), "sensor_token": table_token("sensor", cam.channel),
            "translation": list(cam.translation_m),
            "rotation": _floats(quaternion_from_rotation_matrix(cam.rotation_camera_to_ego()), 8),
            "camera_intrinsic": [_floats(row, 4) for row in cam.intrinsics()]})
    category_token = {name: table_token("category", name) for name, _, _ in CATEGORIES}
    attribute_token = {name: table_token("attribute", name) for name, _ in ATTRIBUTES}
    log_token = tok("log")
    logfile = f"splatsim-demo-town-seed{seed}"
    tables: dict[str, list[dict]] = {
        "category": [{"token": category_token[n], "name": n, "description": d, "index": i} for n, i, d in CATEGORIES],
        "attribute": [{"token": attribute_token[n], "name": n, "description": d} for n, d in ATTRIBUTES],
        "visibility": [{"token": t, "level": lvl, "description": d} for t, lvl, d in VISIBILITY],
        "sensor": sensors,
        "calibrated_sensor": calibrated,
        "log": [{"token": log_token, "logfile": logfile, "vehicle": "splatsim-demo-ego", "date_captured": "2018-08-01",
                 "location": map_name}],
        "map": [{"token": map_token, "log_tokens": [log_token], "category": "semantic_prior",
                 "filename": map_filename}],
        "scene": [], "sample": [], "sample_data": [], "ego_pose": [], "instance": [], "sample_annotation": [],
    }
    for k, recording in enumerate(recordings):
        _add_scene(tables, recording, k, tok, log_token, logfile, category_token, attribute_token)
    return tables


def _add_scene(tables: dict[str, list[dict]], rec: SceneRecording, k: int, tok: Callable[..., str],
               log_token: str, logfile: str, category_token: dict[str, str], attribute_token: dict[str, str]) -> None:
    num_steps = len(rec.t_from_start_us)
    t_us = FIRST_SCENE_START_US + k * SCENE_START_SPACING_US + rec.t_from_start_us
    keyframe_steps = np.arange(0, num_steps, KEYFRAME_EVERY_STEPS)
    num_samples = len(keyframe_steps)
    scene_token = tok("scene", k)
    sample_tokens = [tok("sample", k, i) for i in range(num_samples)]

    # Ego: the recording holds the box centre; nuScenes' ego pose is the rear axle on the ground.
    ego = EgoParams()
    ego_yaw = rec.yaw_rad[0]
    ego_xy = rec.xy_in_global[0] - ego.rear_axle_to_center_m * np.stack([np.cos(ego_yaw), np.sin(ego_yaw)], -1)
    pose_tokens = [tok("ego_pose", k, m) for m in range(num_steps)]
    for m in range(num_steps):
        tables["ego_pose"].append({"token": pose_tokens[m], "timestamp": int(t_us[m]),
                                   "rotation": _floats(quaternion_from_yaw(ego_yaw[m]), 8),
                                   "translation": _floats([ego_xy[m, 0], ego_xy[m, 1], 0.0], 4)})

    for i in range(num_samples):
        tables["sample"].append({"token": sample_tokens[i], "timestamp": int(t_us[keyframe_steps[i]]),
                                 "scene_token": scene_token, "prev": sample_tokens[i - 1] if i else "",
                                 "next": sample_tokens[i + 1] if i + 1 < num_samples else ""})

    lidar_tokens = [tok("sample_data", k, LIDAR_CHANNEL, m) for m in range(num_steps)]
    for m in range(num_steps):
        key = m % KEYFRAME_EVERY_STEPS == 0
        folder = "samples" if key else "sweeps"
        tables["sample_data"].append({
            "token": lidar_tokens[m], "sample_token": sample_tokens[-(-m // KEYFRAME_EVERY_STEPS)],
            "ego_pose_token": pose_tokens[m], "calibrated_sensor_token": tok("calibrated_sensor", LIDAR_CHANNEL),
            "filename": f"{folder}/{LIDAR_CHANNEL}/{logfile}__{LIDAR_CHANNEL}__{int(t_us[m])}.pcd.bin",
            "fileformat": "pcd", "width": 0, "height": 0, "timestamp": int(t_us[m]), "is_key_frame": key,
            "prev": lidar_tokens[m - 1] if m else "", "next": lidar_tokens[m + 1] if m + 1 < num_steps else ""})
    for cam in CAMERAS:
        cam_tokens = [tok("sample_data", k, cam.channel, i) for i in range(num_samples)]
        for i, m in enumerate(keyframe_steps):
            tables["sample_data"].append({
                "token": cam_tokens[i], "sample_token": sample_tokens[i], "ego_pose_token": pose_tokens[m],
                "calibrated_sensor_token": tok("calibrated_sensor", cam.channel),
                "filename": f"samples/{cam.channel}/{logfile}__{cam.channel}__{int(t_us[m])}.jpg",
                "fileformat": "jpg", "width": IMAGE_WIDTH_PX, "height": IMAGE_HEIGHT_PX, "timestamp": int(t_us[m]),
                "is_key_frame": True, "prev": cam_tokens[i - 1] if i else "",
                "next": cam_tokens[i + 1] if i + 1 < num_samples else ""})

    annotated = np.zeros(rec.num_agents, bool)
    for a in range(1, rec.num_agents):  # agent 0 is the ego, which nuScenes does not annotate
        steps = keyframe_steps[rec.valid[a, keyframe_steps]]
        if not len(steps):
            continue
        annotated[a] = True
        kind = ActorKind(rec.kind[a])
        instance_token = tok("instance", k, a)
        ann_tokens = [tok("sample_annotation", k, a, int(m)) for m in steps]
        width, length, height = rec.size_wlh_m[a]
        for j, m in enumerate(steps):
            range_m = float(np.linalg.norm(rec.xy_in_global[a, m] - rec.xy_in_global[0, m]))
            moving = rec.speed_mps[a, m] > MOVING_SPEED_MPS[kind]
            if kind == ActorKind.PEDESTRIAN:
                attribute = "pedestrian.moving" if moving else "pedestrian.standing"
            else:
                attribute = "vehicle.moving" if moving else "vehicle.stopped"
            tables["sample_annotation"].append({
                "token": ann_tokens[j], "sample_token": sample_tokens[m // KEYFRAME_EVERY_STEPS],
                "instance_token": instance_token,
                "visibility_token": next(v for limit, v in VISIBILITY_BY_RANGE_M if range_m < limit),
                "attribute_tokens": [attribute_token[attribute]],
                "translation": _floats([*rec.xy_in_global[a, m], 0.5 * height], 4),
                "size": _floats(rec.size_wlh_m[a], 4),
                "rotation": _floats(quaternion_from_yaw(rec.yaw_rad[a, m]), 8),
                "prev": ann_tokens[j - 1] if j else "", "next": ann_tokens[j + 1] if j + 1 < len(steps) else "",
                "num_lidar_pts": int(np.clip(LIDAR_POINTS_AT_1M_PER_M2 * width * height / max(range_m, 3.0) ** 2,
                                             1, 50_000)),
                "num_radar_pts": 0})
        tables["instance"].append({"token": instance_token, "category_token": category_token[str(rec.category[a])],
                                   "nbr_annotations": len(steps), "first_annotation_token": ann_tokens[0],
                                   "last_annotation_token": ann_tokens[-1]})

    tables["scene"].append({"token": scene_token, "log_token": log_token, "nbr_samples": num_samples,
                            "first_sample_token": sample_tokens[0], "last_sample_token": sample_tokens[-1],
                            "name": rec.spec.name, "description": _scene_description(rec, annotated)})

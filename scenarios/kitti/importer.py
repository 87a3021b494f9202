"""A KITTI odometry drive as a nuScenes-layout dataroot (`splatsim data import-kitti`).

Writes one scene (version v1.0-mini) that nuscenes-devkit loads and `scenarios.nuscenes` reads:
- two cameras: CAM_FRONT (KITTI cam0, left) and CAM_FRONT_STEREO_RIGHT (cam1), intrinsics from
  P0 and P1, cam1 at P1's baseline to the right (see `convert` for the axes);
- one sample per frame (10 Hz keyframes: the adapter's ego log then follows every logged pose;
  KITTI has no lidar channel to carry 10 Hz sweeps), each with both camera images under
  samples/ and one ego pose;
- no annotations (no actors); a map expansion with one lane and a drivable corridor along the
  path (`convert.draw_map`), named "boston-seaport" because the devkit loads only its four
  map names (KITTI drives on the right, as Boston does), and its semantic-prior PNG.
Images are hard-linked where the file system allows, else copied; nothing else is read from
them but their size.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from scenarios.demo_town.nuscenes_map import MapGeometry, build_empty_map, semantic_prior_png
from scenarios.demo_town.tokens import map_token, table_token
from scenarios.kitti import convert
from scenarios.kitti.files import check_frame_numbers, list_images, read_calibration, read_poses, read_times
from sim.errors import DatasetError
from sim.geometry import quaternion_from_rotation_matrix

VERSION = "v1.0-mini"
MAP_NAME = "boston-seaport"
LEFT_CHANNEL, RIGHT_CHANNEL = "CAM_FRONT", "CAM_FRONT_STEREO_RIGHT"
KITTI_CAMERA_HEIGHT_M = 1.65
FRAME_PERIOD_US = 100_000  # KITTI records at 10 Hz
START_US = 1_317_384_000_000_000  # 2011-09-30 12:00 UTC, when KITTI's odometry drives were recorded
MARKER_FILE = "splatsim_kitti.json"
STRAIGHT_ARC_RADIUS_M = 999.999


@dataclass(frozen=True)
class KittiImport:
    """What to import: the two image folders, calibration, poses and optional times files; the
    dataroot to write and the scene's name; camera height above the road and the map's sizes."""

    left: Path
    right: Path
    calib: Path
    poses: Path
    out: Path
    times: Path | None = None
    scene: str = "kitti-drive"
    camera_height_m: float = KITTI_CAMERA_HEIGHT_M
    map: convert.MapConfig = convert.MapConfig()


@dataclass(frozen=True)
class ImportSummary:
    dataroot: str
    scene: str
    frames: int
    duration_s: float
    path_length_m: float
    image_size: tuple[int, int]
    baseline_m: float


def _image_size(paths: list[Path], folder: Path) -> tuple[int, int]:
    sizes = set()
    for p in paths:
        try:
            with Image.open(p) as im:
                sizes.add(im.size)
        except OSError as exc:
            raise DatasetError(f"{p}: cannot read the image ({exc}): restore the file") from None
        if len(sizes) > 1:
            raise DatasetError(f"{p}: is {sorted(sizes)[-1]} pixels, other images of {folder} are "
                               f"{sorted(sizes)[0]}: a camera's images must share one size")
    return sizes.pop()


def _check_counts(job: KittiImport, counts: dict[Path, int]) -> None:
    n = counts[job.poses]
    for path, count in counts.items():
        if count != n:
            raise DatasetError(f"{path}: holds {count} frames but {job.poses} holds {n} poses: every frame needs a "
                               "left image, a right image, a pose (and a time): pass files of the same sequence")


def _place(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _map_expansion(drawn: convert.DrawnMap) -> dict:
    """The map-expansion JSON (version 1.3) of the drawn lane and corridor."""
    geo = MapGeometry()
    layers = build_empty_map(drawn.canvas_edge_m)
    drivable_polygon, _ = geo.add_polygon("drivable_area", drawn.drivable)
    layers["drivable_area"].append({"token": map_token("kitti", "drivable_area"), "polygon_tokens": [drivable_polygon]})
    lane_token = map_token("kitti", "lane")
    lane_polygon, _ = geo.add_polygon("lane", drawn.lane)
    line = drawn.centerline_xy
    cap = lambda i, d: line[i][None] + np.array([[-d[1], d[0]], [d[1], -d[0]]]) * 1.75  # noqa: E731
    d0, d1 = line[1] - line[0], line[-1] - line[-2]
    layers["lane"].append({
        "token": lane_token, "polygon_token": lane_polygon, "lane_type": "CAR",
        "from_edge_line_token": geo.add_line("lane/from", cap(0, d0 / np.linalg.norm(d0))),
        "to_edge_line_token": geo.add_line("lane/to", cap(-1, d1 / np.linalg.norm(d1))),
        "left_lane_divider_segments": [], "right_lane_divider_segments": []})
    pieces = []
    for a, b in zip(line[:-1], line[1:]):
        yaw = float(np.arctan2(b[1] - a[1], b[0] - a[0]))
        pieces.append({"start_pose": [round(float(a[0]), 4), round(float(a[1]), 4), round(yaw, 9)],
                       "end_pose": [round(float(b[0]), 4), round(float(b[1]), 4), round(yaw, 9)],
                       "shape": "LSR", "radius": STRAIGHT_ARC_RADIUS_M,
                       "segment_length": [0.0, round(float(np.linalg.norm(b - a)), 6), 0.0]})
    layers.update(node=geo.node, line=geo.line, polygon=geo.polygon, arcline_path_3={lane_token: pieces},
                  connectivity={lane_token: {"incoming": [], "outgoing": []}})
    return layers


def _tables(job: KittiImport, t_us: np.ndarray, pose_ego: np.ndarray, cameras: list[tuple[str, np.ndarray, np.ndarray,
            list[Path], tuple[int, int]]], map_token_: str, map_filename: str) -> dict[str, list[dict]]:
    tok = lambda *parts: table_token("splatsim-kitti", job.scene, *parts)  # noqa: E731
    floats = lambda a, d: [round(float(v), d) + 0.0 for v in np.ravel(a)]  # noqa: E731
    log_token, scene_token = tok("log"), tok("scene")
    n = len(t_us)
    samples = [tok("sample", i) for i in range(n)]
    poses = [tok("ego_pose", i) for i in range(n)]
    tables: dict[str, list[dict]] = {name: [] for name in (
        "category", "attribute", "visibility", "instance", "sample_annotation", "sensor", "calibrated_sensor")}
    tables["log"] = [{"token": log_token, "logfile": f"kitti-{job.scene}", "vehicle": "kitti",
                      "date_captured": "2011-09-30", "location": MAP_NAME}]
    tables["map"] = [{"token": map_token_, "log_tokens": [log_token], "category": "semantic_prior",
                      "filename": map_filename}]
    tables["scene"] = [{"token": scene_token, "log_token": log_token, "nbr_samples": n,
                        "first_sample_token": samples[0], "last_sample_token": samples[-1], "name": job.scene,
                        "description": f"KITTI odometry drive imported from {job.left.parent.name}, {n} stereo "
                                       "frames, no annotations."}]
    tables["sample"] = [{"token": samples[i], "timestamp": int(t_us[i]), "scene_token": scene_token,
                         "prev": samples[i - 1] if i else "", "next": samples[i + 1] if i + 1 < n else ""}
                        for i in range(n)]
    tables["ego_pose"] = [{"token": poses[i], "timestamp": int(t_us[i]),
                           "rotation": floats(quaternion_from_rotation_matrix(pose_ego[i, :3, :3]), 9),
                           "translation": floats(pose_ego[i, :3, 3], 5)} for i in range(n)]
    tables["sample_data"] = []
    for channel, pose_cam, k, paths, (width, height) in cameras:
        tables["sensor"].append({"token": table_token("sensor", channel), "channel": channel, "modality": "camera"})
        cs = tok("calibrated_sensor", channel)
        tables["calibrated_sensor"].append({
            "token": cs, "sensor_token": table_token("sensor", channel), "translation": floats(pose_cam[:3, 3], 6),
            "rotation": floats(quaternion_from_rotation_matrix(pose_cam[:3, :3]), 9),
            "camera_intrinsic": [floats(row, 6) for row in k]})
        tokens = [tok("sample_data", channel, i) for i in range(n)]
        for i in range(n):
            tables["sample_data"].append({
                "token": tokens[i], "sample_token": samples[i], "ego_pose_token": poses[i],
                "calibrated_sensor_token": cs,
                "filename": f"samples/{channel}/{job.scene}__{channel}__{int(t_us[i])}{paths[i].suffix.lower()}",
                "fileformat": paths[i].suffix.lower().lstrip("."), "width": width, "height": height,
                "timestamp": int(t_us[i]), "is_key_frame": True, "prev": tokens[i - 1] if i else "",
                "next": tokens[i + 1] if i + 1 < n else ""})
    return tables


def import_kitti(job: KittiImport) -> ImportSummary:
    """Write the dataroot of a KITTI drive (see the module docstring); DatasetError naming the
    file on bad input, or when job.out exists and is neither empty nor an earlier import."""
    calib = read_calibration(job.calib)
    pose_cam0 = read_poses(job.poses)
    left, right = list_images(job.left, "--left"), list_images(job.right, "--right")
    check_frame_numbers(left, job.left)
    check_frame_numbers(right, job.right)
    counts = {job.left: len(left), job.right: len(right), job.poses: len(pose_cam0)}
    times = None
    if job.times is not None:
        times = read_times(job.times)
        counts[job.times] = len(times)
    _check_counts(job, counts)
    n = len(pose_cam0)
    t_us = START_US + (np.round((times - times[0]) * 1e6).astype(np.int64) if times is not None
                       else FRAME_PERIOD_US * np.arange(n, dtype=np.int64))
    offset = convert.canvas_offset(pose_cam0, job.camera_height_m, job.map.margin_m)
    pose_ego = convert.ego_poses(pose_cam0, job.camera_height_m, offset)
    drawn = convert.draw_map(pose_ego, job.map)
    baseline = calib.cam1_centre_in_cam0_m()
    cameras = [(LEFT_CHANNEL, convert.pose_camera_to_ego(np.zeros(3), job.camera_height_m), calib.K0, left,
                _image_size(left, job.left)),
               (RIGHT_CHANNEL, convert.pose_camera_to_ego(baseline, job.camera_height_m), calib.K1, right,
                _image_size(right, job.right))]
    out = Path(job.out)
    if out.exists() and not (out.is_dir() and ((out / MARKER_FILE).is_file() or not any(out.iterdir()))):
        raise DatasetError(f"{out}: exists and is not a dataroot written by `splatsim data import-kitti` (no "
                           f"{MARKER_FILE}): choose another --out or remove it")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        map_tok = table_token("splatsim-kitti", job.scene, "map")
        map_filename = f"maps/{map_tok}.png"
        (staging / "maps" / "expansion").mkdir(parents=True)
        (staging / map_filename).write_bytes(semantic_prior_png(drawn.drivable, drawn.canvas_edge_m))
        (staging / "maps" / "expansion" / f"{MAP_NAME}.json").write_text(json.dumps(_map_expansion(drawn)))
        tables = _tables(job, t_us, pose_ego, cameras, map_tok, map_filename)
        (staging / VERSION).mkdir()
        for name, records in tables.items():
            (staging / VERSION / f"{name}.json").write_text(json.dumps(records, indent=0))
        by_token = {sd["token"]: sd for sd in tables["sample_data"]}
        for channel, _, _, paths, _ in cameras:
            (staging / "samples" / channel).mkdir(parents=True)
            for i, src in enumerate(paths):
                _place(src, staging / by_token[table_token("splatsim-kitti", job.scene, "sample_data", channel, i)]
                       ["filename"])
        (staging / MARKER_FILE).write_text(json.dumps({"generator": "scenarios.kitti", "scene": job.scene,
                                                       "frames": n}) + "\n")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    xy = pose_ego[:, :2, 3]
    return ImportSummary(dataroot=str(out), scene=job.scene, frames=n, duration_s=float(t_us[-1] - t_us[0]) * 1e-6,
                         path_length_m=float(np.sum(np.linalg.norm(np.diff(xy, axis=0), axis=1))),
                         image_size=cameras[0][4], baseline_m=float(np.linalg.norm(baseline)))

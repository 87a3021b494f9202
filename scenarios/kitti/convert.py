"""KITTI camera poses to nuScenes ego poses, and the map drawn along the logged path.

Frames:
- KITTI world: cam0 of frame 0, camera axes (x right, y down, z forward).
- ego: x forward, y left, z up, origin on the ground `camera_height_m` below cam0 (KITTI's rig:
  1.65 m); cam0 sits at (0, 0, camera_height_m) looking along ego +x, so camera-to-ego rotation
  is R = [[0, 0, 1], [-1, 0, 0], [0, -1, 0]] (ego x = camera z, ego y = -camera x, ego z =
  -camera y).
- global: the ego frame of frame 0, shifted by `offset_xy_m` so that the map's canvas (which
  starts at 0, 0 as nuScenes maps do) holds the whole drive.
So pose_ego_to_global[i] = T_offset @ T_cam0_to_ego @ pose_cam0_to_world[i] @ inv(T_cam0_to_ego).

Map: one lane along the ego's logged path (extended `extend_m` along the first and last
heading so a policy can drive a little past the log), `lane_width_m` wide, inside a drivable
corridor `corridor_width_m` wide (room for lateral offsets the car never drove).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from shapely.geometry import LineString, Polygon

from sim.geometry import invert_pose, pose_matrix, resample_polyline

ROTATION_CAMERA_TO_EGO = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


@dataclass(frozen=True)
class MapConfig:
    """The drawn map's sizes, metres: lane and corridor widths, the extension past each end
    of the log, the spacing of the lane's straight pieces and the canvas margin."""

    lane_width_m: float = 3.5
    corridor_width_m: float = 12.0
    extend_m: float = 30.0
    piece_m: float = 2.0
    margin_m: float = 100.0


def pose_camera_to_ego(centre_in_cam0_m: np.ndarray, camera_height_m: float) -> np.ndarray:
    """(4, 4) pose of a camera whose centre lies at centre_in_cam0_m (3,) in cam0's axes, with
    cam0's orientation (a rectified pair), in the ego frame."""
    return pose_matrix(ROTATION_CAMERA_TO_EGO,
                       ROTATION_CAMERA_TO_EGO @ np.asarray(centre_in_cam0_m, np.float64)
                       + np.array([0.0, 0.0, camera_height_m]))


def ego_poses(pose_cam0_to_world: np.ndarray, camera_height_m: float, offset_xy_m: np.ndarray) -> np.ndarray:
    """(N, 4, 4) pose_ego_to_global of KITTI cam0 poses (N, 4, 4) (see the module docstring)."""
    cam_to_ego = pose_camera_to_ego(np.zeros(3), camera_height_m)
    shift = np.eye(4)
    shift[:2, 3] = offset_xy_m
    return shift @ cam_to_ego @ np.asarray(pose_cam0_to_world, np.float64) @ invert_pose(cam_to_ego)


def canvas_offset(pose_cam0_to_world: np.ndarray, camera_height_m: float, margin_m: float) -> np.ndarray:
    """(2,) offset that puts the drive at least margin_m inside the canvas' lower-left corner."""
    xy = ego_poses(pose_cam0_to_world, camera_height_m, np.zeros(2))[:, :2, 3]
    return margin_m - xy.min(axis=0)


@dataclass(frozen=True)
class DrawnMap:
    """The map of a drive (global frame, metres).

    - centerline_xy: (P, 2) the lane's centreline, P >= 2, points piece_m apart.
    - lane: Polygon of the lane; drivable: Polygon of the corridor.
    - canvas_edge_m: (width, height) of the map canvas.
    """

    centerline_xy: np.ndarray
    lane: Polygon
    drivable: Polygon
    canvas_edge_m: tuple[float, float]


def draw_map(pose_ego_to_global: np.ndarray, config: MapConfig = MapConfig()) -> DrawnMap:
    """The lane and the drivable corridor along the ego poses (N, 4, 4) (see the module docstring)."""
    xy = pose_ego_to_global[:, :2, 3]
    heading = pose_ego_to_global[:, :2, 0]
    heading = heading / np.linalg.norm(heading, axis=1, keepdims=True)
    keep = np.ones(len(xy), bool)
    last = 0
    for i in range(1, len(xy)):  # a standing car logs the same place many times
        keep[i] = np.linalg.norm(xy[i] - xy[last]) >= 0.5
        last = i if keep[i] else last
    ends = [xy[0] - config.extend_m * heading[0]], [xy[keep][-1] + config.extend_m * heading[-1]]
    path = np.concatenate([ends[0], xy[keep], ends[1]])
    centerline = resample_polyline(path, config.piece_m)
    line = LineString(centerline)
    lane = line.buffer(config.lane_width_m / 2, cap_style="flat")
    drivable = line.buffer(config.corridor_width_m / 2, cap_style="flat")
    x1, y1 = np.asarray(drivable.bounds[2:]) + config.margin_m
    return DrawnMap(centerline_xy=centerline, lane=lane, drivable=drivable,
                    canvas_edge_m=(float(np.ceil(x1)), float(np.ceil(y1))))

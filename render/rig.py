"""Camera rigs and the world-to-camera view matrices of a world state.

Camera axes are OpenCV's (x right, y down, z forward); view matrices are 4x4 world-to-camera,
gsplat's convention: `viewmat_world_to_camera = inv(pose_ego_to_global @ pose_camera_to_ego)`.
"""

from __future__ import annotations

import numpy as np

from sim.geometry import invert_pose, pose_from_xy_yaw, pose_matrix, rotation_matrix_from_quaternion
from sim.types.scenario import CameraRig, Scenario
from sim.types.state import WorldState

NUSCENES_WIDTH_PX = 1600
NUSCENES_HEIGHT_PX = 900

# The six nuScenes cameras as calibrated in the mini split's first scene (scene-0061):
# name, translation camera-to-ego (m), rotation camera-to-ego (w, x, y, z), fx = fy, cx, cy (px).
_NUSCENES_CAMERAS = (
    ("CAM_FRONT", (1.70079, 0.01595, 1.51096), (0.49980, -0.50303, 0.49978, -0.49737), 1266.417, 816.267, 491.507),
    ("CAM_FRONT_RIGHT", (1.55085, -0.49340, 1.49575), (0.20603, -0.20269, 0.68245, -0.67136),
     1260.847, 807.968, 495.334),
    ("CAM_BACK_RIGHT", (1.01488, -0.48057, 1.56240), (0.12281, -0.13240, -0.70043, 0.69050),
     1259.514, 807.253, 501.196),
    ("CAM_BACK", (0.02833, 0.00345, 1.57910), (0.50379, -0.49740, -0.49419, 0.50455), 809.221, 829.220, 481.778),
    ("CAM_BACK_LEFT", (1.03569, 0.48480, 1.59097), (0.69242, -0.70316, -0.11648, 0.11203), 1256.741, 792.113, 492.776),
    ("CAM_FRONT_LEFT", (1.52388, 0.49463, 1.50933), (0.67573, -0.67363, 0.21214, -0.21123), 1272.598, 826.615, 479.752),
)
NUSCENES_CAMERA_NAMES = tuple(c[0] for c in _NUSCENES_CAMERAS)


def nuscenes_default_rig(width_px: int = NUSCENES_WIDTH_PX, height_px: int = NUSCENES_HEIGHT_PX,
                         names: tuple[str, ...] | list[str] | None = None) -> CameraRig:
    """The six nuScenes cameras (or the named subset, in that order), intrinsics scaled to width x height."""
    poses, ks = [], []
    for _, t, q, f, cx, cy in _NUSCENES_CAMERAS:
        poses.append(pose_matrix(rotation_matrix_from_quaternion(np.array(q)), np.array(t)))
        ks.append([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]])
    n = len(_NUSCENES_CAMERAS)
    rig = CameraRig(np.array(NUSCENES_CAMERA_NAMES, dtype=object), np.array(ks), np.array(poses),
                    np.full(n, NUSCENES_WIDTH_PX, np.int64), np.full(n, NUSCENES_HEIGHT_PX, np.int64))
    if names is not None:
        rig = rig.select(list(names))
    return rig.scaled(width_px, height_px)


def rig_for_scenario(scenario: Scenario, width_px: int, height_px: int,
                     names: tuple[str, ...] | list[str] | None = None) -> CameraRig:
    """The scenario's own rig scaled to width x height, or the nuScenes default when it has none."""
    if scenario.cameras.num_cameras == 0:
        return nuscenes_default_rig(width_px, height_px, names)
    rig = scenario.cameras if names is None else scenario.cameras.select(list(names))
    return rig.scaled(width_px, height_px)


def pose_ego_to_global(scenario: Scenario, state: WorldState) -> np.ndarray:
    """(4, 4) ego pose of a state: x, y, yaw from the state; z from the ego log at the step
    (the engine is planar; the log's z follows the road's height)."""
    return ego_pose_at(scenario, state.step_index, state.ego.x_m, state.ego.y_m, state.ego.yaw_rad)


def ego_pose_at(scenario: Scenario, step_index: int, x_m: float, y_m: float, yaw_rad: float) -> np.ndarray:
    """(4, 4) pose_ego_to_global of a planar ego pose at a step, z from the ego log there."""
    k = int(np.clip(step_index, 0, scenario.num_steps - 1))
    z = float(scenario.ego.z[k]) if scenario.num_steps else 0.0
    return pose_from_xy_yaw(x_m, y_m, yaw_rad, z)


def viewmats_world_to_camera(pose_ego_to_global: np.ndarray, pose_camera_to_ego: np.ndarray) -> np.ndarray:
    """(C, 4, 4) world-to-camera matrices of cameras (C, 4, 4) mounted on an ego pose (4, 4)."""
    return invert_pose(np.asarray(pose_ego_to_global, np.float64)[None] @ np.asarray(pose_camera_to_ego, np.float64))

"""The camera rig of a scene, from the CAM_* calibrations of its first keyframes."""

from __future__ import annotations

import numpy as np

from scenarios.nuscenes.tables import NuScenesTables
from sim.errors import DatasetError
from sim.geometry import pose_matrix, rotation_matrix_from_quaternion
from sim.types.scenario import CameraRig

# nuScenes' six cameras clockwise from the front; any other CAM_* channel (AV2's side cameras)
# follows in name order.
CAMERA_ORDER = ("CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_BACK_RIGHT", "CAM_BACK", "CAM_BACK_LEFT", "CAM_FRONT_LEFT")
DEFAULT_IMAGE_WIDTH_PX, DEFAULT_IMAGE_HEIGHT_PX = 1600, 900  # nuScenes' camera size


def camera_rig(tables: NuScenesTables, scene: dict) -> CameraRig:
    """The scene's cameras in CAMERA_ORDER, then the others by name."""
    first_keyframe: dict[str, dict] = {}  # camera channel -> its first keyframe sample_data
    seen: set[str] = set()
    for sample in tables.samples(scene):
        for channel, token in sample["data"].items():
            if channel not in seen:
                seen.add(channel)
                sd = tables.record("sample_data", token, "sample", sample["token"], "data")
                if sd["sensor_modality"] == "camera":
                    first_keyframe[channel] = sd
    names = [c for c in CAMERA_ORDER if c in first_keyframe]
    names += sorted(set(first_keyframe) - set(CAMERA_ORDER))
    intrinsics, poses, widths, heights = [], [], [], []
    for name in names:
        sd = first_keyframe[name]
        cs = tables.record("calibrated_sensor", sd["calibrated_sensor_token"], "sample_data", sd["token"],
                           "calibrated_sensor_token")
        k = np.asarray(cs.get("camera_intrinsic") or [], dtype=np.float64)
        if k.shape != (3, 3):
            raise DatasetError(f"{tables.table_path('calibrated_sensor')}: record {cs['token']} ({name}) has "
                               f"camera_intrinsic of shape {k.shape}, not 3x3: add the camera's K")
        intrinsics.append(k)
        poses.append(pose_matrix(rotation_matrix_from_quaternion(np.asarray(cs["rotation"], np.float64)),
                                 np.asarray(cs["translation"], np.float64)))
        # sample_data without image sizes (0 or absent) get nuScenes' size.
        widths.append(sd.get("width") or DEFAULT_IMAGE_WIDTH_PX)
        heights.append(sd.get("height") or DEFAULT_IMAGE_HEIGHT_PX)
    num_cameras = len(names)
    return CameraRig(
        names=np.array(names, dtype=str),
        intrinsics=np.array(intrinsics, dtype=np.float64).reshape(num_cameras, 3, 3),
        pose_camera_to_ego=np.array(poses, dtype=np.float64).reshape(num_cameras, 4, 4),
        width_px=np.array(widths, dtype=np.int64),
        height_px=np.array(heights, dtype=np.int64),
    )

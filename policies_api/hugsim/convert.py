"""Frames, units and records at the HUGSIM boundary (pure functions).

Sources, all read at hyzhou404/HUGSIM@62c690d (`sim/hugsim_env/envs/hug_sim.py`,
`sim/utils/sim_utils.py`, `sim/ilqr/lqr.py`, `configs/sim/kinematic.yaml`,
`data/utils/merge_depth_ground.py`) and longxiaofei/HUGSIM (competition `web_server.py`):

- A plan is (N, 2) in the LiDAR frame, x right, y forward (sim_utils.traj2control's docstring);
  web_server.EnvHandler.execute_action turns it into the "IMU" frame (x forward, y left) with
  `plan[:, [1, 0]]; [:, 1] *= -1` = splatsim's ego frame. Its origin is the ego's kinematic
  point: HUGSimEnv.step integrates position along the heading with yaw rate v tan(steer) / L,
  a rear-axle bicycle, the rear-axle origin of splatsim's ego frame.
- Plan points are 0.5 s apart, the first at 0.5 s (lqr.py: ILQR discretization_time=0.5;
  web_server: 'timestep': 0.5). One action advances 0.25 s (kinematic.yaml dt: 0.25).
- HUGSIM's world is the scene's camera frame (x right, y down, z forward); its ego_box and
  obj_boxes are in that world turned to the IMU axes, `[z, -x, -y]`, yaw `-vr[1]`
  (HUGSimEnv.ego_box). splatsim's stand-in for the scene frame is the ego frame at the
  scene's first state (`SceneFrame`): boxes are reported in it, ego_pos / ego_rot in its
  camera-axes twin.
- Steering: HUGSimEnv.step moves along +x (right) for a positive heading, so positive
  steer and steer rate turn right; splatsim's turn left (x forward, y left).
- command: 0 right, 1 left, 2 forward (merge_depth_ground.py).
- cam_params: per camera {'intrinsic': {H, W, cx, cy, fovx, fovy (radians)}, 'v2c', 'l2c'}
  (sim_utils.load_camera_cfg), v2c = vehicle-to-camera, l2c = lidar-to-camera, 4x4.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from policies_api.errors import InvalidArgument
from sim.geometry import global_to_local_xy, invert_pose, pose_matrix, wrap_angle
from sim.types.scenario import DrivingCommand
from sim.types.state import TrajectoryAction

PLAN_STEP_S = 0.5  # lqr.py ILQR discretization_time
ACTION_STEP_S = 0.25  # kinematic.yaml dt
MAX_PLAN_POINTS = 100  # 50 s of plan; HUGSIM's agents send 6 (3 s)
MAX_PLAN_ABS_M = 1000.0
PLAN_DTYPES = ("float16", "float32", "float64")

# merge_depth_ground.py: 0 right, 1 left, 2 forward; splatsim: LEFT 0, STRAIGHT 1, RIGHT 2.
COMMAND_OF_DRIVING_COMMAND = {DrivingCommand.LEFT: 1, DrivingCommand.STRAIGHT: 2, DrivingCommand.RIGHT: 0}

# Camera-like axes of HUGSIM's world (x right, y down, z forward) from IMU-like axes (x forward, y left, z up).
_CAMERA_AXES_FROM_IMU = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])


def parse_plan(plan_json: object) -> np.ndarray:
    """The plan of an execute_action body: a JSON string of {"data", "shape", "dtype"} as
    hugsim_client's `_dump_numpy_ndarray_json_str` writes it, checked: a float dtype, shape
    (N, 2) with 1 <= N <= MAX_PLAN_POINTS, finite values within MAX_PLAN_ABS_M. Returns float64."""
    if not isinstance(plan_json, str):
        raise InvalidArgument(f"'plan_traj' must be a JSON string of {{data, shape, dtype}}, got "
                              f"{type(plan_json).__name__}")
    try:
        spec = json.loads(plan_json)
    except (ValueError, RecursionError) as err:
        raise InvalidArgument(f"'plan_traj' is not valid JSON ({err}); send json.dumps({{data, shape, dtype}})")
    if not isinstance(spec, dict) or not {"data", "shape", "dtype"} <= spec.keys():
        raise InvalidArgument("'plan_traj' must hold an object with keys 'data', 'shape' and 'dtype'")
    if spec["dtype"] not in PLAN_DTYPES:
        raise InvalidArgument(f"'plan_traj' dtype {spec['dtype']!r} is not allowed; use one of {PLAN_DTYPES}")
    shape = spec["shape"]
    if not (isinstance(shape, list) and len(shape) == 2 and all(type(n) is int for n in shape)
            and 1 <= shape[0] <= MAX_PLAN_POINTS and shape[1] == 2):
        raise InvalidArgument(f"'plan_traj' shape {shape!r} is not allowed; send (N, 2) x-right/y-forward points "
                              f"0.5 s apart, 1 <= N <= {MAX_PLAN_POINTS}")
    try:
        plan = np.array(spec["data"], dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InvalidArgument(f"'plan_traj' data is not numeric ({err})")
    if plan.shape != tuple(shape):
        raise InvalidArgument(f"'plan_traj' data has shape {plan.shape}, but 'shape' says {tuple(shape)}")
    if not np.all(np.isfinite(plan)) or np.abs(plan).max() > MAX_PLAN_ABS_M:
        raise InvalidArgument(f"'plan_traj' values must be finite metres within +-{MAX_PLAN_ABS_M:g}")
    return plan


def plan_to_action(plan_xr_yf: np.ndarray) -> TrajectoryAction:
    """A HUGSIM plan (N, 2), x right / y forward at 0.5 s .. N * 0.5 s from the rear axle, as a
    splatsim TrajectoryAction (ego frame x forward, y left). Headings follow the path from the
    origin (traj2control derives them the same way); a point that does not move keeps the last."""
    xy = np.stack([plan_xr_yf[:, 1], -plan_xr_yf[:, 0]], -1)
    steps = np.diff(np.vstack([[0.0, 0.0], xy]), axis=0)
    yaw = np.zeros(len(xy))
    last = 0.0
    for i, (dx, dy) in enumerate(steps):
        if math.hypot(dx, dy) > 1e-3:
            last = math.atan2(dy, dx)
        yaw[i] = last
    return TrajectoryAction(xy, yaw, PLAN_STEP_S * np.arange(1, len(xy) + 1))


def engine_steps_of_action(action_index: int, engine_dt_s: float) -> int:
    """Engine steps that action `action_index` (0-based) advances, so that after k actions the
    clock stands at floor(k * 0.25 / dt) * dt: 2, 3, 2, 3 ... at 10 Hz, exact every two actions."""
    per = ACTION_STEP_S / engine_dt_s
    return int(math.floor((action_index + 1) * per + 1e-9)) - int(math.floor(action_index * per + 1e-9))


@dataclass(frozen=True)
class SceneFrame:
    """splatsim's stand-in for HUGSIM's scene frame: the ego frame at the scene's first state,
    on the ground (x forward, y left, z up). origin_xy: (2,) global; yaw_rad; z_m: ground height."""

    origin_xy: np.ndarray
    yaw_rad: float
    z_m: float

    def xyz(self, xy_global: np.ndarray, z_global: np.ndarray) -> np.ndarray:
        """(M, 3) points of global xy (M, 2) and heights (M,) in this frame."""
        local = global_to_local_xy(np.atleast_2d(xy_global), self.origin_xy, self.yaw_rad)
        return np.column_stack([local, np.atleast_1d(z_global) - self.z_m])

    def yaw(self, yaw_global_rad: np.ndarray | float) -> np.ndarray | float:
        return wrap_angle(np.asarray(yaw_global_rad) - self.yaw_rad)


def boxes_record(center_xyz: np.ndarray, size_wlh_m: np.ndarray, yaw_rad: np.ndarray) -> list[list[float]]:
    """HUGSIM box lists [x, y, z, w, l, h, yaw] (HUGSimEnv.ego_box / objs_list: IMU axes, w-l-h)."""
    return [[*map(float, c), *map(float, s), float(y)] for c, s, y in zip(center_xyz, size_wlh_m, yaw_rad)]


def ego_pos_rot(xyz_in_scene: np.ndarray, yaw_in_scene_rad: float) -> tuple[list[float], list[float]]:
    """HUGSIM's ego_pos (x right, y down, z forward) and ego_rot (intrinsic XYZ Euler angles of
    the ego in that world, as sim_utils.pose2rt returns them) of a pose in the scene frame."""
    pos = _CAMERA_AXES_FROM_IMU @ np.asarray(xyz_in_scene, np.float64)
    # HUGSimEnv: ego = rt2pose(vr, vt) with the heading in vr[1] (about y, down) = -yaw.
    rot = Rotation.from_euler("XYZ", [0.0, -float(yaw_in_scene_rad), 0.0]).as_euler("XYZ")
    return pos.tolist(), rot.tolist()


def cam_params(names: np.ndarray, intrinsics: np.ndarray, pose_camera_to_ego: np.ndarray, width_px: int,
               height_px: int, pose_lidar_to_ego: np.ndarray) -> dict:
    """HUGSIM's cam_params of C cameras: K (C, 3, 3), camera-to-ego poses (C, 4, 4); the vehicle
    frame is splatsim's ego frame (as nuScenes' v2c extrinsics are)."""
    out = {}
    for name, k, pose in zip(names, intrinsics, pose_camera_to_ego):
        v2c = invert_pose(pose)
        out[str(name)] = {
            "intrinsic": {"H": int(height_px), "W": int(width_px), "cx": float(k[0, 2]), "cy": float(k[1, 2]),
                          # sim_utils.focal2fov: fov = 2 atan(pixels / (2 focal))
                          "fovx": 2.0 * math.atan(width_px / (2.0 * k[0, 0])),
                          "fovy": 2.0 * math.atan(height_px / (2.0 * k[1, 1]))},
            "v2c": v2c,
            "l2c": v2c @ pose_lidar_to_ego,
        }
    return out


def lidar_to_ego(translation_m: tuple[float, float, float], yaw_rad: float) -> np.ndarray:
    """(4, 4) pose of a LiDAR mounted level at translation with yaw about z."""
    c, s = math.cos(yaw_rad), math.sin(yaw_rad)
    return pose_matrix(np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]), np.asarray(translation_m, float))


# HUGSIM's semantic images hold Cityscapes train ids (its labels come from InverseForm, a Cityscapes
# model; hug_sim.py treats 0 as ground and 10 as sky). splatsim's proxy classes (render.proxy_depth.ProxyClass:
# NONE, ROAD, VEHICLE, PEDESTRIAN, CYCLIST, STATIC) map to road 0, car 13, person 11, bicycle 18, fence 4;
# what the proxy does not model (buildings, vegetation, sky) is Cityscapes' ignore id 255.
SEMANTIC_UNKNOWN = 255
CITYSCAPES_ID_OF_PROXY_CLASS = np.array([SEMANTIC_UNKNOWN, 0, 13, 11, 18, 4], np.uint8)

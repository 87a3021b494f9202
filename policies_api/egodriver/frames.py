"""Frame and unit conversions between splatsim and AlpaSim's driver contract (pure functions).

Sources (NVlabs/alpasim, CONTRIBUTING.md "Coordinate Systems" and the runtime):
- AlpaSim's `rig` frame is the vehicle frame, x forward, y left, z up: splatsim's ego frame (rear
  axle on the ground). Its `local` frame is the scene's world frame: splatsim's global frame.
- A pose "local -> rig" is the active transform taking local onto rig, i.e. the rig's pose in
  local (p_local = R p_rig + t): splatsim's pose_ego_to_global. Quaternions are w, x, y, z.
- Routes are waypoints in the rig frame at the step's time with z zeroed
  (RouteGenerator.generate_route), 20 of them 80/19 m apart from the ego's projection on the route.
- `rig_to_camera` declares the camera's optical frame (x right, y down, z along the axis) in the
  rig (carla-driver-interface contract revision 2, AlpaSim's renderers): numerically splatsim's
  pose_camera_to_ego, as splatsim's camera frame is OpenCV's. Revision 1 declared the camera body
  (x along the axis, y left, z up) instead.
- Dynamic states are resolved in the rig frame. splatsim's ego is a kinematic bicycle about the
  rear axle, which does not slip sideways: velocity (v, 0, 0), acceleration (a, v * yaw_rate, 0)
  (the centripetal term of a point moving on a turning frame), angular velocity (0, 0, yaw_rate);
  angular acceleration is not modelled (0).
- A driver's plan (DriveResponse.trajectory) is local -> rig poses; the first is the ego at
  time_now_us and is dropped; times become seconds after time_now_us.
All values travel as float32 (Vec3, Quat): about 0.1 mm at 2 km from the origin.
"""

from __future__ import annotations

import math

import numpy as np

from proto.alpasim.v0 import common_pb2 as cpb
from proto.alpasim.v0 import sensorsim_pb2 as spb
from sim.engine import PLAN_TIMES_S
from sim.types.state import EgoState, TrajectoryAction

# The camera body's axes (x along the optical axis, y left, z up) as columns in optical coordinates
# (x right, y down, z along the axis): R_rig_body = R_rig_optical @ OPTICAL_FROM_BODY.
OPTICAL_FROM_BODY = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])


def yaw_to_quat_wxyz(yaw_rad: float) -> np.ndarray:
    """(4,) w, x, y, z of a rotation by yaw_rad about z."""
    return np.array([math.cos(0.5 * yaw_rad), 0.0, 0.0, math.sin(0.5 * yaw_rad)])


def quat_wxyz_to_yaw(w: float, x: float, y: float, z: float) -> float:
    """The heading (rotation about z, radians) of a quaternion; ZYX Euler yaw for a tilted one."""
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def matrix_to_quat_wxyz(rotation: np.ndarray) -> np.ndarray:
    """(4,) w, x, y, z (w >= 0) of a (3, 3) rotation matrix."""
    from scipy.spatial.transform import Rotation

    x, y, z, w = Rotation.from_matrix(np.asarray(rotation, np.float64)).as_quat()
    q = np.array([w, x, y, z])
    return -q if w < 0 else q


def pose_msg(xyz: np.ndarray, quat_wxyz: np.ndarray) -> cpb.Pose:
    """A Pose message of a translation (metres) and a quaternion (w, x, y, z)."""
    return cpb.Pose(vec=cpb.Vec3(x=float(xyz[0]), y=float(xyz[1]), z=float(xyz[2])),
                    quat=cpb.Quat(w=float(quat_wxyz[0]), x=float(quat_wxyz[1]), y=float(quat_wxyz[2]),
                                  z=float(quat_wxyz[3])))


def ego_pose_local_to_rig(x_m: float, y_m: float, yaw_rad: float) -> cpb.Pose:
    """The local -> rig pose of an ego at (x_m, y_m, yaw_rad) in the global frame (z = 0: on the ground)."""
    return pose_msg(np.array([x_m, y_m, 0.0]), yaw_to_quat_wxyz(yaw_rad))


def dynamic_state_in_rig(ego: EgoState) -> cpb.DynamicState:
    """The ego's velocities and accelerations in the rig frame (see the module's notes)."""
    v, w = ego.speed_mps, ego.yaw_rate_radps
    return cpb.DynamicState(angular_velocity=cpb.Vec3(z=w), linear_velocity=cpb.Vec3(x=v),
                            linear_acceleration=cpb.Vec3(x=ego.accel_mps2, y=v * w),
                            angular_acceleration=cpb.Vec3())


def route_waypoints_in_rig(route_xy_in_ego: np.ndarray, count: int, spacing_m: float, padding: str) -> np.ndarray:
    """(count, 3) waypoints (fewer with padding "none"): the route polyline (K, 2), ego frame, from its
    first point (the ego's projection), resampled every spacing_m metres, z = 0. Where less route is
    left, "repeat" repeats the last waypoint, "nan" adds NaN rows (AlpaSim), "none" adds nothing."""
    xy = np.asarray(route_xy_in_ego, np.float64).reshape(-1, 2)
    if len(xy) == 0:
        xy = np.zeros((1, 2))
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(xy, axis=0), axis=1))])
    wanted = np.arange(count) * spacing_m
    reach = wanted[wanted <= s[-1] + 1e-9]
    out = np.zeros((len(reach), 3))
    out[:, 0] = np.interp(reach, s, xy[:, 0])
    out[:, 1] = np.interp(reach, s, xy[:, 1])
    missing = count - len(out)
    if missing and padding == "repeat":
        out = np.vstack([out, np.repeat(out[-1:], missing, axis=0)])
    elif missing and padding == "nan":
        out = np.vstack([out, np.full((missing, 3), np.nan)])
    return out


def rig_to_camera(pose_camera_to_ego: np.ndarray, revision: int) -> cpb.Pose:
    """A camera's `rig_to_camera` from splatsim's (4, 4) pose_camera_to_ego (OpenCV camera frame):
    the optical frame for contract revision 2, the camera body for revision 1."""
    pose = np.asarray(pose_camera_to_ego, np.float64)
    rotation = pose[:3, :3] if revision == 2 else pose[:3, :3] @ OPTICAL_FROM_BODY
    return pose_msg(pose[:3, 3], matrix_to_quat_wxyz(rotation))


def available_camera(logical_id: str, intrinsics: np.ndarray, width_px: int, height_px: int,
                     pose_camera_to_ego: np.ndarray, revision: int) -> spb.AvailableCamerasReturn.AvailableCamera:
    """The declaration of one rendered camera: undistorted OpenCV pinhole (K (3, 3) at width x height
    pixels), global shutter, mounted at pose_camera_to_ego."""
    k = np.asarray(intrinsics, np.float64)
    spec = spb.CameraSpec(
        opencv_pinhole_param=spb.OpenCVPinholeCameraParam(
            principal_point_x=float(k[0, 2]), principal_point_y=float(k[1, 2]), focal_length_x=float(k[0, 0]),
            focal_length_y=float(k[1, 1]), radial_coeffs=[0.0] * 6, tangential_coeffs=[0.0] * 2,
            thin_prism_coeffs=[0.0] * 4),
        logical_id=logical_id, resolution_h=int(height_px), resolution_w=int(width_px),
        shutter_type=spb.ShutterType.GLOBAL)
    return spb.AvailableCamerasReturn.AvailableCamera(intrinsics=spec, logical_id=logical_id,
                                                      rig_to_camera=rig_to_camera(pose_camera_to_ego, revision))


def plan_to_action(trajectory: cpb.Trajectory, ego: EgoState, time_now_us: int) -> TrajectoryAction | None:
    """A driver's plan (local -> rig poses) as a TrajectoryAction in the ego frame of `ego` (the state
    planned from, at time_now_us); poses at or before time_now_us (the anchor) are dropped. None when
    nothing is left (an empty plan: the caller holds). Raises ValueError on non-increasing times."""
    rows = [(p.timestamp_us, p.pose.vec.x, p.pose.vec.y, p.pose.quat.w, p.pose.quat.x, p.pose.quat.y, p.pose.quat.z)
            for p in trajectory.poses if p.timestamp_us > time_now_us]
    if not rows:
        return None
    t_us = np.array([r[0] for r in rows], np.int64)
    if np.any(np.diff(t_us) <= 0):
        raise ValueError(f"plan timestamps must increase, got {t_us.tolist()}")
    v = np.array([r[1:] for r in rows], np.float64)
    w, x, y, z = v[:, 2], v[:, 3], v[:, 4], v[:, 5]
    yaw = np.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))  # quat_wxyz_to_yaw, vectorised
    xy_in_ego, yaw_in_ego = poses_in_rig(v[:, :2], yaw, ego)
    return TrajectoryAction(xy_in_ego, yaw_in_ego, (t_us - time_now_us) / 1e6)


def hold_action() -> TrajectoryAction:
    """Stay where the ego is (what an empty plan asks): the pose of now over the next 4 s."""
    n = len(PLAN_TIMES_S)
    return TrajectoryAction(np.zeros((n, 2)), np.zeros(n), PLAN_TIMES_S.copy())


def trajectory_msg(t_us: np.ndarray, xy: np.ndarray, yaw_rad: np.ndarray) -> cpb.Trajectory:
    """A Trajectory of ground poses: times (M,) microseconds, positions (M, 2) metres, headings (M,)."""
    return cpb.Trajectory(poses=[cpb.PoseAtTime(pose=ego_pose_local_to_rig(float(p[0]), float(p[1]), float(h)),
                                                timestamp_us=int(t)) for t, p, h in zip(t_us, xy, yaw_rad)])


def poses_in_rig(xy: np.ndarray, yaw_rad: np.ndarray, ego: EgoState) -> tuple[np.ndarray, np.ndarray]:
    """Global poses (M, 2), (M,) expressed in the ego (rig) frame of `ego`."""
    c, s = math.cos(ego.yaw_rad), math.sin(ego.yaw_rad)
    d = np.asarray(xy, np.float64) - np.array([ego.x_m, ego.y_m])
    return (np.stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1]], -1),
            np.angle(np.exp(1j * (np.asarray(yaw_rad, np.float64) - ego.yaw_rad))))

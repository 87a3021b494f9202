"""A scenario: everything the engine needs from a log, resampled to the engine's 10 Hz grid.

Built by `scenarios/` (nuScenes adapter, scenario files, generators); read by `sim`, `render`
and `policies_api`. Missing data is a `valid` mask, never NaN.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

from sim.types.roadmap import RoadMap

STEP_US = 100_000  # the engine's 10 Hz step
DT_S = STEP_US * 1e-6


class ActorKind(enum.IntEnum):
    """Coarse class of an actor; decides its dynamics and how collisions with it count."""

    VEHICLE = 0
    PEDESTRIAN = 1
    CYCLIST = 2
    STATIC = 3  # barriers, cones, debris: NAVSIM counts hitting them at half weight


class DrivingCommand(enum.IntEnum):
    """NAVSIM-style high-level command derived from the route ahead."""

    LEFT = 0
    STRAIGHT = 1
    RIGHT = 2


@dataclass(frozen=True)
class EgoParams:
    """Ego vehicle geometry and limits. Defaults: a mid-size sedan.

    - length_m, width_m, height_m: body box.
    - rear_axle_to_center_m: distance from the rear-axle origin forward to the box centre.
    - wheelbase_m: rear to front axle.
    - max_steer_rad, max_steer_rate_radps: steering angle and rate limits.
    - max_accel_mps2, max_decel_mps2: longitudinal limits (decel as a positive number).
    - accel_time_constant_s, steer_time_constant_s: first-order actuator lags.
    """

    length_m: float = 4.6
    width_m: float = 1.85
    height_m: float = 1.6
    rear_axle_to_center_m: float = 1.4
    wheelbase_m: float = 2.8
    max_steer_rad: float = 0.6
    max_steer_rate_radps: float = 1.2
    max_accel_mps2: float = 3.0
    max_decel_mps2: float = 8.0
    accel_time_constant_s: float = 0.2
    steer_time_constant_s: float = 0.1


@dataclass(frozen=True, eq=False)
class EgoLog:
    """The ego's logged trajectory on the scenario's time grid. T steps.

    - xy: (T, 2) rear-axle position, global frame, metres.
    - z: (T,) ground height under the ego, metres.
    - yaw_rad: (T,) heading, global frame.
    - speed_mps: (T,) signed longitudinal speed.
    - valid: (T,) bool.
    """

    xy: np.ndarray
    z: np.ndarray
    yaw_rad: np.ndarray
    speed_mps: np.ndarray
    valid: np.ndarray


@dataclass(frozen=True, eq=False)
class ActorTracks:
    """Logged actors on the scenario's time grid. N actors, T steps.

    - instance_tokens: (N,) str, the dataset's instance tokens.
    - category: (N,) str, dataset category names (e.g. "vehicle.car").
    - kind: (N,) int8, ActorKind.
    - size_wlh_m: (N, 3) float64, width, length, height (nuScenes order).
    - xy: (N, T, 2) box centre, global frame, metres.
    - z: (N, T) box centre height.
    - yaw_rad: (N, T) heading.
    - velocity_xy_mps: (N, T, 2) velocity in global.
    - valid: (N, T) bool; positions outside valid steps are undefined (kept finite).
    """

    instance_tokens: np.ndarray
    category: np.ndarray
    kind: np.ndarray
    size_wlh_m: np.ndarray
    xy: np.ndarray
    z: np.ndarray
    yaw_rad: np.ndarray
    velocity_xy_mps: np.ndarray
    valid: np.ndarray

    @property
    def num_actors(self) -> int:
        return len(self.instance_tokens)


@dataclass(frozen=True, eq=False)
class CameraRig:
    """Cameras mounted on the ego. C cameras, OpenCV camera axes (x right, y down, z forward).

    - names: (C,) str (e.g. "CAM_FRONT").
    - intrinsics: (C, 3, 3) float64 K for images of width x height.
    - pose_camera_to_ego: (C, 4, 4) float64.
    - width_px, height_px: (C,) int64.
    """

    names: np.ndarray
    intrinsics: np.ndarray
    pose_camera_to_ego: np.ndarray
    width_px: np.ndarray
    height_px: np.ndarray

    @property
    def num_cameras(self) -> int:
        return len(self.names)

    def scaled(self, width_px: int, height_px: int) -> "CameraRig":
        """The same rig with intrinsics scaled to images of width_px x height_px."""
        sx = width_px / self.width_px.astype(np.float64)
        sy = height_px / self.height_px.astype(np.float64)
        k = self.intrinsics.copy()
        k[:, 0, :] *= sx[:, None]
        k[:, 1, :] *= sy[:, None]
        n = self.num_cameras
        return CameraRig(self.names.copy(), k, self.pose_camera_to_ego.copy(),
                         np.full(n, width_px, np.int64), np.full(n, height_px, np.int64))

    def select(self, names: list[str]) -> "CameraRig":
        """The sub-rig of the named cameras, in the order given."""
        index = {str(n): i for i, n in enumerate(self.names)}
        idx = [index[n] for n in names]
        return CameraRig(self.names[idx], self.intrinsics[idx], self.pose_camera_to_ego[idx],
                         self.width_px[idx], self.height_px[idx])


@dataclass(frozen=True, eq=False)
class Route:
    """The ego's route: the lanes it drove in the log, in order, and commands along it.

    - lane_indices: (R,) int64 indices into the map's LaneGraph, in driving order.
    - centerline_xy: (Q, 2) the route's centerline, global metres, concatenated and deduplicated.
    - driving_command: (T,) int8 DrivingCommand at each step of the scenario.
    """

    lane_indices: np.ndarray
    centerline_xy: np.ndarray
    driving_command: np.ndarray


@dataclass(frozen=True, eq=False)
class Scenario:
    """One scenario on a 10 Hz grid of T steps.

    - name: unique name (the dataset's scene name, or a generated name).
    - t_us: (T,) int64 timestamps, 100_000 us apart.
    - map: RoadMap.
    - ego: EgoLog; ego_params: EgoParams.
    - actors: ActorTracks.
    - cameras: CameraRig.
    - route: Route.
    - metadata: free-form provenance (dataroot, version, scene token, generator settings).
    """

    name: str
    t_us: np.ndarray
    map: RoadMap
    ego: EgoLog
    actors: ActorTracks
    cameras: CameraRig
    route: Route
    ego_params: EgoParams = field(default_factory=EgoParams)
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def num_steps(self) -> int:
        return len(self.t_us)

    @property
    def duration_s(self) -> float:
        return (int(self.t_us[-1]) - int(self.t_us[0])) * 1e-6 if len(self.t_us) else 0.0

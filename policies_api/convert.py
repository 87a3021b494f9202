"""numpy <-> protobuf: the engine's types and the wire messages of proto/splatsim/v1.

Both directions are exact for every float (doubles on the wire). Times: the wire carries
integer microseconds; `us_to_s` maps them onto the engine's step grid so that a plan made at
k * DT_S seconds comes back as exactly k * DT_S (the in-process value), which keeps remote and
in-process episodes bit-for-bit equal.

Malformed messages raise `sim.errors.ActionError` (actions) or `MessageError` (anything else);
the server turns both into INVALID_ARGUMENT.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

import numpy as np

from proto.splatsim.v1 import driving_policy_pb2 as dpb
from proto.splatsim.v1 import messages_pb2 as pb
from proto.splatsim.v1 import simulator_pb2 as spb
from sim.dynamics.tracker import validate_trajectory
from sim.errors import ActionError, SplatsimError
from sim.geometry import wrap_angle
from sim.types.observation import CameraImages, Observation
from sim.types.scenario import DT_S, STEP_US, ActorKind, DrivingCommand, Scenario
from sim.types.state import Action, ControlAction, EgoState, EndReason, TrajectoryAction, WorldState

MAX_TRAJECTORY_POINTS = 400  # 40 s at 0.1 s: any longer plan is a client bug
MAX_ABS_ACCEL_MPS2 = 50.0
MAX_ABS_STEER_RAD = math.pi / 2
DEFAULT_LANE_RADIUS_M = 50.0
MAX_IMAGE_SIDE_PX = 8192  # a received image's width or height
MAX_DECODED_BYTES = 512 << 20  # all images of one received observation, decoded (rgb + depth + alpha)

ENCODINGS = {"raw": pb.IMAGE_ENCODING_RAW_RGB8, "jpeg": pb.IMAGE_ENCODING_JPEG, "png": pb.IMAGE_ENCODING_PNG}
_ACTOR_KIND_TO_PB = {ActorKind.VEHICLE: pb.ACTOR_KIND_VEHICLE, ActorKind.PEDESTRIAN: pb.ACTOR_KIND_PEDESTRIAN,
                     ActorKind.CYCLIST: pb.ACTOR_KIND_CYCLIST, ActorKind.STATIC: pb.ACTOR_KIND_STATIC}
_ACTOR_KIND_FROM_PB = {v: k for k, v in _ACTOR_KIND_TO_PB.items()}
_COMMAND_TO_PB = {DrivingCommand.LEFT: pb.DRIVING_COMMAND_LEFT, DrivingCommand.STRAIGHT: pb.DRIVING_COMMAND_STRAIGHT,
                  DrivingCommand.RIGHT: pb.DRIVING_COMMAND_RIGHT}
_COMMAND_FROM_PB = {v: k for k, v in _COMMAND_TO_PB.items()}
END_REASON_TO_PB = {EndReason.ROUTE_COMPLETE: spb.END_REASON_ROUTE_COMPLETE,
                    EndReason.SCENARIO_END: spb.END_REASON_SCENARIO_END, EndReason.MAX_STEPS: spb.END_REASON_MAX_STEPS}
END_REASON_FROM_PB = {v: k for k, v in END_REASON_TO_PB.items()}


def field_number(message_type, name: str) -> int:
    """The protobuf field number of `message_type.name`, from the generated descriptor."""
    return message_type.DESCRIPTOR.fields_by_name[name].number


# Field numbers the hand-written wire code below needs.
_POINT2_X, _POINT2_Y = field_number(pb.Point2, "x_m"), field_number(pb.Point2, "y_m")
_OBSERVATION_ROUTE = field_number(pb.Observation, "route_in_ego")
_OBSERVATION_IMAGES = field_number(pb.Observation, "images")
_CAMERA_DATA = field_number(pb.CameraImage, "data")
_CAMERA_DEPTH = field_number(pb.CameraImage, "depth_m_f32")
_CAMERA_ALPHA = field_number(pb.CameraImage, "alpha_f32")
STEP_RESULT_OBSERVATION = field_number(spb.StepResult, "observation")
PLAN_REQUEST_OBSERVATION = field_number(dpb.PlanRequest, "observation")


class MessageError(SplatsimError):
    """A wire message that cannot be turned into the engine's types (the field is named)."""


# ---- time ---------------------------------------------------------------------------------------


def us_to_s(t_us: np.ndarray | int) -> np.ndarray | float:
    """Microseconds -> seconds on the engine's grid: k * STEP_US us is exactly k * DT_S s."""
    return np.asarray(t_us, dtype=np.float64) / STEP_US * DT_S


def s_to_us(t_s: np.ndarray | float) -> np.ndarray:
    """Seconds -> integer microseconds (rounded to the nearest)."""
    return np.rint(np.asarray(t_s, dtype=np.float64) * 1e6).astype(np.int64)


# ---- actions ------------------------------------------------------------------------------------


def trajectory_to_proto(action: TrajectoryAction, out: pb.Trajectory | None = None) -> pb.Trajectory:
    """A TrajectoryAction as a Trajectory message (times rounded to microseconds)."""
    out = pb.Trajectory() if out is None else out
    xy = np.asarray(action.xy_in_ego, dtype=np.float64)
    yaw = np.asarray(action.yaw_in_ego_rad, dtype=np.float64)
    t_us = s_to_us(action.t_offset_s)
    out.points.extend(pb.TrajectoryPoint(t_offset_us=int(t), x_m=float(x), y_m=float(y), yaw_rad=float(a))
                      for t, (x, y), a in zip(t_us.tolist(), xy.tolist(), yaw.tolist()))
    return out


def trajectory_from_proto(msg: pb.Trajectory) -> TrajectoryAction:
    """A Trajectory message as a validated TrajectoryAction (ActionError when unusable)."""
    n = len(msg.points)
    if not 1 <= n <= MAX_TRAJECTORY_POINTS:
        raise ActionError(f"trajectory has {n} points; send 1..{MAX_TRAJECTORY_POINTS} ego-frame poses "
                          "(e.g. 8 poses at 0.5 s .. 4.0 s)")
    rows = [(p.t_offset_us, p.x_m, p.y_m, p.yaw_rad) for p in msg.points]
    arr = np.array(rows, dtype=np.float64)
    t_us = np.array([r[0] for r in rows], dtype=np.int64)
    if np.any(t_us <= 0) or np.any(t_us > 60_000_000):
        raise ActionError("trajectory t_offset_us must be in (0, 60 s] microseconds after the observation, "
                          f"got {int(t_us.min())} .. {int(t_us.max())}")
    action = TrajectoryAction(np.ascontiguousarray(arr[:, 1:3]), np.ascontiguousarray(arr[:, 3]), us_to_s(t_us))
    validate_trajectory(action)
    return action


def controls_from_proto(msg: pb.Controls) -> ControlAction:
    """A Controls message as a ControlAction (ActionError when not finite or absurd)."""
    a, s = float(msg.accel_mps2), float(msg.steer_rad)
    if not (math.isfinite(a) and math.isfinite(s)):
        raise ActionError(f"controls must be finite, got accel_mps2={a}, steer_rad={s}")
    if abs(a) > MAX_ABS_ACCEL_MPS2 or abs(s) > MAX_ABS_STEER_RAD:
        raise ActionError(f"controls out of range: |accel_mps2| <= {MAX_ABS_ACCEL_MPS2} and |steer_rad| <= pi/2, "
                          f"got accel_mps2={a}, steer_rad={s}")
    return ControlAction(a, s)


def set_action(container, action: Action) -> None:
    """Fill the `action` oneof (trajectory | controls) of a StepRequest or PlanResponse."""
    if isinstance(action, TrajectoryAction):
        trajectory_to_proto(action, container.trajectory)
        if not len(container.trajectory.points):
            container.trajectory.SetInParent()
    elif isinstance(action, ControlAction):
        container.controls.accel_mps2 = float(action.accel_mps2)
        container.controls.steer_rad = float(action.steer_rad)
        container.controls.SetInParent()
    else:
        raise ActionError(f"unknown action type {type(action).__name__}; use TrajectoryAction or ControlAction")


def get_action(container) -> Action | None:
    """The validated action of a message's `action` oneof, or None when unset."""
    kind = container.WhichOneof("action")
    if kind == "trajectory":
        return trajectory_from_proto(container.trajectory)
    if kind == "controls":
        return controls_from_proto(container.controls)
    return None


def trajectory_from_poses(poses_xyyaw: np.ndarray, dt_s: float = 0.5) -> TrajectoryAction:
    """(K, 3) ego-frame poses (x m, y m, yaw rad) at dt, 2 dt, ... as a TrajectoryAction."""
    poses = np.asarray(poses_xyyaw, dtype=np.float64)
    if poses.ndim != 2 or poses.shape[1] != 3:
        raise ActionError(f"poses must have shape (K, 3) (x, y, yaw in the ego frame), got {poses.shape}")
    k = np.arange(1, len(poses) + 1)
    m = round(dt_s / DT_S)
    t = (k * m) * DT_S if m >= 1 and abs(dt_s / DT_S - m) < 1e-9 else k * dt_s  # on the grid: as us_to_s gives
    return TrajectoryAction(np.ascontiguousarray(poses[:, :2]), np.ascontiguousarray(poses[:, 2]), t.astype(np.float64))


# Point2 {double x_m = 1; double y_m = 2;} as a repeated field, written with numpy: per point
# the field key, the length (18), then both doubles with their keys (fixed64 wire type).
_POINT2_WIRE = np.dtype([("key", "u1", (3,)), ("x", "<f8"), ("key_y", "u1"), ("y", "<f8")])


def _point2_field_bytes(field: int, xy: np.ndarray) -> bytes:
    """Wire bytes of `repeated Point2 <field>` holding the (N, 2) points (field < 16)."""
    arr = np.empty(len(xy), _POINT2_WIRE)
    arr["key"] = (field << 3 | 2, 18, _POINT2_X << 3 | 1)
    arr["key_y"] = _POINT2_Y << 3 | 1
    arr["x"] = xy[:, 0]
    arr["y"] = xy[:, 1]
    return arr.tobytes()


# ---- ego ----------------------------------------------------------------------------------------


def ego_to_proto(ego: EgoState, out: pb.EgoStatus, z_m: float = 0.0) -> None:
    c, s = math.cos(ego.yaw_rad), math.sin(ego.yaw_rad)
    out.pose_in_global.x_m = ego.x_m
    out.pose_in_global.y_m = ego.y_m
    out.pose_in_global.yaw_rad = ego.yaw_rad
    out.z_m = z_m
    out.speed_mps = ego.speed_mps
    out.accel_mps2 = ego.accel_mps2
    out.yaw_rate_radps = ego.yaw_rate_radps
    out.steer_rad = ego.steer_rad
    out.velocity_in_ego_mps.x_m = ego.speed_mps
    out.velocity_in_ego_mps.y_m = 0.0
    out.velocity_in_global_mps.x_m = ego.speed_mps * c
    out.velocity_in_global_mps.y_m = ego.speed_mps * s
    out.acceleration_in_ego_mps2.x_m = ego.accel_mps2
    out.acceleration_in_ego_mps2.y_m = ego.speed_mps * ego.yaw_rate_radps


def ego_from_proto(msg: pb.EgoStatus) -> EgoState:
    p = msg.pose_in_global
    return EgoState(x_m=p.x_m, y_m=p.y_m, yaw_rad=p.yaw_rad, speed_mps=msg.speed_mps, accel_mps2=msg.accel_mps2,
                    steer_rad=msg.steer_rad, yaw_rate_radps=msg.yaw_rate_radps)


# ---- images -------------------------------------------------------------------------------------


def encode_rgb(rgb: np.ndarray, encoding: int, jpeg_quality: int = 90) -> bytes:
    """(H, W, 3) uint8 -> bytes in the wire encoding."""
    if encoding in (pb.IMAGE_ENCODING_RAW_RGB8, pb.IMAGE_ENCODING_UNSPECIFIED):
        return np.ascontiguousarray(rgb, dtype=np.uint8).tobytes()
    from PIL import Image

    buffer = io.BytesIO()
    if encoding == pb.IMAGE_ENCODING_JPEG:
        Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).save(buffer, format="JPEG",
                                                                        quality=int(jpeg_quality))
    elif encoding == pb.IMAGE_ENCODING_PNG:
        Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).save(buffer, format="PNG", compress_level=1)
    else:
        raise MessageError(f"unknown image encoding {encoding}; use RAW_RGB8, JPEG or PNG")
    return buffer.getvalue()


def decode_rgb(msg: pb.CameraImage) -> np.ndarray:
    """A CameraImage's bytes -> (H, W, 3) uint8 (read-only for raw images: no copy)."""
    h, w = int(msg.height), int(msg.width)
    if msg.encoding in (pb.IMAGE_ENCODING_RAW_RGB8, pb.IMAGE_ENCODING_UNSPECIFIED):
        if len(msg.data) != h * w * 3:
            raise MessageError(f"camera {msg.name!r}: RAW_RGB8 data has {len(msg.data)} bytes, expected "
                               f"height*width*3 = {h * w * 3}")
        return np.frombuffer(msg.data, dtype=np.uint8).reshape(h, w, 3)
    if msg.encoding in (pb.IMAGE_ENCODING_JPEG, pb.IMAGE_ENCODING_PNG):
        from PIL import Image

        try:
            with Image.open(io.BytesIO(msg.data)) as im:
                if im.size != (w, h):  # checked before decoding any pixel
                    raise MessageError(f"camera {msg.name!r}: the encoded image is {im.size[0]}x{im.size[1]}, the "
                                       f"header says {w}x{h}")
                image = np.asarray(im.convert("RGB"))
        except MessageError:
            raise
        except Exception as err:  # PIL raises many types for corrupt files
            raise MessageError(f"camera {msg.name!r}: cannot decode the image bytes ({type(err).__name__}: {err})") \
                from None
        return image
    raise MessageError(f"camera {msg.name!r}: unknown image encoding {msg.encoding}")


def _channel(data: bytes, h: int, w: int, name: str, what: str) -> np.ndarray:
    if len(data) != h * w * 4:
        raise MessageError(f"camera {name!r}: {what} has {len(data)} bytes, expected height*width*4 = {h * w * 4}")
    return np.frombuffer(data, dtype="<f4").reshape(h, w)


def images_to_proto(images: CameraImages, out, encoding: int, jpeg_quality: int = 90, depth: bool = False,
                    alpha: bool = False) -> None:
    """Append one CameraImage per camera to the repeated field `out`."""
    rgb = images.rgb
    h, w = int(rgb.shape[1]), int(rgb.shape[2])
    enc = pb.IMAGE_ENCODING_RAW_RGB8 if encoding == pb.IMAGE_ENCODING_UNSPECIFIED else encoding
    for c, name in enumerate(images.names):
        msg = out.add(name=str(name), width=w, height=h, encoding=enc, data=encode_rgb(rgb[c], enc, jpeg_quality))
        msg.intrinsics.extend(np.asarray(images.intrinsics[c], np.float64).ravel().tolist())
        msg.pose_camera_to_ego.extend(np.asarray(images.pose_camera_to_ego[c], np.float64).ravel().tolist())
        if depth:
            msg.depth_m_f32 = np.ascontiguousarray(images.depth_m[c], dtype="<f4").tobytes()
        if alpha:
            msg.alpha_f32 = np.ascontiguousarray(images.alpha[c], dtype="<f4").tobytes()


def images_from_proto(msgs, wire: "WireImages | None" = None) -> tuple[CameraImages | None, bool, bool]:
    """CameraImages of a repeated CameraImage field (None when empty), and whether depth and
    alpha were sent (missing channels are read-only zeros). Every header is checked before
    anything is allocated or decoded, so a lying header cannot make the receiver allocate
    gigabytes. With `wire` (the spans of the bulk fields in the received bytes), raw channels
    are copied once, straight from the received buffer."""
    if len(msgs) == 0:
        return None, False, False
    if wire is not None and len(wire.spans) != len(msgs):
        wire = None  # cannot happen for bytes we parsed ourselves; be safe
    h, w = int(msgs[0].height), int(msgs[0].width)
    c = len(msgs)
    if not (0 < h <= MAX_IMAGE_SIDE_PX and 0 < w <= MAX_IMAGE_SIDE_PX):
        raise MessageError(f"camera {msgs[0].name!r}: size {w}x{h} is out of range (1..{MAX_IMAGE_SIDE_PX} pixels)")
    if c * h * w * 11 > MAX_DECODED_BYTES:
        raise MessageError(f"{c} images of {w}x{h} would decode to more than {MAX_DECODED_BYTES >> 20} MiB")
    def size(i: int, field: int, m, name: str) -> int:
        if wire is not None:
            start, end = wire.spans[i].get(field, (0, 0))
            return end - start
        return len(getattr(m, name))

    has_depth = all(size(i, _CAMERA_DEPTH, m, "depth_m_f32") for i, m in enumerate(msgs))
    has_alpha = all(size(i, _CAMERA_ALPHA, m, "alpha_f32") for i, m in enumerate(msgs))
    for i, m in enumerate(msgs):
        if (int(m.height), int(m.width)) != (h, w):
            raise MessageError(f"camera {m.name!r} is {m.width}x{m.height}, the others {w}x{h}; all images of one "
                               "observation must have the same size")
        if len(m.intrinsics) != 9 or len(m.pose_camera_to_ego) != 16:
            raise MessageError(f"camera {m.name!r}: intrinsics needs 9 values and pose_camera_to_ego 16 (row-major), "
                               f"got {len(m.intrinsics)} and {len(m.pose_camera_to_ego)}")
        if not (all(math.isfinite(v) for v in m.intrinsics) and all(math.isfinite(v) for v in m.pose_camera_to_ego)):
            raise MessageError(f"camera {m.name!r}: intrinsics or pose_camera_to_ego has NaN or infinite values")
        raw = m.encoding in (pb.IMAGE_ENCODING_RAW_RGB8, pb.IMAGE_ENCODING_UNSPECIFIED)
        raw_bytes = size(i, _CAMERA_DATA, m, "data") if raw else 0
        if raw and raw_bytes != h * w * 3:
            raise MessageError(f"camera {m.name!r}: RAW_RGB8 data has {raw_bytes} bytes, expected "
                               f"height*width*3 = {h * w * 3}")
        for number, what, sent in ((_CAMERA_DEPTH, "depth_m_f32", has_depth),
                                   (_CAMERA_ALPHA, "alpha_f32", has_alpha)):
            n = size(i, number, m, what) if sent else 0
            if n and n != h * w * 4:
                raise MessageError(f"camera {m.name!r}: {what} has {n} bytes, expected height*width*4 = {h * w * 4}")
    rgb = np.empty((c, h, w, 3), np.uint8)
    depth = np.empty((c, h, w), np.float32) if has_depth else np.broadcast_to(np.float32(0.0), (c, h, w))
    alpha = np.empty((c, h, w), np.float32) if has_alpha else np.broadcast_to(np.float32(0.0), (c, h, w))
    ks = np.empty((c, 3, 3))
    poses = np.empty((c, 4, 4))
    for i, m in enumerate(msgs):
        if wire is not None and m.encoding in (pb.IMAGE_ENCODING_RAW_RGB8, pb.IMAGE_ENCODING_UNSPECIFIED):
            rgb[i] = wire.array(i, _CAMERA_DATA, np.uint8).reshape(h, w, 3)
        else:
            rgb[i] = decode_rgb(m)
        ks[i] = np.asarray(m.intrinsics, np.float64).reshape(3, 3)
        poses[i] = np.asarray(m.pose_camera_to_ego, np.float64).reshape(4, 4)
        if has_depth:
            depth[i] = wire.array(i, _CAMERA_DEPTH, "<f4").reshape(h, w) if wire is not None else \
                _channel(m.depth_m_f32, h, w, m.name, "depth_m_f32")
        if has_alpha:
            alpha[i] = wire.array(i, _CAMERA_ALPHA, "<f4").reshape(h, w) if wire is not None else \
                _channel(m.alpha_f32, h, w, m.name, "alpha_f32")
    names = np.array([m.name for m in msgs], dtype=object)
    return CameraImages(names, rgb, depth, alpha, ks, poses), has_depth, has_alpha


# ---- privileged ground truth -----------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class GroundTruth:
    """Privileged ground truth at one step, ego frame. N actors, L lanes.

    - actor_ids: (N,) str; actor_kind: (N,) int8 ActorKind; actor_category: (N,) str.
    - actor_xy_in_ego: (N, 2) box centres, metres; actor_yaw_in_ego_rad: (N,).
    - actor_size_wlh_m: (N, 3) width, length, height (nuScenes order).
    - actor_speed_mps: (N,) along heading; actor_velocity_in_ego_mps: (N, 2).
    - lanes: tuple of Lane (id, centerline_in_ego (P, 2), width_m, is_connector, on_route).
    """

    actor_ids: np.ndarray
    actor_kind: np.ndarray
    actor_category: np.ndarray
    actor_xy_in_ego: np.ndarray
    actor_yaw_in_ego_rad: np.ndarray
    actor_size_wlh_m: np.ndarray
    actor_speed_mps: np.ndarray
    actor_velocity_in_ego_mps: np.ndarray
    lanes: tuple["Lane", ...] = ()


@dataclass(frozen=True, eq=False)
class Lane:
    """A lane near the ego: centerline_in_ego (P, 2) metres in driving order."""

    id: str
    centerline_in_ego: np.ndarray
    width_m: float
    is_connector: bool
    on_route: bool


def _to_ego(xy: np.ndarray, ego: EgoState) -> np.ndarray:
    c, s = math.cos(ego.yaw_rad), math.sin(ego.yaw_rad)
    d = np.asarray(xy, np.float64) - np.array([ego.x_m, ego.y_m])
    return np.stack([c * d[..., 0] + s * d[..., 1], -s * d[..., 0] + c * d[..., 1]], -1)


def ground_truth_to_proto(scenario: Scenario, state: WorldState, out: pb.GroundTruth,
                          lane_radius_m: float = DEFAULT_LANE_RADIUS_M) -> None:
    """Fill a GroundTruth message with the valid actors and the lanes near the ego (ego frame)."""
    ego, act, tracks = state.ego, state.actors, scenario.actors
    rows = np.flatnonzero(act.valid)
    xy = _to_ego(act.xy[rows], ego)
    yaw = wrap_angle(act.yaw_rad[rows] - ego.yaw_rad)
    vel = act.speed_mps[rows, None] * np.stack([np.cos(yaw), np.sin(yaw)], -1)
    for i, r in enumerate(rows.tolist()):
        w, length, h = tracks.size_wlh_m[r].tolist()
        box = out.actors.add(id=str(tracks.instance_tokens[r]), kind=_ACTOR_KIND_TO_PB.get(int(tracks.kind[r]), 0),
                             category=str(tracks.category[r]), yaw_in_ego_rad=float(yaw[i]), width_m=w,
                             length_m=length, height_m=h, speed_mps=float(act.speed_mps[r]))
        box.center_in_ego.x_m, box.center_in_ego.y_m = float(xy[i, 0]), float(xy[i, 1])
        box.velocity_in_ego_mps.x_m, box.velocity_in_ego_mps.y_m = float(vel[i, 0]), float(vel[i, 1])
    lanes = scenario.map.lanes
    if lanes.num_lanes == 0 or lane_radius_m <= 0:
        return
    near = np.linalg.norm(lanes.centerline_xy - np.array([ego.x_m, ego.y_m]), axis=1) <= lane_radius_m
    route = set(int(i) for i in scenario.route.lane_indices)
    lane_of_point = np.repeat(np.arange(lanes.num_lanes), np.diff(lanes.offsets))
    for lane in np.unique(lane_of_point[near]).tolist():
        lo, hi = int(lanes.offsets[lane]), int(lanes.offsets[lane + 1])
        pts = _to_ego(lanes.centerline_xy[lo:hi][near[lo:hi]], ego)
        msg = out.lanes.add(id=str(lanes.tokens[lane]), width_m=float(lanes.width_m[lane]),
                            is_connector=bool(lanes.is_connector[lane]), on_route=lane in route)
        msg.centerline_in_ego.extend(pb.Point2(x_m=x, y_m=y) for x, y in pts.tolist())


def ground_truth_from_proto(msg: pb.GroundTruth) -> GroundTruth:
    a = msg.actors
    n = len(a)
    return GroundTruth(
        actor_ids=np.array([b.id for b in a], dtype=object),
        actor_kind=np.array([int(_ACTOR_KIND_FROM_PB.get(b.kind, ActorKind.VEHICLE)) for b in a], np.int8),
        actor_category=np.array([b.category for b in a], dtype=object),
        actor_xy_in_ego=np.array([(b.center_in_ego.x_m, b.center_in_ego.y_m) for b in a], np.float64).reshape(n, 2),
        actor_yaw_in_ego_rad=np.array([b.yaw_in_ego_rad for b in a], np.float64),
        actor_size_wlh_m=np.array([(b.width_m, b.length_m, b.height_m) for b in a], np.float64).reshape(n, 3),
        actor_speed_mps=np.array([b.speed_mps for b in a], np.float64),
        actor_velocity_in_ego_mps=np.array([(b.velocity_in_ego_mps.x_m, b.velocity_in_ego_mps.y_m) for b in a],
                                           np.float64).reshape(n, 2),
        lanes=tuple(Lane(m.id, np.array([(p.x_m, p.y_m) for p in m.centerline_in_ego], np.float64).reshape(-1, 2),
                         m.width_m, m.is_connector, m.on_route) for m in msg.lanes))


# ---- observations -------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class RemoteObservation(Observation):
    """An Observation that came over the wire: no scenario/state, but possibly ground truth.

    - scenario_name: the scenario's name.
    - ground_truth: GroundTruth when the session asked for privileged inputs, else None.
    - has_depth / has_alpha: whether images.depth_m / images.alpha were sent (else zeros).
    - z_m: ground height under the ego (global z, metres).
    """

    scenario_name: str = ""
    ground_truth: GroundTruth | None = field(default=None, repr=False)
    has_depth: bool = False
    has_alpha: bool = False
    z_m: float = 0.0


def observation_to_proto(obs: Observation, out: pb.Observation | None = None, *, scenario_name: str = "",
                         encoding: int = pb.IMAGE_ENCODING_RAW_RGB8, jpeg_quality: int = 90, depth: bool = False,
                         alpha: bool = False, privileged: bool = False,
                         lane_radius_m: float = DEFAULT_LANE_RADIUS_M, include_images: bool = True) -> pb.Observation:
    """An engine Observation as a message. Ground truth is included only when `privileged` and
    the observation carries its scenario and state (or is a RemoteObservation with ground truth).
    `include_images=False` leaves the images out (for the fast path, `image_payloads`)."""
    out = pb.Observation() if out is None else out
    out.t_us = int(obs.t_us)
    out.step_index = int(obs.step_index)
    z = float(getattr(obs, "z_m", 0.0))
    if obs.scenario is not None:
        sc = obs.scenario
        k = min(max(int(obs.step_index), 0), sc.num_steps - 1)
        z = float(sc.ego.z[k])
        scenario_name = scenario_name or sc.name
    out.scenario_name = scenario_name or getattr(obs, "scenario_name", "")
    ego_to_proto(obs.ego, out.ego, z)
    out.driving_command = _COMMAND_TO_PB.get(int(obs.driving_command), pb.DRIVING_COMMAND_UNSPECIFIED)
    route = np.asarray(obs.route_xy_in_ego, np.float64).reshape(-1, 2)
    if len(route):
        out.MergeFromString(_point2_field_bytes(_OBSERVATION_ROUTE, route))  # ~10x faster than .add
    if obs.images is not None and include_images:
        images_to_proto(obs.images, out.images, encoding, jpeg_quality, depth, alpha)
    if privileged:
        if obs.scenario is not None and obs.state is not None:
            ground_truth_to_proto(obs.scenario, obs.state, out.ground_truth, lane_radius_m)
        elif isinstance(obs, RemoteObservation) and obs.ground_truth is not None:
            ground_truth_into_proto(obs.ground_truth, out.ground_truth)
    return out


def ground_truth_into_proto(gt: GroundTruth, out: pb.GroundTruth) -> None:
    """Re-serialise a GroundTruth that came from the wire (for forwarding to a policy)."""
    kinds = {int(k): v for k, v in _ACTOR_KIND_TO_PB.items()}
    for i in range(len(gt.actor_ids)):
        w, length, h = gt.actor_size_wlh_m[i].tolist()
        box = out.actors.add(id=str(gt.actor_ids[i]), kind=kinds.get(int(gt.actor_kind[i]), 0),
                             category=str(gt.actor_category[i]), yaw_in_ego_rad=float(gt.actor_yaw_in_ego_rad[i]),
                             width_m=w, length_m=length, height_m=h, speed_mps=float(gt.actor_speed_mps[i]))
        box.center_in_ego.x_m, box.center_in_ego.y_m = gt.actor_xy_in_ego[i].tolist()
        box.velocity_in_ego_mps.x_m, box.velocity_in_ego_mps.y_m = gt.actor_velocity_in_ego_mps[i].tolist()
    for lane in gt.lanes:
        msg = out.lanes.add(id=lane.id, width_m=lane.width_m, is_connector=lane.is_connector, on_route=lane.on_route)
        msg.centerline_in_ego.extend(pb.Point2(x_m=x, y_m=y) for x, y in lane.centerline_in_ego.tolist())


def observation_from_proto(msg: pb.Observation, wire: "WireImages | None" = None) -> RemoteObservation:
    """A message as a RemoteObservation (an `sim.types.observation.Observation`); MessageError when malformed."""
    if not msg.HasField("ego"):
        raise MessageError("observation has no ego status; set Observation.ego")
    ego = ego_from_proto(msg.ego)
    if not all(math.isfinite(v) for v in (ego.x_m, ego.y_m, ego.yaw_rad, ego.speed_mps, ego.accel_mps2,
                                          ego.steer_rad, ego.yaw_rate_radps, msg.ego.z_m)):
        raise MessageError(f"observation ego status has NaN or infinite values: {ego}")
    route = np.array([(p.x_m, p.y_m) for p in msg.route_in_ego], np.float64).reshape(-1, 2)
    if not np.all(np.isfinite(route)):
        raise MessageError("observation route_in_ego has NaN or infinite points")
    images, has_depth, has_alpha = images_from_proto(msg.images, wire)
    return RemoteObservation(
        t_us=int(msg.t_us), step_index=int(msg.step_index), ego=ego,
        driving_command=_COMMAND_FROM_PB.get(msg.driving_command, DrivingCommand.STRAIGHT),
        route_xy_in_ego=route, images=images, scenario=None, state=None, scenario_name=msg.scenario_name,
        ground_truth=ground_truth_from_proto(msg.ground_truth) if msg.HasField("ground_truth") else None,
        has_depth=has_depth, has_alpha=has_alpha, z_m=float(msg.ego.z_m))


# ---- the fast path for bulk image bytes --------------------------------------------------------
#
# Serialising a 6-camera observation through the protobuf runtime copies every image three
# times (tobytes, into the message, into the serialised buffer) and grows the buffer as it
# goes. Instead, the image-free part of a message is serialised normally and the images are
# appended in the standard wire format (length-delimited fields; field order is free) from
# memoryviews of the numpy arrays: one copy. The bytes are an ordinary protobuf message that
# any client parses. On receipt, the spans of the bulk fields are located in the received
# buffer and copied once into numpy arrays.


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(field: int, wire_type: int = 2) -> bytes:
    return _varint(field << 3 | wire_type)


@dataclass(frozen=True, eq=False)
class ImagePayload:
    """One camera for the fast path: `meta` (a CameraImage without its bulk fields) and the
    bulk fields as bytes-like objects (data, and depth / alpha or None)."""

    meta: pb.CameraImage
    data: object
    depth: object | None = None
    alpha: object | None = None

    def parts(self) -> list:
        parts = [self.meta.SerializeToString()]
        for number, blob in ((_CAMERA_DATA, self.data), (_CAMERA_DEPTH, self.depth), (_CAMERA_ALPHA, self.alpha)):
            if blob is not None and len(blob):
                parts += [_key(number), _varint(len(blob)), blob]
        return parts


def image_payloads(images: CameraImages, encoding: int, jpeg_quality: int = 90, depth: bool = False,
                   alpha: bool = False) -> list[ImagePayload]:
    """The fast-path payloads of CameraImages (raw channels are views, not copies)."""
    h, w = int(images.rgb.shape[1]), int(images.rgb.shape[2])
    enc = pb.IMAGE_ENCODING_RAW_RGB8 if encoding == pb.IMAGE_ENCODING_UNSPECIFIED else encoding
    out = []
    for c, name in enumerate(images.names):
        meta = pb.CameraImage(name=str(name), width=w, height=h, encoding=enc)
        meta.intrinsics.extend(np.asarray(images.intrinsics[c], np.float64).ravel().tolist())
        meta.pose_camera_to_ego.extend(np.asarray(images.pose_camera_to_ego[c], np.float64).ravel().tolist())
        if enc == pb.IMAGE_ENCODING_RAW_RGB8:
            data = memoryview(np.ascontiguousarray(images.rgb[c], dtype=np.uint8)).cast("B")
        else:
            data = encode_rgb(images.rgb[c], enc, jpeg_quality)
        out.append(ImagePayload(
            meta, data,
            memoryview(np.ascontiguousarray(images.depth_m[c], dtype="<f4")).cast("B") if depth else None,
            memoryview(np.ascontiguousarray(images.alpha[c], dtype="<f4")).cast("B") if alpha else None))
    return out


def serialize_with_observation(rest: bytes, observation_field: int, observation: pb.Observation,
                               payloads: list[ImagePayload]) -> bytes:
    """Bytes of a message: `rest` (the message serialised without its observation) plus the
    observation field (`observation` serialised without images, plus the payloads as its
    `images`)."""
    obs_parts = [observation.SerializeToString()]
    for payload in payloads:
        inner = payload.parts()
        obs_parts += [_key(_OBSERVATION_IMAGES), _varint(sum(len(p) for p in inner)), *inner]
    obs_len = sum(len(p) for p in obs_parts)
    return b"".join([rest, _key(observation_field), _varint(obs_len), *obs_parts])


def _read_varint(buf, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise MessageError("truncated or malformed varint in the message")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7


def _fields(buf, start: int, end: int):
    """(field number, start, end) of each length-delimited field in buf[start:end]."""
    i = start
    while i < end:
        key, i = _read_varint(buf, i)
        wire_type = key & 7
        if wire_type == 0:
            _, i = _read_varint(buf, i)
        elif wire_type == 1:
            i += 8
        elif wire_type == 5:
            i += 4
        elif wire_type == 2:
            n, i = _read_varint(buf, i)
            if i + n > end:
                raise MessageError("a length-delimited field runs past the end of the message")
            yield key >> 3, i, i + n
            i += n
        else:
            raise MessageError(f"unsupported wire type {wire_type} in the message")


@dataclass(frozen=True, eq=False)
class WireImages:
    """Where each received CameraImage's bulk fields lie in the received buffer: spans[i] maps
    field number (of data, depth_m_f32, alpha_f32) -> (start, end)."""

    buffer: bytes
    spans: list[dict[int, tuple[int, int]]]

    def array(self, i: int, field: int, dtype) -> np.ndarray:
        start, end = self.spans[i][field]
        dt = np.dtype(dtype)
        return np.frombuffer(self.buffer, dtype=dt, count=(end - start) // dt.itemsize, offset=start)


def wire_images(buffer: bytes, observation_field: int) -> WireImages:
    """Locate the image bulk fields of the observation(s) at `observation_field` of a message."""
    spans = []
    for field_number, start, end in _fields(buffer, 0, len(buffer)):
        if field_number != observation_field:
            continue
        for f2, s2, e2 in _fields(buffer, start, end):
            if f2 != _OBSERVATION_IMAGES:
                continue
            spans.append({f3: (s3, e3) for f3, s3, e3 in _fields(buffer, s2, e2)
                          if f3 in (_CAMERA_DATA, _CAMERA_DEPTH, _CAMERA_ALPHA)})
    return WireImages(buffer, spans)

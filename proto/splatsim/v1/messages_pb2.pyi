from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DrivingCommand(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DRIVING_COMMAND_UNSPECIFIED: _ClassVar[DrivingCommand]
    DRIVING_COMMAND_LEFT: _ClassVar[DrivingCommand]
    DRIVING_COMMAND_STRAIGHT: _ClassVar[DrivingCommand]
    DRIVING_COMMAND_RIGHT: _ClassVar[DrivingCommand]

class ImageEncoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IMAGE_ENCODING_UNSPECIFIED: _ClassVar[ImageEncoding]
    IMAGE_ENCODING_RAW_RGB8: _ClassVar[ImageEncoding]
    IMAGE_ENCODING_JPEG: _ClassVar[ImageEncoding]
    IMAGE_ENCODING_PNG: _ClassVar[ImageEncoding]

class ActorKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTOR_KIND_UNSPECIFIED: _ClassVar[ActorKind]
    ACTOR_KIND_VEHICLE: _ClassVar[ActorKind]
    ACTOR_KIND_PEDESTRIAN: _ClassVar[ActorKind]
    ACTOR_KIND_CYCLIST: _ClassVar[ActorKind]
    ACTOR_KIND_STATIC: _ClassVar[ActorKind]
DRIVING_COMMAND_UNSPECIFIED: DrivingCommand
DRIVING_COMMAND_LEFT: DrivingCommand
DRIVING_COMMAND_STRAIGHT: DrivingCommand
DRIVING_COMMAND_RIGHT: DrivingCommand
IMAGE_ENCODING_UNSPECIFIED: ImageEncoding
IMAGE_ENCODING_RAW_RGB8: ImageEncoding
IMAGE_ENCODING_JPEG: ImageEncoding
IMAGE_ENCODING_PNG: ImageEncoding
ACTOR_KIND_UNSPECIFIED: ActorKind
ACTOR_KIND_VEHICLE: ActorKind
ACTOR_KIND_PEDESTRIAN: ActorKind
ACTOR_KIND_CYCLIST: ActorKind
ACTOR_KIND_STATIC: ActorKind

class Point2(_message.Message):
    __slots__ = ("x_m", "y_m")
    X_M_FIELD_NUMBER: _ClassVar[int]
    Y_M_FIELD_NUMBER: _ClassVar[int]
    x_m: float
    y_m: float
    def __init__(self, x_m: _Optional[float] = ..., y_m: _Optional[float] = ...) -> None: ...

class Pose2(_message.Message):
    __slots__ = ("x_m", "y_m", "yaw_rad")
    X_M_FIELD_NUMBER: _ClassVar[int]
    Y_M_FIELD_NUMBER: _ClassVar[int]
    YAW_RAD_FIELD_NUMBER: _ClassVar[int]
    x_m: float
    y_m: float
    yaw_rad: float
    def __init__(self, x_m: _Optional[float] = ..., y_m: _Optional[float] = ..., yaw_rad: _Optional[float] = ...) -> None: ...

class EgoStatus(_message.Message):
    __slots__ = ("pose_in_global", "z_m", "speed_mps", "accel_mps2", "yaw_rate_radps", "steer_rad", "velocity_in_ego_mps", "velocity_in_global_mps", "acceleration_in_ego_mps2")
    POSE_IN_GLOBAL_FIELD_NUMBER: _ClassVar[int]
    Z_M_FIELD_NUMBER: _ClassVar[int]
    SPEED_MPS_FIELD_NUMBER: _ClassVar[int]
    ACCEL_MPS2_FIELD_NUMBER: _ClassVar[int]
    YAW_RATE_RADPS_FIELD_NUMBER: _ClassVar[int]
    STEER_RAD_FIELD_NUMBER: _ClassVar[int]
    VELOCITY_IN_EGO_MPS_FIELD_NUMBER: _ClassVar[int]
    VELOCITY_IN_GLOBAL_MPS_FIELD_NUMBER: _ClassVar[int]
    ACCELERATION_IN_EGO_MPS2_FIELD_NUMBER: _ClassVar[int]
    pose_in_global: Pose2
    z_m: float
    speed_mps: float
    accel_mps2: float
    yaw_rate_radps: float
    steer_rad: float
    velocity_in_ego_mps: Point2
    velocity_in_global_mps: Point2
    acceleration_in_ego_mps2: Point2
    def __init__(self, pose_in_global: _Optional[_Union[Pose2, _Mapping]] = ..., z_m: _Optional[float] = ..., speed_mps: _Optional[float] = ..., accel_mps2: _Optional[float] = ..., yaw_rate_radps: _Optional[float] = ..., steer_rad: _Optional[float] = ..., velocity_in_ego_mps: _Optional[_Union[Point2, _Mapping]] = ..., velocity_in_global_mps: _Optional[_Union[Point2, _Mapping]] = ..., acceleration_in_ego_mps2: _Optional[_Union[Point2, _Mapping]] = ...) -> None: ...

class CameraImage(_message.Message):
    __slots__ = ("name", "width", "height", "encoding", "data", "intrinsics", "pose_camera_to_ego", "depth_m_f32", "alpha_f32", "semantic_u8")
    NAME_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    INTRINSICS_FIELD_NUMBER: _ClassVar[int]
    POSE_CAMERA_TO_EGO_FIELD_NUMBER: _ClassVar[int]
    DEPTH_M_F32_FIELD_NUMBER: _ClassVar[int]
    ALPHA_F32_FIELD_NUMBER: _ClassVar[int]
    SEMANTIC_U8_FIELD_NUMBER: _ClassVar[int]
    name: str
    width: int
    height: int
    encoding: ImageEncoding
    data: bytes
    intrinsics: _containers.RepeatedScalarFieldContainer[float]
    pose_camera_to_ego: _containers.RepeatedScalarFieldContainer[float]
    depth_m_f32: bytes
    alpha_f32: bytes
    semantic_u8: bytes
    def __init__(self, name: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., encoding: _Optional[_Union[ImageEncoding, str]] = ..., data: _Optional[bytes] = ..., intrinsics: _Optional[_Iterable[float]] = ..., pose_camera_to_ego: _Optional[_Iterable[float]] = ..., depth_m_f32: _Optional[bytes] = ..., alpha_f32: _Optional[bytes] = ..., semantic_u8: _Optional[bytes] = ...) -> None: ...

class ActorBox(_message.Message):
    __slots__ = ("id", "kind", "category", "center_in_ego", "yaw_in_ego_rad", "width_m", "length_m", "height_m", "speed_mps", "velocity_in_ego_mps")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    CENTER_IN_EGO_FIELD_NUMBER: _ClassVar[int]
    YAW_IN_EGO_RAD_FIELD_NUMBER: _ClassVar[int]
    WIDTH_M_FIELD_NUMBER: _ClassVar[int]
    LENGTH_M_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_M_FIELD_NUMBER: _ClassVar[int]
    SPEED_MPS_FIELD_NUMBER: _ClassVar[int]
    VELOCITY_IN_EGO_MPS_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: ActorKind
    category: str
    center_in_ego: Point2
    yaw_in_ego_rad: float
    width_m: float
    length_m: float
    height_m: float
    speed_mps: float
    velocity_in_ego_mps: Point2
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[_Union[ActorKind, str]] = ..., category: _Optional[str] = ..., center_in_ego: _Optional[_Union[Point2, _Mapping]] = ..., yaw_in_ego_rad: _Optional[float] = ..., width_m: _Optional[float] = ..., length_m: _Optional[float] = ..., height_m: _Optional[float] = ..., speed_mps: _Optional[float] = ..., velocity_in_ego_mps: _Optional[_Union[Point2, _Mapping]] = ...) -> None: ...

class Lane(_message.Message):
    __slots__ = ("id", "centerline_in_ego", "width_m", "is_connector", "on_route")
    ID_FIELD_NUMBER: _ClassVar[int]
    CENTERLINE_IN_EGO_FIELD_NUMBER: _ClassVar[int]
    WIDTH_M_FIELD_NUMBER: _ClassVar[int]
    IS_CONNECTOR_FIELD_NUMBER: _ClassVar[int]
    ON_ROUTE_FIELD_NUMBER: _ClassVar[int]
    id: str
    centerline_in_ego: _containers.RepeatedCompositeFieldContainer[Point2]
    width_m: float
    is_connector: bool
    on_route: bool
    def __init__(self, id: _Optional[str] = ..., centerline_in_ego: _Optional[_Iterable[_Union[Point2, _Mapping]]] = ..., width_m: _Optional[float] = ..., is_connector: _Optional[bool] = ..., on_route: _Optional[bool] = ...) -> None: ...

class GroundTruth(_message.Message):
    __slots__ = ("actors", "lanes")
    ACTORS_FIELD_NUMBER: _ClassVar[int]
    LANES_FIELD_NUMBER: _ClassVar[int]
    actors: _containers.RepeatedCompositeFieldContainer[ActorBox]
    lanes: _containers.RepeatedCompositeFieldContainer[Lane]
    def __init__(self, actors: _Optional[_Iterable[_Union[ActorBox, _Mapping]]] = ..., lanes: _Optional[_Iterable[_Union[Lane, _Mapping]]] = ...) -> None: ...

class Observation(_message.Message):
    __slots__ = ("t_us", "step_index", "ego", "driving_command", "route_in_ego", "images", "ground_truth", "scenario_name")
    T_US_FIELD_NUMBER: _ClassVar[int]
    STEP_INDEX_FIELD_NUMBER: _ClassVar[int]
    EGO_FIELD_NUMBER: _ClassVar[int]
    DRIVING_COMMAND_FIELD_NUMBER: _ClassVar[int]
    ROUTE_IN_EGO_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    GROUND_TRUTH_FIELD_NUMBER: _ClassVar[int]
    SCENARIO_NAME_FIELD_NUMBER: _ClassVar[int]
    t_us: int
    step_index: int
    ego: EgoStatus
    driving_command: DrivingCommand
    route_in_ego: _containers.RepeatedCompositeFieldContainer[Point2]
    images: _containers.RepeatedCompositeFieldContainer[CameraImage]
    ground_truth: GroundTruth
    scenario_name: str
    def __init__(self, t_us: _Optional[int] = ..., step_index: _Optional[int] = ..., ego: _Optional[_Union[EgoStatus, _Mapping]] = ..., driving_command: _Optional[_Union[DrivingCommand, str]] = ..., route_in_ego: _Optional[_Iterable[_Union[Point2, _Mapping]]] = ..., images: _Optional[_Iterable[_Union[CameraImage, _Mapping]]] = ..., ground_truth: _Optional[_Union[GroundTruth, _Mapping]] = ..., scenario_name: _Optional[str] = ...) -> None: ...

class TrajectoryPoint(_message.Message):
    __slots__ = ("t_offset_us", "x_m", "y_m", "yaw_rad")
    T_OFFSET_US_FIELD_NUMBER: _ClassVar[int]
    X_M_FIELD_NUMBER: _ClassVar[int]
    Y_M_FIELD_NUMBER: _ClassVar[int]
    YAW_RAD_FIELD_NUMBER: _ClassVar[int]
    t_offset_us: int
    x_m: float
    y_m: float
    yaw_rad: float
    def __init__(self, t_offset_us: _Optional[int] = ..., x_m: _Optional[float] = ..., y_m: _Optional[float] = ..., yaw_rad: _Optional[float] = ...) -> None: ...

class Trajectory(_message.Message):
    __slots__ = ("points",)
    POINTS_FIELD_NUMBER: _ClassVar[int]
    points: _containers.RepeatedCompositeFieldContainer[TrajectoryPoint]
    def __init__(self, points: _Optional[_Iterable[_Union[TrajectoryPoint, _Mapping]]] = ...) -> None: ...

class Controls(_message.Message):
    __slots__ = ("accel_mps2", "steer_rad")
    ACCEL_MPS2_FIELD_NUMBER: _ClassVar[int]
    STEER_RAD_FIELD_NUMBER: _ClassVar[int]
    accel_mps2: float
    steer_rad: float
    def __init__(self, accel_mps2: _Optional[float] = ..., steer_rad: _Optional[float] = ...) -> None: ...

from proto.splatsim.v1 import messages_pb2 as _messages_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EndReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    END_REASON_UNSPECIFIED: _ClassVar[EndReason]
    END_REASON_ROUTE_COMPLETE: _ClassVar[EndReason]
    END_REASON_SCENARIO_END: _ClassVar[EndReason]
    END_REASON_MAX_STEPS: _ClassVar[EndReason]

class CollisionType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COLLISION_TYPE_NONE: _ClassVar[CollisionType]
    COLLISION_TYPE_STOPPED_EGO: _ClassVar[CollisionType]
    COLLISION_TYPE_STOPPED_TRACK: _ClassVar[CollisionType]
    COLLISION_TYPE_ACTIVE_FRONT: _ClassVar[CollisionType]
    COLLISION_TYPE_ACTIVE_REAR: _ClassVar[CollisionType]
    COLLISION_TYPE_ACTIVE_LATERAL: _ClassVar[CollisionType]

class EventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_TYPE_UNSPECIFIED: _ClassVar[EventType]
    EVENT_TYPE_COLLISION: _ClassVar[EventType]
    EVENT_TYPE_AT_FAULT_COLLISION: _ClassVar[EventType]
    EVENT_TYPE_OFF_ROAD: _ClassVar[EventType]
    EVENT_TYPE_BACK_ON_ROAD: _ClassVar[EventType]
    EVENT_TYPE_ROUTE_COMPLETE: _ClassVar[EventType]
END_REASON_UNSPECIFIED: EndReason
END_REASON_ROUTE_COMPLETE: EndReason
END_REASON_SCENARIO_END: EndReason
END_REASON_MAX_STEPS: EndReason
COLLISION_TYPE_NONE: CollisionType
COLLISION_TYPE_STOPPED_EGO: CollisionType
COLLISION_TYPE_STOPPED_TRACK: CollisionType
COLLISION_TYPE_ACTIVE_FRONT: CollisionType
COLLISION_TYPE_ACTIVE_REAR: CollisionType
COLLISION_TYPE_ACTIVE_LATERAL: CollisionType
EVENT_TYPE_UNSPECIFIED: EventType
EVENT_TYPE_COLLISION: EventType
EVENT_TYPE_AT_FAULT_COLLISION: EventType
EVENT_TYPE_OFF_ROAD: EventType
EVENT_TYPE_BACK_ON_ROAD: EventType
EVENT_TYPE_ROUTE_COMPLETE: EventType

class GetInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ServerInfo(_message.Message):
    __slots__ = ("contract_version", "server_version", "max_sessions", "active_sessions", "idle_timeout_ms", "max_message_bytes", "renderer_available", "step_us", "encodings")
    CONTRACT_VERSION_FIELD_NUMBER: _ClassVar[int]
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    MAX_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    IDLE_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    RENDERER_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    STEP_US_FIELD_NUMBER: _ClassVar[int]
    ENCODINGS_FIELD_NUMBER: _ClassVar[int]
    contract_version: int
    server_version: str
    max_sessions: int
    active_sessions: int
    idle_timeout_ms: int
    max_message_bytes: int
    renderer_available: bool
    step_us: int
    encodings: _containers.RepeatedScalarFieldContainer[_messages_pb2.ImageEncoding]
    def __init__(self, contract_version: _Optional[int] = ..., server_version: _Optional[str] = ..., max_sessions: _Optional[int] = ..., active_sessions: _Optional[int] = ..., idle_timeout_ms: _Optional[int] = ..., max_message_bytes: _Optional[int] = ..., renderer_available: _Optional[bool] = ..., step_us: _Optional[int] = ..., encodings: _Optional[_Iterable[_Union[_messages_pb2.ImageEncoding, str]]] = ...) -> None: ...

class ListScenariosRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ScenarioInfo(_message.Message):
    __slots__ = ("name", "source", "description", "duration_us", "num_actors", "num_steps", "camera_names")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DURATION_US_FIELD_NUMBER: _ClassVar[int]
    NUM_ACTORS_FIELD_NUMBER: _ClassVar[int]
    NUM_STEPS_FIELD_NUMBER: _ClassVar[int]
    CAMERA_NAMES_FIELD_NUMBER: _ClassVar[int]
    name: str
    source: str
    description: str
    duration_us: int
    num_actors: int
    num_steps: int
    camera_names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., source: _Optional[str] = ..., description: _Optional[str] = ..., duration_us: _Optional[int] = ..., num_actors: _Optional[int] = ..., num_steps: _Optional[int] = ..., camera_names: _Optional[_Iterable[str]] = ...) -> None: ...

class ListScenariosResponse(_message.Message):
    __slots__ = ("scenarios",)
    SCENARIOS_FIELD_NUMBER: _ClassVar[int]
    scenarios: _containers.RepeatedCompositeFieldContainer[ScenarioInfo]
    def __init__(self, scenarios: _Optional[_Iterable[_Union[ScenarioInfo, _Mapping]]] = ...) -> None: ...

class CameraSelection(_message.Message):
    __slots__ = ("names", "all_cameras", "width", "height", "encoding", "jpeg_quality", "depth", "alpha")
    NAMES_FIELD_NUMBER: _ClassVar[int]
    ALL_CAMERAS_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    JPEG_QUALITY_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    names: _containers.RepeatedScalarFieldContainer[str]
    all_cameras: bool
    width: int
    height: int
    encoding: _messages_pb2.ImageEncoding
    jpeg_quality: int
    depth: bool
    alpha: bool
    def __init__(self, names: _Optional[_Iterable[str]] = ..., all_cameras: _Optional[bool] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., encoding: _Optional[_Union[_messages_pb2.ImageEncoding, str]] = ..., jpeg_quality: _Optional[int] = ..., depth: _Optional[bool] = ..., alpha: _Optional[bool] = ...) -> None: ...

class CreateSessionRequest(_message.Message):
    __slots__ = ("scenario", "seed", "cameras", "reactive_actors", "privileged", "lane_radius_m", "start_step", "max_steps", "continue_after_route_end", "policy_name")
    SCENARIO_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    CAMERAS_FIELD_NUMBER: _ClassVar[int]
    REACTIVE_ACTORS_FIELD_NUMBER: _ClassVar[int]
    PRIVILEGED_FIELD_NUMBER: _ClassVar[int]
    LANE_RADIUS_M_FIELD_NUMBER: _ClassVar[int]
    START_STEP_FIELD_NUMBER: _ClassVar[int]
    MAX_STEPS_FIELD_NUMBER: _ClassVar[int]
    CONTINUE_AFTER_ROUTE_END_FIELD_NUMBER: _ClassVar[int]
    POLICY_NAME_FIELD_NUMBER: _ClassVar[int]
    scenario: str
    seed: int
    cameras: CameraSelection
    reactive_actors: bool
    privileged: bool
    lane_radius_m: float
    start_step: int
    max_steps: int
    continue_after_route_end: bool
    policy_name: str
    def __init__(self, scenario: _Optional[str] = ..., seed: _Optional[int] = ..., cameras: _Optional[_Union[CameraSelection, _Mapping]] = ..., reactive_actors: _Optional[bool] = ..., privileged: _Optional[bool] = ..., lane_radius_m: _Optional[float] = ..., start_step: _Optional[int] = ..., max_steps: _Optional[int] = ..., continue_after_route_end: _Optional[bool] = ..., policy_name: _Optional[str] = ...) -> None: ...

class CreateSessionResponse(_message.Message):
    __slots__ = ("session_id", "scenario", "idle_timeout_ms")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SCENARIO_FIELD_NUMBER: _ClassVar[int]
    IDLE_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    scenario: ScenarioInfo
    idle_timeout_ms: int
    def __init__(self, session_id: _Optional[str] = ..., scenario: _Optional[_Union[ScenarioInfo, _Mapping]] = ..., idle_timeout_ms: _Optional[int] = ...) -> None: ...

class ResetRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class StepRequest(_message.Message):
    __slots__ = ("session_id", "trajectory", "controls", "observation_step_index")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TRAJECTORY_FIELD_NUMBER: _ClassVar[int]
    CONTROLS_FIELD_NUMBER: _ClassVar[int]
    OBSERVATION_STEP_INDEX_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    trajectory: _messages_pb2.Trajectory
    controls: _messages_pb2.Controls
    observation_step_index: int
    def __init__(self, session_id: _Optional[str] = ..., trajectory: _Optional[_Union[_messages_pb2.Trajectory, _Mapping]] = ..., controls: _Optional[_Union[_messages_pb2.Controls, _Mapping]] = ..., observation_step_index: _Optional[int] = ...) -> None: ...

class StepMetrics(_message.Message):
    __slots__ = ("collision", "collided_actor_id", "collision_type", "at_fault_collision", "impact_speed_mps", "off_road", "ttc_s", "route_s_m", "route_progress_m", "route_completion")
    COLLISION_FIELD_NUMBER: _ClassVar[int]
    COLLIDED_ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    COLLISION_TYPE_FIELD_NUMBER: _ClassVar[int]
    AT_FAULT_COLLISION_FIELD_NUMBER: _ClassVar[int]
    IMPACT_SPEED_MPS_FIELD_NUMBER: _ClassVar[int]
    OFF_ROAD_FIELD_NUMBER: _ClassVar[int]
    TTC_S_FIELD_NUMBER: _ClassVar[int]
    ROUTE_S_M_FIELD_NUMBER: _ClassVar[int]
    ROUTE_PROGRESS_M_FIELD_NUMBER: _ClassVar[int]
    ROUTE_COMPLETION_FIELD_NUMBER: _ClassVar[int]
    collision: bool
    collided_actor_id: str
    collision_type: CollisionType
    at_fault_collision: bool
    impact_speed_mps: float
    off_road: bool
    ttc_s: float
    route_s_m: float
    route_progress_m: float
    route_completion: float
    def __init__(self, collision: _Optional[bool] = ..., collided_actor_id: _Optional[str] = ..., collision_type: _Optional[_Union[CollisionType, str]] = ..., at_fault_collision: _Optional[bool] = ..., impact_speed_mps: _Optional[float] = ..., off_road: _Optional[bool] = ..., ttc_s: _Optional[float] = ..., route_s_m: _Optional[float] = ..., route_progress_m: _Optional[float] = ..., route_completion: _Optional[float] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("type", "actor_id", "message")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    type: EventType
    actor_id: str
    message: str
    def __init__(self, type: _Optional[_Union[EventType, str]] = ..., actor_id: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class StepTiming(_message.Message):
    __slots__ = ("engine_us", "render_us", "encode_us")
    ENGINE_US_FIELD_NUMBER: _ClassVar[int]
    RENDER_US_FIELD_NUMBER: _ClassVar[int]
    ENCODE_US_FIELD_NUMBER: _ClassVar[int]
    engine_us: int
    render_us: int
    encode_us: int
    def __init__(self, engine_us: _Optional[int] = ..., render_us: _Optional[int] = ..., encode_us: _Optional[int] = ...) -> None: ...

class EpisodeSummary(_message.Message):
    __slots__ = ("steps", "end_reason", "collision", "at_fault_collision", "off_road", "route_completion", "progress_m", "min_ttc_s", "metrics_json")
    STEPS_FIELD_NUMBER: _ClassVar[int]
    END_REASON_FIELD_NUMBER: _ClassVar[int]
    COLLISION_FIELD_NUMBER: _ClassVar[int]
    AT_FAULT_COLLISION_FIELD_NUMBER: _ClassVar[int]
    OFF_ROAD_FIELD_NUMBER: _ClassVar[int]
    ROUTE_COMPLETION_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_M_FIELD_NUMBER: _ClassVar[int]
    MIN_TTC_S_FIELD_NUMBER: _ClassVar[int]
    METRICS_JSON_FIELD_NUMBER: _ClassVar[int]
    steps: int
    end_reason: EndReason
    collision: bool
    at_fault_collision: bool
    off_road: bool
    route_completion: float
    progress_m: float
    min_ttc_s: float
    metrics_json: str
    def __init__(self, steps: _Optional[int] = ..., end_reason: _Optional[_Union[EndReason, str]] = ..., collision: _Optional[bool] = ..., at_fault_collision: _Optional[bool] = ..., off_road: _Optional[bool] = ..., route_completion: _Optional[float] = ..., progress_m: _Optional[float] = ..., min_ttc_s: _Optional[float] = ..., metrics_json: _Optional[str] = ...) -> None: ...

class StepResult(_message.Message):
    __slots__ = ("observation", "metrics", "events", "done", "truncated", "end_reason", "summary", "timing")
    OBSERVATION_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    END_REASON_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    TIMING_FIELD_NUMBER: _ClassVar[int]
    observation: _messages_pb2.Observation
    metrics: StepMetrics
    events: _containers.RepeatedCompositeFieldContainer[Event]
    done: bool
    truncated: bool
    end_reason: EndReason
    summary: EpisodeSummary
    timing: StepTiming
    def __init__(self, observation: _Optional[_Union[_messages_pb2.Observation, _Mapping]] = ..., metrics: _Optional[_Union[StepMetrics, _Mapping]] = ..., events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ..., done: _Optional[bool] = ..., truncated: _Optional[bool] = ..., end_reason: _Optional[_Union[EndReason, str]] = ..., summary: _Optional[_Union[EpisodeSummary, _Mapping]] = ..., timing: _Optional[_Union[StepTiming, _Mapping]] = ...) -> None: ...

class CloseSessionRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class CloseSessionResponse(_message.Message):
    __slots__ = ("summary",)
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    summary: EpisodeSummary
    def __init__(self, summary: _Optional[_Union[EpisodeSummary, _Mapping]] = ...) -> None: ...

from proto.splatsim.v1 import messages_pb2 as _messages_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StartEpisodeRequest(_message.Message):
    __slots__ = ("episode_id", "scenario_name", "start_t_us", "step_us")
    EPISODE_ID_FIELD_NUMBER: _ClassVar[int]
    SCENARIO_NAME_FIELD_NUMBER: _ClassVar[int]
    START_T_US_FIELD_NUMBER: _ClassVar[int]
    STEP_US_FIELD_NUMBER: _ClassVar[int]
    episode_id: str
    scenario_name: str
    start_t_us: int
    step_us: int
    def __init__(self, episode_id: _Optional[str] = ..., scenario_name: _Optional[str] = ..., start_t_us: _Optional[int] = ..., step_us: _Optional[int] = ...) -> None: ...

class StartEpisodeResponse(_message.Message):
    __slots__ = ("policy_name",)
    POLICY_NAME_FIELD_NUMBER: _ClassVar[int]
    policy_name: str
    def __init__(self, policy_name: _Optional[str] = ...) -> None: ...

class PlanRequest(_message.Message):
    __slots__ = ("episode_id", "observation")
    EPISODE_ID_FIELD_NUMBER: _ClassVar[int]
    OBSERVATION_FIELD_NUMBER: _ClassVar[int]
    episode_id: str
    observation: _messages_pb2.Observation
    def __init__(self, episode_id: _Optional[str] = ..., observation: _Optional[_Union[_messages_pb2.Observation, _Mapping]] = ...) -> None: ...

class PlanResponse(_message.Message):
    __slots__ = ("trajectory", "controls")
    TRAJECTORY_FIELD_NUMBER: _ClassVar[int]
    CONTROLS_FIELD_NUMBER: _ClassVar[int]
    trajectory: _messages_pb2.Trajectory
    controls: _messages_pb2.Controls
    def __init__(self, trajectory: _Optional[_Union[_messages_pb2.Trajectory, _Mapping]] = ..., controls: _Optional[_Union[_messages_pb2.Controls, _Mapping]] = ...) -> None: ...

class EndEpisodeRequest(_message.Message):
    __slots__ = ("episode_id", "metrics_json")
    EPISODE_ID_FIELD_NUMBER: _ClassVar[int]
    METRICS_JSON_FIELD_NUMBER: _ClassVar[int]
    episode_id: str
    metrics_json: str
    def __init__(self, episode_id: _Optional[str] = ..., metrics_json: _Optional[str] = ...) -> None: ...

class EndEpisodeResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

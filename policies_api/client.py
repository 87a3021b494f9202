"""The Python client SDK: drive a splatsim server like an in-process loop.

    from policies_api import RemoteSimulator

    with RemoteSimulator("127.0.0.1:50051") as sim:
        obs = sim.reset("scene-demo-0000", cameras=["CAM_FRONT"])
        while True:
            result = sim.step(my_stack.plan(obs))      # TrajectoryAction, ControlAction or (8, 3) poses
            obs = result.observation
            if result.done:
                print(result.episode_metrics)
                break

Targets: "HOST:PORT" (TCP) or "unix:PATH" / "unix:///abs/path" (Unix socket). A server started with
an access token or TLS needs `token=` (or SPLATSIM_TOKEN) and `tls=ClientTLS(...)` (or
SPLATSIM_TLS_CA/CERT/KEY); see policies_api.security and docs/deployment.md. Observations are
`RemoteObservation`s, i.e. `sim.types.observation.Observation`s (any in-process policy that does not
need the privileged scenario/state can plan on them), with the images decoded to numpy.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import grpc
import numpy as np

from policies_api import convert
from policies_api.convert import RemoteObservation
from policies_api.errors import clip
from policies_api.security import SIMULATOR_ENV_PREFIX, ClientTLS, auth_metadata, client_token, open_channel
from policies_api.server import CONTRACT_METADATA_KEY, DEFAULT_MAX_MESSAGE_BYTES, channel_options
from proto.splatsim.v1 import CONTRACT_VERSION
from proto.splatsim.v1 import messages_pb2 as pb
from proto.splatsim.v1 import simulator_pb2 as spb
from proto.splatsim.v1 import simulator_pb2_grpc as spb_grpc
from sim.errors import SplatsimError
from sim.types.state import Action, ControlAction, EndReason, TrajectoryAction

METADATA = ((CONTRACT_METADATA_KEY, str(CONTRACT_VERSION)),)


class RemoteError(SplatsimError):
    """A call the server refused or that failed in transport; `code` is the grpc.StatusCode."""

    def __init__(self, message: str, code: grpc.StatusCode | None = None):
        super().__init__(message)
        self.code = code


def normalize_target(target: str) -> str:
    """`grpc://host:port` -> `host:port`; `unix://PATH` and `unix:PATH` -> gRPC's `unix:` form."""
    if target.startswith("grpc://"):
        return target[len("grpc://"):]
    if target.startswith("unix://") and not target.startswith("unix:///"):
        return "unix:" + target[len("unix://"):]  # unix://relative/or/abs -> unix:PATH
    return target


def call(method, request, timeout_s: float | None, what: str, metadata: tuple = METADATA):
    """One unary call with the contract metadata (and the token's); gRPC errors become RemoteError."""
    try:
        return method(request, timeout=timeout_s, metadata=metadata)
    except grpc.RpcError as err:
        code = err.code() if hasattr(err, "code") else None
        details = err.details() if hasattr(err, "details") else str(err)
        raise RemoteError(f"{what} failed: {code.name if code else 'error'}: {details}", code) from None


def connect(target: str, what: str, token: str | None, tls: ClientTLS | None, env_prefix: str,
            connect_timeout_s: float, max_message_bytes: int) -> tuple[grpc.Channel, tuple]:
    """A ready channel to `target` and the metadata of every call; token and TLS from the
    arguments, else from the environment (`<env_prefix>TOKEN`, `<env_prefix>TLS_*`)."""
    token = client_token(token, env_prefix)
    tls = tls if tls is not None else ClientTLS.from_env(env_prefix)
    channel = open_channel(target, tls, token, channel_options(max_message_bytes))
    try:
        grpc.channel_ready_future(channel).result(timeout=connect_timeout_s)
    except grpc.FutureTimeoutError:
        channel.close()
        hint = "" if tls is None or target.startswith("unix:") else (
            f"; with TLS ({env_prefix}TLS_*), a failed handshake looks the same: check the CA, the server's "
            "certificate names and, for mutual TLS, the client certificate")
        raise RemoteError(f"cannot reach {what} at {target} within {connect_timeout_s:g} s{hint}",
                          grpc.StatusCode.UNAVAILABLE) from None
    return channel, METADATA + auth_metadata(token)


@dataclass(frozen=True)
class StepMetrics:
    """The checks of one state (see splatsim.v1.StepMetrics): ttc_s is inf when none."""

    collision: bool
    collided_actor_id: str
    collision_type: int
    at_fault_collision: bool
    impact_speed_mps: float
    off_road: bool
    ttc_s: float
    route_s_m: float
    route_progress_m: float
    route_completion: float


@dataclass(frozen=True)
class StepResult:
    """What one Reset or Step returned.

    - observation: RemoteObservation of the state after the step.
    - metrics: StepMetrics; events: list of (type name, actor id, message).
    - done / truncated; end_reason: EndReason when done, else None.
    - episode_metrics: `sim.metrics.episode_metrics` of the episode when done, else None.
    - timing_us: server-side engine / render / encode time of the call.
    """

    observation: RemoteObservation
    metrics: StepMetrics
    events: list[tuple[str, str, str]]
    done: bool
    truncated: bool
    end_reason: EndReason | None
    episode_metrics: dict | None = None
    timing_us: dict = field(default_factory=dict)
    raw: spb.StepResult | None = field(default=None, repr=False)


def step_result_from_bytes(raw: bytes) -> StepResult:
    """A received StepResult, images copied once straight from the received bytes."""
    try:
        msg = spb.StepResult.FromString(raw)
    except Exception as err:  # protobuf's DecodeError
        raise convert.MessageError(f"the server's StepResult cannot be parsed: {err}") from None
    wire = convert.wire_images(raw, convert.STEP_RESULT_OBSERVATION) if msg.observation.images else None
    return step_result_from_proto(msg, wire)


def step_result_from_proto(msg: spb.StepResult, wire: convert.WireImages | None = None) -> StepResult:
    m = msg.metrics
    return StepResult(
        observation=convert.observation_from_proto(msg.observation, wire),
        metrics=StepMetrics(m.collision, m.collided_actor_id, int(m.collision_type), m.at_fault_collision,
                            m.impact_speed_mps, m.off_road, m.ttc_s, m.route_s_m, m.route_progress_m,
                            m.route_completion),
        events=[(spb.EventType.Name(e.type), e.actor_id, e.message) for e in msg.events],
        done=msg.done, truncated=msg.truncated, end_reason=convert.END_REASON_FROM_PB.get(msg.end_reason),
        episode_metrics=json.loads(msg.summary.metrics_json) if msg.HasField("summary") and msg.summary.metrics_json
        else None,
        timing_us={"engine": msg.timing.engine_us, "render": msg.timing.render_us, "encode": msg.timing.encode_us},
        raw=msg)


def action_from_any(action) -> Action | None:
    """TrajectoryAction | ControlAction | (K, 3) ego-frame poses at 0.5 s | None (hold) -> Action."""
    if action is None or isinstance(action, (TrajectoryAction, ControlAction)):
        return action
    return convert.trajectory_from_poses(np.asarray(action, dtype=np.float64), dt_s=0.5)


class RemoteSimulator:
    """A connection to a splatsim server and (at most) one session on it.

    - target: "HOST:PORT", "unix:PATH", "grpc://HOST:PORT" or "unix://PATH".
    - timeout_s: deadline of each call (rendering many cameras may need more).
    - connect_timeout_s: how long to wait for the server at construction.
    - token: the server's access token (default: the SPLATSIM_TOKEN environment variable).
    - tls: TLS of a TCP target (default: SPLATSIM_TLS_CA, SPLATSIM_TLS_CERT, SPLATSIM_TLS_KEY when set).
    """

    def __init__(self, target: str, timeout_s: float = 30.0, connect_timeout_s: float = 10.0,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, token: str | None = None,
                 tls: ClientTLS | None = None):
        self.target = normalize_target(target)
        self.timeout_s = timeout_s
        self._channel, self._metadata = connect(self.target, "a splatsim server (start one with `splatsim serve`)",
                                                token, tls, SIMULATOR_ENV_PREFIX, connect_timeout_s, max_message_bytes)
        self.stub = spb_grpc.SimulatorStub(self._channel)
        # Reset and Step replies arrive as bytes, so images are copied once from the buffer.
        self._reset_raw = self._channel.unary_unary("/splatsim.v1.Simulator/Reset",
                                                    request_serializer=spb.ResetRequest.SerializeToString,
                                                    _registered_method=True)
        self._step_raw = self._channel.unary_unary("/splatsim.v1.Simulator/Step",
                                                   request_serializer=spb.StepRequest.SerializeToString,
                                                   _registered_method=True)
        self.session_id: str | None = None
        self.scenario_info: spb.ScenarioInfo | None = None
        self._session_key: tuple | None = None
        self.last_result: StepResult | None = None

    # ---- server -------------------------------------------------------------------------------

    def info(self) -> dict:
        """GetInfo as a dict (contract_version, max_sessions, renderer_available, ...)."""
        msg = call(self.stub.GetInfo, spb.GetInfoRequest(), self.timeout_s, "GetInfo", self._metadata)
        return {"contract_version": msg.contract_version, "server_version": msg.server_version,
                "max_sessions": msg.max_sessions, "active_sessions": msg.active_sessions,
                "idle_timeout_s": msg.idle_timeout_ms / 1000.0, "max_message_bytes": msg.max_message_bytes,
                "renderer_available": msg.renderer_available, "step_us": msg.step_us,
                "encodings": [pb.ImageEncoding.Name(e) for e in msg.encodings]}

    def list_scenarios(self) -> list[dict]:
        """Every scenario of the server: name, source, description, duration_s, ..."""
        msg = call(self.stub.ListScenarios, spb.ListScenariosRequest(), self.timeout_s, "ListScenarios", self._metadata)
        return [{"name": s.name, "source": s.source, "description": s.description,
                 "duration_s": s.duration_us * 1e-6, "num_actors": s.num_actors, "num_steps": s.num_steps,
                 "camera_names": list(s.camera_names)} for s in msg.scenarios]

    # ---- session ------------------------------------------------------------------------------

    def create_session(self, scenario: str, *, cameras: list[str] | tuple[str, ...] = (), all_cameras: bool = False,
                       width: int = 480, height: int = 270, encoding: str = "raw", jpeg_quality: int = 90,
                       depth: bool = False, alpha: bool = False, reactive: bool = False, privileged: bool = False,
                       lane_radius_m: float = 50.0, start_step: int = 0, max_steps: int | None = None,
                       continue_after_route_end: bool = False, policy_name: str = "remote", seed: int = 0) -> str:
        """Open a session (closing the current one); its id. See splatsim.v1.CreateSessionRequest."""
        if encoding not in convert.ENCODINGS:
            raise RemoteError(f"unknown encoding {encoding!r}; choose one of {', '.join(convert.ENCODINGS)}")
        self.close_session()
        request = spb.CreateSessionRequest(
            scenario=scenario, seed=seed, reactive_actors=reactive, privileged=privileged, lane_radius_m=lane_radius_m,
            start_step=start_step, continue_after_route_end=continue_after_route_end, policy_name=policy_name)
        request.cameras.names.extend(cameras)
        request.cameras.all_cameras = all_cameras
        request.cameras.width, request.cameras.height = width, height
        request.cameras.encoding = convert.ENCODINGS[encoding]
        request.cameras.jpeg_quality, request.cameras.depth, request.cameras.alpha = jpeg_quality, depth, alpha
        if max_steps is not None:
            request.max_steps = max_steps
        reply = call(self.stub.CreateSession, request, self.timeout_s, f"CreateSession({clip(scenario)!r})",
                     self._metadata)
        self.session_id, self.scenario_info = reply.session_id, reply.scenario
        return reply.session_id

    def reset(self, scenario: str | None = None, **session_options) -> RemoteObservation:
        """Start an episode; the first observation. With a scenario (and options) different from
        the current session's, a new session is created first; without, the current one restarts."""
        key = (scenario, tuple(sorted(session_options.items())))
        if scenario is not None and (self.session_id is None or key != self._session_key):
            self.create_session(scenario, **session_options)
            self._session_key = key
        if self.session_id is None:
            raise RemoteError("no session: call reset(scenario_name, ...) or create_session(...) first")
        raw = call(self._reset_raw, spb.ResetRequest(session_id=self.session_id), self.timeout_s, "Reset",
                   self._metadata)
        self.last_result = step_result_from_bytes(raw)
        return self.last_result.observation

    def step(self, action) -> StepResult:
        """Apply one action (TrajectoryAction, ControlAction, (K, 3) poses at 0.5 s, or None to keep
        tracking the previous trajectory) and advance 0.1 s."""
        if self.session_id is None:
            raise RemoteError("no session: call reset(scenario_name, ...) first")
        request = spb.StepRequest(session_id=self.session_id)
        act = action_from_any(action)
        if act is not None:
            convert.set_action(request, act)
        if self.last_result is not None:
            request.observation_step_index = self.last_result.observation.step_index
        raw = call(self._step_raw, request, self.timeout_s, "Step", self._metadata)
        self.last_result = step_result_from_bytes(raw)
        return self.last_result

    def close_session(self) -> dict | None:
        """Close the current session; the episode's metrics (None when it never stepped)."""
        if self.session_id is None:
            return None
        sid, self.session_id, self._session_key, self.last_result = self.session_id, None, None, None
        try:
            reply = call(self.stub.CloseSession, spb.CloseSessionRequest(session_id=sid), self.timeout_s,
                         "CloseSession", self._metadata)
        except RemoteError as err:
            if err.code == grpc.StatusCode.NOT_FOUND:
                return None  # already reclaimed
            raise
        return json.loads(reply.summary.metrics_json) if reply.summary.metrics_json else None

    def close(self) -> None:
        """Close the session (best effort) and the channel."""
        try:
            self.close_session()
        except RemoteError:
            pass
        finally:
            self._channel.close()

    def __enter__(self) -> "RemoteSimulator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def metrics_equal(a: dict, b: dict, ignore: tuple[str, ...] = ("wall_s", "policy_s", "render_s")) -> bool:
    """Whether two episode_metrics dicts agree exactly on everything but timings."""
    keys = (set(a) | set(b)) - set(ignore)
    for k in keys:
        x, y = a.get(k), b.get(k)
        if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
            continue
        if x != y:
            return False
    return True

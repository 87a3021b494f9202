"""Serve a Python driving policy as `service splatsim.v1.DrivingPolicy` (splatsim is the client).

    from policies_api import serve_policy

    def plan(obs):                       # a sim.types.observation.Observation (a RemoteObservation)
        return my_poses_8x3              # TrajectoryAction | ControlAction | (K, 3) poses at 0.5 s

    server = serve_policy(plan, port=50052)   # then: splatsim run --policy grpc://127.0.0.1:50052 ...
    server.wait()

`fn_or_object` is a callable `plan(observation) -> action`, or an object with `plan(observation)`
and optionally `name`, `start_episode(info: dict)`, `end_episode(metrics: dict | None)`; an object
with `reset` but no `start_episode` gets `reset(None)` at each episode start (a remote policy never
sees the scenario itself). Calls into the policy are serialised (one at a time), so a stateful
policy needs no locking.

Access control as for the simulator server (policies_api.security): `token=` makes every call
carry `authorization: Bearer <token>` (splatsim sends SPLATSIM_POLICY_TOKEN), `tls=ServerTLS(...)`
puts TLS on the TCP port, and a Unix socket is created 0600.
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent import futures
from pathlib import Path

import grpc
import numpy as np
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from policies_api import convert
from policies_api.errors import FailedPrecondition, InvalidArgument, ServiceError, clip
from policies_api.security import ServerTLS, interceptors
from policies_api.server import (
    DEFAULT_MAX_MESSAGE_BYTES,
    _bind,
    _remove_stale_socket,
    bind_unix,
    channel_options,
    rpc_handler,
)
from proto.splatsim.v1 import driving_policy_pb2 as dpb
from proto.splatsim.v1 import driving_policy_pb2_grpc as dpb_grpc
from sim.errors import ConfigError
from sim.types.state import ControlAction, TrajectoryAction

log = logging.getLogger("splatsim.policy_server")

POLICY_SERVICE = dpb.DESCRIPTOR.services_by_name["DrivingPolicy"].full_name


def action_from_policy_output(out) -> TrajectoryAction | ControlAction:
    """What a policy returned, as a validated action (ServiceError INTERNAL when unusable)."""
    if isinstance(out, (TrajectoryAction, ControlAction)):
        action = out
    else:
        try:
            action = convert.trajectory_from_poses(np.asarray(out, dtype=np.float64), dt_s=0.5)
        except Exception as err:
            raise ServiceError(f"the policy returned {type(out).__name__}, not a TrajectoryAction, ControlAction or "
                               f"(K, 3) array of ego-frame poses: {err}") from None
    return action


class ReceivedPlan:
    """A PlanRequest as received: the parsed message and its bytes (for the image fast path)."""

    __slots__ = ("raw", "message")

    def __init__(self, raw: bytes):
        self.raw = raw
        self.message = dpb.PlanRequest.FromString(raw)


def _add_policy_service(service: "DrivingPolicyService", server: grpc.Server) -> None:
    """Register the handlers as the generated code does, keeping Plan's request bytes."""
    handlers = {
        "StartEpisode": grpc.unary_unary_rpc_method_handler(
            service.StartEpisode, request_deserializer=dpb.StartEpisodeRequest.FromString,
            response_serializer=dpb.StartEpisodeResponse.SerializeToString),
        "Plan": grpc.unary_unary_rpc_method_handler(
            service.Plan, request_deserializer=ReceivedPlan, response_serializer=dpb.PlanResponse.SerializeToString),
        "EndEpisode": grpc.unary_unary_rpc_method_handler(
            service.EndEpisode, request_deserializer=dpb.EndEpisodeRequest.FromString,
            response_serializer=dpb.EndEpisodeResponse.SerializeToString),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(POLICY_SERVICE, handlers),))
    server.add_registered_method_handlers(POLICY_SERVICE, handlers)


class DrivingPolicyService(dpb_grpc.DrivingPolicyServicer):
    """The DrivingPolicy handlers around one Python policy."""

    def __init__(self, policy, name: str | None = None, strict_episodes: bool = False, reveal_paths: bool = False):
        self.policy = policy
        self.reveal_paths = reveal_paths
        self.plan_fn = policy.plan if hasattr(policy, "plan") else policy
        if not callable(self.plan_fn):
            raise ConfigError(f"serve_policy needs a callable plan(observation) or an object with .plan, got "
                              f"{type(policy).__name__}")
        self.name = name or getattr(policy, "name", None) or getattr(policy, "__name__", None) or "python-policy"
        self.strict_episodes = strict_episodes
        self.episode_id: str | None = None
        self.episodes_started = 0
        self.plans = 0
        self._lock = threading.Lock()

    @rpc_handler
    def StartEpisode(self, request, context):
        with self._lock:
            self.episode_id = request.episode_id
            self.episodes_started += 1
            info = {"episode_id": request.episode_id, "scenario_name": request.scenario_name,
                    "start_t_us": request.start_t_us, "step_us": request.step_us}
            if hasattr(self.policy, "start_episode"):
                self.policy.start_episode(info)
            elif hasattr(self.policy, "reset"):
                self.policy.reset(None)
        return dpb.StartEpisodeResponse(policy_name=str(self.name))

    @rpc_handler
    def Plan(self, request, context):
        if isinstance(request, ReceivedPlan):  # registered by PolicyServer: the bytes are at hand
            raw, request = request.raw, request.message
        else:
            raw = None
        if not request.HasField("observation"):
            raise InvalidArgument("PlanRequest.observation is missing")
        has_images = raw is not None and request.observation.images
        wire = convert.wire_images(raw, convert.PLAN_REQUEST_OBSERVATION) if has_images else None
        obs = convert.observation_from_proto(request.observation, wire)
        with self._lock:
            if self.strict_episodes and request.episode_id != self.episode_id:
                raise FailedPrecondition(f"Plan for episode {clip(request.episode_id)!r} but the current episode is "
                                         f"{clip(self.episode_id)!r}; call StartEpisode first")
            out = self.plan_fn(obs)
            self.plans += 1
        action = action_from_policy_output(out)
        reply = dpb.PlanResponse()
        convert.set_action(reply, action)
        return reply

    @rpc_handler
    def EndEpisode(self, request, context):
        with self._lock:
            if hasattr(self.policy, "end_episode"):
                self.policy.end_episode(json.loads(request.metrics_json) if request.metrics_json else None)
            if request.episode_id == self.episode_id:
                self.episode_id = None
        return dpb.EndEpisodeResponse()


class PolicyServer:
    """A running DrivingPolicy server (see `serve_policy`)."""

    def __init__(self, service: DrivingPolicyService, host: str = "127.0.0.1", port: int | None = 0,
                 unix_socket: str | None = None, max_workers: int = 4,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, grace_s: float = 5.0, token: str | None = None,
                 tls: ServerTLS | None = None):
        if port is None and not unix_socket:
            raise ConfigError("serve_policy needs a TCP port or a Unix socket path")
        if tls is not None and port is None:
            raise ConfigError("TLS covers the TCP port only, and this policy server has none; drop tls or give a port")
        self.service = service
        self.host, self.unix_socket, self.grace_s = host, unix_socket, grace_s
        self.health = health.HealthServicer()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="policy-rpc"),
                                   options=channel_options(max_message_bytes) + [("grpc.so_reuseport", 0)],
                                   interceptors=interceptors(token))
        _add_policy_service(service, self._server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        reflection.enable_server_reflection((POLICY_SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME),
                                            self._server)
        self.port = _bind(self._server, f"{host}:{port}", tls) if port is not None else None
        if unix_socket:
            bind_unix(self._server, unix_socket)
        self._stopped = threading.Event()
        self._server.start()
        for name in ("", POLICY_SERVICE):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    @property
    def target(self) -> str:
        """`grpc://host:port` (or `unix://PATH`): what `splatsim run --policy` takes."""
        return f"grpc://{self.host}:{self.port}" if self.port is not None else f"unix://{self.unix_socket}"

    @property
    def unix_target(self) -> str | None:
        return f"unix://{self.unix_socket}" if self.unix_socket else None

    def stop(self, grace_s: float | None = None) -> None:
        if self._stopped.is_set():
            return
        self.health.enter_graceful_shutdown()
        self._server.stop(self.grace_s if grace_s is None else grace_s).wait()
        if self.unix_socket:
            _remove_stale_socket(Path(self.unix_socket))
        self._stopped.set()

    def wait(self, timeout_s: float | None = None) -> bool:
        return self._stopped.wait(timeout_s)

    def __enter__(self) -> "PolicyServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def serve_policy(fn_or_object, port: int | None = 0, *, host: str = "127.0.0.1", unix_socket: str | None = None,
                 name: str | None = None, max_workers: int = 4, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                 strict_episodes: bool = False, token: str | None = None, tls: ServerTLS | None = None,
                 reveal_paths: bool = False) -> PolicyServer:
    """Start a DrivingPolicy server around a Python policy; returns the running server.

    port 0 picks a free port (see `.port` / `.target`); port None with unix_socket listens only
    on the socket. `strict_episodes` refuses Plan calls for an episode that was not started.
    `token`: every call must carry it (`authorization: Bearer <token>`); `tls`: TLS on the TCP
    port; `reveal_paths`: error messages keep absolute paths (else `.../name`).
    """
    service = DrivingPolicyService(fn_or_object, name, strict_episodes, reveal_paths)
    server = PolicyServer(service, host, port, unix_socket, max_workers, max_message_bytes, token=token, tls=tls)
    log.info("driving policy %r served at %s", service.name, server.target)
    return server

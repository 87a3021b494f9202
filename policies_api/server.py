"""The simulator as a gRPC server (`service splatsim.v1.Simulator`).

Many concurrent sessions, each with its own engine context, renderer and state (see
`policies_api.session` and `policies_api.session_registry`); standard health checking and
server reflection; message-size limits sized for multi-camera images; every handler wrapped so
that a bad request gets its status code and an unexpected exception becomes INTERNAL with a
message while the server keeps serving; access control (a bearer token, TLS, a 0600 Unix socket, no
absolute paths in messages) from `policies_api.security`; idle sessions are reclaimed by a background reaper;
`stop(grace)` stops accepting calls, lets the ones in flight finish, then closes every session.

Fair sharing: a call on a session busy with another call is ABORTED at once (no worker thread
waits on a session); the calls in the server are bounded (`max_concurrent_rpcs`, then
RESOURCE_EXHAUSTED); sessions are capped in all and per client (`client_identity`); a session
whose client's TCP connection has closed is reclaimed after `orphan_timeout_s`; Reset and Step
stop at the next checkpoint (engine step, each camera) once their deadline has passed or their
client cancelled (`policies_api.call_guard`).

    catalog = ScenarioCatalog(dataroots=[("data/demo", "v1.0-mini")])
    with SimulatorServer(catalog, ServerConfig(port=50051)) as server:
        serve_until_signal(server)          # SIGTERM / SIGINT: graceful shutdown
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import stat
import threading
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from policies_api import convert
from policies_api.call_guard import CallGuard, ServerStats
from policies_api.catalog import ScenarioCatalog, entry_to_proto
from policies_api.errors import (
    Aborted,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ServiceError,
    clip,
    public_message,
)
from policies_api.peers import peer_connected
from policies_api.renderer_factory import RendererFactory
from policies_api.security import ServerTLS, interceptors, private_socket_path
from policies_api.session import Session, serialize_reply, summary_to_proto
from policies_api.session_options import options_from_request
from policies_api.session_registry import SessionRegistry
from proto.splatsim.v1 import CONTRACT_VERSION
from proto.splatsim.v1 import messages_pb2 as pb
from proto.splatsim.v1 import simulator_pb2 as spb
from proto.splatsim.v1 import simulator_pb2_grpc as spb_grpc
from sim.errors import ActionError, ConfigError, DatasetError, ScenarioFileError, SceneFileError, SplatsimError
from sim.types.scenario import STEP_US

log = logging.getLogger("splatsim.server")

CONTRACT_METADATA_KEY = "splatsim-contract-version"
DEFAULT_MAX_MESSAGE_BYTES = 64 * 2**20
_VERSION_METADATA = ((CONTRACT_METADATA_KEY, str(CONTRACT_VERSION)),)
SIMULATOR_SERVICE = spb.DESCRIPTOR.services_by_name["Simulator"].full_name


@dataclass(frozen=True)
class ServerConfig:
    """How the server listens and what it allows.

    - host, port: TCP address (loopback by default); port 0 picks a free port; None: no TCP.
    - unix_socket: also (or only) listen on this Unix-domain socket path.
    - max_sessions: most concurrent sessions; more get RESOURCE_EXHAUSTED.
    - max_sessions_per_client: most sessions of one client identity (`client_identity`).
    - idle_timeout_s: a session with no call for this long is closed (a vanished client).
    - orphan_timeout_s: a session idle this long whose client's TCP connection has closed is
      closed (sooner than idle_timeout_s; Unix-socket clients only have the idle timeout).
    - max_message_bytes: largest message sent or received (6 raw 1600x900 images are ~26 MB).
    - max_workers: handler threads (calls on one session are serialised anyway).
    - max_concurrent_rpcs: calls in the server at once (running or queued for a thread); more
      get RESOURCE_EXHAUSTED at once.
    - grace_s: on stop, how long calls in flight may take to finish.
    - auth_token: when set, every call (health and reflection aside) must carry metadata
      `authorization: Bearer <auth_token>`, else UNAUTHENTICATED (see policies_api.security).
    - tls: TLS of the TCP listener (mutual with a client CA); the Unix socket stays plaintext, mode 0600.
    - reveal_paths: error messages and ListScenarios show the server's absolute paths (off: `.../name`).
    """

    host: str = "127.0.0.1"
    port: int | None = 50051
    unix_socket: str | None = None
    max_sessions: int = 16
    max_sessions_per_client: int = 8
    idle_timeout_s: float = 300.0
    orphan_timeout_s: float = 10.0
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    max_workers: int = 16
    max_concurrent_rpcs: int = 256
    grace_s: float = 5.0
    auth_token: str | None = field(default=None, repr=False)
    tls: ServerTLS | None = None
    reveal_paths: bool = False


def channel_options(max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> list[tuple[str, int]]:
    """gRPC options for servers and channels carrying multi-camera observations: message-size
    limits, and HTTP/2 frames and flow-control windows large enough that a multi-megabyte
    observation crosses in a few frames without waiting for window updates (on loopback this
    halves the round trip of 6 raw 480x270 images over TCP)."""
    return [("grpc.max_send_message_length", int(max_message_bytes)),
            ("grpc.max_receive_message_length", int(max_message_bytes)),
            ("grpc.http2.max_frame_size", 16 * 2**20 - 1),
            ("grpc.http2.lookahead_bytes", int(max_message_bytes))]


def _status_of(err: BaseException) -> tuple[grpc.StatusCode, str]:
    if isinstance(err, ServiceError):
        return getattr(grpc.StatusCode, err.code), str(err)
    if isinstance(err, (ActionError, convert.MessageError, ConfigError)):
        return grpc.StatusCode.INVALID_ARGUMENT, str(err)
    if isinstance(err, (DatasetError, ScenarioFileError, SceneFileError)):
        return grpc.StatusCode.FAILED_PRECONDITION, f"the server cannot load this scenario: {err}"
    if isinstance(err, SplatsimError):
        return grpc.StatusCode.FAILED_PRECONDITION, str(err)
    return grpc.StatusCode.INTERNAL, f"{type(err).__name__}: {err}"


def rpc_handler(method):
    """Wrap a servicer method: contract-version and deadline checks, the version in the trailing
    metadata, and every exception turned into a status with a message (never a crash)."""

    @functools.wraps(method)
    def wrapper(self, request, context):
        try:
            for key, value in context.invocation_metadata() or ():
                if key == CONTRACT_METADATA_KEY and value.strip() != str(CONTRACT_VERSION):
                    raise FailedPrecondition(f"client speaks splatsim contract version {clip(value)!r}, this server "
                                             f"speaks {CONTRACT_VERSION}; use a client generated from proto/splatsim/v"
                                             f"{CONTRACT_VERSION}")
            remaining = context.time_remaining()
            if remaining is not None and remaining <= 0:
                raise ServiceError(f"the deadline of {method.__name__} passed before the server started it; nothing "
                                   "was changed", code="DEADLINE_EXCEEDED")
            # In the trailing metadata, which goes with the reply's status: initial metadata sent
            # apart costs the round trip an extra batch (0.05-0.2 ms of a ~1.2 ms no-image Step).
            context.set_trailing_metadata(_VERSION_METADATA)
            return method(self, request, context)
        except Exception as err:  # noqa: BLE001 - the boundary: every failure becomes a status
            code, message = _status_of(err)
            if code == grpc.StatusCode.INTERNAL:
                log.exception("%s failed", method.__name__)
                message = f"{method.__name__} failed inside the server: {message}"
        context.abort(code, public_message(message, getattr(self, "reveal_paths", False)))

    return wrapper


def client_identity(context) -> str:
    """Who is calling, for the per-client session quota: for now the peer address (`ipv4:HOST:PORT`,
    i.e. one client connection; every Unix-socket client is the same `unix:`). The one place to
    switch to an authenticated identity (a token's)."""
    return context.peer()


@functools.lru_cache(maxsize=1)
def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("splatsim")
    except PackageNotFoundError:
        return "0+unknown"


class SimulatorService(spb_grpc.SimulatorServicer):
    """The handlers; state lives in the catalog and the session registry."""

    def __init__(self, catalog: ScenarioCatalog, registry: SessionRegistry, config: ServerConfig,
                 renderer_factory: RendererFactory | None = None):
        self.catalog = catalog
        self.registry = registry
        self.config = config
        self.renderer_factory = renderer_factory
        self.reveal_paths = config.reveal_paths
        self.stats = ServerStats()

    def _acquire(self, session_id: str, context, method: str):
        """The session locked for this call, and the call's guard (checked once the lock is held)."""
        try:
            session = self.registry.acquire(session_id, client_identity(context), context.peer())
        except Aborted:
            self.stats.add(aborted_busy=1)
            raise
        guard = CallGuard(context, self.stats, method)
        try:
            guard.check("it started")
        except BaseException:
            self.registry.done_with(session)
            raise
        return session, guard

    @rpc_handler
    def GetInfo(self, request, context):
        context.send_initial_metadata(_VERSION_METADATA)  # also up front, where clients checking versions look
        return spb.ServerInfo(
            contract_version=CONTRACT_VERSION, server_version=_package_version(),
            max_sessions=self.registry.max_sessions, active_sessions=len(self.registry),
            idle_timeout_ms=int(self.registry.idle_timeout_s * 1000), max_message_bytes=self.config.max_message_bytes,
            renderer_available=self.renderer_factory is not None, step_us=STEP_US,
            encodings=[pb.IMAGE_ENCODING_RAW_RGB8, pb.IMAGE_ENCODING_JPEG, pb.IMAGE_ENCODING_PNG])

    @rpc_handler
    def ListScenarios(self, request, context):
        out = spb.ListScenariosResponse()
        for entry in self.catalog.entries():
            entry_to_proto(entry, out.scenarios.add(), self.reveal_paths)
        return out

    @rpc_handler
    def CreateSession(self, request, context):
        if not request.scenario:
            raise InvalidArgument("CreateSessionRequest.scenario is empty; name a scenario from ListScenarios")
        session_id = self.registry.reserve(client_identity(context), context.peer())
        try:
            scenario = self.catalog.scenario(request.scenario)
            options = options_from_request(request, scenario, self.config.max_message_bytes,
                                           self.renderer_factory is not None)
            sim_context = self.catalog.context(scenario.name, options.engine)
            renderer = None
            if options.camera_names:
                renderer = self.renderer_factory(scenario, list(options.camera_names), options.width, options.height)
            session = Session(session_id, options, sim_context, renderer)
        except BaseException:
            self.registry.release(session_id)
            raise
        self.registry.add(session)
        log.info("session %s: scenario %s, cameras %s", session_id, scenario.name, list(options.camera_names))
        out = spb.CreateSessionResponse(session_id=session_id, idle_timeout_ms=int(self.registry.idle_timeout_s * 1000))
        entry = next(e for e in self.catalog.entries() if e.name == scenario.name)
        entry_to_proto(entry, out.scenario, self.reveal_paths)
        return out

    @rpc_handler
    def Reset(self, request, context):
        session, guard = self._acquire(request.session_id, context, "Reset")
        try:
            return session.reset(guard)
        finally:
            self.registry.done_with(session)

    @rpc_handler
    def Step(self, request, context):
        session, guard = self._acquire(request.session_id, context, "Step")
        try:
            action = convert.get_action(request)
            index = int(request.observation_step_index) if request.HasField("observation_step_index") else None
            return session.step(action, index, guard)
        finally:
            self.registry.done_with(session)

    @rpc_handler
    def CloseSession(self, request, context):
        session = self.registry.close(request.session_id)
        if session is None:
            raise NotFound(f"unknown session {request.session_id!r}: already closed, reclaimed after "
                           f"{self.registry.idle_timeout_s:g} s idle, or never created")
        out = spb.CloseSessionResponse()
        metrics = session.metrics()
        if metrics is not None:
            summary_to_proto(metrics, out.summary)
        log.info("session %s closed", session.id)
        return out


class SimulatorServer:
    """A running simulator server: gRPC server + session registry + reaper + health + reflection."""

    def __init__(self, catalog: ScenarioCatalog, config: ServerConfig = ServerConfig(),
                 renderer_factory: RendererFactory | None = None):
        if config.port is None and not config.unix_socket:
            raise ConfigError("the server needs a TCP port (--port) or a Unix socket (--unix PATH)")
        if config.tls is not None and config.port is None:
            raise ConfigError("TLS (--tls-cert/--tls-key) covers the TCP port only, and this server has none (--port "
                              "-1); drop the TLS options or listen on TCP")
        if config.port is not None and config.host not in ("127.0.0.1", "localhost", "::1", "[::1]"):
            missing = [what for what, given in (("an access token", config.auth_token), ("TLS", config.tls))
                       if not given]
            if missing:
                log.warning("listening on %s without %s: expose it only on trusted networks (see docs/deployment.md)",
                            config.host, " and ".join(missing))
        self.catalog = catalog
        self.config = config
        self.registry = SessionRegistry(config.max_sessions, config.idle_timeout_s, config.max_sessions_per_client,
                                        config.orphan_timeout_s, self._peer_connected)
        self.service = SimulatorService(catalog, self.registry, config, renderer_factory)
        self.health = health.HealthServicer()
        self._server: grpc.Server | None = None
        self.port: int | None = None
        self._stopped = threading.Event()

    def _peer_connected(self, peer: str) -> bool | None:
        return None if self.port is None else peer_connected(peer, {self.port})

    @property
    def tcp_target(self) -> str | None:
        """`host:port` for clients, or None without TCP."""
        return None if self.port is None else f"{self.config.host}:{self.port}"

    @property
    def unix_target(self) -> str | None:
        """`unix:PATH` for clients, or None without a Unix socket."""
        return None if not self.config.unix_socket else f"unix:{self.config.unix_socket}"

    @property
    def target(self) -> str:
        """The first address clients can use."""
        return self.tcp_target or self.unix_target  # type: ignore[return-value]

    def start(self) -> "SimulatorServer":
        cfg = self.config
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=cfg.max_workers, thread_name_prefix="splatsim-rpc"),
                             options=channel_options(cfg.max_message_bytes) + [("grpc.so_reuseport", 0)],
                             interceptors=interceptors(cfg.auth_token),
                             maximum_concurrent_rpcs=cfg.max_concurrent_rpcs)
        _add_simulator_service(self.service, server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection((SIMULATOR_SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
        if cfg.port is not None:
            self.port = _bind(server, f"{cfg.host}:{cfg.port}", cfg.tls)
        if cfg.unix_socket:
            bind_unix(server, cfg.unix_socket)
        server.start()
        self._server = server
        for name in ("", SIMULATOR_SERVICE):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self.registry.start_reaper()
        log.info("splatsim server on %s (%d scenarios, up to %d sessions)",
                 ", ".join(t for t in (self.tcp_target, self.unix_target) if t), len(self.catalog),
                 cfg.max_sessions)
        return self

    def stop(self, grace_s: float | None = None) -> None:
        """Stop accepting calls, let those in flight finish (up to grace_s), close every session."""
        if self._server is None or self._stopped.is_set():
            return
        self.health.enter_graceful_shutdown()
        self._server.stop(self.config.grace_s if grace_s is None else grace_s).wait()
        self.registry.stop_reaper()
        self.registry.close_all()
        if self.config.unix_socket:
            _remove_stale_socket(Path(self.config.unix_socket))
        self._stopped.set()
        log.info("splatsim server stopped")

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until stopped (True) or timeout (False)."""
        return self._stopped.wait(timeout_s)

    def __enter__(self) -> "SimulatorServer":
        return self.start() if self._server is None else self

    def __exit__(self, *exc) -> None:
        self.stop()


def _add_simulator_service(service: SimulatorService, server: grpc.Server) -> None:
    """Register the handlers (as the generated add_SimulatorServicer_to_server does), with the
    image fast path as the serializer of Reset and Step replies."""
    def unary(method, request_type, serializer):
        return grpc.unary_unary_rpc_method_handler(method, request_deserializer=request_type.FromString,
                                                   response_serializer=serializer)

    handlers = {
        "GetInfo": unary(service.GetInfo, spb.GetInfoRequest, spb.ServerInfo.SerializeToString),
        "ListScenarios": unary(service.ListScenarios, spb.ListScenariosRequest,
                               spb.ListScenariosResponse.SerializeToString),
        "CreateSession": unary(service.CreateSession, spb.CreateSessionRequest,
                               spb.CreateSessionResponse.SerializeToString),
        "Reset": unary(service.Reset, spb.ResetRequest, serialize_reply),
        "Step": unary(service.Step, spb.StepRequest, serialize_reply),
        "CloseSession": unary(service.CloseSession, spb.CloseSessionRequest,
                              spb.CloseSessionResponse.SerializeToString),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SIMULATOR_SERVICE, handlers),))
    server.add_registered_method_handlers(SIMULATOR_SERVICE, handlers)


def _bind(server: grpc.Server, address: str, tls: ServerTLS | None = None) -> int:
    try:
        port = server.add_insecure_port(address) if tls is None else server.add_secure_port(address, tls.credentials())
    except RuntimeError as err:
        raise ConfigError(f"cannot listen on {address} ({err}); is another server using it? choose another "
                          "--port / --unix path") from None
    if port == 0:
        raise ConfigError(f"cannot listen on {address}; is another server using it? choose another --port / --unix")
    return port


def bind_unix(server: grpc.Server, path: str) -> None:
    """Listen on a Unix socket created with mode 0600 whatever the umask (its directory checked)."""
    with private_socket_path(path) as bind_path:
        _bind(server, f"unix:{bind_path}")


def _remove_stale_socket(path: Path) -> None:
    try:
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.unlink(path)
    except FileNotFoundError:
        pass


def serve_until_signal(server, grace_s: float | None = None, poll_s: float = 0.2) -> None:
    """Block until SIGTERM or SIGINT (or the server stops), then stop it gracefully.

    Works for any object with `stop(grace_s)` and `wait(timeout_s)` (the simulator server and
    the policy server). Must run in the main thread (Python delivers signals there).
    """
    stop = threading.Event()

    def on_signal(signum, frame):  # noqa: ARG001
        log.info("signal %d: shutting down", signum)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not stop.is_set() and not server.wait(poll_s):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.stop(grace_s)

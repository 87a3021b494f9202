"""Server-side sessions: the scenarios a server can load, one closed-loop episode per session,
and the registry that bounds, looks up and reclaims sessions.

Nothing here knows gRPC: problems are `ServiceError`s that carry the status-code name the
server answers with. A session is a thin stateful adapter over the pure engine: `reset` and
`step` do exactly the bookkeeping of `sim.engine.run_episode` (checks with `evaluate`, route
progress, `hit_before`, plan recording, held plans, the end rules), so an episode driven step
by step over the wire records the same Episode and the same `episode_metrics` as the
in-process loop with the same policy.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from policies_api import convert
from proto.splatsim.v1 import messages_pb2 as pb
from proto.splatsim.v1 import simulator_pb2 as spb
from sim.engine import EngineConfig, EpisodeRecorder, SimContext, StepChecks, prepare
from sim.errors import ConfigError, SplatsimError
from sim.metrics import TTC_REPORT_CAP_S, episode_metrics
from sim.types.observation import Renderer
from sim.types.scenario import Scenario
from sim.types.state import Action, WorldState

log = logging.getLogger("splatsim.server")

RendererFactory = Callable[[Scenario, list[str], int, int], Renderer]
"""renderer_factory(scenario, camera_names, width, height) -> a `sim.types.observation.Renderer` whose
`render(scenario, state)` returns CameraImages of those cameras (in that order) at width x height."""



def gaussian_renderer_factory(backend: str = "auto", cache_size: int = 8) -> RendererFactory:
    """Sessions rendered by `render.renderer.GaussianRenderer` (procedural street + actor assets
    per scenario, built once per scenario and shared by its sessions)."""
    from render.assets import build_actor_assets
    from render.procedural import StreetSceneConfig
    from render.renderer import GaussianRenderer, build_scenario_street

    built: OrderedDict[str, tuple] = OrderedDict()
    lock = threading.Lock()

    def factory(scenario: Scenario, camera_names: list[str], width: int, height: int) -> Renderer:
        with lock:  # one build per scenario, even when sessions start at once
            if scenario.name not in built:
                config = StreetSceneConfig()
                built[scenario.name] = (build_scenario_street(scenario, config),
                                        build_actor_assets(scenario.actors, seed=config.seed))
                while len(built) > cache_size:
                    built.popitem(last=False)
            background, assets = built[scenario.name]
            built.move_to_end(scenario.name)
        return GaussianRenderer.for_scenario(scenario, width, height, list(camera_names), backend,
                                             background=background, assets=assets)

    return factory


DEFAULT_WIDTH_PX, DEFAULT_HEIGHT_PX = 480, 270
MIN_IMAGE_PX, MAX_IMAGE_PX = 16, 4096
_END_REASONS = {"route_complete": spb.END_REASON_ROUTE_COMPLETE, "scenario_end": spb.END_REASON_SCENARIO_END,
                "max_steps": spb.END_REASON_MAX_STEPS}


class ServiceError(SplatsimError):
    """A request the server refuses; `code` is the grpc.StatusCode name it answers with."""

    code = "INTERNAL"

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code


class NotFound(ServiceError):
    code = "NOT_FOUND"


class InvalidArgument(ServiceError):
    code = "INVALID_ARGUMENT"


class FailedPrecondition(ServiceError):
    code = "FAILED_PRECONDITION"


class ResourceExhausted(ServiceError):
    code = "RESOURCE_EXHAUSTED"


class Aborted(ServiceError):
    code = "ABORTED"


# ---- scenarios ----------------------------------------------------------------------------------


@dataclass
class ScenarioEntry:
    """A scenario the server can load: name, where from, and what is known before loading."""

    name: str
    source: str
    description: str = ""
    duration_us: int = 0
    num_actors: int = 0
    num_steps: int = 0
    camera_names: tuple[str, ...] = ()
    load: Callable[[], Scenario] | None = field(default=None, repr=False)


class ScenarioCatalog:
    """Scenarios from nuScenes-layout dataroots, folders of `*.scenario.npz` files and memory.

    Dataroots are opened (tables checked) at construction, so a broken dataset fails at server
    start with a DatasetError naming the file. Loaded scenarios and prepared engine contexts are
    kept in small LRU caches (both are immutable, so sessions share them).
    """

    def __init__(self, dataroots: list[tuple[str | Path, str]] = (), scenario_dirs: list[str | Path] = (),
                 scenarios: list[Scenario] = (), cache_size: int = 16):
        self._entries: dict[str, ScenarioEntry] = {}
        self._lock = threading.Lock()
        self._scenarios: OrderedDict[str, Scenario] = OrderedDict()
        self._contexts: OrderedDict[tuple, SimContext] = OrderedDict()
        self._cache_size = max(1, cache_size)
        for dataroot, version in dataroots:
            from scenarios.nuscenes_adapter import NuScenesSource

            source = NuScenesSource(dataroot, version)
            for info in source.list_scenes():
                self._add(ScenarioEntry(info.name, f"dataroot:{source.dataroot}", info.description,
                                        int(round(info.duration_s * 1e6)), info.num_actors,
                                        load=lambda s=source, n=info.name: s.load_scenario(n)))
        for folder in scenario_dirs:
            folder = Path(folder)
            if not folder.is_dir():
                raise ConfigError(f"scenario folder {folder} does not exist; pass a folder of *.scenario.npz files")
            from scenarios.scenario_file import SCENARIO_SUFFIX, load_scenario_file

            for path in sorted(folder.glob(f"*{SCENARIO_SUFFIX}")):
                self._add(ScenarioEntry(_scenario_file_name(path, SCENARIO_SUFFIX), f"file:{path}",
                                        load=lambda p=path: load_scenario_file(p)))
        for sc in scenarios:
            entry = ScenarioEntry(sc.name, "memory", load=lambda s=sc: s)
            _fill_entry(entry, sc)
            self._add(entry)

    def _add(self, entry: ScenarioEntry) -> None:
        if entry.name in self._entries:
            raise ConfigError(f"two scenarios are named {entry.name!r} ({self._entries[entry.name].source} and "
                              f"{entry.source}); serve them from separate servers or rename one")
        self._entries[entry.name] = entry

    def entries(self) -> list[ScenarioEntry]:
        with self._lock:
            return [self._entries[n] for n in sorted(self._entries)]

    def __len__(self) -> int:
        return len(self._entries)

    def scenario(self, name: str) -> Scenario:
        """The named scenario (NotFound when unknown)."""
        entry = self._entries.get(name)
        if entry is None:
            known = sorted(self._entries)
            hint = ", ".join(known[:5]) + (", ..." if len(known) > 5 else "")
            raise NotFound(f"unknown scenario {name!r}; ListScenarios names the {len(known)} served here"
                           + (f" ({hint})" if known else ""))
        with self._lock:
            if name in self._scenarios:
                self._scenarios.move_to_end(name)
                return self._scenarios[name]
            sc = entry.load()
            if sc.name != name:
                raise FailedPrecondition(f"{entry.source} holds scenario {sc.name!r}, not {name!r}; rename the file "
                                         f"to {sc.name}.scenario.npz")
            _fill_entry(entry, sc)
            self._scenarios[name] = sc
            while len(self._scenarios) > self._cache_size:
                self._scenarios.popitem(last=False)
            return sc

    def context(self, name: str, config: EngineConfig) -> SimContext:
        """The prepared engine context of a scenario under a config (shared, immutable)."""
        key = (name, config)
        with self._lock:
            if key in self._contexts:
                self._contexts.move_to_end(key)
                return self._contexts[key]
        scenario = self.scenario(name)
        try:
            ctx = prepare(scenario, config)
        except ConfigError as err:
            raise InvalidArgument(str(err)) from None
        with self._lock:
            self._contexts[key] = ctx
            while len(self._contexts) > 2 * self._cache_size:
                self._contexts.popitem(last=False)
        return ctx


def _scenario_file_name(path: Path, suffix: str) -> str:
    """A scenario file's scenario name, read from its manifest (the file name when unreadable)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return str(json.loads(archive.read("manifest.json"))["name"])
    except Exception:  # a broken file still gets listed; loading it reports what is wrong
        return path.name[: -len(suffix)]


def _fill_entry(entry: ScenarioEntry, sc: Scenario) -> None:
    entry.num_steps = sc.num_steps
    entry.duration_us = int(sc.t_us[-1] - sc.t_us[0]) if sc.num_steps else 0
    entry.num_actors = sc.actors.num_actors
    entry.camera_names = tuple(str(n) for n in available_cameras(sc))


def available_cameras(scenario: Scenario) -> list[str]:
    """Camera names a session on this scenario may ask for: its rig's, or nuScenes' six when it has none."""
    if scenario.cameras.num_cameras:
        return [str(n) for n in scenario.cameras.names]
    from render.rig import NUSCENES_CAMERA_NAMES

    return list(NUSCENES_CAMERA_NAMES)


def entry_to_proto(entry: ScenarioEntry, out: spb.ScenarioInfo) -> spb.ScenarioInfo:
    out.name, out.source, out.description = entry.name, entry.source, entry.description
    out.duration_us, out.num_actors, out.num_steps = entry.duration_us, entry.num_actors, entry.num_steps
    out.camera_names.extend(entry.camera_names)
    return out


# ---- the episode bookkeeping ---------------------------------------------------------------------




# ---- one session --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionOptions:
    """What CreateSession asked for, checked.

    - scenario: name; seed: recorded (the v1 engine is deterministic).
    - camera_names: cameras to render (empty: no images); width/height: pixels.
    - encoding: ImageEncoding; jpeg_quality; depth / alpha: extra channels.
    - engine: EngineConfig (reactive, start_step, max_steps, stop_at_route_end).
    - privileged: include ground truth; lane_radius_m: radius of the lanes sent.
    - policy_name: label written into the metrics.
    """

    scenario: str
    seed: int = 0
    camera_names: tuple[str, ...] = ()
    width: int = DEFAULT_WIDTH_PX
    height: int = DEFAULT_HEIGHT_PX
    encoding: int = pb.IMAGE_ENCODING_RAW_RGB8
    jpeg_quality: int = 90
    depth: bool = False
    alpha: bool = False
    engine: EngineConfig = EngineConfig()
    privileged: bool = False
    lane_radius_m: float = convert.DEFAULT_LANE_RADIUS_M
    policy_name: str = "remote"


def options_from_request(request: spb.CreateSessionRequest, scenario: Scenario, max_message_bytes: int,
                         renderer_available: bool) -> SessionOptions:
    """Check a CreateSessionRequest against the scenario and the server; InvalidArgument or
    FailedPrecondition name the field and the fix."""
    cams = request.cameras
    available = available_cameras(scenario)
    names = list(available) if cams.all_cameras else list(cams.names)
    unknown = [n for n in names if n not in available]
    if unknown:
        raise InvalidArgument(f"unknown camera(s) {unknown} for scenario {scenario.name!r}; choose from {available}")
    if len(set(names)) != len(names):
        raise InvalidArgument(f"camera names repeat in {names}; name each camera once")
    width = int(cams.width) or DEFAULT_WIDTH_PX
    height = int(cams.height) or DEFAULT_HEIGHT_PX
    if not (MIN_IMAGE_PX <= width <= MAX_IMAGE_PX and MIN_IMAGE_PX <= height <= MAX_IMAGE_PX):
        raise InvalidArgument(f"image size {width}x{height} is out of range; width and height must be "
                              f"{MIN_IMAGE_PX}..{MAX_IMAGE_PX} pixels")
    encoding = cams.encoding or pb.IMAGE_ENCODING_RAW_RGB8
    if encoding not in (pb.IMAGE_ENCODING_RAW_RGB8, pb.IMAGE_ENCODING_JPEG, pb.IMAGE_ENCODING_PNG):
        raise InvalidArgument(f"unknown image encoding {encoding}; use RAW_RGB8, JPEG or PNG")
    quality = int(cams.jpeg_quality) or 90
    if not 1 <= quality <= 100:
        raise InvalidArgument(f"jpeg_quality {quality} is out of range 1..100")
    if names and not renderer_available:
        raise FailedPrecondition("this server was started without a renderer, so it cannot send camera images; "
                                 "create the session with no cameras or start the server with a renderer")
    per_pixel = 3 + 4 * bool(cams.depth) + 4 * bool(cams.alpha)
    estimate = len(names) * width * height * per_pixel + 64 * 1024
    if estimate > max_message_bytes:
        raise InvalidArgument(f"{len(names)} camera(s) at {width}x{height} ({per_pixel} bytes/pixel) need about "
                              f"{estimate / 2**20:.1f} MiB per observation, over the server's message limit of "
                              f"{max_message_bytes / 2**20:.0f} MiB; ask for fewer cameras, smaller images, "
                              "JPEG/PNG, or no depth/alpha")
    radius = float(request.lane_radius_m) or convert.DEFAULT_LANE_RADIUS_M
    if not (np.isfinite(radius) and 0.0 < radius <= 1000.0):
        raise InvalidArgument(f"lane_radius_m {radius} is out of range (0, 1000] metres")
    max_steps = int(request.max_steps) if request.HasField("max_steps") else None
    if max_steps is not None and max_steps < 1:
        raise InvalidArgument("max_steps must be >= 1 when set")
    engine = EngineConfig(reactive=bool(request.reactive_actors), start_step=int(request.start_step),
                          max_steps=max_steps, stop_at_route_end=not request.continue_after_route_end)
    return SessionOptions(scenario=scenario.name, seed=int(request.seed), camera_names=tuple(names), width=width,
                          height=height, encoding=encoding, jpeg_quality=quality, depth=bool(cams.depth),
                          alpha=bool(cams.alpha), engine=engine, privileged=bool(request.privileged),
                          lane_radius_m=radius, policy_name=request.policy_name or "remote")


@dataclass(frozen=True, eq=False)
class StepReply:
    """A StepResult whose camera images stay numpy views until serialisation (the fast path of
    `convert.serialize_with_observation`): `rest` is everything but the observation,
    `observation` has no images, `images` are the payloads. Its bytes are a plain StepResult."""

    rest: spb.StepResult
    observation: pb.Observation
    images: list

    @property
    def done(self) -> bool:
        return self.rest.done

    def serialize(self) -> bytes:
        return convert.serialize_with_observation(self.rest.SerializeToString(), 1, self.observation, self.images)

    def to_message(self) -> spb.StepResult:
        return spb.StepResult.FromString(self.serialize())


def serialize_reply(reply: "StepReply | spb.StepResult") -> bytes:
    """gRPC response serializer of Reset and Step."""
    return reply.serialize() if isinstance(reply, StepReply) else reply.SerializeToString()


class Session:
    """One closed-loop episode at a time on one scenario, stepped by a remote client.

    Not thread-safe by itself: the registry serialises calls with `lock`.
    """

    def __init__(self, session_id: str, options: SessionOptions, context: SimContext, renderer: Renderer | None):
        self.id = session_id
        self.options = options
        self.context = context
        self.renderer = renderer
        self.lock = threading.Lock()
        self.created_s = time.monotonic()
        self.last_used_s = self.created_s
        self.closed = False
        self._started = False
        self._reply_sent_s = 0.0
        self._reset_state()

    # ---- episode bookkeeping (mirrors sim.engine.run_episode) ------------------------------------

    def _reset_state(self) -> None:
        self.recorder = None
        self.wall_start_s = time.perf_counter()
        self.wall_end_s: float | None = None
        self.policy_s = 0.0
        self.render_s = 0.0
        self.last_result: StepReply | None = None
        self._pending: tuple[np.ndarray, StepChecks | None] | None = None
        self.last_answered_index: int | None = None

    @property
    def state(self) -> WorldState:
        return self.recorder.state

    @property
    def checks(self) -> StepChecks:
        return self.recorder.checks

    @property
    def done(self) -> bool:
        return self.recorder is not None and self.recorder.done

    @property
    def end_reason(self) -> str:
        return self.recorder.end_reason

    def reset(self) -> StepReply:
        """Start the episode from the scenario's log; the StepReply of the first state."""
        t0 = time.perf_counter()
        self._reset_state()
        self.recorder = EpisodeRecorder(self.context)
        if self.recorder.done:
            self.wall_end_s = time.perf_counter()
        self._started = True
        engine_us = (time.perf_counter() - t0) * 1e6
        return self._result(np.zeros_like(self.recorder.hit_before), None, engine_us)

    def step(self, action: Action | None, observation_step_index: int | None = None) -> StepReply:
        """Apply `action` (None: keep tracking the held plan) for one step; the next StepReply."""
        if not self._started:
            raise FailedPrecondition(f"session {self.id} has no episode yet; call Reset before Step")
        if observation_step_index is not None and observation_step_index != self.state.step_index:
            if observation_step_index == self.last_answered_index and self._pending is not None:
                if self.last_result is None:  # the step was applied but its reply failed: build it again
                    self.last_result = self._result(*self._pending, 0.0)
                return self.last_result  # a retry of the last Step whose reply was lost: same answer
            raise FailedPrecondition(f"the action answers step {observation_step_index} but session {self.id} is at "
                                     f"step {self.state.step_index}; act on the latest observation")
        if self.done:
            raise FailedPrecondition(f"the episode of session {self.id} is done ({self.end_reason}); call Reset to "
                                     "start another or CloseSession")
        t0 = time.perf_counter()
        if self._reply_sent_s:
            self.policy_s += t0 - self._reply_sent_s
        rec = self.recorder
        prev_hit, old_checks, index = rec.hit_before.copy(), rec.checks, rec.state.step_index
        rec.advance(action)  # ActionError (nothing changed) when there is no action and no plan to hold
        self.last_answered_index = index
        if rec.done:
            self.wall_end_s = time.perf_counter()
        engine_us = (time.perf_counter() - t0) * 1e6
        self.last_result, self._pending = None, (prev_hit, old_checks)
        self.last_result = self._result(prev_hit, old_checks, engine_us)
        return self.last_result

    # ---- replies --------------------------------------------------------------------------------

    def _result(self, prev_hit: np.ndarray, prev_checks: StepChecks | None, engine_us: float) -> StepReply:
        opts, ctx, state, checks = self.options, self.context, self.state, self.checks
        t0 = time.perf_counter()
        obs = self.recorder.observe(None)
        images = None
        if self.renderer is not None and opts.camera_names:
            images = self.renderer.render(ctx.scenario, state)
            if images.rgb.shape[0] != len(opts.camera_names) or images.rgb.shape[1:3] != (opts.height, opts.width):
                raise ServiceError(f"the renderer returned images {images.rgb.shape}, expected "
                                   f"({len(opts.camera_names)}, {opts.height}, {opts.width}, 3)")
        t1 = time.perf_counter()
        self.render_s += t1 - t0
        out = spb.StepResult()
        observation = convert.observation_to_proto(obs, scenario_name=ctx.scenario.name, privileged=opts.privileged,
                                                   lane_radius_m=opts.lane_radius_m)
        payloads = [] if images is None else convert.image_payloads(images, opts.encoding, opts.jpeg_quality,
                                                                    opts.depth, opts.alpha)
        self._fill_metrics(out, checks, prev_hit, prev_checks)
        out.done = self.done
        if self.done:
            out.end_reason = _END_REASONS[self.end_reason]
            out.truncated = self.end_reason != "route_complete"
            summary_to_proto(self.metrics(), out.summary)
        t2 = time.perf_counter()
        out.timing.engine_us = int(engine_us)
        out.timing.render_us = int((t1 - t0) * 1e6)
        out.timing.encode_us = int((t2 - t1) * 1e6)
        self._reply_sent_s = time.perf_counter()
        return StepReply(out, observation, payloads)

    def _fill_metrics(self, out: spb.StepResult, checks: StepChecks, prev_hit: np.ndarray,
                      prev_checks: StepChecks | None) -> None:
        ctx, ids = self.context, self.context.scenario.actors.instance_tokens
        m = out.metrics
        m.collision = checks.collision
        if checks.collided_actor >= 0:
            m.collided_actor_id = str(ids[checks.collided_actor])
        m.collision_type = int(checks.collision_type)
        m.at_fault_collision = checks.at_fault_collision
        m.impact_speed_mps = checks.impact_speed_mps
        m.off_road = checks.off_road
        m.ttc_s = checks.ttc_s
        m.route_s_m = checks.route_s_m
        m.route_progress_m = checks.route_s_m - ctx.route_start_s_m
        expert = ctx.route_end_s_m - ctx.route_start_s_m
        m.route_completion = 1.0 if expert <= 1.0 else float(np.clip(m.route_progress_m / expert, 0.0, 1.0))
        for a in np.flatnonzero(checks.contacts & ~prev_hit).tolist():
            out.events.add(type=spb.EVENT_TYPE_COLLISION, actor_id=str(ids[a]), message=f"contact with {ids[a]}")
        if checks.at_fault_collision:
            out.events.add(type=spb.EVENT_TYPE_AT_FAULT_COLLISION, actor_id=str(ids[checks.collided_actor]),
                           message=f"at-fault collision at {checks.impact_speed_mps:.2f} m/s")
        was_off = prev_checks.off_road if prev_checks is not None else False
        if checks.off_road and not was_off:
            out.events.add(type=spb.EVENT_TYPE_OFF_ROAD, message="the ego left the drivable area")
        elif was_off and not checks.off_road:
            out.events.add(type=spb.EVENT_TYPE_BACK_ON_ROAD, message="the ego is back on the drivable area")
        if self.done and self.end_reason == "route_complete":
            out.events.add(type=spb.EVENT_TYPE_ROUTE_COMPLETE, message="the ego reached the end of its route")

    # ---- results --------------------------------------------------------------------------------

    def metrics(self) -> dict | None:
        """`sim.metrics.episode_metrics` of the episode so far (None before Reset).

        wall_s runs from Reset to the end; policy_s is the time between a reply and the next
        Step (the client's thinking plus transport); render_s is the server's rendering.
        """
        if self.recorder is None:
            return None
        wall = (self.wall_end_s or time.perf_counter()) - self.wall_start_s
        return episode_metrics(self.recorder.episode(self.options.policy_name, wall, self.policy_s,
                                                     self.render_s)).to_json()

    def close(self) -> None:
        self.closed = True
        close = getattr(self.renderer, "close", None)
        if callable(close):
            try:
                close()
            except Exception:  # a renderer that fails to close must not take the server down
                log.exception("closing the renderer of session %s failed", self.id)
        self.renderer = None


def summary_to_proto(metrics: dict | None, out: spb.EpisodeSummary) -> None:
    if metrics is None:
        return
    out.steps = int(metrics["steps"])
    out.end_reason = _END_REASONS.get(metrics["end_reason"], spb.END_REASON_UNSPECIFIED)
    out.collision = bool(metrics["collision"])
    out.at_fault_collision = bool(metrics["at_fault_collision"])
    out.off_road = bool(metrics["off_road"])
    out.route_completion = float(metrics["route_completion"])
    out.progress_m = float(metrics["progress_m"])
    out.min_ttc_s = float(min(metrics["min_ttc_s"], TTC_REPORT_CAP_S))
    out.metrics_json = json.dumps(metrics, sort_keys=True)


# ---- the registry -------------------------------------------------------------------------------


class SessionRegistry:
    """Open sessions: bounded in number, looked up by id, reclaimed when idle.

    A background reaper closes sessions with no call for `idle_timeout_s` (a client that
    vanished); sessions in the middle of a call are never reaped.
    """

    def __init__(self, max_sessions: int = 16, idle_timeout_s: float = 300.0, busy_timeout_s: float = 10.0):
        if max_sessions < 1 or idle_timeout_s <= 0:
            raise ConfigError("max_sessions must be >= 1 and the idle timeout > 0 seconds")
        self.max_sessions = max_sessions
        self.idle_timeout_s = idle_timeout_s
        self.busy_timeout_s = busy_timeout_s
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._reaper: threading.Thread | None = None
        self.reclaimed = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def ids(self) -> list[str]:
        with self._lock:
            return list(self._sessions)

    def reserve(self) -> str:
        """A new session id, or ResourceExhausted when full (the slot is held until add/release)."""
        with self._lock:
            if len(self._sessions) >= self.max_sessions:
                raise ResourceExhausted(f"the server already hosts {self.max_sessions} sessions (its --max-sessions); "
                                        "close a session (CloseSession) or wait for idle ones to be reclaimed after "
                                        f"{self.idle_timeout_s:g} s")
            sid = uuid.uuid4().hex
            self._sessions[sid] = None  # type: ignore[assignment]  # reserved
            return sid

    def add(self, session: Session) -> None:
        with self._lock:
            self._sessions[session.id] = session

    def release(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def acquire(self, session_id: str) -> Session:
        """The session, locked for one call (NotFound / Aborted when busy too long)."""
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None:
            raise NotFound(f"unknown session {session_id!r}: it was closed, reclaimed after {self.idle_timeout_s:g} s "
                           "idle, or never created; call CreateSession")
        if not session.lock.acquire(timeout=self.busy_timeout_s):
            raise Aborted(f"session {session_id} is busy with another call; send one call at a time per session")
        if session.closed:
            session.lock.release()
            raise NotFound(f"session {session_id} was closed; call CreateSession")
        session.last_used_s = time.monotonic()
        return session

    def done_with(self, session: Session) -> None:
        session.last_used_s = time.monotonic()
        session.lock.release()

    def close(self, session_id: str) -> Session | None:
        """Remove and close a session (waits for a call in progress); None when unknown."""
        with self._lock:
            session = self._sessions.pop(session_id, None)
        if session is None:
            return None
        with session.lock:
            session.close()
        return session

    def close_all(self) -> None:
        for sid in self.ids():
            self.close(sid)

    def reap_once(self, now_s: float | None = None) -> list[str]:
        """Close the sessions idle longer than the timeout; their ids."""
        now_s = time.monotonic() if now_s is None else now_s
        with self._lock:
            idle = [s for s in self._sessions.values()
                    if s is not None and now_s - s.last_used_s > self.idle_timeout_s]
        reaped = []
        for session in idle:
            if not session.lock.acquire(blocking=False):
                continue  # in a call right now: not idle
            try:
                if time.monotonic() - session.last_used_s <= self.idle_timeout_s:
                    continue
                with self._lock:
                    self._sessions.pop(session.id, None)
                session.close()
                reaped.append(session.id)
            finally:
                session.lock.release()
        if reaped:
            self.reclaimed += len(reaped)
            log.info("reclaimed %d idle session(s): %s", len(reaped), ", ".join(reaped))
        return reaped

    def start_reaper(self) -> None:
        if self._reaper is not None:
            return
        interval = min(max(self.idle_timeout_s / 4.0, 0.05), 5.0)

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.reap_once()
                except Exception:  # the reaper must outlive any one bad session
                    log.exception("session reaper failed")

        self._reaper = threading.Thread(target=loop, name="splatsim-session-reaper", daemon=True)
        self._reaper.start()

    def stop_reaper(self) -> None:
        self._stop.set()
        if self._reaper is not None:
            self._reaper.join(timeout=5.0)
            self._reaper = None

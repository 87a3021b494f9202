"""One closed-loop episode at a time on one scenario, stepped by a remote client.

A session is a thin stateful adapter over the pure engine: `reset` and `step` drive a
`sim.engine.EpisodeRecorder` (checks with `evaluate`, route progress, `hit_before`, plan
recording, held plans, the end rules), so an episode driven step by step over the wire records
the same Episode and the same `episode_metrics` as the in-process loop with the same policy.
Sessions build the Simulator service's protobuf replies (`StepResult`, `EpisodeSummary`) but do
not import grpc: problems are `policies_api.errors.ServiceError`s, which the server's handlers
turn into statuses. A call's `CallGuard` (optional) is checked before the engine step and
before each camera, so a call past its deadline or cancelled stops there.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass

import numpy as np

from policies_api import convert
from policies_api.call_guard import CallGuard
from policies_api.errors import FailedPrecondition, ServiceError
from policies_api.session_options import SessionOptions
from proto.splatsim.v1 import messages_pb2 as pb
from proto.splatsim.v1 import simulator_pb2 as spb
from sim.engine import EpisodeRecorder, SimContext, StepChecks
from sim.metrics import TTC_REPORT_CAP_S, episode_metrics
from sim.types.observation import Renderer
from sim.types.state import Action, EndReason, WorldState

log = logging.getLogger("splatsim.server")


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
        return convert.serialize_with_observation(self.rest.SerializeToString(), convert.STEP_RESULT_OBSERVATION,
                                                 self.observation, self.images)

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
    def end_reason(self) -> EndReason:
        return self.recorder.end_reason

    def reset(self, guard: CallGuard | None = None) -> StepReply:
        """Start the episode from the scenario's log; the StepReply of the first state."""
        t0 = time.perf_counter()
        self._reset_state()
        self.recorder = EpisodeRecorder(self.context)
        if self.recorder.done:
            self.wall_end_s = time.perf_counter()
        self._started = True
        engine_us = (time.perf_counter() - t0) * 1e6
        return self._result(np.zeros_like(self.recorder.hit_before), None, engine_us, guard)

    def step(self, action: Action | None, observation_step_index: int | None = None,
             guard: CallGuard | None = None) -> StepReply:
        """Apply `action` (None: keep tracking the held plan) for one step; the next StepReply.

        With a guard, a call past its deadline stops before the engine step (nothing changed)
        or before a camera (the step was applied: a retry with the same observation_step_index
        returns its reply)."""
        if not self._started:
            raise FailedPrecondition(f"session {self.id} has no episode yet; call Reset before Step")
        if observation_step_index is not None and observation_step_index != self.state.step_index:
            if observation_step_index == self.last_answered_index and self._pending is not None:
                if self.last_result is None:  # the step was applied but its reply failed: build it again
                    self.last_result = self._result(*self._pending, 0.0, guard)
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
        if guard is not None:
            guard.check("the engine step (nothing was changed)")
        rec.advance(action)  # ActionError (nothing changed) when there is no action and no plan to hold
        if guard is not None:
            guard.done()
        self.last_answered_index = index
        if rec.done:
            self.wall_end_s = time.perf_counter()
        engine_us = (time.perf_counter() - t0) * 1e6
        self.last_result, self._pending = None, (prev_hit, old_checks)
        self.last_result = self._result(prev_hit, old_checks, engine_us, guard)
        return self.last_result

    # ---- replies --------------------------------------------------------------------------------

    def _result(self, prev_hit: np.ndarray, prev_checks: StepChecks | None, engine_us: float,
                guard: CallGuard | None = None) -> StepReply:
        opts, ctx, state, checks = self.options, self.context, self.state, self.checks
        t0 = time.perf_counter()
        obs = self.recorder.observe(None)
        images = None
        if self.renderer is not None and opts.camera_names:
            before_camera = None
            if guard is not None:
                def before_camera(i: int) -> None:
                    if i > 0:
                        guard.done()  # camera i - 1 was rendered
                    guard.check(f"rendering camera {opts.camera_names[i]} of step {state.step_index} (the state "
                                "is kept: a retry with the same observation_step_index returns its observation)")
            images = self.renderer.render(ctx.scenario, state, before_camera)
            if guard is not None:
                guard.done()
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
            out.end_reason = convert.END_REASON_TO_PB[self.end_reason]
            out.truncated = self.end_reason != EndReason.ROUTE_COMPLETE
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
        if self.done and self.end_reason == EndReason.ROUTE_COMPLETE:
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
    out.end_reason = convert.END_REASON_TO_PB[EndReason(metrics["end_reason"])]
    out.collision = bool(metrics["collision"])
    out.at_fault_collision = bool(metrics["at_fault_collision"])
    out.off_road = bool(metrics["off_road"])
    out.route_completion = float(metrics["route_completion"])
    out.progress_m = float(metrics["progress_m"])
    out.min_ttc_s = float(min(metrics["min_ttc_s"], TTC_REPORT_CAP_S))
    out.metrics_json = json.dumps(metrics, sort_keys=True)

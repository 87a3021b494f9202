"""A `sim.types.observation.Policy` that asks a DrivingPolicy server for each plan.

    from policies_api.remote_policy import RemotePolicy
    policy = RemotePolicy("grpc://127.0.0.1:50052")      # or "unix:///tmp/stack.sock"
    episode = run_episode(prepare(scenario), policy, renderer)
    policy.end_episode(episode_metrics(episode).to_json()); policy.close()

`reset(scenario)` starts an episode on the server (StartEpisode), `plan(observation)` sends the
observation (images encoded as asked; privileged ground truth only when `privileged=True`) and
returns the server's Trajectory or Controls as a TrajectoryAction / ControlAction. Any failure
raises `policies_api.client.RemoteError` (a SplatsimError) naming the call and the status.

A policy server started with an access token or TLS (`serve_policy(token=..., tls=...)`) is called
with `token=` / `tls=`, or, where a policy is only named (`splatsim run --policy grpc://...`), with
the environment variables SPLATSIM_POLICY_TOKEN and SPLATSIM_POLICY_TLS_CA/CERT/KEY (distinct
from the simulator's SPLATSIM_TOKEN, which is never sent to a policy).
"""

from __future__ import annotations

import json
import math
import uuid

from policies_api import convert
from policies_api.client import RemoteError, call, connect, normalize_target
from policies_api.security import POLICY_ENV_PREFIX, ClientTLS
from policies_api.server import DEFAULT_MAX_MESSAGE_BYTES
from proto.splatsim.v1 import driving_policy_pb2 as dpb
from proto.splatsim.v1 import driving_policy_pb2_grpc as dpb_grpc
from sim.errors import ActionError
from sim.types.observation import Observation
from sim.types.scenario import STEP_US, Scenario
from sim.types.state import Action


def is_remote_policy_name(name: str) -> bool:
    """Whether a --policy value names a remote policy (grpc://HOST:PORT, unix://PATH, unix:PATH)."""
    return name.startswith(("grpc://", "unix:"))


class RemotePolicy:
    """A policy served elsewhere (any language) behind `service splatsim.v1.DrivingPolicy`.

    - target: "grpc://HOST:PORT", "HOST:PORT", "unix://PATH" or "unix:PATH".
    - timeout_s: deadline of each Plan call; connect_timeout_s: wait for the server at start.
    - privileged: send ground truth (actor boxes, nearby lanes) in every observation.
    - encoding ("raw" | "jpeg" | "png"), jpeg_quality, depth, alpha: how images are sent.
    - token: the policy server's access token (default: SPLATSIM_POLICY_TOKEN).
    - tls: TLS of a TCP target (default: SPLATSIM_POLICY_TLS_CA, _CERT, _KEY when set).
    """

    def __init__(self, target: str, timeout_s: float = 10.0, connect_timeout_s: float = 10.0, privileged: bool = False,
                 encoding: str = "raw", jpeg_quality: int = 90, depth: bool = False, alpha: bool = False,
                 lane_radius_m: float = convert.DEFAULT_LANE_RADIUS_M,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, token: str | None = None,
                 tls: ClientTLS | None = None):
        if encoding not in convert.ENCODINGS:
            raise RemoteError(f"unknown encoding {encoding!r}; choose one of {', '.join(convert.ENCODINGS)}")
        self.target = target
        self.name = target
        self.timeout_s = timeout_s
        self.privileged = privileged
        self.encoding, self.jpeg_quality = convert.ENCODINGS[encoding], jpeg_quality
        self.depth, self.alpha = depth, alpha
        self.lane_radius_m = lane_radius_m
        self._channel, self._metadata = connect(
            normalize_target(target), "a driving policy server (start the stack, e.g. serve_policy(...))", token, tls,
            POLICY_ENV_PREFIX, connect_timeout_s, max_message_bytes)
        self.stub = dpb_grpc.DrivingPolicyStub(self._channel)
        # Plan requests are serialised here (images appended from numpy views: one copy).
        self._plan_raw = self._channel.unary_unary("/splatsim.v1.DrivingPolicy/Plan",
                                                   response_deserializer=dpb.PlanResponse.FromString,
                                                   _registered_method=True)
        self.episode_id: str | None = None
        self._scenario_name = ""

    def reset(self, scenario: Scenario) -> None:
        """Start an episode on the server (ending the previous one)."""
        if self.episode_id is not None:
            self.end_episode()
        episode_id = uuid.uuid4().hex
        self._scenario_name = scenario.name if scenario is not None else ""
        start_t_us = int(scenario.t_us[0]) if scenario is not None and scenario.num_steps else 0
        reply = call(self.stub.StartEpisode, dpb.StartEpisodeRequest(
            episode_id=episode_id, scenario_name=self._scenario_name, start_t_us=start_t_us, step_us=STEP_US),
            self.timeout_s, f"StartEpisode on {self.target}", self._metadata)
        self.episode_id = episode_id
        self.name = reply.policy_name or self.target

    def plan(self, observation: Observation) -> Action:
        """Ask the server for the plan of one observation."""
        if self.episode_id is None:
            self.reset(observation.scenario)
        obs = convert.observation_to_proto(observation, scenario_name=self._scenario_name, privileged=self.privileged,
                                           lane_radius_m=self.lane_radius_m, include_images=False)
        payloads = [] if observation.images is None else convert.image_payloads(
            observation.images, self.encoding, self.jpeg_quality, self.depth, self.alpha)
        request = convert.serialize_with_observation(dpb.PlanRequest(episode_id=self.episode_id).SerializeToString(),
                                                     convert.PLAN_REQUEST_OBSERVATION, obs, payloads)
        reply = call(self._plan_raw, request, self.timeout_s, f"Plan on {self.target}", self._metadata)
        try:
            action = convert.get_action(reply)
        except ActionError as err:
            raise RemoteError(f"the policy at {self.target} returned an unusable plan: {err}") from None
        if action is None:
            raise RemoteError(f"the policy at {self.target} returned no plan (set PlanResponse.trajectory or "
                              ".controls)")
        return action

    def end_episode(self, metrics: dict | None = None) -> None:
        """Tell the server the episode ended (with its metrics when known)."""
        if self.episode_id is None:
            return
        episode_id, self.episode_id = self.episode_id, None
        text = json.dumps(_json_safe(metrics), sort_keys=True) if metrics is not None else ""
        call(self.stub.EndEpisode, dpb.EndEpisodeRequest(episode_id=episode_id, metrics_json=text), self.timeout_s,
             f"EndEpisode on {self.target}", self._metadata)

    def close(self) -> None:
        """End the open episode (best effort) and close the channel."""
        try:
            self.end_episode()
        except RemoteError:
            pass
        finally:
            self._channel.close()

    def __enter__(self) -> "RemotePolicy":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _json_safe(value):
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value

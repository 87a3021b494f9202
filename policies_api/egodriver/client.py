"""A `sim.types.observation.Policy` that drives an NVIDIA AlpaSim driver (`egodriver.EgodriverService`).

    policy = EgodriverPolicy("egodriver://127.0.0.1:50051")        # or "egodriver+unix:///tmp/driver.sock"
    episode = run_episode(prepare(scenario), policy, renderer)      # splatsim is the driver's runtime
    policy.close()

Per episode: get_version (the contract revision the driver declares), then, at the first step
(when the rendered cameras are known), start_session with a fresh uuid, the seed, the scene's name
and one AvailableCamera per rendered camera. Per step, as AlpaSim's runtime does: the egomotion,
the route, one image per camera and (optionally) the logged trajectory are submitted concurrently,
then `drive`; its plan becomes the TrajectoryAction (an empty plan holds the ego where it is).
`terminate_session` raises sim.errors.PolicyTerminated (run_episode ends the episode with
EndReason.POLICY_TERMINATED); close_session always follows. What the driver puts in
debug_info (a pickle, in alpasim mode) is never decoded.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np

from policies_api import convert
from policies_api.client import RemoteError
from policies_api.egodriver import frames
from policies_api.egodriver.config import EgodriverConfig
from proto.alpasim.v0 import RPCS, SERVICE_PATH
from proto.alpasim.v0 import common_pb2 as cpb
from proto.alpasim.v0 import egodriver_pb2 as epb
from sim.errors import ConfigError, PolicyTerminated
from sim.types.observation import Observation
from sim.types.scenario import STEP_US, Scenario
from sim.types.state import Action

SCHEMES = ("egodriver://", "egodriver+unix://")
# carla-driver-interface's contract revision travels in this metadata key (its `contract` module):
# a server declares it in get_version's initial metadata, a client with start_session.
CONTRACT_METADATA_KEY = "carla-driver-interface-contract"
# A driver that declares no revision is taken to speak AlpaSim's own convention (revision 2).
ALPASIM_REVISION = 2
MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # whole camera frames travel as single messages
_RESPONSES = {"start_session": cpb.SessionRequestStatus, "get_version": cpb.VersionId, "drive": epb.DriveResponse}


def is_egodriver_policy_name(name: str) -> bool:
    """Whether a --policy value names an AlpaSim driver (egodriver://HOST:PORT, egodriver+unix://PATH)."""
    return name.startswith(SCHEMES)


def grpc_target(name: str) -> str:
    """`egodriver://HOST:PORT` -> `HOST:PORT`; `egodriver+unix:///abs` -> `unix:///abs`, `egodriver+unix://rel`
    -> `unix:rel`. ConfigError for anything else."""
    if name.startswith("egodriver://"):
        rest = name[len("egodriver://"):]
        if not rest or ":" not in rest or not rest.rsplit(":", 1)[1].isdigit():
            raise ConfigError(f"--policy {name!r}: expected egodriver://HOST:PORT, e.g. egodriver://127.0.0.1:50051")
        return rest
    if name.startswith("egodriver+unix://"):
        path = name[len("egodriver+unix://"):]
        if not path:
            raise ConfigError(f"--policy {name!r}: expected egodriver+unix:///path/to/driver.sock")
        return f"unix://{path}" if path.startswith("/") else f"unix:{path}"
    raise ConfigError(f"--policy {name!r} is not an egodriver address; use egodriver://HOST:PORT or "
                      "egodriver+unix:///PATH")


class EgodriverPolicy:
    """One AlpaSim driver behind `egodriver.EgodriverService`; a session per episode.

    - target: egodriver://HOST:PORT or egodriver+unix://PATH; config: EgodriverConfig; seed: the
      sessions' random_seed.
    - version: the driver's VersionId; revision: the contract revision spoken (1 or 2).
    """

    def __init__(self, target: str, config: EgodriverConfig = EgodriverConfig(), seed: int = 0):
        self.target = self.name = target
        self.config, self.seed = config, int(seed)
        options = [("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                   ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)]
        self._channel = grpc.insecure_channel(grpc_target(target), options=options)
        try:
            grpc.channel_ready_future(self._channel).result(timeout=config.connect_timeout_s)
        except grpc.FutureTimeoutError:
            self._channel.close()
            raise RemoteError(f"cannot reach an AlpaSim driver at {target} within {config.connect_timeout_s:g} s; "
                              "start it (e.g. carla-driver-interface serve --mode alpasim --port P) or check the "
                              "address", grpc.StatusCode.UNAVAILABLE) from None
        self._rpc = {name: self._channel.unary_unary(SERVICE_PATH + name, request_serializer=_serialize,
                                                     response_deserializer=_RESPONSES.get(name, cpb.Empty).FromString)
                     for name in RPCS}
        try:
            self.version, self.revision = self._negotiate()
        except RemoteError:
            self._channel.close()
            raise
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="egodriver-submit")
        self.session_uuid: str | None = None
        self._scenario: Scenario | None = None

    def _negotiate(self) -> tuple[cpb.VersionId, int]:
        try:
            version, call = self._rpc["get_version"].with_call(cpb.Empty(), timeout=self.config.timeout_s)
        except grpc.RpcError as err:
            raise _error(err, f"get_version on {self.target}") from None
        declared = dict(call.initial_metadata() or ()).get(CONTRACT_METADATA_KEY)
        wanted = self.config.contract_revision
        if declared is not None and declared not in ("1", "2"):
            raise RemoteError(f"the driver at {self.target} ({version.version_id}) speaks contract revision "
                              f"{declared}; splatsim speaks 1 and 2 (set contract_revision in --egodriver-config "
                              "or use a carla-driver-interface 1.x/2.x driver)", grpc.StatusCode.FAILED_PRECONDITION)
        revision = int(declared) if declared is not None else ALPASIM_REVISION
        return version, revision if wanted == "auto" else int(wanted)

    # -- the Policy protocol --

    def reset(self, scenario: Scenario | None) -> None:
        """End the open session; the next `plan` starts one for this scenario."""
        self.end_episode()
        self._scenario = scenario

    def plan(self, observation: Observation) -> Action:
        """Submit the step's observations, ask `drive`, return its plan in the ego frame."""
        if self.session_uuid is None:
            self._start_session(observation)
        t_now = int(observation.t_us)
        ego = observation.ego
        submits = [("submit_egomotion_observation", self._egomotion(observation)),
                   ("submit_route", self._route(observation))]
        submits += [("submit_image_observation", r) for r in self._images(observation)]
        if self.config.ground_truth and self._scenario is not None:
            submits.append(("submit_recording_ground_truth", self._ground_truth(observation)))
        # Blocking calls on a kept pool (gRPC's own futures start a thread per call), the last one on this
        # thread; all observations reach the driver before drive (AlpaSim's barrier).
        pending = [(name, self._pool.submit(self._rpc[name], request, timeout=self.config.timeout_s))
                   for name, request in submits[:-1]]
        last, request = submits[-1]
        try:
            self._rpc[last](request, timeout=self.config.timeout_s)
        except grpc.RpcError as err:
            raise _error(err, f"{last} on {self.target}") from None
        for name, future in pending:
            try:
                future.result()
            except grpc.RpcError as err:
                raise _error(err, f"{name} on {self.target}") from None
        request = epb.DriveRequest(session_uuid=self.session_uuid, time_now_us=t_now, time_query_us=t_now + STEP_US)
        try:
            reply = self._rpc["drive"](request, timeout=self.config.timeout_s)
        except grpc.RpcError as err:
            raise _error(err, f"drive on {self.target}") from None
        # reply.debug_info.unstructured_debug_info is opaque (a pickle from alpasim-mode drivers): never decoded.
        if reply.terminate_session:
            raise PolicyTerminated(f"the driver at {self.target} ended session {self.session_uuid} at t={t_now} us "
                                   "(terminate_session)")
        try:
            action = frames.plan_to_action(reply.trajectory, ego, t_now)
        except ValueError as err:
            raise RemoteError(f"the driver at {self.target} returned an unusable plan: {err}") from None
        return frames.hold_action() if action is None else action

    def end_episode(self, metrics: dict | None = None) -> None:
        """close_session on the open session (the episode's metrics are splatsim's own; none are sent)."""
        if self.session_uuid is None:
            return
        session, self.session_uuid = self.session_uuid, None
        try:
            self._rpc["close_session"](epb.DriveSessionCloseRequest(session_uuid=session),
                                       timeout=self.config.timeout_s)
        except grpc.RpcError as err:
            raise _error(err, f"close_session on {self.target}") from None

    def close(self) -> None:
        """Close the open session (best effort) and the channel."""
        try:
            self.end_episode()
        except RemoteError:
            pass
        finally:
            self._pool.shutdown(wait=True)
            self._channel.close()

    def __enter__(self) -> "EgodriverPolicy":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- requests --

    def _start_session(self, observation: Observation) -> None:
        images = observation.images
        cameras = []
        if images is not None:
            height, width = images.rgb.shape[1:3]
            for c, name in enumerate(images.names):
                cam = self.config.camera(str(name))
                cameras.append(frames.available_camera(cam.logical_id, images.intrinsics[c], width, height,
                                                       images.pose_camera_to_ego[c], self.revision))
        scene = self._scenario.name if self._scenario is not None else ""
        session = uuid.uuid4().hex
        request = epb.DriveSessionRequest(
            session_uuid=session, random_seed=self.seed, debug_info=epb.DriveSessionRequest.DebugInfo(scene_id=scene),
            rollout_spec=epb.DriveSessionRequest.RolloutSpec(
                vehicle=epb.DriveSessionRequest.RolloutSpec.VehicleDefinition(available_cameras=cameras)))
        try:
            self._rpc["start_session"](request, timeout=self.config.timeout_s,
                                       metadata=((CONTRACT_METADATA_KEY, str(self.revision)),))
        except grpc.RpcError as err:
            if err.code() == grpc.StatusCode.FAILED_PRECONDITION:
                raise RemoteError(f"the driver at {self.target} refused the session on scene {scene!r} "
                                  f"(FAILED_PRECONDITION: {err.details()}); it cannot drive with the declared cameras "
                                  f"({', '.join(c.logical_id for c in cameras) or 'none'}): change --camera or the "
                                  "camera map in --egodriver-config", err.code()) from None
            raise _error(err, f"start_session on {self.target}") from None
        self.session_uuid = session
        self.name = f"{self.target} ({self.version.version_id})" if self.version.version_id else self.target

    def _egomotion(self, observation: Observation) -> epb.RolloutEgoTrajectory:
        """The poses since the last submission: splatsim's policies see the states they plan from, so
        that is this step's pose (one per step at 10 Hz)."""
        ego = observation.ego
        pose = cpb.PoseAtTime(pose=frames.ego_pose_local_to_rig(ego.x_m, ego.y_m, ego.yaw_rad),
                              timestamp_us=int(observation.t_us))
        return epb.RolloutEgoTrajectory(session_uuid=self.session_uuid, trajectory=cpb.Trajectory(poses=[pose]),
                                        dynamic_states=[frames.dynamic_state_in_rig(ego)])

    def _route(self, observation: Observation) -> epb.RouteRequest:
        cfg = self.config
        waypoints = frames.route_waypoints_in_rig(observation.route_xy_in_ego, cfg.route_waypoints,
                                                  cfg.route_spacing_m, cfg.route_padding)
        route = epb.Route(timestamp_us=int(observation.t_us),
                          waypoints=[cpb.Vec3(x=float(x), y=float(y), z=float(z)) for x, y, z in waypoints])
        return epb.RouteRequest(session_uuid=self.session_uuid, route=route)

    def _images(self, observation: Observation) -> list[epb.RolloutCameraImage]:
        images = observation.images
        if images is None:
            return []
        encoding = convert.ENCODINGS[self.config.image_format]
        t_us = int(observation.t_us)  # a global shutter: the frame is exposed at the step's instant
        return [epb.RolloutCameraImage(session_uuid=self.session_uuid, camera_image=epb.RolloutCameraImage.CameraImage(
                    frame_start_us=t_us, frame_end_us=t_us, logical_id=self.config.camera(str(name)).logical_id,
                    image_bytes=convert.encode_rgb(images.rgb[c], encoding, self.config.jpeg_quality)))
                for c, name in enumerate(images.names)]

    def _ground_truth(self, observation: Observation) -> epb.GroundTruthRequest:
        """The logged ego trajectory (every valid step) in the rig frame of now."""
        sc = self._scenario
        valid = np.flatnonzero(sc.ego.valid)
        xy, yaw = frames.poses_in_rig(sc.ego.xy[valid], sc.ego.yaw_rad[valid], observation.ego)
        return epb.GroundTruthRequest(session_uuid=self.session_uuid, ground_truth=epb.GroundTruth(
            timestamp_us=int(observation.t_us), trajectory=frames.trajectory_msg(sc.t_us[valid], xy, yaw)))


def _serialize(message) -> bytes:
    return message.SerializeToString()


def _error(err: grpc.RpcError, what: str) -> RemoteError:
    code = err.code() if hasattr(err, "code") else None
    details = err.details() if hasattr(err, "details") else str(err)
    return RemoteError(f"{what} failed: {code.name if code else 'error'}: {details}", code)

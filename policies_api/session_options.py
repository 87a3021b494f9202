"""What a CreateSession request asks for, checked against the scenario and the server."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from policies_api import convert
from policies_api.catalog import available_cameras
from policies_api.errors import FailedPrecondition, InvalidArgument, clip
from proto.splatsim.v1 import messages_pb2 as pb
from proto.splatsim.v1 import simulator_pb2 as spb
from sim.engine import EngineConfig
from sim.types.scenario import Scenario

DEFAULT_WIDTH_PX, DEFAULT_HEIGHT_PX = 480, 270
MIN_IMAGE_PX, MAX_IMAGE_PX = 16, 4096


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
        raise InvalidArgument(f"unknown camera(s) {clip(str(unknown))} for scenario {scenario.name!r}; choose from "
                              f"{available}")
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

"""Settings of the nuScenes adapter: the adapter's, the route's and the driving command's."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class DrivingCommandConfig:
    """How the NAVSIM-style driving command is derived at each step.

    Rule: project the ego onto the route centerline, take the point `lookahead_m` further along
    the route, and express it in the ego frame. If the route's heading there differs from the
    ego's yaw by more than `heading_threshold_rad`, the command is LEFT (the route turns
    counter-clockwise) or RIGHT; otherwise, if that point lies more than `lateral_threshold_m`
    to the left (right) of the ego, LEFT (RIGHT) (bends that end within the lookahead);
    otherwise STRAIGHT. Lookahead by distance along the route, not by time, gives a stopped
    ego the command of the manoeuvre it is waiting to make. The ego's yaw (not its lane's
    heading) is the reference because map lanes are polylines with kinks of ~10 deg between
    pieces, which at 20 m would read as a 3.5 m offset; a lane change mostly reads STRAIGHT,
    since by the time the route ahead lies in the next lane the ego already points there.

    - lookahead_m: distance along the route ahead of the ego's projection.
    - lateral_threshold_m: lateral offset of the lookahead point, ego frame.
    - heading_threshold_rad: heading change of the route at the lookahead point.
    """

    lookahead_m: float = 20.0
    lateral_threshold_m: float = 2.5
    heading_threshold_rad: float = math.radians(30.0)


@dataclass(frozen=True)
class RouteConfig:
    """How the ego's logged path is turned into a lane route.

    - min_run_steps: a lane the ego is matched to for fewer consecutive steps is treated as
      matching noise, and dropped, unless connectivity links it to the lanes before and after
      (a short connector crossed quickly is real).
    - max_bridge_lanes: between two consecutive matched lanes, up to this many lanes the ego
      drove through without being matched to them (short connectors) are filled in from the
      lane graph's successor links.
    - match_chunk_points: ego poses matched per nearest-lane query; bounds the query's memory
      (points x map segments) on large maps.
    - command: the driving command rule.
    """

    min_run_steps: int = 3
    max_bridge_lanes: int = 3
    match_chunk_points: int = 64
    command: DrivingCommandConfig = field(default_factory=DrivingCommandConfig)


@dataclass(frozen=True)
class AdapterConfig:
    """Settings of the nuScenes adapter.

    - lane_resolution_m: spacing of the points on discretised lane centerlines.
    - default_lane_width_m: width of a lane whose record has no polygon.
    - max_annotation_gap_s: an actor is invalid between consecutive annotations further apart
      than this (it was out of view; interpolating across would invent motion).
    - timestamp_tolerance_us: a grid time this close outside a span of poses (the ego's last
      pose, an actor's first or last annotation) still counts as inside it, with the boundary
      pose: sensor timestamps jitter by ~1 ms around the 10 Hz grid (the real logs' last sweep
      is 0.2 ms short of the grid). This absorbs jitter; it is not extrapolation.
    - crop_min_canvas_m2: maps whose canvas is larger than this (nuScenes' city maps) are cut to
      the scene's region; smaller maps (AV2 log maps, the demo town) are kept whole.
    - crop_margin_m: margin around the ego's and the actors' positions kept when cropping.
    - route: how the ego's route and driving commands are derived.
    """

    lane_resolution_m: float = 0.5
    default_lane_width_m: float = 3.5
    max_annotation_gap_s: float = 1.5
    timestamp_tolerance_us: int = 2_000
    crop_min_canvas_m2: float = 1.0e6
    crop_margin_m: float = 50.0
    route: RouteConfig = field(default_factory=RouteConfig)

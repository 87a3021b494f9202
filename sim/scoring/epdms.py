"""EPDMS: NAVSIM v2's Extended Predictive Driver Model Score of a 4 s ego trajectory proposal.

Definition: "Pseudo-Simulation for Autonomous Driving" (Cao, Hallgarten, Li, Dauner, Jia, Li,
Chitta et al., CoRL 2025, arXiv:2506.04218) and NAVSIM v2's scorer
(autonomousvision/navsim: navsim/planning/simulation/planner/pdm_planner/scoring/pdm_scorer.py,
pdm_comfort_metrics.py, scene_aggregator.py, navsim/evaluate/pdm_score.py); NAVSIM v1's PDMS is
in "NAVSIM: Data-Driven Non-Reactive Autonomous Vehicle Simulation and Benchmarking" (Dauner et
al., NeurIPS 2024, arXiv:2406.15349). This is our own implementation on the engine's types.

    EPDMS = NC * DAC * DDC * TLC * (5 EP + 5 TTC + 2 LK + 2 HC + 2 EC) / 16

A proposal (40 poses at 0.1 .. 4.0 s in the ego frame) is tracked from the ego state by the
engine's tracker and kinematic bicycle (`sim.dynamics.tracker.rollout`, 40 steps, like NAVSIM's LQR +
bicycle), giving 41 states (t = 0 .. 4 s). The logged actors are where the log has them at each
of those steps (non-reactive). Then, over the 41 states:

- NC, no at-fault collision, {0, 0.5, 1}: the first contact with each actor is classified with
  NAVSIM's rules (ego stopped -> not at fault; actor stopped (static objects always) -> at fault;
  actor behind the ego (> 150 deg from its heading) -> not at fault; front bumper contact -> at
  fault; lateral -> at fault only when the ego straddles lanes or is off the drivable area). An
  at-fault contact with a vehicle, pedestrian or cyclist gives 0, with a static object 0.5.
  Actors of a not-at-fault contact are ignored from then on.
- DAC, drivable area compliance, {0, 1}: 0 when any footprint corner leaves the drivable area.
- DDC, driving direction compliance, {0, 0.5, 1}: the box centre's travel while it is in no lane
  of the route's direction, summed over every 1 s window; max < 2 m -> 1, < 6 m -> 0.5, else 0.
- TLC, traffic light compliance, {0, 1}: 1, as NAVSIM scores maps without signal states (ours,
  nuScenes map expansion and the AV2 logs, carry none). Stop lines are inferred from where the
  logged ego waited at a junction entry with nothing ahead of it (`sim.scoring.stop_controls`,
  as nuPlan infers its light states from the logged traffic); the reference planner always
  stops at them, and with EPDMSConfig.stop_controls.score_red_lines TLC is 0 when the front
  bumper crosses one while it is red. That is off by default because policies do not observe
  the inferred lines.
- EP, ego progress, [0, 1]: progress of the box centre along the route centerline, times the
  proposal's multiplier product, divided by the larger of that and the same value of the
  reference: the proposal PDM-Closed picks among IDM proposals at 5 target speeds and 3 lateral
  offsets (`sim.scoring.reference_planner`) by the NAVSIM v1 PDM score on its own constant-
  velocity forecast of the actors, stopping before the stop lines red at the frame; that choice
  is then scored against the logged actors like any proposal. EP is 1 when the larger value is
  at most 5 m.
- TTC, time to collision within bound, {0, 1}: at each state t = 0 .. 3.1 s the ego box is moved
  on at its current velocity for 0, 0.3, 0.6 and 0.9 s and tested against the actors at those
  future steps; a hit is the ego's (0) when the actor is ahead (< 30 deg off the heading), or the
  ego straddles lanes / is off-road / is in an intersection and the actor is not behind.
- LK, lane keeping, {0, 1}: 0 when the box centre is more than 0.5 m from the route centerline
  for 2 s in a row, steps in intersections neither counting nor resetting the run.
- HC, history comfort, {0, 1}: the past 1.5 s of the log followed by the 41 states pass nuPlan's
  six comfort bounds on Savitzky-Golay filtered signals (`sim.scoring.comfort`).
- EC, extended comfort, {0, 1}: RMS differences of acceleration, jerk, yaw rate and yaw
  acceleration between this proposal's states and the previous proposal's (0.5 s earlier) on
  their overlap. 1 when there is no previous proposal.

Human filter (NAVSIM v2 `human_penalty_filter`, on by default): the logged human's own future is
scored the same way, alone (so its EP is 0 only when its multipliers are 0), and without history
(as NAVSIM passes none for it, its HC is never 0); every metric the human scores 0 on is set to 1
for the proposal. EC is never filtered. The filter needs the logged human at the frame, so it
applies only when the ego state is the logged one.

Modelling choices where our data differ from NAVSIM's (each is a named constant):
- The engine's tracker treats a plan's end as "stop there"; a proposal is handed to it continued
  for TRACKER_TAIL_S with its final speed trend and turn rate, and only the 4 s are simulated.
- The logged ego carries poses only; its speed, acceleration and yaw rate (the initial state of
  every rollout and the 1.5 s of comfort history) are Savitzky-Golay derivatives of the poses
  (LOG_DERIVATIVE_WINDOW), NAVSIM's logs carrying filtered vehicle states instead.
- The human's trajectory is taken at every logged pose (EPDMSConfig.human_pose_interval_s).

Map approximations (ours, documented): lanes are given by centerlines and a mean width, so a
lane's area is the set of points within half its width of the centerline, capped flat at the
lane's ends; "intersection" is a lane connector's area; "route direction" lanes are the route's
lanes plus any lane whose local heading is within 45 deg of the route's heading (NAVSIM uses the
lanes of the route's roadblocks, which include same-direction neighbours). The route centerline
is extended straight by 30 m backwards and 100 m forwards so that progress is never clipped by
its end.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, field, fields
from typing import Callable, Sequence

import numpy as np
import shapely
from numba import njit
from scipy.signal import savgol_filter

from sim.checks import CollisionType, _obb_overlap
from sim.dynamics.tracker import CURVATURE_MIN_ARC_M, TrackerParams, reference_from_trajectory, rollout
from sim.engine import PLAN_HORIZON_STEPS, SimContext, observe, route_arclength
from sim.errors import ActionError, ConfigError
from sim.geometry import global_to_local_xy, path_curvature_kernel, polyline_arclength, project_point_kernel, wrap_angle
from sim.scoring.comfort import (
    ComfortConfig,
    ComfortResult,
    Kinematics,
    concat_kinematics,
    extended_comfort,
    history_comfort,
    kinematics_from_states,
)
from sim.scoring.reference_planner import ReferencePlannerConfig, reference_proposals
from sim.scoring.stop_controls import (
    NO_STOP_CONTROLS,
    StopControlConfig,
    StopControls,
    infer_stop_controls,
    red_light_crossing,
)
from sim.types.scenario import DT_S, ActorKind
from sim.types.state import ControlAction, EgoState, TrajectoryAction, WorldState

METRIC_NAMES = ("nc", "dac", "ddc", "tlc", "ep", "ttc", "lk", "hc", "ec")
MULTIPLIER_NAMES = ("nc", "dac", "ddc", "tlc")
ROUTE_BACK_EXTENSION_M = 30.0
ROUTE_FORWARD_EXTENSION_M = 100.0
LANE_GRID_CELL_M = 5.0
TRACKER_TAIL_S = 1.0  # the proposal continued past its horizon for the tracker (see proposal_states)
LOG_DERIVATIVE_WINDOW = 11  # steps of the Savitzky-Golay derivatives of the logged ego (see _log_states)


@dataclass(frozen=True)
class EPDMSConfig:
    """Every constant of the score (NAVSIM v2's PDMScorerConfig unless said otherwise).

    Weights of the weighted average (denominator: their sum, 16):
    - progress_weight (EP) 5, ttc_weight 5, lane_keeping_weight 2, history_comfort_weight 2,
      extended_comfort_weight 2.
    Horizon:
    - horizon_steps: proposal poses at 0.1 s (NAVSIM: 40 = 4 s); dt_s: their spacing.
    NC:
    - static_collision_score: NC of an at-fault contact with a static object (0.5).
    - collision_stopped_speed_mps: ego or actor at or below this speed counts as stopped (5e-2).
    - agent_behind_angle_rad: an actor more than this off the ego's heading is behind (150 deg,
      nuPlan's is_agent_behind); agent_ahead_angle_rad: less than this is ahead (30 deg).
    DDC:
    - driving_direction_horizon_s (1 s), driving_direction_compliance_m (2 m),
      driving_direction_violation_m (6 m).
    - route_direction_tolerance_rad: ours (see the module docstring): a lane counts as of the
      route's direction when its heading is within this of the route's (45 deg).
    TTC:
    - ttc_horizon_s: how far the ego is projected (1 s); ttc_stride_steps: projection times are
      0, 3, 6, ... steps below the horizon (0, 0.3, 0.6, 0.9 s); ttc_stopped_speed_mps: no TTC
      infraction below this ego speed (5e-3).
    EP:
    - progress_distance_threshold_m: EP is 1 when the best progress is at most this (5 m).
    LK:
    - lane_keeping_deviation_m (0.5 m), lane_keeping_window_s (2 s).
    Others:
    - comfort: HC and EC constants; reference: the reference planner; tracker: the tracker
      that turns proposals into states (the engine's defaults).
    - stop_controls: how stop lines are inferred from the logged ego (TLC and the reference).
    - human_penalty_filter: apply NAVSIM's human filter where the ego is at the logged state.
    - human_pose_interval_s: the logged human's trajectory (the "expert" proposal and the human
      filter's) is taken at this spacing and linearly interpolated to the 0.1 s grid. NAVSIM
      samples it at its 2 Hz database interval (0.5 s), and its LQR fits smooth (jerk-penalised)
      speed and curvature profiles to the poses; the engine's tracker differentiates its
      reference directly, so 0.5 s poses would put a speed kink into the tracked motion every
      0.5 s (EC and HC then fail for the human on most frames). Default 0.1: every logged pose.
    """

    progress_weight: float = 5.0
    ttc_weight: float = 5.0
    lane_keeping_weight: float = 2.0
    history_comfort_weight: float = 2.0
    extended_comfort_weight: float = 2.0
    horizon_steps: int = PLAN_HORIZON_STEPS
    dt_s: float = DT_S
    static_collision_score: float = 0.5
    collision_stopped_speed_mps: float = 5e-2
    agent_behind_angle_rad: float = math.radians(150.0)
    agent_ahead_angle_rad: float = math.radians(30.0)
    driving_direction_horizon_s: float = 1.0
    driving_direction_compliance_m: float = 2.0
    driving_direction_violation_m: float = 6.0
    route_direction_tolerance_rad: float = math.radians(45.0)
    ttc_horizon_s: float = 1.0
    ttc_stride_steps: int = 3
    ttc_stopped_speed_mps: float = 5e-3
    progress_distance_threshold_m: float = 5.0
    lane_keeping_deviation_m: float = 0.5
    lane_keeping_window_s: float = 2.0
    comfort: ComfortConfig = ComfortConfig()
    reference: ReferencePlannerConfig = ReferencePlannerConfig()
    tracker: TrackerParams = TrackerParams()
    stop_controls: StopControlConfig = StopControlConfig()
    human_penalty_filter: bool = True
    human_pose_interval_s: float = 0.1

    @property
    def ttc_offsets_steps(self) -> np.ndarray:
        """The TTC projection offsets in steps: 0, stride, 2 stride, ... below the horizon."""
        return np.arange(0, int(round(self.ttc_horizon_s / self.dt_s)), self.ttc_stride_steps, dtype=np.int64)

    @property
    def weights(self) -> dict[str, float]:
        return {"ep": self.progress_weight, "ttc": self.ttc_weight, "lk": self.lane_keeping_weight,
                "hc": self.history_comfort_weight, "ec": self.extended_comfort_weight}

    def to_dict(self) -> dict:
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = {g.name: getattr(value, g.name) for g in fields(value)} if hasattr(value, "__dataclass_fields__") \
                else value
        return out


def aggregate_epdms(nc: float, dac: float, ddc: float, tlc: float, ep: float, ttc: float, lk: float, hc: float,
                    ec: float, config: EPDMSConfig = EPDMSConfig()) -> float:
    """NC * DAC * DDC * TLC * weighted average of EP, TTC, LK, HC, EC (weights 5, 5, 2, 2, 2)."""
    w = config.weights
    weighted = (w["ep"] * ep + w["ttc"] * ttc + w["lk"] * lk + w["hc"] * hc + w["ec"] * ec) / sum(w.values())
    return float(nc * dac * ddc * tlc * weighted)


# ---- per-scenario data ----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ScoringData:
    """What scoring a scenario needs, derived once per SimContext (see `scoring_data`).

    Route: route_xy (Q, 2) the extended route centerline every 1 m, route_s (Q,) its arclength,
    route_offset_m: arclength of the engine's route start on it (engine s + offset = ours).
    Lanes: seg_start / seg_end (K, 2) centerline segments, seg_lane (K,), seg_first / seg_last
    (K,) bool (first / last segment of its lane), seg_heading (K,); lane_half_width (L,),
    lane_connector (L,), lane_on_route (L,); a uniform grid over the segments: grid_origin (2,),
    grid_shape (nx, ny), cell_offsets (nx*ny+1,), cell_segments (M,) (CSR lists).
    drivable: the drivable area (prepared shapely geometry).
    Ego: half_length_m, half_width_m, rear_axle_to_center_m, wheelbase_m.
    Logged actors, time-major: actor_xy (T, N, 2), actor_yaw (T, N), actor_speed (T, N),
    actor_valid (T, N); actor_half_length / actor_half_width (N,), actor_is_agent (N,),
    actor_category (N,).
    Logged ego: log_states (T, 6) engine state vectors (acceleration and steering estimated from
    the log), log_yaw_rate (T,), log_valid (T,), log_route_s (T,) rear axle on our route.
    route_connector_s_m: (C, 2) arclength [start, end] of the route's lane connectors.
    frame_cache: per-frame reference and human-filter results at the logged state, memoised by
    (step, config) (a deterministic function of the scenario, so a cache, not state).
    """

    route_xy: np.ndarray
    route_s: np.ndarray
    route_offset_m: float
    seg_start: np.ndarray
    seg_end: np.ndarray
    seg_lane: np.ndarray
    seg_first: np.ndarray
    seg_last: np.ndarray
    seg_heading: np.ndarray
    lane_half_width: np.ndarray
    lane_connector: np.ndarray
    lane_on_route: np.ndarray
    grid_origin: np.ndarray
    grid_shape: tuple[int, int]
    cell_offsets: np.ndarray
    cell_segments: np.ndarray
    drivable: object
    half_length_m: float
    half_width_m: float
    rear_axle_to_center_m: float
    wheelbase_m: float
    actor_xy: np.ndarray
    actor_yaw: np.ndarray
    actor_speed: np.ndarray
    actor_valid: np.ndarray
    actor_half_length: np.ndarray
    actor_half_width: np.ndarray
    actor_is_agent: np.ndarray
    actor_category: np.ndarray
    log_states: np.ndarray
    log_yaw_rate: np.ndarray
    log_valid: np.ndarray
    log_route_s: np.ndarray
    route_connector_s_m: np.ndarray
    frame_cache: dict = field(default_factory=dict, repr=False)


_SCORING_DATA: "weakref.WeakKeyDictionary[SimContext, ScoringData]" = weakref.WeakKeyDictionary()


def scoring_data(context: SimContext) -> ScoringData:
    """The ScoringData of a context, built on first use and kept as long as the context lives."""
    data = _SCORING_DATA.get(context)
    if data is None:
        data = _build_scoring_data(context)
        _SCORING_DATA[context] = data
    return data


def _build_scoring_data(context: SimContext) -> ScoringData:
    sc = context.scenario
    route = context.route_xy
    if len(route) < 2:
        raise ConfigError(f"scenario {sc.name!r} has no route to score progress along (fewer than 2 route points)")
    d0 = route[1] - route[0]
    d1 = route[-1] - route[-2]
    d0 /= max(np.linalg.norm(d0), 1e-9)
    d1 /= max(np.linalg.norm(d1), 1e-9)
    back = route[0] - d0 * np.arange(ROUTE_BACK_EXTENSION_M, 0.0, -1.0)[:, None]
    ahead = route[-1] + d1 * np.arange(1.0, ROUTE_FORWARD_EXTENSION_M + 1.0)[:, None]
    route_xy = np.ascontiguousarray(np.vstack([back, route, ahead]))
    route_s = polyline_arclength(route_xy)
    offset = float(route_s[len(back)])

    lanes = sc.map.lanes
    seg = lanes.segments
    k = len(seg.lane)
    lane_first = np.zeros(k, bool)
    lane_last = np.zeros(k, bool)
    if k:
        lane_first[np.r_[0, np.flatnonzero(np.diff(seg.lane)) + 1]] = True
        lane_last[np.r_[np.flatnonzero(np.diff(seg.lane)), k - 1]] = True
    half_width = 0.5 * np.asarray(lanes.width_m, np.float64)
    on_route = np.zeros(lanes.num_lanes, bool)
    on_route[np.asarray(sc.route.lane_indices, np.int64)] = True
    origin, shape, cell_offsets, cell_segments = _lane_grid(seg.start_xy, seg.end_xy, half_width[seg.lane] if k else
                                                            np.zeros(0), LANE_GRID_CELL_M)
    drivable = sc.map.drivable_area
    shapely.prepare(drivable)

    p = sc.ego_params
    tracks = sc.actors
    kind = np.asarray(tracks.kind)
    log_states, log_yaw_rate = _log_states(sc)
    valid = np.asarray(sc.ego.valid, bool)
    connectors = []
    for lane in np.asarray(sc.route.lane_indices, np.int64):
        if lanes.is_connector[lane] and np.any(seg.lane == lane):
            s_lane = project_track(route_xy, route_s, seg.start_xy[seg.lane == lane], 0.0, 1e9, 1e9)[0]
            connectors.append((float(s_lane.min()), float(s_lane.max())))
    log_route_s = np.zeros(sc.num_steps)
    steps = np.flatnonzero(valid)
    if len(steps):
        s = float(project_track(route_xy, route_s, sc.ego.xy[steps[:1]], context.route_start_s_m + offset, 1e9, 1e9)[0][0])
        for i in steps:
            s = route_arclength(route_xy, route_s, sc.ego.xy[i], s, 30.0)
            log_route_s[i] = s
    return ScoringData(
        route_xy=route_xy, route_s=route_s, route_offset_m=offset,
        seg_start=np.ascontiguousarray(seg.start_xy), seg_end=np.ascontiguousarray(seg.end_xy),
        seg_lane=np.ascontiguousarray(seg.lane), seg_first=lane_first, seg_last=lane_last,
        seg_heading=np.ascontiguousarray(seg.heading_rad if k else np.zeros(0)), lane_half_width=half_width,
        lane_connector=np.asarray(lanes.is_connector, bool), lane_on_route=on_route,
        grid_origin=origin, grid_shape=shape, cell_offsets=cell_offsets, cell_segments=cell_segments,
        drivable=drivable, half_length_m=0.5 * p.length_m, half_width_m=0.5 * p.width_m,
        rear_axle_to_center_m=p.rear_axle_to_center_m, wheelbase_m=p.wheelbase_m,
        actor_xy=np.ascontiguousarray(np.transpose(tracks.xy, (1, 0, 2))),
        actor_yaw=np.ascontiguousarray(tracks.yaw_rad.T),
        actor_speed=np.ascontiguousarray(np.linalg.norm(tracks.velocity_xy_mps, axis=-1).T),
        actor_valid=np.ascontiguousarray(tracks.valid.T),
        actor_half_length=0.5 * tracks.size_wlh_m[:, 1].astype(np.float64),
        actor_half_width=0.5 * tracks.size_wlh_m[:, 0].astype(np.float64),
        actor_is_agent=kind != ActorKind.STATIC, actor_category=np.asarray(tracks.category),
        log_states=log_states, log_yaw_rate=log_yaw_rate, log_valid=valid, log_route_s=log_route_s,
        route_connector_s_m=np.array(connectors, np.float64).reshape(-1, 2))


def stop_controls(data: ScoringData, config: EPDMSConfig = EPDMSConfig()) -> StopControls:
    """The stop lines inferred from the scenario's logged ego (memoised per config)."""
    key = ("stop_controls", config.stop_controls)
    cached = data.frame_cache.get(key)
    if cached is None:
        st = data.log_states
        d = data.rear_axle_to_center_m
        center = st[:, :2] + d * np.stack([np.cos(st[:, 2]), np.sin(st[:, 2])], -1)
        front_s = data.log_route_s + d + data.half_length_m
        cached = infer_stop_controls(st[:, 3], data.log_valid, front_s, center, st[:, 2], data.half_length_m,
                                     data.half_width_m, data.actor_xy, data.actor_valid, data.actor_half_length,
                                     data.actor_half_width, data.route_connector_s_m, config.dt_s,
                                     config.stop_controls)
        data.frame_cache[key] = cached
    return cached


def _log_states(sc) -> tuple[np.ndarray, np.ndarray]:
    """(T, 6) state vectors of the logged ego and (T,) its yaw rate.

    The log holds poses only. Speed, acceleration and yaw rate are Savitzky-Golay derivatives of
    the logged positions and heading over LOG_DERIVATIVE_WINDOW steps (1.1 s, cubic), the
    estimator's counterpart of the filtered vehicle states NAVSIM's logs carry: plain finite
    differences of 10 Hz poses turn centimetre pose noise into m/s^2 of acceleration noise.
    Speed is taken along the heading (reversing clamped to 0, as the engine does); steering is
    the bicycle angle of the path's curvature where the ego stands (the tracker's measure,
    `path_curvature_kernel`, over CURVATURE_MIN_ARC_M of logged path), so a car that waits with
    its wheels turned at a junction starts with them turned (yaw rate / speed is undefined
    there)."""
    p = sc.ego_params
    t = sc.num_steps
    yaw = np.unwrap(sc.ego.yaw_rad)
    xy = np.asarray(sc.ego.xy, np.float64)
    if t >= 5:
        w = min(LOG_DERIVATIVE_WINDOW, t if t % 2 else t - 1)
        vel = savgol_filter(xy, w, 3, deriv=1, delta=DT_S, axis=0)
        acc = savgol_filter(xy, w, 3, deriv=2, delta=DT_S, axis=0)
        yaw_rate = savgol_filter(yaw, w, 3, deriv=1, delta=DT_S)
    else:
        vel = np.gradient(xy, DT_S, axis=0) if t > 1 else np.zeros_like(xy)
        acc = np.gradient(vel, DT_S, axis=0) if t > 1 else np.zeros_like(xy)
        yaw_rate = np.gradient(yaw, DT_S) if t > 1 else np.zeros_like(yaw)
    c, s = np.cos(sc.ego.yaw_rad), np.sin(sc.ego.yaw_rad)
    v = np.maximum(vel[:, 0] * c + vel[:, 1] * s, 0.0)
    accel = np.clip(acc[:, 0] * c + acc[:, 1] * s, -p.max_decel_mps2, p.max_accel_mps2)
    arc = polyline_arclength(xy)
    steer = np.clip(np.arctan(p.wheelbase_m * path_curvature_kernel(arc, yaw, CURVATURE_MIN_ARC_M)),
                    -p.max_steer_rad, p.max_steer_rad)
    states = np.stack([xy[:, 0], xy[:, 1], sc.ego.yaw_rad, v, accel, steer], -1)
    return np.ascontiguousarray(states), yaw_rate


def _lane_grid(start: np.ndarray, end: np.ndarray, half_width: np.ndarray, cell_m: float):
    """A uniform grid over lane segments: every segment is listed in each cell its bounding box
    (grown by its lane's half width) touches."""
    if len(start) == 0:
        return np.zeros(2), (1, 1), np.zeros(2, np.int64), np.zeros(0, np.int64)
    lo = np.minimum(start, end) - half_width[:, None] - 0.01
    hi = np.maximum(start, end) + half_width[:, None] + 0.01
    origin = lo.min(axis=0)
    nx = int(np.floor((hi[:, 0].max() - origin[0]) / cell_m)) + 1
    ny = int(np.floor((hi[:, 1].max() - origin[1]) / cell_m)) + 1
    ix0 = np.floor((lo[:, 0] - origin[0]) / cell_m).astype(np.int64)
    ix1 = np.floor((hi[:, 0] - origin[0]) / cell_m).astype(np.int64)
    iy0 = np.floor((lo[:, 1] - origin[1]) / cell_m).astype(np.int64)
    iy1 = np.floor((hi[:, 1] - origin[1]) / cell_m).astype(np.int64)
    cells, segs = [], []
    for j in range(len(start)):
        gx, gy = np.meshgrid(np.arange(ix0[j], ix1[j] + 1), np.arange(iy0[j], iy1[j] + 1), indexing="ij")
        ids = (gx * ny + gy).ravel()
        cells.append(ids)
        segs.append(np.full(len(ids), j, np.int64))
    cells_a = np.concatenate(cells)
    segs_a = np.concatenate(segs)
    order = np.argsort(cells_a, kind="stable")
    counts = np.bincount(cells_a, minlength=nx * ny)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return origin.astype(np.float64), (nx, ny), offsets, segs_a[order].astype(np.int64)


# ---- compiled kernels ---------------------------------------------------------------------------


@njit(cache=True)
def _track_kernel(route_xy, route_s, px, py, s_hint, first_back, first_ahead, back, ahead):
    """Arclength, signed lateral offset (left +) and segment heading of points on the route,
    each searched in a window around the previous point's arclength (the first around s_hint)."""
    n = px.shape[0]
    q = route_s.shape[0]
    out_s = np.empty(n)
    out_lat = np.empty(n)
    out_h = np.empty(n)
    s_prev = s_hint
    for t in range(n):
        b = first_back if t == 0 else back
        a = first_ahead if t == 0 else ahead
        lo = max(np.searchsorted(route_s, s_prev - b) - 1, 0)
        hi = min(np.searchsorted(route_s, s_prev + a) + 1, q - 1)
        if hi <= lo:
            lo = max(min(lo, q - 2), 0)
            hi = lo + 1
        bs, bl, bh = project_point_kernel(route_xy[lo:hi + 1], route_s[lo:hi + 1], px[t], py[t])
        if math.isnan(bh):  # no usable segment in the window
            bh = 0.0
        out_s[t] = bs
        out_lat[t] = bl
        out_h[t] = bh
        s_prev = bs
    return out_s, out_lat, out_h


def project_track(route_xy: np.ndarray, route_s: np.ndarray, xy: np.ndarray, s_hint_m: float,
                  first_window_m: float = 40.0, step_window_m: float = 15.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(arclength, signed lateral offset, route heading) of consecutive points (n, 2) on the route.

    The first point is searched within first_window_m of s_hint_m, each next one within
    step_window_m of the previous (a track cannot jump to a far part of a route that passes near
    itself)."""
    xy = np.asarray(xy, np.float64)
    return _track_kernel(route_xy, route_s, np.ascontiguousarray(xy[:, 0]), np.ascontiguousarray(xy[:, 1]),
                         float(s_hint_m), first_window_m, first_window_m, 0.5 * step_window_m, step_window_m)


@njit(cache=True)
def _ego_area_kernel(pts, route_heading, seg_start, seg_end, seg_lane, seg_first, seg_last, seg_heading, lane_hw,
                     lane_conn, lane_route, gx0, gy0, cell, nx, ny, cell_off, cell_seg, heading_tol):
    """Per state: whether the footprint straddles lanes (corners in more than one lane and no
    lane holding all four), whether the box centre is in a lane of the route's direction, and
    whether the box centre / rear axle are in an intersection (a lane connector).

    pts: (n, 6, 2) front-left, rear-left, rear-right, front-right corners, centre, rear axle."""
    n = pts.shape[0]
    n_lanes = lane_hw.shape[0]
    multi = np.zeros(n, dtype=np.bool_)
    route_ok = np.zeros(n, dtype=np.bool_)
    center_inter = np.zeros(n, dtype=np.bool_)
    rear_inter = np.zeros(n, dtype=np.bool_)
    mask = np.zeros(n_lanes, dtype=np.int64)
    touched = np.empty(n_lanes, dtype=np.int64)
    stamp = np.full(seg_lane.shape[0], -1, dtype=np.int64)
    for t in range(n):
        xmin = pts[t, 0, 0]
        xmax = xmin
        ymin = pts[t, 0, 1]
        ymax = ymin
        for p in range(1, 6):
            xmin = min(xmin, pts[t, p, 0])
            xmax = max(xmax, pts[t, p, 0])
            ymin = min(ymin, pts[t, p, 1])
            ymax = max(ymax, pts[t, p, 1])
        ix0 = int(math.floor((xmin - gx0) / cell))
        ix1 = int(math.floor((xmax - gx0) / cell))
        iy0 = int(math.floor((ymin - gy0) / cell))
        iy1 = int(math.floor((ymax - gy0) / cell))
        if ix1 < 0 or iy1 < 0 or ix0 >= nx or iy0 >= ny:
            continue
        ix0 = max(ix0, 0)
        iy0 = max(iy0, 0)
        ix1 = min(ix1, nx - 1)
        iy1 = min(iy1, ny - 1)
        n_touched = 0
        for ix in range(ix0, ix1 + 1):
            for iy in range(iy0, iy1 + 1):
                c = ix * ny + iy
                for idx in range(cell_off[c], cell_off[c + 1]):
                    j = cell_seg[idx]
                    if stamp[j] == t:
                        continue
                    stamp[j] = t
                    lane = seg_lane[j]
                    hw2 = lane_hw[lane] * lane_hw[lane]
                    dx = seg_end[j, 0] - seg_start[j, 0]
                    dy = seg_end[j, 1] - seg_start[j, 1]
                    len2 = dx * dx + dy * dy
                    if len2 < 1e-12:
                        continue
                    for p in range(6):
                        rx = pts[t, p, 0] - seg_start[j, 0]
                        ry = pts[t, p, 1] - seg_start[j, 1]
                        u = (rx * dx + ry * dy) / len2
                        if (seg_first[j] and u < 0.0) or (seg_last[j] and u > 1.0):
                            continue
                        u = min(max(u, 0.0), 1.0)
                        fx = rx - u * dx
                        fy = ry - u * dy
                        if fx * fx + fy * fy > hw2:
                            continue
                        if mask[lane] == 0:
                            touched[n_touched] = lane
                            n_touched += 1
                        mask[lane] |= 1 << p
                        if p == 4 and not route_ok[t]:
                            dh = (seg_heading[j] - route_heading[t] + math.pi) % (2.0 * math.pi) - math.pi
                            if lane_route[lane] or abs(dh) <= heading_tol:
                                route_ok[t] = True
        n_any = 0
        full = False
        for q in range(n_touched):
            lane = touched[q]
            m = mask[lane] & 15
            if m != 0:
                n_any += 1
                if m == 15:
                    full = True
            if lane_conn[lane]:
                if mask[lane] & 16:
                    center_inter[t] = True
                if mask[lane] & 32:
                    rear_inter[t] = True
            mask[lane] = 0
        multi[t] = n_any > 1 and not full
    return multi, route_ok, center_inter, rear_inter


@njit(cache=True)
def _relative_angle(x, y, yaw, tx, ty):
    dx = tx - x
    dy = ty - y
    norm = math.hypot(dx, dy)
    if norm < 1e-12:
        return math.nan
    cosang = (math.cos(yaw) * dx + math.sin(yaw) * dy) / norm
    return math.acos(min(max(cosang, -1.0), 1.0))


@njit(cache=True)
def _nc_kernel(cx, cy, yaw, speed, rx, ry, hl, hw, straddle_or_off, act_xy, act_yaw, act_speed, act_valid, act_hl,
               act_hw, act_agent, stop_speed, behind_rad, static_score):
    """NAVSIM's no-at-fault-collision over n states. Returns (score, step, actor, collision type)
    of the contact that set the score (step -1 when none)."""
    n = cx.shape[0]
    m = act_hl.shape[0]
    ignored = np.zeros(m, dtype=np.bool_)
    score = 1.0
    step = -1
    actor = -1
    kind = 0
    ereach = math.hypot(hl, hw)
    for t in range(n):
        for j in range(m):
            if ignored[j] or not act_valid[t, j]:
                continue
            ax = act_xy[t, j, 0]
            ay = act_xy[t, j, 1]
            reach = ereach + math.hypot(act_hl[j], act_hw[j])
            if (ax - cx[t]) ** 2 + (ay - cy[t]) ** 2 > reach * reach:
                continue
            if not _obb_overlap(cx[t], cy[t], yaw[t], hl, hw, ax, ay, act_yaw[t, j], act_hl[j], act_hw[j]):
                continue
            if abs(speed[t]) <= stop_speed:
                ctype = 1  # stopped ego
            elif not act_agent[j] or abs(act_speed[t, j]) <= stop_speed:
                ctype = 2  # stopped track
            elif _relative_angle(rx[t], ry[t], yaw[t], ax, ay) > behind_rad:
                ctype = 4  # active rear
            else:
                c = math.cos(yaw[t])
                s = math.sin(yaw[t])
                bx = cx[t] + hl * c
                by = cy[t] + hl * s
                if _obb_overlap(bx, by, yaw[t] + 0.5 * math.pi, hw, 0.0, ax, ay, act_yaw[t, j], act_hl[j], act_hw[j]):
                    ctype = 3  # active front
                else:
                    ctype = 5  # active lateral
            at_fault = ctype == 2 or ctype == 3 or (ctype == 5 and straddle_or_off[t])
            if at_fault:
                value = 0.0 if act_agent[j] else static_score
                if value < score:
                    score = value
                    step = t
                    actor = j
                    kind = ctype
            else:
                ignored[j] = True
    return score, step, actor, kind


@njit(cache=True)
def _ttc_kernel(cx, cy, yaw, speed, rx, ry, hl, hw, area_flag, act_xy, act_yaw, act_valid, act_hl, act_hw, offsets,
                dt, stop_speed, ahead_rad, behind_rad):
    """NAVSIM v2's TTC: (score, step, actor, projection offset in steps) of the first infraction."""
    n = cx.shape[0]
    m = act_hl.shape[0]
    max_off = 0
    for f in offsets:
        max_off = max(max_off, f)
    ignored = np.zeros(m, dtype=np.bool_)
    ereach = math.hypot(hl, hw)
    for t in range(n - max_off):
        c = math.cos(yaw[t])
        s = math.sin(yaw[t])
        for f in offsets:
            tt = t + f
            dx = speed[t] * c * f * dt
            dy = speed[t] * s * f * dt
            ex = cx[t] + dx
            ey = cy[t] + dy
            for j in range(m):
                if ignored[j] or not act_valid[tt, j]:
                    continue
                ax = act_xy[tt, j, 0]
                ay = act_xy[tt, j, 1]
                reach = ereach + math.hypot(act_hl[j], act_hw[j])
                if (ax - ex) ** 2 + (ay - ey) ** 2 > reach * reach:
                    continue
                if not _obb_overlap(ex, ey, yaw[t], hl, hw, ax, ay, act_yaw[tt, j], act_hl[j], act_hw[j]):
                    continue
                if speed[t] < stop_speed:
                    continue
                angle = _relative_angle(rx[t], ry[t], yaw[t], ax, ay)
                ahead = angle < ahead_rad
                behind = angle > behind_rad
                if ahead or (area_flag[t] and not behind):
                    return 0.0, t, j, f
                ignored[j] = True
    return 1.0, -1, -1, -1


# ---- window evaluation ----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class WindowMetrics:
    """Sub-metrics of one window of n ego states (before EP normalisation and the human filter).

    Times are indices into the window's states (-1 when nothing happened).
    - nc, nc_step, nc_actor, nc_type (CollisionType value).
    - dac, off_road_step.
    - ddc, oncoming_m (max oncoming travel in a window), oncoming_step (end of that window).
    - ttc, ttc_step, ttc_actor, ttc_offset_steps; None-free: ttc is 1 when not computed.
    - lk, lk_step (where the 2 s run completed), lane_deviation_max_m (outside intersections).
    - hc: ComfortResult (ok when not computed); hc_offset: number of history samples before the
      window's first state (hc.first_index - hc_offset is the window index).
    - tlc, tlc_step: the first state beyond a red stop line.
    - progress_m: route progress of the box centre; route_s_m: (n,) its arclength.
    - multiplier: nc * dac * ddc * tlc.
    """

    nc: float
    nc_step: int
    nc_actor: int
    nc_type: int
    dac: float
    off_road_step: int
    ddc: float
    oncoming_m: float
    oncoming_step: int
    ttc: float
    ttc_step: int
    ttc_actor: int
    ttc_offset_steps: int
    lk: float
    lk_step: int
    lane_deviation_max_m: float
    hc: ComfortResult
    hc_offset: int
    progress_m: float
    route_s_m: np.ndarray
    tlc: float = 1.0
    tlc_step: int = -1

    @property
    def multiplier(self) -> float:
        return self.nc * self.dac * self.ddc * self.tlc


def ego_points(states: np.ndarray, data: ScoringData) -> np.ndarray:
    """(n, 6, 2) footprint corners (front-left, rear-left, rear-right, front-right), box centre and
    rear axle of state vectors (n, 6)."""
    x, y, yaw = states[:, 0], states[:, 1], states[:, 2]
    c, s = np.cos(yaw), np.sin(yaw)
    d, hl, hw = data.rear_axle_to_center_m, data.half_length_m, data.half_width_m
    cx, cy = x + d * c, y + d * s
    pts = np.empty((len(states), 6, 2))
    for i, (lon, lat) in enumerate(((hl, hw), (-hl, hw), (-hl, -hw), (hl, -hw))):
        pts[:, i, 0] = cx + lon * c - lat * s
        pts[:, i, 1] = cy + lon * s + lat * c
    pts[:, 4, 0], pts[:, 4, 1] = cx, cy
    pts[:, 5, 0], pts[:, 5, 1] = x, y
    return pts


def _kernel_ego(states: np.ndarray, pts: np.ndarray) -> tuple[np.ndarray, ...]:
    """The contiguous per-state arrays the compiled checks take: box centre x, y, yaw, speed,
    rear axle x, y."""
    return (pts[:, 4, 0].copy(), pts[:, 4, 1].copy(), states[:, 2].copy(), states[:, 3].copy(),
            states[:, 0].copy(), states[:, 1].copy())


def no_collision_term(states: np.ndarray, pts: np.ndarray, data: ScoringData, act_xy: np.ndarray,
                      act_yaw: np.ndarray, act_speed: np.ndarray, act_valid: np.ndarray,
                      straddle_or_off: np.ndarray, config: EPDMSConfig = EPDMSConfig()) -> tuple:
    """NAVSIM's NC of ego states (n, 6) with their `ego_points` pts against actors (time-major,
    as in `evaluate_window`): (score, step, actor, collision type). straddle_or_off (n,) marks
    states in several lanes or off the road, where a lateral contact is the ego's fault."""
    cx, cy, yaw, speed, rx, ry = _kernel_ego(states, pts)
    return _nc_kernel(cx, cy, yaw, speed, rx, ry, data.half_length_m, data.half_width_m, straddle_or_off, act_xy,
                      act_yaw, act_speed, act_valid, data.actor_half_length, data.actor_half_width,
                      data.actor_is_agent, config.collision_stopped_speed_mps, config.agent_behind_angle_rad,
                      config.static_collision_score)


def time_to_collision_term(states: np.ndarray, pts: np.ndarray, data: ScoringData, act_xy: np.ndarray,
                           act_yaw: np.ndarray, act_valid: np.ndarray, area_flag: np.ndarray,
                           config: EPDMSConfig = EPDMSConfig()) -> tuple:
    """NAVSIM's TTC of ego states (n, 6) (see `no_collision_term`): (score, step, actor, projection
    offset in steps). area_flag (n,) marks states where actors behind count too."""
    cx, cy, yaw, speed, rx, ry = _kernel_ego(states, pts)
    return _ttc_kernel(cx, cy, yaw, speed, rx, ry, data.half_length_m, data.half_width_m, area_flag, act_xy, act_yaw,
                       act_valid, data.actor_half_length, data.actor_half_width, config.ttc_offsets_steps,
                       config.dt_s, config.ttc_stopped_speed_mps, config.agent_ahead_angle_rad,
                       config.agent_behind_angle_rad)


def evaluate_window(data: ScoringData, states: np.ndarray, act_xy: np.ndarray, act_yaw: np.ndarray,
                    act_speed: np.ndarray, act_valid: np.ndarray, route_s_hint_m: float,
                    config: EPDMSConfig = EPDMSConfig(), history: Kinematics | None = None,
                    full: bool = True, with_history_comfort: bool = True,
                    stops: StopControls = NO_STOP_CONTROLS, step_index: int = 0) -> WindowMetrics:
    """The sub-metrics of n >= 2 ego states (n, 6) against actors at the same steps (time-major:
    xy (n, N, 2), yaw / speed / valid (n, N)). `route_s_hint_m` is roughly the route arclength of
    the first state (ours, see ScoringData). `full=False` computes only the multipliers and
    progress (what the reference planner needs). TLC checks `stops` with the first state at the
    log's step_index."""
    n = len(states)
    pts = ego_points(states, data)
    cx, cy = pts[:, 4, 0].copy(), pts[:, 4, 1].copy()

    corners = pts[:, :4].reshape(-1, 2)
    on_road = shapely.intersects_xy(data.drivable, corners[:, 0], corners[:, 1]).reshape(n, 4).all(axis=1)
    off_road = ~on_road
    route_s, route_lat, route_heading = _track_kernel(data.route_xy, data.route_s, cx, cy, float(route_s_hint_m),
                                                      40.0, 40.0, 7.5, 15.0)
    gx0, gy0 = data.grid_origin
    nx, ny = data.grid_shape
    multi, route_ok, center_inter, rear_inter = _ego_area_kernel(
        pts, route_heading, data.seg_start, data.seg_end, data.seg_lane, data.seg_first, data.seg_last,
        data.seg_heading, data.lane_half_width, data.lane_connector, data.lane_on_route, gx0, gy0, LANE_GRID_CELL_M,
        nx, ny, data.cell_offsets, data.cell_segments, config.route_direction_tolerance_rad)
    if len(data.seg_lane) == 0:
        route_ok[:] = True  # a map without lanes cannot tell the driving direction
    straddle_or_off = multi | off_road
    nc, nc_step, nc_actor, nc_type = no_collision_term(states, pts, data, act_xy, act_yaw, act_speed, act_valid,
                                                       straddle_or_off, config)
    dac = 0.0 if off_road.any() else 1.0
    off_step = int(np.argmax(off_road)) if off_road.any() else -1
    ddc, oncoming_m, oncoming_step = driving_direction_compliance(cx, cy, ~route_ok, config)
    progress = float(max(route_s[-1] - route_s[0], 0.0))
    tlc_step = red_light_crossing(route_s + data.half_length_m, stops, step_index) \
        if config.stop_controls.score_red_lines else -1
    ttc, ttc_step, ttc_actor, ttc_off = 1.0, -1, -1, -1
    lk, lk_step, dev_max = 1.0, -1, 0.0
    hc = ComfortResult(True, (), -1, ("", 0.0))
    hc_offset = 0
    if full:
        ttc, ttc_step, ttc_actor, ttc_off = time_to_collision_term(states, pts, data, act_xy, act_yaw, act_valid,
                                                                   straddle_or_off | rear_inter, config)
        lk, lk_step, dev_max = lane_keeping(np.abs(route_lat), center_inter, config)
        if with_history_comfort:
            kin = concat_kinematics(history, kinematics_from_states(states, data.wheelbase_m))
            hc_offset = len(history) if history is not None else 0
            hc = history_comfort(kin, config.dt_s, data.rear_axle_to_center_m, config.comfort)
    return WindowMetrics(nc=float(nc), nc_step=int(nc_step), nc_actor=int(nc_actor), nc_type=int(nc_type), dac=dac,
                         off_road_step=off_step, ddc=ddc, oncoming_m=oncoming_m, oncoming_step=oncoming_step,
                         ttc=float(ttc), ttc_step=int(ttc_step), ttc_actor=int(ttc_actor),
                         ttc_offset_steps=int(ttc_off), lk=lk, lk_step=lk_step, lane_deviation_max_m=dev_max, hc=hc,
                         hc_offset=hc_offset, progress_m=progress, route_s_m=route_s,
                         tlc=0.0 if tlc_step >= 0 else 1.0, tlc_step=tlc_step)


def driving_direction_compliance(cx: np.ndarray, cy: np.ndarray, oncoming: np.ndarray,
                                 config: EPDMSConfig = EPDMSConfig()) -> tuple[float, float, int]:
    """NAVSIM's DDC: (score, max oncoming travel over any horizon window in m, window end index).

    Travel into state t counts when state t is oncoming (not in a lane of the route's direction);
    the sum over the states t - horizon .. t is compared with the thresholds."""
    step = np.zeros(len(cx))
    step[1:] = np.hypot(np.diff(cx), np.diff(cy))
    step[~np.asarray(oncoming, bool)] = 0.0
    h = int(config.driving_direction_horizon_s / config.dt_s)
    csum = np.concatenate([[0.0], np.cumsum(step)])
    idx = np.arange(len(step))
    window = csum[idx + 1] - csum[np.maximum(idx - h, 0)]
    worst = float(window.max()) if len(window) else 0.0
    at = int(np.argmax(window)) if worst > 0 else -1
    if worst < config.driving_direction_compliance_m:
        return 1.0, worst, at
    if worst < config.driving_direction_violation_m:
        return 0.5, worst, at
    return 0.0, worst, at


def lane_keeping(deviation_m: np.ndarray, in_intersection: np.ndarray,
                 config: EPDMSConfig = EPDMSConfig()) -> tuple[float, int, float]:
    """NAVSIM v2's LK: (score, index where the run completed or -1, max deviation outside
    intersections). Intersection steps neither count nor reset the run of exceedances."""
    need = int(math.ceil(config.lane_keeping_window_s / config.dt_s - 1e-9))
    score, index, dev_max = _lane_keeping_kernel(np.ascontiguousarray(deviation_m, dtype=np.float64),
                                                 np.ascontiguousarray(in_intersection, dtype=np.bool_),
                                                 float(config.lane_keeping_deviation_m), need)
    return float(score), int(index), float(dev_max)


@njit(cache=True)
def _lane_keeping_kernel(deviation, in_intersection, limit, need):
    run = 0
    dev_max = 0.0
    for t in range(deviation.shape[0]):
        if in_intersection[t]:
            continue
        dev_max = max(dev_max, deviation[t])
        run = run + 1 if deviation[t] > limit else 0
        if run >= need:
            return 0.0, t, dev_max
    return 1.0, -1, dev_max


# ---- proposals -------------------------------------------------------------------------------


def proposal_states(proposal_xy_in_ego: np.ndarray, proposal_yaw_in_ego: np.ndarray, ego: EgoState,
                    data: ScoringData, ego_params, config: EPDMSConfig = EPDMSConfig(),
                    t_offset_s: np.ndarray | None = None) -> np.ndarray:
    """(H+1, 6) states of the ego tracking a proposal (H = config.horizon_steps) from `ego`."""
    h = config.horizon_steps
    xy = np.asarray(proposal_xy_in_ego, np.float64)
    yaw = np.asarray(proposal_yaw_in_ego, np.float64)
    grid = np.arange(1, h + 1) * config.dt_s
    if t_offset_s is None:
        if xy.shape != (h, 2) or yaw.shape != (h,):
            raise ActionError(f"a proposal has {h} poses at {config.dt_s:g} s spacing: xy ({h}, 2) and yaw ({h},), got "
                              f"{xy.shape} and {yaw.shape}; pass t_offset_s to resample other timings")
    else:
        t = np.asarray(t_offset_s, np.float64)
        if t.ndim != 1 or len(t) != len(xy) or yaw.shape != t.shape or xy.shape != (len(t), 2):
            raise ActionError(f"proposal xy {xy.shape}, yaw {yaw.shape} and t_offset_s {t.shape} do not match")
        xy, yaw = _resample_proposal(xy, yaw, t, grid)
    # The engine's tracker reads the end of a plan as "stop there" and brakes in its last 0.4 s;
    # a proposal says nothing about after its horizon, so the tracker is given the proposal
    # continued with its final speed trend and turn rate for TRACKER_TAIL_S more (only the
    # horizon is simulated).
    xy_ext, yaw_ext = _extend_proposal(xy, yaw, int(round(TRACKER_TAIL_S / config.dt_s)))
    action = TrajectoryAction(xy_ext, yaw_ext, np.arange(1, len(xy_ext) + 1) * config.dt_s)
    reference = reference_from_trajectory(action, ego, config.dt_s)
    state0 = np.array([ego.x_m, ego.y_m, ego.yaw_rad, ego.speed_mps, ego.accel_mps2, ego.steer_rad])
    return rollout(reference, state0, h, ego_params, config.tracker, config.dt_s)


TAIL_FIT_POSES = 6  # poses the speed trend and turn rate of a proposal's end are fitted on
_TAIL_T = np.arange(TAIL_FIT_POSES, dtype=np.float64) - (TAIL_FIT_POSES - 1)
_TAIL_QUADRATIC = np.linalg.pinv(np.stack([np.ones(TAIL_FIT_POSES), _TAIL_T, _TAIL_T ** 2], -1))
_TAIL_LINEAR = np.linalg.pinv(np.stack([np.ones(TAIL_FIT_POSES), _TAIL_T], -1))


def _extend_proposal(xy: np.ndarray, yaw: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Poses (H, 2) / (H,) continued for `steps` more poses: a second-order hold of the distance
    travelled (speed and acceleration from a least-squares quadratic over the last
    TAIL_FIT_POSES poses, speed floored at 0) and a first-order hold of the heading (turn rate from
    a linear fit). The tracker's feedforward then sees the proposal's last trend, not an
    artificial change at its horizon."""
    pts = np.vstack([np.zeros((1, 2)), xy])
    yaws = np.concatenate([[0.0], np.unwrap(yaw)])
    if len(pts) < TAIL_FIT_POSES:
        pts = np.vstack([np.repeat(pts[:1], TAIL_FIT_POSES - len(pts), axis=0), pts])
        yaws = np.concatenate([np.repeat(yaws[:1], TAIL_FIT_POSES - len(yaws)), yaws])
    seg = np.hypot(*np.diff(pts[-TAIL_FIT_POSES:], axis=0).T)
    dist = np.concatenate([[0.0], np.cumsum(seg)])
    _, v_end, half_a = _TAIL_QUADRATIC @ dist  # per step, per step^2 / 2 at the last pose
    step = max(v_end, 0.0)
    accel_step = 2.0 * half_a
    turn = float((_TAIL_LINEAR @ yaws[-TAIL_FIT_POSES:])[1])
    d1 = pts[-1] - pts[-2]
    heading = math.atan2(d1[1], d1[0]) if np.hypot(*d1) > 1e-6 else float(yaws[-1])
    j = np.arange(1, steps + 1)
    speed = np.maximum(step + accel_step * np.arange(0, steps + 1), 0.0)  # distance per step, j = 0 .. steps
    dist = 0.5 * (speed[:-1] + speed[1:])
    direction = heading + (j - 0.5) * turn
    out_xy = xy[-1] + np.cumsum(dist[:, None] * np.stack([np.cos(direction), np.sin(direction)], -1), axis=0)
    return np.vstack([xy, out_xy]), np.concatenate([yaw, float(yaw[-1]) + j * turn])


def _resample_proposal(xy: np.ndarray, yaw: np.ndarray, t: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Poses at `grid` from poses at times t (linear from the ego's origin at t = 0; held after
    the last pose)."""
    if not (np.all(np.diff(t) > 0) and t[0] > 0):
        raise ActionError("proposal t_offset_s must be positive and strictly increasing")
    tk = np.concatenate([[0.0], t])
    xk = np.vstack([[0.0, 0.0], xy])
    yk = np.unwrap(np.concatenate([[0.0], yaw]))
    return (np.stack([np.interp(grid, tk, xk[:, 0]), np.interp(grid, tk, xk[:, 1])], -1), np.interp(grid, tk, yk))


def logged_ego_state(context: SimContext, step_index: int) -> EgoState:
    """The logged ego at a step as an EgoState (acceleration and steering estimated from the log)."""
    data = scoring_data(context)
    _check_step(context, step_index)
    s = data.log_states[step_index]
    return EgoState(float(s[0]), float(s[1]), float(s[2]), float(s[3]), float(s[4]), float(s[5]),
                    float(data.log_yaw_rate[step_index]))


def _check_step(context: SimContext, step_index: int) -> None:
    sc = context.scenario
    if not 0 <= step_index < sc.num_steps or not sc.ego.valid[step_index]:
        raise ConfigError(f"step {step_index} of scenario {sc.name!r} has no logged ego (steps 0..{sc.num_steps - 1}, "
                          "logged where ego.valid): choose a frame inside the log")


def actors_window(data: ScoringData, step_index: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Logged actors at steps step_index .. step_index + n - 1 (invalid past the log's end)."""
    t = data.actor_xy.shape[0]
    stop = min(step_index + n, t)
    xy, yaw = data.actor_xy[step_index:stop], data.actor_yaw[step_index:stop]
    speed, valid = data.actor_speed[step_index:stop], data.actor_valid[step_index:stop]
    if stop - step_index < n:
        pad = n - (stop - step_index)
        m = xy.shape[1]
        xy = np.concatenate([xy, np.zeros((pad, m, 2))])
        yaw = np.concatenate([yaw, np.zeros((pad, m))])
        speed = np.concatenate([speed, np.zeros((pad, m))])
        valid = np.concatenate([valid, np.zeros((pad, m), bool)])
    return xy, yaw, speed, valid


def log_history(data: ScoringData, step_index: int, config: EPDMSConfig = EPDMSConfig()) -> Kinematics:
    """The logged ego's kinematics over the history_s before a step (fewer at the log's start)."""
    h = int(round(config.comfort.history_s / config.dt_s))
    lo = step_index - h
    valid = np.flatnonzero(data.log_valid[:step_index])
    lo = max(lo, int(valid[0]) if len(valid) else step_index)
    st = data.log_states[lo:step_index]
    return Kinematics(st[:, 2], st[:, 3], st[:, 4], data.log_yaw_rate[lo:step_index])


def human_proposal(data: ScoringData, step_index: int, config: EPDMSConfig = EPDMSConfig()) -> tuple[np.ndarray, np.ndarray]:
    """The logged human's future as a proposal: (H, 2) xy and (H,) yaw in the ego frame of the
    logged state on the 0.1 s grid. The log is sampled every human_pose_interval_s (NAVSIM: its
    2 Hz database interval) and linearly interpolated; the last logged pose is held past the end."""
    valid = np.flatnonzero(data.log_valid)
    stride = max(int(round(config.human_pose_interval_s / config.dt_s)), 1)
    offsets = np.arange(stride, config.horizon_steps + 1, stride)
    if len(offsets) == 0 or offsets[-1] != config.horizon_steps:
        offsets = np.append(offsets, config.horizon_steps)
    steps = np.minimum(step_index + offsets, int(valid[-1]))
    s0 = data.log_states[step_index]
    xy = global_to_local_xy(data.log_states[steps, :2], s0[:2], s0[2])
    yaw = wrap_angle(data.log_states[steps, 2] - s0[2])
    if stride == 1:
        return xy, yaw
    return _resample_proposal(xy, yaw, offsets * config.dt_s, np.arange(1, config.horizon_steps + 1) * config.dt_s)


# ---- reference and human baselines of a frame ---------------------------------------------------


@dataclass(frozen=True, eq=False)
class FrameBaseline:
    """What a frame's proposals are compared with.

    - reference_progress_m: the multiplier-weighted progress of the reference planner's selected
      proposal against the logged actors; reference_index: which proposal (-1 if none passes);
      reference_states (P, H+1, 6) and reference_scores (P, 5) [multiplier, progress, ttc,
      comfort, pdm score] on the planner's forecast.
    - human: the logged human's WindowMetrics scored alone (None when the filter does not
      apply); human_zero: names of the metrics the human scores 0 on.
    """

    reference_progress_m: float
    reference_index: int
    reference_states: np.ndarray
    reference_scores: np.ndarray
    human: WindowMetrics | None
    human_zero: tuple[str, ...]


def constant_velocity_forecast(xy: np.ndarray, yaw: np.ndarray, speed: np.ndarray, valid: np.ndarray, n: int,
                               dt_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Actors at one step (N, 2) / (N,) moved on at constant velocity: (n, N, 2) xy and (n, N)
    yaw, speed, valid (time-major, row 0 is the given step)."""
    t = np.arange(n)[:, None] * dt_s
    vel = np.stack([speed * np.cos(yaw), speed * np.sin(yaw)], -1)
    return (xy[None] + t[..., None] * vel[None], np.broadcast_to(yaw, (n, len(yaw))),
            np.broadcast_to(speed, (n, len(speed))), np.broadcast_to(valid, (n, len(valid))))


def reference_baseline(data: ScoringData, ego: EgoState, route_s_hint_m: float, act_xy: np.ndarray,
                       act_yaw: np.ndarray, act_speed: np.ndarray, act_valid: np.ndarray, ego_params,
                       config: EPDMSConfig = EPDMSConfig(), *, step_index: int
                       ) -> tuple[float, int, np.ndarray, np.ndarray]:
    """Run the reference planner from `ego` at a step of the log, pick PDM-Closed's choice and
    score it against the logged actors.

    PDM-Closed plans and chooses on its own view of the world (NAVSIM's PDMObservation): the
    actors where they are at the frame, moved on at constant velocity, and the stop lines red at
    the frame as standing obstacles. Each IDM proposal is tracked and scored on that forecast
    (multipliers, progress, TTC and its own comfort without history, as PDM-Closed's internal
    scorer), and the proposal with the best NAVSIM v1 PDM score, multipliers * (5 EP + 5 TTC +
    2 C) / 12 with EP normalised among the proposals, is the reference trajectory. Like any
    proposal in NAVSIM's EP normalisation, it is then scored against the logged actors: its
    progress times its multipliers there is EP's reference (0 when the log shows that it
    collides or runs a red line, which the forecast did not foresee).

    Returns (reference progress, selected index or -1, states (P, H+1, 6), scores (P, 5) on the
    forecast with columns multiplier, progress_m, ttc, comfort, pdm_score)."""
    h = config.horizon_steps
    r = config.reference
    stops = stop_controls(data, config)
    s0 = float(project_track(data.route_xy, data.route_s, np.array([[ego.x_m, ego.y_m]]), route_s_hint_m)[0][0])
    forecast = constant_velocity_forecast(act_xy[0], act_yaw[0], act_speed[0], act_valid[0], h + 1, config.dt_s)
    props = reference_proposals(data.route_xy, data.route_s, s0, ego.speed_mps, np.array([ego.x_m, ego.y_m]),
                                *forecast, data.actor_half_length, data.actor_half_width,
                                data.half_width_m, data.rear_axle_to_center_m,
                                data.rear_axle_to_center_m + data.half_length_m, h, config.dt_s, r,
                                stop_line_s_m=stops.red_at(step_index))
    p = len(props.target_speed_mps)
    states = np.empty((p, h + 1, 6))
    scores = np.zeros((p, 5))
    for i in range(p):
        xy = global_to_local_xy(props.xy[i], ego.xy, ego.yaw_rad)
        yaw = wrap_angle(props.yaw_rad[i] - ego.yaw_rad)
        states[i] = proposal_states(xy, yaw, ego, data, ego_params, config)
        m = evaluate_window(data, states[i], *forecast, route_s_hint_m, config, full=True, stops=stops,
                            step_index=step_index)
        scores[i, :4] = (m.multiplier, m.progress_m, m.ttc, 1.0 if m.hc.ok else 0.0)
    if p == 0:
        return 0.0, -1, states, scores
    masked = scores[:, 0] * scores[:, 1]
    top = masked.max()
    if top > config.progress_distance_threshold_m:
        ep = masked / top
    else:
        ep = (scores[:, 0] > 0).astype(np.float64)
    w = (r.selection_progress_weight, r.selection_ttc_weight, r.selection_comfort_weight)
    scores[:, 4] = scores[:, 0] * (w[0] * ep + w[1] * scores[:, 2] + w[2] * scores[:, 3]) / sum(w)
    best = int(np.argmax(scores[:, 4]))
    if scores[best, 4] <= 0.0:
        return 0.0, -1, states, scores
    logged = evaluate_window(data, states[best], act_xy, act_yaw, act_speed, act_valid, route_s_hint_m, config,
                             full=False, stops=stops, step_index=step_index)
    return float(logged.progress_m * logged.multiplier), best, states, scores


def frame_baseline(context: SimContext, step_index: int, config: EPDMSConfig = EPDMSConfig()) -> FrameBaseline:
    """The reference planner and the human-filter result at a logged frame (memoised)."""
    data = scoring_data(context)
    key = (step_index, config)
    cached = data.frame_cache.get(key)
    if cached is not None:
        return cached
    _check_step(context, step_index)
    sc = context.scenario
    h = config.horizon_steps
    ego = logged_ego_state(context, step_index)
    act = actors_window(data, step_index, h + 1)
    hint = float(data.log_route_s[step_index])
    best, index, states, scores = reference_baseline(data, ego, hint, *act, sc.ego_params, config,
                                                     step_index=step_index)
    human, zero = None, ()
    if config.human_penalty_filter:
        xy, yaw = human_proposal(data, step_index, config)
        hs = proposal_states(xy, yaw, ego, data, sc.ego_params, config)
        # NAVSIM scores the human alone and without history (so its HC is never 0).
        human = evaluate_window(data, hs, *act, hint, config, full=True, with_history_comfort=False,
                                stops=stop_controls(data, config), step_index=step_index)
        values = {"nc": human.nc, "dac": human.dac, "ddc": human.ddc, "tlc": human.tlc,
                  "ep": 0.0 if human.multiplier == 0.0 else 1.0, "ttc": human.ttc, "lk": human.lk, "hc": 1.0}
        zero = tuple(k for k, v in values.items() if v == 0.0)
    baseline = FrameBaseline(best, index, states, scores, human, zero)
    data.frame_cache[key] = baseline
    return baseline


# ---- results ---------------------------------------------------------------------------------


COLLISION_TYPE_NAMES = {int(CollisionType.NONE): "none", int(CollisionType.STOPPED_EGO): "stopped ego",
                        int(CollisionType.STOPPED_TRACK): "stopped object", int(CollisionType.ACTIVE_FRONT): "front",
                        int(CollisionType.ACTIVE_REAR): "rear", int(CollisionType.ACTIVE_LATERAL): "lateral"}


@dataclass(frozen=True, eq=False)
class EPDMSResult:
    """The score of one proposal and every sub-score. Times are seconds after the frame; -1 means
    "did not happen".

    - step_index: the frame; epdms: the score; nc, dac, ddc, tlc, ep, ttc, lk, hc, ec: sub-scores
      (after the human filter); multiplier = nc * dac * ddc * tlc; weighted = the weighted average.
    - human_filter: "applied" | "off" | "not applicable" (ego not at the logged state);
      filtered: the metrics the filter set to 1; unfiltered_epdms and unfiltered: the score and
      sub-scores without it (dict name -> value).
    - collision_actor (-1), collision_category, collision_type ("front", "stopped object", ...),
      collision_time_s: the contact that set NC.
    - off_road_time_s: first state off the drivable area.
    - red_light_time_s: first state beyond a red stop line (TLC).
    - oncoming_m, oncoming_time_s: worst 1 s of travel outside the route's direction.
    - ttc_actor, ttc_category, ttc_time_s, ttc_projection_s: the first TTC infraction.
    - lane_deviation_max_m, lane_keeping_time_s: LK (the time the 2 s run completed).
    - hc_failed, hc_time_s, hc_worst: failed HC criteria, first violation (may be negative: in
      the history), (name, value) of the worst excursion.
    - ec_applied, ec_failed, ec_worst: EC against a previous proposal.
    - progress_m, reference_progress_m: EP's numerator (before multipliers) and denominator.
    - states: (H+1, 6) the simulated ego states (global, rear axle) the scores were computed on.
    """

    step_index: int
    epdms: float
    nc: float
    dac: float
    ddc: float
    tlc: float
    ep: float
    ttc: float
    lk: float
    hc: float
    ec: float
    multiplier: float
    weighted: float
    human_filter: str
    filtered: tuple[str, ...]
    unfiltered_epdms: float
    unfiltered: dict
    collision_actor: int
    collision_category: str
    collision_type: str
    collision_time_s: float
    off_road_time_s: float
    red_light_time_s: float
    oncoming_m: float
    oncoming_time_s: float
    ttc_actor: int
    ttc_category: str
    ttc_time_s: float
    ttc_projection_s: float
    lane_deviation_max_m: float
    lane_keeping_time_s: float
    hc_failed: tuple[str, ...]
    hc_time_s: float
    hc_worst: tuple[str, float]
    ec_applied: bool
    ec_failed: tuple[str, ...]
    ec_worst: tuple[str, float]
    progress_m: float
    reference_progress_m: float
    states: np.ndarray = field(repr=False)

    def to_dict(self) -> dict:
        """JSON-ready (without the states)."""
        out = {}
        for f in fields(self):
            if f.name == "states":
                continue
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    def subscores(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in METRIC_NAMES}


def _time(index: int, dt: float) -> float:
    return round(index * dt, 3) if index >= 0 else -1.0


def assemble_result(step_index: int, m: WindowMetrics, ep_progress_ref: float, ec: ComfortResult | None,
                    baseline_human_zero: tuple[str, ...] | None, human_filter: str, states: np.ndarray,
                    data: ScoringData, config: EPDMSConfig, categories: np.ndarray | None = None) -> EPDMSResult:
    """EP normalisation, the human filter and the aggregate of one window's metrics.

    ep_progress_ref: the best multiplier-weighted progress of the reference (the proposal itself
    is added here). baseline_human_zero: metrics the human scored 0 on (None: no filter)."""
    mult = m.multiplier
    masked = m.progress_m * mult
    best = max(ep_progress_ref, masked)
    if best > config.progress_distance_threshold_m:
        ep = float(np.clip(masked / best, 0.0, 1.0))
    else:
        ep = 0.0 if mult == 0.0 else 1.0
    ec_value = 1.0 if ec is None or ec.ok else 0.0
    raw = {"nc": m.nc, "dac": m.dac, "ddc": m.ddc, "tlc": m.tlc, "ep": ep, "ttc": m.ttc, "lk": m.lk,
           "hc": 1.0 if m.hc.ok else 0.0, "ec": ec_value}
    unfiltered_score = aggregate_epdms(**raw, config=config)
    final = dict(raw)
    filtered: tuple[str, ...] = ()
    if baseline_human_zero is not None:
        filtered = tuple(k for k in baseline_human_zero if raw[k] != 1.0)
        for k in baseline_human_zero:
            final[k] = 1.0
    score = aggregate_epdms(**final, config=config)
    w = config.weights
    weighted = sum(w[k] * final[k] for k in w) / sum(w.values())
    dt = config.dt_s
    cats = data.actor_category if categories is None else categories
    return EPDMSResult(
        step_index=int(step_index), epdms=score, **final,
        multiplier=final["nc"] * final["dac"] * final["ddc"] * final["tlc"], weighted=float(weighted),
        human_filter=human_filter, filtered=filtered, unfiltered_epdms=unfiltered_score, unfiltered=raw,
        collision_actor=m.nc_actor, collision_category=str(cats[m.nc_actor]) if m.nc_actor >= 0 else "",
        collision_type=COLLISION_TYPE_NAMES.get(m.nc_type, "none") if m.nc_actor >= 0 else "none",
        collision_time_s=_time(m.nc_step, dt), off_road_time_s=_time(m.off_road_step, dt),
        red_light_time_s=_time(m.tlc_step, dt),
        oncoming_m=round(m.oncoming_m, 3), oncoming_time_s=_time(m.oncoming_step, dt),
        ttc_actor=m.ttc_actor, ttc_category=str(cats[m.ttc_actor]) if m.ttc_actor >= 0 else "",
        ttc_time_s=_time(m.ttc_step, dt), ttc_projection_s=_time(m.ttc_offset_steps, dt),
        lane_deviation_max_m=round(m.lane_deviation_max_m, 3), lane_keeping_time_s=_time(m.lk_step, dt),
        hc_failed=m.hc.failed, hc_time_s=round((m.hc.first_index - m.hc_offset) * dt, 3) if m.hc.failed else -1.0,
        hc_worst=(m.hc.worst[0], round(m.hc.worst[1], 3)), ec_applied=ec is not None,
        ec_failed=ec.failed if ec is not None else (), ec_worst=(ec.worst[0], round(ec.worst[1], 3)) if ec else ("", 0.0),
        progress_m=round(m.progress_m, 3), reference_progress_m=round(best, 3), states=states)


def score_proposal(context: SimContext, step_index: int, proposal_xy_in_ego: np.ndarray,
                   proposal_yaw_in_ego: np.ndarray, ego_state: EgoState | None = None,
                   previous_proposal: EPDMSResult | None = None, config: EPDMSConfig = EPDMSConfig(),
                   t_offset_s: np.ndarray | None = None, history: Kinematics | None = None) -> EPDMSResult:
    """EPDMS of a 4 s proposal at a frame of the scenario's log.

    proposal_xy_in_ego (40, 2) / proposal_yaw_in_ego (40,): poses at 0.1 .. 4.0 s in the ego
    frame of `ego_state` (other timings: give t_offset_s and they are resampled). ego_state: the
    ego at the frame (default: the logged ego; then the frame's reference planner and human
    result are memoised). previous_proposal: the result of the proposal made at an earlier frame (EC
    compares the two on their overlap; NAVSIM's frames are 0.5 s apart). history: the ego's
    motion before the frame for HC (default: the log's last 1.5 s at the logged state, none for
    another ego_state)."""
    data = scoring_data(context)
    sc = context.scenario
    h = config.horizon_steps
    act = actors_window(data, step_index, h + 1)
    if ego_state is None:
        baseline = frame_baseline(context, step_index, config)
        ego = logged_ego_state(context, step_index)
        hint = float(data.log_route_s[step_index])
        ref_progress = baseline.reference_progress_m
        human_zero = baseline.human_zero if config.human_penalty_filter else None
        filter_state = "applied" if config.human_penalty_filter else "off"
    else:
        if not 0 <= step_index < sc.num_steps:
            raise ConfigError(f"step {step_index} is outside scenario {sc.name!r} (steps 0..{sc.num_steps - 1})")
        ego = ego_state
        hint = float(project_track(data.route_xy, data.route_s, np.array([[ego.x_m, ego.y_m]]),
                                   float(data.log_route_s[step_index]), 1e9)[0][0])
        ref_progress = reference_baseline(data, ego, hint, *act, sc.ego_params, config, step_index=step_index)[0]
        human_zero = None
        filter_state = "not applicable" if config.human_penalty_filter else "off"
    states = proposal_states(proposal_xy_in_ego, proposal_yaw_in_ego, ego, data, sc.ego_params, config, t_offset_s)
    if history is None and ego_state is None:
        history = log_history(data, step_index, config)
    m = evaluate_window(data, states, *act, hint, config, history=history, full=True,
                        stops=stop_controls(data, config), step_index=step_index)
    ec = None
    previous = previous_proposal
    if previous is not None:
        offset = step_index - previous.step_index
        if offset <= 0:
            raise ConfigError(f"previous proposal (step {previous.step_index}) must be earlier than step {step_index}")
        ec = extended_comfort(kinematics_from_states(states, data.wheelbase_m),
                              kinematics_from_states(previous.states, data.wheelbase_m), offset, config.dt_s,
                              config.comfort)
    return assemble_result(step_index, m, ref_progress, ec, human_zero, filter_state, states, data, config)


# ---- whole logs --------------------------------------------------------------------------------


def scorable_frames(context: SimContext, config: EPDMSConfig = EPDMSConfig()) -> np.ndarray:
    """Frames with a logged ego and a full horizon of logged future (step + horizon still logged)."""
    sc = context.scenario
    valid = np.flatnonzero(sc.ego.valid)
    if len(valid) == 0:
        return np.zeros(0, np.int64)
    last = int(valid[-1])
    return np.array([k for k in valid if k + config.horizon_steps <= last and sc.ego.valid[k:k + config.horizon_steps + 1].all()],
                    np.int64)


def policy_proposal(context: SimContext, policy, step_index: int, config: EPDMSConfig = EPDMSConfig()
                    ) -> tuple[np.ndarray, np.ndarray]:
    """A policy's proposal at a logged frame: (40, 2) xy and (40,) yaw in the ego frame.

    The policy sees the observation of the logged world at that step (privileged ground truth
    included, as the built-in policies need). Direct controls are held for the horizon."""
    from sim.actors.behaviour import initial_actor_state

    data = scoring_data(context)
    sc = context.scenario
    ego = logged_ego_state(context, step_index)
    actors = initial_actor_state(sc.actors, context.paths, step_index, False)
    state = WorldState(step_index=step_index, t_us=int(sc.t_us[step_index]), ego=ego, actors=actors)
    obs = observe(context, state, float(data.log_route_s[step_index] - data.route_offset_m))
    return action_to_proposal(policy.plan(obs), ego, sc.ego_params, config)


def action_to_proposal(action, ego: EgoState, ego_params, config: EPDMSConfig = EPDMSConfig()
                       ) -> tuple[np.ndarray, np.ndarray]:
    """A policy's action as a proposal on the 0.1 .. 4 s grid in the ego frame: (40, 2), (40,).
    Trajectories are resampled (linear from the ego at t = 0, held after their last pose);
    direct controls are held for the horizon through the bicycle."""
    grid = np.arange(1, config.horizon_steps + 1) * config.dt_s
    if isinstance(action, TrajectoryAction):
        xy, yaw, t = (np.asarray(a, np.float64) for a in (action.xy_in_ego, action.yaw_in_ego_rad, action.t_offset_s))
        if not (np.all(np.isfinite(xy)) and np.all(np.isfinite(yaw)) and np.all(np.isfinite(t))):
            raise ActionError("the policy returned a trajectory with NaN or infinite values")
        return _resample_proposal(xy.reshape(-1, 2), yaw, t, grid)
    if isinstance(action, ControlAction):
        from sim.dynamics.bicycle import bicycle_step_kernel, params_vector

        vec = np.array([ego.x_m, ego.y_m, ego.yaw_rad, ego.speed_mps, ego.accel_mps2, ego.steer_rad])
        pv = params_vector(ego_params)
        poses = []
        for _ in range(config.horizon_steps):
            vec = bicycle_step_kernel(vec, float(action.accel_mps2), float(action.steer_rad), pv, config.dt_s)
            poses.append(vec[:3].copy())
        poses = np.array(poses)
        return global_to_local_xy(poses[:, :2], ego.xy, ego.yaw_rad), wrap_angle(poses[:, 2] - ego.yaw_rad)
    raise ActionError(f"the policy returned {type(action).__name__}, not a TrajectoryAction or ControlAction")


def score_log_frames(context: SimContext, policy="expert", config: EPDMSConfig = EPDMSConfig(),
                     steps: Sequence[int] | None = None,
                     on_frame: Callable[[EPDMSResult], None] | None = None) -> list[EPDMSResult]:
    """EPDMS of a policy's proposal at every scorable frame of the log (or at `steps`).

    policy: "expert" (the logged human's own 4 s future), a built-in policy name, or a Policy
    object. EC compares each proposal with the one made interval (0.5 s) earlier when that frame
    was scored too."""
    from sim.policies.registry import make_policy

    frames = scorable_frames(context, config) if steps is None else np.asarray(list(steps), np.int64)
    data = scoring_data(context)
    expert = isinstance(policy, str) and policy == "expert"
    if isinstance(policy, str) and not expert:
        policy = make_policy(policy)
    if not expert:
        policy.reset(context.scenario)
    interval = int(round(config.comfort.ec_interval_s / config.dt_s))
    results: dict[int, EPDMSResult] = {}
    out = []
    for k in frames:
        k = int(k)
        if expert:
            xy, yaw = human_proposal(data, k, config)
        else:
            xy, yaw = policy_proposal(context, policy, k, config)
        result = score_proposal(context, k, xy, yaw, previous_proposal=results.get(k - interval), config=config)
        results[k] = result
        out.append(result)
        if on_frame is not None:
            on_frame(result)
    return out


def summarize(results: Sequence[EPDMSResult], threshold: float = 0.9) -> dict:
    """Means of the score and sub-scores over frames, the share of frames at or above `threshold`,
    and how often the human filter changed something (JSON-ready)."""
    if not results:
        return {"frames": 0}
    arr = {k: np.array([getattr(r, k) for r in results]) for k in ("epdms", "unfiltered_epdms") + METRIC_NAMES}
    return {
        "frames": len(results),
        "epdms_mean": float(arr["epdms"].mean()),
        "unfiltered_epdms_mean": float(arr["unfiltered_epdms"].mean()),
        "share_at_or_above": float((arr["epdms"] >= threshold).mean()),
        "unfiltered_share_at_or_above": float((arr["unfiltered_epdms"] >= threshold).mean()),
        "threshold": threshold,
        "subscores_mean": {k: float(arr[k].mean()) for k in METRIC_NAMES},
        "frames_filtered": int(sum(1 for r in results if r.filtered)),
        "filtered_counts": {k: int(sum(1 for r in results if k in r.filtered)) for k in METRIC_NAMES},
        "human_filter": results[0].human_filter,
    }

"""What scoring a scenario needs, derived once per SimContext: `ScoringData.build(context)`.

The caller builds it once and passes it to every scoring function (no hidden module state). It
holds the extended route, a lane grid, the ego's box, the logged ego's state vectors and the
logged actors time-major, plus a memo of per-frame results at the logged state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from scipy.signal import savgol_filter

from sim.dynamics.bicycle import ACCEL, SPEED, YAW, X, Y
from sim.dynamics.tracker import CURVATURE_MIN_ARC_M
from sim.engine import SimContext, route_arclength
from sim.errors import ConfigError
from sim.geometry import path_curvature_kernel, polyline_arclength
from sim.scoring.comfort import Kinematics, history_kinematics
from sim.scoring.epdms.config import (
    LANE_GRID_CELL_M,
    LOG_DERIVATIVE_WINDOW,
    ROUTE_BACK_EXTENSION_M,
    ROUTE_FORWARD_EXTENSION_M,
    EPDMSConfig,
)
from sim.scoring.epdms.kernels import project_track
from sim.scoring.stop_controls import StopControls, infer_stop_controls
from sim.scoring.traffic import Traffic, reactive_actor_futures
from sim.types.scenario import DT_S, ActorKind, Scenario
from sim.types.state import EgoState


@dataclass(frozen=True, eq=False)
class ScoringRoute:
    """The route centerline extended straight by ROUTE_BACK_EXTENSION_M backwards and
    ROUTE_FORWARD_EXTENSION_M forwards so that progress is never clipped by its end.

    - xy_m: (Q, 2) the centerline every 1 m; s_m: (Q,) its arclength.
    - offset_m: arclength of the engine's route start on it (engine s + offset = ours).
    - connector_s_m: (C, 2) arclength [start, end] of the route's lane connectors.
    """

    xy_m: np.ndarray
    s_m: np.ndarray
    offset_m: float
    connector_s_m: np.ndarray


@dataclass(frozen=True, eq=False)
class LaneGrid:
    """Lane centerline segments and a uniform grid over them (CSR lists of segments per cell).

    - seg_start_xy_m, seg_end_xy_m: (K, 2); seg_lane: (K,) lane index; seg_first, seg_last: (K,)
      bool, first / last segment of its lane; seg_heading_rad: (K,).
    - lane_half_width_m, lane_is_connector, lane_on_route: (L,).
    - origin_xy_m: (2,) the grid's corner; shape: (nx, ny) cells of cell_m; cell_offsets:
      (nx*ny+1,), cell_segments: (M,) the segments of cell c are cell_segments[cell_offsets[c]:
      cell_offsets[c + 1]].
    """

    seg_start_xy_m: np.ndarray
    seg_end_xy_m: np.ndarray
    seg_lane: np.ndarray
    seg_first: np.ndarray
    seg_last: np.ndarray
    seg_heading_rad: np.ndarray
    lane_half_width_m: np.ndarray
    lane_is_connector: np.ndarray
    lane_on_route: np.ndarray
    origin_xy_m: np.ndarray
    shape: tuple[int, int]
    cell_offsets: np.ndarray
    cell_segments: np.ndarray
    cell_m: float = LANE_GRID_CELL_M


@dataclass(frozen=True)
class EgoBox:
    """The ego's footprint: half length and width, rear axle to box centre, wheelbase (m)."""

    half_length_m: float
    half_width_m: float
    rear_axle_to_center_m: float
    wheelbase_m: float


@dataclass(frozen=True, eq=False)
class LogEgo:
    """The logged ego over the log's T steps.

    - states: (T, 6) engine state vectors [x, y, yaw, speed, accel, steer] (acceleration and
      steering estimated from the poses, see `log_states`).
    - yaw_rate_radps: (T,); valid: (T,) bool; route_s_m: (T,) the rear axle's arclength on the
      ScoringRoute.
    """

    states: np.ndarray
    yaw_rate_radps: np.ndarray
    valid: np.ndarray
    route_s_m: np.ndarray


@dataclass(frozen=True, eq=False)
class LogActors:
    """The logged actors, time-major over T steps and N actors.

    - xy_m: (T, N, 2) box centres; yaw_rad, speed_mps, valid: (T, N).
    - half_length_m, half_width_m: (N,); is_agent: (N,) bool (not a static object); category:
      (N,) category names.
    """

    xy_m: np.ndarray
    yaw_rad: np.ndarray
    speed_mps: np.ndarray
    valid: np.ndarray
    half_length_m: np.ndarray
    half_width_m: np.ndarray
    is_agent: np.ndarray
    category: np.ndarray


@dataclass(frozen=True, eq=False)
class ScoringData:
    """What scoring a scenario needs: build it once with `ScoringData.build(context)` and pass it.

    - context: the SimContext it was built from.
    - route, lanes, drivable (the drivable area, prepared shapely geometry), ego_box, log_ego,
      actors: see their classes.
    - frame_cache: per-frame reference and human-filter results at the logged state and the
      inferred stop lines, memoised by (step, config) / config (deterministic functions of the
      scenario, so a cache, not state).
    """

    context: SimContext
    route: ScoringRoute
    lanes: LaneGrid
    drivable: object
    ego_box: EgoBox
    log_ego: LogEgo
    actors: LogActors
    frame_cache: dict = field(default_factory=dict, repr=False)

    @property
    def scenario(self) -> Scenario:
        return self.context.scenario

    @classmethod
    def build(cls, context: SimContext) -> ScoringData:
        """Derive everything scoring `context`'s scenario needs (about as long as a few frames)."""
        sc = context.scenario
        route = _scoring_route(context)
        lanes = _lane_grid(sc)
        drivable = sc.map.drivable_area
        shapely.prepare(drivable)
        p = sc.ego_params
        tracks = sc.actors
        log_states, log_yaw_rate = log_states_of(sc)
        valid = np.asarray(sc.ego.valid, bool)
        log_route_s = np.zeros(sc.num_steps)
        steps = np.flatnonzero(valid)
        if len(steps):
            s = float(project_track(route.xy_m, route.s_m, sc.ego.xy[steps[:1]],
                                    context.route_start_s_m + route.offset_m, 1e9, 1e9)[0][0])
            for i in steps:
                s = route_arclength(route.xy_m, route.s_m, sc.ego.xy[i], s, 30.0)
                log_route_s[i] = s
        actors = LogActors(
            xy_m=np.ascontiguousarray(np.transpose(tracks.xy, (1, 0, 2))),
            yaw_rad=np.ascontiguousarray(tracks.yaw_rad.T),
            speed_mps=np.ascontiguousarray(np.linalg.norm(tracks.velocity_xy_mps, axis=-1).T),
            valid=np.ascontiguousarray(tracks.valid.T),
            half_length_m=0.5 * tracks.size_wlh_m[:, 1].astype(np.float64),
            half_width_m=0.5 * tracks.size_wlh_m[:, 0].astype(np.float64),
            is_agent=np.asarray(tracks.kind) != ActorKind.STATIC, category=np.asarray(tracks.category))
        return cls(context=context, route=route, lanes=lanes, drivable=drivable,
                   ego_box=EgoBox(0.5 * p.length_m, 0.5 * p.width_m, p.rear_axle_to_center_m, p.wheelbase_m),
                   log_ego=LogEgo(log_states, log_yaw_rate, valid, log_route_s), actors=actors)


def _scoring_route(context: SimContext) -> ScoringRoute:
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
    lanes = sc.map.lanes
    seg = lanes.segments
    connectors = []
    for lane in np.asarray(sc.route.lane_indices, np.int64):
        if lanes.is_connector[lane] and np.any(seg.lane == lane):
            s_lane = project_track(route_xy, route_s, seg.start_xy[seg.lane == lane], 0.0, 1e9, 1e9)[0]
            connectors.append((float(s_lane.min()), float(s_lane.max())))
    return ScoringRoute(route_xy, route_s, float(route_s[len(back)]), np.array(connectors, np.float64).reshape(-1, 2))


def _lane_grid(sc: Scenario) -> LaneGrid:
    """A uniform grid over the lane segments: every segment is listed in each cell its bounding
    box (grown by its lane's half width) touches."""
    lanes = sc.map.lanes
    seg = lanes.segments
    k = len(seg.lane)
    first = np.zeros(k, bool)
    last = np.zeros(k, bool)
    if k:
        first[np.r_[0, np.flatnonzero(np.diff(seg.lane)) + 1]] = True
        last[np.r_[np.flatnonzero(np.diff(seg.lane)), k - 1]] = True
    half_width = 0.5 * np.asarray(lanes.width_m, np.float64)
    on_route = np.zeros(lanes.num_lanes, bool)
    on_route[np.asarray(sc.route.lane_indices, np.int64)] = True
    origin, shape, offsets, segments = _grid_cells(seg.start_xy, seg.end_xy, half_width[seg.lane] if k else
                                                   np.zeros(0), LANE_GRID_CELL_M)
    return LaneGrid(seg_start_xy_m=np.ascontiguousarray(seg.start_xy), seg_end_xy_m=np.ascontiguousarray(seg.end_xy),
                    seg_lane=np.ascontiguousarray(seg.lane), seg_first=first, seg_last=last,
                    seg_heading_rad=np.ascontiguousarray(seg.heading_rad if k else np.zeros(0)),
                    lane_half_width_m=half_width, lane_is_connector=np.asarray(lanes.is_connector, bool),
                    lane_on_route=on_route, origin_xy_m=origin, shape=shape, cell_offsets=offsets,
                    cell_segments=segments, cell_m=LANE_GRID_CELL_M)


def _grid_cells(start: np.ndarray, end: np.ndarray, half_width: np.ndarray, cell_m: float):
    """(origin (2,), (nx, ny), cell offsets, cell segments) of segments (K, 2) -> (K, 2)."""
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


def log_states_of(sc: Scenario) -> tuple[np.ndarray, np.ndarray]:
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


def stop_controls(data: ScoringData, config: EPDMSConfig = EPDMSConfig()) -> StopControls:
    """The stop lines inferred from the scenario's logged ego (memoised per config)."""
    key = ("stop_controls", config.stop_controls)
    cached = data.frame_cache.get(key)
    if cached is None:
        st = data.log_ego.states
        box = data.ego_box
        d = box.rear_axle_to_center_m
        center = st[:, [X, Y]] + d * np.stack([np.cos(st[:, YAW]), np.sin(st[:, YAW])], -1)
        front_s = data.log_ego.route_s_m + d + box.half_length_m
        act = data.actors
        cached = infer_stop_controls(st[:, SPEED], data.log_ego.valid, front_s, center, st[:, YAW], box.half_length_m,
                                     box.half_width_m, act.xy_m, act.valid, act.half_length_m, act.half_width_m,
                                     data.route.connector_s_m, config.dt_s, config.stop_controls)
        data.frame_cache[key] = cached
    return cached


def check_step(data: ScoringData, step_index: int) -> None:
    """Raise ConfigError unless the log has its ego at `step_index`."""
    sc = data.scenario
    if not 0 <= step_index < sc.num_steps or not sc.ego.valid[step_index]:
        raise ConfigError(f"step {step_index} of scenario {sc.name!r} has no logged ego (steps 0..{sc.num_steps - 1}, "
                          "logged where ego.valid): choose a frame inside the log")


def logged_ego_state(data: ScoringData, step_index: int) -> EgoState:
    """The logged ego at a step as an EgoState (acceleration and steering estimated from the log)."""
    check_step(data, step_index)
    s = data.log_ego.states[step_index]
    return EgoState(*(float(v) for v in s), float(data.log_ego.yaw_rate_radps[step_index]))


def actors_window(data: ScoringData, step_index: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Logged actors at steps step_index .. step_index + n - 1 (invalid past the log's end):
    xy (n, N, 2), yaw, speed, valid (n, N)."""
    act = data.actors
    t = act.xy_m.shape[0]
    stop = min(step_index + n, t)
    xy, yaw = act.xy_m[step_index:stop], act.yaw_rad[step_index:stop]
    speed, valid = act.speed_mps[step_index:stop], act.valid[step_index:stop]
    if stop - step_index < n:
        pad = n - (stop - step_index)
        m = xy.shape[1]
        xy = np.concatenate([xy, np.zeros((pad, m, 2))])
        yaw = np.concatenate([yaw, np.zeros((pad, m))])
        speed = np.concatenate([speed, np.zeros((pad, m))])
        valid = np.concatenate([valid, np.zeros((pad, m), bool)])
    return xy, yaw, speed, valid


def actor_futures(data: ScoringData, step_index: int, ego_states: np.ndarray, traffic: Traffic = Traffic.LOG_REPLAY
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The actors while the ego drives `ego_states` (n, 6) from `step_index`: the log
    (`actors_window`) or reactive IDM vehicles (`sim.scoring.traffic`); same layout."""
    if traffic is Traffic.REACTIVE:
        return reactive_actor_futures(data.context, step_index, ego_states)
    return actors_window(data, step_index, len(ego_states))


def log_history(data: ScoringData, step_index: int, config: EPDMSConfig = EPDMSConfig()) -> Kinematics:
    """HC's history of the logged ego before a step, as NAVSIM builds it from the log's 2 Hz frames
    (`history_kinematics`; shorter at the log's start)."""
    h = int(round(config.comfort.history_s / config.dt_s))
    valid = np.flatnonzero(data.log_ego.valid[:step_index])
    lo = max(step_index - h, int(valid[0]) if len(valid) else step_index)
    st = data.log_ego.states[lo:step_index + 1]
    return history_kinematics(st[:, YAW], st[:, SPEED], st[:, ACCEL], data.log_ego.yaw_rate_radps[lo:step_index + 1],
                              config.dt_s, config.comfort)

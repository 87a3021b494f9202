"""The sub-metrics of one window of ego states against actors (`evaluate_window`): NC, DAC,
DDC, TLC, TTC, LK, HC and the route progress, before EP's normalisation and the human filter."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely

from sim.dynamics.bicycle import SPEED, YAW, X, Y
from sim.scoring.comfort import (
    ComfortResult,
    Kinematics,
    concat_kinematics,
    history_comfort,
    kinematics_from_states,
)
from sim.scoring.epdms.config import EPDMSConfig
from sim.scoring.epdms.data import ScoringData
from sim.scoring.epdms.kernels import ego_area_kernel, lane_keeping_kernel, nc_kernel, track_kernel, ttc_kernel
from sim.scoring.stop_controls import NO_STOP_CONTROLS, StopControls, red_light_crossing


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
    x, y, yaw = states[:, X], states[:, Y], states[:, YAW]
    c, s = np.cos(yaw), np.sin(yaw)
    box = data.ego_box
    d, hl, hw = box.rear_axle_to_center_m, box.half_length_m, box.half_width_m
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
    return (pts[:, 4, 0].copy(), pts[:, 4, 1].copy(), states[:, YAW].copy(), states[:, SPEED].copy(),
            states[:, X].copy(), states[:, Y].copy())


def no_collision_term(states: np.ndarray, pts: np.ndarray, data: ScoringData, act_xy: np.ndarray,
                      act_yaw: np.ndarray, act_speed: np.ndarray, act_valid: np.ndarray,
                      straddle_or_off: np.ndarray, config: EPDMSConfig = EPDMSConfig()) -> tuple:
    """NAVSIM's NC of ego states (n, 6) with their `ego_points` pts against actors (time-major,
    as in `evaluate_window`): (score, step, actor, collision type). straddle_or_off (n,) marks
    states in several lanes or off the road, where a lateral contact is the ego's fault."""
    cx, cy, yaw, speed, rx, ry = _kernel_ego(states, pts)
    box, act = data.ego_box, data.actors
    return nc_kernel(cx, cy, yaw, speed, rx, ry, box.half_length_m, box.half_width_m, straddle_or_off, act_xy,
                     act_yaw, act_speed, act_valid, act.half_length_m, act.half_width_m, act.is_agent,
                     config.collision_stopped_speed_mps, config.agent_behind_angle_rad, config.static_collision_score)


def time_to_collision_term(states: np.ndarray, pts: np.ndarray, data: ScoringData, act_xy: np.ndarray,
                           act_yaw: np.ndarray, act_valid: np.ndarray, area_flag: np.ndarray,
                           config: EPDMSConfig = EPDMSConfig()) -> tuple:
    """NAVSIM's TTC of ego states (n, 6) (see `no_collision_term`): (score, step, actor, projection
    offset in steps). area_flag (n,) marks states where actors behind count too."""
    cx, cy, yaw, speed, rx, ry = _kernel_ego(states, pts)
    box, act = data.ego_box, data.actors
    return ttc_kernel(cx, cy, yaw, speed, rx, ry, box.half_length_m, box.half_width_m, area_flag, act_xy, act_yaw,
                      act_valid, act.half_length_m, act.half_width_m, config.ttc_offsets_steps, config.dt_s,
                      config.ttc_stopped_speed_mps, config.agent_ahead_angle_rad, config.agent_behind_angle_rad)


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
    route_s, route_lat, route_heading = track_kernel(data.route.xy_m, data.route.s_m, cx, cy, float(route_s_hint_m),
                                                     40.0, 40.0, 7.5, 15.0)
    lanes = data.lanes
    gx0, gy0 = lanes.origin_xy_m
    nx, ny = lanes.shape
    multi, route_ok, center_inter, rear_inter = ego_area_kernel(
        pts, route_heading, lanes.seg_start_xy_m, lanes.seg_end_xy_m, lanes.seg_lane, lanes.seg_first, lanes.seg_last,
        lanes.seg_heading_rad, lanes.lane_half_width_m, lanes.lane_is_connector, lanes.lane_on_route, gx0, gy0,
        lanes.cell_m, nx, ny, lanes.cell_offsets, lanes.cell_segments, config.route_direction_tolerance_rad)
    if len(lanes.seg_lane) == 0:
        route_ok[:] = True  # a map without lanes cannot tell the driving direction
    straddle_or_off = multi | off_road
    nc, nc_step, nc_actor, nc_type = no_collision_term(states, pts, data, act_xy, act_yaw, act_speed, act_valid,
                                                       straddle_or_off, config)
    dac = 0.0 if off_road.any() else 1.0
    off_step = int(np.argmax(off_road)) if off_road.any() else -1
    ddc, oncoming_m, oncoming_step = driving_direction_compliance(cx, cy, ~route_ok, center_inter, config)
    progress = float(max(route_s[-1] - route_s[0], 0.0))
    tlc_step = red_light_crossing(route_s + data.ego_box.half_length_m, stops, step_index) \
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
            kin = concat_kinematics(history, kinematics_from_states(states, data.ego_box.wheelbase_m, config.dt_s))
            hc_offset = len(history) if history is not None else 0
            hc = history_comfort(kin, config.dt_s, data.ego_box.rear_axle_to_center_m, config.comfort)
    return WindowMetrics(nc=float(nc), nc_step=int(nc_step), nc_actor=int(nc_actor), nc_type=int(nc_type), dac=dac,
                         off_road_step=off_step, ddc=ddc, oncoming_m=oncoming_m, oncoming_step=oncoming_step,
                         ttc=float(ttc), ttc_step=int(ttc_step), ttc_actor=int(ttc_actor),
                         ttc_offset_steps=int(ttc_off), lk=lk, lk_step=lk_step, lane_deviation_max_m=dev_max, hc=hc,
                         hc_offset=hc_offset, progress_m=progress, route_s_m=route_s,
                         tlc=0.0 if tlc_step >= 0 else 1.0, tlc_step=tlc_step)


def driving_direction_compliance(cx: np.ndarray, cy: np.ndarray, oncoming: np.ndarray,
                                 in_intersection: np.ndarray,
                                 config: EPDMSConfig = EPDMSConfig()) -> tuple[float, float, int]:
    """NAVSIM's DDC (pdm_scorer.py, `_calculate_driving_direction_compliance`): (score, max
    oncoming travel over any horizon window in m, window end index).

    Travel into state t counts when the box centre at state t is oncoming (in no lane of the
    route's direction) and not in an intersection; the sum over the states t - horizon .. t is
    compared with the thresholds. cx, cy, oncoming, in_intersection: (n,)."""
    step = np.zeros(len(cx))
    step[1:] = np.hypot(np.diff(cx), np.diff(cy))
    step[~np.asarray(oncoming, bool) | np.asarray(in_intersection, bool)] = 0.0
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
    score, index, dev_max = lane_keeping_kernel(np.ascontiguousarray(deviation_m, dtype=np.float64),
                                                np.ascontiguousarray(in_intersection, dtype=np.bool_),
                                                float(config.lane_keeping_deviation_m), need)
    return float(score), int(index), float(dev_max)

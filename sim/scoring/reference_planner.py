"""The reference planner of EPDMS's ego progress: PDM-Closed-style IDM proposals.

NAVSIM normalises a proposal's progress by the progress of PDM-Closed (Dauner et al., "Parting
with Misconceptions about Learning-based Vehicle Motion Planning", CoRL 2023), which NAVSIM's
metric cache runs with these settings (navsim/planning/metric_caching/metric_cache_processor.py):
IDM proposals at 20/40/60/80/100 % of the speed limit (fallback 15 m/s), along the route
centerline and the centerline shifted 1 m to either side, minimum gap 1 m, time headway 1.5 s,
maximum acceleration 1.5 m/s^2, maximum deceleration 3 m/s^2. Each proposal is then tracked by
the same tracker and bicycle as any proposal and scored the same way (see `sim.scoring.epdms`);
PDM-Closed picks the proposal with the best PDM score (multipliers times the weighted
progress, TTC, lane keeping and history comfort), and that proposal's progress is the reference.

Differences to PDM-Closed, and why:
- Our maps carry no speed limits, so the target speeds are fractions of the fallback 15 m/s.
- Our maps carry no traffic-light states or stop signs; the caller passes the stop lines red at
  the frame (inferred from the log, `sim.scoring.stop_controls`), and every proposal stops
  before them for the whole horizon, as PDM-Closed does at the red lights of its frame.
- Leaders: the caller passes the actors as the planner should see them; the scorer passes
  PDM-Closed's view, the actors at the frame moved on at constant velocity. The proposals are
  then scored against the logged actors like any proposal.

This module only generates the proposals (pure functions of arrays); scoring them is in epdms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from sim.geometry import project_point_kernel


@dataclass(frozen=True)
class ReferencePlannerConfig:
    """PDM-Closed's proposal set (NAVSIM metric cache).

    - speed_limit_mps: target speed at fraction 1.0 (NAVSIM's fallback_target_velocity; our maps
      have no limits).
    - speed_fractions: IDM target speeds as fractions of the limit.
    - lateral_offsets_m: centerline offsets (left positive); 0 is the route centerline itself.
    - min_gap_m, time_headway_s, max_accel_mps2, max_decel_mps2: IDM parameters (NAVSIM's
      BatchIDMPolicy settings); exponent: IDM's acceleration exponent (nuPlan's 4).
    - actor_radius_m: actors never within this distance of the ego's start are ignored.

    PDM-Closed's choice among the proposals uses the scorer's own weights (see
    `sim.scoring.epdms.baseline.selection_scores`).
    """

    speed_limit_mps: float = 15.0
    speed_fractions: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8, 1.0)
    lateral_offsets_m: tuple[float, ...] = (-1.0, 0.0, 1.0)
    min_gap_m: float = 1.0
    time_headway_s: float = 1.5
    max_accel_mps2: float = 1.5
    max_decel_mps2: float = 3.0
    exponent: float = 4.0
    actor_radius_m: float = 150.0


@dataclass(frozen=True, eq=False)
class ReferenceProposals:
    """P proposals on the scorer's grid of H steps after the frame.

    xy: (P, H, 2) rear-axle poses in global; yaw_rad: (P, H); target_speed_mps: (P,);
    lateral_offset_m: (P,).
    """

    xy: np.ndarray
    yaw_rad: np.ndarray
    target_speed_mps: np.ndarray
    lateral_offset_m: np.ndarray


def reference_proposals(route_xy: np.ndarray, route_s: np.ndarray, s0_m: float, speed0_mps: float,
                        ego_xy: np.ndarray, actor_xy: np.ndarray, actor_yaw: np.ndarray, actor_speed: np.ndarray,
                        actor_valid: np.ndarray, actor_half_length: np.ndarray, actor_half_width: np.ndarray,
                        ego_half_width_m: float, rear_axle_to_center_m: float, rear_axle_to_front_m: float,
                        num_steps: int, dt_s: float, config: ReferencePlannerConfig = ReferencePlannerConfig(),
                        stop_line_s_m: np.ndarray = np.zeros(0)) -> ReferenceProposals:
    """IDM proposals along the route from arclength s0_m (the ego's rear axle projected on it).

    route_xy (Q, 2) / route_s (Q,): the route centerline and its arclength. actor_*: the actors at
    the frame and the following steps, time-major: xy (n, N, 2), yaw / speed / valid (n, N) with
    n >= num_steps; half sizes (N,). stop_line_s_m (S,): route arclengths of red stop lines
    (those the front bumper has already passed are ignored).
    """
    c = config
    near = actor_valid[:num_steps] & (np.linalg.norm(actor_xy[:num_steps] - ego_xy, axis=-1) < c.actor_radius_m)
    cols = np.flatnonzero(near.any(axis=0))
    seg_heading = np.arctan2(np.diff(route_xy[:, 1]), np.diff(route_xy[:, 0]))
    s_lo, s_hi = s0_m - 20.0, s0_m + c.speed_limit_mps * num_steps * dt_s + 40.0
    proj = _project_actors_kernel(route_xy, route_s, np.ascontiguousarray(actor_xy[:num_steps][:, cols]),
                                  np.ascontiguousarray(actor_yaw[:num_steps][:, cols]),
                                  np.ascontiguousarray(actor_speed[:num_steps][:, cols]),
                                  np.ascontiguousarray(actor_valid[:num_steps][:, cols]),
                                  actor_half_length[cols], actor_half_width[cols], s_lo, s_hi)
    targets = np.array([f * c.speed_limit_mps for _ in c.lateral_offsets_m for f in c.speed_fractions])
    offsets = np.array([o for o in c.lateral_offsets_m for _ in c.speed_fractions])
    stops = np.asarray(stop_line_s_m, np.float64)
    stops = stops[stops >= s0_m + rear_axle_to_front_m]
    advance = _idm_kernel(max(speed0_mps, 0.0), s0_m, targets, offsets, *proj, stops, ego_half_width_m,
                          rear_axle_to_center_m, rear_axle_to_front_m, c.max_accel_mps2, c.max_decel_mps2,
                          c.time_headway_s, c.min_gap_m, c.exponent, dt_s, num_steps)
    s = s0_m + advance  # (P, H)
    x = np.interp(s, route_s, route_xy[:, 0])
    y = np.interp(s, route_s, route_xy[:, 1])
    idx = np.clip(np.searchsorted(route_s, s, side="right") - 1, 0, len(seg_heading) - 1)
    heading = seg_heading[idx]
    xy = np.stack([x - offsets[:, None] * np.sin(heading), y + offsets[:, None] * np.cos(heading)], -1)
    return ReferenceProposals(xy, heading, targets, offsets)


@njit(cache=True)
def _project_actors_kernel(route_xy, route_s, xy, yaw, speed, valid, half_l, half_w, s_lo, s_hi):
    """Each actor box at each step, in route coordinates: centre arclength and lateral offset
    (left +), half extent along and across the route, speed along the route, and whether it was
    usable (valid and projected inside [s_lo, s_hi] within 15 m of the centerline)."""
    n, m = valid.shape
    out_s = np.zeros((n, m))
    out_d = np.zeros((n, m))
    out_hlong = np.zeros((n, m))
    out_hlat = np.zeros((n, m))
    out_v = np.zeros((n, m))
    ok = np.zeros((n, m), dtype=np.bool_)
    lo = max(np.searchsorted(route_s, s_lo) - 1, 0)
    hi = min(np.searchsorted(route_s, s_hi) + 1, route_s.shape[0] - 1)
    for t in range(n):
        for j in range(m):
            if not valid[t, j]:
                continue
            px = xy[t, j, 0]
            py = xy[t, j, 1]
            bs, bd, bh = project_point_kernel(route_xy[lo:hi + 1], route_s[lo:hi + 1], px, py)
            if math.isnan(bh) or abs(bd) > 15.0:
                continue
            dpsi = yaw[t, j] - bh
            c = abs(math.cos(dpsi))
            s = abs(math.sin(dpsi))
            out_s[t, j] = bs
            out_d[t, j] = bd
            out_hlong[t, j] = half_l[j] * c + half_w[j] * s
            out_hlat[t, j] = half_l[j] * s + half_w[j] * c
            out_v[t, j] = speed[t, j] * math.cos(dpsi)
            ok[t, j] = True
    return out_s, out_d, out_hlong, out_hlat, out_v, ok


@njit(cache=True)
def _idm_kernel(v_init, s0, targets, offsets, act_s, act_d, act_hlong, act_hlat, act_v, act_ok, stop_s, ego_hw,
                rear_to_center, rear_to_front, a_max, b_max, headway, gap0, delta, dt, n_steps):
    """(P, n_steps) arclength advance of the rear axle at steps 1..n_steps of IDM proposals.

    The leader at step k is the nearest of: the actors ahead of the ego's box centre whose box
    overlaps the proposal's corridor (the ego's width around the offset centerline) at step k,
    and the stop lines stop_s (standing, across every lane)."""
    p_count = targets.shape[0]
    m = act_s.shape[1]
    out = np.zeros((p_count, n_steps))
    sqrt_ab = math.sqrt(a_max * b_max)
    for p in range(p_count):
        v = v_init
        s = 0.0
        off = offsets[p]
        v0 = max(targets[p], 0.1)
        for k in range(n_steps):
            center = s0 + s + rear_to_center
            front = s0 + s + rear_to_front
            gap = 1e300
            lead_v = 0.0
            for j in range(m):
                if not act_ok[k, j]:
                    continue
                if abs(act_d[k, j] - off) >= ego_hw + act_hlat[k, j]:
                    continue
                if act_s[k, j] <= center:
                    continue
                g = act_s[k, j] - act_hlong[k, j] - front
                if g < gap:
                    gap = g
                    lead_v = act_v[k, j]
            for j in range(stop_s.shape[0]):
                g = stop_s[j] - front
                if g < gap:
                    gap = g
                    lead_v = 0.0
            accel = a_max * (1.0 - (v / v0) ** delta)
            if gap < 1e299:
                s_star = gap0 + max(0.0, v * headway + v * (v - lead_v) / (2.0 * sqrt_ab))
                accel -= a_max * (s_star / max(gap, 0.01)) ** 2
            accel = min(max(accel, -b_max), a_max)
            v_next = max(v + accel * dt, 0.0)
            s += 0.5 * (v + v_next) * dt
            v = v_next
            out[p, k] = s
    return out

"""Actor behaviour in the closed loop: log replay, reactive IDM along each actor's lane path,
and scripted plans (adversaries).

A reactive actor follows the path it drove in the log (that is, its lanes), extended along
the lane graph past the log's end, and chooses its speed with the IDM against whatever is in
its path: other actors and the ego alike. It keeps the log's appearance and disappearance
times, so a reactive run and a replay run have the same cast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from sim.actors.idm import IDMParams, idm_acceleration
from sim.geometry import polyline_arclength, resample_polyline
from sim.types.roadmap import RoadMap
from sim.types.scenario import ActorKind, ActorTracks
from sim.types.state import ActorMode, ActorState

PATH_SPACING_M = 1.0


@dataclass(frozen=True)
class ActorBehaviorParams:
    """Reactive-actor settings.

    - idm: the IDM parameters (desired speed is per actor, from its log).
    - lookahead_m, lookahead_spacing_m: how far and how finely an actor scans its path.
    - lateral_margin_m: extra clearance beyond the two half-widths for "in my path".
    - extension_m: how far the path continues along the lane graph past the log's end.
    - min_moving_path_m: actors whose logged path is shorter stay put (parked cars).
    """

    idm: IDMParams = IDMParams()
    lookahead_m: float = 40.0
    lookahead_spacing_m: float = 2.0
    lateral_margin_m: float = 0.2
    extension_m: float = 60.0
    min_moving_path_m: float = 2.0


@dataclass(frozen=True, eq=False)
class ActorPaths:
    """Per-actor paths resampled every PATH_SPACING_M. N actors, P points (padded).

    - xy: (N, P, 2) global metres; rows past num_points repeat the last point.
    - num_points: (N,) int64; desired_speed_mps: (N,); start_s_m: (N, T) arclength of the
      logged position at each step (where valid), used to spawn reactive actors in place.
    - reactive: (N,) bool: vehicles with a real path (others replay even in reactive runs).
    """

    xy: np.ndarray
    num_points: np.ndarray
    desired_speed_mps: np.ndarray
    start_s_m: np.ndarray
    reactive: np.ndarray

    def pose_at(self, s_m: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions (M, 2) and headings (M,) of actors `rows` at arclengths s_m (M,)."""
        return _pose_at_kernel(self.xy, self.num_points, np.asarray(rows, np.int64), np.asarray(s_m, np.float64))


@njit(cache=True)
def _pose_at_kernel(path_xy, num_points, rows, s_m):
    m = rows.shape[0]
    xy = np.empty((m, 2))
    heading = np.empty(m)
    for i in range(m):
        row = rows[i]
        last = num_points[row] - 1
        f = min(max(s_m[i] / PATH_SPACING_M, 0.0), float(max(last, 0)))
        i0 = min(int(f), max(last - 1, 0))
        i1 = min(i0 + 1, last)
        frac = f - i0
        x0, y0 = path_xy[row, i0, 0], path_xy[row, i0, 1]
        x1, y1 = path_xy[row, i1, 0], path_xy[row, i1, 1]
        xy[i, 0] = x0 + frac * (x1 - x0)
        xy[i, 1] = y0 + frac * (y1 - y0)
        dx, dy = x1 - x0, y1 - y0
        if dx * dx + dy * dy <= 1e-18 and i1 > 0:
            # At the very end the segment has no length: use the previous one for the heading.
            dx = x1 - path_xy[row, i1 - 1, 0]
            dy = y1 - path_xy[row, i1 - 1, 1]
        heading[i] = math.atan2(dy, dx)
    return xy, heading


def build_actor_paths(tracks: ActorTracks, road: RoadMap, params: ActorBehaviorParams) -> ActorPaths:
    """Paths for every actor from its logged positions, extended along its last lane's successors."""
    n, t = tracks.valid.shape
    lines, desired, reactive = [], np.zeros(n), np.zeros(n, dtype=bool)
    start_s = np.zeros((n, t))
    for i in range(n):
        steps = np.flatnonzero(tracks.valid[i])
        logged = tracks.xy[i, steps] if len(steps) else np.zeros((1, 2))
        keep = np.concatenate([[True], np.linalg.norm(np.diff(logged, axis=0), axis=1) > 0.05]) \
            if len(logged) > 1 else [True]
        path = logged[keep]
        moving = len(path) > 1 and polyline_arclength(path)[-1] >= params.min_moving_path_m
        reactive[i] = moving and tracks.kind[i] in (ActorKind.VEHICLE, ActorKind.CYCLIST)
        if reactive[i]:
            path = np.vstack([path, _extension(path, road, params.extension_m)])
            speeds = np.linalg.norm(tracks.velocity_xy_mps[i, steps], axis=1)
            desired[i] = max(float(np.max(speeds)), 1.0)
        dense = resample_polyline(path, PATH_SPACING_M) if len(path) > 1 else path
        lines.append(dense)
        if reactive[i]:
            # Arclength of each logged position on the dense path, monotone by construction.
            s_logged = polyline_arclength(logged)
            start_s[i, steps] = s_logged
    p = max(len(line) for line in lines) if lines else 1
    xy = np.zeros((n, p, 2))
    for i, line in enumerate(lines):
        xy[i, :len(line)] = line
        xy[i, len(line):] = line[-1]
    return ActorPaths(xy, np.array([len(line) for line in lines], dtype=np.int64), desired, start_s, reactive)


def _extension(path: np.ndarray, road: RoadMap, length_m: float) -> np.ndarray:
    """Points continuing `path` along the lane graph (first successors), else straight on."""
    end = path[-1]
    heading = np.arctan2(*(path[-1] - path[-2])[::-1])
    match = road.nearest_lane(end[None], np.array([heading]), max_distance_m=3.0)
    pts: list[np.ndarray] = []
    lane, s0 = int(match.lane[0]), float(match.s_m[0])
    remaining = length_m
    while lane >= 0 and remaining > 0:
        line = road.lanes.centerline(lane)
        s = polyline_arclength(line)
        ahead = line[s > s0 + 0.5]
        pts.append(ahead)
        remaining -= max(s[-1] - s0, 0.0)
        succ = road.lanes.successors(lane)
        lane, s0 = (int(succ[0]), 0.0) if len(succ) else (-1, 0.0)
    tail = np.vstack(pts) if pts else np.zeros((0, 2))
    if remaining > 0:
        last = tail[-1] if len(tail) else end
        tail = np.vstack([tail, last + remaining * np.array([np.cos(heading), np.sin(heading)])])
    return tail


def replay_actors(tracks: ActorTracks, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(xy (N,2), yaw (N,), speed (N,), valid (N,)) of the log at `step` (clamped to the log)."""
    k = min(max(step, 0), tracks.valid.shape[1] - 1)
    speed = np.linalg.norm(tracks.velocity_xy_mps[:, k], axis=1)
    valid = tracks.valid[:, k] if step < tracks.valid.shape[1] else np.zeros(len(tracks.valid), bool)
    return tracks.xy[:, k].copy(), tracks.yaw_rad[:, k].copy(), speed, valid.copy()


@njit(cache=True)
def _leaders_kernel(rows, s, half_len, half_wid, path_xy, num_points, own_index, others_xy, others_half_w,
                    others_half_l, others_speed, others_yaw, lookahead_m, spacing_m, margin_m):
    """Gap from each actor's front to the nearest agent on its path ahead, and that agent's
    speed along the path (inf / 0 when the path is clear)."""
    r = rows.shape[0]
    gap = np.full(r, np.inf)
    lead_v = np.zeros(r)
    n_probe = int(lookahead_m / spacing_m) + 1
    m = others_xy.shape[0]
    for i in range(r):
        row = rows[i]
        last = num_points[row] - 1
        # Only agents within reach of the whole lookahead can block: filter once per actor.
        cx = path_xy[row, min(max(int(s[i] / PATH_SPACING_M), 0), last), 0]
        cy = path_xy[row, min(max(int(s[i] / PATH_SPACING_M), 0), last), 1]
        reach2 = (lookahead_m + half_len[i] + 15.0) ** 2
        best = np.inf
        best_v = 0.0
        for j in range(m):
            if j == own_index[i]:
                continue
            dx0 = others_xy[j, 0] - cx
            dy0 = others_xy[j, 1] - cy
            if dx0 * dx0 + dy0 * dy0 > reach2:
                continue
            lim = half_wid[i] + others_half_w[j] + margin_m
            lim2 = lim * lim
            for k in range(n_probe):
                off = k * spacing_m
                if off - others_half_l[j] >= best:
                    break
                f = (s[i] + half_len[i] + off) / PATH_SPACING_M
                idx = min(max(int(f), 0), max(last - 1, 0))
                nxt = min(idx + 1, last)
                fr = min(max(f - idx, 0.0), 1.0)
                px = path_xy[row, idx, 0] + fr * (path_xy[row, nxt, 0] - path_xy[row, idx, 0])
                py = path_xy[row, idx, 1] + fr * (path_xy[row, nxt, 1] - path_xy[row, idx, 1])
                dx = others_xy[j, 0] - px
                dy = others_xy[j, 1] - py
                if dx * dx + dy * dy < lim2:
                    best = max(off - others_half_l[j], 0.0)
                    hx = path_xy[row, nxt, 0] - path_xy[row, idx, 0]
                    hy = path_xy[row, nxt, 1] - path_xy[row, idx, 1]
                    heading = math.atan2(hy, hx) if hx * hx + hy * hy > 1e-12 else others_yaw[j]
                    best_v = max(others_speed[j] * math.cos(others_yaw[j] - heading), 0.0)
                    break
        gap[i] = best
        lead_v[i] = best_v
    return gap, lead_v



def idm_update(actors: ActorState, reactive_rows: np.ndarray, paths: ActorPaths, size_wlh_m: np.ndarray,
               others_xy: np.ndarray, others_half_width_m: np.ndarray, others_half_length_m: np.ndarray,
               others_speed_mps: np.ndarray, others_yaw_rad: np.ndarray, own_index: np.ndarray,
               params: ActorBehaviorParams, dt_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One IDM step for actors `reactive_rows` (R,). Returns their new (s_m, speed_mps, accel).

    `others_*` describe every agent that can block (valid actors and the ego), M of them;
    `own_index` (R,) is each actor's own row among them. An agent blocks actor i when it lies
    within the two half-widths + margin of i's path ahead of i's front.
    """
    s = actors.path_s_m[reactive_rows]
    v = actors.speed_mps[reactive_rows]
    half_length_m, half_width_m = 0.5 * size_wlh_m[reactive_rows, 1], 0.5 * size_wlh_m[reactive_rows, 0]
    gap, lead_v = _leaders_kernel(reactive_rows, s, half_length_m, half_width_m, paths.xy, paths.num_points,
                                  own_index, others_xy, others_half_width_m, others_half_length_m, others_speed_mps,
                                  others_yaw_rad, params.lookahead_m, params.lookahead_spacing_m,
                                  params.lateral_margin_m)
    accel = idm_acceleration(v, gap, lead_v, paths.desired_speed_mps[reactive_rows], params.idm)
    v_new = np.maximum(v + accel * dt_s, 0.0)
    s_new = s + 0.5 * (v + v_new) * dt_s
    return s_new, v_new, accel


def initial_actor_state(tracks: ActorTracks, paths: ActorPaths, step: int, reactive: bool) -> ActorState:
    """Actors at `step` of the log; vehicles with a path switch to IDM when `reactive`."""
    xy, yaw, speed, valid = replay_actors(tracks, step)
    mode = np.where(reactive & paths.reactive, ActorMode.IDM, ActorMode.REPLAY).astype(np.int8)
    n = len(xy)
    return ActorState(xy=xy, yaw_rad=yaw, speed_mps=speed, valid=valid, mode=mode,
                      path_s_m=paths.start_s_m[:, min(step, paths.start_s_m.shape[1] - 1)].copy(),
                      plan_xy=np.zeros((n, 0, 2)), plan_yaw_rad=np.zeros((n, 0)), plan_step=np.zeros(n, np.int64))

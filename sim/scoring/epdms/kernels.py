"""The compiled (numba) kernels of EPDMS: route projection, lane and intersection membership of
the footprint, NAVSIM's NC and TTC, and lane keeping. `sim.scoring.epdms.reference` holds the
shapely implementation of the NC and TTC overlaps that they are checked against."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sim.checks import obb_overlap
from sim.geometry import project_point_kernel


@njit(cache=True)
def track_kernel(route_xy, route_s, px, py, s_hint, first_back, first_ahead, back, ahead):
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


def project_track(route_xy_m: np.ndarray, route_s_m: np.ndarray, xy_m: np.ndarray, s_hint_m: float,
                  first_window_m: float = 40.0, step_window_m: float = 15.0
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(arclength, signed lateral offset, route heading) of consecutive points (n, 2) on the route.

    The first point is searched within first_window_m of s_hint_m, each next one within
    step_window_m of the previous (a track cannot jump to a far part of a route that passes near
    itself)."""
    xy = np.asarray(xy_m, np.float64)
    return track_kernel(route_xy_m, route_s_m, np.ascontiguousarray(xy[:, 0]), np.ascontiguousarray(xy[:, 1]),
                         float(s_hint_m), first_window_m, first_window_m, 0.5 * step_window_m, step_window_m)


@njit(cache=True)
def ego_area_kernel(pts, route_heading, seg_start, seg_end, seg_lane, seg_first, seg_last, seg_heading, lane_hw,
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
def nc_kernel(cx, cy, yaw, speed, rx, ry, hl, hw, straddle_or_off, act_xy, act_yaw, act_speed, act_valid, act_hl,
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
            if not obb_overlap(cx[t], cy[t], yaw[t], hl, hw, ax, ay, act_yaw[t, j], act_hl[j], act_hw[j]):
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
                if obb_overlap(bx, by, yaw[t] + 0.5 * math.pi, hw, 0.0, ax, ay, act_yaw[t, j], act_hl[j], act_hw[j]):
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
def ttc_kernel(cx, cy, yaw, speed, rx, ry, hl, hw, area_flag, act_xy, act_yaw, act_valid, act_hl, act_hw, offsets,
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
                if not obb_overlap(ex, ey, yaw[t], hl, hw, ax, ay, act_yaw[tt, j], act_hl[j], act_hw[j]):
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


@njit(cache=True)
def lane_keeping_kernel(deviation, in_intersection, limit, need):
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

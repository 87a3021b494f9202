"""Heuristic proposals that head for a conflict of a given type; partial diffusion starts
from them (noised to an intermediate step), so the collision type is set by the proposal's
geometry while the model keeps the motion realistic.

All in the adversary's frame at planning time (it is at the origin heading +x, speed v0).
Given the ego's predicted box centres E(t) and headings psi(t):
- rear-end, adversary behind the ego: drive to the point where its front meets the ego's
  rear, E(t*) - (L_ego + L_adv)/2 * dir(psi), arriving with the ego's heading.
- rear-end, adversary ahead of the ego: brake hard (a brake check in front of the ego).
- cut-in: drive to the ego's lane just ahead of its front bumper, E(t*) + (L_ego/2) * dir(psi),
  arriving with the ego's heading.
- head-on: drive to the ego's front, E(t*) + (L_ego + L_adv)/2 * dir(psi), heading against it.
The path is a cubic Hermite curve from the adversary's pose to the target pose; the speed
profile is the constant acceleration that covers it in t*, then constant speed; t* is the
time in [1, 4] s needing the least acceleration, unless a rear-end's is at the horizon's end
(>= 3.5 s, a follower no faster than the ego): re-planning every 0.5 s would then keep
postponing the conflict, so t* becomes the earliest time needing no more than an assertive
3 m/s^2. Controls follow by finite
differences, clipped to the limits.
"""

from __future__ import annotations

import numpy as np

from scenarios.adversary.dynamics import ControlLimits
from sim.geometry import wrap_angle

DT = 0.1
ASSERTIVE_ACCEL_MPS2 = 3.0
LATE_CONFLICT_S = 3.5
ASSERTIVE_DECEL_MPS2 = 5.0


def _hermite(p1: np.ndarray, heading1: float, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Dense points (n, 2) and arclength (n,) of the cubic from (0, 0) heading 0 to p1 heading1."""
    length = max(float(np.linalg.norm(p1)), 1e-3)
    m0 = np.array([length, 0.0])
    m1 = length * np.array([np.cos(heading1), np.sin(heading1)])
    s = np.linspace(0.0, 1.0, n)[:, None]
    h10 = s ** 3 - 2 * s ** 2 + s
    h01 = -2 * s ** 3 + 3 * s ** 2
    h11 = s ** 3 - s ** 2
    pts = h10 * m0 + h01 * p1 + h11 * m1
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    return pts, arc


def _follow(pts: np.ndarray, arc: np.ndarray, v0: float, accel: float, t_star: float, steps: int,
            limits: ControlLimits) -> np.ndarray:
    """Controls (steps, 2) driving along the dense path with constant accel until t_star, then
    at constant speed (straight on past the path's end)."""
    t = DT * np.arange(0, steps + 1)
    v = np.maximum(v0 + accel * np.minimum(t, t_star), 0.0)
    s = np.concatenate([[0.0], np.cumsum(0.5 * (v[1:] + v[:-1]) * DT)])
    d = np.diff(pts, axis=0)
    head = np.arctan2(d[:, 1], d[:, 0])
    head = np.unwrap(np.concatenate([head[:1], head]))
    yaw = np.interp(s, arc, head)  # past the end: holds the final heading
    a = np.diff(v) / DT
    w = np.diff(yaw) / DT
    return np.stack([np.clip(a, -limits.max_decel_mps2, limits.max_accel_mps2),
                     np.clip(w, -limits.max_yaw_rate_radps, limits.max_yaw_rate_radps)], -1)


def conflict_proposal(collision_type: str, v0: float, adv_length_m: float, ego_xy: np.ndarray, ego_yaw: np.ndarray,
                      ego_length_m: float, steps: int, limits: ControlLimits = ControlLimits()) -> np.ndarray | None:
    """Controls (steps, 2) heading for a conflict of `collision_type` with the predicted ego
    (ego_xy (F, 2), ego_yaw (F,), adversary frame); None for "any" (no proposal)."""
    if collision_type == "any":
        return None
    ego_dir = np.stack([np.cos(ego_yaw), np.sin(ego_yaw)], -1)
    # Where is the adversary relative to the ego now (ego frame)?
    e0, c0, s0 = ego_xy[0], np.cos(ego_yaw[0]), np.sin(ego_yaw[0])
    rel_x = c0 * (-e0[0]) + s0 * (-e0[1])
    if collision_type == "rear-end" and rel_x > 0:
        a = np.zeros((steps, 2))
        decel = min(5.0, limits.max_decel_mps2)
        a[:, 0] = -decel
        return a
    if collision_type == "rear-end":
        target = ego_xy - 0.5 * (ego_length_m + adv_length_m) * ego_dir
        heading = ego_yaw
    elif collision_type == "cut-in":
        target = ego_xy + 0.5 * ego_length_m * ego_dir
        heading = ego_yaw
    elif collision_type == "head-on":
        target = ego_xy + 0.5 * (ego_length_m + adv_length_m) * ego_dir
        heading = ego_yaw + np.pi
    else:
        raise ValueError(f"unknown collision type {collision_type!r}")
    options = []
    for k in range(9, min(40, len(ego_xy))):  # t* = 1.0 .. 4.0 s
        t_star = DT * (k + 1)
        pts, arc = _hermite(target[k], float(wrap_angle(heading[k])))
        options.append((2.0 * (arc[-1] - v0 * t_star) / t_star ** 2, t_star, pts, arc))
    gentlest = min(options, key=lambda o: abs(o[0]))
    chosen = gentlest
    if collision_type == "rear-end" and gentlest[1] >= LATE_CONFLICT_S:
        # The gentlest conflict is at the horizon's end: re-planning every 0.5 s would keep
        # postponing it, so take the earliest one within an assertive acceleration instead.
        assertive = [o for o in options if -ASSERTIVE_DECEL_MPS2 <= o[0] <= ASSERTIVE_ACCEL_MPS2]
        chosen = assertive[0] if assertive else gentlest
    accel, t_star, pts, arc = chosen
    best = (0.0, pts, arc, accel, t_star)
    _, pts, arc, accel, t_star = best
    accel = float(np.clip(accel, -limits.max_decel_mps2, limits.max_accel_mps2))
    return _follow(pts, arc, v0, accel, t_star, steps, limits)

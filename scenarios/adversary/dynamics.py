"""Unicycle dynamics for adversary plans (torch, differentiable, batched, loop-free).

State: box centre (x, y), heading yaw, speed v >= 0. Controls per 0.1 s step: longitudinal
acceleration a (m/s^2) and yaw rate w (rad/s), both held constant within the step. Step k
(k = 0 .. F-1) takes the state at time k*dt to time (k+1)*dt:

    v[k+1]   = max(v[k] + a[k] * dt, 0)              (no reversing)
    yaw[k+1] = yaw[k] + w[k] * dt
    (x, y)   advances by the exact arc of constant yaw rate at the step's mean speed:
             ds = 0.5 * (v[k] + v[k+1]) * dt along heading yaw[k] + w[k]*dt/2, scaled by
             sinc(w[k]*dt/2) (the chord of the arc)

so constant speed and yaw rate trace an exact circle. The speed clamp is the Lindley recursion
in closed form (v[k] = S[k] - min(0, min_j<=k S[j]) with S the unclamped speed), which keeps the
rollout free of Python loops: a (B, 40) rollout with gradients costs well under a millisecond.
Controls are clipped to physical limits before integration (see `ControlLimits`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from sim.types.scenario import DT_S


@dataclass(frozen=True)
class ControlLimits:
    """Physical limits applied to controls before integration.

    - max_accel_mps2: strongest forward acceleration.
    - max_decel_mps2: strongest braking (positive number); an emergency stop is ~8 m/s^2.
    - max_yaw_rate_radps: tightest turning rate.
    """

    max_accel_mps2: float = 4.0
    max_decel_mps2: float = 8.0
    max_yaw_rate_radps: float = 1.0


def clip_controls(controls: torch.Tensor, limits: ControlLimits = ControlLimits()) -> torch.Tensor:
    """(..., F, 2) controls clipped to the limits (straight-through is not used: clipped values
    get no gradient, which keeps guidance from pushing past the limits)."""
    a = controls[..., 0].clamp(-limits.max_decel_mps2, limits.max_accel_mps2)
    w = controls[..., 1].clamp(-limits.max_yaw_rate_radps, limits.max_yaw_rate_radps)
    return torch.stack([a, w], -1)


def unicycle_rollout(state0: torch.Tensor, controls: torch.Tensor, dt_s: float = DT_S,
                     limits: ControlLimits | None = ControlLimits()) -> torch.Tensor:
    """Roll controls out from initial states.

    state0: (..., 4) x, y, yaw, v at time 0 (broadcast to the controls' batch shape).
    controls: (..., F, 2) a, w.
    Returns (..., F, 4): x, y, yaw, v at times dt .. F*dt (time 0 is not repeated).
    """
    if limits is not None:
        controls = clip_controls(controls, limits)
    a, w = controls[..., 0], controls[..., 1]
    state0 = state0.expand(*controls.shape[:-2], 4)
    x0, y0, yaw0, v0 = (state0[..., i:i + 1] for i in range(4))
    v0 = v0.clamp_min(0.0)
    # Speed with the no-reverse clamp (Lindley recursion, closed form).
    s_free = v0 + torch.cumsum(a * dt_s, dim=-1)  # unclamped speed at steps 1..F
    s_all = torch.cat([v0, s_free], dim=-1)
    floor = torch.cummin(s_all, dim=-1).values.clamp_max(0.0)
    v_all = s_all - floor  # (..., F+1), v_all[..., 0] = v0
    v_next = v_all[..., 1:]
    v_mean = 0.5 * (v_all[..., :-1] + v_next)
    yaw_next = yaw0 + torch.cumsum(w * dt_s, dim=-1)
    half_turn = 0.5 * w * dt_s
    yaw_mid = yaw_next - half_turn
    chord = v_mean * dt_s * torch.sinc(half_turn / math.pi)
    x = x0 + torch.cumsum(chord * torch.cos(yaw_mid), dim=-1)
    y = y0 + torch.cumsum(chord * torch.sin(yaw_mid), dim=-1)
    return torch.stack([x, y, yaw_next, v_next], dim=-1)


def unicycle_rollout_np(state0: np.ndarray, controls: np.ndarray, dt_s: float = DT_S,
                        limits: ControlLimits | None = ControlLimits()) -> np.ndarray:
    """NumPy float64 wrapper of `unicycle_rollout` (same formulas)."""
    with torch.no_grad():
        out = unicycle_rollout(torch.as_tensor(np.asarray(state0, np.float64)),
                               torch.as_tensor(np.asarray(controls, np.float64)), dt_s, limits)
    return out.numpy()


def controls_from_states(xy: np.ndarray, yaw_rad: np.ndarray, speed_mps: np.ndarray,
                         dt_s: float = DT_S) -> np.ndarray:
    """Inverse dynamics by finite differences: (..., F+1) states -> (..., F, 2) controls a, w.
    Used to seed the control fit and for heuristic proposals."""
    a = np.diff(speed_mps, axis=-1) / dt_s
    w = np.diff(np.unwrap(yaw_rad, axis=-1), axis=-1) / dt_s
    return np.stack([a, w], -1)


def box_discs(xy: torch.Tensor, yaw: torch.Tensor, half_lw: torch.Tensor,
              radius_scale: float = math.sqrt(2.0)) -> tuple[torch.Tensor, torch.Tensor]:
    """Three discs along a box: centres (..., 3, 2) at 0 and +-(half length - half width) along
    the heading, radius radius_scale x half width (...,). The default sqrt(2) covers the corners
    (guidance keeps clear of them); 1.0 is inscribed (an overlap is a real one). xy (..., 2),
    yaw (...), half_lw (..., 2) broadcast together."""
    off = (half_lw[..., 0] - half_lw[..., 1]).clamp_min(0.0)
    ox = off[..., None] * torch.tensor([-1.0, 0.0, 1.0])  # (..., 3)
    c, s = torch.cos(yaw)[..., None], torch.sin(yaw)[..., None]
    centres = torch.stack([xy[..., 0:1] + c * ox, xy[..., 1:2] + s * ox], -1)
    return centres, radius_scale * half_lw[..., 1]

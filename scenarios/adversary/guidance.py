"""Guidance costs on rolled-out adversary plans (torch, differentiable, in the actor frame).

Each cost maps a batch of unicycle rollouts (B, F, 4: x, y, yaw, v) and their controls
(B, F, 2) to (B,) values; `total_cost` weighs them (`GuidanceWeights`).

Adversarial (SAFE-SIM):
- `adversarial`: soft minimum over time (softmin-weighted mean) of the distance between the
  adversary's and the ego's predicted box centres: low when the plan meets the ego.
- `ttc`: the expected time of that closest approach (soft-min weights times t): low when the
  conflict comes early. Its weight is the aggressiveness knob: higher = earlier, harder
  conflicts with less time for the ego to react.
- `geometry`: at the conflict, 1 - cos(relative heading - target) for the collision type:
  0 rad for rear-end, pi for head-on, +-0.3 rad (turning across into the ego's lane) for cut-in.
Realism (CTG):
- `offroad`: squared depth of the box corners beyond `offroad_margin_m` inside the drivable
  area's edge, from a signed-distance raster (drivable.py).
- `collision`: squared penetration of three-disc covers of the adversary's and every other
  actor's predicted box (not the ego's).
- `lane`: squared excess of the distance to the nearest lane centerline segment (heading
  mismatch adds to it, except for head-on) beyond `lane_tolerance_m`: stay in some lane (a
  cut-in ends in the ego's lane, which is a lane); it fades out near the ego, where leaving
  the lane is the manoeuvre itself.
- `smooth`: squared control differences (jerk, yaw acceleration) and lateral acceleration
  beyond 4 m/s^2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from scenarios.adversary.drivable import SdfWindow
from scenarios.adversary.dynamics import box_discs
from sim.geometry import global_to_local_xy

COLLISION_TYPES = ("rear-end", "cut-in", "head-on", "any")
TYPE_HEADING_RAD = {"rear-end": 0.0, "head-on": math.pi}
CUT_IN_HEADING_RAD = 0.3
LANE_RELAX_M = (4.0, 12.0)  # lane keeping is off within 4 m of the ego, full beyond 12 m


@dataclass(frozen=True)
class GuidanceWeights:
    """Weights of the guidance costs (see the module docstring) and their parameters.

    - adversarial, ttc (aggressiveness), geometry: the adversarial terms.
    - offroad, collision, lane, smooth: the realism terms.
    - softmin_temperature_m: temperature of the soft minimum over time.
    - offroad_margin_m: corners should stay this far inside the drivable area.
    - collision_margin_m: extra clearance kept from other actors (between covering discs). With
      0.1 m, adversaries heading for a head-on conflict skimmed past oncoming traffic into
      places where every later plan collides; 0.5 m keeps them out of those.
    - lane_tolerance_m: distance from a centerline that costs nothing.
    """

    adversarial: float = 3.0
    ttc: float = 2.0
    geometry: float = 4.0
    offroad: float = 50.0
    collision: float = 80.0
    lane: float = 1.0
    smooth: float = 1.0
    softmin_temperature_m: float = 1.0
    offroad_margin_m: float = 0.3
    collision_margin_m: float = 0.5
    lane_tolerance_m: float = 1.0


@dataclass(frozen=True, eq=False)
class GuidanceScene:
    """What the costs need, as float32 tensors in the adversary's frame at planning time.

    - state0: (4,) x, y, yaw, v of the adversary (0, 0, 0, v).
    - adv_half_lw: (2,) half length and width of the adversary.
    - ego_xy: (F, 2), ego_yaw: (F,): predicted ego box centre at 0.1 .. F * 0.1 s; ego_half_lw: (2,).
    - others_xy: (N, F, 2), others_yaw: (N, F), others_half_lw: (N, 2), others_valid: (N, F).
    - seg_a, seg_b: (S, 2) lane centerline segments; seg_heading: (S,).
    - sdf: (1, 1, H, W) signed distance raster; sdf_pixel_of_origin: (2,) its (col, row) at the
      adversary's origin; sdf_rot: (2, 2) local -> global rotation divided by the raster's cell size.
    - collision_type: one of COLLISION_TYPES; cut_in_sign: +-1, the heading sign of a cut-in.
    - relax_lane_near_ego: lane keeping fades out within LANE_RELAX_M of the ego (an adversary
      leaves its lane at the conflict: that is the manoeuvre); False for plain realism.
    """

    state0: torch.Tensor
    adv_half_lw: torch.Tensor
    ego_xy: torch.Tensor
    ego_yaw: torch.Tensor
    ego_half_lw: torch.Tensor
    others_xy: torch.Tensor
    others_yaw: torch.Tensor
    others_half_lw: torch.Tensor
    others_valid: torch.Tensor
    seg_a: torch.Tensor
    seg_b: torch.Tensor
    seg_heading: torch.Tensor
    sdf: torch.Tensor
    sdf_pixel_of_origin: torch.Tensor
    sdf_rot: torch.Tensor
    collision_type: str
    cut_in_sign: float
    relax_lane_near_ego: bool = True


def build_scene(origin_xy: np.ndarray, origin_yaw: float, speed_mps: float, adv_length_width_m: tuple[float, float],
                ego_xy: np.ndarray, ego_yaw: np.ndarray, ego_length_width_m: tuple[float, float],
                others_xy: np.ndarray, others_yaw: np.ndarray, others_length_width_m: np.ndarray,
                others_valid: np.ndarray, lane_xy: np.ndarray, lane_valid: np.ndarray, sdf: SdfWindow,
                collision_type: str, relax_lane_near_ego: bool = True) -> GuidanceScene:
    """A GuidanceScene from global-frame arrays (ego_xy (F, 2) box centres, others (N, F, 2),
    lane chunks (M, P, 2) with validity (M, P))."""
    f32 = torch.float32
    e_local = global_to_local_xy(ego_xy, origin_xy, origin_yaw)
    o_local = global_to_local_xy(others_xy, origin_xy, origin_yaw) if len(others_xy) else np.zeros((0,) + ego_xy.shape)
    seg_a, seg_b = [], []
    for pts, ok in zip(lane_xy, lane_valid):
        p = global_to_local_xy(pts[ok], origin_xy, origin_yaw)
        if len(p) >= 2:
            seg_a.append(p[:-1])
            seg_b.append(p[1:])
    seg_a = np.concatenate(seg_a) if seg_a else np.zeros((0, 2))
    seg_b = np.concatenate(seg_b) if seg_b else np.zeros((0, 2))
    d = seg_b - seg_a
    c, s = math.cos(origin_yaw), math.sin(origin_yaw)
    pix = np.array([(origin_xy[0] - sdf.x_min) / sdf.res, (origin_xy[1] - sdf.y_min) / sdf.res])
    rot = np.array([[c, -s], [s, c]]) / sdf.res
    # Which way a cut-in turns: towards the ego's side of the adversary.
    rel = global_to_local_xy(origin_xy[None], ego_xy[0], float(ego_yaw[0]))[0]
    return GuidanceScene(
        state0=torch.tensor([0.0, 0.0, 0.0, max(speed_mps, 0.0)], dtype=f32),
        adv_half_lw=torch.tensor([0.5 * adv_length_width_m[0], 0.5 * adv_length_width_m[1]], dtype=f32),
        ego_xy=torch.tensor(e_local, dtype=f32),
        ego_yaw=torch.tensor(np.unwrap(ego_yaw - origin_yaw), dtype=f32),
        ego_half_lw=torch.tensor([0.5 * ego_length_width_m[0], 0.5 * ego_length_width_m[1]], dtype=f32),
        others_xy=torch.tensor(o_local, dtype=f32),
        others_yaw=torch.tensor(np.asarray(others_yaw) - origin_yaw, dtype=f32).reshape(len(o_local), len(ego_xy)),
        others_half_lw=torch.tensor(0.5 * np.asarray(others_length_width_m), dtype=f32).reshape(-1, 2),
        others_valid=torch.tensor(np.asarray(others_valid, bool)).reshape(len(o_local), len(ego_xy)),
        seg_a=torch.tensor(seg_a, dtype=f32), seg_b=torch.tensor(seg_b, dtype=f32),
        seg_heading=torch.tensor(np.arctan2(d[:, 1], d[:, 0]), dtype=f32),
        sdf=torch.from_numpy(sdf.sdf)[None, None],  # float32 already; shared, never written
        sdf_pixel_of_origin=torch.tensor(pix, dtype=f32), sdf_rot=torch.tensor(rot, dtype=f32),
        collision_type=collision_type, cut_in_sign=-1.0 if rel[1] > 0 else 1.0,
        relax_lane_near_ego=relax_lane_near_ego)


def box_corners(xy: torch.Tensor, yaw: torch.Tensor, half_lw: torch.Tensor) -> torch.Tensor:
    """(..., 4, 2) corners of boxes at xy (..., 2), yaw (...)."""
    c, s = torch.cos(yaw)[..., None], torch.sin(yaw)[..., None]
    signs = torch.tensor([[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]])
    lx, ly = signs[:, 0] * half_lw[0], signs[:, 1] * half_lw[1]
    return torch.stack([xy[..., 0:1] + c * lx - s * ly, xy[..., 1:2] + s * lx + c * ly], -1)


def sample_sdf(scene: GuidanceScene, xy: torch.Tensor) -> torch.Tensor:
    """Signed distance (...,) at local points (..., 2), bilinear; outside the raster: -margin."""
    pix = scene.sdf_pixel_of_origin + xy @ scene.sdf_rot.T
    h, w = scene.sdf.shape[-2:]
    grid = torch.stack([2 * pix[..., 0] / (w - 1) - 1, 2 * pix[..., 1] / (h - 1) - 1], -1)
    flat = grid.reshape(1, 1, -1, 2)
    val = torch.nn.functional.grid_sample(scene.sdf, flat, mode="bilinear", padding_mode="border", align_corners=True)
    return val.reshape(xy.shape[:-1])


def _softmin_weights(d: torch.Tensor, temperature: float) -> torch.Tensor:
    return torch.softmax(-d / temperature, dim=-1)


def before_contact(ego_distance: torch.Tensor, scene: GuidanceScene) -> torch.Tensor:
    """(B, F) float mask: 1 up to and including the first step at which the box centres come
    within the sum of the half lengths (nose to tail contact), 0 after. Gradient-free."""
    with torch.no_grad():
        reach = float(scene.adv_half_lw[0] + scene.ego_half_lw[0])
        hit = (ego_distance <= reach).float()
        after = (torch.cumsum(hit, dim=-1) - hit) > 0
        return (~after).float()


def costs(traj: torch.Tensor, controls: torch.Tensor, scene: GuidanceScene,
          weights: GuidanceWeights) -> dict[str, torch.Tensor]:
    """Every cost term, each (B,)."""
    xy, yaw, v = traj[..., :2], traj[..., 2], traj[..., 3]
    f = xy.shape[1]
    dt = 0.1
    out: dict[str, torch.Tensor] = {}
    # --- adversarial
    d = torch.linalg.norm(xy - scene.ego_xy[None, :f], dim=-1)  # (B, F)
    tau = weights.softmin_temperature_m
    # A softmin-weighted mean of the distance: close to the minimum (a log-sum-exp softmin
    # would reward lingering near the ego, being up to tau*log(F) below the minimum).
    w = _softmin_weights(d, tau)
    out["adversarial"] = (w * d).sum(-1)
    times = dt * torch.arange(1, f + 1, dtype=traj.dtype)
    out["ttc"] = (w * times).sum(-1)
    rel_yaw = yaw - scene.ego_yaw[None, :f]
    if scene.collision_type in TYPE_HEADING_RAD:
        target = TYPE_HEADING_RAD[scene.collision_type]
        out["geometry"] = (w * (1 - torch.cos(rel_yaw - target))).sum(-1)
    elif scene.collision_type == "cut-in":
        out["geometry"] = (w * (1 - torch.cos(rel_yaw - scene.cut_in_sign * CUT_IN_HEADING_RAD))).sum(-1)
    else:
        out["geometry"] = torch.zeros(xy.shape[0])
    # --- off-road
    # Realism counts until the plan reaches the ego: what follows a crash means nothing (and a
    # plan that meets the ego would otherwise be blamed for driving on through it).
    live = before_contact(d, scene)  # (B, F) float
    corners = box_corners(xy, yaw, scene.adv_half_lw)  # (B, F, 4, 2)
    sd = sample_sdf(scene, corners)
    out["offroad"] = ((torch.relu(weights.offroad_margin_m - sd) ** 2).sum(-1) * live).sum(-1) / f
    # Collision and lane terms look at every other step (0.2 s): they dominate the cost's run
    # time and change slowly; the realism check after sampling is exact.
    xs, yaws, fs = xy[:, 1::2], yaw[:, 1::2], slice(1, f, 2)
    # --- collisions with other actors (only those whose centre ever comes within reach: the
    # pruning is gradient-free and exact, discs farther apart than their radii cannot touch)
    out["collision"] = torch.zeros(xy.shape[0])
    if scene.others_xy.shape[0]:
        with torch.no_grad():
            reach = 2.0 * (scene.adv_half_lw[0] + scene.others_half_lw[:, 0]) + weights.collision_margin_m
            cd = torch.linalg.norm(xs[:, None] - scene.others_xy[None, :, fs], dim=-1)  # (B, N, F)
            near = ((cd < reach[None, :, None]) & scene.others_valid[None, :, fs]).any(-1).any(0)
            keep = torch.nonzero(near).flatten()
        if len(keep):
            ac, ar = box_discs(xs, yaws, scene.adv_half_lw)  # (B, F, 3, 2), scalar
            half = scene.others_half_lw[keep]
            oc, orad = box_discs(scene.others_xy[keep, fs], scene.others_yaw[keep, fs],
                                 half[:, None, :])  # (N, F, 3, 2)
            diff = ac[:, None, :, :, None, :] - oc[None, :, :, None, :, :]  # (B, N, F, 3, 3, 2)
            dist = torch.sqrt((diff ** 2).sum(-1) + 1e-6)
            pen = torch.relu(ar + orad[None, :, :, None, None] + weights.collision_margin_m - dist)
            pen = pen * (scene.others_valid[keep][None, :, fs] * live[:, None, fs])[..., None, None]
            out["collision"] = (pen ** 2).flatten(1).sum(-1) / xs.shape[1]
    # --- lane keeping (segments within reach of some rollout point only)
    out["lane"] = torch.zeros(xy.shape[0])
    if scene.seg_a.shape[0]:
        with torch.no_grad():
            mid = 0.5 * (scene.seg_a + scene.seg_b)
            pts = xs[:, ::2].reshape(-1, 2)
            near = (torch.cdist(pts, mid) < 8.0).any(0)
            keep = torch.nonzero(near).flatten()
        if len(keep):
            a0, b0, hd = scene.seg_a[keep], scene.seg_b[keep], scene.seg_heading[keep]
            seg = b0 - a0  # (S, 2)
            rel = xs[:, :, None, :] - a0  # (B, F, S, 2)
            tt = ((rel * seg).sum(-1) / (seg * seg).sum(-1).clamp_min(1e-6)).clamp(0, 1)
            dist2 = ((rel - tt[..., None] * seg) ** 2).sum(-1)
            if scene.collision_type != "head-on":
                dist2 = dist2 + 25.0 * (1 - torch.cos(yaws[..., None] - hd))
            dl = torch.sqrt(dist2.min(-1).values + 1e-6)
            excess = torch.relu(dl - weights.lane_tolerance_m) ** 2
            if scene.relax_lane_near_ego:
                with torch.no_grad():
                    de = torch.linalg.norm(xs - scene.ego_xy[None, fs], dim=-1)
                    lo, hi = LANE_RELAX_M
                    excess = excess * ((de - lo) / (hi - lo)).clamp(0.0, 1.0)
            out["lane"] = (excess * live[:, fs]).mean(-1)
        else:
            out["lane"] = (torch.relu(torch.full_like(xs[..., 0], 8.0) - weights.lane_tolerance_m) ** 2).mean(-1)
    # --- smoothness
    a, wr = controls[..., 0], controls[..., 1]
    jerk = torch.diff(a, dim=-1)
    yaw_acc = torch.diff(wr, dim=-1)
    lat = v * wr
    out["smooth"] = (0.5 * jerk ** 2 + 20.0 * yaw_acc ** 2).mean(-1) + (torch.relu(lat.abs() - 4.0) ** 2).mean(-1)
    return out


def total_cost(terms: dict[str, torch.Tensor], weights: GuidanceWeights, aggressiveness: float | None = None,
               adversarial: bool = True) -> torch.Tensor:
    """Weighted sum (B,). aggressiveness overrides weights.ttc; adversarial=False keeps only realism."""
    total = (weights.offroad * terms["offroad"] + weights.collision * terms["collision"]
             + weights.lane * terms["lane"] + weights.smooth * terms["smooth"])
    if adversarial:
        ttc_w = weights.ttc if aggressiveness is None else aggressiveness
        total = total + weights.adversarial * terms["adversarial"] + ttc_w * terms["ttc"] \
            + weights.geometry * terms["geometry"]
    return total

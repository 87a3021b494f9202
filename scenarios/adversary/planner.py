"""The adversary as an `sim.engine.ActorPlanner`: guided diffusion re-planned in closed loop.

Every `EngineConfig.adversary_replan_steps` (0.5 s) the engine asks `AdversaryPlanner.plan`
for the adversarial rows. For each, from the *current closed-loop state*:
1. conditioning (features.py) in the adversary's frame: its last 1 s (what it actually did:
   the log before the takeover, its realised plans after), the ego and the actors that come
   closest to it, each now and along its expected future (2. and 3.), the nearby lane chunks;
2. the ego's future, predicted from the ego's *current closed-loop state* (`predict_ego`):
   by default its current speed carried along its route (the scenario's route centerline,
   from where the ego is now, its lateral offset fading out over 2 s); or a constant speed and
   yaw-rate extrapolation (`ego_prediction="constant-velocity"`). Either way the adversary
   only knows what the ego under test is doing now, and re-planning every 0.5 s lets it react
   to what the ego actually does. `ego_prediction="log"` uses the ego's logged future instead
   (open-loop generation against a replayed ego, where the log *is* the ego's plan);
3. other actors' futures: the log for replaying actors (exact), constant velocity otherwise;
4. `num_samples` candidates by DDIM with guidance (guidance.py) from a conflict proposal of
   the requested collision type noised to `partial_start` of the schedule (proposals.py);
   without a proposal, from the adversary's previous plan of this episode carried on to now
   and noised to `warm_start` of the schedule (a warm start), or from pure noise for its first
   plan; `fallback_samples` of them are guided by realism alone. The candidate with the
   lowest full cost (hard off-road or collision violations ranked last) becomes the plan,
   rolled out through the unicycle (dynamics.py). Once a head-on, cut-in
   or untyped conflict has passed (the ego is wholly behind the adversary) the adversary
   gives up and drives on with realism guidance only.

The warm start keeps an actor coherent across re-plans: independent samples every 0.5 s may
switch between modes (go now or wait, straight on or turn), and a switch mid-manoeuvre is
what takes an unguided actor off the road or into traffic. Partial diffusion from the carried
plan keeps its gist while the model revises it with what the scene shows now.

Determinism: each call draws from a torch.Generator seeded by (seed, actor row, step) and
runs single-threaded, so an episode is bit-for-bit reproducible on CPU. The planner keeps
the adversary's realised trail and its latest plan's controls for the current episode (the
engine keeps only the latest plan's poses); it starts afresh whenever an episode starts (no
plans yet, or time went backwards).
"""

from __future__ import annotations

import contextlib
import enum
from dataclasses import dataclass, field

import numpy as np
import torch

from scenarios.adversary.diffusion import sample
from scenarios.adversary.drivable import sdf_window
from scenarios.adversary.dynamics import unicycle_rollout
from scenarios.adversary.features import (
    EGO_LENGTH_WIDTH_M,
    HIST_STEPS,
    NEIGHBOUR_RADIUS_M,
    actor_features,
    lane_chunks,
    nearest_chunks,
)
from scenarios.adversary.guidance import (
    COLLISION_TYPES,
    GuidanceScene,
    GuidanceWeights,
    before_contact,
    box_corners,
    build_scene,
    costs,
    sample_sdf,
    total_cost,
)
from scenarios.adversary.model import AdversaryModel
from scenarios.adversary.proposals import conflict_proposal
from sim.errors import ConfigError
from sim.geometry import (
    interpolate_polyline,
    local_to_global_xy,
    project_to_polyline,
    wrap_angle,
)
from sim.types.roadmap import RoadMap
from sim.types.state import ActorMode, WorldState


class EgoPrediction(str, enum.Enum):
    """How the planner predicts the ego's next seconds (see `predict_ego`)."""

    ROUTE = "route"
    CONSTANT_VELOCITY = "constant-velocity"
    LOG = "log"

    __str__ = str.__str__  # the value, as enum.StrEnum (3.11+) gives it
    __format__ = str.__format__
GUIDANCE_LANE_CHUNKS = 32
HARD_OFFROAD_M = 0.0  # a candidate with a corner off the drivable area (per the raster) ranks last


@dataclass(frozen=True)
class PlannerConfig:
    """How adversaries sample their plans.

    - collision_type: "rear-end" | "cut-in" | "head-on" | "any" (no proposal, guidance only).
    - guided: False samples the plain model (no proposal, no guidance): the realism baseline.
    - adversarial: False keeps only the realism guidance (a realistic, non-adversarial actor).
    - num_samples: candidates per plan (guided: the best by cost is kept; unguided: the first).
    - ddim_steps: denoising steps; eta: 0 = DDIM, 1 = DDPM-like ancestral noise.
    - partial_start: the proposal is noised to this fraction of the schedule (0..1).
    - warm_start: where no proposal is used, the previous plan (shifted to now, its last
      control held) is noised to this fraction of the schedule and denoised (0 = every plan
      from pure noise; 1 keeps nothing of it).
    - aggressiveness: weight of the time-to-collision term (earlier conflicts); overrides
      weights.ttc.
    - guidance_iterations, guidance_step, guidance_max_grad: gradient steps on each x0 estimate,
      their size (normalised controls) and the per-sample gradient-norm clip.
    - fallback_samples: of the candidates, this many are guided by the realism costs only, so
      that a realistic plan exists when no adversarial one is (it then wins the ranking).
    - ego_prediction: "route" (the ego's current speed along its route), "constant-velocity"
      (its current speed and yaw rate) or "log" (its logged future); see `predict_ego`.
    - weights: GuidanceWeights. seed: base seed. threads: torch threads while sampling.
    """

    collision_type: str = "any"
    guided: bool = True
    adversarial: bool = True
    num_samples: int = 16
    ddim_steps: int = 10
    eta: float = 0.0
    partial_start: float = 0.5
    warm_start: float = 0.3
    aggressiveness: float = 2.0
    guidance_iterations: int = 2
    guidance_step: float = 1.0
    guidance_max_grad: float = 10.0
    fallback_samples: int = 4
    ego_prediction: EgoPrediction = EgoPrediction.ROUTE
    weights: GuidanceWeights = field(default_factory=GuidanceWeights)
    seed: int = 0
    threads: int = 1

    def __post_init__(self):
        if self.collision_type not in COLLISION_TYPES:
            raise ConfigError(f"collision type {self.collision_type!r} is not one of {', '.join(COLLISION_TYPES)}")
        if self.ego_prediction not in set(EgoPrediction):
            raise ConfigError(f"ego prediction {self.ego_prediction!r} is not one of "
                              f"{', '.join(p.value for p in EgoPrediction)}")
        object.__setattr__(self, "ego_prediction", EgoPrediction(self.ego_prediction))
        if self.num_samples < 1 or self.ddim_steps < 1 or not 0.0 < self.partial_start <= 1.0:
            raise ConfigError("num_samples and ddim_steps must be >= 1 and partial_start in (0, 1]")
        if not 0.0 <= self.warm_start <= 1.0:
            raise ConfigError("warm_start must be in [0, 1]")


@dataclass(frozen=True, eq=False)
class PlanInputs:
    """One adversary's planning problem, global frame.

    origin_xy (2,), origin_yaw, speed: the adversary now; length_width_m; hist_xy (Hh, 2),
    hist_yaw (Hh,), hist_valid (Hh,); ego_now_xy / ego_now_yaw / ego_now_speed: the ego's box
    centre now; ego_future_xy (F, 2), ego_future_yaw (F,): its predicted box centres;
    others_*: now (N, ...) and predicted (N, F, ...) with validity; road: the map.
    """

    road: RoadMap
    origin_xy: np.ndarray
    origin_yaw: float
    speed: float
    length_width_m: tuple[float, float]
    hist_xy: np.ndarray
    hist_yaw: np.ndarray
    hist_valid: np.ndarray
    ego_now_xy: np.ndarray
    ego_now_yaw: float
    ego_now_speed: float
    ego_future_xy: np.ndarray
    ego_future_yaw: np.ndarray
    others_xy: np.ndarray
    others_yaw: np.ndarray
    others_velocity_xy: np.ndarray
    others_length_width_m: np.ndarray
    others_future_xy: np.ndarray
    others_future_yaw: np.ndarray
    others_future_valid: np.ndarray


@contextlib.contextmanager
def torch_threads(n: int):
    """Run a block with n torch threads (results do not depend on the caller's setting)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def plan_seed(seed: int, row: int, step: int) -> int:
    """The generator seed of one plan call (stable across processes)."""
    return (int(seed) * 1_000_003 + int(row) * 10_007 + int(step) * 7 + 12_345) % (2 ** 62)


def guidance_scene(inputs: PlanInputs, collision_type: str, relax_lane_near_ego: bool = True) -> GuidanceScene:
    chunks = lane_chunks(inputs.road)
    idx = nearest_chunks(chunks, inputs.origin_xy, inputs.origin_yaw, GUIDANCE_LANE_CHUNKS)
    return build_scene(inputs.origin_xy, inputs.origin_yaw, inputs.speed, inputs.length_width_m,
                       inputs.ego_future_xy, inputs.ego_future_yaw, EGO_LENGTH_WIDTH_M,
                       inputs.others_future_xy, inputs.others_future_yaw, inputs.others_length_width_m,
                       inputs.others_future_valid, chunks.xy[idx], chunks.valid[idx],
                       sdf_window(inputs.road, inputs.origin_xy), collision_type, relax_lane_near_ego)


def plan_local(model: AdversaryModel, config: PlannerConfig, inputs: PlanInputs, generator: torch.Generator,
               previous_controls: np.ndarray | None = None, return_all: bool = False):
    """Sample one plan in the adversary's frame: ((F, 4) x, y, yaw, v; (F, 2) its controls a, w)
    (with return_all: every candidate (B, F, 4), their controls (B, F, 2), cost terms and the
    chosen index). previous_controls (F, 2): the last plan's controls carried on to now, for
    the warm start (None: none)."""
    feats = actor_features(inputs.road, inputs.origin_xy, inputs.origin_yaw, inputs.hist_xy, inputs.hist_yaw,
                           inputs.hist_valid, inputs.speed, inputs.length_width_m, inputs.ego_now_xy,
                           inputs.ego_now_yaw, inputs.ego_now_speed, inputs.others_xy, inputs.others_yaw,
                           inputs.others_velocity_xy, inputs.others_length_width_m, inputs.ego_future_xy,
                           inputs.others_future_xy, inputs.others_future_valid)
    den, scale = model.denoiser, model.control_scale
    f = den.config.future_steps
    with torch.no_grad():
        ctx = den.encode({k: torch.from_numpy(v)[None] for k, v in feats.items()})
    adversarial_on = config.guided and config.adversarial
    scene = guidance_scene(inputs, config.collision_type if adversarial_on else "any", adversarial_on)
    weights = config.weights
    n = config.num_samples
    adversarial_on = adversarial_on and not conflict_passed(scene, config.collision_type)
    if config.guided and config.adversarial and not adversarial_on:
        scene = guidance_scene(inputs, "any", False)

    n_fallback = (min(config.fallback_samples, n - 1) if adversarial_on else n) if config.guided else 0
    adversarial = torch.ones(n)
    adversarial[n - n_fallback:] = 0.0

    def cost_of(x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        u = x * scale
        traj = unicycle_rollout(scene.state0, u)
        terms = costs(traj, u, scene, weights)
        realism = total_cost(terms, weights, adversarial=False)
        full = total_cost(terms, weights, config.aggressiveness, adversarial=True)
        return realism + adversarial * (full - realism), terms

    def guide(x0: torch.Tensor, t: int) -> torch.Tensor:
        x = x0.detach()
        for _ in range(config.guidance_iterations):
            x = x.clone().requires_grad_(True)
            total, _ = cost_of(x)
            (g,) = torch.autograd.grad(total.sum(), x)
            norm = g.flatten(1).norm(dim=1).clamp_min(1e-9)
            g = g * (config.guidance_max_grad / norm).clamp(max=1.0)[:, None, None]
            x = (x - config.guidance_step * g).detach()
        return x

    x_init, t_start = None, None
    if adversarial_on and config.collision_type != "any":
        e_local = scene.ego_xy.numpy().astype(np.float64)
        e_yaw = scene.ego_yaw.numpy().astype(np.float64)
        prop = conflict_proposal(config.collision_type, inputs.speed, inputs.length_width_m[0], e_local, e_yaw,
                                 EGO_LENGTH_WIDTH_M[0], f)
        if prop is not None:
            x_init = (torch.tensor(prop, dtype=torch.float32) / scale)[None].expand(n, -1, -1)
            t_start = int(round(config.partial_start * (model.schedule.num_steps - 1)))
    if x_init is None and previous_controls is not None and config.warm_start > 0.0:
        x_init = (torch.tensor(previous_controls, dtype=torch.float32) / scale)[None].expand(n, -1, -1)
        t_start = int(round(config.warm_start * (model.schedule.num_steps - 1)))
    x = sample(den, model.schedule, ctx, n, f, config.ddim_steps, generator, config.eta,
               guide if config.guided else None, x_init, t_start)
    with torch.no_grad():
        u = x * scale
        traj = unicycle_rollout(scene.state0, u)
        terms = costs(traj, u, scene, weights)
        total = total_cost(terms, weights, config.aggressiveness, adversarial=adversarial_on)
        # Hard violations rank last: a corner off the drivable area, or touching another actor.
        live = before_contact(torch.linalg.norm(traj[..., :2] - scene.ego_xy[None], dim=-1), scene) > 0
        sd = sample_sdf(scene, box_corners(traj[..., :2], traj[..., 2], scene.adv_half_lw)).amin(-1)
        depth = -torch.where(live, sd, torch.full_like(sd, 1e3)).amin(-1)
        hard = (depth > HARD_OFFROAD_M).float() + (terms["collision"] > 1e-4).float()
        best = int(torch.argmin(total + 1e3 * hard)) if config.guided else 0
    if return_all:
        return traj, u, terms, best
    return traj[best].numpy().astype(np.float64), u[best].numpy().astype(np.float64)


def conflict_passed(scene: GuidanceScene, collision_type: str) -> bool:
    """True when a head-on, cut-in or untyped conflict can no longer happen: the ego's whole
    predicted path lies behind the adversary, which cannot reverse. The adversary then gives
    up and drives on realistically (realism guidance only). A rear-end adversary ahead of the
    ego (a brake check) expects the ego behind it, so it never gives up."""
    if collision_type == "rear-end":
        return False
    reach = float(scene.adv_half_lw[0] + scene.ego_half_lw[0]) + 1.0
    return bool((scene.ego_xy[:, 0] < -reach).all())


class AdversaryPlanner:
    """`sim.engine.ActorPlanner` for rows in ActorMode.ADVERSARY (see the module docstring)."""

    def __init__(self, model: AdversaryModel, config: PlannerConfig = PlannerConfig()):
        self.model = model
        self.config = config
        self._trail: dict[int, dict[int, tuple[float, float, float]]] = {}
        self._controls: dict[int, tuple[int, np.ndarray]] = {}  # row -> (plan step, (F, 2) a, w)
        self._last_step = -1
        self.calls = 0

    def reset(self) -> None:
        self._trail.clear()
        self._controls.clear()
        self._last_step = -1

    def plan(self, context, state: WorldState, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = state.step_index
        if state.actors.plan_xy.shape[1] == 0 or k < self._last_step:
            self.reset()
        self._last_step = k
        out_xy, out_yaw = [], []
        with torch_threads(self.config.threads):
            for row in np.asarray(rows, np.int64):
                self._record(state, int(row))
                inputs = self.inputs(context, state, int(row))
                gen = torch.Generator().manual_seed(plan_seed(self.config.seed, int(row), k))
                traj, controls = plan_local(self.model, self.config, inputs, gen, self._carried_controls(int(row), k))
                self._controls[int(row)] = (k, controls)
                out_xy.append(local_to_global_xy(traj[:, :2], inputs.origin_xy, inputs.origin_yaw))
                out_yaw.append(traj[:, 2] + inputs.origin_yaw)
                self.calls += 1
        return np.array(out_xy).reshape(len(out_xy), -1, 2), np.array(out_yaw).reshape(len(out_yaw), -1)

    def _carried_controls(self, row: int, step: int) -> np.ndarray | None:
        """The row's last plan's controls from `step` on, the last one held to fill the horizon
        (None without a plan of this episode, or one that has run out)."""
        if row not in self._controls:
            return None
        planned_at, controls = self._controls[row]
        shift = step - planned_at
        if not 0 <= shift < len(controls):
            return None
        return np.concatenate([controls[shift:], np.repeat(controls[-1:], shift, axis=0)])

    def _record(self, state: WorldState, row: int) -> None:
        """Remember where the adversary actually was since its last plan."""
        act = state.actors
        trail = self._trail.setdefault(row, {})
        k = state.step_index
        if act.plan_xy.shape[1] and act.mode[row] == ActorMode.ADVERSARY:
            p = int(act.plan_step[row])
            for s in range(max(p, k - HIST_STEPS), k):
                idx = s - p
                if 0 <= idx < act.plan_xy.shape[1] and s not in trail:
                    trail[s] = (float(act.plan_xy[row, idx, 0]), float(act.plan_xy[row, idx, 1]),
                                float(act.plan_yaw_rad[row, idx]))
        trail[k] = (float(act.xy[row, 0]), float(act.xy[row, 1]), float(act.yaw_rad[row]))

    def inputs(self, context, state: WorldState, row: int) -> PlanInputs:
        """The planning problem of actor `row` at `state` (closed loop)."""
        sc = context.scenario
        tracks = sc.actors
        act = state.actors
        k = state.step_index
        f = self.model.denoiser.config.future_steps
        t_total = sc.num_steps
        trail = self._trail.get(row, {})
        hist_xy = np.zeros((HIST_STEPS, 2))
        hist_yaw = np.zeros(HIST_STEPS)
        hist_valid = np.zeros(HIST_STEPS, bool)
        for j, s in enumerate(range(k - HIST_STEPS + 1, k + 1)):
            if s in trail:
                x, y, yaw = trail[s]
                hist_xy[j], hist_yaw[j], hist_valid[j] = (x, y), yaw, True
            elif 0 <= s < t_total and tracks.valid[row, s]:
                hist_xy[j], hist_yaw[j], hist_valid[j] = tracks.xy[row, s], tracks.yaw_rad[row, s], True
        ego = state.ego
        p = sc.ego_params
        ego_c = ego.xy + p.rear_axle_to_center_m * np.array([np.cos(ego.yaw_rad), np.sin(ego.yaw_rad)])
        ego_fxy, ego_fyaw = predict_ego(context, state, f, self.config.ego_prediction)
        origin = act.xy[row].astype(np.float64)
        others = np.flatnonzero(act.valid & (np.arange(len(act.valid)) != row))
        others = others[np.linalg.norm(act.xy[others] - origin, axis=1) <= NEIGHBOUR_RADIUS_M]
        vel = act.speed_mps[others, None] * np.stack([np.cos(act.yaw_rad[others]), np.sin(act.yaw_rad[others])], -1)
        fut_xy = np.zeros((len(others), f, 2))
        fut_yaw = np.zeros((len(others), f))
        fut_valid = np.zeros((len(others), f), bool)
        steps = k + 1 + np.arange(f)
        in_log = steps < t_total
        ks = np.minimum(steps, t_total - 1)
        dt = 0.1 * np.arange(1, f + 1)
        for n, j in enumerate(others):
            if act.mode[j] == ActorMode.REPLAY:
                fut_xy[n] = tracks.xy[j, ks]
                fut_yaw[n] = tracks.yaw_rad[j, ks]
                fut_valid[n] = tracks.valid[j, ks] & in_log
            else:
                fut_xy[n] = act.xy[j] + dt[:, None] * vel[n]
                fut_yaw[n] = act.yaw_rad[j]
                fut_valid[n] = True
        return PlanInputs(
            road=sc.map, origin_xy=origin, origin_yaw=float(act.yaw_rad[row]),
            speed=float(max(act.speed_mps[row], 0.0)),
            length_width_m=(float(tracks.size_wlh_m[row, 1]), float(tracks.size_wlh_m[row, 0])),
            hist_xy=hist_xy, hist_yaw=hist_yaw, hist_valid=hist_valid,
            ego_now_xy=ego_c, ego_now_yaw=float(ego.yaw_rad), ego_now_speed=float(max(ego.speed_mps, 0.0)),
            ego_future_xy=ego_fxy, ego_future_yaw=ego_fyaw,
            others_xy=act.xy[others].astype(np.float64), others_yaw=act.yaw_rad[others].astype(np.float64),
            others_velocity_xy=vel, others_length_width_m=tracks.size_wlh_m[others][:, [1, 0]],
            others_future_xy=fut_xy, others_future_yaw=fut_yaw, others_future_valid=fut_valid)


def predict_ego(context, state: WorldState, steps: int, mode: EgoPrediction) -> tuple[np.ndarray, np.ndarray]:
    """The ego's predicted body-box centres (steps, 2) and headings (steps,) at 0.1 .. steps*0.1 s.

    - "route": constant current speed along the route centerline (`SimContext.route_xy`) from
      the ego's projection on it; the current lateral offset decays with a 1 s time constant;
      the heading follows the route. Past the route's end it continues straight.
    - "constant-velocity": constant speed and yaw rate (an exact arc).
    - "log": the logged ego poses (clamped to the last valid one).
    """
    sc = context.scenario
    p = sc.ego_params
    ego = state.ego
    t = 0.1 * np.arange(1, steps + 1)
    v = max(ego.speed_mps, 0.0)
    if mode == EgoPrediction.LOG:
        valid = np.flatnonzero(sc.ego.valid)
        ks = np.minimum(state.step_index + 1 + np.arange(steps), int(valid[-1]))
        yaw = np.unwrap(sc.ego.yaw_rad[ks])
        xy = sc.ego.xy[ks]
    elif mode == EgoPrediction.ROUTE and len(context.route_xy) >= 2:
        route, route_s = context.route_xy, context.route_s_m
        s0, lat0, _ = project_to_polyline(ego.xy[None], route)
        s = s0[0] + v * t
        end = route_s[-1]
        pts, heading = interpolate_polyline(route, np.minimum(s, end))
        beyond = np.maximum(s - end, 0.0)
        pts = pts + beyond[:, None] * np.stack([np.cos(heading), np.sin(heading)], -1)
        lat = lat0[0] * np.exp(-t / 1.0)
        xy = pts + lat[:, None] * np.stack([-np.sin(heading), np.cos(heading)], -1)
        # Blend from the ego's own heading into the route's over the first second.
        w = np.exp(-t / 0.5)
        yaw = np.unwrap(heading)
        yaw = yaw + w * wrap_angle(ego.yaw_rad - yaw[0]) if len(yaw) else yaw
    else:
        w = ego.yaw_rate_radps
        yaw = ego.yaw_rad + w * t
        # Exact arc at constant speed and yaw rate (straight when w ~ 0).
        if abs(w) > 1e-6:
            x = ego.x_m + v / w * (np.sin(yaw) - np.sin(ego.yaw_rad))
            y = ego.y_m - v / w * (np.cos(yaw) - np.cos(ego.yaw_rad))
        else:
            x = ego.x_m + v * t * np.cos(ego.yaw_rad)
            y = ego.y_m + v * t * np.sin(ego.yaw_rad)
        xy = np.stack([x, y], -1)
    centres = xy + p.rear_axle_to_center_m * np.stack([np.cos(yaw), np.sin(yaw)], -1)
    return centres, yaw

"""Diffusion over normalised controls: the cosine schedule, the training loss, and DDIM /
DDPM sampling with guidance and partial diffusion.

Notation: x0 are clean normalised controls (B, F, 2); x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps.
The network predicts x0 directly. Sampling walks a descending subsequence of the T training
steps (DDIM, Song et al. 2021); eta = 0 is deterministic DDIM, eta = 1 with all steps is
ancestral DDPM sampling. Guidance (CTG / SAFE-SIM style) edits each step's x0 estimate by a few
clipped gradient steps on a cost before the update, so the sample stays on the model's
manifold while its cost falls. Partial diffusion starts from a proposal noised to an
intermediate step t_start instead of pure noise, which keeps the proposal's gist (e.g. its
collision geometry) while the model makes it realistic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from scenarios.adversary.dynamics import box_discs, unicycle_rollout
from scenarios.adversary.features import NEIGH_FUTURE_STEPS, neighbour_futures


@dataclass(frozen=True, eq=False)
class CosineSchedule:
    """Cosine noise schedule (Nichol & Dhariwal 2021) with T steps; abar: (T,) float32."""

    num_steps: int
    abar: torch.Tensor

    @staticmethod
    def create(num_steps: int, s: float = 0.008) -> CosineSchedule:
        t = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
        f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
        abar = (f[1:] / f[0]).clamp(1e-5, 0.9999)
        return CosineSchedule(num_steps, abar.float())

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        a = self.abar[t].view(-1, *([1] * (x0.dim() - 1)))
        return a.sqrt() * x0 + (1 - a).sqrt() * noise


@dataclass(frozen=True)
class LossWeights:
    """Training loss = control MSE (normalised) + position * Huber(rollout position error, m)
    + overlap * abar_t * `overlap_penalty` (m^2) of the predicted plan against the neighbours'
    logged futures. Logged drivers do not drive into each other, which a regression over
    windows with rare close encounters does not teach on its own; the term is 0 on the data
    and weighted by the signal fraction abar_t because a high-noise x0 estimate is a mean over
    modes (a mean of waiting and going may overlap where neither does)."""

    position: float = 0.05
    overlap: float = 0.05


def overlap_penalty(traj: torch.Tensor, length_width_m: torch.Tensor, neigh: torch.Tensor) -> torch.Tensor:
    """(B,) summed squared disc penetration (m^2) between the actor's plan traj (B, F, 4) (actor
    frame, F >= max(NEIGH_FUTURE_STEPS)), its box length_width_m (B, 2), and its neighbours'
    futures in neigh (B, K, NEIGH_DIM) at NEIGH_FUTURE_STEPS; three discs per vehicle
    (`box_discs`, inscribed), a neighbour's heading from its own displacement since the previous sample."""
    fut_xy, valid, nb_lw = neighbour_futures(neigh)  # (B, K, S, 2), (B, K, S), (B, K, 2)
    own = traj[:, torch.tensor(NEIGH_FUTURE_STEPS) - 1]  # (B, S, 4)
    own_c, own_r = box_discs(own[..., :2], own[..., 2], 0.5 * length_width_m[:, None], 1.0)  # (B, S, 3, 2), (B, 1)
    now = neigh[..., None, 0:2] * 30.0
    step = torch.diff(torch.cat([now, fut_xy], -2), dim=-2)  # (B, K, S, 2)
    yaw_now = torch.atan2(neigh[..., 3], neigh[..., 2])[..., None].expand_as(step[..., 0])
    # A (nearly) standing neighbour keeps its current heading.
    moving = step.norm(dim=-1) > 0.3
    yaw = torch.where(moving, torch.atan2(step[..., 1], step[..., 0]), yaw_now)
    nb_c, nb_r = box_discs(fut_xy, yaw, 0.5 * nb_lw[..., None, :], 1.0)  # (B, K, S, 3, 2), (B, K, 1)
    dist = (own_c[:, None, :, :, None] - nb_c[..., None, :, :]).norm(dim=-1)  # (B, K, S, 3, 3)
    reach = own_r[:, None, :, None, None] + nb_r[..., None, None]
    pen = torch.relu(reach - dist) ** 2 * valid[..., None, None]
    return pen.sum((1, 2, 3, 4))


def training_loss(model, schedule: CosineSchedule, features: dict[str, torch.Tensor], x0: torch.Tensor,
                  state0: torch.Tensor, future_xy: torch.Tensor, logged_neigh: torch.Tensor,
                  control_scale: torch.Tensor, generator: torch.Generator,
                  weights: LossWeights = LossWeights()) -> tuple[torch.Tensor, dict]:
    """One batch of the denoising loss. x0: (B, F, 2) normalised target controls; features: what
    the model sees; logged_neigh (B, K, NEIGH_DIM): the neighbours with their logged futures
    (the overlap term's reference, whatever forecasts the features carry)."""
    b = x0.shape[0]
    t = torch.randint(0, schedule.num_steps, (b,), generator=generator)
    noise = torch.randn(x0.shape, generator=generator)
    x_t = schedule.q_sample(x0, t, noise)
    x0_hat = model(x_t, t, model.encode(features))
    ctrl = ((x0_hat - x0) ** 2).mean()
    roll = unicycle_rollout(state0, x0_hat * control_scale)
    pos = torch.nn.functional.huber_loss(roll[..., :2], future_xy, delta=1.0)
    length_width = features["scalars"][:, 1:3] * torch.tensor([5.0, 2.5])
    overlap = (schedule.abar[t] * overlap_penalty(roll, length_width, logged_neigh)).mean()
    loss = ctrl + weights.position * pos + weights.overlap * overlap
    return loss, {"control_mse": float(ctrl.detach()), "position_huber": float(pos.detach()),
                  "overlap_m2": float(overlap.detach())}


def timestep_sequence(num_train_steps: int, num_sample_steps: int, t_start: int | None = None) -> list[int]:
    """Descending steps t_start .. 0 (t_start defaults to T - 1), about num_sample_steps of them."""
    top = num_train_steps - 1 if t_start is None else int(t_start)
    n = max(1, min(num_sample_steps, top + 1))
    seq = torch.linspace(top, 0, n).round().long().tolist()
    out: list[int] = []
    for t in seq:
        if not out or t < out[-1]:
            out.append(int(t))
    return out


Guide = Callable[[torch.Tensor, int], torch.Tensor]


def sample(model, schedule: CosineSchedule, context: torch.Tensor, num_samples: int, future_steps: int,
           num_steps: int, generator: torch.Generator, eta: float = 0.0, guide: Guide | None = None,
           x_init: torch.Tensor | None = None, t_start: int | None = None) -> torch.Tensor:
    """Draw num_samples normalised control sequences (num_samples, F, 2) for one context (1, C)
    (or (num_samples, C)).

    - num_steps: denoising steps (DDIM subsequence); eta: 0 = DDIM, 1 = DDPM-like.
    - guide(x0_hat, t) -> edited x0_hat, applied at every step (None: unguided).
    - x_init (num_samples, F, 2) and t_start: partial diffusion from a proposal noised to t_start.
    """
    ctx = context.expand(num_samples, -1) if context.shape[0] == 1 else context
    shape = (num_samples, future_steps, 2)
    seq = timestep_sequence(schedule.num_steps, num_steps, t_start if x_init is not None else None)
    if x_init is not None:
        noise = torch.randn(shape, generator=generator)
        x = schedule.q_sample(x_init, torch.full((num_samples,), seq[0], dtype=torch.long), noise)
    else:
        x = torch.randn(shape, generator=generator)
    for i, t in enumerate(seq):
        tt = torch.full((num_samples,), t, dtype=torch.long)
        with torch.no_grad():
            x0 = model(x, tt, ctx).clamp(-6.0, 6.0)
        if guide is not None:
            x0 = guide(x0, t)
        if i == len(seq) - 1:
            return x0
        t_prev = seq[i + 1]
        a_t, a_p = schedule.abar[t], schedule.abar[t_prev]
        eps = (x - a_t.sqrt() * x0) / (1 - a_t).sqrt()
        sigma = eta * ((1 - a_p) / (1 - a_t) * (1 - a_t / a_p)).clamp_min(0).sqrt()
        x = a_p.sqrt() * x0 + (1 - a_p - sigma ** 2).clamp_min(0).sqrt() * eps
        if eta > 0:
            x = x + sigma * torch.randn(shape, generator=generator)
    return x

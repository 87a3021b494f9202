"""The diffusion model's overlap penalty."""

from __future__ import annotations

import torch

from scenarios.adversary.features import FUTURE_STEPS, constant_velocity_futures


def test_overlap_penalty_counts_overlaps_only():
    from scenarios.adversary.diffusion import overlap_penalty
    from scenarios.adversary.features import NEIGH_DIM, NUM_NEIGHBOURS

    def penalty(gap_m: float) -> float:
        # A standing car and, gap_m ahead of its front bumper, another one standing in its lane.
        neigh = torch.zeros(1, NUM_NEIGHBOURS, NEIGH_DIM)
        neigh[0, 1, :8] = torch.tensor([(4.6 + gap_m) / 30.0, 0.0, 1.0, 0.0, 0.0, 0.0, 4.6 / 5.0, 1.9 / 2.5])
        neigh[0, 1, -1] = 1.0
        plan = torch.zeros(1, FUTURE_STEPS, 4)
        return float(overlap_penalty(plan, torch.tensor([[4.6, 1.9]]), constant_velocity_futures(neigh)))

    assert penalty(-1.0) > penalty(-0.5) > 0.0
    assert penalty(0.3) == 0.0 and penalty(3.0) == 0.0  # logged gaps cost nothing

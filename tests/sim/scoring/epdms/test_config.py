"""EPDMS's aggregate (the product of the multipliers times the weighted average) and EP's normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from sim.scoring.epdms import (
    EPDMSConfig,
    aggregate_epdms,
)
from sim.scoring.epdms.config import normalized_progress


def test_aggregate_is_the_product_of_multipliers_times_the_weighted_average():
    ones = dict(nc=1, dac=1, ddc=1, tlc=1, ep=1, ttc=1, lk=1, hc=1, ec=1)
    assert aggregate_epdms(**ones) == 1.0
    assert aggregate_epdms(**{**ones, "ep": 0.5}) == pytest.approx((5 * 0.5 + 11) / 16)
    assert aggregate_epdms(**{**ones, "ttc": 0}) == pytest.approx(11 / 16)
    assert aggregate_epdms(**{**ones, "lk": 0}) == pytest.approx(14 / 16)
    assert aggregate_epdms(**{**ones, "hc": 0, "ec": 0}) == pytest.approx(12 / 16)
    assert aggregate_epdms(**{**ones, "nc": 0.5}) == pytest.approx(0.5)
    assert aggregate_epdms(**{**ones, "ddc": 0.5, "ep": 0}) == pytest.approx(0.5 * 11 / 16)
    for m in ("nc", "dac", "ddc", "tlc"):
        assert aggregate_epdms(**{**ones, m: 0}) == 0.0
    w = EPDMSConfig().weights
    assert w == {"ep": 5.0, "ttc": 5.0, "lk": 2.0, "hc": 2.0, "ec": 2.0} and sum(w.values()) == 16


def test_ego_progress_divides_raw_progress_by_the_best_weighted_progress():
    """NAVSIM's _aggregate_pdm_scores: raw progress / max(progress x multipliers), clipped to 1;
    all ones when that maximum is at most 5 m."""
    progress = np.array([30.0, 40.0, 60.0, 3.0])
    multiplier = np.array([0.5, 1.0, 0.0, 1.0])
    best = float(np.max(progress * multiplier))  # 40: the 60 m proposal has multipliers 0
    assert normalized_progress(progress, best) == pytest.approx([0.75, 1.0, 1.0, 0.075])
    assert normalized_progress(np.array([4.0, 0.0]), 5.0) == pytest.approx([1.0, 1.0])  # 5 m is not above 5 m
    assert normalized_progress(4.0, 5.01) == pytest.approx(4.0 / 5.01)

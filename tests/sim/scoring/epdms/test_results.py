"""EPDMSResult: every sub-score, JSON without the states; EP's normalisation against the
reference and the aggregate, on hand-set window metrics."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from sim.scoring.epdms import (
    actors_window,
    assemble_result,
    evaluate_window,
    logged_ego_state,
    proposal_states,
    score_proposal,
)
from tests.sim.scoring.epdms.helpers import NO_FILTER, proposal


def test_result_reports_every_subscore_and_is_json_ready(road):
    r = score_proposal(road, 10, *proposal(10.0))
    assert set(r.subscores()) == {"nc", "dac", "ddc", "tlc", "ep", "ttc", "lk", "hc", "ec"}
    assert (r.nc, r.dac, r.ddc, r.tlc, r.ttc, r.lk, r.hc, r.ec) == (1.0,) * 8
    assert r.ep == pytest.approx(min(1.0, r.progress_m / r.reference_progress_m), rel=1e-3)
    assert r.epdms == pytest.approx((5.0 * r.ep + 5.0 + 2.0 + 2.0 + 2.0) / 16.0)
    assert r.tlc == 1.0  # our maps carry no signal states
    assert r.states.shape == (41, 6)
    d = r.to_json()
    json.dumps(d, allow_nan=False)
    assert "states" not in d and d["human_filter"] == "applied"


@pytest.fixture(scope="module")
def clean_window(road):
    """The metrics and states of a 10 m/s proposal in lane at frame 10: every sub-score 1."""
    states = proposal_states(*proposal(10.0), logged_ego_state(road, 10), road, road.scenario.ego_params)
    m = evaluate_window(road, states, *actors_window(road, 10, 41), float(road.log_ego.route_s_m[10]))
    assert (m.nc, m.dac, m.ddc, m.tlc, m.ttc, m.lk, m.hc.ok) == (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, True)
    return m, states


@pytest.mark.parametrize("ddc, progress_m, reference_m, ep, epdms", [
    # NAVSIM divides the raw 30 m by max(40 m reference, 0.5 x 30 m): EP 0.75, not 15 / 40.
    (0.5, 30.0, 40.0, 0.75, 0.5 * (5 * 0.75 + 11) / 16),
    # The proposal's own 15 m of weighted progress beats the 10 m reference: 30 / 15, clipped.
    (0.5, 30.0, 10.0, 1.0, 0.5),
    (1.0, 30.0, 40.0, 0.75, (5 * 0.75 + 11) / 16),
    # Both below 5 m: EP is 1 whatever the multipliers.
    (0.5, 4.0, 3.0, 1.0, 0.5),
])
def test_ego_progress_uses_the_raw_progress_over_the_best_weighted_progress(road, clean_window, ddc, progress_m,
                                                                            reference_m, ep, epdms):
    m, states = clean_window
    r = assemble_result(10, dataclasses.replace(m, ddc=ddc, progress_m=progress_m), reference_m, None, None, "off",
                        states, road, NO_FILTER)
    assert r.ep == pytest.approx(ep)
    assert r.epdms == pytest.approx(epdms)
    assert r.reference_progress_m == pytest.approx(max(reference_m, ddc * progress_m))


def test_ego_progress_of_a_proposal_with_zero_multipliers_is_not_zero(road, clean_window):
    """NAVSIM normalises every proposal's raw progress: a colliding proposal keeps its EP (its
    score is 0 through NC), and below 5 m of best weighted progress its EP is 1."""
    m, states = clean_window
    crashed = dataclasses.replace(m, nc=0.0, progress_m=3.0)
    far = assemble_result(10, crashed, 20.0, None, None, "off", states, road, NO_FILTER)
    assert far.ep == pytest.approx(0.15) and far.epdms == 0.0
    assert far.unfiltered["ep"] == pytest.approx(0.15)
    near = assemble_result(10, crashed, 0.0, None, None, "off", states, road, NO_FILTER)
    assert near.ep == 1.0 and near.epdms == 0.0
    assert np.isclose(near.weighted, 1.0)

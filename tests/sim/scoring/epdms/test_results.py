"""EPDMSResult: every sub-score, JSON without the states."""

from __future__ import annotations

import json

import pytest

from sim.scoring.epdms import (
    aggregate_epdms,
    score_proposal,
)
from tests.sim.scoring.epdms.helpers import proposal


def test_result_reports_every_subscore_and_is_json_ready(road):
    r = score_proposal(road, 10, *proposal(10.0))
    assert set(r.subscores()) == {"nc", "dac", "ddc", "tlc", "ep", "ttc", "lk", "hc", "ec"}
    assert r.epdms == pytest.approx(aggregate_epdms(**r.subscores()))
    assert r.tlc == 1.0  # our maps carry no signal states
    assert r.states.shape == (41, 6)
    d = r.to_json()
    json.dumps(d, allow_nan=False)
    assert "states" not in d and d["human_filter"] == "applied"

from __future__ import annotations

import pytest

from scenarios.synthetic import straight_road_scenario
from sim.engine import prepare
from sim.scoring.epdms import ScoringData


@pytest.fixture(scope="module")
def road() -> ScoringData:
    """The ScoringData of a straight road the logged ego drives at 10 m/s for 8 s."""
    return ScoringData.build(prepare(straight_road_scenario(num_steps=80, ego_speed_mps=10.0)))

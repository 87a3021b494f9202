"""What a frame's proposals are compared with: PDM-Closed's choice among the reference planner's
proposals (NAVSIM v2's weights) and the human filter, which never touches EP."""

from __future__ import annotations

import numpy as np
import pytest

from scenarios.synthetic import ActorSpec, straight_road_scenario
from sim.engine import prepare
from sim.scoring.epdms import ScoringData, frame_baseline, score_proposal
from sim.scoring.epdms.baseline import selection_scores
from tests.sim.scoring.epdms.helpers import proposal


def test_selection_weighs_progress_ttc_lane_keeping_and_history_comfort_as_navsim_v2():
    """multipliers x (5 EP + 5 TTC + 2 LK + 2 HC) / 14 with HC = 1 and EP = raw progress over the
    best weighted progress (40 m here: the 60 m proposal only has multipliers 0.5)."""
    multiplier = np.array([1.0, 1.0, 0.5, 0.0])
    progress = np.array([40.0, 36.0, 60.0, 80.0])
    ttc = np.array([1.0, 1.0, 1.0, 1.0])
    lk = np.array([0.0, 1.0, 1.0, 1.0])
    scores = selection_scores(multiplier, progress, ttc, lk)
    expected = [(5 * 1.0 + 5 + 0 + 2) / 14, (5 * 0.9 + 5 + 2 + 2) / 14, 0.5 * (5 * 1.0 + 5 + 2 + 2) / 14, 0.0]
    assert scores == pytest.approx(expected)
    # NAVSIM v1's (5 EP + 5 TTC + 2 C) / 12 would pick the first (12 / 12 against 11.5 / 12).
    assert int(np.argmax(scores)) == 1


def test_the_reference_keeps_to_the_centerline_on_a_clear_road(road):
    """On a clear straight road the proposals 1 m off the centerline fail LK (1 m > 0.5 m for 4 s)
    and lose 2 / 14 to the centerline at the same speed; the fastest centerline proposal wins."""
    base = frame_baseline(road, 10)
    offsets = np.repeat([-1.0, 0.0, 1.0], 5)
    assert base.reference_scores[:, 3] == pytest.approx((offsets == 0.0).astype(float))
    assert base.reference_index == 9  # lateral offset 0, target speed 15 m/s
    fastest = base.reference_scores[[4, 9, 14]]
    assert fastest[:, 4] == pytest.approx([12 / 14, 1.0, 12 / 14], rel=1e-4)  # offsets progress a few mm less


def test_the_human_filter_never_touches_ego_progress():
    """The log drives through a car standing 35 m ahead of the front bumper (an annotation error,
    say): the human's NC is 0, so its multipliers are 0. Scored alone, its EP is its raw progress
    over its own weighted progress, 1 by definition, so EP is not filtered: a proposal at half
    the speed keeps its EP below 1 while the filter lifts nothing it passes."""
    car = ActorSpec(x_m=20.0 + 1.4 + 2.3 + 35.0 + 2.3, lane=0, speed_mps=0.0)
    data = ScoringData.build(prepare(straight_road_scenario(num_steps=80, ego_speed_mps=10.0, actors=(car,))))
    base = frame_baseline(data, 0)
    assert base.human.nc == 0.0 and base.human.multiplier == 0.0 and base.human.progress_m > 35.0
    assert "nc" in base.human_zero and "ep" not in base.human_zero
    slow = score_proposal(data, 0, *proposal(5.0))
    assert slow.nc == 1.0 and "ep" not in slow.filtered
    assert 20.0 < slow.reference_progress_m < 36.0  # the reference stops behind the car
    assert slow.ep == pytest.approx(slow.progress_m / slow.reference_progress_m, rel=1e-3)
    assert slow.ep < 0.9
    assert slow.epdms == pytest.approx((5 * slow.ep + 5 * slow.ttc + 2 * slow.lk + 2 * slow.hc + 2 * slow.ec) / 16)

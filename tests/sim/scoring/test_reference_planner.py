"""The reference planner's IDM proposals."""

from __future__ import annotations

import numpy as np


def test_reference_planner_stops_behind_a_stopped_car():
    from sim.scoring.reference_planner import reference_proposals

    route = np.stack([np.arange(0.0, 200.0), np.zeros(200)], -1)
    s = np.arange(0.0, 200.0)
    car_xy = np.tile(np.array([[[40.0, 0.0]]]), (41, 1, 1))  # centre 40 m ahead of the rear axle
    zeros = np.zeros((41, 1))
    props = reference_proposals(route, s, 0.0, 10.0, np.zeros(2), car_xy, zeros, zeros, np.ones((41, 1), bool),
                                np.array([2.3]), np.array([0.95]), 0.925, 1.4, 3.7, 40, 0.1)
    assert props.xy.shape == (15, 40, 2) and sorted(set(props.lateral_offset_m)) == [-1.0, 0.0, 1.0]
    front = props.xy[:, -1, 0] + 3.7
    assert np.all(front < 40.0 - 2.3)  # every proposal, at any speed or offset, stays behind the car
    free = reference_proposals(route, s, 0.0, 10.0, np.zeros(2), car_xy, zeros, zeros, np.zeros((41, 1), bool),
                               np.array([2.3]), np.array([0.95]), 0.925, 1.4, 3.7, 40, 0.1)
    assert free.xy[4, -1, 0] > 45.0 and free.target_speed_mps[4] == 15.0
    red = reference_proposals(route, s, 0.0, 10.0, np.zeros(2), car_xy, zeros, zeros, np.zeros((41, 1), bool),
                              np.array([2.3]), np.array([0.95]), 0.925, 1.4, 3.7, 40, 0.1,
                              stop_line_s_m=np.array([30.0, -5.0]))  # the line behind the ego is ignored
    assert np.all(red.xy[:, -1, 0] + 3.7 < 30.0) and np.max(red.xy[:, -1, 0] + 3.7) > 25.0

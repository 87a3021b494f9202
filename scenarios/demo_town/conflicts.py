"""Which intersection connectors conflict, and where a vehicle on one stops blocking another."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.ops import unary_union

from scenarios.demo_town.paths import uniform_s
from scenarios.demo_town.town import DemoTown
from sim.geometry import box_corners_xy

# Swept-area probes for intersection conflicts: turns are made by cars, straights by anything.
_TURN_PROBE_WL_M = (2.1, 5.2)
_STRAIGHT_PROBE_WL_M = (2.7, 12.0)


def _swept_areas(town: DemoTown) -> tuple[dict, dict, dict]:
    """Per connector: arclengths (M,), centreline points (M, 2) and the area a vehicle sweeps on it."""
    s_on, centre, swept = {}, {}, {}
    for i, lane in enumerate(town.lanes):
        if not lane.is_connector:
            continue
        width, length = _STRAIGHT_PROBE_WL_M if town.turn_of(i) == "straight" else _TURN_PROBE_WL_M
        s_on[i] = uniform_s(lane.length_m)
        centre[i], yaw = lane.pose_at(s_on[i])
        swept[i] = unary_union(shapely.polygons(box_corners_xy(centre[i], yaw, length, width)))
    return s_on, centre, swept


def connector_conflicts(town: DemoTown) -> np.ndarray:
    """(L, L) float over lane indices. For connectors i and j that conflict (see
    `scenarios.demo_town.traffic`): the arclength along i (from i's start, m) where i's centreline
    leaves the area swept on j, widened by half the widest vehicle; a vehicle on i whose rear is
    past it no longer blocks j. -inf where they do not conflict, and for regular lanes."""
    n = len(town.lanes)
    s_on, centre, swept = _swept_areas(town)
    widened = {j: swept[j].buffer(0.5 * _STRAIGHT_PROBE_WL_M[0]) for j in swept}
    clear_after = np.full((n, n), -np.inf)
    for i in swept:
        for j in swept:
            if town.predecessors[i][0] == town.predecessors[j][0] or not swept[i].intersects(swept[j]):
                continue  # no conflict, or one behind the other (car following keeps them apart)
            inside = shapely.contains_xy(widened[j], centre[i][:, 0], centre[i][:, 1])
            clear_after[i, j] = s_on[i][inside].max() if inside.any() else 0.0
    return clear_after


def opposing_entry_s(town: DemoTown, connector: int, half_width_m: float) -> float:
    """Arclength along `connector` (from its start, m) where a vehicle of half width half_width_m
    on it would first touch the area swept on a connector of the opposing approach (one whose
    incoming lane points the other way): the point where a left-turner waits for oncoming traffic
    inside the intersection. The connector's length when no opposing connector crosses it."""
    s_on, centre, swept = _swept_areas(town)

    def heading_in(c: int) -> float:
        incoming = town.lanes[town.predecessors[c][0]]
        return float(incoming.pose_at(np.array([incoming.length_m]))[1][0])

    h = heading_in(connector)
    entry = town.lanes[connector].length_m
    for j in swept:
        if abs(np.cos(heading_in(j) - h) + 1.0) > 0.3:  # not within ~45 degrees of opposite
            continue
        inside = shapely.contains_xy(swept[j].buffer(half_width_m), centre[connector][:, 0], centre[connector][:, 1])
        if inside.any():
            entry = min(entry, float(s_on[connector][inside].min()))
    return entry

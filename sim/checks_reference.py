"""The shapely reference of the engine's per-step checks (`sim.checks`): collision, off-road and
time to collision written the straightforward way, with shapely polygons, one actor at a time.
Slow; the compiled checks are tested against it (tests/sim/test_checks_reference.py) and `splatsim
bench engine` times them against it.
"""

from __future__ import annotations

import numpy as np
import shapely

from sim.checks import CheckParams, ego_box_center, ego_corners
from sim.geometry import box_corners_xy
from sim.types.scenario import Scenario
from sim.types.state import WorldState


def shapely_checks(scenario: Scenario, state: WorldState, check: CheckParams) -> tuple[bool, bool, float]:
    """(any collision, off-road, time to collision in s or inf) of a world state, as
    `sim.checks.colliding_actors(...).any()`, `off_road` and `time_to_collision` define them."""
    p = scenario.ego_params
    ego_poly = shapely.Polygon(ego_corners(state.ego, p))
    act = state.actors
    size = scenario.actors.size_wlh_m
    polys = [shapely.Polygon(box_corners_xy(act.xy[j], act.yaw_rad[j], size[j, 1], size[j, 0])) if act.valid[j]
             else None for j in range(len(act.xy))]
    collision = any(poly is not None and ego_poly.intersects(poly) for poly in polys)
    off_road = not scenario.map.drivable_area.covers(ego_poly)
    ego_v = state.ego.speed_mps * np.array([np.cos(state.ego.yaw_rad), np.sin(state.ego.yaw_rad)])
    center = ego_box_center(state.ego, p)
    ttc = np.inf
    for t in np.arange(check.ttc_step_s, check.ttc_horizon_s + 1e-9, check.ttc_step_s):
        moved_ego = shapely.affinity.translate(ego_poly, *(ego_v * t))
        for j, poly in enumerate(polys):
            if poly is None or poly.intersects(ego_poly):
                continue
            rel = act.xy[j] - center
            if rel @ np.array([np.cos(state.ego.yaw_rad), np.sin(state.ego.yaw_rad)]) <= 0:
                continue
            v = act.speed_mps[j] * np.array([np.cos(act.yaw_rad[j]), np.sin(act.yaw_rad[j])])
            if moved_ego.intersects(shapely.affinity.translate(poly, *(v * t))):
                ttc = min(ttc, t)
        if np.isfinite(ttc):
            break
    return collision, off_road, float(ttc)

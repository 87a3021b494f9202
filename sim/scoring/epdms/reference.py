"""The shapely reference of the compiled NC and TTC overlap tests (`kernels.nc_kernel`,
`kernels.ttc_kernel`), written the way NAVSIM's PDMScorer does them: shapely polygons and one
STRtree of the actors per step (NAVSIM's occupancy maps). Slow; it is what the kernels are
checked against (tests/sim/scoring/epdms/test_reference.py) and the baseline `splatsim bench
score` times them against.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from sim.dynamics.bicycle import SPEED, YAW
from sim.geometry import box_corners_xy
from sim.scoring.epdms.config import EPDMSConfig
from sim.scoring.epdms.data import ScoringData
from sim.scoring.epdms.window import ego_points


@dataclass(frozen=True, eq=False)
class ShapelyOverlaps:
    """Every overlap of a window: contacts (K, 2) [state, actor] of the ego's footprint, and
    projections (L, 3) [state, offset in steps, actor] of the footprint moved on at the state's
    velocity for each TTC offset, against the actors at the step it reaches. Sorted by state,
    then offset, then actor (the kernels' search order)."""

    contacts: np.ndarray
    projections: np.ndarray


def actor_trees(data: ScoringData, act: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
                ) -> list[shapely.STRtree]:
    """One STRtree of actor box polygons per step of a window (time-major xy (n, N, 2), yaw,
    speed, valid (n, N), as `actors_window` gives them). Invalid actors are None, so a query
    returns actor indices."""
    act_xy, act_yaw, _, act_valid = act
    trees = []
    for t in range(len(act_valid)):
        polygons = shapely.polygons(box_corners_xy(act_xy[t], act_yaw[t], 2.0 * data.actors.half_length_m,
                                                   2.0 * data.actors.half_width_m))
        trees.append(shapely.STRtree(np.where(act_valid[t], polygons, None)))
    return trees


def shapely_overlaps(data: ScoringData, states: np.ndarray, trees: list[shapely.STRtree],
                     config: EPDMSConfig = EPDMSConfig()) -> ShapelyOverlaps:
    """The ego's footprint polygon at every state (n, 6), and moved on at its velocity for each
    TTC offset, queried against the actors' STRtree of the step it reaches."""
    pts = ego_points(states, data)
    ego = shapely.polygons(pts[:, :4])
    contacts = [(t, trees[t].query(ego[t], predicate="intersects")) for t in range(len(states))]
    offsets = config.ttc_offsets_steps
    velocity = states[:, SPEED:SPEED + 1] * np.stack([np.cos(states[:, YAW]), np.sin(states[:, YAW])], -1)
    projections = []
    for t in range(len(states) - int(offsets.max())):
        for f in offsets:
            moved = shapely.polygons(pts[t, :4] + velocity[t] * f * config.dt_s)
            projections.append((t, f, trees[t + f].query(moved, predicate="intersects")))
    return ShapelyOverlaps(_sorted_rows(contacts), _sorted_rows(projections))


def _sorted_rows(hits: list[tuple]) -> np.ndarray:
    """(K, m + 1) rows [keys..., actor] of (keys..., actor indices) hits, sorted."""
    width = len(hits[0]) if hits else 2
    rows = [np.column_stack([np.full((len(h[-1]), width - 1), h[:-1], np.int64), h[-1]]) for h in hits if len(h[-1])]
    if not rows:
        return np.zeros((0, width), np.int64)
    out = np.concatenate(rows)
    return out[np.lexsort(out.T[::-1])]

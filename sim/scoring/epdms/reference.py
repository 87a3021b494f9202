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
class ActorTrees:
    """One STRtree of actor box polygons per step of a window.

    - trees: (n,) STRtree of step t's valid actors; actors: (n,) their actor indices (int arrays).
    """

    trees: list[shapely.STRtree]
    actors: list[np.ndarray]


@dataclass(frozen=True, eq=False)
class ShapelyOverlaps:
    """Every overlap of a window: contacts (K, 2) [state, actor] of the ego's footprint, and
    projections (L, 3) [state, offset in steps, actor] of the footprint moved on at the state's
    velocity for each TTC offset, against the actors at the step it reaches. Sorted by state,
    then offset, then actor (the kernels' search order)."""

    contacts: np.ndarray
    projections: np.ndarray


def actor_trees(data: ScoringData, act: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> ActorTrees:
    """The STRtrees of a window's actors (time-major xy (n, N, 2), yaw, speed, valid (n, N), as
    `actors_window` gives them)."""
    act_xy, act_yaw, _, act_valid = act
    trees, actors = [], []
    for t in range(len(act_valid)):
        j = np.flatnonzero(act_valid[t])
        corners = box_corners_xy(act_xy[t, j], act_yaw[t, j], 2.0 * data.actors.half_length_m[j],
                                 2.0 * data.actors.half_width_m[j])
        trees.append(shapely.STRtree(shapely.polygons(corners)))
        actors.append(j)
    return ActorTrees(trees, actors)


def shapely_overlaps(data: ScoringData, states: np.ndarray, trees: ActorTrees,
                     config: EPDMSConfig = EPDMSConfig()) -> ShapelyOverlaps:
    """The ego's footprint polygon at every state (n, 6), and moved on at its velocity for each
    TTC offset, queried against the actors' STRtree of the step it reaches."""
    pts = ego_points(states, data)
    ego = shapely.polygons(pts[:, :4])
    contacts = []
    for t in range(len(states)):
        for j in np.sort(trees.actors[t][trees.trees[t].query(ego[t], predicate="intersects")]):
            contacts.append((t, j))
    offsets = config.ttc_offsets_steps
    velocity = states[:, SPEED:SPEED + 1] * np.stack([np.cos(states[:, YAW]), np.sin(states[:, YAW])], -1)
    projections = []
    for t in range(len(states) - int(offsets.max())):
        for f in offsets:
            moved = shapely.polygons(pts[t, :4] + velocity[t] * f * config.dt_s)
            for j in np.sort(trees.actors[t + f][trees.trees[t + f].query(moved, predicate="intersects")]):
                projections.append((t, f, j))
    return ShapelyOverlaps(np.array(contacts, np.int64).reshape(-1, 2), np.array(projections, np.int64).reshape(-1, 3))

"""A demo scene simulated and recorded on the 10 Hz grid."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scenarios.demo_town.conflicts import connector_conflicts
from scenarios.demo_town.scene_spec import SceneSpec
from scenarios.demo_town.town import DemoTown
from scenarios.demo_town.traffic import MAX_ANNOTATED_ACTORS, Traffic
from sim.types.scenario import DT_S, STEP_US

SCENE_DURATION_S = 20.0
NUM_STEPS = int(round(SCENE_DURATION_S / DT_S)) + 1  # both ends included


@dataclass(frozen=True, eq=False)
class SceneRecording:
    """One simulated scene on the 10 Hz grid: T steps, N agents; agent 0 is the ego.

    - spec: what was simulated.
    - t_from_start_us: (T,) int64, 0, 100_000, ...
    - category: (N,) str nuScenes category; kind: (N,) int8 ActorKind.
    - size_wlh_m: (N, 3) width, length, height.
    - xy_in_global: (N, T, 2) box centre; yaw_rad: (N, T); speed_mps: (N, T) along the heading.
    - valid: (N, T) bool; outside valid steps the values are zero.
    - ego_lane_names: the ego's route, connectors included.
    """

    spec: SceneSpec
    t_from_start_us: np.ndarray
    category: np.ndarray
    kind: np.ndarray
    size_wlh_m: np.ndarray
    xy_in_global: np.ndarray
    yaw_rad: np.ndarray
    speed_mps: np.ndarray
    valid: np.ndarray
    ego_lane_names: tuple[str, ...]

    @property
    def num_agents(self) -> int:
        return len(self.category)


def simulate_scene(town: DemoTown, spec: SceneSpec, seed: int | tuple[int, ...],
                   conflicts: np.ndarray | None = None) -> SceneRecording:
    """Run one scene for SCENE_DURATION_S and record every agent at 10 Hz.

    Deterministic in seed (anything numpy's default_rng accepts as a seed: an int or a tuple of
    ints). conflicts: connector_conflicts(town), passed in to compute it once for many scenes.
    """
    rng = np.random.default_rng(seed)
    conflicts = connector_conflicts(town) if conflicts is None else conflicts
    sim = Traffic(town, conflicts, spec, rng)
    sim.place_initial()
    entries = [i for i, lane in enumerate(town.lanes) if not lane.is_connector and not town.predecessors[i]]
    next_spawn_s = {lane: float(rng.exponential(spec.mean_spawn_interval_s)) for lane in entries}
    cap = MAX_ANNOTATED_ACTORS + 1
    xy_rec = np.zeros((cap, NUM_STEPS, 2))
    yaw_rec = np.zeros((cap, NUM_STEPS))
    speed_rec = np.zeros((cap, NUM_STEPS))
    valid_rec = np.zeros((cap, NUM_STEPS), bool)
    for step in range(NUM_STEPS):
        if step:
            sim.step(step)
            sim.spawn(step, next_spawn_s)
        n = sim.n
        xy, yaw = sim.positions()
        alive = sim.alive[:n]
        xy_rec[:n, step] = np.where(alive[:, None], xy, 0.0)
        yaw_rec[:n, step] = np.where(alive, yaw, 0.0)
        speed_rec[:n, step] = np.where(alive, sim.v[:n], 0.0)
        valid_rec[:n, step] = alive
    assert valid_rec[0].all(), f"{spec.name}: the ego's route is too short for {SCENE_DURATION_S} s"
    n = sim.n
    arrays = [np.arange(NUM_STEPS, dtype=np.int64) * STEP_US, np.array(sim.category), sim.kind[:n].copy(),
              sim.size[:n].copy(), xy_rec[:n].copy(), yaw_rec[:n].copy(), speed_rec[:n].copy(), valid_rec[:n].copy()]
    for array in arrays:
        array.setflags(write=False)  # recordings are shared (see simulate_demo_scenes)
    return SceneRecording(spec, *arrays, tuple(town.lanes[i].name for i in sim.paths[0].lanes))

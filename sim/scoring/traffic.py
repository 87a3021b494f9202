"""The traffic a proposal is scored against: the log replayed, or reactive IDM vehicles.

NAVSIM v2 scores both pseudo-simulation stages against reactive traffic
(navsim/planning/script/run_pdm_score.py instantiates `traffic_agents_policy.reactive` for stage
one and stage two; its one-stage script defaults to `non_reactive`, docs/traffic_agents.md). Its
`NavsimIDMTrafficAgents.simulate_traffic_agents` (navsim/traffic_agents_policies/
navsim_IDM_traffic_agents.py) starts the vehicles where the log has them at the frame and
advances them step by step with the IDM, step t seeing the ego's simulated state at t - 1; every
other actor replays the log (`AbstractTrafficAgentsPolicy.simulate_environment`). Each proposal
gets its own rollout of the traffic, and the reference trajectory is scored against the traffic
simulated for the proposal (`navsim/evaluate/pdm_score.py`, `pdm_score_from_interpolated_trajectory`).

Here the reactive actors are the closed loop's own (`sim.engine.advance_actors` with every actor
that `sim.actors.behaviour` makes an IDM actor in a reactive run): the same IDM, the same paths,
the same cast.
"""

from __future__ import annotations

from enum import Enum

import numpy as np

from sim.actors.behaviour import initial_actor_state
from sim.dynamics.bicycle import ego_state_from_vector
from sim.engine import SimContext, advance_actors
from sim.types.state import WorldState


class Traffic(str, Enum):
    """What the actors of a scored proposal's rollout do: replay the log (NAVSIM's `non_reactive`)
    or follow the IDM and react to the ego's simulated states (NAVSIM's `reactive`)."""

    LOG_REPLAY = "log-replay"
    REACTIVE = "reactive"


def reactive_actor_futures(context: SimContext, step_index: int, ego_states: np.ndarray
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The actors while the ego drives `ego_states` (n, 6) from log step `step_index`, time-major
    like `sim.scoring.epdms.actors_window`: xy (n, N, 2) box centres, yaw, speed, valid (n, N).
    Row 0 is the log at the step; row t + 1 is the closed loop's actor step from row t and the
    ego state t."""
    sc = context.scenario
    wheelbase = sc.ego_params.wheelbase_m
    actors = initial_actor_state(sc.actors, context.paths, step_index, True)
    rows = [actors]
    for t in range(len(ego_states) - 1):
        k = step_index + t
        state = WorldState(step_index=k, t_us=int(sc.t_us[min(k, sc.num_steps - 1)]),
                           ego=ego_state_from_vector(ego_states[t], wheelbase), actors=actors)
        actors = advance_actors(context, state)
        rows.append(actors)
    return (np.stack([a.xy for a in rows]), np.stack([a.yaw_rad for a in rows]),
            np.stack([a.speed_mps for a in rows]), np.stack([a.valid for a in rows]))

"""EPDMS of one proposal at a frame of the log: `score_proposal`."""

from __future__ import annotations

import numpy as np

from sim.errors import ConfigError
from sim.scoring.comfort import Kinematics, extended_comfort, kinematics_from_states
from sim.scoring.epdms.baseline import frame_baseline, reference_baseline
from sim.scoring.epdms.config import EPDMSConfig
from sim.scoring.epdms.data import ScoringData, actor_futures, log_history, logged_ego_state, stop_controls
from sim.scoring.epdms.kernels import project_track
from sim.scoring.epdms.proposals import proposal_states
from sim.scoring.epdms.results import EPDMSResult, assemble_result
from sim.scoring.epdms.window import evaluate_window
from sim.scoring.traffic import Traffic
from sim.types.state import EgoState


def score_proposal(data: ScoringData, step_index: int, proposal_xy_in_ego: np.ndarray,
                   proposal_yaw_in_ego: np.ndarray, ego_state: EgoState | None = None,
                   previous_proposal: EPDMSResult | None = None, config: EPDMSConfig = EPDMSConfig(),
                   t_offset_s: np.ndarray | None = None, history: Kinematics | None = None,
                   traffic: Traffic = Traffic.LOG_REPLAY) -> EPDMSResult:
    """EPDMS of a 4 s proposal at a frame of the scenario's log.

    proposal_xy_in_ego (40, 2) / proposal_yaw_in_ego (40,): poses at 0.1 .. 4.0 s in the ego
    frame of `ego_state` (other timings: give t_offset_s and they are resampled). ego_state: the
    ego at the frame (default: the logged ego; then the frame's reference planner and human
    result are memoised). previous_proposal: the result of the proposal made at an earlier frame (EC
    compares the two on their overlap; NAVSIM's frames are 0.5 s apart). history: the ego's
    motion before the frame for HC (default: the log's last 1.5 s at the logged state, none for
    another ego_state). traffic: the actors replay the log, or react to this proposal's simulated
    states (`sim.scoring.traffic`); the reference and the human filter's human are scored against
    the traffic of their own rollouts as NAVSIM does."""
    sc = data.scenario
    if ego_state is None:
        ego = logged_ego_state(data, step_index)
    elif not 0 <= step_index < sc.num_steps:
        raise ConfigError(f"step {step_index} is outside scenario {sc.name!r} (steps 0..{sc.num_steps - 1})")
    else:
        ego = ego_state
    states = proposal_states(proposal_xy_in_ego, proposal_yaw_in_ego, ego, data, sc.ego_params, config, t_offset_s)
    act = actor_futures(data, step_index, states, traffic)
    if ego_state is None:
        baseline = frame_baseline(data, step_index, config, traffic)
        hint = float(data.log_ego.route_s_m[step_index])
        # NAVSIM scores the reference against the traffic simulated for the proposal (pdm_score.py)
        ref_progress = baseline.reference_progress_m if traffic is Traffic.LOG_REPLAY else \
            reference_baseline(data, ego, hint, *act, sc.ego_params, config, step_index=step_index)[0]
        human_zero = baseline.human_zero if config.human_penalty_filter else None
        filter_state = "applied" if config.human_penalty_filter else "off"
    else:
        hint = float(project_track(data.route.xy_m, data.route.s_m, np.array([[ego.x_m, ego.y_m]]),
                                   float(data.log_ego.route_s_m[step_index]), 1e9)[0][0])
        ref_progress = reference_baseline(data, ego, hint, *act, sc.ego_params, config, step_index=step_index)[0]
        human_zero = None
        filter_state = "not applicable" if config.human_penalty_filter else "off"
    if history is None and ego_state is None:
        history = log_history(data, step_index, config)
    m = evaluate_window(data, states, *act, hint, config, history=history, full=True,
                        stops=stop_controls(data, config), step_index=step_index)
    ec = None
    previous = previous_proposal
    if previous is not None:
        offset = step_index - previous.step_index
        if offset <= 0:
            raise ConfigError(f"previous proposal (step {previous.step_index}) must be earlier than step {step_index}")
        wheelbase = data.ego_box.wheelbase_m
        ec = extended_comfort(kinematics_from_states(states, wheelbase, config.dt_s),
                              kinematics_from_states(previous.states, wheelbase, config.dt_s), offset, config.dt_s,
                              config.comfort)
    return assemble_result(step_index, m, ref_progress, ec, human_zero, filter_state, states, data, config)

"""What a frame's proposals are compared with: the reference planner's choice (EP's reference)
and the logged human scored alone (the human filter). `sim.scoring.reference_planner` is the
planner itself; this module tracks and scores its proposals."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.geometry import global_to_local_xy, wrap_angle
from sim.scoring.epdms.config import EPDMSConfig, normalized_progress
from sim.scoring.epdms.data import (
    ScoringData,
    actor_futures,
    actors_window,
    check_step,
    logged_ego_state,
    stop_controls,
)
from sim.scoring.epdms.kernels import project_track
from sim.scoring.epdms.proposals import human_proposal, proposal_states
from sim.scoring.epdms.window import WindowMetrics, evaluate_window
from sim.scoring.reference_planner import reference_proposals
from sim.scoring.traffic import Traffic
from sim.types.state import EgoState


@dataclass(frozen=True, eq=False)
class FrameBaseline:
    """What a frame's proposals are compared with.

    - reference_progress_m: the multiplier-weighted progress of the reference planner's selected
      proposal against the logged actors (EP's reference); reference_index: which proposal (-1
      if none passes); reference_states (P, H+1, 6) and reference_scores (P, 5) [multiplier,
      progress, ttc, lk, pdm score] on the planner's forecast.
    - human: the logged human's WindowMetrics scored alone (None when the filter does not
      apply); human_zero: names of the metrics the human scores 0 on.
    """

    reference_progress_m: float
    reference_index: int
    reference_states: np.ndarray
    reference_scores: np.ndarray
    human: WindowMetrics | None
    human_zero: tuple[str, ...]


def constant_velocity_forecast(xy: np.ndarray, yaw: np.ndarray, speed: np.ndarray, valid: np.ndarray, n: int,
                               dt_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Actors at one step (N, 2) / (N,) moved on at constant velocity: (n, N, 2) xy and (n, N)
    yaw, speed, valid (time-major, row 0 is the given step)."""
    t = np.arange(n)[:, None] * dt_s
    vel = np.stack([speed * np.cos(yaw), speed * np.sin(yaw)], -1)
    return (xy[None] + t[..., None] * vel[None], np.broadcast_to(yaw, (n, len(yaw))),
            np.broadcast_to(speed, (n, len(speed))), np.broadcast_to(valid, (n, len(valid))))


def selection_scores(multiplier: np.ndarray, progress_m: np.ndarray, ttc: np.ndarray, lk: np.ndarray,
                     config: EPDMSConfig = EPDMSConfig()) -> np.ndarray:
    """PDM-Closed's score of its P proposals (P,) (NAVSIM v2 pdm_scorer.py `_aggregate_pdm_scores`,
    which abstract_pdm_closed_planner.py picks the argmax of): multipliers * (5 EP + 5 TTC + 2 LK
    + 2 HC) / 14, EP normalised among the proposals, HC = 1 (no history) and EC left out."""
    ep = normalized_progress(progress_m, float(np.max(multiplier * progress_m)), config)
    w = config.weights
    weighted = w["ep"] * ep + w["ttc"] * ttc + w["lk"] * lk + w["hc"] * 1.0
    return multiplier * weighted / (w["ep"] + w["ttc"] + w["lk"] + w["hc"])


def reference_baseline(data: ScoringData, ego: EgoState, route_s_hint_m: float, act_xy: np.ndarray,
                       act_yaw: np.ndarray, act_speed: np.ndarray, act_valid: np.ndarray, ego_params,
                       config: EPDMSConfig = EPDMSConfig(), *, step_index: int
                       ) -> tuple[float, int, np.ndarray, np.ndarray]:
    """Run the reference planner from `ego` at a step of the log, pick PDM-Closed's choice and
    score it against the logged actors.

    PDM-Closed plans and chooses on its own view of the world (NAVSIM's PDMObservation): the
    actors where they are at the frame, moved on at constant velocity, and the stop lines red at
    the frame as standing obstacles. Each IDM proposal is tracked and scored on that forecast
    (multipliers, progress, TTC, LK), and the proposal with the best score of PDM-Closed's own
    PDMScorer (NAVSIM v2, abstract_pdm_closed_planner.py `_get_closed_loop_trajectory`, scored by
    pdm_scorer.py `_aggregate_pdm_scores`), multipliers * (5 EP + 5 TTC + 2 LK + 2 HC) / 14 with EP
    normalised among the proposals and HC = 1 (the planner passes no history; EC is excluded),
    is the reference trajectory. As in NAVSIM's evaluation it is then scored together with the
    agent's proposal against the logged actors: its progress times its multipliers there is EP's
    reference (0 when the log shows that it collides, leaves the road, drives against the
    traffic or runs a red line, which the forecast did not foresee).

    Returns (reference progress, selected index or -1, states (P, H+1, 6), scores (P, 5) on the
    forecast with columns multiplier, progress_m, ttc, lk, pdm_score)."""
    h = config.horizon_steps
    stops = stop_controls(data, config)
    s0 = float(project_track(data.route.xy_m, data.route.s_m, np.array([[ego.x_m, ego.y_m]]), route_s_hint_m)[0][0])
    forecast = constant_velocity_forecast(act_xy[0], act_yaw[0], act_speed[0], act_valid[0], h + 1, config.dt_s)
    box = data.ego_box
    props = reference_proposals(data.route.xy_m, data.route.s_m, s0, ego.speed_mps, np.array([ego.x_m, ego.y_m]),
                                *forecast, data.actors.half_length_m, data.actors.half_width_m,
                                box.half_width_m, box.rear_axle_to_center_m,
                                box.rear_axle_to_center_m + box.half_length_m, h, config.dt_s, config.reference,
                                stop_line_s_m=stops.red_at(step_index))
    p = len(props.target_speed_mps)
    states = np.empty((p, h + 1, 6))
    scores = np.zeros((p, 5))
    for i in range(p):
        xy = global_to_local_xy(props.xy[i], ego.xy, ego.yaw_rad)
        yaw = wrap_angle(props.yaw_rad[i] - ego.yaw_rad)
        states[i] = proposal_states(xy, yaw, ego, data, ego_params, config)
        m = evaluate_window(data, states[i], *forecast, route_s_hint_m, config, full=True,
                            with_history_comfort=False, stops=stops, step_index=step_index)
        scores[i, :4] = (m.multiplier, m.progress_m, m.ttc, m.lk)
    if p == 0:
        return 0.0, -1, states, scores
    scores[:, 4] = selection_scores(scores[:, 0], scores[:, 1], scores[:, 2], scores[:, 3], config)
    best = int(np.argmax(scores[:, 4]))
    if scores[best, 4] <= 0.0:
        return 0.0, -1, states, scores
    logged = evaluate_window(data, states[best], act_xy, act_yaw, act_speed, act_valid, route_s_hint_m, config,
                             full=False, stops=stops, step_index=step_index)
    return float(logged.progress_m * logged.multiplier), best, states, scores


def frame_baseline(data: ScoringData, step_index: int, config: EPDMSConfig = EPDMSConfig(),
                   traffic: Traffic = Traffic.LOG_REPLAY) -> FrameBaseline:
    """The reference planner (against the logged actors) and the human-filter result at a logged
    frame, the human against `traffic` simulated for its own rollout as NAVSIM's pdm_score does
    (memoised in data)."""
    key = (step_index, config, traffic)
    cached = data.frame_cache.get(key)
    if cached is not None:
        return cached
    check_step(data, step_index)
    sc = data.scenario
    h = config.horizon_steps
    ego = logged_ego_state(data, step_index)
    act = actors_window(data, step_index, h + 1)
    hint = float(data.log_ego.route_s_m[step_index])
    best, index, states, scores = reference_baseline(data, ego, hint, *act, sc.ego_params, config,
                                                     step_index=step_index)
    human, zero = None, ()
    if config.human_penalty_filter:
        xy, yaw = human_proposal(data, step_index, config)
        hs = proposal_states(xy, yaw, ego, data, sc.ego_params, config)
        # NAVSIM scores the human alone and without history (so its HC is never 0).
        human = evaluate_window(data, hs, *actor_futures(data, step_index, hs, traffic), hint, config, full=True,
                                with_history_comfort=False, stops=stop_controls(data, config), step_index=step_index)
        # Scored alone, the human's EP is its raw progress over its own weighted progress: 1 always
        # (navsim/evaluate/pdm_score.py), so the filter never touches EP.
        ep = float(normalized_progress(human.progress_m, human.progress_m * human.multiplier, config))
        values = {"nc": human.nc, "dac": human.dac, "ddc": human.ddc, "tlc": human.tlc, "ep": ep,
                  "ttc": human.ttc, "lk": human.lk, "hc": 1.0}
        zero = tuple(k for k, v in values.items() if v == 0.0)
    baseline = FrameBaseline(best, index, states, scores, human, zero)
    data.frame_cache[key] = baseline
    return baseline

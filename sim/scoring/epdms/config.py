"""The constants of EPDMS (`EPDMSConfig`) and its aggregate of sub-scores."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from sim.dynamics.tracker import TrackerParams
from sim.engine import PLAN_HORIZON_STEPS
from sim.scoring.comfort import ComfortConfig
from sim.scoring.reference_planner import ReferencePlannerConfig
from sim.scoring.stop_controls import StopControlConfig
from sim.types.scenario import DT_S

METRIC_NAMES = ("nc", "dac", "ddc", "tlc", "ep", "ttc", "lk", "hc", "ec")
MULTIPLIER_NAMES = ("nc", "dac", "ddc", "tlc")
ROUTE_BACK_EXTENSION_M = 30.0
ROUTE_FORWARD_EXTENSION_M = 100.0
LANE_GRID_CELL_M = 5.0
TRACKER_TAIL_S = 1.0  # the proposal continued past its horizon for the tracker (see proposal_states)
LOG_DERIVATIVE_WINDOW = 11  # steps of the Savitzky-Golay derivatives of the logged ego (see _log_states)


@dataclass(frozen=True)
class EPDMSConfig:
    """Every constant of the score (NAVSIM v2's PDMScorerConfig unless said otherwise).

    Weights of the weighted average (denominator: their sum, 16):
    - progress_weight (EP) 5, ttc_weight 5, lane_keeping_weight 2, history_comfort_weight 2,
      extended_comfort_weight 2.
    Horizon:
    - horizon_steps: proposal poses at 0.1 s (NAVSIM: 40 = 4 s); dt_s: their spacing.
    NC:
    - static_collision_score: NC of an at-fault contact with a static object (0.5).
    - collision_stopped_speed_mps: ego or actor at or below this speed counts as stopped (5e-2).
    - agent_behind_angle_rad: an actor more than this off the ego's heading is behind (150 deg,
      nuPlan's is_agent_behind); agent_ahead_angle_rad: less than this is ahead (30 deg).
    DDC:
    - driving_direction_horizon_s (1 s), driving_direction_compliance_m (2 m),
      driving_direction_violation_m (6 m).
    - route_direction_tolerance_rad: ours (see the module docstring): a lane counts as of the
      route's direction when its heading is within this of the route's (45 deg).
    TTC:
    - ttc_horizon_s: how far the ego is projected (1 s); ttc_stride_steps: projection times are
      0, 3, 6, ... steps below the horizon (0, 0.3, 0.6, 0.9 s); ttc_stopped_speed_mps: no TTC
      infraction below this ego speed (5e-3).
    EP:
    - progress_distance_threshold_m: EP is 1 when the best progress is at most this (5 m).
    LK:
    - lane_keeping_deviation_m (0.5 m), lane_keeping_window_s (2 s).
    Others:
    - comfort: HC and EC constants; reference: the reference planner; tracker: the tracker
      that turns proposals into states (the engine's defaults).
    - stop_controls: how stop lines are inferred from the logged ego (TLC and the reference).
    - human_penalty_filter: apply NAVSIM's human filter where the ego is at the logged state.
    - human_pose_interval_s: the logged human's trajectory (the "expert" proposal and the human
      filter's) is taken at this spacing and linearly interpolated to the 0.1 s grid. NAVSIM
      samples it at its 2 Hz database interval (0.5 s), and its LQR fits smooth (jerk-penalised)
      speed and curvature profiles to the poses; the engine's tracker differentiates its
      reference directly, so 0.5 s poses would put a speed kink into the tracked motion every
      0.5 s (EC and HC then fail for the human on most frames). Default 0.1: every logged pose.
    """

    progress_weight: float = 5.0
    ttc_weight: float = 5.0
    lane_keeping_weight: float = 2.0
    history_comfort_weight: float = 2.0
    extended_comfort_weight: float = 2.0
    horizon_steps: int = PLAN_HORIZON_STEPS
    dt_s: float = DT_S
    static_collision_score: float = 0.5
    collision_stopped_speed_mps: float = 5e-2
    agent_behind_angle_rad: float = math.radians(150.0)
    agent_ahead_angle_rad: float = math.radians(30.0)
    driving_direction_horizon_s: float = 1.0
    driving_direction_compliance_m: float = 2.0
    driving_direction_violation_m: float = 6.0
    route_direction_tolerance_rad: float = math.radians(45.0)
    ttc_horizon_s: float = 1.0
    ttc_stride_steps: int = 3
    ttc_stopped_speed_mps: float = 5e-3
    progress_distance_threshold_m: float = 5.0
    lane_keeping_deviation_m: float = 0.5
    lane_keeping_window_s: float = 2.0
    comfort: ComfortConfig = ComfortConfig()
    reference: ReferencePlannerConfig = ReferencePlannerConfig()
    tracker: TrackerParams = TrackerParams()
    stop_controls: StopControlConfig = StopControlConfig()
    human_penalty_filter: bool = True
    human_pose_interval_s: float = 0.1

    @property
    def ttc_offsets_steps(self) -> np.ndarray:
        """The TTC projection offsets in steps: 0, stride, 2 stride, ... below the horizon."""
        return np.arange(0, int(round(self.ttc_horizon_s / self.dt_s)), self.ttc_stride_steps, dtype=np.int64)

    @property
    def weights(self) -> dict[str, float]:
        return {"ep": self.progress_weight, "ttc": self.ttc_weight, "lk": self.lane_keeping_weight,
                "hc": self.history_comfort_weight, "ec": self.extended_comfort_weight}

    def to_dict(self) -> dict:
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            nested = hasattr(value, "__dataclass_fields__")
            out[f.name] = {g.name: getattr(value, g.name) for g in fields(value)} if nested else value
        return out


def aggregate_epdms(nc: float, dac: float, ddc: float, tlc: float, ep: float, ttc: float, lk: float, hc: float,
                    ec: float, config: EPDMSConfig = EPDMSConfig()) -> float:
    """NC * DAC * DDC * TLC * weighted average of EP, TTC, LK, HC, EC (weights 5, 5, 2, 2, 2)."""
    w = config.weights
    weighted = (w["ep"] * ep + w["ttc"] * ttc + w["lk"] * lk + w["hc"] * hc + w["ec"] * ec) / sum(w.values())
    return float(nc * dac * ddc * tlc * weighted)


def normalized_progress(progress_m: np.ndarray | float, best_weighted_progress_m: float,
                        config: EPDMSConfig = EPDMSConfig()) -> np.ndarray:
    """NAVSIM v2's EP of proposals scored together (pdm_scorer.py, PDMScorer._aggregate_pdm_scores).

    progress_m: the proposals' raw route progress (any shape); best_weighted_progress_m: the
    largest progress x NC x DAC x DDC x TLC among them. EP is raw progress over that largest
    value, clipped to [0, 1], and 1 for every proposal when it is at most
    progress_distance_threshold_m. A proposal's own multipliers therefore enter only the
    denominator (a DDC of 0.5 does not halve its EP), and a proposal whose multipliers are 0 is
    not given EP 0 (its score is 0 through the multipliers anyway)."""
    progress = np.asarray(progress_m, dtype=np.float64)
    if best_weighted_progress_m > config.progress_distance_threshold_m:
        return np.clip(progress / best_weighted_progress_m, 0.0, 1.0)
    return np.ones_like(progress)

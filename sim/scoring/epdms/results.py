"""The score of one proposal (`EPDMSResult`) and how one window's metrics become it
(`assemble_result`: EP's normalisation, the human filter, the aggregate)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from sim.checks import CollisionType
from sim.scoring.comfort import ComfortResult
from sim.scoring.epdms.config import METRIC_NAMES, EPDMSConfig, aggregate_epdms, normalized_progress
from sim.scoring.epdms.data import ScoringData
from sim.scoring.epdms.window import WindowMetrics

COLLISION_TYPE_NAMES = {int(CollisionType.NONE): "none", int(CollisionType.STOPPED_EGO): "stopped ego",
                        int(CollisionType.STOPPED_TRACK): "stopped object", int(CollisionType.ACTIVE_FRONT): "front",
                        int(CollisionType.ACTIVE_REAR): "rear", int(CollisionType.ACTIVE_LATERAL): "lateral"}


@dataclass(frozen=True, eq=False)
class EPDMSResult:
    """The score of one proposal and every sub-score. Times are seconds after the frame; -1 means
    "did not happen".

    - step_index: the frame; epdms: the score; nc, dac, ddc, tlc, ep, ttc, lk, hc, ec: sub-scores
      (after the human filter); multiplier = nc * dac * ddc * tlc; weighted = the weighted average.
    - human_filter: "applied" | "off" | "not applicable" (ego not at the logged state);
      filtered: the metrics the filter set to 1; unfiltered_epdms and unfiltered: the score and
      sub-scores without it (dict name -> value).
    - collision_actor (-1), collision_category, collision_type ("front", "stopped object", ...),
      collision_time_s: the contact that set NC.
    - off_road_time_s: first state off the drivable area.
    - red_light_time_s: first state beyond a red stop line (TLC).
    - oncoming_m, oncoming_time_s: worst 1 s of travel outside the route's direction.
    - ttc_actor, ttc_category, ttc_time_s, ttc_projection_s: the first TTC infraction.
    - lane_deviation_max_m, lane_keeping_time_s: LK (the time the 2 s run completed).
    - hc_failed, hc_time_s, hc_worst: failed HC criteria, first violation (may be negative: in
      the history), (name, value) of the worst excursion.
    - ec_applied, ec_failed, ec_worst: EC against a previous proposal.
    - progress_m, reference_progress_m: EP's numerator (before multipliers) and denominator.
    - states: (H+1, 6) the simulated ego states (global, rear axle) the scores were computed on.
    """

    step_index: int
    epdms: float
    nc: float
    dac: float
    ddc: float
    tlc: float
    ep: float
    ttc: float
    lk: float
    hc: float
    ec: float
    multiplier: float
    weighted: float
    human_filter: str
    filtered: tuple[str, ...]
    unfiltered_epdms: float
    unfiltered: dict
    collision_actor: int
    collision_category: str
    collision_type: str
    collision_time_s: float
    off_road_time_s: float
    red_light_time_s: float
    oncoming_m: float
    oncoming_time_s: float
    ttc_actor: int
    ttc_category: str
    ttc_time_s: float
    ttc_projection_s: float
    lane_deviation_max_m: float
    lane_keeping_time_s: float
    hc_failed: tuple[str, ...]
    hc_time_s: float
    hc_worst: tuple[str, float]
    ec_applied: bool
    ec_failed: tuple[str, ...]
    ec_worst: tuple[str, float]
    progress_m: float
    reference_progress_m: float
    states: np.ndarray = field(repr=False)

    def to_json(self) -> dict:
        """JSON-ready (without the states)."""
        out = {}
        for f in fields(self):
            if f.name == "states":
                continue
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    def subscores(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in METRIC_NAMES}


def _time(index: int, dt: float) -> float:
    return round(index * dt, 3) if index >= 0 else -1.0


def assemble_result(step_index: int, m: WindowMetrics, ep_progress_ref: float, ec: ComfortResult | None,
                    baseline_human_zero: tuple[str, ...] | None, human_filter: str, states: np.ndarray,
                    data: ScoringData, config: EPDMSConfig, categories: np.ndarray | None = None) -> EPDMSResult:
    """EP normalisation, the human filter and the aggregate of one window's metrics.

    ep_progress_ref: the reference's multiplier-weighted progress against the logged actors (the
    proposal's own is added here: EP's denominator is the larger of the two).
    baseline_human_zero: metrics the human scored 0 on (None: no filter)."""
    # NAVSIM scores the PDM-Closed trajectory and the agent's together (navsim/evaluate/pdm_score.py,
    # pdm_score_from_interpolated_trajectory): the largest multiplier-weighted progress of the two
    # normalises the agent's raw progress.
    best = max(ep_progress_ref, m.progress_m * m.multiplier)
    ep = float(normalized_progress(m.progress_m, best, config))
    ec_value = 1.0 if ec is None or ec.ok else 0.0
    raw = {"nc": m.nc, "dac": m.dac, "ddc": m.ddc, "tlc": m.tlc, "ep": ep, "ttc": m.ttc, "lk": m.lk,
           "hc": 1.0 if m.hc.ok else 0.0, "ec": ec_value}
    unfiltered_score = aggregate_epdms(**raw, config=config)
    final = dict(raw)
    filtered: tuple[str, ...] = ()
    if baseline_human_zero is not None:
        filtered = tuple(k for k in baseline_human_zero if raw[k] != 1.0)
        for k in baseline_human_zero:
            final[k] = 1.0
    score = aggregate_epdms(**final, config=config)
    w = config.weights
    weighted = sum(w[k] * final[k] for k in w) / sum(w.values())
    dt = config.dt_s
    cats = data.actors.category if categories is None else categories
    return EPDMSResult(
        step_index=int(step_index), epdms=score, **final,
        multiplier=final["nc"] * final["dac"] * final["ddc"] * final["tlc"], weighted=float(weighted),
        human_filter=human_filter, filtered=filtered, unfiltered_epdms=unfiltered_score, unfiltered=raw,
        collision_actor=m.nc_actor, collision_category=str(cats[m.nc_actor]) if m.nc_actor >= 0 else "",
        collision_type=COLLISION_TYPE_NAMES.get(m.nc_type, "none") if m.nc_actor >= 0 else "none",
        collision_time_s=_time(m.nc_step, dt), off_road_time_s=_time(m.off_road_step, dt),
        red_light_time_s=_time(m.tlc_step, dt),
        oncoming_m=round(m.oncoming_m, 3), oncoming_time_s=_time(m.oncoming_step, dt),
        ttc_actor=m.ttc_actor, ttc_category=str(cats[m.ttc_actor]) if m.ttc_actor >= 0 else "",
        ttc_time_s=_time(m.ttc_step, dt), ttc_projection_s=_time(m.ttc_offset_steps, dt),
        lane_deviation_max_m=round(m.lane_deviation_max_m, 3), lane_keeping_time_s=_time(m.lk_step, dt),
        hc_failed=m.hc.failed, hc_time_s=round((m.hc.first_index - m.hc_offset) * dt, 3) if m.hc.failed else -1.0,
        hc_worst=(m.hc.worst[0], round(m.hc.worst[1], 3)), ec_applied=ec is not None,
        ec_failed=ec.failed if ec is not None else (),
        ec_worst=(ec.worst[0], round(ec.worst[1], 3)) if ec else ("", 0.0),
        progress_m=round(m.progress_m, 3), reference_progress_m=round(best, 3), states=states)

"""Pseudo-simulation: NAVSIM v2's two-stage score of a policy, as pure functions.

Source: "Pseudo-Simulation for Autonomous Driving" (Cao, Hallgarten, Li, Dauner et al., CoRL 2025,
arXiv:2506.04218) and NAVSIM v2's aggregation (autonomousvision/navsim:
navsim/planning/simulation/planner/pdm_planner/scoring/scene_aggregator.py and
navsim/planning/script/run_pdm_score.py). Our own implementation on our types.

One scored frame (log step k) is two groups, "now" (k) and "prev" (k - 0.5 s):

- stage one: the policy plans from the real observation at the frame and its plan is scored with
  EPDMS (`score_proposal` at the logged ego): S1.
- stage two: the policy plans again from each of N synthetic start states s_i 4 s after the frame
  (`sim.scoring.stage_two`: by default the 4 s states of a fixed family of plans rolled out from
  the frame); each plan is scored with EPDMS from its start state at step k + 40, HC seeing the
  history that led to the start (`StartGroup.history`): S2_i. The "prev" group's starts are the
  same rollouts' states at k + 35 (4 s after k - 5).
- traffic: in both stages the actors of each plan's rollout are reactive IDM vehicles (NAVSIM
  v2's two-stage default) or the log replayed (`sim.scoring.traffic`); the caller chooses.
- weights: w_i = exp(-||p_end - s_i||^2 / (2 sigma^2)) normalised over i, p_end the end (4 s) of
  the group's stage-one plan in the global frame, s_i the start's rear-axle position; sigma^2 =
  0.1 m^2 (NAVSIM's `sigma_squared`).
- group score = S1 * sum_i w_i S2_i; frame score = mean of the "now" and "prev" group scores
  (NAVSIM's `calculate_individual_mapping_scores`). A scenario's score is the mean over frames.
- EC of a pair (stage one now/prev, or a start's now/prev) is computed once between the two plans
  and given to both, as NAVSIM's `SceneAggregator` does.

Vanished weights. With sigma^2 = 0.1 m^2 a start 1.9 m from the plan's end has an unnormalised
weight of 1e-8 and one 40 m away underflows to 0. NAVSIM then silently uses uniform weights
(`np.isclose(weight_sum, 0)`). Here a group whose unnormalised weights sum to at most
`vanish_threshold` (so every one is below it) is flagged `weights_vanished`, counted in every
aggregate and listed as a warning; `on_vanished` picks what stage two then means, and no choice is
silent: "uniform" (NAVSIM's fallback, default), "nearest" (the exact normalised weights computed
in log space, which all but select the nearest start), or "nan" (no score for the frame;
aggregates skip it and say how many they skipped).

Everything here is pure (numbers in, numbers out); rendering, policies and files live in tools/.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from sim.errors import ConfigError
from sim.scoring.epdms import METRIC_NAMES, EPDMSConfig, EPDMSResult, aggregate_epdms

ON_VANISHED = ("uniform", "nearest", "nan")


@dataclass(frozen=True)
class PseudoSimConfig:
    """How stage-two scores are weighted and combined.

    - sigma_squared_m2: sigma^2 of the Gaussian kernel on the distance between a stage-one plan's
      end and a stage-two start, m^2 (NAVSIM: 0.1).
    - vanish_threshold: a group's weights have vanished when the sum of its unnormalised weights
      is at most this (NAVSIM falls back when np.isclose(sum, 0), i.e. sum <= 1e-8). With sigma^2
      = 0.1 that is every start farther than 1.92 m from the plan's end.
    - on_vanished: "uniform" | "nearest" | "nan" (see the module docstring). Always flagged.
    - average_previous: average the "now" group with the "prev" group (k - 0.5 s) as NAVSIM does;
      False scores the "now" group alone.
    """

    sigma_squared_m2: float = 0.1
    vanish_threshold: float = 1e-8
    on_vanished: str = "uniform"
    average_previous: bool = True

    def __post_init__(self):
        if not self.sigma_squared_m2 > 0.0:
            raise ConfigError(f"sigma_squared_m2 must be > 0, got {self.sigma_squared_m2}")
        if self.on_vanished not in ON_VANISHED:
            raise ConfigError(f"on_vanished must be one of {', '.join(ON_VANISHED)}, got {self.on_vanished!r}")
        if self.vanish_threshold < 0.0:
            raise ConfigError(f"vanish_threshold must be >= 0, got {self.vanish_threshold}")


@dataclass(frozen=True, eq=False)
class ProximityWeights:
    """The stage-two weights of one group. N starts.

    - weights: (N,) the weights used (sum 1, or all NaN under on_vanished="nan").
    - unnormalised: (N,) exp(-d^2 / (2 sigma^2)) (may underflow to 0).
    - squared_distance_m2: (N,) ||p_end - s_i||^2.
    - vanished: the unnormalised weights summed to at most the threshold.
    - mode: "gaussian" (normal case) or the on_vanished choice that replaced them.
    - nearest: index of the nearest start; nearest_distance_m: its distance.
    """

    weights: np.ndarray
    unnormalised: np.ndarray
    squared_distance_m2: np.ndarray
    vanished: bool
    mode: str
    nearest: int
    nearest_distance_m: float

    def to_json(self) -> dict:
        return {"weights": [_num(w) for w in self.weights], "unnormalised": [_num(w) for w in self.unnormalised],
                "distance_m": [round(math.sqrt(d), 4) for d in self.squared_distance_m2],
                "weights_vanished": self.vanished, "mode": self.mode, "nearest": self.nearest,
                "nearest_distance_m": round(self.nearest_distance_m, 4)}


def proximity_weights(endpoint_xy: np.ndarray, starts_xy: np.ndarray,
                      config: PseudoSimConfig = PseudoSimConfig()) -> ProximityWeights:
    """Gaussian proximity weights of N stage-two starts (N, 2) to a plan's end point (2,)."""
    starts = np.asarray(starts_xy, np.float64).reshape(-1, 2)
    end = np.asarray(endpoint_xy, np.float64).reshape(2)
    if len(starts) == 0:
        raise ConfigError("stage two has no start states to weight; configure at least one start")
    if not np.all(np.isfinite(end)):
        raise ConfigError(f"the stage-one plan's end point {end.tolist()} is not finite")
    d2 = np.sum((starts - end[None]) ** 2, axis=1)
    log_w = -d2 / (2.0 * config.sigma_squared_m2)
    raw = np.exp(log_w)
    total = float(raw.sum())
    nearest = int(np.argmin(d2))
    vanished = not total > config.vanish_threshold
    if not vanished:
        weights, mode = raw / total, "gaussian"
    elif config.on_vanished == "uniform":
        weights, mode = np.full(len(starts), 1.0 / len(starts)), "uniform"
    elif config.on_vanished == "nearest":
        shifted = np.exp(log_w - log_w.max())  # exact normalised weights, computed without underflow
        weights, mode = shifted / shifted.sum(), "nearest"
    else:
        weights, mode = np.full(len(starts), np.nan), "nan"
    return ProximityWeights(weights, raw, d2, vanished, mode, nearest, float(math.sqrt(d2[nearest])))


def weighted_stage_two(values: np.ndarray, weights: np.ndarray) -> np.ndarray | float:
    """sum_i w_i values_i: values (N,) or (N, M) (one column per sub-score)."""
    v = np.asarray(values, np.float64)
    w = np.asarray(weights, np.float64)
    out = np.tensordot(w, v, axes=(0, 0))
    return float(out) if np.ndim(out) == 0 else out


def group_score(stage_one: float, stage_two: np.ndarray, weights: np.ndarray) -> float:
    """One group's pseudo-simulation score: S1 * sum_i w_i S2_i."""
    return float(stage_one) * float(weighted_stage_two(stage_two, weights))


def frame_score(now: float, prev: float | None, config: PseudoSimConfig = PseudoSimConfig()) -> float:
    """The frame's score: the mean of its "now" and "prev" group scores (or "now" alone)."""
    if prev is None or not config.average_previous:
        return float(now)
    return 0.5 * (float(now) + float(prev))


def with_extended_comfort(result: EPDMSResult, ec: float, config: EPDMSConfig = EPDMSConfig()) -> EPDMSResult:
    """A result with EC replaced (NAVSIM gives a pair's two-frame comfort to both frames of the
    pair) and its score, weighted average and unfiltered score recomputed."""
    subs = {k: getattr(result, k) for k in METRIC_NAMES}
    subs["ec"] = float(ec)
    unfiltered = dict(result.unfiltered)
    unfiltered["ec"] = float(ec)
    w = config.weights
    weighted = sum(w[k] * subs[k] for k in w) / sum(w.values())
    return dataclasses.replace(result, ec=float(ec), epdms=aggregate_epdms(**subs, config=config),
                               weighted=float(weighted), unfiltered=unfiltered,
                               unfiltered_epdms=aggregate_epdms(**unfiltered, config=config))


# ---- one frame -------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class GroupScore:
    """One group ("now" or "prev") of a frame.

    - stage_one: S1 (EPDMS) and stage_one_subscores (name -> value).
    - stage_two: (N,) S2_i; stage_two_subscores: (N, 9) in METRIC_NAMES order.
    - weights: ProximityWeights; endpoint_xy: (2,) the stage-one plan's end (global);
      starts_xy: (N, 2) the stage-two starts' positions (global).
    - stage_two_weighted: sum_i w_i S2_i; stage_two_subscores_weighted: (9,).
    - score: S1 * stage_two_weighted (NaN when the weights vanished under on_vanished="nan").
    """

    stage_one: float
    stage_one_subscores: dict
    stage_two: np.ndarray
    stage_two_subscores: np.ndarray
    weights: ProximityWeights
    endpoint_xy: np.ndarray
    starts_xy: np.ndarray
    stage_two_weighted: float
    stage_two_subscores_weighted: np.ndarray
    score: float

    def to_json(self) -> dict:
        return {"score": _num(self.score), "stage_one_epdms": _num(self.stage_one),
                "stage_one_subscores": {k: _num(v) for k, v in self.stage_one_subscores.items()},
                "stage_two_epdms_weighted": _num(self.stage_two_weighted),
                "stage_two_subscores_weighted": {k: _num(v) for k, v in
                                                 zip(METRIC_NAMES, self.stage_two_subscores_weighted)},
                "stage_two_epdms": [_num(v) for v in self.stage_two],
                "endpoint_xy": [round(float(v), 4) for v in self.endpoint_xy], **self.weights.to_json()}


def score_group(stage_one: float, stage_one_subscores: dict, endpoint_xy: np.ndarray, starts_xy: np.ndarray,
                stage_two: Sequence[float], stage_two_subscores: np.ndarray | None = None,
                config: PseudoSimConfig = PseudoSimConfig()) -> GroupScore:
    """Weight and combine one group. stage_two: (N,) EPDMS of the plans from the N starts (N, 2);
    stage_two_subscores: (N, 9) their sub-scores in METRIC_NAMES order (optional)."""
    s2 = np.asarray(stage_two, np.float64).reshape(-1)
    starts = np.asarray(starts_xy, np.float64).reshape(-1, 2)
    if len(s2) != len(starts):
        raise ConfigError(f"{len(s2)} stage-two scores for {len(starts)} stage-two starts")
    subs = np.full((len(s2), len(METRIC_NAMES)), np.nan) if stage_two_subscores is None \
        else np.asarray(stage_two_subscores, np.float64).reshape(len(s2), len(METRIC_NAMES))
    w = proximity_weights(endpoint_xy, starts, config)
    s2w = weighted_stage_two(s2, w.weights)
    return GroupScore(float(stage_one), dict(stage_one_subscores), s2, subs, w, np.asarray(endpoint_xy, np.float64),
                      starts, s2w, np.asarray(weighted_stage_two(subs, w.weights)), float(stage_one) * s2w)


def score_group_results(stage_one: EPDMSResult, endpoint_xy: np.ndarray, starts_xy: np.ndarray,
                        stage_two: Sequence[EPDMSResult], config: PseudoSimConfig = PseudoSimConfig()) -> GroupScore:
    """`score_group` from EPDMSResults."""
    subscores = np.array([[getattr(r, k) for k in METRIC_NAMES] for r in stage_two]).reshape(-1, len(METRIC_NAMES))
    return score_group(stage_one.epdms, stage_one.subscores(), endpoint_xy, starts_xy, [r.epdms for r in stage_two],
                       subscores, config)


@dataclass(frozen=True, eq=False)
class FrameScore:
    """The pseudo-simulation score of one frame: its groups and the combination."""

    step_index: int
    now: GroupScore
    prev: GroupScore | None
    score: float

    @property
    def weights_vanished(self) -> bool:
        return self.now.weights.vanished or (self.prev is not None and self.prev.weights.vanished)

    @property
    def stage_one(self) -> float:
        """Open-loop EPDMS of the frame (the mean over its groups' stage-one scores)."""
        return float(np.mean([g.stage_one for g in self.groups]))

    @property
    def stage_two(self) -> float:
        return float(np.mean([g.stage_two_weighted for g in self.groups]))

    @property
    def groups(self) -> tuple[GroupScore, ...]:
        return (self.now,) if self.prev is None else (self.now, self.prev)

    def to_json(self) -> dict:
        return {"step": self.step_index, "score": _num(self.score), "weights_vanished": self.weights_vanished,
                "stage_one_epdms": _num(self.stage_one), "stage_two_epdms_weighted": _num(self.stage_two),
                "now": self.now.to_json(), "prev": self.prev.to_json() if self.prev is not None else None}


def combine_frame(step_index: int, now: GroupScore, prev: GroupScore | None,
                  config: PseudoSimConfig = PseudoSimConfig()) -> FrameScore:
    """A frame from its groups (prev ignored when config.average_previous is False)."""
    if not config.average_previous:
        prev = None
    score = frame_score(now.score, prev.score if prev is not None else None, config)
    return FrameScore(int(step_index), now, prev, score)


def rescore_frame(frame: FrameScore, config: PseudoSimConfig) -> FrameScore:
    """The same frame under another weighting (sigma, on_vanished): stage-two scores do not depend
    on the weighting, so sensitivity studies need no new plans."""
    groups = []
    for g in frame.groups:
        groups.append(score_group(g.stage_one, g.stage_one_subscores, g.endpoint_xy, g.starts_xy, g.stage_two,
                                  g.stage_two_subscores, config))
    return combine_frame(frame.step_index, groups[0], groups[1] if len(groups) > 1 else None, config)


# ---- aggregates --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PseudoSimAggregate:
    """Means over frames (see `aggregate_frames`); NaN and inf are None, values rounded to 6 digits.

    - frames; score: the pseudo-simulation score; stage_one_epdms (open-loop EPDMS);
      stage_two_epdms_weighted; stage_one_subscores, stage_two_subscores_weighted: name -> mean
      (None without frames, and per sub-score None without a finite value).
    - frames_weights_vanished, groups_weights_vanished, groups (None without frames),
      frames_without_score (on_vanished="nan"); share_groups_weights_vanished: their ratio.
    """

    frames: int
    score: float | None
    stage_one_epdms: float | None
    stage_two_epdms_weighted: float | None
    stage_one_subscores: dict[str, float | None] | None
    stage_two_subscores_weighted: dict[str, float | None] | None
    frames_weights_vanished: int
    groups_weights_vanished: int
    groups: int | None
    frames_without_score: int

    @property
    def share_groups_weights_vanished(self) -> float | None:
        """The share of groups whose stage-two weights vanished (None without groups)."""
        return round(self.groups_weights_vanished / self.groups, 6) if self.groups else None

    def to_json(self) -> dict:
        if self.frames == 0:
            return {"frames": 0, "score": None, "stage_one_epdms": None, "stage_two_epdms_weighted": None,
                    "frames_weights_vanished": 0, "groups_weights_vanished": 0,
                    "share_groups_weights_vanished": None, "frames_without_score": 0}
        return {"frames": self.frames, "score": self.score, "stage_one_epdms": self.stage_one_epdms,
                "stage_two_epdms_weighted": self.stage_two_epdms_weighted,
                "stage_one_subscores": dict(self.stage_one_subscores),
                "stage_two_subscores_weighted": dict(self.stage_two_subscores_weighted),
                "frames_weights_vanished": self.frames_weights_vanished,
                "groups_weights_vanished": self.groups_weights_vanished, "groups": self.groups,
                "share_groups_weights_vanished": self.share_groups_weights_vanished,
                "frames_without_score": self.frames_without_score}


def aggregate_frames(frames: Sequence[FrameScore]) -> PseudoSimAggregate:
    """Means over frames: the pseudo-simulation score, stage one (open-loop EPDMS), stage two
    (weighted), their sub-scores, and how many frames had vanished weights. Frames without a
    score (on_vanished="nan") are left out of the means and counted."""
    frames = list(frames)
    if not frames:
        return PseudoSimAggregate(frames=0, score=None, stage_one_epdms=None, stage_two_epdms_weighted=None,
                                  stage_one_subscores=None, stage_two_subscores_weighted=None,
                                  frames_weights_vanished=0, groups_weights_vanished=0, groups=None,
                                  frames_without_score=0)
    scored = [f for f in frames if np.isfinite(f.score)]
    groups = [g for f in frames for g in f.groups]
    s1_subs = {k: float(np.mean([g.stage_one_subscores[k] for g in groups])) for k in METRIC_NAMES}
    s2_rows = np.array([g.stage_two_subscores_weighted for f in scored for g in f.groups])
    s2_rows = s2_rows.reshape(-1, len(METRIC_NAMES))
    return PseudoSimAggregate(
        frames=len(frames),
        score=_num(float(np.mean([f.score for f in scored]))) if scored else None,
        stage_one_epdms=_num(float(np.mean([f.stage_one for f in frames]))),
        stage_two_epdms_weighted=_num(float(np.mean([f.stage_two for f in scored]))) if scored else None,
        stage_one_subscores={k: _num(v) for k, v in s1_subs.items()},
        stage_two_subscores_weighted={k: _num(float(np.nanmean(s2_rows[:, i]))) if len(s2_rows) and
                                      np.isfinite(s2_rows[:, i]).any() else None
                                      for i, k in enumerate(METRIC_NAMES)},
        frames_weights_vanished=sum(1 for f in frames if f.weights_vanished),
        groups_weights_vanished=sum(1 for g in groups if g.weights.vanished),
        groups=len(groups),
        frames_without_score=len(frames) - len(scored),
    )


def vanished_warnings(frames: Sequence[FrameScore], label: str, config: PseudoSimConfig = PseudoSimConfig(),
                      dt_s: float = 0.1) -> list[str]:
    """One warning line per group whose weights vanished."""
    what = {"uniform": "stage two used uniform weights (NAVSIM's fallback)",
            "nearest": "stage two used the exact log-space weights (all but the nearest start)",
            "nan": "the frame has no score"}[config.on_vanished]
    out = []
    for f in frames:
        for name, g in zip(("now", "prev"), f.groups):
            if g.weights.vanished:
                out.append(f"WARNING weights_vanished: {label}, frame step {f.step_index} ({name}, "
                           f"t={f.step_index * dt_s:.1f} s): "
                           f"the stage-one plan ended {g.weights.nearest_distance_m:.2f} m from the nearest stage-two "
                           f"start (unnormalised weights sum to {float(g.weights.unnormalised.sum()):.3g} <= "
                           f"{config.vanish_threshold:g}, sigma^2 = {config.sigma_squared_m2:g} m^2); {what}")
    return out


def _num(value) -> float | None:
    """A float for JSON (NaN and inf become None)."""
    v = float(value)
    return round(v, 6) if math.isfinite(v) else None


__all__ = ["PseudoSimConfig", "ProximityWeights", "PseudoSimAggregate",
           "GroupScore", "FrameScore", "proximity_weights", "weighted_stage_two",
           "group_score", "frame_score", "with_extended_comfort", "score_group", "score_group_results",
           "combine_frame", "rescore_frame", "aggregate_frames", "vanished_warnings", "ON_VANISHED"]

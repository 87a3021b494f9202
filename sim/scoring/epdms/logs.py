"""Scoring a whole log: a policy's proposal at every scorable frame (`score_log_frames`) and the
means over frames (`summarize`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from sim.policies.registry import make_policy
from sim.scoring.epdms.config import METRIC_NAMES, EPDMSConfig
from sim.scoring.epdms.data import ScoringData
from sim.scoring.epdms.proposals import human_proposal, policy_proposal
from sim.scoring.epdms.results import EPDMSResult
from sim.scoring.epdms.score import score_proposal
from sim.scoring.traffic import Traffic


def scorable_frames(data: ScoringData, config: EPDMSConfig = EPDMSConfig()) -> np.ndarray:
    """Frames with a logged ego and a full horizon of logged future (step + horizon still logged)."""
    sc = data.scenario
    valid = np.flatnonzero(sc.ego.valid)
    if len(valid) == 0:
        return np.zeros(0, np.int64)
    last = int(valid[-1])
    h = config.horizon_steps
    return np.array([k for k in valid if k + h <= last and sc.ego.valid[k:k + h + 1].all()], np.int64)


def score_log_frames(data: ScoringData, policy="expert", config: EPDMSConfig = EPDMSConfig(),
                     steps: Sequence[int] | None = None,
                     on_frame: Callable[[EPDMSResult], None] | None = None,
                     traffic: Traffic = Traffic.LOG_REPLAY) -> list[EPDMSResult]:
    """EPDMS of a policy's proposal at every scorable frame of the log (or at `steps`).

    policy: "expert" (the logged human's own 4 s future), a built-in policy name, or a Policy
    object. EC compares each proposal with the one made interval (0.5 s) earlier when that frame
    was scored too. traffic: the actors replay the log or react to each proposal's rollout."""
    frames = scorable_frames(data, config) if steps is None else np.asarray(list(steps), np.int64)
    expert = isinstance(policy, str) and policy == "expert"
    if isinstance(policy, str) and not expert:
        policy = make_policy(policy)
    if not expert:
        policy.reset(data.scenario)
    interval = int(round(config.comfort.ec_interval_s / config.dt_s))
    results: dict[int, EPDMSResult] = {}
    out = []
    for k in frames:
        k = int(k)
        if expert:
            xy, yaw = human_proposal(data, k, config)
        else:
            xy, yaw = policy_proposal(data, policy, k, config)
        result = score_proposal(data, k, xy, yaw, previous_proposal=results.get(k - interval), config=config,
                                traffic=traffic)
        results[k] = result
        out.append(result)
        if on_frame is not None:
            on_frame(result)
    return out


@dataclass(frozen=True)
class LogSummary:
    """Means over a log's scored frames (see `summarize`). With no frame, only frames (0) is set.

    - epdms_mean, unfiltered_epdms_mean: mean score with and without the human filter.
    - share_at_or_above, unfiltered_share_at_or_above: share of frames scoring >= threshold.
    - subscores_mean: name -> mean sub-score (METRIC_NAMES).
    - frames_filtered: frames where the human filter changed something; filtered_counts: name ->
      frames where it set that metric to 1; human_filter: the filter's state ("applied", ...).
    """

    frames: int
    epdms_mean: float | None = None
    unfiltered_epdms_mean: float | None = None
    share_at_or_above: float | None = None
    unfiltered_share_at_or_above: float | None = None
    threshold: float | None = None
    subscores_mean: dict[str, float] | None = None
    frames_filtered: int | None = None
    filtered_counts: dict[str, int] | None = None
    human_filter: str | None = None

    def to_json(self) -> dict:
        if self.frames == 0:
            return {"frames": 0}
        return {"frames": self.frames, "epdms_mean": self.epdms_mean,
                "unfiltered_epdms_mean": self.unfiltered_epdms_mean, "share_at_or_above": self.share_at_or_above,
                "unfiltered_share_at_or_above": self.unfiltered_share_at_or_above, "threshold": self.threshold,
                "subscores_mean": dict(self.subscores_mean), "frames_filtered": self.frames_filtered,
                "filtered_counts": dict(self.filtered_counts), "human_filter": self.human_filter}


def summarize(results: Sequence[EPDMSResult], threshold: float = 0.9) -> LogSummary:
    """Means of the score and sub-scores over frames, the share of frames at or above `threshold`,
    and how often the human filter changed something."""
    if not results:
        return LogSummary(frames=0)
    arr = {k: np.array([getattr(r, k) for r in results]) for k in ("epdms", "unfiltered_epdms") + METRIC_NAMES}
    return LogSummary(
        frames=len(results),
        epdms_mean=float(arr["epdms"].mean()),
        unfiltered_epdms_mean=float(arr["unfiltered_epdms"].mean()),
        share_at_or_above=float((arr["epdms"] >= threshold).mean()),
        unfiltered_share_at_or_above=float((arr["unfiltered_epdms"] >= threshold).mean()),
        threshold=threshold,
        subscores_mean={k: float(arr[k].mean()) for k in METRIC_NAMES},
        frames_filtered=int(sum(1 for r in results if r.filtered)),
        filtered_counts={k: int(sum(1 for r in results if k in r.filtered)) for k in METRIC_NAMES},
        human_filter=results[0].human_filter,
    )

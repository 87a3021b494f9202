"""Driving scores: NAVSIM v2's EPDMS of trajectory proposals, closed-loop episode scores
(EPDMS sub-metrics over the realised trajectory, NeuroNCAP, HUGSIM's HD-Score, a Bench2Drive-
style driving score) and episode files for reports.

- `sim.scoring.epdms`: `ScoringData.build(context)` once per scenario, then `score_proposal`,
  `score_log_frames`; `EPDMSConfig`, `EPDMSResult`.
- `sim.scoring.reference_planner`: the PDM-Closed-style reference of ego progress.
- `sim.scoring.comfort`: history and extended comfort.
- `sim.scoring.episode_scores`: `episode_scores(episode, data) -> EpisodeScores`.
- `sim.scoring.pseudo_sim`: NAVSIM v2's two-stage pseudo-simulation score.
- `sim.scoring.episode_io`: `save_episode` / `load_episode`.
"""

from sim.scoring.epdms import (
    EPDMSConfig,
    EPDMSResult,
    ScoringData,
    aggregate_epdms,
    score_log_frames,
    score_proposal,
    summarize,
)

__all__ = ["EPDMSConfig", "EPDMSResult", "ScoringData", "aggregate_epdms", "score_log_frames", "score_proposal",
           "summarize"]

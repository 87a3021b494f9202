"""The open-loop score of a policy on whole logs (`splatsim score --stage one`): NAVSIM's stage one
alone, the policy's 4 s proposal at every scorable frame of each log scored with EPDMS
(`sim.scoring.epdms.score_log_frames`), and the means over frames (`summarize`).

Policy "human" is the logged human's own trajectory (NAVSIM's human agent); any in-process
policy plans from the logged frame's observation (privileged ground truth, no cameras). Traffic
defaults to the log replayed, NAVSIM's one-stage default (navsim/planning/script/config/common/
default_common.yaml: `traffic_agents: non_reactive`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from evaluation.scenario_refs import ScenarioRef
from sim.engine import prepare
from sim.errors import ConfigError
from sim.policies.registry import is_policy_name, make_policy, policy_families, policy_names
from sim.scoring.epdms import EPDMSConfig, EPDMSResult, LogSummary, ScoringData, score_log_frames, summarize
from sim.scoring.traffic import Traffic

HUMAN = "human"
SHARE_THRESHOLD = 0.9


@dataclass(frozen=True)
class OpenLoopRun:
    """One policy's open-loop EPDMS: over every scored frame (`summary`) and per scene
    (`scenes`: scene name -> LogSummary), with the traffic the proposals met."""

    policy: str
    traffic: Traffic
    summary: LogSummary
    scenes: dict[str, LogSummary]

    def to_json(self) -> dict:
        s = self.summary
        return {"kind": "splatsim-open-loop", "version": 1, "stage": "one", "policy": self.policy,
                "traffic": self.traffic.value, "frames": s.frames, "epdms_mean": s.epdms_mean,
                "share_epdms_at_least_0_9": s.share_at_or_above, "unfiltered_epdms_mean": s.unfiltered_epdms_mean,
                "subscores_mean": s.subscores_mean, "human_filter": s.human_filter,
                "scenes": {name: summary.to_json() for name, summary in self.scenes.items()}}


def score_open_loop(refs: Sequence[ScenarioRef], policy: str = HUMAN, traffic: Traffic = Traffic.LOG_REPLAY,
                    config: EPDMSConfig = EPDMSConfig(), seed: int = 0) -> OpenLoopRun:
    """The open-loop EPDMS of `policy` ("human" or an in-process policy name) on every scorable
    frame of each scenario."""
    if policy != HUMAN and not is_policy_name(policy):
        raise ConfigError(f"stage one scores {HUMAN!r} (the logged trajectory) or an in-process policy "
                          f"({', '.join(policy_names() + policy_families())}), got {policy!r}; remote policies "
                          "need rendered cameras: use --stage both")
    everything: list[EPDMSResult] = []
    scenes = {}
    for ref in refs:
        data = ScoringData.build(prepare(ref.load()))
        planner = "expert" if policy == HUMAN else make_policy(policy, seed)
        results = score_log_frames(data, planner, config, traffic=traffic)
        scenes[ref.scene] = summarize(results, SHARE_THRESHOLD)
        everything += results
    return OpenLoopRun(policy, traffic, summarize(everything, SHARE_THRESHOLD), scenes)

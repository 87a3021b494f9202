"""EPDMS: NAVSIM v2's Extended Predictive Driver Model Score of a 4 s ego trajectory proposal.

Definition: "Pseudo-Simulation for Autonomous Driving" (Cao, Hallgarten, Li, Dauner, Jia, Li,
Chitta et al., CoRL 2025, arXiv:2506.04218) and NAVSIM v2's scorer
(autonomousvision/navsim: navsim/planning/simulation/planner/pdm_planner/scoring/pdm_scorer.py,
pdm_comfort_metrics.py, scene_aggregator.py, navsim/evaluate/pdm_score.py); NAVSIM v1's PDMS is
in "NAVSIM: Data-Driven Non-Reactive Autonomous Vehicle Simulation and Benchmarking" (Dauner et
al., NeurIPS 2024, arXiv:2406.15349). This is our own implementation on the engine's types.

    EPDMS = NC * DAC * DDC * TLC * (5 EP + 5 TTC + 2 LK + 2 HC + 2 EC) / 16

A proposal (40 poses at 0.1 .. 4.0 s in the ego frame) is tracked from the ego state by the
engine's tracker and kinematic bicycle (`sim.dynamics.tracker.rollout`, 40 steps, like NAVSIM's LQR +
bicycle), giving 41 states (t = 0 .. 4 s). The logged actors are where the log has them at each
of those steps (non-reactive), or, with `traffic=Traffic.REACTIVE`, the vehicles follow the
closed loop's IDM against the ego's simulated states (`sim.scoring.traffic`, NAVSIM v2's
reactive agents). Then, over the 41 states:

- NC, no at-fault collision, {0, 0.5, 1}: the first contact with each actor is classified with
  NAVSIM's rules (ego stopped -> not at fault; actor stopped (static objects always) -> at fault;
  actor behind the ego (> 150 deg from its heading) -> not at fault; front bumper contact -> at
  fault; lateral -> at fault only when the ego straddles lanes or is off the drivable area). An
  at-fault contact with a vehicle, pedestrian or cyclist gives 0, with a static object 0.5.
  Actors of a not-at-fault contact are ignored from then on.
- DAC, drivable area compliance, {0, 1}: 0 when any footprint corner leaves the drivable area.
- DDC, driving direction compliance, {0, 0.5, 1}: the box centre's travel while it is in no lane
  of the route's direction and not in an intersection, summed over every 1 s window; max < 2 m
  -> 1, < 6 m -> 0.5, else 0.
- TLC, traffic light compliance, {0, 1}: 1, as NAVSIM scores maps without signal states (ours,
  nuScenes map expansion and the AV2 logs, carry none). Stop lines are inferred from where the
  logged ego waited at a junction entry with nothing ahead of it (`sim.scoring.stop_controls`,
  as nuPlan infers its light states from the logged traffic); the reference planner always
  stops at them, and with EPDMSConfig.stop_controls.score_red_lines TLC is 0 when the front
  bumper crosses one while it is red. That is off by default because policies do not observe
  the inferred lines.
- EP, ego progress, [0, 1]: progress of the box centre along the route centerline (raw, without
  the proposal's multipliers), divided by the larger of the proposal's and the reference's
  progress times their multiplier products, clipped to 1. The reference is the proposal
  PDM-Closed picks among IDM proposals at 5 target speeds and 3 lateral offsets
  (`sim.scoring.reference_planner`) by its own PDM score, multipliers * (5 EP + 5 TTC + 2 LK +
  2 HC) / 14 with HC = 1, on its constant-velocity forecast of the actors, stopping before the
  stop lines red at the frame; that choice is then scored against the logged actors like any
  proposal, so a reference that collides, leaves the road, drives against the traffic or runs a
  red line there adds nothing. EP is 1 when the larger value is at most 5 m.
- TTC, time to collision within bound, {0, 1}: at each state t = 0 .. 3.1 s the ego box is moved
  on at its current velocity for 0, 0.3, 0.6 and 0.9 s and tested against the actors at those
  future steps; a hit is the ego's (0) when the actor is ahead (< 30 deg off the heading), or the
  ego straddles lanes / is off-road / is in an intersection and the actor is not behind.
- LK, lane keeping, {0, 1}: 0 when the box centre is more than 0.5 m from the route centerline
  for 2 s in a row, steps in intersections neither counting nor resetting the run.
- HC, history comfort, {0, 1}: the past 1.5 s of the log followed by the 41 states pass nuPlan's
  six comfort bounds on Savitzky-Golay filtered signals (`sim.scoring.comfort`).
- EC, extended comfort, {0, 1}: RMS differences of acceleration, jerk, yaw rate and yaw
  acceleration between this proposal's states and the previous proposal's (0.5 s earlier) on
  their overlap. 1 when there is no previous proposal.

Human filter (NAVSIM v2 `human_penalty_filter`, on by default): the logged human's own future is
scored the same way, alone (so its EP is always 1 and EP is never filtered), and without history
(as NAVSIM passes none for it, its HC is never 0); every metric the human scores 0 on is set to 1
for the proposal. EC is never filtered. The filter needs the logged human at the frame, so it
applies only when the ego state is the logged one.

Modelling choices where our data differ from NAVSIM's (each is a named constant):
- The engine's tracker treats a plan's end as "stop there"; a proposal is handed to it continued
  for TRACKER_TAIL_S with its final speed trend and turn rate, and only the 4 s are simulated.
- The logged ego carries poses only; its speed, acceleration and yaw rate (the initial state of
  every rollout and the 1.5 s of comfort history) are Savitzky-Golay derivatives of the poses
  (LOG_DERIVATIVE_WINDOW), NAVSIM's logs carrying filtered vehicle states instead.
- The human's trajectory is taken at every logged pose (EPDMSConfig.human_pose_interval_s).

Map approximations (ours, documented): lanes are given by centerlines and a mean width, so a
lane's area is the set of points within half its width of the centerline, capped flat at the
lane's ends; "intersection" is a lane connector's area; "route direction" lanes are the route's
lanes plus any lane whose local heading is within 45 deg of the route's heading (NAVSIM uses the
lanes of the route's roadblocks, which include same-direction neighbours). The route centerline
is extended straight by 30 m backwards and 100 m forwards so that progress is never clipped by
its e

The package, one module per concern: `config` (EPDMSConfig, the aggregate), `data` (ScoringData,
built once per context by the caller), `kernels` (compiled checks) and `reference` (their shapely
reference), `window` (the sub-metrics of a window of states), `proposals` (proposals to states),
`baseline` (the reference planner's choice and the human filter of a frame), `results`
(EPDMSResult), `score` (score_proposal) and `logs` (whole logs).
"""


from sim.scoring.epdms.baseline import (
    FrameBaseline,
    frame_baseline,
    reference_baseline,
)
from sim.scoring.epdms.config import (
    METRIC_NAMES,
    MULTIPLIER_NAMES,
    EPDMSConfig,
    aggregate_epdms,
)
from sim.scoring.epdms.data import (
    ScoringData,
    actor_futures,
    actors_window,
    log_history,
    logged_ego_state,
    stop_controls,
)
from sim.scoring.epdms.logs import (
    LogSummary,
    scorable_frames,
    score_log_frames,
    summarize,
)
from sim.scoring.epdms.proposals import (
    action_to_proposal,
    human_proposal,
    policy_proposal,
    proposal_states,
)
from sim.scoring.epdms.results import (
    COLLISION_TYPE_NAMES,
    EPDMSResult,
    assemble_result,
)
from sim.scoring.epdms.score import (
    score_proposal,
)
from sim.scoring.epdms.window import (
    WindowMetrics,
    evaluate_window,
)

__all__ = [
    "COLLISION_TYPE_NAMES",
    "EPDMSConfig",
    "EPDMSResult",
    "FrameBaseline",
    "LogSummary",
    "METRIC_NAMES",
    "MULTIPLIER_NAMES",
    "ScoringData",
    "WindowMetrics",
    "action_to_proposal",
    "actor_futures",
    "actors_window",
    "aggregate_epdms",
    "assemble_result",
    "evaluate_window",
    "frame_baseline",
    "human_proposal",
    "log_history",
    "logged_ego_state",
    "policy_proposal",
    "proposal_states",
    "reference_baseline",
    "scorable_frames",
    "score_log_frames",
    "score_proposal",
    "stop_controls",
    "summarize",
]

"""Adversary outcomes: collisions between non-ego actors follow the at-fault rule."""

from __future__ import annotations

from scenarios.adversary.realism import adversary_outcome
from scenarios.synthetic import ActorSpec, straight_road_scenario
from sim.engine import EngineConfig, prepare, run_episode
from sim.policies.registry import make_policy


def test_nonego_collisions_follow_the_at_fault_rule():
    # Actor 0 stands in the lane; actor 1 replays its log straight into it from behind.
    sc = straight_road_scenario(num_steps=40, ego_lane=-2, ego_start_x_m=300.0,
                                actors=(ActorSpec(x_m=60.0, lane=0), ActorSpec(x_m=30.0, lane=0, speed_mps=12.0)))
    episode = run_episode(prepare(sc, EngineConfig(max_steps=39)), make_policy("expert"))
    struck, striker = adversary_outcome(sc, episode, 0), adversary_outcome(sc, episode, 1)
    assert struck.nonego_collision and struck.nonego_struck_from_behind and not struck.nonego_at_fault
    assert striker.nonego_collision and striker.nonego_actor == 0 and striker.nonego_at_fault

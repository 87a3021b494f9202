"""Closed-loop episode scores (EPDMS over the realised trajectory, NeuroNCAP, HUGSIM HD-Score,
Bench2Drive-style driving score)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scenarios.synthetic import ActorSpec, straight_road_scenario
from sim.engine import EngineConfig, prepare, run_episode
from sim.policies.builtin import ConstantVelocityPolicy, ExpertPolicy
from sim.scoring.epdms import ScoringData
from sim.scoring.episode_scores import EpisodeScoreConfig, bench2drive_score, episode_scores, neuroncap_score
from sim.types.scenario import ActorKind
from sim.types.state import ControlAction
from tests.conftest import real_dataroot_params


class StandStill:
    name = "stand-still"

    def reset(self, scenario):
        pass

    def plan(self, observation):
        return ControlAction(-8.0, 0.0)


def slowing_log(n=80, v0=10.0, v1=5.0, start=5, decel_per_step=0.3):
    v = np.full(n, v0)
    for k in range(start, n):
        v[k] = max(v[k - 1] - decel_per_step, v1)
    return v


def crash_episode(kind=ActorKind.VEHICLE, category="vehicle.car", size=(1.9, 4.6, 1.6)):
    """The log slows from 10 to 5 m/s and drives into an object standing 40 m ahead."""
    obstacle = ActorSpec(x_m=60.0, lane=0, speed_mps=0.0, kind=kind, category=category, size_wlh_m=size)
    sc = straight_road_scenario(num_steps=80, ego_speed_mps=slowing_log(), actors=(obstacle,))
    ctx = prepare(sc, EngineConfig(stop_at_route_end=False))
    return run_episode(ctx, ExpertPolicy()), ctx


@pytest.fixture(scope="module")
def clean():
    ctx = prepare(straight_road_scenario(num_steps=80, ego_speed_mps=10.0))
    return run_episode(ctx, ExpertPolicy()), ctx


def test_expert_on_a_clean_road(clean):
    episode, ctx = clean
    s = episode_scores(episode, ScoringData.build(ctx))
    json.dumps(s.to_json(), allow_nan=False)
    assert s.frames >= 6 and s.frame_stride_s == 0.5
    # Until the log's end comes into view the realised 4 s are smooth and on the lane; the expert
    # then brakes to a stop where the log ends (HC fails on those last windows).
    early = [e for t, e in zip(s.per_step.t_s, s.per_step.epdms) if t + 4.0 < 7.0]
    assert len(early) >= 5 and min(early) > 0.9
    assert s.epdms_mean > 0.75
    assert s.subscores_mean["nc"] == s.subscores_mean["dac"] == s.subscores_mean["ddc"] == 1.0
    assert s.at_fault_collisions == 0 and s.neuroncap.score == 5.0
    rc = s.route_completion
    assert rc > 0.9
    assert s.hugsim.hd_score == pytest.approx(s.hugsim.pdms_mean * rc, abs=1e-3)
    assert s.bench2drive.driving_score == pytest.approx(rc, abs=1e-3)
    per = s.per_step
    assert len(per.t_s) == len(per.epdms) == s.frames and per.t_s[1] - per.t_s[0] == pytest.approx(0.5)


def test_rear_ending_a_stopped_car_in_closed_loop():
    episode, ctx = crash_episode()
    s = episode_scores(episode, ScoringData.build(ctx))
    assert s.at_fault_collisions == 1 and s.collisions[0].category == "vehicle.car"
    assert s.collisions[0].collision_type == "stopped object"
    ncap = s.neuroncap
    assert ncap.collided and 4.0 < ncap.impact_speed_mps < 6.5
    assert ncap.reference == "no-action rollout" and ncap.reference_impact_speed_mps == pytest.approx(10.0, abs=0.2)
    assert ncap.score == pytest.approx(4 * (1 - ncap.impact_speed_mps / ncap.reference_impact_speed_mps), abs=1e-3)
    assert 0.5 < ncap.score < 3.0
    b2d = s.bench2drive
    assert b2d.infraction_penalty == pytest.approx(0.6)
    assert b2d.driving_score == pytest.approx(0.6 * b2d.route_completion, abs=1e-3)
    assert min(s.per_step.nc) == 0.0
    sentences = [e.sentence for e in s.events]
    assert any(t.startswith("NC=0 at t=") and "vehicle.car (stopped object)" in t for t in sentences)
    worst = s.worst_frames[0]
    assert worst.epdms == 0.0 and worst.snapshot_index >= worst.index


@pytest.mark.parametrize("kind, category, size, penalty", [
    (ActorKind.PEDESTRIAN, "human.pedestrian.adult", (0.7, 0.7, 1.8), 0.5),
    (ActorKind.STATIC, "movable_object.barrier", (0.5, 2.0, 1.0), 0.65),
])
def test_bench2drive_penalties_by_what_was_hit(kind, category, size, penalty):
    episode, ctx = crash_episode(kind, category, size)
    b2d = bench2drive_score(episode, ctx)
    assert b2d.infraction_penalty == pytest.approx(penalty)
    assert b2d.infractions[0].event.category == category


def test_standing_still_completes_nothing():
    log_speed = np.minimum(np.arange(60) * 0.3, 10.0)  # the log pulls away from a standstill
    ctx = prepare(straight_road_scenario(num_steps=60, ego_speed_mps=log_speed))
    s = episode_scores(run_episode(ctx, StandStill()), ScoringData.build(ctx))
    assert s.route_completion == 0.0
    assert s.hugsim.hd_score == 0.0 and s.bench2drive.driving_score == 0.0
    assert s.subscores_mean["ep"] < 0.5
    assert s.subscores_mean["ec"] == 1.0  # controls, not plans: EC has nothing to compare


def test_constant_velocity_plans_give_extended_comfort(clean):
    _, ctx = clean
    episode = run_episode(ctx, ConstantVelocityPolicy())
    s = episode_scores(episode, ScoringData.build(ctx), EpisodeScoreConfig(with_progress=False))
    assert s.progress_computed is False and s.subscores_mean["ec"] == 1.0
    assert neuroncap_score(episode, ctx).score == 5.0


@pytest.mark.parametrize("dataroot", real_dataroot_params())
def test_episode_scores_on_a_real_log(dataroot):
    from scenarios.nuscenes import list_scenes, load_scenario

    ctx = prepare(load_scenario(dataroot, list_scenes(dataroot)[0].name), EngineConfig(max_steps=80))
    s = episode_scores(run_episode(ctx, ExpertPolicy()), ScoringData.build(ctx))
    json.dumps(s.to_json(), allow_nan=False)
    assert s.frames >= 8 and 0.0 <= s.epdms_mean <= 1.0
    assert s.subscores_mean["nc"] == 1.0 and s.subscores_mean["dac"] == 1.0
    assert s.neuroncap.score == 5.0 and s.bench2drive.infraction_penalty == 1.0

"""The adversary model: unicycle rollout, features, training determinism, guidance, the
collision-type control and the checkpoint."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import shapely.affinity
import torch

from scenarios.adversary.dynamics import (
    ControlLimits,
    unicycle_rollout,
    unicycle_rollout_np,
)
from scenarios.adversary.features import (
    FUTURE_STEPS,
    actor_features,
    constant_velocity_futures,
)
from scenarios.adversary.model import DEFAULT_CHECKPOINT, load_checkpoint
from scenarios.adversary.planner import (
    AdversaryPlanner,
    PlannerConfig,
    plan_local,
    torch_threads,
)
from scenarios.adversary.realism import adversary_outcome
from scenarios.generate import adversarial_start, run_adversary_episode
from scenarios.synthetic import ActorSpec, straight_road_scenario
from sim.engine import EngineConfig, prepare, run_episode
from sim.errors import ConfigError
from sim.geometry import wrap_angle
from sim.policies.registry import make_policy


@pytest.fixture(scope="module")
def model():
    return load_checkpoint()


# ---- dynamics -------------------------------------------------------------------------------------


def test_unicycle_constant_yaw_rate_traces_an_exact_circle():
    v, radius = 10.0, 20.0
    w = v / radius
    steps = 40
    controls = np.zeros((steps, 2))
    controls[:, 1] = w
    out = unicycle_rollout_np(np.array([0.0, 0.0, 0.0, v]), controls, limits=None)
    t = 0.1 * np.arange(1, steps + 1)
    # Starting at the origin heading +x, turning left about (0, radius).
    np.testing.assert_allclose(out[:, 0], radius * np.sin(w * t), atol=1e-9)
    np.testing.assert_allclose(out[:, 1], radius * (1 - np.cos(w * t)), atol=1e-9)
    np.testing.assert_allclose(out[:, 2], w * t, atol=1e-12)
    np.testing.assert_allclose(out[:, 3], v)


def test_unicycle_constant_acceleration_and_braking_to_a_stop():
    controls = np.zeros((30, 2))
    controls[:, 0] = 2.0
    out = unicycle_rollout_np(np.array([5.0, -3.0, math.pi / 2, 4.0]), controls)
    t = 3.0
    assert out[-1, 3] == pytest.approx(4.0 + 2.0 * t)
    assert out[-1, 1] == pytest.approx(-3.0 + 4.0 * t + 0.5 * 2.0 * t * t)  # heading +y
    assert out[-1, 0] == pytest.approx(5.0, abs=1e-9)
    # Braking at 5 m/s^2 from 2 m/s stops after 0.4 s and never reverses.
    brake = np.zeros((10, 2))
    brake[:, 0] = -5.0
    out = unicycle_rollout_np(np.array([0.0, 0.0, 0.0, 2.0]), brake)
    np.testing.assert_allclose(out[:4, 3], [1.5, 1.0, 0.5, 0.0], atol=1e-12)
    assert np.all(np.abs(out[4:, 3]) < 1e-12) and np.all(np.diff(out[:, 0]) >= 0.0)
    assert out[-1, 0] == pytest.approx(0.4, abs=1e-9)  # 2^2 / (2 * 5)


def test_unicycle_clips_controls_and_is_differentiable():
    limits = ControlLimits()
    u = torch.tensor([[[20.0, 5.0]] * 10], dtype=torch.float64, requires_grad=True)
    out = unicycle_rollout(torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=torch.float64), u, limits=limits)
    assert out.shape == (1, 10, 4)
    assert out[0, 0, 3].item() == pytest.approx(1.0 + 0.1 * limits.max_accel_mps2)
    assert out[0, -1, 2].item() == pytest.approx(1.0 * limits.max_yaw_rate_radps)
    u2 = torch.zeros((3, 10, 2), dtype=torch.float64, requires_grad=True)
    unicycle_rollout(torch.tensor([0.0, 0.0, 0.0, 5.0], dtype=torch.float64), u2)[..., :2].sum().backward()
    assert torch.isfinite(u2.grad).all() and u2.grad.abs().sum() > 0


# ---- features and training --------------------------------------------------------------------------


def test_features_are_invariant_to_the_global_frame():
    # A road length that is no multiple of the 2 m chunk spacing: resampling is then robust to
    # the rounding of rotated coordinates.
    sc = straight_road_scenario(num_steps=60, road_length_m=401.3, actors=(
        ActorSpec(x_m=10.0, lane=0, speed_mps=8.0), ActorSpec(x_m=60.0, lane=-1, speed_mps=6.0)))
    a = sc.actors

    def feats(shift, yaw):
        c, s = math.cos(yaw), math.sin(yaw)
        rot = lambda p: p @ np.array([[c, s], [-s, c]]) + shift
        area = shapely.affinity.affine_transform(sc.map.drivable_area, [c, -s, s, c, shift[0], shift[1]])
        road = dataclasses.replace(sc.map, drivable_area=area,
                                   lanes=dataclasses.replace(sc.map.lanes, centerline_xy=rot(sc.map.lanes.centerline_xy)))
        k = 10
        return actor_features(road, rot(a.xy[0, k]), a.yaw_rad[0, k] + yaw, rot(a.xy[0, k - 9:k + 1]),
                              a.yaw_rad[0, k - 9:k + 1] + yaw, np.ones(10, bool), 8.0, (4.6, 1.9),
                              rot(sc.ego.xy[k]), yaw, 10.0, rot(a.xy[1:, k]), a.yaw_rad[1:, k] + yaw,
                              a.velocity_xy_mps[1:, k] @ np.array([[c, s], [-s, c]]), np.array([[4.6, 1.9]]),
                              rot(sc.ego.xy[k + 1:k + 41]), rot(a.xy[1:, k + 1:k + 41]), a.valid[1:, k + 1:k + 41])

    f0, f1 = feats(np.zeros(2), 0.0), feats(np.array([-500.0, 1234.5]), 2.3)
    for key in ("hist", "scalars", "neigh"):
        np.testing.assert_allclose(f0[key], f1[key], atol=2e-4, err_msg=key)
    np.testing.assert_allclose(f0["road"], f1["road"], atol=0.1)  # a 0.25 m raster, rotated
    # Lane chunks at equal distances may come in another order; the encoder pools over them.
    canon = lambda lanes: np.array(sorted(map(tuple, np.round(lanes.reshape(len(lanes), -1), 3))))
    np.testing.assert_allclose(canon(f0["lanes"]), canon(f1["lanes"]), atol=2e-3)
    assert f0["neigh"][0, -2] == 1.0  # slot 0 is the ego


def test_constant_velocity_futures_match_a_constant_speed_log():
    # Actors at constant speed along a straight lane: their logged futures are the forecast.
    sc = straight_road_scenario(num_steps=60, actors=(ActorSpec(x_m=10.0, lane=0, speed_mps=8.0),
                                                      ActorSpec(x_m=40.0, lane=-1, speed_mps=6.0)))
    a, k = sc.actors, 10
    f = actor_features(sc.map, a.xy[0, k], a.yaw_rad[0, k], a.xy[0, k - 9:k + 1], a.yaw_rad[0, k - 9:k + 1],
                       np.ones(10, bool), 8.0, (4.6, 1.9), sc.ego.xy[k] + 200.0, 0.0, 10.0, a.xy[1:, k],
                       a.yaw_rad[1:, k], a.velocity_xy_mps[1:, k], np.array([[4.6, 1.9]]),
                       sc.ego.xy[k + 1:k + 41] + 200.0, a.xy[1:, k + 1:k + 41], a.valid[1:, k + 1:k + 41])
    logged = torch.from_numpy(f["neigh"])
    assert logged[0, -1] == 0.0 and logged[1, -1] == 1.0  # the ego is out of range; one neighbour
    np.testing.assert_allclose(constant_velocity_futures(logged).numpy(), logged.numpy(), atol=1e-5)


def test_overlap_penalty_counts_overlaps_only():
    from scenarios.adversary.diffusion import overlap_penalty
    from scenarios.adversary.features import NEIGH_DIM, NUM_NEIGHBOURS

    def penalty(gap_m: float) -> float:
        # A standing car and, gap_m ahead of its front bumper, another one standing in its lane.
        neigh = torch.zeros(1, NUM_NEIGHBOURS, NEIGH_DIM)
        neigh[0, 1, :8] = torch.tensor([(4.6 + gap_m) / 30.0, 0.0, 1.0, 0.0, 0.0, 0.0, 4.6 / 5.0, 1.9 / 2.5])
        neigh[0, 1, -1] = 1.0
        plan = torch.zeros(1, FUTURE_STEPS, 4)
        return float(overlap_penalty(plan, torch.tensor([[4.6, 1.9]]), constant_velocity_futures(neigh)))

    assert penalty(-1.0) > penalty(-0.5) > 0.0
    assert penalty(0.3) == 0.0 and penalty(3.0) == 0.0  # logged gaps cost nothing


def test_training_is_deterministic_for_a_seed(tmp_path):
    from scenarios.adversary.data import SampleConfig
    from scenarios.adversary.model import ModelConfig
    from scenarios.adversary.train import LoadedScene, TrainConfig, train_adversary

    specs = tuple(ActorSpec(x_m=float(x), lane=lane, speed_mps=float(v))
                  for x, lane, v in [(0, 0, 8), (30, 1, 10), (90, -1, 9), (150, -2, 7), (60, 0, 6)])
    scenes = [LoadedScene(f"synthetic/road-{i}", "synthetic", straight_road_scenario(num_steps=70, actors=specs[i:] + specs[:i],
                                                                                     name=f"road-{i}")) for i in range(3)]
    cfg = TrainConfig(iterations=4, batch_size=16, eval_every=2, threads=1, seed=3,
                      model=ModelConfig(hidden=32, blocks=1, context=32, enc=16),
                      samples=SampleConfig(fit_iterations=10, stride_steps=4))
    _, r1 = train_adversary(cfg, tmp_path / "a.pt", progress=False, scenes=scenes)
    # The window cache changes nothing: once written (b), once read back (c).
    cached = dataclasses.replace(cfg, cache_dir=str(tmp_path / "cache"))
    _, r2 = train_adversary(cached, tmp_path / "b.pt", progress=False, scenes=scenes)
    assert len(list((tmp_path / "cache").glob("*.npz"))) == len(scenes)
    _, r3 = train_adversary(cached, tmp_path / "c.pt", progress=False, scenes=scenes)
    # An unreadable cache file is extracted afresh and replaced.
    broken = sorted((tmp_path / "cache").glob("*.npz"))[0]
    broken.write_bytes(broken.read_bytes()[:100])
    train_adversary(cached, tmp_path / "d.pt", progress=False, scenes=scenes)
    assert broken.stat().st_size > 100
    s1, s2, s3, s4 = (torch.load(tmp_path / f"{n}.pt", weights_only=True)["state_dict"] for n in "abcd")
    assert all(torch.equal(s1[k], s2[k]) and torch.equal(s1[k], s3[k]) and torch.equal(s1[k], s4[k]) for k in s1)
    assert r1["history"] == r2["history"] == r3["history"]
    assert len(r1["heldout_scenes"]) == 1 and r1["heldout_scenes"][0] not in r1["train_scenes"]  # split by scene
    assert (tmp_path / "a.loss.png").stat().st_size > 1000 and (tmp_path / "a.train.json").is_file()
    assert not list(tmp_path.glob(".*.tmp"))


def test_shipped_checkpoint_is_small_and_describes_its_training(model):
    assert DEFAULT_CHECKPOINT.stat().st_size < 5_000_000
    meta = model.metadata
    assert meta["heldout_scenes"] and meta["train_scenes"] and not set(meta["heldout_scenes"]) & set(meta["train_scenes"])
    assert model.denoiser.config.future_steps == FUTURE_STEPS


def test_bad_checkpoint_names_the_file(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="bad.pt"):
        load_checkpoint(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


# ---- guidance and control ------------------------------------------------------------------------


def _follower_road():
    """The ego at 10 m/s in lane 0; a car 14 m behind it in the same lane at 10 m/s; an
    oncoming car 70 m ahead in the opposite lane."""
    specs = (ActorSpec(x_m=6.0 + 1.4, lane=0, speed_mps=10.0), ActorSpec(x_m=110.0, lane=-1, speed_mps=9.0))
    return straight_road_scenario(num_steps=90, ego_speed_mps=10.0, ego_start_x_m=20.0, actors=specs)


def test_guidance_lowers_its_cost(model):
    sc = _follower_road()
    ctx = prepare(sc, EngineConfig(start_step=10, max_steps=60))
    state = adversarial_start(ctx, 0)
    costs = {}
    for guided in (False, True):
        cfg = PlannerConfig(collision_type="any", num_samples=8, guided=guided, seed=0, fallback_samples=0)
        inputs = AdversaryPlanner(model, cfg).inputs(ctx, state, 0)
        # The same generator seed: both start from the same noise.
        with torch_threads(1):
            _, _, terms, _ = plan_local(model, cfg, inputs, torch.Generator().manual_seed(5), return_all=True)
        costs[guided] = terms["adversarial"]
    # The distance to the ego at the closest approach falls, for the batch and its best sample.
    # Without a proposal the guidance works against a prior that keeps clear of the ego's
    # future (the model sees it and was trained not to overlap its neighbours), so not every
    # sample gets there; the best one does.
    assert float(costs[True].mean()) < 0.75 * float(costs[False].mean())
    assert float(costs[True].min()) < 0.2 * float(costs[False].min())


@pytest.mark.parametrize("collision_type, actor", [("rear-end", 0), ("head-on", 1)])
def test_collision_type_sets_the_geometry(model, collision_type, actor):
    sc = _follower_road()
    from scenarios.adversary.selection import Candidate

    cand = Candidate(actor, 10, collision_type, 0.0, 0.0, 0.0, 0.0, 0.0)
    cfg = PlannerConfig(collision_type=collision_type, seed=1)
    episode, _ = run_adversary_episode(sc, model, cand, cfg, "expert", 60)
    out = adversary_outcome(sc, episode, actor)
    assert out.critical and out.realistic, out.to_dict()
    k = out.critical_index
    rel_yaw = abs(float(wrap_angle(episode.actor_yaw_rad[k, actor] - episode.ego_yaw_rad[k])))
    ahead = (episode.actor_xy[k, actor] - episode.ego_xy[k]) @ np.array([np.cos(episode.ego_yaw_rad[k]),
                                                                        np.sin(episode.ego_yaw_rad[k])])
    if collision_type == "rear-end":
        assert rel_yaw < 0.35 and ahead < 0.0  # from behind, same direction
    else:
        assert rel_yaw > math.pi / 2 and ahead > 0.0  # in front, against the ego


def test_warm_start_revises_the_previous_plan(model):
    sc = _follower_road()
    ctx = prepare(sc, EngineConfig(start_step=10, max_steps=60))
    state = adversarial_start(ctx, 0)
    cfg = PlannerConfig(guided=False, num_samples=1, warm_start=0.05)
    inputs = AdversaryPlanner(model, cfg).inputs(ctx, state, 0)
    previous = np.zeros((FUTURE_STEPS, 2))
    previous[:, 0] = -2.0  # braking, which a car following at the ego's speed would not sample
    with torch_threads(1):
        _, warm = plan_local(model, cfg, inputs, torch.Generator().manual_seed(0), previous)
        _, cold = plan_local(model, dataclasses.replace(cfg, warm_start=0.0), inputs,
                             torch.Generator().manual_seed(0), previous)
    assert np.abs(warm - previous).mean() < 0.25 * np.abs(cold - previous).mean()
    with pytest.raises(ConfigError, match="warm_start"):
        PlannerConfig(warm_start=1.5)


def test_nonego_collisions_follow_the_at_fault_rule():
    # Actor 0 stands in the lane; actor 1 replays its log straight into it from behind.
    sc = straight_road_scenario(num_steps=40, ego_lane=-2, ego_start_x_m=300.0,
                                actors=(ActorSpec(x_m=60.0, lane=0), ActorSpec(x_m=30.0, lane=0, speed_mps=12.0)))
    episode = run_episode(prepare(sc, EngineConfig(max_steps=39)), make_policy("expert"))
    struck, striker = adversary_outcome(sc, episode, 0), adversary_outcome(sc, episode, 1)
    assert struck.nonego_collision and struck.nonego_struck_from_behind and not struck.nonego_at_fault
    assert striker.nonego_collision and striker.nonego_actor == 0 and striker.nonego_at_fault


def test_evaluation_runs_only_the_requested_modes(demo_dataroot, model, tmp_path):
    from scenarios.adversary.evaluate import EvalConfig, critical_by_type, evaluate_adversary

    cfg = EvalConfig(dataroots=(str(demo_dataroot),), scenes=("scene-demo-0002",), attempts_per_scene=1,
                     episode_steps=20, modes=("unguided",))
    report = evaluate_adversary(cfg, tmp_path, progress=False, model=model)
    assert set(report["table"]) == {"log", "unguided"} and report["table"]["unguided"]["attempts"] == 1
    assert 0.0 <= report["table"]["unguided"]["nonego_at_fault_rate"] <= report["table"]["unguided"]["nonego_collision_rate"]
    lo, hi = report["table"]["unguided"]["nonego_collision_ci95"]
    assert 0.0 <= lo <= report["table"]["unguided"]["nonego_collision_rate"] <= hi <= 1.0
    assert "adversary at fault" in (tmp_path / "adversary_eval.md").read_text()
    assert critical_by_type(report, "guided") == {}
    assert sum(n for _, n in critical_by_type(report, "unguided").values()) == 1
    with pytest.raises(ConfigError, match="unknown evaluation mode"):
        evaluate_adversary(dataclasses.replace(cfg, modes=("sideways",)), None, progress=False, model=model)


def test_wilson_interval_matches_scipy():
    from scipy.stats import binomtest

    from scenarios.adversary.evaluate import wilson_interval

    for k, n in [(0, 10), (4, 96), (96, 96), (31, 320)]:
        ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        np.testing.assert_allclose(wilson_interval(k, n), (ci.low, ci.high), atol=2e-5)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_sampling_is_deterministic_for_a_seed(model):
    sc = _follower_road()
    ctx = prepare(sc, EngineConfig(start_step=10, max_steps=60))
    state = adversarial_start(ctx, 0)
    plans = []
    for seed in (4, 4, 5):
        planner = AdversaryPlanner(model, PlannerConfig(collision_type="rear-end", seed=seed))
        plans.append(planner.plan(ctx, state, np.array([0])))
    assert np.array_equal(plans[0][0], plans[1][0]) and np.array_equal(plans[0][1], plans[1][1])
    assert not np.array_equal(plans[0][0], plans[2][0])
    assert plans[0][0].shape == (1, FUTURE_STEPS, 2)

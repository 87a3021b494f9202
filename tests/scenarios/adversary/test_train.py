"""Training the adversary is deterministic for a seed."""

from __future__ import annotations

import dataclasses

import torch

from scenarios.synthetic import ActorSpec, straight_road_scenario


def test_training_is_deterministic_for_a_seed(tmp_path):
    from scenarios.adversary.data import SampleConfig
    from scenarios.adversary.model import ModelConfig
    from scenarios.adversary.train import LoadedScene, TrainConfig, train_adversary

    specs = tuple(ActorSpec(x_m=float(x), lane=lane, speed_mps=float(v))
                  for x, lane, v in [(0, 0, 8), (30, 1, 10), (90, -1, 9), (150, -2, 7), (60, 0, 6)])
    scenes = [LoadedScene(f"synthetic/road-{i}", "synthetic",
                          straight_road_scenario(num_steps=70, actors=specs[i:] + specs[:i], name=f"road-{i}"))
              for i in range(3)]
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

"""Training the adversary denoiser on logged tracks (any nuScenes-layout dataroots).

`train_adversary(TrainConfig(...), out_path)`:
1. loads every scene of every dataroot (nuScenes adapter);
2. splits scenes into train and held-out (by scene, never by window): within each dataroot
   that has several scenes, `val_fraction` of them (at least one) are held out; dataroots with
   a single scene are pooled and split the same way; `holdout_scenes` overrides the choice;
3. extracts windows with fitted controls (data.py);
4. trains the x0-predicting denoiser with Adam (cosine learning-rate decay), a share of the
   windows seeing constant-velocity forecasts of their neighbours instead of their logged
   futures (`cv_future_share`), evaluating the held-out loss every `eval_every` iterations
   with a fixed generator;
5. writes the checkpoint (atomically), the loss curve `<out>.loss.png` next to it and
   `<out>.train.json` with the figures.

Deterministic for a seed: parameters are initialised under torch.manual_seed(seed), batches
and noise come from a torch.Generator seeded from it, torch runs `threads` threads with
deterministic algorithms, so the same data, seed and thread count give the same bytes.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from scenarios.adversary.data import SampleConfig, SampleSet, cached_scene_samples
from scenarios.adversary.diffusion import CosineSchedule, LossWeights, training_loss
from scenarios.adversary.features import FEATURE_KEYS, constant_velocity_futures
from scenarios.adversary.model import (
    AdversaryDenoiser,
    AdversaryModel,
    ModelConfig,
    num_parameters,
    save_checkpoint,
)
from sim.atomic import atomic_path, write_bytes_atomic
from sim.errors import ConfigError, DatasetError
from sim.types.scenario import Scenario


@dataclass(frozen=True)
class TrainConfig:
    """Training settings.

    - dataroots: nuScenes-layout dataroots; version: their table folder (e.g. v1.0-mini).
    - val_fraction: share of scenes held out (per dataroot, at least one where there are two+).
    - holdout_scenes: explicit held-out scene names (overrides val_fraction when given).
    - seed; iterations; batch_size; lr (peak, cosine-decayed to 5%); weight_decay.
    - eval_every: iterations between held-out evaluations.
    - cv_future_share: share of training windows whose neighbours' futures are replaced by
      constant-velocity forecasts (features.constant_velocity_futures): when planning, only
      replayed actors' futures are known, reactive ones are forecast that way.
    - threads: torch threads (results are reproducible for a given thread count).
    - cache_dir: folder keeping each scene's extracted windows (data.cached_scene_samples);
      None extracts them afresh.
    - model, samples, loss: sub-configs.
    """

    dataroots: tuple[str, ...] = ()
    version: str = "v1.0-mini"
    val_fraction: float = 0.2
    holdout_scenes: tuple[str, ...] = ()
    seed: int = 0
    iterations: int = 3000
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-5
    eval_every: int = 100
    cv_future_share: float = 0.2
    threads: int = 2
    cache_dir: str | None = None
    model: ModelConfig = field(default_factory=ModelConfig)
    samples: SampleConfig = field(default_factory=SampleConfig)
    loss: LossWeights = field(default_factory=LossWeights)


@dataclass(frozen=True)
class LoadedScene:
    """A scene of a dataroot: id "<dataroot name>/<scene name>", group (split stratum)."""

    scene_id: str
    group: str
    scenario: Scenario


def load_dataroots(dataroots: tuple[str, ...] | list[str], version: str = "v1.0-mini",
                   progress: Callable | None = None) -> list[LoadedScene]:
    """Every scene of the dataroots, in a stable order."""
    from scenarios.nuscenes import NuScenesSource

    out: list[LoadedScene] = []
    for root in dataroots:
        path = Path(root)
        if not path.is_dir():
            raise DatasetError(f"dataroot {root} does not exist: pass a nuScenes-layout folder "
                               f"(<dataroot>/{version}/*.json and maps/)")
        src = NuScenesSource(path, version)
        names = sorted(src.scene_names)
        group = path.resolve().name if len(names) > 1 else "single-scene-dataroots"
        for name in names:
            out.append(LoadedScene(f"{path.resolve().name}/{name}", group, src.load_scenario(name)))
            if progress is not None:
                progress(out[-1].scene_id)
    return out


def split_scenes(scenes: list[LoadedScene], val_fraction: float, seed: int,
                 holdout: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """(train ids, held-out ids), by scene (see the module docstring)."""
    ids = [s.scene_id for s in scenes]
    if holdout:
        held = [i for i in ids if i in holdout or i.split("/", 1)[1] in holdout]
        if not held:
            raise ConfigError(f"none of the held-out scenes {list(holdout)} is among the loaded scenes {ids}")
    else:
        rng = np.random.default_rng(seed)
        held = []
        groups: dict[str, list[str]] = {}
        for s in scenes:
            groups.setdefault(s.group, []).append(s.scene_id)
        for g in sorted(groups):
            members = sorted(groups[g])
            if len(members) < 2:
                continue
            k = max(1, int(round(val_fraction * len(members)))) if val_fraction > 0 else 0
            held += [members[i] for i in sorted(rng.permutation(len(members))[:k])]
    train = [i for i in ids if i not in held]
    if not train:
        raise ConfigError("every scene is held out: add dataroots or lower val_fraction")
    return train, held


def _tensors(s: SampleSet, idx: np.ndarray, scale: torch.Tensor):
    feats = {k: torch.from_numpy(s.features[k][idx]) for k in FEATURE_KEYS}
    x0 = torch.from_numpy(s.controls[idx]) / scale
    return feats, x0, torch.from_numpy(s.state0[idx]), torch.from_numpy(s.future_xy[idx])


def train_adversary(config: TrainConfig, out_path: str | Path, progress: bool = True,
                    scenes: list[LoadedScene] | None = None) -> tuple[AdversaryModel, dict]:
    """Train and write the checkpoint, `<out>.loss.png` and `<out>.train.json`; returns the
    model and the report dict."""
    from tqdm.auto import tqdm

    out_path = Path(out_path)
    t0 = time.perf_counter()
    before_threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    det_before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        if scenes is None:
            if not config.dataroots:
                raise ConfigError("no dataroot given: pass --dataroot DIR (a nuScenes-layout folder), repeatable")
            bar = tqdm(desc="loading scenes", unit="scene", disable=not progress)
            scenes = load_dataroots(config.dataroots, config.version, progress=lambda _: bar.update())
            bar.close()
        train_ids, held_ids = split_scenes(scenes, config.val_fraction, config.seed, config.holdout_scenes)
        sets = []
        for s in tqdm(scenes, desc="extracting windows", unit="scene", disable=not progress):
            sets.append(cached_scene_samples(s.scenario, s.scene_id, config.samples, config.cache_dir))
        data = SampleSet.concat(sets)
        is_train = np.isin(data.scene, train_ids)
        train, val = data.subset(is_train), data.subset(~is_train)
        if len(train) < config.batch_size // 4:
            raise DatasetError(f"only {len(train)} training windows in {list(config.dataroots)}: the logs need "
                               "vehicles tracked for 5 s (1 s history + 4 s future); add dataroots")
        t_data = time.perf_counter() - t0
        std = train.controls.reshape(-1, 2).std(0)
        scale = torch.tensor(np.maximum(std, [0.3, 0.03]), dtype=torch.float32)
        torch.manual_seed(config.seed)
        model = AdversaryDenoiser(config.model)
        schedule = CosineSchedule.create(config.model.diffusion_steps)
        opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda i: 0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * min(i, config.iterations) / config.iterations)))
        gen = torch.Generator().manual_seed(config.seed)
        history = {"iteration": [], "train_loss": [], "val_iteration": [], "val_loss": []}
        running = []
        bar = tqdm(range(config.iterations), desc="training", unit="it", disable=not progress)
        model.train()
        for it in bar:
            idx = torch.randint(0, len(train), (config.batch_size,), generator=gen).numpy()
            feats, x0, s0, fut = _tensors(train, idx, scale)
            logged = feats["neigh"]
            forecast = torch.rand(config.batch_size, generator=gen) < config.cv_future_share
            feats["neigh"] = torch.where(forecast[:, None, None], constant_velocity_futures(logged), logged)
            loss, parts = training_loss(model, schedule, feats, x0, s0, fut, logged, scale, gen, config.loss)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            running.append(float(loss.detach()))
            if (it + 1) % 10 == 0 or it + 1 == config.iterations:
                history["iteration"].append(it + 1)
                history["train_loss"].append(float(np.mean(running)))
                running = []
            if len(val) and ((it + 1) % config.eval_every == 0 or it + 1 == config.iterations):
                history["val_iteration"].append(it + 1)
                history["val_loss"].append(evaluate_loss(model, schedule, val, scale, config))
                bar.set_postfix(val=f"{history['val_loss'][-1]:.3f}")
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        train_s = time.perf_counter() - t0
        report = {
            "seed": config.seed, "iterations": config.iterations, "batch_size": config.batch_size,
            "threads": config.threads, "dataroots": [str(Path(d).resolve()) for d in config.dataroots],
            "train_scenes": train_ids, "heldout_scenes": held_ids,
            "train_windows": len(train), "heldout_windows": len(val),
            "parameters": num_parameters(model), "control_scale": scale.tolist(),
            "final_train_loss": history["train_loss"][-1] if history["train_loss"] else None,
            "final_val_loss": history["val_loss"][-1] if history["val_loss"] else None,
            "data_seconds": round(t_data, 1), "total_seconds": round(train_s, 1),
            "history": history, "config": _jsonable(asdict(config)),
        }
        bundle = AdversaryModel(model, schedule, scale, {k: v for k, v in report.items() if k != "history"})
        save_checkpoint(bundle, out_path)
        report["checkpoint_bytes"] = out_path.stat().st_size
        write_bytes_atomic(out_path.with_suffix(".train.json"), json.dumps(report, indent=1).encode())
        plot_loss_curve(history, out_path.with_suffix(".loss.png"), title=out_path.name)
        return bundle, report
    finally:
        torch.set_num_threads(before_threads)
        torch.use_deterministic_algorithms(det_before)


def evaluate_loss(model, schedule, val: SampleSet, scale: torch.Tensor, config: TrainConfig,
                  max_windows: int = 2048) -> float:
    """Mean denoising loss on held-out windows, fixed noise (comparable across evaluations)."""
    gen = torch.Generator().manual_seed(config.seed + 1)
    n = min(len(val), max_windows)
    idx = np.arange(len(val))[:: max(1, len(val) // n)][:n]
    model.eval()
    losses = []
    with torch.no_grad():
        for start in range(0, len(idx), 512):
            feats, x0, s0, fut = _tensors(val, idx[start:start + 512], scale)
            loss, _ = training_loss(model, schedule, feats, x0, s0, fut, feats["neigh"], scale, gen, config.loss)
            losses.append(float(loss) * len(x0))
    model.train()
    return float(np.sum(losses) / len(idx))


def plot_loss_curve(history: dict, path: Path, title: str = "") -> Path:
    """Train (per 10 iterations) and held-out loss vs iteration, as a PNG (atomic)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(history["iteration"], history["train_loss"], label="train", lw=1)
    if history["val_loss"]:
        ax.plot(history["val_iteration"], history["val_loss"], label="held-out", lw=2, marker=".")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.set_title(f"adversary denoiser {title}")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return path


def _jsonable(x):
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x

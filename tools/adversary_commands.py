"""`splatsim adversary train | evaluate` and `splatsim generate`: the adversarial diffusion
actors and batch generation of safety-critical scenarios (scenarios/adversary, scenarios/generate).

Only argument parsing lives here; the work is in the `scenarios` package. `generate` passes
render.bev.bev_frame as the snapshot function (scenarios may not import render).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

console = Console(stderr=True)


def adversary_train(
    dataroot: List[Path] = typer.Option(..., help="nuScenes-layout dataroot with logged tracks (repeatable)."),
    out: Path = typer.Option(..., help="Checkpoint to write (e.g. model.pt); the loss curve goes next to it "
                                        "(<out>.loss.png) with the figures (<out>.train.json)."),
    version: str = typer.Option("v1.0-mini", help="Dataset version folder under each dataroot."),
    iterations: int = typer.Option(3000, help="Training iterations (batches)."),
    batch_size: int = typer.Option(128, help="Windows per batch."),
    lr: float = typer.Option(2e-3, help="Peak learning rate (cosine-decayed)."),
    val_fraction: float = typer.Option(0.2, help="Share of scenes held out, per dataroot (at least one)."),
    holdout: List[str] = typer.Option([], help="Held-out scene name (repeatable; overrides --val-fraction)."),
    seed: int = typer.Option(0, help="Seed: same data, seed and --threads give the same checkpoint bytes."),
    threads: int = typer.Option(2, help="Torch CPU threads."),
    cache: Optional[Path] = typer.Option(None, help="Folder keeping each scene's extracted training windows, so a "
                                                    "second run on the same logs skips the extraction."),
    progress: bool = typer.Option(True, help="Show progress bars."),
    as_json: bool = typer.Option(False, "--json", help="Print the training report as JSON to stdout."),
) -> None:
    """Train the adversary trajectory-diffusion model on logged tracks."""
    from scenarios.adversary.train import TrainConfig, train_adversary

    config = TrainConfig(dataroots=tuple(str(d) for d in dataroot), version=version, val_fraction=val_fraction,
                         holdout_scenes=tuple(holdout), seed=seed, iterations=iterations, batch_size=batch_size,
                         lr=lr, threads=threads, cache_dir=str(cache) if cache else None)
    _, report = train_adversary(config, out, progress=progress)
    brief = {k: v for k, v in report.items() if k not in ("history", "config")}
    if as_json:
        print(json.dumps(brief, indent=2))
    else:
        console.print(f"[green]wrote[/] {out} ({report['checkpoint_bytes'] / 1e6:.1f} MB, {report['parameters']} "
                      f"parameters) in {report['total_seconds']:.0f} s: held-out loss {report['final_val_loss']}, "
                      f"held-out scenes {report['heldout_scenes']}")


def adversary_evaluate(
    dataroot: List[Path] = typer.Option(..., help="Dataroot(s) holding the held-out scenes (repeatable)."),
    out: Path = typer.Option(..., help="Folder for adversary_eval.json and adversary_eval.md."),
    checkpoint: Optional[Path] = typer.Option(None, help="Adversary checkpoint (default: the shipped one)."),
    scenes: List[str] = typer.Option([], help="Scene to evaluate (repeatable; default: the checkpoint's held-out "
                                              "scenes)."),
    version: str = typer.Option("v1.0-mini", help="Dataset version folder under each dataroot."),
    attempts: int = typer.Option(12, help="Closed-loop attempts per scene (each: log, unguided, guided)."),
    collision_type: str = typer.Option("any", help="rear-end | cut-in | head-on | any."),
    policy: str = typer.Option("expert", help="Reference ego: expert | idm | constant-velocity."),
    seed: int = typer.Option(0, help="Seed."),
    reactive: bool = typer.Option(False, help="Other vehicles follow the IDM (they brake for the adversary) instead "
                                              "of replaying their logs."),
    mode: List[str] = typer.Option(["unguided", "realism-guided", "guided"],
                                   help="Sampled behaviour to run (repeatable): unguided | realism-guided | guided; "
                                        "the actors' logs always run as the reference."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
    as_json: bool = typer.Option(False, "--json", help="Print the report's table as JSON to stdout."),
) -> None:
    """Evaluate guided and unguided adversaries on held-out logs (success, realism, Wasserstein)."""
    from scenarios.adversary.evaluate import (
        EvalConfig,
        evaluate_adversary,
        markdown_table,
    )

    config = EvalConfig(dataroots=tuple(str(d) for d in dataroot), version=version, scenes=tuple(scenes),
                        checkpoint=str(checkpoint) if checkpoint else None, attempts_per_scene=attempts,
                        collision_type=collision_type, policy=policy, seed=seed, reactive=reactive,
                        modes=tuple(mode))
    report = evaluate_adversary(config, out, progress=progress)
    if as_json:
        print(json.dumps({"table": report["table"], "w1_guided_vs_unguided": report["w1_guided_vs_unguided"]},
                         indent=2))
    else:
        print(markdown_table(report))


def _bev_snapshot(scenario, episode, index, size_px):
    from render.bev import bev_frame

    return bev_frame(scenario, episode, index, size_px=size_px)


def generate(
    dataroot: List[Path] = typer.Option(..., help="nuScenes-layout dataroot (repeatable)."),
    out: Path = typer.Option(..., help="Output folder (an existing one is resumed)."),
    scenes: List[str] = typer.Option([], help="Scene name (repeatable; default: every scene)."),
    per_scene: int = typer.Option(4, help="Variants per scene (each keeps at most one scenario)."),
    collision_type: str = typer.Option("any", help="rear-end | cut-in | head-on | any."),
    ray_address: Optional[str] = typer.Option(None, help="Ray cluster address ('auto': the running cluster)."),
    workers: int = typer.Option(2, help="CPUs of the local Ray started when no --ray-address is given (0: no Ray)."),
    policy: str = typer.Option("expert", help="Reference ego: expert | idm | constant-velocity | grpc://HOST:PORT | "
                                              "unix://PATH | egodriver://HOST:PORT (any --policy of `run`)."),
    egodriver_config: Optional[Path] = typer.Option(None, help="Camera map and options of an egodriver:// policy."),
    seed: int = typer.Option(0, help="Base seed (same seed, same scenarios, bit for bit)."),
    checkpoint: Optional[Path] = typer.Option(None, help="Adversary checkpoint (default: the shipped one)."),
    version: str = typer.Option("v1.0-mini", help="Dataset version folder under each dataroot."),
    ttc_threshold: float = typer.Option(1.0, help="A variant is safety-critical on contact or adversary TTC below "
                                                  "this (s)."),
    aggressiveness: float = typer.Option(2.0, help="Weight of the time-to-collision guidance (higher: earlier "
                                                   "conflicts)."),
    ddim_steps: int = typer.Option(10, help="Denoising steps per plan."),
    samples: int = typer.Option(16, help="Candidate samples per plan (the lowest-cost one is driven)."),
    episode_seconds: float = typer.Option(8.0, help="Closed-loop length after the adversary takes over."),
    reactive: bool = typer.Option(False, help="Other vehicles follow the IDM instead of replaying their logs."),
    snapshots: bool = typer.Option(True, help="Bird's-eye thumbnails and contact_sheet.png."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
    as_json: bool = typer.Option(False, "--json", help="Print summary.json to stdout."),
) -> None:
    """Generate safety-critical scenarios with adversarial diffusion actors (resumable, on Ray)."""
    from policies_api.resolve import check_policy_names, resolve_policy
    from scenarios.adversary.planner import PlannerConfig
    from scenarios.adversary.realism import RealismConfig
    from scenarios.generate import GenerateConfig, generate_scenarios

    check_policy_names([policy], egodriver_config)
    config = GenerateConfig(
        dataroots=tuple(str(d) for d in dataroot), out_dir=str(out), version=version, scenes=tuple(scenes),
        per_scene=per_scene, collision_type=collision_type, policy=policy, seed=seed, workers=workers,
        ray_address=ray_address, checkpoint=str(checkpoint) if checkpoint else None,
        planner=PlannerConfig(aggressiveness=aggressiveness, ddim_steps=ddim_steps, num_samples=samples),
        realism=RealismConfig(ttc_threshold_s=ttc_threshold), episode_steps=int(round(episode_seconds * 10)),
        reactive=reactive, policy_factory=functools.partial(resolve_policy, egodriver_config=egodriver_config))
    summary = generate_scenarios(config, snapshot=_bev_snapshot if snapshots else None, progress=progress)
    if as_json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        console.print(f"[green]{out}[/]: {summary['items_kept']} of {summary['items_total']} variants kept "
                      f"({summary['run']['processed_items']} run now, {summary['run']['skipped_items']} already done); "
                      f"summary.json{', contact_sheet.png' if 'contact_sheet' in summary else ''}")

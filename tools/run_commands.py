"""`splatsim run` (one closed-loop episode) and `splatsim demo` (the whole pipeline on the demo town)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from render.bev import write_bev_video
from sim.atomic import write_json_atomic
from sim.engine import EngineConfig, prepare, run_episode
from sim.metrics import episode_metrics
from sim.policies import make_policy
from sim.scoring.episode_io import save_episode
from sim.scoring.episode_scores import episode_scores
from sim.scenario import Scenario
from tools.scenario_args import load_scenario_from_args

console = Console(stderr=True)

DEMO_SCENE = "scene-demo-0000"


def make_any_policy(name: str):
    """A built-in policy by name, or a remote DrivingPolicy for grpc://HOST:PORT and unix://PATH."""
    from policies_api.remote_policy import RemotePolicy, is_remote_policy_name

    return RemotePolicy(name) if is_remote_policy_name(name) else make_policy(name)


def run_one(scenario: Scenario, policy_name: str, out: Path, reactive: bool = False, steps: Optional[int] = None,
            start_step: int = 0, video: bool = True, extra: dict | None = None,
            cameras: tuple[str, ...] = (), width: int = 480, height: int = 270) -> dict:
    """Run one episode, write metrics.json with its scores, episode.npz (+ bev.mp4) under `out`.
    With cameras, the policy sees images rendered by the Gaussian renderer."""
    context = prepare(scenario, EngineConfig(reactive=reactive, start_step=start_step, max_steps=steps))
    renderer = None
    if cameras:
        from policies_api.session import gaussian_renderer_factory

        renderer = gaussian_renderer_factory()(scenario, list(cameras), width, height)
    policy = make_any_policy(policy_name)
    try:
        episode = run_episode(context, policy, renderer)
        metrics = episode_metrics(episode)
        if hasattr(policy, "end_episode"):
            policy.end_episode(metrics)
    finally:
        if hasattr(policy, "close"):
            policy.close()
    metrics.update(extra or {})
    metrics["scores"] = episode_scores(episode, context)
    out.mkdir(parents=True, exist_ok=True)
    save_episode(episode, out / "episode.npz")
    if video:
        write_bev_video(scenario, episode, out / "bev.mp4")
    write_json_atomic(out / "metrics.json", metrics)
    return metrics


def run(
    dataroot: Optional[Path] = typer.Option(None, help="nuScenes-layout dataroot (holds <version>/*.json and maps/)."),
    scene: Optional[str] = typer.Option(None, help="Scene name, e.g. scene-demo-0000 (list: splatsim data info)."),
    version: str = typer.Option("v1.0-mini", help="Dataset version folder under the dataroot."),
    scenario_file: Optional[Path] = typer.Option(None, help="A .scenario.npz file instead of --dataroot/--scene."),
    policy: str = typer.Option("expert", help="expert | constant-velocity | idm | grpc://HOST:PORT | unix://PATH "
                                              "(a DrivingPolicy server)."),
    camera: List[str] = typer.Option([], help="Camera to render for the policy (repeatable), e.g. CAM_FRONT."),
    width: int = typer.Option(480, help="Rendered image width, pixels."),
    height: int = typer.Option(270, help="Rendered image height, pixels."),
    reactive: bool = typer.Option(False, help="Vehicles follow their paths with the IDM instead of replaying the log."),
    steps: Optional[int] = typer.Option(None, help="Most steps to simulate (10 Hz); default: to the end of the log."),
    start_step: int = typer.Option(0, help="First step of the episode on the scenario's 10 Hz grid."),
    out: Path = typer.Option(..., help="Output folder: metrics.json and bev.mp4."),
    video: bool = typer.Option(True, help="Write the bird's-eye video bev.mp4."),
    as_json: bool = typer.Option(False, "--json", help="Print metrics.json to stdout."),
) -> None:
    """Run one closed-loop episode and write DIR/metrics.json and DIR/bev.mp4."""
    scenario = load_scenario_from_args(dataroot, scene, version, scenario_file)
    provenance = {"dataroot": str(dataroot) if dataroot else None, "version": version,
                  "scenario_file": str(scenario_file) if scenario_file else None}
    metrics = run_one(scenario, policy, out, reactive, steps, start_step, video, provenance, tuple(camera), width, height)
    if as_json:
        print(json.dumps(metrics, indent=2, sort_keys=True))
    else:
        console.print(f"[green]wrote[/] {out / 'metrics.json'}: collision={metrics['collision']} "
                      f"off_road={metrics['off_road']} route_completion={metrics['route_completion']:.3f}")


def demo(
    out: Path = typer.Option(Path("out/demo"), help="Output folder."),
    seed: int = typer.Option(0, help="Seed of the demo town."),
) -> None:
    """Build the embedded demo town and run closed-loop episodes on it (the `make demo` job)."""
    from scenarios.demo_town import DEMO_VERSION, build_demo_dataroot
    from scenarios.nuscenes_adapter import load_scenario

    dataroot = out / "data"
    if not (dataroot / DEMO_VERSION / "scene.json").exists():
        console.print(f"building the demo town in {dataroot}")
        build_demo_dataroot(dataroot, seed=seed)
    scenario = load_scenario(dataroot, DEMO_SCENE, DEMO_VERSION)
    summary = {}
    for policy in ("expert", "idm", "constant-velocity"):
        metrics = run_one(scenario, policy, out / policy, reactive=True,
                          extra={"dataroot": str(dataroot), "version": DEMO_VERSION})
        summary[policy] = {k: metrics[k] for k in ("collision", "at_fault_collision", "off_road", "route_completion",
                                                   "progress_m", "min_ttc_s")}
        console.print(f"{policy:>18}: " + "  ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                                                   for k, v in summary[policy].items()))
    write_json_atomic(out / "summary.json", {"scene": DEMO_SCENE, "policies": summary})
    console.print(f"[green]demo written to[/] {out}")

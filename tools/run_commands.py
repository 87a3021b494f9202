"""`splatsim run` (one closed-loop episode), `splatsim render` (the same with the Gaussian
renderer and camera videos) and `splatsim demo` (the whole pipeline on the demo town)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from evaluation.demo import RENDERED_POLICY, DemoConfig, run_demo
from evaluation.run_folder import RunConfig, RunResult, run_one
from evaluation.scenario_refs import load_scenario_from_args
from evaluation.scene_renderer import build_renderer
from tools.score_options import EGODRIVER_CONFIG_HELP

console = Console(stderr=True)


def _report(result: RunResult, out: Path, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result.to_json(), indent=2, sort_keys=True))
        return
    m, epdms = result.metrics, result.scores.epdms_mean
    console.print(f"[green]wrote[/] {out / 'metrics.json'}: collision={m.collision} off_road={m.off_road} "
                  f"route_completion={m.route_completion:.3f}" + (f" epdms={epdms:.3f}" if isinstance(epdms, float)
                                                                   else ""))


SCENARIO_OPTIONS = dict(
    dataroot=typer.Option(None, help="nuScenes-layout dataroot (holds <version>/*.json and maps/)."),
    scene=typer.Option(None, help="Scene name, e.g. scene-demo-0000 (list: splatsim data info)."),
    version=typer.Option("v1.0-mini", help="Dataset version folder under the dataroot."),
    scenario_file=typer.Option(None, help="A .scenario.npz file instead of --dataroot/--scene."),
)
POLICY_HELP = ("expert | constant-velocity | idm | noisy | laggy | over-cautious | aggressive | grpc://HOST:PORT | "
               "unix://PATH (a DrivingPolicy server) | egodriver://HOST:PORT | egodriver+unix://PATH (an AlpaSim "
               "driver).")


def _path(path: Optional[Path]) -> str | None:
    return str(path) if path is not None else None


def run(
    dataroot: Optional[Path] = SCENARIO_OPTIONS["dataroot"],
    scene: Optional[str] = SCENARIO_OPTIONS["scene"],
    version: str = SCENARIO_OPTIONS["version"],
    scenario_file: Optional[Path] = SCENARIO_OPTIONS["scenario_file"],
    policy: str = typer.Option("expert", help=POLICY_HELP),
    egodriver_config: Optional[Path] = typer.Option(None, help=EGODRIVER_CONFIG_HELP),
    camera: List[str] = typer.Option([], help="Camera to render for the policy (repeatable), e.g. CAM_FRONT."),
    width: int = typer.Option(480, help="Rendered image width, pixels."),
    height: int = typer.Option(270, help="Rendered image height, pixels."),
    reactive: bool = typer.Option(False, help="Vehicles follow their paths with the IDM instead of replaying the log."),
    steps: Optional[int] = typer.Option(None, help="Most steps to simulate (10 Hz); default: to the end of the log."),
    start_step: int = typer.Option(0, help="First step of the episode on the scenario's 10 Hz grid."),
    out: Path = typer.Option(..., help="Output folder: metrics.json, episode.npz and bev.mp4."),
    video: bool = typer.Option(True, help="Write the bird's-eye video bev.mp4."),
    as_json: bool = typer.Option(False, "--json", help="Print metrics.json to stdout."),
) -> None:
    """Run one closed-loop episode and write DIR/metrics.json, DIR/episode.npz and DIR/bev.mp4."""
    scenario = load_scenario_from_args(dataroot, scene, version, scenario_file)
    renderer = build_renderer(scenario, list(camera), width, height) if camera else None
    provenance = {"dataroot": str(dataroot) if dataroot else None, "version": version,
                  "scenario_file": str(scenario_file) if scenario_file else None}
    config = RunConfig(policy, reactive, steps, start_step, video, provenance=provenance,
                       egodriver_config=_path(egodriver_config))
    _report(run_one(scenario, config, out, renderer), out, as_json)


def render(
    dataroot: Optional[Path] = SCENARIO_OPTIONS["dataroot"],
    scene: Optional[str] = SCENARIO_OPTIONS["scene"],
    version: str = SCENARIO_OPTIONS["version"],
    scenario_file: Optional[Path] = SCENARIO_OPTIONS["scenario_file"],
    scene_file: Optional[Path] = typer.Option(None, help="Gaussian scene PLY (from `data build-scene` or "
                                                         "`data reconstruct`); default: build the procedural street."),
    policy: str = typer.Option("expert", help=POLICY_HELP),
    egodriver_config: Optional[Path] = typer.Option(None, help=EGODRIVER_CONFIG_HELP),
    camera: List[str] = typer.Option([], help="Cameras to render (repeatable); default: the whole rig."),
    width: int = typer.Option(480, help="Image width per camera, pixels."),
    height: int = typer.Option(270, help="Image height per camera, pixels."),
    backend: str = typer.Option("auto", help="auto (gsplat on CUDA, else cpu) | cpu | gsplat | torch."),
    reactive: bool = typer.Option(False, help="Vehicles follow their paths with the IDM."),
    steps: Optional[int] = typer.Option(None, help="Most steps to simulate (10 Hz)."),
    start_step: int = typer.Option(0, help="First step of the episode."),
    out: Path = typer.Option(..., help="Output folder: <CAMERA>.mp4 per camera, rig.mp4, bev.mp4, metrics.json."),
    as_json: bool = typer.Option(False, "--json", help="Print metrics.json to stdout."),
) -> None:
    """Run a closed-loop episode with rendered cameras; write one mp4 per camera and a tiled rig video."""
    scenario = load_scenario_from_args(dataroot, scene, version, scenario_file)
    with console.status("building the Gaussian scene"):
        renderer = build_renderer(scenario, list(camera), width, height, backend, scene_file)
    provenance = {"dataroot": str(dataroot) if dataroot else None, "version": version,
                  "scenario_file": str(scenario_file) if scenario_file else None,
                  "scene_file": str(scene_file) if scene_file else None}
    with console.status(f"rendering the episode ({backend} backend)"):
        result = run_one(scenario, RunConfig(policy, reactive, steps, start_step, True, True, provenance,
                                             _path(egodriver_config)), out, renderer)
    _report(result, out, as_json)


def demo(
    out: Path = typer.Option(Path("out/demo"), help="Output folder."),
    seed: int = typer.Option(0, help="Seed of the demo town."),
    width: int = typer.Option(480, help="Camera image width of the rendered episode."),
    height: int = typer.Option(270, help="Camera image height of the rendered episode."),
) -> None:
    """Build the embedded demo town, run the built-in policies in closed loop, render the rig
    video of the idm episode and write a report (the `make demo` job)."""
    result = run_demo(DemoConfig(out, seed, width, height), log=console.print)
    console.print(f"[green]demo written to[/] {out}: rig video {out / RENDERED_POLICY / 'rig.mp4'}, report "
                  f"{result.report}")

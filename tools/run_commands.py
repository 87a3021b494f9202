"""`splatsim run` (one closed-loop episode), `splatsim render` (the same with the Gaussian
renderer and camera videos) and `splatsim demo` (the whole pipeline on the demo town)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from policies_api.resolve import resolve_policy
from render.bev import write_bev_video
from sim.atomic import write_json_atomic
from sim.engine import EngineConfig, prepare, run_episode
from sim.metrics import episode_metrics
from sim.scoring.epdms import ScoringData
from sim.scoring.episode_io import save_episode
from sim.scoring.episode_scores import episode_scores
from sim.types.observation import Renderer
from sim.types.scenario import Scenario
from tools.scenario_args import load_scenario_from_args

console = Console(stderr=True)

DEMO_SCENE = "scene-demo-0002"  # a right turn: the baselines differ visibly


def build_renderer(scenario: Scenario, cameras: list[str], width: int, height: int, backend: str = "auto",
                   scene_ply: Path | None = None) -> Renderer:
    """The Gaussian renderer of a scenario: the procedural street, or a scene from build-scene."""
    from render.renderer import GaussianRenderer

    background = assets = None
    if scene_ply is not None:
        from render.assets import load_actor_assets
        from render.ply import load_ply
        from tools.render_commands import actor_assets_path

        background = load_ply(scene_ply)
        if actor_assets_path(scene_ply).exists():
            assets = load_actor_assets(actor_assets_path(scene_ply))
    renderer = GaussianRenderer.for_scenario(scenario, width, height, cameras or None, backend,
                                             background=background, assets=assets)
    if scene_ply is not None:
        from render.reconstruct.export import load_sky, sky_path

        if sky_path(scene_ply).exists():  # a reconstructed scene brings its learned sky
            renderer.sky = load_sky(sky_path(scene_ply))
    return renderer


def run_one(scenario: Scenario, policy_name: str, out: Path, reactive: bool = False, steps: Optional[int] = None,
            start_step: int = 0, video: bool = True, extra: dict | None = None, renderer: Renderer | None = None,
            camera_videos: bool = False) -> dict:
    """Run one episode and write under `out`: metrics.json (with its scores), episode.npz,
    bev.mp4 (when `video`) and, with a renderer and `camera_videos`, one mp4 per camera plus
    the tiled rig.mp4. With a renderer, the policy sees the rendered images."""
    from render.video import RigVideoWriter

    context = prepare(scenario, EngineConfig(reactive=reactive, start_step=start_step, max_steps=steps))
    policy = resolve_policy(policy_name)
    writer = RigVideoWriter(out) if renderer is not None and camera_videos else None
    on_step = (lambda state, obs: writer.add(obs.images)) if writer is not None else None
    try:
        episode = run_episode(context, policy, renderer, on_step=on_step)
        metrics = episode_metrics(episode)
        if hasattr(policy, "end_episode"):
            policy.end_episode(metrics)
    except BaseException:
        if writer is not None:
            writer.close(keep=False)
        raise
    finally:
        if hasattr(policy, "close"):
            policy.close()
    if writer is not None:
        writer.close()
    metrics.update(extra or {})
    metrics["scores"] = episode_scores(episode, ScoringData.build(context)).to_json()
    out.mkdir(parents=True, exist_ok=True)
    save_episode(episode, out / "episode.npz")
    if video:
        write_bev_video(scenario, episode, out / "bev.mp4")
    write_json_atomic(out / "metrics.json", metrics)
    return metrics


def _report(metrics: dict, out: Path, as_json: bool) -> None:
    if as_json:
        print(json.dumps(metrics, indent=2, sort_keys=True))
    else:
        epdms = metrics["scores"].get("epdms_mean") if isinstance(metrics.get("scores"), dict) else None
        console.print(f"[green]wrote[/] {out / 'metrics.json'}: collision={metrics['collision']} "
                      f"off_road={metrics['off_road']} route_completion={metrics['route_completion']:.3f}"
                      + (f" epdms={epdms:.3f}" if isinstance(epdms, float) else ""))


SCENARIO_OPTIONS = dict(
    dataroot=typer.Option(None, help="nuScenes-layout dataroot (holds <version>/*.json and maps/)."),
    scene=typer.Option(None, help="Scene name, e.g. scene-demo-0000 (list: splatsim data info)."),
    version=typer.Option("v1.0-mini", help="Dataset version folder under the dataroot."),
    scenario_file=typer.Option(None, help="A .scenario.npz file instead of --dataroot/--scene."),
)
POLICY_HELP = ("expert | constant-velocity | idm | noisy | laggy | over-cautious | aggressive | grpc://HOST:PORT | "
               "unix://PATH (a DrivingPolicy server).")


def run(
    dataroot: Optional[Path] = SCENARIO_OPTIONS["dataroot"],
    scene: Optional[str] = SCENARIO_OPTIONS["scene"],
    version: str = SCENARIO_OPTIONS["version"],
    scenario_file: Optional[Path] = SCENARIO_OPTIONS["scenario_file"],
    policy: str = typer.Option("expert", help=POLICY_HELP),
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
    _report(run_one(scenario, policy, out, reactive, steps, start_step, video, provenance, renderer), out, as_json)


def render(
    dataroot: Optional[Path] = SCENARIO_OPTIONS["dataroot"],
    scene: Optional[str] = SCENARIO_OPTIONS["scene"],
    version: str = SCENARIO_OPTIONS["version"],
    scenario_file: Optional[Path] = SCENARIO_OPTIONS["scenario_file"],
    scene_file: Optional[Path] = typer.Option(None, help="Gaussian scene PLY (from `data build-scene` or "
                                                         "`data reconstruct`); default: build the procedural street."),
    policy: str = typer.Option("expert", help=POLICY_HELP),
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
        metrics = run_one(scenario, policy, out, reactive, steps, start_step, True, provenance, renderer,
                          camera_videos=True)
    _report(metrics, out, as_json)


def demo(
    out: Path = typer.Option(Path("out/demo"), help="Output folder."),
    seed: int = typer.Option(0, help="Seed of the demo town."),
    width: int = typer.Option(480, help="Camera image width of the rendered episode."),
    height: int = typer.Option(270, help="Camera image height of the rendered episode."),
) -> None:
    """Build the embedded demo town, run the built-in policies in closed loop, render the rig
    video of the idm episode and write a report (the `make demo` job)."""
    from scenarios.demo_town import DEMO_VERSION, build_demo_dataroot
    from scenarios.nuscenes_adapter import load_scenario
    from tools.report import write_report

    dataroot = out / "data"
    if not (dataroot / DEMO_VERSION / "scene.json").exists():
        console.print(f"building the demo town in {dataroot}")
        build_demo_dataroot(dataroot, seed=seed)
    scenario = load_scenario(dataroot, DEMO_SCENE, DEMO_VERSION)
    summary = {}
    for policy in ("expert", "idm", "constant-velocity"):
        renderer = None
        if policy == "idm":
            with console.status("building the Gaussian street of the demo scene"):
                renderer = build_renderer(scenario, [], width, height)
        with console.status(f"running {policy}" + (" with rendered cameras" if renderer else "")):
            metrics = run_one(scenario, policy, out / policy, reactive=True, renderer=renderer, camera_videos=True,
                              extra={"dataroot": str(dataroot), "version": DEMO_VERSION})
        summary[policy] = {k: metrics[k] for k in ("collision", "at_fault_collision", "off_road", "route_completion",
                                                   "progress_m", "min_ttc_s")}
        summary[policy]["epdms_mean"] = metrics["scores"].get("epdms_mean")
        console.print(f"{policy:>18}: " + "  ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                                                   for k, v in summary[policy].items()))
    write_json_atomic(out / "summary.json", {"scene": DEMO_SCENE, "policies": summary})
    report = write_report([out / p for p in summary], out / "report")
    console.print(f"[green]demo written to[/] {out}: rig video {out / 'idm' / 'rig.mp4'}, report {report}")

"""`splatsim data build-scene` (procedural Gaussian scene of a logged scene) and
`splatsim data render-frames` (PNG frames of a scene's log replay, to look at)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

console = Console(stderr=True)


def build_scene(
    dataroot: Path = typer.Option(..., help="nuScenes-layout dataroot."),
    scene: str = typer.Option(..., help="Scene name (see `splatsim data info`)."),
    out: Path = typer.Option(..., help="Output PLY (INRIA 3DGS layout); actor assets go beside it."),
    version: str = typer.Option("v1.0-mini", help="Dataset version folder under the dataroot."),
    seed: int = typer.Option(0, help="Seed of every placement and colour: same seed, identical files."),
    density: float = typer.Option(1.0, help="Multiplies every Gaussian count of the street."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Write the procedural Gaussian street of a scene's map, and its actors' assets.

    Files: OUT (background, global frame), OUT-stem.actors.ply (all actor assets in their box
    frames, extra vertex property `actor_index`) and OUT-stem.actors.json (per actor index:
    instance token, category, kind, box size).
    """
    from dataclasses import replace

    from render.assets import build_actor_assets, save_actor_assets
    from render.ply import save_ply
    from render.procedural import StreetSceneConfig
    from render.reconstruct.export import actor_assets_path
    from render.renderer import build_scenario_street
    from scenarios.nuscenes import load_scenario

    with console.status(f"loading {scene} from {dataroot}"):
        scenario = load_scenario(dataroot, scene, version)
    config = replace(StreetSceneConfig(), seed=seed, density=density)
    with console.status("building the street"):
        background = build_scenario_street(scenario, config)
    with console.status("building actor assets"):
        assets = build_actor_assets(scenario.actors, seed=seed)
    save_ply(out, background)
    assets_path = actor_assets_path(out)
    save_actor_assets(assets_path, assets)
    summary = {"scene": scene, "map": scenario.map.name, "ply": str(out), "gaussians": background.num_gaussians,
               "actors_ply": str(assets_path), "actors": assets.num_actors,
               "actor_gaussians": int(sum(a.num_gaussians for a in assets.assets)), "seed": seed, "density": density}
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        console.print(f"[green]wrote[/] {out} ({summary['gaussians']} Gaussians) and {assets_path} "
                      f"({summary['actors']} actors, {summary['actor_gaussians']} Gaussians)")


def render_frames(
    dataroot: Path = typer.Option(..., help="nuScenes-layout dataroot."),
    scene: str = typer.Option(..., help="Scene name."),
    out: Path = typer.Option(..., help="Folder for the PNG frames."),
    version: str = typer.Option("v1.0-mini", help="Dataset version folder under the dataroot."),
    scene_ply: Optional[Path] = typer.Option(None, help="A scene from build-scene (default: build it now)."),
    width: int = typer.Option(480, help="Image width per camera."),
    height: int = typer.Option(270, help="Image height per camera."),
    every: int = typer.Option(10, help="Render every N-th step of the log."),
    backend: str = typer.Option("auto", help="auto | cpu | gsplat | torch."),
) -> None:
    """Render the logged ego and actor poses of a scene to tiled rig PNGs (a quick look, no policy)."""
    import imageio.v3 as iio

    from evaluation.scene_renderer import build_renderer
    from render.rig import ego_pose_at
    from render.video import tile_rig
    from scenarios.nuscenes import load_scenario
    from sim.atomic import write_bytes_atomic

    scenario = load_scenario(dataroot, scene, version)
    renderer = build_renderer(scenario, [], width, height, backend, scene_ply)
    out.mkdir(parents=True, exist_ok=True)
    act, ego = scenario.actors, scenario.ego
    for k in range(0, scenario.num_steps, max(every, 1)):
        if not ego.valid[k]:
            continue
        pose = ego_pose_at(scenario, k, float(ego.xy[k, 0]), float(ego.xy[k, 1]), float(ego.yaw_rad[k]))
        images = renderer.images(renderer.render_output_at(scenario, k, pose, act.xy[:, k], act.yaw_rad[:, k],
                                                           act.valid[:, k]))
        png = iio.imwrite("<bytes>", tile_rig(images.rgb, images.names), extension=".png")
        write_bytes_atomic(out / f"rig_{k:04d}.png", png)
    console.print(f"[green]frames written to[/] {out}")

"""`splatsim data ...`: build the demo town, import a KITTI drive, list a dataroot's scenes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from tools import reconstruct_commands, render_commands

app = typer.Typer(help="Data tools: the embedded demo town, dataset listings, scene building.", no_args_is_help=True)
app.command("build-scene")(render_commands.build_scene)
app.command("render-frames")(render_commands.render_frames)
app.command("reconstruct")(reconstruct_commands.reconstruct)
app.command("reconstruct-selfcheck")(reconstruct_commands.selfcheck)
console = Console()


@app.command("demo")
def demo_data(
    out: Path = typer.Option(..., help="Folder to write the nuScenes-layout demo dataroot into."),
    seed: int = typer.Option(0, help="Seed: the same seed gives byte-identical files."),
) -> None:
    """Generate the embedded demo town (nuScenes layout, loadable by nuscenes-devkit)."""
    from scenarios.demo_town import build_demo_dataroot

    path = build_demo_dataroot(out, seed=seed)
    console.print(f"[green]demo dataroot written to[/] {path}")


@app.command("info")
def info(
    dataroot: Path = typer.Option(..., help="nuScenes-layout dataroot."),
    version: str = typer.Option("v1.0-mini", help="Dataset version folder under the dataroot."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the scenes of a dataroot with duration, actors and map."""
    from scenarios.nuscenes import list_scenes

    scenes = list_scenes(dataroot, version)
    rows = [{"name": s.name, "duration_s": round(s.duration_s, 2), "actors": s.num_actors, "map": s.map_name,
             "ego_poses": s.num_ego_poses, "description": s.description} for s in scenes]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title=f"{dataroot} ({version})")
    for col in ("name", "duration_s", "actors", "map", "ego_poses", "description"):
        table.add_column(col)
    for r in rows:
        table.add_row(*(str(r[c]) for c in ("name", "duration_s", "actors", "map", "ego_poses", "description")))
    console.print(table)


@app.command("import-kitti")
def import_kitti(
    left: Path = typer.Option(..., help="Left camera's image folder (KITTI cam0, e.g. sequences/04/image_0)."),
    right: Path = typer.Option(..., help="Right camera's image folder (cam1, e.g. sequences/04/image_1)."),
    calib: Path = typer.Option(..., help="Calibration file with P0 and P1 (e.g. sequences/04/calib.txt)."),
    poses: Path = typer.Option(..., help="Camera poses, one 3x4 row per frame (e.g. poses/04.txt)."),
    out: Path = typer.Option(..., help="Dataroot folder to write (nuScenes layout, version v1.0-mini)."),
    times: Optional[Path] = typer.Option(None, help="Frame times in seconds (times.txt); default 10 Hz."),
    scene: str = typer.Option("kitti-drive", help="Name of the scene in the dataroot."),
    camera_height: float = typer.Option(1.65, help="Height of cam0 above the road, metres (KITTI's rig: 1.65)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Write a KITTI odometry drive as a nuScenes-layout dataroot: one scene, both cameras, ego
    poses, and a map with one lane and a drivable corridor along the logged path (no actors)."""
    from dataclasses import asdict

    from scenarios.kitti import KittiImport
    from scenarios.kitti import import_kitti as run_import

    summary = run_import(KittiImport(left=left, right=right, calib=calib, poses=poses, out=out, times=times,
                                     scene=scene, camera_height_m=camera_height))
    if as_json:
        print(json.dumps(asdict(summary), indent=2))
        return
    console.print(f"[green]wrote[/] {summary.dataroot}: scene {summary.scene!r}, {summary.frames} stereo frames, "
                  f"{summary.duration_s:.1f} s, {summary.path_length_m:.0f} m driven, images "
                  f"{summary.image_size[0]}x{summary.image_size[1]}, baseline {summary.baseline_m:.3f} m")

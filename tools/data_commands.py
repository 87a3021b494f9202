"""`splatsim data ...`: build the demo town, list a dataroot's scenes."""

from __future__ import annotations

import json
from pathlib import Path

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

"""The Gaussian renderer of a scenario: the procedural street, or a scene PLY written by
`splatsim data build-scene` or `splatsim data reconstruct` (with its actor assets and sky)."""

from __future__ import annotations

from pathlib import Path

from sim.types.observation import Renderer
from sim.types.scenario import Scenario


def build_renderer(scenario: Scenario, cameras: list[str], width: int, height: int, backend: str = "auto",
                   scene_ply: Path | None = None) -> Renderer:
    """cameras: names (empty: the scenario's whole rig); width, height: pixels per camera."""
    from render.renderer import GaussianRenderer

    background = assets = None
    if scene_ply is not None:
        from render.assets import load_actor_assets
        from render.ply import load_ply
        from render.reconstruct.export import actor_assets_path

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

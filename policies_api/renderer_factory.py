"""How a server builds the renderer of a session: the factory type, and the Gaussian-splatting one."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable

from sim.types.observation import Renderer
from sim.types.scenario import Scenario

RendererFactory = Callable[[Scenario, list[str], int, int], Renderer]
"""renderer_factory(scenario, camera_names, width, height) -> a `sim.types.observation.Renderer` whose
`render(scenario, state)` returns CameraImages of those cameras (in that order) at width x height."""


def gaussian_renderer_factory(backend: str = "auto", cache_size: int = 8) -> RendererFactory:
    """Sessions rendered by `render.renderer.GaussianRenderer` (procedural street + actor assets
    per scenario, built once per scenario and shared by its sessions)."""
    from render.assets import build_actor_assets
    from render.procedural import StreetSceneConfig
    from render.renderer import GaussianRenderer, build_scenario_street

    built: OrderedDict[str, tuple] = OrderedDict()
    lock = threading.Lock()

    def factory(scenario: Scenario, camera_names: list[str], width: int, height: int) -> Renderer:
        with lock:  # one build per scenario, even when sessions start at once
            if scenario.name not in built:
                config = StreetSceneConfig()
                built[scenario.name] = (build_scenario_street(scenario, config),
                                        build_actor_assets(scenario.actors, seed=config.seed))
                while len(built) > cache_size:
                    built.popitem(last=False)
            background, assets = built[scenario.name]
            built.move_to_end(scenario.name)
        return GaussianRenderer.for_scenario(scenario, width, height, list(camera_names), backend,
                                             background=background, assets=assets)

    return factory

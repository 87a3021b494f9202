"""How commands name a scenario: a nuScenes-layout dataroot + scene, or a scenario file."""

from __future__ import annotations

from pathlib import Path

from sim.errors import ConfigError
from sim.types.scenario import Scenario


def load_scenario_from_args(dataroot: Path | None, scene: str | None, version: str = "v1.0-mini",
                            scenario_file: Path | None = None) -> Scenario:
    """The scenario named on the command line (exactly one of dataroot+scene or scenario_file)."""
    if scenario_file is not None:
        if dataroot is not None:
            raise ConfigError("give either --scenario-file or --dataroot/--scene, not both")
        from scenarios.scenario_file import load_scenario_file

        return load_scenario_file(scenario_file)
    if dataroot is None or scene is None:
        raise ConfigError("name a scenario with --dataroot DIR --scene NAME (see `splatsim data info --dataroot DIR`) "
                          "or with --scenario-file FILE")
    from scenarios.nuscenes import load_scenario

    return load_scenario(dataroot, scene, version)

"""How commands name scenarios: a nuScenes-layout dataroot + scene, or a scenario file; for runs
over many, small picklable references that workers load themselves."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from sim.errors import ConfigError
from sim.types.scenario import Scenario


@dataclass(frozen=True)
class ScenarioRef:
    """Where a scenario comes from: a nuScenes-layout dataroot + version + scene, or a scenario
    file. Workers load it themselves (small and picklable)."""

    scene: str
    dataroot: str | None = None
    version: str = "v1.0-mini"
    scenario_file: str | None = None

    def load(self) -> Scenario:
        if self.scenario_file:
            from scenarios.scenario_file import load_scenario_file

            return load_scenario_file(self.scenario_file)
        from scenarios.nuscenes import load_scenario

        return load_scenario(self.dataroot, self.scene, self.version)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def resolve_scenarios(dataroots: Sequence[Path], scenes: Sequence[str], version: str = "v1.0-mini",
                      scenario_files: Sequence[Path] = ()) -> list[ScenarioRef]:
    """The scenarios named on the command line: every scene of each dataroot, or only `scenes`
    (comma-separated values are split); plus scenario files."""
    from scenarios.nuscenes import list_scenes

    wanted = [s.strip() for item in scenes for s in str(item).split(",") if s.strip()]
    refs: list[ScenarioRef] = []
    found: set[str] = set()
    for root in dataroots:
        names = [info.name for info in list_scenes(root, version)]
        for name in names:
            if not wanted or name in wanted:
                refs.append(ScenarioRef(name, str(root), version))
                found.add(name)
    missing = [s for s in wanted if s not in found]
    if missing:
        raise ConfigError(f"scene(s) {', '.join(missing)} not found in {', '.join(str(d) for d in dataroots)} "
                          f"(version {version}); list them with `splatsim data info --dataroot DIR`")
    for path in scenario_files:
        refs.append(ScenarioRef(Path(path).name, scenario_file=str(path)))
    if not refs:
        raise ConfigError("no scenario to score: pass --dataroot DIR (and optionally --scenes) or --scenario-file")
    return refs


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

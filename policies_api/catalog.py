"""The scenarios a server can load: nuScenes-layout dataroots, folders of scenario files and
scenarios in memory, with LRU caches of loaded scenarios and prepared engine contexts."""

from __future__ import annotations

import json
import threading
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from policies_api.errors import FailedPrecondition, InvalidArgument, NotFound, clip, hide_paths
from proto.splatsim.v1 import simulator_pb2 as spb
from sim.engine import EngineConfig, SimContext, prepare
from sim.errors import ConfigError
from sim.types.scenario import Scenario


@dataclass
class ScenarioEntry:
    """A scenario the server can load: name, where from, and what is known before loading."""

    name: str
    source: str
    description: str = ""
    duration_us: int = 0
    num_actors: int = 0
    num_steps: int = 0
    camera_names: tuple[str, ...] = ()
    load: Callable[[], Scenario] | None = field(default=None, repr=False)


class ScenarioCatalog:
    """Scenarios from nuScenes-layout dataroots, folders of `*.scenario.npz` files and memory.

    Dataroots are opened (tables checked) at construction, so a broken dataset fails at server
    start with a DatasetError naming the file. Loaded scenarios and prepared engine contexts are
    kept in small LRU caches (both are immutable, so sessions share them).
    """

    def __init__(self, dataroots: list[tuple[str | Path, str]] = (), scenario_dirs: list[str | Path] = (),
                 scenarios: list[Scenario] = (), cache_size: int = 16):
        self._entries: dict[str, ScenarioEntry] = {}
        self._lock = threading.Lock()
        self._scenarios: OrderedDict[str, Scenario] = OrderedDict()
        self._contexts: OrderedDict[tuple, SimContext] = OrderedDict()
        self._cache_size = max(1, cache_size)
        for dataroot, version in dataroots:
            from scenarios.nuscenes import NuScenesSource

            source = NuScenesSource(dataroot, version)
            for info in source.list_scenes():
                self._add(ScenarioEntry(info.name, f"dataroot:{source.dataroot}", info.description,
                                        int(round(info.duration_s * 1e6)), info.num_actors,
                                        load=lambda s=source, n=info.name: s.load_scenario(n)))
        for folder in scenario_dirs:
            folder = Path(folder)
            if not folder.is_dir():
                raise ConfigError(f"scenario folder {folder} does not exist; pass a folder of *.scenario.npz files")
            from scenarios.scenario_file import SCENARIO_SUFFIX, load_scenario_file

            for path in sorted(folder.glob(f"*{SCENARIO_SUFFIX}")):
                self._add(ScenarioEntry(_scenario_file_name(path, SCENARIO_SUFFIX), f"file:{path}",
                                        load=lambda p=path: load_scenario_file(p)))
        for sc in scenarios:
            entry = ScenarioEntry(sc.name, "memory", load=lambda s=sc: s)
            _fill_entry(entry, sc)
            self._add(entry)

    def _add(self, entry: ScenarioEntry) -> None:
        if entry.name in self._entries:
            raise ConfigError(f"two scenarios are named {entry.name!r} ({self._entries[entry.name].source} and "
                              f"{entry.source}); serve them from separate servers or rename one")
        self._entries[entry.name] = entry

    def entries(self) -> list[ScenarioEntry]:
        with self._lock:
            return [self._entries[n] for n in sorted(self._entries)]

    def __len__(self) -> int:
        return len(self._entries)

    def scenario(self, name: str) -> Scenario:
        """The named scenario (NotFound when unknown)."""
        entry = self._entries.get(name)
        if entry is None:
            known = sorted(self._entries)
            hint = ", ".join(known[:5]) + (", ..." if len(known) > 5 else "")
            raise NotFound(f"unknown scenario {clip(name)!r}; ListScenarios names the {len(known)} served here"
                           + (f" ({hint})" if known else ""))
        with self._lock:
            if name in self._scenarios:
                self._scenarios.move_to_end(name)
                return self._scenarios[name]
            sc = entry.load()
            if sc.name != name:
                raise FailedPrecondition(f"{entry.source} holds scenario {sc.name!r}, not {name!r}; rename the file "
                                         f"to {sc.name}.scenario.npz")
            _fill_entry(entry, sc)
            self._scenarios[name] = sc
            while len(self._scenarios) > self._cache_size:
                self._scenarios.popitem(last=False)
            return sc

    def context(self, name: str, config: EngineConfig) -> SimContext:
        """The prepared engine context of a scenario under a config (shared, immutable)."""
        key = (name, config)
        with self._lock:
            if key in self._contexts:
                self._contexts.move_to_end(key)
                return self._contexts[key]
        scenario = self.scenario(name)
        try:
            ctx = prepare(scenario, config)
        except ConfigError as err:
            raise InvalidArgument(str(err)) from None
        with self._lock:
            self._contexts[key] = ctx
            while len(self._contexts) > 2 * self._cache_size:
                self._contexts.popitem(last=False)
        return ctx


def _scenario_file_name(path: Path, suffix: str) -> str:
    """A scenario file's scenario name, read from its manifest (the file name when unreadable)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return str(json.loads(archive.read("manifest.json"))["name"])
    except Exception:  # a broken file still gets listed; loading it reports what is wrong
        return path.name[: -len(suffix)]


def _fill_entry(entry: ScenarioEntry, sc: Scenario) -> None:
    entry.num_steps = sc.num_steps
    entry.duration_us = int(sc.t_us[-1] - sc.t_us[0]) if sc.num_steps else 0
    entry.num_actors = sc.actors.num_actors
    entry.camera_names = tuple(str(n) for n in available_cameras(sc))


def available_cameras(scenario: Scenario) -> list[str]:
    """Camera names a session on this scenario may ask for: its rig's, or nuScenes' six when it has none."""
    if scenario.cameras.num_cameras:
        return [str(n) for n in scenario.cameras.names]
    from render.rig import NUSCENES_CAMERA_NAMES

    return list(NUSCENES_CAMERA_NAMES)


def entry_to_proto(entry: ScenarioEntry, out: spb.ScenarioInfo, reveal_paths: bool = False) -> spb.ScenarioInfo:
    """The ScenarioInfo of an entry; its source without the server's absolute path unless revealed."""
    out.name, out.description = entry.name, entry.description
    out.source = entry.source if reveal_paths else hide_paths(entry.source)
    out.duration_us, out.num_actors, out.num_steps = entry.duration_us, entry.num_actors, entry.num_steps
    out.camera_names.extend(entry.camera_names)
    return out

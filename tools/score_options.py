"""The options `splatsim score` and `splatsim correlate` share, declared once.

A command names a group by a parameter annotated with the group's dataclass; `expand_options`
puts the group's options in its place on the command line and hands the command one frozen
dataclass of their values.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional, get_type_hints

import typer

from evaluation.scenario_refs import ScenarioRef, resolve_scenarios
from evaluation.settings import RenderSettings, ScoreSettings, default_cache_dir
from sim.errors import ConfigError
from sim.scoring.pseudo_sim import PseudoSimConfig
from sim.scoring.stage_two import FrameConfig, StageTwoConfig
from sim.scoring.traffic import Traffic

EGODRIVER_CONFIG_HELP = ("YAML/JSON/TOML file for egodriver:// policies: camera map (splatsim name -> the driver's "
                         "logical id), image format, route waypoints and padding (policies_api/egodriver/config.py). "
                         "Default: the six nuScenes cameras onto AlpaSim's usual ids, JPEG, 20 waypoints 4.2 m apart.")


def _option(default, *decls: str, help: str):
    """A dataclass field that is also a typer option (its default and help)."""
    info = typer.Option(default, *decls, help=help)
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"option": info})
    return field(default=default, metadata={"option": info})


@dataclass(frozen=True)
class ScenarioOptions:
    """Which scenarios: nuScenes-layout dataroots (every scene, or only `scenes`) and scenario files."""

    dataroot: List[Path] = _option([], "--dataroot", help="nuScenes-layout dataroot (repeatable).")
    version: str = _option("v1.0-mini", help="Dataset version folder under each dataroot.")
    scenes: List[str] = _option([], "--scenes", "--scene", help="Scene names (repeatable or comma-separated); "
                                                                "default: every scene.")
    scenario_file: List[Path] = _option([], "--scenario-file", help="Scenario file(s) (repeatable).")

    def refs(self) -> list[ScenarioRef]:
        return resolve_scenarios(self.dataroot, self.scenes, self.version, self.scenario_file)


@dataclass(frozen=True)
class PseudoSimOptions:
    """How to render, which frames and stage-two starts, the cache, and where to run."""

    cameras: List[str] = _option(["CAM_FRONT"], "--cameras", help="Cameras the policy sees (repeatable).")
    width: int = _option(240, help="Image width per camera, pixels.")
    height: int = _option(135, help="Image height per camera, pixels.")
    backend: str = _option("cpu", help="Render backend: cpu | gsplat | torch | auto.")
    frames: Optional[int] = _option(None, help="Most frames per scenario; 0: every frame that fits. Default: 3 for "
                                               "score, 0 for correlate.")
    stride_s: Optional[float] = _option(None, help="Seconds between frames. Default: 2 for score, 1 for correlate.")
    first_frame_s: float = _option(0.5, help="Time of the first frame (>= 0.5 s, its -0.5 s frame must be logged).")
    starts: str = _option("rollout", help="Stage-two starts: rollout (the 3.5 s / 4 s states of a fixed family of "
                                           "plans rolled out from each frame, NAVSIM v2) | grid (offsets around the "
                                           "log: --lateral, --longitudinal, --heading, --speed) | sample.")
    lateral: List[float] = _option([-1.0, 0.0, 1.0], "--lateral", help="Stage-two lateral offsets, m (repeatable).")
    longitudinal: List[float] = _option([-4.0, 0.0, 4.0], "--longitudinal",
                                        help="Stage-two longitudinal offsets, m (repeatable).")
    heading: List[float] = _option([0.0], "--heading", help="Stage-two heading offsets, rad (repeatable).")
    speed: List[float] = _option([0.0], "--speed", help="Stage-two speed offsets, m/s (repeatable; added to the log's "
                                                         "speed and 0.5 /s x the longitudinal offset).")
    sample_starts: int = _option(0, help="Draw this many random stage-two starts (implies --starts sample).")
    sigma2: float = _option(0.1, "--sigma2", help="sigma^2 of the proximity weights, m^2 (NAVSIM: 0.1).")
    on_vanished: str = _option("uniform", help="When all weights vanish: uniform (NAVSIM) | nearest | nan. "
                                               "Always flagged.")
    cache: Optional[Path] = _option(None, help="Observation cache folder (default: $SPLATSIM_CACHE or "
                                               "~/.cache/splatsim).")
    no_cache: bool = _option(False, "--no-cache", help="Do not read or write the observation cache.")
    workers: Optional[int] = _option(None, help="Local Ray with N CPUs (one scenario per task).")
    ray_address: Optional[str] = _option(None, help="Address of a running Ray cluster (e.g. auto or "
                                                    "ray://HOST:10001).")
    seed: int = _option(0, help="Seed of the degraded policies and of sampled starts.")
    thumbnails: str = _option("first", help="Front-camera PNGs of observations: first (frame) | all | none.")
    egodriver_config: Optional[Path] = _option(None, "--egodriver-config", help=EGODRIVER_CONFIG_HELP)
    reactive: Optional[bool] = _option(None, "--reactive/--no-reactive",
                                       help="Traffic of every scored rollout: --reactive, vehicles follow the IDM and "
                                            "react to the ego (NAVSIM v2); --no-reactive, the log is replayed. "
                                            "Default: reactive for the two-stage score and correlate (also their "
                                            "closed loop), log replay for --stage one (NAVSIM's defaults).")

    def traffic(self, default: Traffic) -> Traffic:
        """The traffic chosen, or `default` when neither --reactive nor --no-reactive was given."""
        if self.reactive is None:
            return default
        return Traffic.REACTIVE if self.reactive else Traffic.LOG_REPLAY

    def settings(self, frames_default: int = 3, stride_s_default: float = 2.0) -> ScoreSettings:
        """The score settings; `frames_default` / `stride_s_default` stand where --frames /
        --stride-s were not given (the command's defaults; frames 0: every frame that fits)."""
        if self.width < 16 or self.height < 16:
            raise ConfigError(f"--width/--height must be at least 16 pixels, got {self.width}x{self.height}")
        if self.thumbnails not in ("first", "all", "none"):
            raise ConfigError(f"--thumbnails must be first, all or none, got {self.thumbnails!r}")
        frames = frames_default if self.frames is None else self.frames
        stride_s = stride_s_default if self.stride_s is None else self.stride_s
        if frames < 0:
            raise ConfigError(f"--frames must be >= 0 (0: every frame that fits), got {frames}")
        if stride_s <= 0:
            raise ConfigError(f"--stride-s must be > 0, got {stride_s}")
        stage_two = StageTwoConfig(
            mode="sample" if self.sample_starts else self.starts, num_samples=max(self.sample_starts, 1),
            seed=self.seed,
            lateral_offsets_m=tuple(self.lateral) or (0.0,), longitudinal_offsets_m=tuple(self.longitudinal) or (0.0,),
            heading_offsets_rad=tuple(self.heading) or (0.0,), speed_offsets_mps=tuple(self.speed) or (0.0,))
        cache_dir = None if self.no_cache else str(self.cache if self.cache is not None else default_cache_dir())
        return ScoreSettings(
            render=RenderSettings(tuple(self.cameras) or ("CAM_FRONT",), self.width, self.height, self.backend),
            frames=FrameConfig(first_frame_s=self.first_frame_s, stride_s=stride_s, max_frames=frames or None),
            stage_two=stage_two, pseudo=PseudoSimConfig(sigma_squared_m2=self.sigma2, on_vanished=self.on_vanished),
            cache_dir=cache_dir, thumbnails=self.thumbnails, seed=self.seed, traffic=self.traffic(Traffic.REACTIVE),
            egodriver_config=str(self.egodriver_config) if self.egodriver_config is not None else None)


OPTION_GROUPS = (ScenarioOptions, PseudoSimOptions)


def expand_options(command: Callable) -> Callable:
    """The command with each parameter annotated by an option group replaced, in place, by the
    group's options; the command receives the group's dataclass."""
    hints = get_type_hints(command)
    params, groups = [], {}
    for p in inspect.signature(command).parameters.values():
        group = hints.get(p.name)
        if group in OPTION_GROUPS:
            groups[p.name] = group
            types = get_type_hints(group)
            params += [inspect.Parameter(f.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=f.metadata["option"],
                                         annotation=types[f.name]) for f in dataclasses.fields(group)]
        else:
            params.append(p.replace(annotation=hints.get(p.name, p.annotation)))

    @functools.wraps(command)
    def expanded(**kwargs):
        for name, group in groups.items():
            kwargs[name] = group(**{f.name: kwargs.pop(f.name) for f in dataclasses.fields(group)})
        return command(**kwargs)

    expanded.__signature__ = inspect.Signature(params, return_annotation=None)
    expanded.__annotations__ = {p.name: p.annotation for p in params}
    return expanded


def option(group: type, name: str):
    """One option of a group, for a command that takes only some of them."""
    return next(f.metadata["option"] for f in dataclasses.fields(group) if f.name == name)

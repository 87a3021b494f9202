"""What a pseudo-simulation run depends on: render settings and the whole run's settings."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from sim.scoring.epdms import EPDMSConfig
from sim.scoring.pseudo_sim import PseudoSimConfig
from sim.scoring.stage_two import FrameConfig, StageTwoConfig
from sim.scoring.traffic import Traffic


@dataclass(frozen=True)
class RenderSettings:
    """What the policies see. cameras: names (the scenario's rig, or nuScenes'); width, height:
    pixels per camera; backend: "cpu" | "gsplat" | "torch" | "auto"."""

    cameras: tuple[str, ...] = ("CAM_FRONT",)
    width: int = 240
    height: int = 135
    backend: str = "cpu"


@dataclass(frozen=True)
class ScoreSettings:
    """Everything a pseudo-simulation run depends on.

    - render, frames, stage_two, pseudo, epdms: sub-configs.
    - cache_dir: observation cache folder (None: no disk cache, observations kept in memory for
      the scenario only).
    - thumbnails: "first" (the first frame of each scenario), "all" or "none": front-camera PNGs
      of the stage-one and stage-two ("now") observations.
    - seed: seed of the degraded policies.
    - traffic: what the actors of every scored rollout do, in both stages: reactive IDM vehicles
      (NAVSIM v2's two-stage default) or the log replayed.
    - egodriver_config: the --egodriver-config file of egodriver:// policies (None: the defaults).
    """

    render: RenderSettings = RenderSettings()
    frames: FrameConfig = FrameConfig()
    stage_two: StageTwoConfig = StageTwoConfig()
    pseudo: PseudoSimConfig = PseudoSimConfig()
    epdms: EPDMSConfig = EPDMSConfig()
    cache_dir: str | None = None
    thumbnails: str = "first"
    seed: int = 0
    traffic: Traffic = Traffic.REACTIVE
    egodriver_config: str | None = None

    def to_dict(self) -> dict:
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "epdms":
                value = {"config": "default" if value == EPDMSConfig() else "custom"}
            elif isinstance(value, Traffic):
                value = value.value
            elif dataclasses.is_dataclass(value):
                value = dataclasses.asdict(value)
            out[f.name] = value
        return out


def default_cache_dir() -> Path:
    base = os.environ.get("SPLATSIM_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME")
                                                           or os.path.expanduser("~/.cache"), "splatsim")
    return Path(base) / "observations"

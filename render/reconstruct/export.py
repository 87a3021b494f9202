"""Writing a reconstruction where splatsim's renderer finds it.

- `<out>.ply`: the background, global frame, INRIA layout (`render.ply.save_ply`).
- `<out-stem>.actors.ply` + `.actors.json`: one asset per actor of the frame set, in its box
  frame (`render.assets.save_actor_assets`; the path is `actor_assets_path`, the rule
  `splatsim data build-scene` and `evaluation.scene_renderer` follow too), so
  `splatsim render --scene-file OUT` places them wherever the engine moves the
  actors. Actors no camera saw (no Gaussian fitted) get the procedural asset of their kind and
  box, so an actor the engine brings into view is never invisible.
- `<out-stem>.sky.json`: the learned sky (a `render.backends.SkyGradient`'s fields, or a
  constant colour), read back by `load_sky`.

Every file is written to a temporary name and renamed into place.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from render.assets import ActorAssets, asset_for_actor, save_actor_assets
from render.ply import save_ply
from render.reconstruct.data import ActorInfo
from sim.atomic import write_bytes_atomic
from sim.errors import SceneFileError

SKY_FORMAT = "splatsim-sky"
SKY_FORMAT_VERSION = 1


def actor_assets_path(scene_ply: str | Path) -> Path:
    """`<stem>.actors.ply` (+ `.json`) beside a scene PLY, where every writer and reader of scenes looks."""
    scene_ply = Path(scene_ply)
    return scene_ply.with_name(scene_ply.stem + ".actors.ply")


def sky_path(scene_ply: str | Path) -> Path:
    scene_ply = Path(scene_ply)
    return scene_ply.with_name(scene_ply.stem + ".sky.json")


def save_reconstruction(out: str | Path, result, actors: ActorInfo, fill_seed: int = 0) -> dict:
    """Write the background, the actor assets and the sky of a FitResult; return what was written."""
    out = Path(out)
    save_ply(out, result.background)
    written = {"ply": str(out), "gaussians": result.background.num_gaussians}
    if actors.num_actors:
        scenes, filled = [], []
        for i in range(actors.num_actors):
            scene = result.actors[i]
            if scene.num_gaussians == 0:
                scene = asset_for_actor(int(actors.kind[i]), str(actors.category[i]), actors.size_wlh_m[i],
                                        np.random.default_rng([fill_seed, i]))
                filled.append(str(actors.instance_tokens[i]))
            scenes.append(scene)
        assets = ActorAssets(np.asarray(actors.instance_tokens, dtype=object),
                             np.asarray(actors.category, dtype=object),
                             np.asarray(actors.kind, np.int8), np.asarray(actors.size_wlh_m, np.float64), tuple(scenes))
        save_actor_assets(actor_assets_path(out), assets)
        written.update({"actors_ply": str(actor_assets_path(out)), "actors": actors.num_actors,
                        "actors_reconstructed": actors.num_actors - len(filled), "actors_procedural": filled})
    save_sky(sky_path(out), result.sky)
    written["sky"] = str(sky_path(out))
    return written


def save_sky(path: str | Path, sky) -> None:
    from render.backends import SkyGradient

    if isinstance(sky, SkyGradient):
        record = {"kind": "gradient", **{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(sky).items()}}
    elif sky is None:
        record = {"kind": "none"}
    else:
        record = {"kind": "constant", "rgb": [float(v) for v in sky]}
    record = {"format": SKY_FORMAT, "version": SKY_FORMAT_VERSION, **record}
    write_bytes_atomic(Path(path), json.dumps(record, indent=1).encode())


def load_sky(path: str | Path):
    """The sky of a reconstruction: a SkyGradient, an rgb tuple or None."""
    from render.backends import SkyGradient

    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SceneFileError(f"{path}: cannot read the sky file ({exc})") from exc
    if record.get("format") != SKY_FORMAT or record.get("version") != SKY_FORMAT_VERSION:
        raise SceneFileError(f"{path}: not a {SKY_FORMAT} v{SKY_FORMAT_VERSION} file")
    try:
        if record["kind"] == "none":
            return None
        if record["kind"] == "constant":
            return tuple(float(v) for v in record["rgb"])
        return SkyGradient(zenith_rgb=tuple(record["zenith_rgb"]), horizon_rgb=tuple(record["horizon_rgb"]),
                           below_rgb=tuple(record["below_rgb"]), exponent=float(record["exponent"]),
                           below_fade=float(record["below_fade"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise SceneFileError(f"{path}: malformed sky record ({exc!r})") from exc

"""Episode files: every field of a `sim.engine.Episode` in one .npz, written atomically.

`splatsim run` writes DIR/episode.npz next to metrics.json, and `splatsim report` reads it back
to draw bird's-eye snapshots and to rescore. Arrays are stored as they are; the scalar fields
(names, floats, the end reason) are 0-d arrays; `format_version` names the layout.
"""

from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path

import numpy as np

from sim.atomic import atomic_path
from sim.engine import Episode
from sim.errors import SplatsimError
from sim.types.state import EndReason

EPISODE_FORMAT_VERSION = 2  # 2: plans carry their headings (plan_yaw_rad)
_STRING_FIELDS = ("scenario_name", "policy_name", "end_reason")
_INT_FIELDS = ("start_step",)
_BOOL_FIELDS = ("reactive",)
_FLOAT_FIELDS = ("route_start_s_m", "route_end_s_m", "wall_s", "policy_s", "render_s")


class EpisodeFileError(SplatsimError):
    """An episode file that is missing, corrupt or of an unsupported version."""


def save_episode(episode: Episode, path: str | Path) -> Path:
    """Write `episode` to `path` (.npz) via a temporary file and a rename."""
    path = Path(path)
    arrays = {"format_version": np.array(EPISODE_FORMAT_VERSION)}
    for f in dataclasses.fields(Episode):
        value = getattr(episode, f.name)
        arrays[f.name] = np.array(value) if f.name in _STRING_FIELDS + _INT_FIELDS + _BOOL_FIELDS + _FLOAT_FIELDS \
            else np.asarray(value)
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
    return path


def load_episode(path: str | Path) -> Episode:
    """Read an episode written by `save_episode`; EpisodeFileError names the file and the field."""
    path = Path(path)
    if not path.is_file():
        raise EpisodeFileError(f"episode file {path} does not exist: run `splatsim run ... --out DIR` to write "
                               "DIR/episode.npz")
    try:
        with np.load(path, allow_pickle=False) as npz:
            stored = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise EpisodeFileError(f"episode file {path} is not a readable .npz ({err}): write it again") from None
    version = int(stored.get("format_version", np.array(-1)))
    if version != EPISODE_FORMAT_VERSION:
        raise EpisodeFileError(f"episode file {path} has format_version {version}; this splatsim reads version "
                               f"{EPISODE_FORMAT_VERSION}: write it again with this version")
    values = {}
    for f in dataclasses.fields(Episode):
        if f.name not in stored:
            raise EpisodeFileError(f"episode file {path} lacks the field {f.name!r}: the file is truncated or was "
                                   "not written by save_episode; write it again")
        a = stored[f.name]
        if f.name == "end_reason":
            values[f.name] = EndReason(str(a))
        elif f.name in _STRING_FIELDS:
            values[f.name] = str(a)
        elif f.name in _INT_FIELDS:
            values[f.name] = int(a)
        elif f.name in _BOOL_FIELDS:
            values[f.name] = bool(a)
        elif f.name in _FLOAT_FIELDS:
            values[f.name] = float(a)
        else:
            values[f.name] = a
    s = len(values["step_index"])
    for name in ("t_us", "ego_xy", "ego_yaw_rad", "actor_xy", "plan_xy", "plan_yaw_rad", "collision", "route_s_m"):
        if len(values[name]) != s:
            raise EpisodeFileError(f"episode file {path}: field {name!r} has {len(values[name])} rows, step_index "
                                   f"{s}: the file is inconsistent; write it again")
    return Episode(**values)

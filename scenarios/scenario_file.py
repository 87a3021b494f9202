"""Scenario files: one `Scenario` per `<name>.scenario.npz`, versioned, round-trip exact.

Layout (a zip archive that `numpy.load` can also open):
- `manifest.json`: {"format": "splatsim-scenario", "version": 1, "name", "metadata",
  "ego_params", "map_name", "arrays": {array name: {"dtype", "shape"}}}.
- one `<array name>.npy` per array, in numpy's own format, so every array keeps its dtype and
  bytes: `t_us`, `ego.<field>`, `actors.<field>`, `cameras.<field>`, `route.<field>`,
  `map.lanes.<field>`, and the map's shapely geometry as WKB bytes (`map.drivable_area.wkb`,
  and for ped_crossings / walkways a concatenation `map.<layer>.wkb` with `map.<layer>.offsets`).
  WKB stores coordinates as the same float64 values, so polygons round-trip bit-exactly.

Files are written atomically (temp file in the same directory, then os.replace): a reader never
sees a half-written file, and a crash leaves the previous file intact. The bytes depend on the
scenario only (fixed entry times and modes, entries in name order after the manifest, a fixed
compression level), so writing the same scenario again, elsewhere or later, gives the same file
(with the same zlib).
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np
import shapely

from sim.atomic import atomic_path
from sim.errors import ScenarioFileError
from sim.types.roadmap import LaneGraph, RoadMap
from sim.types.scenario import (
    STEP_US,
    ActorKind,
    ActorTracks,
    CameraRig,
    DrivingCommand,
    EgoLog,
    EgoParams,
    Route,
    Scenario,
)

FORMAT_NAME = "splatsim-scenario"
FORMAT_VERSION = 1  # the newest version this splatsim writes and reads
SCENARIO_SUFFIX = ".scenario.npz"
MANIFEST_ENTRY = "manifest.json"

# Scenario fields that are dataclasses of arrays, saved field by field under their prefix.
_ARRAY_GROUPS: tuple[tuple[str, type], ...] = (
    ("ego", EgoLog), ("actors", ActorTracks), ("cameras", CameraRig), ("route", Route))
_POLYGON_LAYERS = ("ped_crossings", "walkways")
_ENTRY_DATE_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest zip time: entries carry no clock time
_COMPRESS_LEVEL = 6  # zlib's default, named so that the bytes do not follow a changed default


def save_scenario(scenario: Scenario, path: str | Path) -> Path:
    """Write a scenario file atomically; returns the path. Overwrites an existing file."""
    path = Path(path)
    arrays = _scenario_arrays(scenario)
    manifest = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "name": scenario.name,
        "metadata": dict(scenario.metadata),
        "ego_params": dataclasses.asdict(scenario.ego_params),
        "map_name": scenario.map.name,
        "arrays": {name: {"dtype": a.dtype.str, "shape": list(a.shape)} for name, a in arrays.items()},
    }
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            with zipfile.ZipFile(f, "w") as archive:
                _write_entry(archive, MANIFEST_ENTRY, json.dumps(manifest, indent=1, sort_keys=True).encode())
                for name in sorted(arrays):
                    buffer = io.BytesIO()
                    np.lib.format.write_array(buffer, arrays[name], allow_pickle=False)
                    _write_entry(archive, f"{name}.npy", buffer.getvalue())
            f.flush()
            os.fsync(f.fileno())
    return path


def _write_entry(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    """One entry whose bytes depend on name and data only: no clock time, umask or platform in the header."""
    info = zipfile.ZipInfo(name, date_time=_ENTRY_DATE_TIME)
    info.create_system = 3  # unix, wherever it is written
    info.external_attr = 0o644 << 16
    archive.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=_COMPRESS_LEVEL)


def load_scenario_file(path: str | Path) -> Scenario:
    """Read a scenario file; a ScenarioFileError names the file and what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise ScenarioFileError(f"scenario file {path} does not exist: write it with save_scenario (or "
                                "`splatsim data` tools) first, or check the path")
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = _read_manifest(path, archive)
            arrays = {name: _read_array(path, archive, name) for name in manifest["arrays"]}
    except zipfile.BadZipFile as err:
        raise ScenarioFileError(f"{path} is not a splatsim scenario file (not a readable zip archive: {err}); it "
                                "may be truncated or corrupt: re-create it with save_scenario") from None
    _check_arrays(path, manifest, arrays)
    return _scenario_from(path, manifest, arrays)


def scenario_differences(a: Scenario, b: Scenario) -> list[str]:
    """The fields in which two scenarios differ (arrays: dtype, shape or any bit; geometry: WKB)."""
    diffs = []
    if a.name != b.name:
        diffs.append(f"name: {a.name!r} != {b.name!r}")
    if a.metadata != b.metadata:
        diffs.append(f"metadata: {a.metadata!r} != {b.metadata!r}")
    if a.ego_params != b.ego_params:
        diffs.append(f"ego_params: {a.ego_params!r} != {b.ego_params!r}")
    if a.map.name != b.map.name:
        diffs.append(f"map.name: {a.map.name!r} != {b.map.name!r}")
    arrays_a, arrays_b = _scenario_arrays(a), _scenario_arrays(b)
    for name in sorted(set(arrays_a) | set(arrays_b)):
        x, y = arrays_a.get(name), arrays_b.get(name)
        if x is None or y is None:
            diffs.append(f"{name}: present in only one scenario")
        elif x.dtype != y.dtype or x.shape != y.shape:
            diffs.append(f"{name}: {x.dtype}{x.shape} != {y.dtype}{y.shape}")
        elif x.tobytes() != y.tobytes():
            diffs.append(f"{name}: values differ")
    return diffs


def scenarios_equal(a: Scenario, b: Scenario) -> bool:
    """Whether two scenarios are bit-for-bit the same (see scenario_differences)."""
    return not scenario_differences(a, b)


# ---- scenario <-> arrays ----------------------------------------------------------------------


def _scenario_arrays(scenario: Scenario) -> dict[str, np.ndarray]:
    arrays = {"t_us": np.asarray(scenario.t_us)}
    for prefix, _ in _ARRAY_GROUPS:
        group = getattr(scenario, prefix)
        for f in dataclasses.fields(group):
            arrays[f"{prefix}.{f.name}"] = np.asarray(getattr(group, f.name))
    for f in dataclasses.fields(LaneGraph):
        arrays[f"map.lanes.{f.name}"] = np.asarray(getattr(scenario.map.lanes, f.name))
    arrays["map.drivable_area.wkb"] = np.frombuffer(shapely.to_wkb(scenario.map.drivable_area), dtype=np.uint8)
    for layer in _POLYGON_LAYERS:
        blobs = [shapely.to_wkb(p) for p in getattr(scenario.map, layer)]
        arrays[f"map.{layer}.wkb"] = np.frombuffer(b"".join(blobs), dtype=np.uint8)
        arrays[f"map.{layer}.offsets"] = np.concatenate([[0], np.cumsum([len(b) for b in blobs])]).astype(np.int64)
    for name, array in arrays.items():
        if array.dtype.hasobject:
            raise ScenarioFileError(f"cannot save scenario {scenario.name!r}: array {name!r} has dtype object; "
                                    "store strings as numpy unicode arrays (np.array(values, dtype=str))")
    return arrays


def _scenario_from(path: Path, manifest: dict, arrays: dict[str, np.ndarray]) -> Scenario:
    def take(name: str) -> np.ndarray:
        if name not in arrays:
            raise ScenarioFileError(f"{path} lacks the array {name!r}: the file is incomplete; re-create it with "
                                    "save_scenario")
        return arrays[name]

    def group(prefix: str, cls: type):
        return cls(**{f.name: take(f"{prefix}.{f.name}") for f in dataclasses.fields(cls)})

    def polygons(layer: str) -> tuple:
        blob, offsets = take(f"map.{layer}.wkb").tobytes(), take(f"map.{layer}.offsets")
        return tuple(_from_wkb(path, f"map.{layer}.wkb", blob[a:b]) for a, b in zip(offsets[:-1], offsets[1:]))

    try:
        ego_params = EgoParams(**manifest["ego_params"])
        name, metadata, map_name = manifest["name"], dict(manifest["metadata"]), manifest["map_name"]
    except (KeyError, TypeError) as err:
        raise ScenarioFileError(f"{path}: {MANIFEST_ENTRY} has a missing or malformed entry ({err!r}): re-create "
                                "the file with save_scenario") from None
    road_map = RoadMap(
        name=map_name,
        drivable_area=_from_wkb(path, "map.drivable_area.wkb", take("map.drivable_area.wkb").tobytes()),
        lanes=group("map.lanes", LaneGraph),
        ped_crossings=polygons("ped_crossings"),
        walkways=polygons("walkways"),
    )
    groups = {prefix: group(prefix, cls) for prefix, cls in _ARRAY_GROUPS}
    return Scenario(name=name, t_us=take("t_us"), map=road_map, ego_params=ego_params, metadata=metadata, **groups)


# ---- checks of the values ---------------------------------------------------------------------

# Each array's dtype kind and shape, in dimensions: T steps, N actors, C cameras, L lanes, and
# free counts (P, Q, R, S, W); "L+1" is one more than L. Floats must be finite (invalid actor
# steps too: positions there are kept finite); "+" marks floats that must be > 0.
_ARRAY_SPECS: dict[str, tuple[str, tuple]] = {
    "t_us": ("i", ("T",)),
    "ego.xy": ("f", ("T", 2)), "ego.z": ("f", ("T",)), "ego.yaw_rad": ("f", ("T",)),
    "ego.speed_mps": ("f", ("T",)), "ego.valid": ("b", ("T",)),
    "actors.instance_tokens": ("U", ("N",)), "actors.category": ("U", ("N",)), "actors.kind": ("i", ("N",)),
    "actors.size_wlh_m": ("f+", ("N", 3)), "actors.xy": ("f", ("N", "T", 2)), "actors.z": ("f", ("N", "T")),
    "actors.yaw_rad": ("f", ("N", "T")), "actors.velocity_xy_mps": ("f", ("N", "T", 2)),
    "actors.valid": ("b", ("N", "T")),
    "cameras.names": ("U", ("C",)), "cameras.intrinsics": ("f", ("C", 3, 3)),
    "cameras.pose_camera_to_ego": ("f", ("C", 4, 4)), "cameras.width_px": ("i", ("C",)),
    "cameras.height_px": ("i", ("C",)),
    "route.lane_indices": ("i", ("R",)), "route.centerline_xy": ("f", ("Q", 2)), "route.driving_command": ("i", ("T",)),
    "map.lanes.tokens": ("U", ("L",)), "map.lanes.centerline_xy": ("f", ("P", 2)), "map.lanes.offsets": ("i", ("L+1",)),
    "map.lanes.width_m": ("f+", ("L",)), "map.lanes.is_connector": ("b", ("L",)),
    "map.lanes.successor_offsets": ("i", ("L+1",)), "map.lanes.successor_indices": ("i", ("S",)),
}


def _check_arrays(path: Path, manifest: dict, arrays: dict[str, np.ndarray]) -> None:
    """A ScenarioFileError naming the file and the array (or manifest field) whose values cannot be used."""
    def bad(name: str, problem: str) -> ScenarioFileError:
        return ScenarioFileError(f"{path}: array {name!r} {problem}: the file is corrupt or was written by "
                                 "other code; re-create it with save_scenario from a checked source")

    for name, array in arrays.items():
        declared = manifest["arrays"][name]
        if not isinstance(declared, dict) or (declared.get("dtype"), declared.get("shape")) != (
                array.dtype.str, list(array.shape)):
            raise bad(name, f"is {array.dtype.str}{list(array.shape)} but the manifest declares {declared!r}")
    dims: dict[str, int] = {}
    for name, (kind, shape) in _ARRAY_SPECS.items():
        if name not in arrays:
            continue  # _scenario_from names a missing array
        array = arrays[name]
        # An empty array holds no value of a wrong type (np.array([]) is float64, even for tokens).
        if (array.dtype.kind != kind[0] and array.size) or array.ndim != len(shape):
            raise bad(name, f"has dtype {array.dtype} and {array.ndim} dimensions, not {kind[0]!r} and {len(shape)}")
        for axis, (dim, size) in enumerate(zip(shape, array.shape)):
            extra = 1 if dim == "L+1" else 0  # offsets: one more than the lanes
            expected = dim if isinstance(dim, int) else dims.setdefault(str(dim)[0], size - extra) + extra
            if size != expected:
                raise bad(name, f"has {size} entries along axis {axis}, not {expected} ({dim})")
        if kind[0] == "f" and not np.isfinite(array).all():
            raise bad(name, f"holds {np.count_nonzero(~np.isfinite(array))} non-finite values (NaN or inf)")
        if kind == "f+" and not (array > 0).all():
            raise bad(name, f"holds {np.count_nonzero(array <= 0)} values <= 0 (sizes and widths are > 0)")
    t_us = arrays.get("t_us")
    if t_us is not None and len(t_us) > 1 and not (np.diff(t_us) == STEP_US).all():
        raise bad("t_us", f"is not a {STEP_US} us grid (steps of 0.1 s)")
    num_lanes = dims.get("L", 0)
    for name, allowed in (("actors.kind", [k.value for k in ActorKind]),
                          ("route.driving_command", [c.value for c in DrivingCommand]),
                          ("route.lane_indices", range(num_lanes)), ("map.lanes.successor_indices", range(num_lanes))):
        if name in arrays and not np.isin(arrays[name], list(allowed)).all():
            outside = arrays[name][~np.isin(arrays[name], list(allowed))]
            raise bad(name, f"holds {outside[0]}, not one of {list(allowed)[:8]}{'...' if len(allowed) > 8 else ''}")
    ego_params = manifest.get("ego_params")
    if isinstance(ego_params, dict):
        for key, value in ego_params.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not np.isfinite(value):
                raise ScenarioFileError(f"{path}: {MANIFEST_ENTRY} has ego_params.{key} = {value!r}, not a finite "
                                        "number: re-create the file with save_scenario")


# ---- low-level reading ------------------------------------------------------------------------


def _read_manifest(path: Path, archive: zipfile.ZipFile) -> dict:
    try:
        raw = archive.read(MANIFEST_ENTRY)
    except KeyError:
        raise ScenarioFileError(f"{path} is not a splatsim scenario file: it has no {MANIFEST_ENTRY} (a plain "
                                ".npz?); write scenario files with save_scenario") from None
    except (zlib.error, EOFError, OSError) as err:
        raise ScenarioFileError(f"{path}: {MANIFEST_ENTRY} is corrupt ({err}): re-create the file") from None
    try:
        manifest = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ScenarioFileError(f"{path}: {MANIFEST_ENTRY} is not valid JSON ({err}): re-create the file") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise ScenarioFileError(f"{path} is not a splatsim scenario file: its manifest says format {found!r}, "
                                f"not {FORMAT_NAME!r}")
    version = manifest.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ScenarioFileError(f"{path}: manifest version {version!r} is not a valid format version (1, 2, ...): "
                                "re-create the file with save_scenario")
    if version > FORMAT_VERSION:
        raise ScenarioFileError(f"{path} is a version {version} scenario file; this splatsim reads scenario files "
                                f"up to version {FORMAT_VERSION}: upgrade splatsim to read it")
    if not isinstance(manifest.get("arrays"), dict):
        raise ScenarioFileError(f"{path}: {MANIFEST_ENTRY} has no 'arrays' table: re-create the file")
    return manifest


def _read_array(path: Path, archive: zipfile.ZipFile, name: str) -> np.ndarray:
    entry = f"{name}.npy"
    try:
        with archive.open(entry) as f:
            return np.lib.format.read_array(io.BytesIO(f.read()), allow_pickle=False)
    except KeyError:
        raise ScenarioFileError(f"{path} lacks the array {name!r} ({entry}) its manifest lists: the file is "
                                "incomplete; re-create it with save_scenario") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError) as err:
        raise ScenarioFileError(f"{path}: array {name!r} ({entry}) is corrupt ({err}): re-create the file") from None


def _from_wkb(path: Path, name: str, blob: bytes) -> shapely.Geometry:
    try:
        return shapely.from_wkb(blob)
    except shapely.errors.GEOSException as err:
        raise ScenarioFileError(f"{path}: geometry {name!r} is not valid WKB ({err}): re-create the file") from None

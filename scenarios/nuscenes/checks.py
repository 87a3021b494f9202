"""Checks of the tables' records before anything uses them.

A bad value that the adapter took as it is changed safety scores without a word (a negative box
size hid a collision; a zero quaternion read as yaw 0), so every value the adapter or the devkit's
indexing reads is checked here: numbers finite and of the right shape, box sizes > 0, quaternions
normalisable (and normalised in place), timestamps integers that increase along each chain, and
every token link pointing to a record that exists. The first bad record raises a DatasetError
naming the table file, the record's token, the field and the fix.

Values are gathered per field and checked as numpy arrays; a record-by-record scan runs only to
name the record once an array check failed.
"""

from __future__ import annotations

from operator import itemgetter
from pathlib import Path
from typing import Callable

import numpy as np

from sim.errors import DatasetError

QUATERNION_MIN_NORM = 1e-6  # below this a rotation has no direction to normalise to
_UNIT_NORM_TOLERANCE = 1e-9  # quaternions this close to unit norm are left bit-for-bit as stored
# Tables without which no scene can be replayed; the others may be empty (a log without annotations).
REQUIRED_TABLES = ("sensor", "calibrated_sensor", "ego_pose", "log", "scene", "sample", "sample_data", "map")
_REEXPORT = "correct the record or re-export the dataset"

# (table, field, target table, may be "" for none): every token link the adapter or the devkit follows.
LINKS = (
    ("instance", "category_token", "category", False),
    ("instance", "first_annotation_token", "sample_annotation", False),
    ("instance", "last_annotation_token", "sample_annotation", False),
    ("calibrated_sensor", "sensor_token", "sensor", False),
    ("scene", "log_token", "log", False),
    ("scene", "first_sample_token", "sample", False),
    ("scene", "last_sample_token", "sample", False),
    ("sample", "scene_token", "scene", False),
    ("sample", "prev", "sample", True),
    ("sample", "next", "sample", True),
    ("sample_data", "sample_token", "sample", False),
    ("sample_data", "ego_pose_token", "ego_pose", False),
    ("sample_data", "calibrated_sensor_token", "calibrated_sensor", False),
    ("sample_data", "prev", "sample_data", True),
    ("sample_data", "next", "sample_data", True),
    ("sample_annotation", "sample_token", "sample", False),
    ("sample_annotation", "instance_token", "instance", False),
    ("sample_annotation", "prev", "sample_annotation", True),
    ("sample_annotation", "next", "sample_annotation", True),
)


def check_tables(table_root: Path, tables: dict[str, list]) -> None:
    """Check every table's records (see the module doc); normalises quaternions in place.

    tables: table name -> the records parsed from `<table_root>/<name>.json`.
    """
    path = {name: table_root / f"{name}.json" for name in tables}
    for name, records in tables.items():
        _check_objects(path[name], records, required=name in REQUIRED_TABLES)
    tokens = {name: set(_values(records, "token")) for name, records in tables.items()}
    for name, records in tables.items():
        if len(tokens[name]) != len(records):  # the devkit's index would keep only the last of them
            seen: set[str] = set()
            twice = next(r["token"] for r in records if r["token"] in seen or seen.add(r["token"]))
            raise DatasetError(f"{path[name]}: token {twice} belongs to more than one record: tokens are unique; "
                               f"{_REEXPORT}")
    for table, field_name, target, optional in LINKS:
        _check_link(path[table], tables[table], field_name, path[target], tokens[target], optional)
    logs_with_map = {log for m in tables["map"] for log in _list_field(path["map"], m, "log_tokens")}
    for log in tables["log"]:
        if log["token"] not in logs_with_map:
            raise DatasetError(f"{path['log']}: log {log['token']} is in no log_tokens list of {path['map']}: "
                               "add it to the log_tokens of its map record")

    ann = tables["sample_annotation"]
    _vectors(path["sample_annotation"], ann, "translation", 3, "global x, y, z in metres")
    size = _vectors(path["sample_annotation"], ann, "size", 3, "width, length, height in metres")
    _require(path["sample_annotation"], ann, "size", (size > 0).all(axis=1), "a box size must be > 0 in every "
             "dimension (a box of no or negative size is never hit)")
    _quaternions(path["sample_annotation"], ann)
    for name in ("ego_pose", "calibrated_sensor"):
        _vectors(path[name], tables[name], "translation", 3, "x, y, z in metres")
        _quaternions(path[name], tables[name])
    _check_intrinsics(path["calibrated_sensor"], tables["calibrated_sensor"])
    _check_sample_data_fields(path["sample_data"], tables["sample_data"])
    names: set[str] = set()
    for scene in tables["scene"]:
        if not isinstance(scene.get("name"), str) or scene["name"] in names:
            raise _bad(path["scene"], scene["token"], "name", scene.get("name"), "a scene's name must be a string "
                       "that no earlier scene has (scenes are looked up by name)")
        names.add(scene["name"])

    times = {name: _timestamps(path[name], tables[name]) for name in ("ego_pose", "sample", "sample_data")}
    _check_chain_times(path["sample"], tables["sample"], {"timestamp": times["sample"]})
    pose_index = {token: i for i, token in enumerate(_values(tables["ego_pose"], "token"))}
    pose_t_us = times["ego_pose"][[pose_index[token] for token in _values(tables["sample_data"], "ego_pose_token")]]
    _check_chain_times(path["sample_data"], tables["sample_data"],
                       {"timestamp": times["sample_data"], "ego_pose_token's timestamp": pose_t_us})


def _values(records: list[dict], field_name: str) -> list:
    """The field of every record, None where it is missing."""
    try:
        return list(map(itemgetter(field_name), records))
    except KeyError:
        return [r.get(field_name) for r in records]


def _bad(path: Path, token, field_name: str, value, problem: str, fix: str = _REEXPORT) -> DatasetError:
    shown = repr(value)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    return DatasetError(f"{path}: record {token} has {field_name} {shown}: {problem}; {fix}")


def _check_objects(path: Path, records: list, required: bool) -> None:
    if required and not records:
        raise DatasetError(f"{path} has no records, and no scene can be replayed without them: restore the file "
                           "from the dataset")
    if not _all_of_type(records, dict):
        i, record = next((i, r) for i, r in enumerate(records) if type(r) is not dict)
        raise DatasetError(f"{path}: record #{i} is a {type(record).__name__}, not an object: the file must "
                           "hold a list of records; restore it from the dataset")
    tokens = _values(records, "token")
    if not _all_of_type(tokens, str) or "" in tokens:
        i = next(i for i, token in enumerate(tokens) if type(token) is not str or not token)
        raise DatasetError(f"{path}: record #{i} has no token (a non-empty string); {_REEXPORT}")


def _all_of_type(values: list, *types: type) -> bool:
    """Whether each value is exactly of one of the types (so a bool is no int), at C speed."""
    return set(map(type, values)) <= set(types)


def _require(path: Path, records: list[dict], field_name: str, ok: np.ndarray, problem: str,
             fix: str = _REEXPORT) -> None:
    """A DatasetError naming the first record where ok (N,) is False."""
    if not ok.all():
        i = int(np.argmin(ok))
        raise _bad(path, records[i]["token"], field_name, records[i].get(field_name), problem, fix)


def _first(records: list[dict], field_name: str, is_bad: Callable[[object], bool]) -> dict:
    return next(r for r in records if is_bad(r.get(field_name)))


def _number_array(values: list, shape: tuple[int, ...]) -> np.ndarray | None:
    """values as a float64 array of the given shape; None unless all are numbers (not bools or strings)."""
    if not values:  # an empty table (a log without annotations): np.array([]) has no columns to check
        return np.zeros(shape)
    try:
        array = np.array(values)
    except (TypeError, ValueError):  # ragged lists
        return None
    if array.dtype.kind not in "iuf" or array.shape != shape:
        return None
    return array.astype(np.float64, copy=False)


def _vectors(path: Path, records: list[dict], field_name: str, width: int, meaning: str) -> np.ndarray:
    """(N, width) finite float64 values of field_name; a DatasetError naming the first bad record."""
    array = _number_array(_values(records, field_name), (len(records), width))
    if array is None:
        def not_numbers(v):
            return _number_array([v], (1, width)) is None

        r = _first(records, field_name, not_numbers)
        raise _bad(path, r["token"], field_name, r.get(field_name), f"not a list of {width} numbers ({meaning})")
    _require(path, records, field_name, np.isfinite(array).all(axis=1), f"values must be finite ({meaning})")
    return array


def _quaternions(path: Path, records: list[dict]) -> None:
    """Check the rotation fields (w, x, y, z) and rewrite those that are not of unit norm normalised."""
    q = _vectors(path, records, "rotation", 4, "a quaternion w, x, y, z")
    norm = np.linalg.norm(q, axis=1)
    _require(path, records, "rotation", norm > QUATERNION_MIN_NORM,
             "a quaternion of (near) zero norm is no rotation (it would read as heading 0)")
    for i in np.flatnonzero(np.abs(norm - 1.0) > _UNIT_NORM_TOLERANCE):
        records[i]["rotation"] = (q[i] / norm[i]).tolist()


def _check_intrinsics(path: Path, records: list[dict]) -> None:
    for r in records:
        k = r.get("camera_intrinsic", [])
        if k == []:  # a sensor other than a camera
            continue
        array = _number_array([k], (1, 3, 3))
        if array is None or not np.isfinite(array).all():
            raise _bad(path, r["token"], "camera_intrinsic", k, "a camera's K must be 3x3 finite numbers "
                       "([] for other sensors)")


def _check_sample_data_fields(path: Path, records: list[dict]) -> None:
    if not _all_of_type(_values(records, "is_key_frame"), bool):
        r = _first(records, "is_key_frame", lambda v: type(v) is not bool)
        raise _bad(path, r["token"], "is_key_frame", r.get("is_key_frame"), "must be true or false")
    for field_name in ("width", "height"):  # absent or null: the camera's default size
        sizes = _values(records, field_name)
        if not _all_of_type(sizes, int, type(None)) or min((v for v in sizes if v is not None), default=0) < 0:
            r = _first(records, field_name, lambda v: v is not None and (type(v) is not int or v < 0))
            raise _bad(path, r["token"], field_name, r.get(field_name), "an image size is an integer >= 0 "
                       "pixels (0 for sensors other than cameras)")


def _timestamps(path: Path, records: list[dict]) -> np.ndarray:
    """(N,) int64 timestamps in microseconds; a DatasetError naming a record whose timestamp is no integer."""
    values = _values(records, "timestamp")
    if not _all_of_type(values, int):
        r = _first(records, "timestamp", lambda v: type(v) is not int)
        raise _bad(path, r["token"], "timestamp", r.get("timestamp"), "a timestamp is an integer number of "
                   "microseconds")
    try:
        return np.array(values, dtype=np.int64)
    except OverflowError:
        r = _first(records, "timestamp", lambda v: abs(v) >= 2**63)
        raise _bad(path, r["token"], "timestamp", r["timestamp"], "out of range for microseconds") from None


def _check_chain_times(path: Path, records: list[dict], times_us: dict[str, np.ndarray]) -> None:
    """Each of times_us (what -> (N,) times of the records) must increase strictly from a record to its `next`."""
    index = {token: i for i, token in enumerate(_values(records, "token"))}
    pairs = np.array([(i, index[r["next"]]) for i, r in enumerate(records) if r["next"]], dtype=np.int64)
    for what, t_us in times_us.items():
        later = t_us[pairs[:, 1]] > t_us[pairs[:, 0]] if len(pairs) else np.ones(0, bool)
        if not later.all():
            i, j = pairs[np.argmin(later)]
            raise DatasetError(
                f"{path}: record {records[i]['token']} ({what} {int(t_us[i])}) is not earlier than its next "
                f"record {records[j]['token']} ({what} {int(t_us[j])}): timestamps must increase along each "
                f"prev/next chain; {_REEXPORT}")


def _list_field(path: Path, record: dict, field_name: str) -> list:
    value = record.get(field_name)
    if not isinstance(value, list):
        raise _bad(path, record["token"], field_name, value, "must be a list of tokens")
    return value


def _check_link(path: Path, records: list[dict], field_name: str, target_path: Path, targets: set[str],
                optional: bool) -> None:
    values = _values(records, field_name)
    try:
        linked = targets.issuperset(values) or (optional and (targets | {""}).issuperset(values))
    except TypeError:  # an unhashable value (a list or an object)
        linked = False
    if linked:
        return
    for r, v in zip(records, values):
        if not (isinstance(v, str) and (v in targets or (optional and v == ""))):
            raise DatasetError(
                f"{path}: record {r['token']} has {field_name} {v!r}, which is not in {target_path}. The dataset "
                f"is inconsistent: repair the link or re-export it.")

"""The dataroot's tables: loading them through nuscenes-devkit, and reading their records.

Each table file is parsed once, checked by `checks.check_tables` and handed to the devkit. Every
record the adapter uses is read through `NuScenesTables`, so a dangling token or a missing record
surfaces as a DatasetError that names the file and the record referring to it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from nuscenes.nuscenes import NuScenes

from scenarios.nuscenes.checks import check_tables
from sim.errors import DatasetError

# The tables NuScenes() opens; all must exist.
TABLE_NAMES = ("category", "attribute", "visibility", "instance", "sensor", "calibrated_sensor", "ego_pose",
               "log", "scene", "sample", "sample_data", "sample_annotation", "map")
EGO_POSE_CHANNEL = "LIDAR_TOP"  # the 10 Hz channel whose sweeps carry ego poses

class NuScenesTables:
    """One dataroot's tables, loaded and indexed once.

    Construction loads and checks the tables (a DatasetError names what is wrong). `nusc` is the
    devkit's `NuScenes` object, for readers of sensor records.
    """

    def __init__(self, dataroot: Path, version: str):
        self.dataroot = dataroot
        self.version = version
        self.nusc = load_tables(dataroot, version)
        self._scenes_by_name = {s["name"]: s for s in self.nusc.scene}
        self._samples_by_scene: dict[str, list[dict]] = defaultdict(list)
        for sample in self.nusc.sample:
            self._samples_by_scene[sample["scene_token"]].append(sample)
        for samples in self._samples_by_scene.values():
            samples.sort(key=lambda s: s["timestamp"])
        scene_of_sample = {s["token"]: s["scene_token"] for s in self.nusc.sample}
        self._ego_pose_sample_data: dict[str, list[dict]] = defaultdict(list)
        for sd in self.nusc.sample_data:
            if sd["channel"] != EGO_POSE_CHANNEL:
                continue
            if sd["sample_token"] not in scene_of_sample:
                raise self.link_error("sample_data", sd["token"], "sample_token", "sample", sd["sample_token"])
            self._ego_pose_sample_data[scene_of_sample[sd["sample_token"]]].append(sd)

    @property
    def scenes(self) -> list[dict]:
        """The scene records, in table order."""
        return self.nusc.scene

    def table_path(self, table: str) -> Path:
        return self.dataroot / self.version / f"{table}.json"

    def link_error(self, table: str, token: str, field_name: str, target: str, missing: str) -> DatasetError:
        return DatasetError(
            f"{self.table_path(table)}: record {token} has {field_name} {missing!r}, which is not in "
            f"{self.table_path(target)}. The dataset is inconsistent: repair the link or re-export it.")

    def record(self, table: str, token: str, referrer_table: str, referrer_token: str, field_name: str) -> dict:
        """nusc.get with a DatasetError naming the referring record when the token is dangling."""
        try:
            return self.nusc.get(table, token)
        except KeyError:
            raise self.link_error(referrer_table, referrer_token, field_name, table, token) from None

    def scene(self, scene_name: str) -> dict:
        try:
            return self._scenes_by_name[scene_name]
        except KeyError:
            raise DatasetError(
                f"scene {scene_name!r} is not in {self.table_path('scene')}; available scenes: "
                f"{', '.join(s['name'] for s in self.scenes) or '(none)'}") from None

    def log(self, scene: dict) -> dict:
        return self.record("log", scene["log_token"], "scene", scene["token"], "log_token")

    def samples(self, scene: dict) -> list[dict]:
        """The scene's samples (keyframes), sorted by time; a DatasetError when it has none."""
        samples = self._samples_by_scene.get(scene["token"])
        if not samples:
            raise DatasetError(f"{self.table_path('scene')}: scene {scene['name']!r} ({scene['token']}) has no "
                               f"samples in {self.table_path('sample')}: the scene cannot be replayed")
        return samples

    def ego_pose_sample_data(self, scene: dict) -> list[dict]:
        """The scene's EGO_POSE_CHANNEL sample_data (sweeps and keyframes), in table order; may be empty."""
        return self._ego_pose_sample_data.get(scene["token"], [])


def load_tables(dataroot: Path, version: str) -> NuScenes:
    table_root = dataroot / version
    if not dataroot.is_dir():
        raise DatasetError(f"dataroot {dataroot} does not exist: pass the folder that contains {version}/ and maps/")
    missing = [str(table_root / f"{t}.json") for t in TABLE_NAMES if not (table_root / f"{t}.json").is_file()]
    if missing:
        # A folder of dataroots (like ../shared/data/nuscenes-real) is a common mix-up: name them.
        below = sorted(str(p.parent) for p in dataroot.glob(f"*/{version}"))[:5]
        hint = f" Dataroots below it: {', '.join(below)}." if below else ""
        raise DatasetError(f"{dataroot} is not a nuScenes dataroot for version {version!r}: missing "
                           f"{', '.join(missing)}. Pass the dataroot that contains {version}/ (and maps/), "
                           f"or the right version.{hint}")
    tables = {table: read_table(table_root, table) for table in TABLE_NAMES}
    check_tables(table_root, tables)
    # NuScenes() asserts that every map record's PNG mask exists; check first to name the file.
    for record in tables["map"]:
        png = dataroot / str(record.get("filename", ""))
        if not png.is_file():
            raise DatasetError(f"{table_root / 'map.json'}: record {record['token']} names the map mask {png}, "
                               "which is missing. nuscenes-devkit needs it to load the tables: restore the "
                               "maps/*.png files of the dataset.")
    try:
        return _CheckedNuScenes(tables, version=version, dataroot=str(dataroot), verbose=False)
    except Exception as err:  # noqa: BLE001 - the devkit signals bad records with bare Exception/AssertionError
        raise DatasetError(f"nuscenes-devkit could not load the tables in {table_root}: "
                           f"{type(err).__name__}: {err}. Repair or re-export the dataset.") from None


class _CheckedNuScenes(NuScenes):
    """NuScenes on tables already read and checked, so that each file is parsed once."""

    def __init__(self, tables: dict[str, list[dict]], **kwargs):
        self._checked_tables = tables
        super().__init__(**kwargs)

    def __load_table__(self, table_name: str) -> list[dict]:
        if table_name in self._checked_tables:
            return self._checked_tables[table_name]
        return super().__load_table__(table_name)  # optional tables the adapter does not read (lidarseg)


def read_table(table_root: Path, table: str) -> list:
    """The records of one table file; a DatasetError naming the file when it is empty, not JSON or not a list."""
    path = table_root / f"{table}.json"
    data = path.read_bytes()
    if not data.strip():
        raise DatasetError(f"{path} is empty: restore the file from the dataset (a table without records is [])")
    try:
        records = json.loads(data)
    except ValueError as err:  # JSONDecodeError, or UnicodeDecodeError for binary garbage
        raise DatasetError(f"{path} is not valid JSON ({type(err).__name__}: {err}): restore the file from the "
                           "dataset") from None
    if not isinstance(records, list):
        raise DatasetError(f"{path} holds a {type(records).__name__}, not a list of records: restore the file")
    return records

"""The dataroot's tables: loading them through nuscenes-devkit, and reading their records.

Every record the adapter uses is read through `NuScenesTables`, so a dangling token or a
missing record surfaces as a DatasetError that names the file and the record referring to it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from nuscenes.nuscenes import NuScenes

from sim.errors import DatasetError

# The tables NuScenes() opens; all must exist.
TABLE_NAMES = ("category", "attribute", "visibility", "instance", "sensor", "calibrated_sensor", "ego_pose",
               "log", "scene", "sample", "sample_data", "sample_annotation", "map")
EGO_POSE_CHANNEL = "LIDAR_TOP"  # the 10 Hz channel whose sweeps carry ego poses

# Token links that NuScenes() follows while building its reverse index:
# (table, field, table the field points into). Used only to explain a KeyError.
_INDEXED_LINKS = (
    ("sample_annotation", "instance_token", "instance"),
    ("instance", "category_token", "category"),
    ("sample_data", "calibrated_sensor_token", "calibrated_sensor"),
    ("calibrated_sensor", "sensor_token", "sensor"),
    ("sample_data", "sample_token", "sample"),
    ("sample_annotation", "sample_token", "sample"),
)


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
    # NuScenes() asserts that every map record's PNG mask exists; check first to name the file.
    for record in read_table(table_root, "map"):
        png = dataroot / str(record.get("filename", ""))
        if not png.is_file():
            raise DatasetError(f"{table_root / 'map.json'}: record {record.get('token')} names the map mask {png}, "
                               "which is missing. nuscenes-devkit needs it to load the tables: restore the "
                               "maps/*.png files of the dataset.")
    try:
        return NuScenes(version=version, dataroot=str(dataroot), verbose=False)
    except json.JSONDecodeError:
        for table in TABLE_NAMES:
            read_table(table_root, table)  # raises the DatasetError naming the broken table
        raise
    except KeyError as err:
        raise _broken_link_error(table_root, err.args[0] if err.args else "") from None
    except Exception as err:  # noqa: BLE001 - the devkit signals bad records with bare Exception/AssertionError
        raise DatasetError(f"nuscenes-devkit could not load the tables in {table_root}: "
                           f"{type(err).__name__}: {err}. Repair or re-export the dataset.") from None


def read_table(table_root: Path, table: str) -> list[dict]:
    """The records of one table file; a DatasetError when it is not JSON or not a list."""
    path = table_root / f"{table}.json"
    try:
        with open(path) as f:
            records = json.load(f)
    except json.JSONDecodeError as err:
        raise DatasetError(f"{path} is not valid JSON ({err}): restore the file from the dataset") from None
    if not isinstance(records, list):
        raise DatasetError(f"{path} holds a {type(records).__name__}, not a list of records: restore the file")
    return records


def _broken_link_error(table_root: Path, missing: str) -> DatasetError:
    """Explain the KeyError NuScenes() raised while indexing: which record links to what."""
    for table, field_name, target in _INDEXED_LINKS:
        for record in read_table(table_root, table):
            if record.get(field_name) == missing:
                return DatasetError(
                    f"{table_root / (table + '.json')}: record {record.get('token')} has {field_name} {missing!r}, "
                    f"which is not in {table_root / (target + '.json')}. The dataset is inconsistent: repair "
                    "the link or re-export it.")
    if any(log.get("token") == missing for log in read_table(table_root, "log")):
        return DatasetError(f"{table_root / 'log.json'}: log {missing!r} is in no log_tokens list of "
                            f"{table_root / 'map.json'}: add it to its map record")
    return DatasetError(f"{table_root}: nuscenes-devkit looked up {missing!r} while indexing the tables and no "
                        "table holds it (a broken token link or a record missing a field): repair or re-export "
                        "the dataset")

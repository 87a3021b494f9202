"""How splatsim drives an AlpaSim driver: the camera map and the per-step options (`--egodriver-config FILE`).

A small YAML, JSON or TOML file; every key is optional:

    cameras:                                   # splatsim camera name -> the driver's logical id
      CAM_FRONT: camera_front_wide_120fov      # short form
      CAM_BACK: {logical_id: camera_rear_tele_30fov, model: opencv_pinhole, shutter: global}
    image_format: jpeg                         # jpeg | png
    jpeg_quality: 90
    route_waypoints: 20                        # AlpaSim's RouteGenerator: 20 waypoints over 80 m
    route_spacing_m: 4.2105
    route_padding: repeat                      # repeat | nan | none (when less route is left)
    ground_truth: false                        # also submit_recording_ground_truth (the logged ego)
    contract_revision: auto                    # auto | 1 | 2 (carla-driver-interface's camera convention)
    timeout_s: 10
    connect_timeout_s: 10

`cameras` replaces the default map (DEFAULT_CAMERAS: the six nuScenes cameras onto AlpaSim's usual
ids). splatsim renders OpenCV pinhole cameras without distortion and with a global shutter; a
camera declared with another model or shutter is refused.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from pathlib import Path

from sim.errors import ConfigError

PINHOLE = "opencv_pinhole"
GLOBAL_SHUTTER = "global"
# Camera models and shutters AlpaSim declares that splatsim's renderer does not produce.
UNRENDERABLE_MODELS = ("ftheta", "opencv_fisheye", "bivariate_windshield")
UNRENDERABLE_SHUTTERS = ("rolling_top_to_bottom", "rolling_left_to_right", "rolling_bottom_to_top",
                         "rolling_right_to_left")
IMAGE_FORMATS = ("jpeg", "png")
# repeat: the last waypoint repeated (finite, AlpaSim's count); nan: NaN rows as AlpaSim's
# RouteGenerator.prepare_for_policy pads (route_follower 2.3.1 then computes a NaN route length and
# brakes); none: only the waypoints there are.
ROUTE_PADDINGS = ("repeat", "nan", "none")
CONTRACT_REVISIONS = ("auto", 1, 2)
# AlpaSim's RouteGenerator: NUM_WAYPOINTS = 20 over ROUTE_LOOKAHEAD_DISTANCE_M = 80, i.e. 80 / 19 m apart.
ALPASIM_ROUTE_WAYPOINTS = 20
ALPASIM_ROUTE_SPACING_M = 80.0 / 19.0


@dataclass(frozen=True)
class CameraMap:
    """One splatsim camera as the driver knows it.

    - name: splatsim's camera name (CAM_FRONT, ...); logical_id: the driver's id for it.
    - model: the camera model the driver expects (only opencv_pinhole is rendered).
    - shutter: global (the only shutter rendered).
    """

    name: str
    logical_id: str
    model: str = PINHOLE
    shutter: str = GLOBAL_SHUTTER


DEFAULT_CAMERAS = (
    CameraMap("CAM_FRONT", "camera_front_wide_120fov"),
    CameraMap("CAM_FRONT_LEFT", "camera_cross_left_120fov"),
    CameraMap("CAM_FRONT_RIGHT", "camera_cross_right_120fov"),
    CameraMap("CAM_BACK_LEFT", "camera_rear_left_70fov"),
    CameraMap("CAM_BACK_RIGHT", "camera_rear_right_70fov"),
    CameraMap("CAM_BACK", "camera_rear_tele_30fov"),
)


@dataclass(frozen=True)
class EgodriverConfig:
    """The options of an egodriver session.

    - cameras: the camera map (CameraMap per splatsim camera name).
    - image_format: "jpeg" | "png"; jpeg_quality: 1..100.
    - route_waypoints: how many waypoints submit_route sends; route_spacing_m: metres between them.
    - route_padding: "repeat" | "nan" | "none" when less than route_waypoints of route is left.
    - ground_truth: also submit the logged ego trajectory (submit_recording_ground_truth).
    - contract_revision: "auto" (what get_version declares; a driver that declares none is taken
      to speak AlpaSim's own convention, 2), 1 or 2.
    - timeout_s: deadline of each call, seconds; connect_timeout_s: wait for the driver at start.
    - source: the file the config was read from ("" for the defaults), named in errors.
    """

    cameras: tuple[CameraMap, ...] = DEFAULT_CAMERAS
    image_format: str = "jpeg"
    jpeg_quality: int = 90
    route_waypoints: int = ALPASIM_ROUTE_WAYPOINTS
    route_spacing_m: float = ALPASIM_ROUTE_SPACING_M
    route_padding: str = "repeat"
    ground_truth: bool = False
    contract_revision: str | int = "auto"
    timeout_s: float = 10.0
    connect_timeout_s: float = 10.0
    source: str = ""

    def camera(self, name: str) -> CameraMap:
        """The map entry of a rendered camera; ConfigError when the map has none."""
        for cam in self.cameras:
            if cam.name == name:
                return cam
        where = f"{self.source}: cameras" if self.source else "the default egodriver camera map"
        raise ConfigError(f"camera {name!r} is rendered but {where} has no logical id for it "
                          f"(known: {', '.join(c.name for c in self.cameras) or 'none'}); add "
                          f"'{name}: <logical_id>' under cameras in the --egodriver-config file")


def load_egodriver_config(path: str | Path | None) -> EgodriverConfig:
    """The config in a .yaml/.yml, .json or .toml file; the defaults for None."""
    if path is None:
        return EgodriverConfig()
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"cannot read the egodriver config {path}: {err.strerror}; pass an existing "
                          "--egodriver-config file") from None
    suffix = path.suffix.lower()
    try:
        if suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        elif suffix == ".json":
            data = json.loads(text)
        elif suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        else:
            raise ConfigError(f"{path}: unknown config format {suffix or '(no suffix)'!r}; name the file "
                              "*.yaml, *.json or *.toml")
    except ConfigError:
        raise
    except Exception as err:  # each parser has its own error type; all mean the same to a user
        raise ConfigError(f"{path}: not valid {suffix[1:].upper()}: {err}") from None
    return config_from_dict({} if data is None else data, str(path))


def config_from_dict(data: object, source: str = "") -> EgodriverConfig:
    """Validate a parsed config (dict) into an EgodriverConfig; ConfigError names the file and field."""
    where = source or "egodriver config"
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of options at the top level, got {type(data).__name__}")
    known = {f.name for f in fields(EgodriverConfig)} - {"source"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown option(s) {', '.join(map(str, unknown))}; "
                          f"known: {', '.join(sorted(known))}")
    values: dict = {"source": source}
    if "cameras" in data:
        values["cameras"] = _cameras(data["cameras"], where)
    for key in ("image_format", "route_padding"):
        if key in data:
            allowed = IMAGE_FORMATS if key == "image_format" else ROUTE_PADDINGS
            if data[key] not in allowed:
                raise ConfigError(f"{where}: {key} is {data[key]!r}; choose one of {', '.join(allowed)}")
            values[key] = data[key]
    for key, lo, hi in (("jpeg_quality", 1, 100), ("route_waypoints", 2, 1000)):
        if key in data:
            if not isinstance(data[key], int) or isinstance(data[key], bool) or not lo <= data[key] <= hi:
                raise ConfigError(f"{where}: {key} is {data[key]!r}; give an integer in {lo}..{hi}")
            values[key] = data[key]
    for key in ("route_spacing_m", "timeout_s", "connect_timeout_s"):
        if key in data:
            v = data[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise ConfigError(f"{where}: {key} is {v!r}; give a positive number")
            values[key] = float(v)
    if "ground_truth" in data:
        if not isinstance(data["ground_truth"], bool):
            raise ConfigError(f"{where}: ground_truth is {data['ground_truth']!r}; give true or false")
        values["ground_truth"] = data["ground_truth"]
    if "contract_revision" in data:
        if data["contract_revision"] not in CONTRACT_REVISIONS or isinstance(data["contract_revision"], bool):
            raise ConfigError(f"{where}: contract_revision is {data['contract_revision']!r}; choose auto, 1 or 2")
        values["contract_revision"] = data["contract_revision"]
    return EgodriverConfig(**values)


def _cameras(entries: object, where: str) -> tuple[CameraMap, ...]:
    if not isinstance(entries, dict) or not entries:
        raise ConfigError(f"{where}: cameras must map splatsim camera names to logical ids, e.g. "
                          "'CAM_FRONT: camera_front_wide_120fov'")
    out = []
    for name, entry in entries.items():
        if isinstance(entry, str):
            entry = {"logical_id": entry}
        if not isinstance(entry, dict) or not isinstance(entry.get("logical_id"), str) or not entry["logical_id"]:
            raise ConfigError(f"{where}: cameras.{name} needs a logical_id (a string)")
        extra = sorted(set(entry) - {"logical_id", "model", "shutter"})
        if extra:
            raise ConfigError(f"{where}: cameras.{name}: unknown key(s) {', '.join(extra)}; "
                              "known: logical_id, model, shutter")
        model = str(entry.get("model", PINHOLE)).lower()
        shutter = str(entry.get("shutter", GLOBAL_SHUTTER)).lower()
        if model != PINHOLE:
            known = "a model splatsim cannot render" if model in UNRENDERABLE_MODELS else "an unknown model"
            raise ConfigError(f"{where}: cameras.{name} asks for {model!r}, {known}: splatsim renders "
                              f"undistorted {PINHOLE} cameras only; declare model: {PINHOLE} or drop the camera")
        if shutter != GLOBAL_SHUTTER:
            known = "a shutter splatsim cannot render" if shutter in UNRENDERABLE_SHUTTERS else "an unknown shutter"
            raise ConfigError(f"{where}: cameras.{name} asks for shutter {shutter!r}, {known}: splatsim renders "
                              f"global-shutter images only; declare shutter: {GLOBAL_SHUTTER}")
        out.append(CameraMap(str(name), entry["logical_id"], model, shutter))
    ids = [c.logical_id for c in out]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ConfigError(f"{where}: cameras map several splatsim cameras onto {', '.join(dup)}; logical ids "
                          "must be distinct")
    return tuple(out)

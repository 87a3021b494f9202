"""--egodriver-config: the three file formats, the defaults and every refusal."""

from __future__ import annotations

import math

import pytest

from policies_api.egodriver.client import grpc_target
from policies_api.egodriver.config import EgodriverConfig, load_egodriver_config
from policies_api.resolve import check_policy_names
from sim.errors import ConfigError

YAML = """
cameras:
  CAM_FRONT: camera_front_wide_120fov
  CAM_BACK: {logical_id: camera_rear_tele_30fov, model: opencv_pinhole, shutter: global}
image_format: png
route_padding: nan
route_waypoints: 10
route_spacing_m: 5
ground_truth: true
contract_revision: 1
"""
JSON = """{"cameras": {"CAM_FRONT": "camera_front_wide_120fov",
  "CAM_BACK": {"logical_id": "camera_rear_tele_30fov", "model": "opencv_pinhole", "shutter": "global"}},
  "image_format": "png", "route_padding": "nan", "route_waypoints": 10, "route_spacing_m": 5,
  "ground_truth": true, "contract_revision": 1}"""
TOML = """image_format = "png"
route_padding = "nan"
route_waypoints = 10
route_spacing_m = 5
ground_truth = true
contract_revision = 1
[cameras]
CAM_FRONT = "camera_front_wide_120fov"
CAM_BACK = {logical_id = "camera_rear_tele_30fov", model = "opencv_pinhole", shutter = "global"}
"""


@pytest.mark.parametrize("suffix,text", [(".yaml", YAML), (".json", JSON), (".toml", TOML)])
def test_the_three_formats_read_the_same(tmp_path, suffix, text):
    path = tmp_path / f"driver{suffix}"
    path.write_text(text)
    cfg = load_egodriver_config(path)
    assert [(c.name, c.logical_id) for c in cfg.cameras] == [("CAM_FRONT", "camera_front_wide_120fov"),
                                                             ("CAM_BACK", "camera_rear_tele_30fov")]
    assert (cfg.image_format, cfg.route_padding, cfg.route_waypoints, cfg.route_spacing_m) == ("png", "nan", 10, 5.0)
    assert cfg.ground_truth is True and cfg.contract_revision == 1 and cfg.source == str(path)


def test_defaults_are_alpasims_route_without_nan_padding():
    cfg = load_egodriver_config(None)
    assert cfg == EgodriverConfig()
    assert cfg.route_waypoints == 20 and cfg.route_spacing_m == pytest.approx(80 / 19)
    assert cfg.route_padding == "repeat"  # route_follower 2.3.1 brakes on NaN-padded routes
    assert cfg.camera("CAM_FRONT").logical_id == "camera_front_wide_120fov"
    assert len({c.logical_id for c in cfg.cameras}) == 6


@pytest.mark.parametrize("text,match", [
    ("cameras: {CAM_FRONT: {logical_id: f, model: ftheta}}", "ftheta.*cannot render.*opencv_pinhole"),
    ("cameras: {CAM_FRONT: {logical_id: f, model: opencv_fisheye}}", "opencv_fisheye.*cannot render"),
    ("cameras: {CAM_FRONT: {logical_id: f, shutter: rolling_top_to_bottom}}", "rolling_top_to_bottom.*global"),
    ("cameras: {CAM_FRONT: {model: opencv_pinhole}}", "cameras.CAM_FRONT needs a logical_id"),
    ("cameras: {CAM_FRONT: a, CAM_BACK: a}", "several splatsim cameras onto a"),
    ("route_padding: zeros", "route_padding.*repeat, nan, none"),
    ("image_format: webp", "image_format.*jpeg, png"),
    ("jpeg_quality: 0", "jpeg_quality.*1..100"),
    ("route_spacing_m: -1", "route_spacing_m.*positive"),
    ("contract_revision: 3", "contract_revision.*auto, 1 or 2"),
    ("camera: {}", "unknown option.*camera"),
    ("- a list", "mapping"),
])
def test_refusals_name_the_file_and_the_field(tmp_path, text, match):
    path = tmp_path / "driver.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match) as err:
        load_egodriver_config(path)
    assert str(path) in str(err.value)


def test_unreadable_or_unknown_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_egodriver_config(tmp_path / "absent.yaml")
    (tmp_path / "driver.ini").write_text("x=1")
    with pytest.raises(ConfigError, match=r"\*.yaml, \*.json or \*.toml"):
        load_egodriver_config(tmp_path / "driver.ini")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_egodriver_config(tmp_path / "bad.json")


def test_a_rendered_camera_without_a_logical_id_is_refused():
    with pytest.raises(ConfigError, match="CAM_SIDE.*no logical id.*--egodriver-config"):
        EgodriverConfig().camera("CAM_SIDE")


def test_addresses():
    assert grpc_target("egodriver://127.0.0.1:50051") == "127.0.0.1:50051"
    assert grpc_target("egodriver+unix:///tmp/d.sock") == "unix:///tmp/d.sock"
    assert grpc_target("egodriver+unix://d.sock") == "unix:d.sock"
    for bad in ("egodriver://host", "egodriver://", "egodriver+unix://"):
        with pytest.raises(ConfigError, match="egodriver"):
            check_policy_names([bad])
    check_policy_names(["idm", "unix:///tmp/splatsim-policy.sock", "egodriver://h:1"])  # unix:// stays splatsim's
    assert math.isfinite(EgodriverConfig().timeout_s)

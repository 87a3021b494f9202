"""The wire contract: the committed generated code is what the .proto files generate, every
field documents itself (frames and units for numbers), and the version travels."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PROTO_DIR = REPO_ROOT / "proto" / "splatsim" / "v1"
FIELD = re.compile(r"^\s*(optional\s+|repeated\s+)?([\w.]+)\s+(\w+)\s*=\s*\d+\s*;")
ENUM_VALUE = re.compile(r"^\s*([A-Z][A-Z0-9_]*)\s*=\s*\d+\s*;")
NUMERIC = {"double", "float", "int32", "int64", "uint32", "uint64", "sint32", "sint64", "fixed32", "fixed64"}
UNIT_WORDS = ("metre", "radian", "m/s", "second", "microsecond", "pixel", "byte", "count", "unitless",
              "millisecond", "dimensionless", "1..100", "seed", "quality")


def test_generated_code_is_up_to_date(tmp_path):
    pytest.importorskip("grpc_tools", reason="grpcio-tools (a dev dependency) regenerates the contract")
    from proto.generate import PROTO_DIRS, generate, generated_names

    written = generate(tmp_path)
    assert sorted(str(p.relative_to(tmp_path)) for p in written) == sorted(
        str(d / name) for d in PROTO_DIRS for name in generated_names(d))
    stale = [str(p.relative_to(tmp_path)) for p in written
             if p.read_bytes() != (REPO_ROOT / p.relative_to(tmp_path)).read_bytes()]
    assert not stale, f"regenerate the committed code with `python proto/generate.py`: {stale} differ"


def _comment_above(lines: list[str], i: int) -> str:
    block = []
    j = i - 1
    while j >= 0 and lines[j].strip().startswith("//"):
        block.append(lines[j].strip()[2:].strip())
        j -= 1
    return " ".join(reversed(block))


@pytest.mark.parametrize("proto", sorted(p.name for p in PROTO_DIR.glob("*.proto")))
def test_every_field_is_documented_with_its_unit(proto):
    lines = (PROTO_DIR / proto).read_text().splitlines()
    undocumented, unitless = [], []
    for i, line in enumerate(lines):
        m = FIELD.match(line)
        if m and m.group(2) not in ("syntax", "option"):
            comment = _comment_above(lines, i)
            if not comment:
                undocumented.append(line.strip())
            elif m.group(2) in NUMERIC and not any(w in comment.lower() for w in UNIT_WORDS):
                unitless.append(line.strip())
        elif ENUM_VALUE.match(line) and not _comment_above(lines, i):
            undocumented.append(line.strip())
    assert not undocumented, f"{proto}: fields without a comment: {undocumented}"
    assert not unitless, f"{proto}: numeric fields whose comment names no unit: {unitless}"


def test_package_path_and_version():
    from proto.splatsim.v1 import CONTRACT_VERSION, driving_policy_pb2, messages_pb2, simulator_pb2

    assert CONTRACT_VERSION == 1
    assert simulator_pb2.DESCRIPTOR.package == "splatsim.v1" == driving_policy_pb2.DESCRIPTOR.package
    assert set(simulator_pb2.DESCRIPTOR.services_by_name["Simulator"].methods_by_name) == {
        "ListScenarios", "CreateSession", "Reset", "Step", "CloseSession", "GetInfo"}
    assert set(driving_policy_pb2.DESCRIPTOR.services_by_name["DrivingPolicy"].methods_by_name) == {
        "StartEpisode", "Plan", "EndEpisode"}
    oneof = driving_policy_pb2.PlanResponse.DESCRIPTOR.oneofs_by_name["action"]
    assert {f.name for f in oneof.fields} == {"trajectory", "controls"}
    assert messages_pb2.ImageEncoding.Name(1) == "IMAGE_ENCODING_RAW_RGB8"


_FIELDS_OF = """
import json, sys
from google.protobuf import descriptor_pb2

def walk(messages, prefix, out):
    for m in messages:
        out[prefix + m.name] = sorted([f.name, f.number, f.type, f.label] for f in m.field)
        walk(m.nested_type, prefix + m.name + ".", out)

out = {}
for spec in sys.argv[1:]:  # package:module_pb2
    package, _, name = spec.partition(":")
    fdp = descriptor_pb2.FileDescriptorProto()
    getattr(__import__(package, fromlist=[name]), name).DESCRIPTOR.CopyToProto(fdp)
    walk(fdp.message_type, "", out)
print(json.dumps(out))
"""


def _fields(modules: list[str]) -> dict:
    import json
    import subprocess
    import sys

    return json.loads(subprocess.check_output([sys.executable, "-c", _FIELDS_OF, *modules], cwd=REPO_ROOT))


def test_alpasim_messages_keep_upstreams_field_numbers_and_types():
    """Every field of splatsim's copy is the same field (name, number, type, label) in the copy
    carla-driver-interface vendors from NVlabs/alpasim; each side loads in its own process (both
    would define the same message names otherwise)."""
    pytest.importorskip("carla_driver_interface", reason="carla-driver-interface is a dev dependency")
    ours = _fields([f"proto.alpasim.v0:{m}_pb2" for m in ("common", "sensorsim", "egodriver")])
    theirs = _fields([f"carla_driver_interface.protocol:{m}_pb2" for m in ("common", "sensorsim", "egodriver")])
    assert len(ours) >= 20
    different = {name: [f for f in fields if f not in theirs.get(name, [])] for name, fields in ours.items()}
    assert not {k: v for k, v in different.items() if v}
    # The only upstream fields left out are the camera models splatsim cannot render.
    left_out = {name: [f[0] for f in theirs[name] if f not in fields] for name, fields in ours.items()}
    assert {k: v for k, v in left_out.items() if v} == {
        "CameraSpec": ["bivariate_windshield_model_param", "ftheta_param", "opencv_fisheye_param"]}


def test_alpasim_rpcs_are_upstreams():
    from proto.alpasim.v0 import RPCS, SERVICE_PATH

    assert SERVICE_PATH == "/egodriver.EgodriverService/"
    assert set(RPCS) == {"start_session", "close_session", "submit_image_observation", "submit_egomotion_observation",
                         "submit_route", "submit_recording_ground_truth", "drive", "get_version"}

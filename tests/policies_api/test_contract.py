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
    from proto.generate import generate, generated_names

    written = generate(tmp_path)
    assert sorted(p.name for p in written) == generated_names()
    stale = [p.name for p in written if p.read_bytes() != (PROTO_DIR / p.name).read_bytes()]
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

"""What a client is told when a call fails: short messages whatever it sent, and no absolute path
of the server unless the server reveals them (real servers over loopback)."""

from __future__ import annotations

import shutil

import grpc
import pytest

from policies_api.catalog import ScenarioCatalog
from policies_api.client import METADATA, RemoteError, RemoteSimulator
from policies_api.errors import MAX_ERROR_CHARS, clip, hide_paths, public_message
from policies_api.server import ServerConfig, SimulatorServer
from proto.splatsim.v1 import simulator_pb2 as spb
from proto.splatsim.v1 import simulator_pb2_grpc as spb_grpc

MIB = 2**20


def test_clip_keeps_head_and_tail_and_counts_the_cut():
    assert clip("abc", 5) == "abc"
    text = "x" * 60 + "y" * 60 + "z"  # 121 characters, limit 120: 80 kept, 2/3 of them (53) at the head
    assert clip(text, 120) == "x" * 53 + "...[41 characters cut]..." + "y" * 25 + "z"
    assert len(clip("q" * MIB)) < 150


def test_hide_paths_keeps_only_the_last_component():
    assert hide_paths("cannot read /home/alice/data/v1.0-mini/sample.json: bad") == "cannot read .../sample.json: bad"
    assert hide_paths("dataroot:/srv/nuscenes") == "dataroot:.../nuscenes"
    assert hide_paths("[Errno 2] No such file: '/a/b.npz'") == "[Errno 2] No such file: '.../b.npz'"
    for kept in ("relative/path/x.json", "grpc://127.0.0.1:50051", "unix:///tmp/a.sock", "under /tmp"):
        assert hide_paths(kept) == kept
    assert public_message("at /srv/x/y", reveal_paths=True) == "at /srv/x/y"
    assert len(public_message("z" * MIB, reveal_paths=False)) <= MAX_ERROR_CHARS


@pytest.fixture(scope="module")
def file_server(scenario_dir, tmp_path_factory, scenarios):
    """A server of scenario files in an absolute folder, plus one broken file, paths hidden."""
    folder = tmp_path_factory.mktemp("served-scenarios")
    for path in scenario_dir.glob("*.scenario.npz"):
        shutil.copy(path, folder / path.name)
    (folder / "broken.scenario.npz").write_bytes(b"this is no zip archive")
    config = ServerConfig(port=0, max_sessions=4, max_workers=4)
    with SimulatorServer(ScenarioCatalog(scenario_dirs=[folder]), config) as server:
        yield server, folder


def test_list_scenarios_and_errors_hide_the_servers_paths(file_server, scenarios):
    server, folder = file_server
    with RemoteSimulator(server.tcp_target) as sim:
        sources = {s["name"]: s["source"] for s in sim.list_scenarios()}
        assert sources["road-open"] == "file:.../road-open.scenario.npz"
        assert sources["broken"] == "file:.../broken.scenario.npz"
        with pytest.raises(RemoteError) as err:
            sim.create_session("broken")
    assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "broken.scenario.npz" in str(err.value) and str(folder) not in str(err.value)
    assert "/tmp" not in str(err.value)


def test_reveal_paths_shows_them(scenario_dir):
    config = ServerConfig(port=0, max_sessions=2, max_workers=2, reveal_paths=True)
    with SimulatorServer(ScenarioCatalog(scenario_dirs=[scenario_dir]), config) as server:
        with RemoteSimulator(server.tcp_target) as sim:
            sources = {s["name"]: s["source"] for s in sim.list_scenarios()}
    assert sources["road-open"] == f"file:{scenario_dir / 'road-open.scenario.npz'}"


def test_a_mebibyte_of_client_text_gets_a_short_error(server):
    """A 1 MiB scenario name, session id or camera name: a short error, and the server keeps serving."""
    stub = spb_grpc.SimulatorStub(grpc.insecure_channel(server.tcp_target))
    huge = "s" * MIB
    requests = [(stub.CreateSession, spb.CreateSessionRequest(scenario=huge), grpc.StatusCode.NOT_FOUND),
                (stub.Step, spb.StepRequest(session_id=huge), grpc.StatusCode.NOT_FOUND),
                (stub.CloseSession, spb.CloseSessionRequest(session_id=huge), grpc.StatusCode.NOT_FOUND)]
    cameras = spb.CreateSessionRequest(scenario="road-open")
    cameras.cameras.names.append(huge)
    requests.append((stub.CreateSession, cameras, grpc.StatusCode.INVALID_ARGUMENT))
    for method, request, code in requests:
        with pytest.raises(grpc.RpcError) as err:
            method(request, timeout=30, metadata=METADATA)
        assert err.value.code() == code, err.value.details()[:300]
        assert len(err.value.details()) <= MAX_ERROR_CHARS and "characters cut" in err.value.details()
    with RemoteSimulator(server.tcp_target) as sim:
        with pytest.raises(RemoteError) as err:
            sim.create_session(huge)  # the client's own message is short too
        assert len(str(err.value)) < 2 * MAX_ERROR_CHARS
        assert sim.info()["max_sessions"] == 32

"""The session registry: vanished clients' sessions are reclaimed (sooner when their TCP connection
has closed), sessions in use never are, and each client has a session quota."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import grpc
import pytest

from policies_api.catalog import ScenarioCatalog
from policies_api.client import METADATA, RemoteSimulator
from policies_api.server import ServerConfig, SimulatorServer
from proto.splatsim.v1 import simulator_pb2 as spb
from proto.splatsim.v1 import simulator_pb2_grpc as spb_grpc
from sim.types.state import ControlAction
from tests.policies_api.conftest import PYTHON, REPO_ROOT, FlatRenderer

KILLED_CLIENT = """
import sys, time
from policies_api.client import RemoteSimulator
from sim.types.state import ControlAction
sim = RemoteSimulator(sys.argv[1])
sim.reset("road-open", cameras=["CAM_FRONT"], width=16, height=16)
sim.step(ControlAction(0.0, 0.0))
print(sim.session_id, flush=True)
time.sleep(60)  # killed mid-episode by the test
"""


def test_a_killed_client_has_its_session_reclaimed(scenarios, socket_dir):
    renderers = []

    def factory(*args):
        renderers.append(FlatRenderer(*args))
        return renderers[-1]

    config = ServerConfig(port=0, unix_socket=str(socket_dir / "reap.sock"), idle_timeout_s=0.5)
    with SimulatorServer(ScenarioCatalog(scenarios=scenarios), config, factory) as srv:
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
        proc = subprocess.Popen([PYTHON, "-c", KILLED_CLIENT, srv.unix_target], cwd=REPO_ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            session_id = proc.stdout.readline().strip()
            assert session_id in srv.registry.ids()
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        deadline = time.monotonic() + 10.0
        while session_id in srv.registry.ids() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert session_id not in srv.registry.ids()
        assert srv.registry.reclaimed >= 1 and renderers[0].closed
        with RemoteSimulator(srv.tcp_target) as sim:  # and the server serves on
            sim.session_id = session_id
            with pytest.raises(Exception, match="NOT_FOUND"):
                sim.step(ControlAction(0.0, 0.0))
            sim.session_id = None
            sim.reset("road-open")
            assert sim.step(ControlAction(0.0, 0.0)).observation.step_index == 1


def test_a_session_in_use_is_never_reaped(scenarios):
    with SimulatorServer(ScenarioCatalog(scenarios=scenarios), ServerConfig(port=0, idle_timeout_s=0.3)) as srv:
        with RemoteSimulator(srv.tcp_target) as sim:
            sim.reset("road-oncoming")
            for _ in range(12):  # 12 x 0.1 s > the timeout, but never idle that long
                time.sleep(0.1)
                sim.step(ControlAction(0.0, 0.0))
            assert sim.session_id in srv.registry.ids()


def test_each_client_has_a_session_quota_under_the_global_cap(scenarios):
    config = ServerConfig(port=0, max_sessions=5, max_sessions_per_client=2)
    with SimulatorServer(ScenarioCatalog(scenarios=scenarios), config) as srv:
        # Channels of one process to one target share a connection; the other client gets its own.
        other = grpc.insecure_channel(srv.tcp_target, options=[("grpc.use_local_subchannel_pool", 1)])
        with RemoteSimulator(srv.tcp_target) as greedy, other:
            request = spb.CreateSessionRequest(scenario="road-open")
            ids = [greedy.stub.CreateSession(request, metadata=METADATA).session_id for _ in range(2)]
            with pytest.raises(grpc.RpcError) as err:
                greedy.stub.CreateSession(request, metadata=METADATA)
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "per-client quota" in err.value.details() and "--max-sessions-per-client 2" in err.value.details()
            spb_grpc.SimulatorStub(other).CreateSession(request, metadata=METADATA)  # not locked out
            greedy.stub.CloseSession(spb.CloseSessionRequest(session_id=ids[0]), metadata=METADATA)
            greedy.stub.CreateSession(request, metadata=METADATA)  # a closed session frees the quota
            assert len(srv.registry) == 3


def test_a_killed_tcp_client_is_reclaimed_after_the_orphan_timeout_and_a_connected_one_is_not(scenarios):
    config = ServerConfig(port=0, idle_timeout_s=60.0, orphan_timeout_s=0.3)
    with SimulatorServer(ScenarioCatalog(scenarios=scenarios), config, FlatRenderer) as srv:
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
        proc = subprocess.Popen([PYTHON, "-c", KILLED_CLIENT, srv.tcp_target], cwd=REPO_ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        with RemoteSimulator(srv.tcp_target) as idle:  # connected, but thinking longer than the orphan timeout
            idle.reset("road-open")
            try:
                killed_id = proc.stdout.readline().strip()
                assert killed_id in srv.registry.ids()
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=10)
            deadline = time.monotonic() + 10.0  # far below the 60 s idle timeout
            while killed_id in srv.registry.ids() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert killed_id not in srv.registry.ids() and srv.registry.reclaimed_orphans == 1
            time.sleep(0.5)
            assert idle.session_id in srv.registry.ids()
            assert idle.step(ControlAction(0.0, 0.0)).observation.step_index == 1

"""Deadlines and cancellation inside Reset and Step, over real loopback gRPC: work stops at the
next camera once the client's deadline has passed or the client has cancelled."""

from __future__ import annotations

import dataclasses
import threading
import time

import grpc
import pytest

from policies_api.catalog import ScenarioCatalog
from policies_api.client import METADATA
from policies_api.server import ServerConfig, SimulatorServer
from proto.splatsim.v1 import simulator_pb2 as spb
from proto.splatsim.v1 import simulator_pb2_grpc as spb_grpc
from render.rig import nuscenes_default_rig
from tests.policies_api.conftest import FlatRenderer

CAMERA_S = 0.1
SIX_CAMERAS = ["CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_BACK_RIGHT", "CAM_BACK", "CAM_BACK_LEFT", "CAM_FRONT_LEFT"]


class _CountingRenderer(FlatRenderer):
    """Each camera takes CAMERA_S; the monotonic start time of every camera rendered is recorded."""

    starts: list[float] = []

    def render(self, scenario, state, before_camera=None):
        def slow_camera(i):
            if before_camera is not None:
                before_camera(i)
            _CountingRenderer.starts.append(time.monotonic())
            time.sleep(CAMERA_S)

        return super().render(scenario, state, slow_camera)


@pytest.fixture()
def slow_server(scenarios):
    _CountingRenderer.starts = []
    rig = nuscenes_default_rig()
    six = dataclasses.replace(scenarios[0], cameras=dataclasses.replace(rig, names=rig.names.astype(str)))
    with SimulatorServer(ScenarioCatalog(scenarios=[six]), ServerConfig(port=0), _CountingRenderer) as srv:
        channel = grpc.insecure_channel(srv.tcp_target)
        stub = spb_grpc.SimulatorStub(channel)
        request = spb.CreateSessionRequest(scenario="road-open")
        request.cameras.names.extend(SIX_CAMERAS)
        request.cameras.width, request.cameras.height = 16, 16
        session_id = stub.CreateSession(request, metadata=METADATA).session_id
        with channel:
            yield srv, stub, session_id


def test_a_reset_past_its_deadline_renders_no_further_camera(slow_server):
    srv, stub, session_id = slow_server
    t0 = time.monotonic()
    with pytest.raises(grpc.RpcError) as err:
        stub.Reset(spb.ResetRequest(session_id=session_id), timeout=0.25, metadata=METADATA)
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    time.sleep(6 * CAMERA_S + 0.3)  # all six cameras would be done by now
    starts = list(_CountingRenderer.starts)
    assert 1 <= len(starts) <= 4  # 0.25 s at 0.1 s a camera: the 3rd or 4th camera at most
    assert all(s <= t0 + 0.25 for s in starts)  # no camera started after the deadline
    stats = srv.service.stats.snapshot()
    assert stats["stopped_deadline"] == 1 and stats["units"] == len(starts)
    assert stats["units_finished_late"] <= 1  # only the camera in progress at the deadline ends late
    # The session is free again and a call with time to spare renders all six.
    stub.Reset(spb.ResetRequest(session_id=session_id), timeout=5.0, metadata=METADATA)
    assert len(_CountingRenderer.starts) == len(starts) + 6


def test_a_step_past_its_deadline_keeps_the_engine_step_and_a_retry_returns_it(slow_server):
    srv, stub, session_id = slow_server
    stub.Reset(spb.ResetRequest(session_id=session_id), timeout=5.0, metadata=METADATA)
    step = spb.StepRequest(session_id=session_id, observation_step_index=0)
    step.controls.accel_mps2 = 1.0
    with pytest.raises(grpc.RpcError) as err:
        stub.Step(step, timeout=0.15, metadata=METADATA)
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    time.sleep(0.3)
    assert srv.service.stats.snapshot()["stopped_deadline"] == 1
    retry = stub.Step(step, timeout=5.0, metadata=METADATA)  # the same observation_step_index
    assert retry.observation.step_index == 1


def test_a_cancelled_reset_stops_rendering(slow_server):
    srv, stub, session_id = slow_server
    future = stub.Reset.future(spb.ResetRequest(session_id=session_id), metadata=METADATA)
    deadline = time.monotonic() + 5.0
    while not _CountingRenderer.starts and time.monotonic() < deadline:
        time.sleep(0.01)
    assert future.cancel()
    time.sleep(6 * CAMERA_S + 0.3)
    assert len(_CountingRenderer.starts) <= 2  # the camera in progress, perhaps the next one starting
    assert srv.service.stats.snapshot()["stopped_cancelled"] == 1


def test_calls_without_deadline_render_every_camera(slow_server):
    srv, stub, session_id = slow_server
    done = threading.Event()

    def reset():
        stub.Reset(spb.ResetRequest(session_id=session_id), metadata=METADATA)
        done.set()

    threading.Thread(target=reset).start()
    assert done.wait(5.0)
    assert len(_CountingRenderer.starts) == 6
    assert srv.service.stats.snapshot()["units"] == 6

"""Fair sharing under load: well-behaved clients while another client floods one session.

What is measured, for each number of well-behaved clients N (default 2, 8, 32), in three
phases of `phase_s` seconds each:
- baseline: N clients, each with its own session (no cameras), do GetInfo then Step at 10 Hz
  (the engine's rate, as a real-time driving stack would);
- flood: the same, while a flooder sends waves of `flood` concurrent no-deadline Resets on one
  session that renders `cameras` cameras (what grpcurl sends by default), each wave after the
  last has returned;
- abandoned: the same, while the flooder sends waves of `abandoned` Resets with a
  `abandon_deadline_s` deadline on that session.
Reported per phase: p50/p99 of the well-behaved clients' GetInfo and Step, the flood's status
codes, the server process's CPU seconds (from /proc), and the server's own counters
(`policies_api.call_guard.ServerStats`): calls stopped at a checkpoint, engine steps and camera
renders run, and those that ended after their call's deadline (a unit that started in time;
none starts after it) with their seconds past the deadline.

The server runs in its own process with the real CPU Gaussian renderer; the well-behaved
clients run in separate processes (at most 8 per process, so each process is one client
identity within the default per-client quota), the flooder in this one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from evaluation.benchmarks.common import latency_stats_ms, stop_process
from evaluation.benchmarks.grpc import bench_scenario, straight_plan

TARGET_GETINFO_P99_MS = 50.0
CLIENTS_PER_PROCESS = 8
PHASES = ("baseline", "flood", "abandoned")


# ---- the server process -------------------------------------------------------------------------


def _serve_main(scenario_file: str, stats_file: str, backend: str) -> None:
    from policies_api.catalog import ScenarioCatalog
    from policies_api.renderer_factory import gaussian_renderer_factory
    from policies_api.server import ServerConfig, SimulatorServer, serve_until_signal
    from scenarios.scenario_file import load_scenario_file

    catalog = ScenarioCatalog(scenarios=[load_scenario_file(scenario_file)])
    server = SimulatorServer(catalog, ServerConfig(port=0, max_sessions=64), gaussian_renderer_factory(backend))
    server.start()

    def write_stats(signum, frame):  # noqa: ARG001 - SIGUSR1: the counters so far, to the stats file
        Path(stats_file).write_text(json.dumps(server.service.stats.snapshot()))

    signal.signal(signal.SIGUSR1, write_stats)
    print(json.dumps({"tcp": server.tcp_target}), flush=True)
    serve_until_signal(server, 1.0)


def _server_stats(proc: subprocess.Popen, stats_file: Path) -> dict:
    stats_file.unlink(missing_ok=True)
    proc.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        try:
            return json.loads(stats_file.read_text())
        except (OSError, ValueError):
            time.sleep(0.02)
    raise RuntimeError("the load-bench server did not report its counters")


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---- the well-behaved clients (a separate process each group) ---------------------------------------


def _clients_main(target: str, scenario: str, clients: int, start_at: float, phase_s: float) -> None:
    """`clients` threads, each with its own session: GetInfo then Step at 10 Hz through the
    phases; prints {phase: {"GetInfo": [ns...], "Step": [ns...]}} as JSON."""
    from policies_api.client import RemoteSimulator

    action = straight_plan()
    samples = {p: {"GetInfo": [], "Step": []} for p in PHASES}
    lock = threading.Lock()

    def client() -> None:
        with RemoteSimulator(target, timeout_s=30.0) as sim:
            sim.reset(scenario, max_steps=None, continue_after_route_end=True)
            sim.step(action)  # warm-up: the server's first engine step loads compiled code
            sim.reset()
            tick = start_at + np.random.default_rng().uniform(0, 0.1)
            while True:
                while time.time() < tick:
                    time.sleep(max(0.0, min(tick - time.time(), 0.1)))
                phase = int((tick - start_at) // phase_s)
                if phase >= len(PHASES):
                    return
                t0 = time.perf_counter_ns()
                sim.info()
                t1 = time.perf_counter_ns()
                if sim.step(action).done:
                    sim.reset()
                t2 = time.perf_counter_ns()
                with lock:
                    samples[PHASES[phase]]["GetInfo"].append(t1 - t0)
                    samples[PHASES[phase]]["Step"].append(t2 - t1)
                tick += 0.1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(samples), flush=True)


# ---- the flooder (this process) -------------------------------------------------------------------


def _flood(stub, session_id: str, calls: int, timeout_s: float | None, until: float) -> dict:
    """Waves of `calls` concurrent Resets on one session until `until`; status code counts."""
    import grpc

    from policies_api.client import METADATA
    from proto.splatsim.v1 import simulator_pb2 as spb

    codes: dict[str, int] = {}
    request = spb.ResetRequest(session_id=session_id)
    while time.time() < until:
        wave = [stub.Reset.future(request, timeout=timeout_s, metadata=METADATA) for _ in range(calls)]
        for f in wave:
            err = f.exception()
            name = "OK" if err is None else err.code().name if isinstance(err, grpc.RpcError) else "ERROR"
            codes[name] = codes.get(name, 0) + 1
    return codes


def _run_clients_case(target: str, server: subprocess.Popen, stats_file: Path, scenario: str, clients: int,
                      phase_s: float, flood: int, abandoned: int, abandon_deadline_s: float, cameras: list[str],
                      width: int, height: int, env: dict, repo: Path) -> dict:
    import grpc

    from policies_api.client import METADATA
    from proto.splatsim.v1 import simulator_pb2 as spb
    from proto.splatsim.v1 import simulator_pb2_grpc as spb_grpc

    channel = grpc.insecure_channel(target)
    stub = spb_grpc.SimulatorStub(channel)
    request = spb.CreateSessionRequest(scenario=scenario, continue_after_route_end=True)
    request.cameras.names.extend(cameras)
    request.cameras.width, request.cameras.height = width, height
    flood_session = stub.CreateSession(request, metadata=METADATA).session_id
    stub.Reset(spb.ResetRequest(session_id=flood_session), metadata=METADATA)  # build and warm the renderer
    warm = spb.StepRequest(session_id=flood_session)
    warm.controls.SetInParent()
    stub.Step(warm, metadata=METADATA)  # and the engine
    start_at = time.time() + 3.0 + 0.3 * clients  # the client processes start and connect first
    groups = [min(CLIENTS_PER_PROCESS, clients - i) for i in range(0, clients, CLIENTS_PER_PROCESS)]
    procs = [subprocess.Popen([sys.executable, "-m", "evaluation.benchmarks.grpc_load", "clients", target, scenario,
                               str(n), repr(start_at), repr(phase_s)], cwd=repo, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for n in groups]
    out = {p: {} for p in PHASES}
    try:
        for index, phase in enumerate(PHASES):
            begin, end = start_at + index * phase_s, start_at + (index + 1) * phase_s
            time.sleep(max(0.0, begin - time.time()))
            stats0, cpu0 = _server_stats(server, stats_file), _cpu_s(server.pid)
            if phase == "flood":
                out[phase]["flood_codes"] = _flood(stub, flood_session, flood, None, end - 0.2)
            elif phase == "abandoned":
                out[phase]["flood_codes"] = _flood(stub, flood_session, abandoned, abandon_deadline_s, end - 0.2)
            time.sleep(max(0.0, end - time.time()))
            cpu1, stats1 = _cpu_s(server.pid), _server_stats(server, stats_file)
            out[phase]["server_cpu_s"] = cpu1 - cpu0
            out[phase]["server_counters"] = {k: stats1[k] - stats0[k] for k in stats1}
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=60 + clients)
            if proc.returncode != 0:
                raise RuntimeError(f"a load-bench client process failed: {stderr[-2000:]}")
            for phase, calls in json.loads(stdout.strip().splitlines()[-1]).items():
                for method, ns in calls.items():
                    out[phase].setdefault(method, []).extend(ns)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        stub.CloseSession(spb.CloseSessionRequest(session_id=flood_session), metadata=METADATA)
        channel.close()
    for phase in PHASES:
        for method in ("GetInfo", "Step"):
            out[phase][method] = latency_stats_ms(out[phase][method]) if out[phase].get(method) else None
    return out


def bench_grpc_load(clients: tuple[int, ...] = (2, 8, 32), phase_s: float = 6.0, flood: int = 48,
                    abandoned: int = 24, abandon_deadline_s: float = 0.1, cameras: int = 6, width: int = 480,
                    height: int = 270, backend: str = "auto") -> dict:
    """Run the load benchmark; the JSON-ready report (see the module docstring)."""
    from evaluation.machine import machine_info
    from scenarios.scenario_file import save_scenario

    scenario = bench_scenario(num_steps=int(10 * 3 * phase_s) + 50, actors=20)
    camera_names = [str(n) for n in scenario.cameras.names[:cameras]]
    report = {"benchmark": "grpc_load", "machine": machine_info(),
              "config": {"clients": list(clients), "phase_s": phase_s, "client_rate_hz": 10, "flood": flood,
                         "abandoned": abandoned, "abandon_deadline_s": abandon_deadline_s,
                         "cameras": len(camera_names), "width": width, "height": height, "backend": backend},
              "target": {"GetInfo_p99_ms": TARGET_GETINFO_P99_MS, "work_units_started_after_deadline": 0},
              "results": {}}
    repo = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(repo) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with tempfile.TemporaryDirectory(prefix="ssim-load-") as tmp:
        tmp = Path(tmp)
        save_scenario(scenario, tmp / "load.scenario.npz")
        server = subprocess.Popen([sys.executable, "-m", "evaluation.benchmarks.grpc_load", "serve",
                                   str(tmp / "load.scenario.npz"), str(tmp / "stats.json"), backend], cwd=repo,
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = server.stdout.readline()
            if not line:
                raise RuntimeError(f"the load-bench server did not start: {server.stderr.read()[-2000:]}")
            target = json.loads(line)["tcp"]
            for n in clients:
                report["results"][str(n)] = _run_clients_case(
                    target, server, tmp / "stats.json", scenario.name, n, phase_s, flood, abandoned,
                    abandon_deadline_s, camera_names, width, height, env, repo)
        finally:
            stop_process(server)
    report["meets_target"] = all(
        r[p]["GetInfo"] is not None and r[p]["GetInfo"]["p99_ms"] <= TARGET_GETINFO_P99_MS
        for r in report["results"].values() for p in PHASES)
    return report


if __name__ == "__main__":  # the server and client processes of `bench_grpc_load`
    if sys.argv[1] == "serve":
        _serve_main(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        _clients_main(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]))

"""Access control over real loopback gRPC: tokens, TLS (and mutual TLS) with certificates made
here, token files, and Unix sockets that only their owner can reach whatever the umask."""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import socket
import stat
import subprocess
import tempfile
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from examples.lane_follower_stack import LaneFollower
from policies_api.catalog import ScenarioCatalog
from policies_api.client import METADATA, RemoteError, RemoteSimulator
from policies_api.policy_server import serve_policy
from policies_api.remote_policy import RemotePolicy
from policies_api.security import ClientTLS, ServerTLS, read_token_file
from policies_api.server import ServerConfig, SimulatorServer
from proto.splatsim.v1 import simulator_pb2 as spb
from proto.splatsim.v1 import simulator_pb2_grpc as spb_grpc
from sim.errors import ConfigError
from tests.policies_api.conftest import PYTHON, REPO_ROOT, FlatRenderer

TOKEN = "k3Jx9-test-token-0123456789abcdef"
# ---- certificates made for the test -----------------------------------------------------------------


def _cert(subject: str, public_key, issuer: str, issuer_key, *, ca: bool = False, server: bool = False):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
               .public_key(public_key).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    elif not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write_pair(folder: Path, name: str, cert, key) -> None:
    from cryptography.hazmat.primitives import serialization

    (folder / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path = folder / f"{name}.key"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    """ca.pem (the test CA), server.pem/.key (localhost, 127.0.0.1), client.pem/.key (signed by
    the CA), and other-ca.pem with rogue.pem/.key (a CA and a client certificate the server does not trust)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    folder = tmp_path_factory.mktemp("pki")
    for ca_name, leaves in (("ca", ("server", "client")), ("other-ca", ("rogue",))):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        _write_pair(folder, ca_name, _cert(ca_name, ca_key.public_key(), ca_name, ca_key, ca=True), ca_key)
        for leaf in leaves:
            key = ec.generate_private_key(ec.SECP256R1())
            _write_pair(folder, leaf, _cert(leaf, key.public_key(), ca_name, ca_key, server=leaf == "server"), key)
    return folder


def _server(scenarios, **config) -> SimulatorServer:
    base = dict(port=0, max_sessions=8, idle_timeout_s=60.0, max_workers=4)
    return SimulatorServer(ScenarioCatalog(scenarios=scenarios), ServerConfig(**{**base, **config}), FlatRenderer)


def _steps(sim: RemoteSimulator, scenario: str, n: int = 3) -> int:
    stack = LaneFollower()
    sim.reset(scenario)
    return sum(1 for _ in range(n) if sim.step(stack.plan(sim.last_result.observation)) is not None)


# ---- tokens -------------------------------------------------------------------------------------------


def test_a_server_with_a_token_refuses_calls_without_it_and_serves_calls_with_it(scenarios, monkeypatch):
    with _server(scenarios, auth_token=TOKEN) as server:
        with RemoteSimulator(server.tcp_target) as sim:
            with pytest.raises(RemoteError) as missing:
                sim.info()
        assert missing.value.code == grpc.StatusCode.UNAUTHENTICATED
        assert "authorization: Bearer <token>" in str(missing.value)
        assert "requires an access token" in str(missing.value)
        with RemoteSimulator(server.tcp_target, token=TOKEN[:-1] + "X") as sim:
            with pytest.raises(RemoteError) as wrong:
                sim.create_session("road-open")
        assert wrong.value.code == grpc.StatusCode.UNAUTHENTICATED and "wrong" in str(wrong.value)
        assert len(server.registry) == 0  # the refused CreateSession made no session

        with RemoteSimulator(server.tcp_target, token=TOKEN) as sim:
            assert sim.info()["active_sessions"] == 0
            assert _steps(sim, "road-open") == 3
        monkeypatch.setenv("SPLATSIM_TOKEN", TOKEN)
        with RemoteSimulator(server.tcp_target) as sim:  # the token from the environment
            assert _steps(sim, "road-oncoming") == 3

        # health checking and reflection answer without a token; a raw stub with a bad scheme does not
        channel = grpc.insecure_channel(server.tcp_target)
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

        replies = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
        services = [s.name for r in replies for s in r.list_services_response.service]
        assert "splatsim.v1.Simulator" in services
        stub = spb_grpc.SimulatorStub(channel)
        for value in (f"Basic {TOKEN}", f"bearer {TOKEN}", "Bearer ", TOKEN):
            with pytest.raises(grpc.RpcError) as raw:
                stub.GetInfo(spb.GetInfoRequest(), timeout=5, metadata=METADATA + (("authorization", value),))
            assert raw.value.code() == grpc.StatusCode.UNAUTHENTICATED, value
        assert stub.GetInfo(spb.GetInfoRequest(), timeout=5,
                            metadata=(("authorization", f"Bearer {TOKEN}"),)).max_sessions == 8
        channel.close()


def test_token_files_are_checked(tmp_path):
    good = tmp_path / "token"
    good.write_text(f"  {TOKEN}\n")
    good.chmod(0o600)
    assert read_token_file(good) == TOKEN
    empty = tmp_path / "empty"
    empty.write_text("\n")
    empty.chmod(0o600)
    with pytest.raises(ConfigError, match=f"{empty} is empty"):
        read_token_file(empty)
    good.chmod(0o644)
    with pytest.raises(ConfigError, match=r"every user .*chmod 600"):
        read_token_file(good)
    with pytest.raises(ConfigError, match="does not exist"):
        read_token_file(tmp_path / "missing")


def test_splatsim_serve_cli_with_a_token_under_umask_000(scenario_dir, tmp_path):
    """The command line end to end: a world-readable token file is refused (exit 2, file named);
    with a 0600 one the server answers only to the token, its socket is 0600 although the umask
    is 000, and ListScenarios does not show where the scenario files are."""
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o644)
    sock_dir = Path(tempfile.mkdtemp(prefix="ssim-", dir="/tmp"))
    sock = sock_dir / "sim.sock"
    args = [PYTHON, "-m", "tools.cli", "serve", "--port", "-1", "--unix", str(sock), "--scenario-dir",
            str(scenario_dir), "--auth-token-file", str(token_file), "--no-render", "--json"]
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    refused = subprocess.run(args, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
                             preexec_fn=lambda: os.umask(0))
    assert refused.returncode == 2 and str(token_file) in refused.stderr and "chmod 600" in refused.stderr
    token_file.chmod(0o600)
    proc = subprocess.Popen(args, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: os.umask(0))
    try:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()[-3000:]
        assert json.loads(line)["unix"] == f"unix:{sock}"
        assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
        assert sorted(os.listdir(sock_dir)) == ["sim.sock"]  # the private bind directory is gone
        with RemoteSimulator(f"unix:{sock}") as sim:
            with pytest.raises(RemoteError) as err:
                sim.list_scenarios()
            assert err.value.code == grpc.StatusCode.UNAUTHENTICATED
        with RemoteSimulator(f"unix:{sock}", token=TOKEN) as sim:
            sources = [s["source"] for s in sim.list_scenarios()]
        assert "file:.../road-open.scenario.npz" in sources and not any(str(scenario_dir) in s for s in sources)
    finally:
        proc.terminate()
        proc.wait(30)
        os.rmdir(sock_dir) if not os.listdir(sock_dir) else None


# ---- Unix sockets ---------------------------------------------------------------------------------------


def test_the_unix_socket_is_0600_whatever_the_umask_and_other_users_cannot_connect(scenarios):
    folder = Path(tempfile.mkdtemp(prefix="ssim-", dir="/tmp"))
    folder.chmod(0o755)  # others may enter the folder: only the socket's own mode keeps them out
    sock = folder / "s.sock"
    verdict = None
    previous = os.umask(0)
    try:
        server = _server(scenarios, port=None, unix_socket=str(sock)).start()
    finally:
        os.umask(previous)
    try:
        assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600 and os.listdir(folder) == ["s.sock"]
        with RemoteSimulator(f"unix:{sock}") as sim:
            assert _steps(sim, "road-open", 2) == 2
        if os.getuid() == 0:  # another user (nobody) tries the socket, as the attacker did
            probe = ("import socket, sys\ns = socket.socket(socket.AF_UNIX)\n"
                     "try:\n    s.connect(sys.argv[1]); print('connected')\n"
                     "except PermissionError:\n    print('denied')\n")
            for interpreter in (PYTHON, "/usr/bin/python3"):  # the first one `nobody` may run
                try:
                    done = subprocess.run([interpreter, "-I", "-S", "-c", probe, str(sock)], user=65534,
                                          capture_output=True, text=True, timeout=30)
                except (PermissionError, FileNotFoundError):
                    continue
                verdict = done.stdout.strip() or done.stderr
                break
    finally:
        server.stop(0)
    assert not sock.exists()
    folder.rmdir()
    if verdict is None:
        pytest.skip("the socket is 0600, but no Python here runs as the user nobody to try connecting")
    assert verdict == "denied"


def test_unsafe_socket_places_are_refused(scenarios, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # world-writable, no sticky bit: anyone could swap the socket
    with pytest.raises(ConfigError, match="writable by every user without the sticky bit"):
        _server(scenarios, port=None, unix_socket=str(shared / "s.sock")).start()
    assert os.listdir(shared) == []
    shared.chmod(0o1777)  # the sticky bit (as /tmp has) makes it acceptable
    with _server(scenarios, port=None, unix_socket=str(shared / "s.sock")) as server:
        assert server.unix_target
    if os.getuid() == 0:
        foreign = tmp_path / "foreign"
        foreign.mkdir()
        os.chown(foreign, 65534, 65534)
        with pytest.raises(ConfigError, match="belongs to another user"):
            _server(scenarios, port=None, unix_socket=str(foreign / "s.sock")).start()
    regular = tmp_path / "not-a-socket"
    regular.write_text("keep me")
    with pytest.raises(ConfigError, match="is not a Unix socket"):
        _server(scenarios, port=None, unix_socket=str(regular)).start()
    assert regular.read_text() == "keep me"


def test_a_stale_socket_is_replaced(scenarios, socket_dir):
    sock = socket_dir / "stale.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(sock))
    stale.close()  # the file stays, nobody listens: what a killed server leaves
    with _server(scenarios, port=None, unix_socket=str(sock)) as server, RemoteSimulator(server.unix_target) as sim:
        assert sim.info()["max_sessions"] == 8


# ---- TLS ----------------------------------------------------------------------------------------------


def test_tls_and_mutual_tls(scenarios, pki, monkeypatch, socket_dir):
    tls = ServerTLS(str(pki / "server.pem"), str(pki / "server.key"))
    with pytest.raises(ConfigError, match="TCP port only"):  # a Unix-only server would silently be plaintext
        _server(scenarios, port=None, unix_socket=str(socket_dir / "tls.sock"), tls=tls)
    with _server(scenarios, tls=tls, auth_token=TOKEN) as server:
        target = f"localhost:{server.port}"
        with RemoteSimulator(target, token=TOKEN, tls=ClientTLS(str(pki / "ca.pem"))) as sim:
            assert _steps(sim, "road-open", 2) == 2
        monkeypatch.setenv("SPLATSIM_TLS_CA", str(pki / "ca.pem"))
        monkeypatch.setenv("SPLATSIM_TOKEN", TOKEN)
        with RemoteSimulator(f"127.0.0.1:{server.port}") as sim:  # CA and token from the environment
            assert sim.info()["max_sessions"] == 8
        monkeypatch.delenv("SPLATSIM_TLS_CA")
        with pytest.raises(RemoteError, match="cannot reach"):  # plaintext to a TLS port: no connection
            RemoteSimulator(target, connect_timeout_s=1.0)
        with pytest.raises(RemoteError, match="TLS"):  # a CA that did not sign the server's certificate
            RemoteSimulator(target, connect_timeout_s=1.0, tls=ClientTLS(str(pki / "other-ca.pem")))

    mutual = ServerTLS(str(pki / "server.pem"), str(pki / "server.key"), str(pki / "ca.pem"))
    with _server(scenarios, tls=mutual) as server:
        target = f"localhost:{server.port}"
        client = ClientTLS(str(pki / "ca.pem"), str(pki / "client.pem"), str(pki / "client.key"))
        with RemoteSimulator(target, tls=client) as sim:
            assert sim.info()["max_sessions"] == 8
        for refused in (ClientTLS(str(pki / "ca.pem")),  # no client certificate
                        ClientTLS(str(pki / "ca.pem"), str(pki / "rogue.pem"), str(pki / "rogue.key"))):
            with pytest.raises(RemoteError):
                with RemoteSimulator(target, connect_timeout_s=2.0, tls=refused) as sim:
                    sim.info()


def test_a_served_policy_with_token_and_tls_is_called_with_the_policy_variables(scenarios, pki, monkeypatch):
    """grpc:// policies read SPLATSIM_POLICY_*; the simulator's SPLATSIM_TOKEN is never sent to them."""
    from sim.engine import EngineConfig, prepare, run_episode

    tls = ServerTLS(str(pki / "server.pem"), str(pki / "server.key"))
    scenario = scenarios[0]
    with serve_policy(LaneFollower(), port=0, host="localhost", token=TOKEN, tls=tls) as server:
        monkeypatch.setenv("SPLATSIM_POLICY_TLS_CA", str(pki / "ca.pem"))
        monkeypatch.setenv("SPLATSIM_TOKEN", TOKEN)
        with RemotePolicy(server.target) as policy, pytest.raises(RemoteError) as err:
            policy.reset(scenario)
        assert err.value.code == grpc.StatusCode.UNAUTHENTICATED
        monkeypatch.setenv("SPLATSIM_POLICY_TOKEN", TOKEN)
        from policies_api.resolve import resolve_policy

        policy = resolve_policy(server.target)  # as `splatsim run --policy grpc://...` builds it
        try:
            episode = run_episode(prepare(scenario, EngineConfig()), policy)
        finally:
            policy.close()
        assert server.service.plans == episode.num_steps > 0

"""Access control of the gRPC boundary: bearer tokens, TLS credentials and private Unix sockets,
shared by the simulator server, the policy server and their clients (RemoteSimulator, grpc://
policies).

- Token: the client sends metadata `authorization: Bearer <token>` on every call; a server
  started with a token (`TokenInterceptor`) answers UNAUTHENTICATED to any call without it,
  health checking and reflection aside. Tokens are compared in constant time (of their digests).
- TLS: `ServerTLS` (certificate, key, and a client CA for mutual TLS) covers the TCP listener;
  `ClientTLS` (CA, and a client certificate and key for mutual TLS) the client's TCP channel.
  Unix sockets stay plaintext: their 0600 mode and the token protect them.
- Clients read what they are not given from the environment: `SPLATSIM_TOKEN` and
  `SPLATSIM_TLS_CA/CERT/KEY` for the simulator, `SPLATSIM_POLICY_TOKEN` and
  `SPLATSIM_POLICY_TLS_CA/CERT/KEY` for grpc:// policies (separate, so a policy server never
  receives the simulator's token).
- Unix sockets are bound inside a fresh 0700 directory, made 0600, then renamed into place:
  the socket is never reachable with the umask's mode.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import grpc

from sim.errors import ConfigError

log = logging.getLogger("splatsim.security")

AUTH_METADATA_KEY = "authorization"
BEARER_PREFIX = "Bearer "
SIMULATOR_ENV_PREFIX = "SPLATSIM_"
POLICY_ENV_PREFIX = "SPLATSIM_POLICY_"
EXEMPT_SERVICES = ("grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection",
                   "grpc.reflection.v1.ServerReflection")
MIN_TOKEN_CHARS = 16
_MAX_UNIX_PATH_BYTES = 107  # sun_path is 108 bytes with the terminating NUL on Linux


def check_token(token: str, source: str) -> str:
    """A token as sent in metadata: printable ASCII without spaces (ConfigError naming `source`)."""
    if not token:
        raise ConfigError(f"{source} is empty; put a random token in it, e.g. `python -c 'import secrets; "
                          "print(secrets.token_urlsafe(32))'`")
    if not all(33 <= ord(c) <= 126 for c in token):
        raise ConfigError(f"the token in {source} has spaces or characters outside printable ASCII; gRPC metadata "
                          "cannot carry them: use e.g. secrets.token_urlsafe(32)")
    if len(token) < MIN_TOKEN_CHARS:
        log.warning("the token in %s has only %d characters; use at least %d random ones", source, len(token),
                    MIN_TOKEN_CHARS)
    return token


def read_token_file(path: str | Path) -> str:
    """The token in a file (surrounding whitespace ignored). Refuses a missing, empty or
    world-readable file; warns when the file's group may read it."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8", errors="strict")
    except FileNotFoundError:
        raise ConfigError(f"token file {path} does not exist; create it with a random token and mode 0600") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read the token file {path}: {err}") from None
    if mode & (stat.S_IROTH | stat.S_IWOTH):
        raise ConfigError(f"token file {path} can be read or written by every user (mode {stat.filemode(mode)}); "
                          f"run `chmod 600 {path}`")
    if mode & stat.S_IRGRP:
        log.warning("token file %s is readable by its group (mode %s); `chmod 600` it unless that is intended",
                    path, stat.filemode(mode))
    return check_token(text.strip(), f"token file {path}")


def client_token(token: str | None, env_prefix: str = SIMULATOR_ENV_PREFIX) -> str | None:
    """The token a client sends: the one given, else `<prefix>TOKEN` from the environment, else none."""
    if token is None:
        token = os.environ.get(f"{env_prefix}TOKEN") or None
        source = f"the environment variable {env_prefix}TOKEN"
    else:
        source = "the token argument"
    return None if token is None else check_token(token.strip(), source)


def auth_metadata(token: str | None) -> tuple[tuple[str, str], ...]:
    """The metadata entries that carry a token (none without one)."""
    return () if token is None else ((AUTH_METADATA_KEY, BEARER_PREFIX + token),)


def _read_bytes(path: str | Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise ConfigError(f"cannot read the {what} {path}: {err.strerror or err}") from None


def _read_key(path: str | Path, what: str) -> bytes:
    mode = os.stat(path).st_mode if os.path.exists(path) else 0
    if mode & stat.S_IROTH:
        log.warning("the %s %s is readable by every user; run `chmod 600 %s`", what, path, path)
    return _read_bytes(path, what)


@dataclass(frozen=True)
class ServerTLS:
    """TLS of a server's TCP listener (PEM files).

    - cert_file, key_file: the server's certificate chain and private key.
    - client_ca_file: with it, mutual TLS: only clients with a certificate signed by this CA connect.
    """

    cert_file: str
    key_file: str
    client_ca_file: str | None = None

    def credentials(self) -> grpc.ServerCredentials:
        chain = _read_bytes(self.cert_file, "TLS certificate (--tls-cert)")
        key = _read_key(self.key_file, "TLS key (--tls-key)")
        ca = _read_bytes(self.client_ca_file, "client CA (--tls-client-ca)") if self.client_ca_file else None
        return grpc.ssl_server_credentials([(key, chain)], root_certificates=ca, require_client_auth=ca is not None)


def server_tls(cert_file: str | Path | None, key_file: str | Path | None,
               client_ca_file: str | Path | None = None) -> ServerTLS | None:
    """ServerTLS from command-line options (None without certificate and key); every file must exist."""
    if cert_file is None and key_file is None:
        if client_ca_file is not None:
            raise ConfigError("--tls-client-ca needs --tls-cert and --tls-key (mutual TLS is TLS first)")
        return None
    if cert_file is None or key_file is None:
        raise ConfigError("TLS needs both --tls-cert and --tls-key")
    for path in (cert_file, key_file, client_ca_file):
        if path is not None and not Path(path).is_file():
            raise ConfigError(f"TLS file {path} does not exist; pass PEM files to --tls-cert/--tls-key/--tls-client-ca")
    return ServerTLS(str(cert_file), str(key_file), None if client_ca_file is None else str(client_ca_file))


@dataclass(frozen=True)
class ClientTLS:
    """TLS of a client's TCP channel (PEM files).

    - ca_file: the CA that signed the server's certificate (None: the system's trust store).
    - cert_file, key_file: the client's certificate and key, for servers that demand mutual TLS.
    """

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    def __post_init__(self):
        if (self.cert_file is None) != (self.key_file is None):
            raise ConfigError("a TLS client certificate needs its key and the key its certificate: give both "
                              "(cert_file/key_file or *_TLS_CERT and *_TLS_KEY)")

    @classmethod
    def from_env(cls, env_prefix: str = SIMULATOR_ENV_PREFIX) -> "ClientTLS | None":
        """From `<prefix>TLS_CA`, `<prefix>TLS_CERT`, `<prefix>TLS_KEY`; None when none is set."""
        ca, cert, key = (os.environ.get(f"{env_prefix}TLS_{name}") or None for name in ("CA", "CERT", "KEY"))
        return None if ca is None and cert is None and key is None else cls(ca, cert, key)

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=_read_bytes(self.ca_file, "TLS CA") if self.ca_file else None,
            private_key=_read_key(self.key_file, "TLS client key") if self.key_file else None,
            certificate_chain=_read_bytes(self.cert_file, "TLS client certificate") if self.cert_file else None)


def open_channel(target: str, tls: ClientTLS | None, token: str | None, options: list) -> grpc.Channel:
    """A channel to a gRPC target (already normalised: HOST:PORT or unix:PATH): TLS over TCP when
    `tls` is given; Unix sockets stay plaintext."""
    if target.startswith("unix:"):
        return grpc.insecure_channel(target, options=options)
    if tls is not None:
        return grpc.secure_channel(target, tls.credentials(), options=options)
    if token is not None and not _is_loopback(target):
        log.warning("sending the access token to %s without TLS: anyone on the path can read it; use TLS "
                    "(SPLATSIM_TLS_CA / ClientTLS) off loopback", target)
    return grpc.insecure_channel(target, options=options)


def _is_loopback(target: str) -> bool:
    host = target.rsplit(":", 1)[0] if not target.startswith("[") else target[1:].split("]", 1)[0]
    return host in ("localhost", "::1") or host.startswith("127.")


class TokenInterceptor(grpc.ServerInterceptor):
    """Answers UNAUTHENTICATED to calls without `authorization: Bearer <token>` (exempt services aside)."""

    def __init__(self, token: str, exempt_services: tuple[str, ...] = EXEMPT_SERVICES):
        self._digest = hashlib.sha256(token.encode()).digest()
        self._exempt = tuple(f"/{s}/" for s in exempt_services)
        self._prefix = BEARER_PREFIX.encode()

    def _authorized(self, metadata) -> bool:
        for key, value in metadata or ():
            if key == AUTH_METADATA_KEY:
                given = value.encode("utf-8", "replace") if isinstance(value, str) else bytes(value)
                if not given.startswith(self._prefix):
                    return False
                # Digests of equal length: the comparison time says nothing about the token.
                return hmac.compare_digest(hashlib.sha256(given[len(self._prefix):]).digest(), self._digest)
        return False

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(self._exempt) or \
                self._authorized(handler_call_details.invocation_metadata):
            return handler
        has_key = any(k == AUTH_METADATA_KEY for k, _ in handler_call_details.invocation_metadata or ())
        return _deny(handler, "the access token is wrong" if has_key else "this server requires an access token")


def _deny(handler: grpc.RpcMethodHandler, reason: str) -> grpc.RpcMethodHandler:
    message = (f"{reason}: send metadata '{AUTH_METADATA_KEY}: {BEARER_PREFIX}<token>' (RemoteSimulator(token=...) "
               "or SPLATSIM_TOKEN; for grpc:// policies SPLATSIM_POLICY_TOKEN)")

    def refuse(request_or_iterator, context):  # noqa: ARG001
        context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    make = {(False, False): grpc.unary_unary_rpc_method_handler, (False, True): grpc.unary_stream_rpc_method_handler,
            (True, False): grpc.stream_unary_rpc_method_handler, (True, True): grpc.stream_stream_rpc_method_handler}
    return make[(handler.request_streaming, handler.response_streaming)](refuse)


def interceptors(token: str | None) -> tuple[grpc.ServerInterceptor, ...]:
    """The server interceptors for a token (none without: no cost per call)."""
    return () if token is None else (TokenInterceptor(token),)


def check_socket_directory(directory: Path) -> None:
    """Refuse a socket directory another user could replace the socket in: owned by someone else
    than this user or root, or writable by everyone without the sticky bit."""
    st = directory.stat()
    if st.st_uid not in (os.getuid(), 0):
        raise ConfigError(f"the Unix socket's directory {directory} belongs to another user (uid {st.st_uid}), who "
                          "could replace the socket; put the socket in a directory of your own")
    if st.st_mode & stat.S_IWOTH and not st.st_mode & stat.S_ISVTX:
        raise ConfigError(f"the Unix socket's directory {directory} is writable by every user without the sticky "
                          "bit, so anyone could replace the socket; use a private directory (mode 0700)")


@contextlib.contextmanager
def private_socket_path(path: str | Path) -> Iterator[str]:
    """Yield a path to bind a Unix socket at; on success the socket is made 0600 and renamed to
    `path`. The binding happens in a fresh 0700 directory beside `path`, so nobody else can
    connect before the mode is set, whatever the umask. A stale socket at `path` is replaced;
    any other file there is refused."""
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    check_socket_directory(path.parent)
    if os.path.lexists(path) and not stat.S_ISSOCK(os.lstat(path).st_mode):
        raise ConfigError(f"{path} exists and is not a Unix socket; remove it or choose another socket path")
    private = tempfile.mkdtemp(prefix=".s", dir=path.parent)  # mode 0700
    bind_path = os.path.join(private, "s")
    if len(os.fsencode(bind_path)) > _MAX_UNIX_PATH_BYTES:
        os.rmdir(private)
        raise ConfigError(f"the Unix socket's directory {path.parent} has too long a path (at most "
                          f"{_MAX_UNIX_PATH_BYTES - 13} bytes: the kernel limits socket paths); choose a shorter one")
    try:
        yield bind_path
        os.chmod(bind_path, 0o600)
        os.replace(bind_path, path)
    except PermissionError as err:
        raise ConfigError(f"cannot place the Unix socket at {path}: {err.strerror}; another user's socket may be "
                          "there: choose another path") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(bind_path)
        os.rmdir(private)

"""HUGSIM's benchmark HTTP API, served over a `HugsimEnvironment` (stdlib http.server).

Routes as `hugsim_client.HugsimClient` (0.0.8) calls them and longxiaofei/HUGSIM's competition
`web_server.py` answers them:
- POST /reset -> JSON {"success": true}.
- GET /get_current_state -> pickled {"done", "cur_scene_done", "state": {"obs", "info"}}.
- POST /execute_action, JSON body {"plan_traj": "<JSON of {data, shape, dtype}>", "transaction_id":
  str} -> the same pickled dict after the action. Replies are kept by transaction id (the last
  `cache_size`), so the client's retries (tenacity, 3 attempts) never act twice.
- every route checks the header `auth-token` when the server has a token (401 otherwise).
Replies are pickled because the client unpickles them; nothing a client sends is unpickled.
Errors are JSON {"detail": message} with 400, 401, 404, 405, 411, 413 or 500; the server keeps serving.
Extra: GET /results -> JSON list of the finished scenes' summaries (splatsim's metrics).
"""

from __future__ import annotations

import hmac
import json
import logging
import pickle
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from policies_api.errors import InvalidArgument
from policies_api.hugsim.convert import parse_plan
from policies_api.hugsim.episode import HugsimEnvironment
from sim.errors import ActionError

log = logging.getLogger("splatsim.hugsim")
PICKLE_PROTOCOL = 4  # readable by every Python the client supports (>= 3.8)
MAX_TRANSACTION_ID_CHARS = 128


@dataclass(frozen=True)
class HugsimServerConfig:
    """host, port (0: any free port); auth_token: required in header auth-token when set;
    cache_size: replies kept by transaction id; max_body_bytes: largest execute_action body."""

    host: str = "127.0.0.1"
    port: int = 8065
    auth_token: str | None = None
    cache_size: int = 100
    max_body_bytes: int = 1 << 20


class HttpError(Exception):
    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


class HugsimServer:
    """The HTTP server around one environment. Every call on the environment runs on one worker
    thread, in order: that serialises them, and the proxy renderer's OpenGL context belongs to the
    thread that made it."""

    def __init__(self, env: HugsimEnvironment, config: HugsimServerConfig = HugsimServerConfig()):
        self.env = env
        self.config = config
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hugsim-env")
        self._replies: OrderedDict[str, bytes] = OrderedDict()
        self._run(env.reset)  # as web_server's EnvHandler: the first scene is ready before the first call
        self.httpd = ThreadingHTTPServer((config.host, config.port), _handler_class(self))
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "HugsimServer":
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="hugsim-http", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._run(self.env.close)
        self._worker.shutdown()

    def _run(self, fn):
        return self._worker.submit(fn).result()

    # ---- routes ---------------------------------------------------------------------------------

    def reset(self) -> bytes:
        def reset() -> None:
            self.env.reset()
            self._replies.clear()

        self._run(reset)
        return json.dumps({"success": True}).encode()

    def current_state(self) -> bytes:
        return self._run(self._reply)

    def execute_action(self, body: bytes) -> bytes:
        try:
            request = json.loads(body)
        except (ValueError, RecursionError) as err:
            raise InvalidArgument(f"the body of /execute_action is not JSON ({err}); send "
                                  '{"plan_traj": "...", "transaction_id": "..."}')
        if not isinstance(request, dict) or not {"plan_traj", "transaction_id"} <= request.keys():
            raise InvalidArgument("the body of /execute_action needs the fields 'plan_traj' and 'transaction_id'")
        tid = request["transaction_id"]
        if not isinstance(tid, str) or not 0 < len(tid) <= MAX_TRANSACTION_ID_CHARS:
            raise InvalidArgument(f"'transaction_id' must be a string of 1..{MAX_TRANSACTION_ID_CHARS} characters")
        plan = parse_plan(request["plan_traj"])  # checked even when the run is over: a bad plan is always an error

        def execute() -> bytes:
            cached = self._replies.get(tid)
            if cached is not None:
                return cached
            if not self.env.done:
                self.env.execute(plan)
            reply = self._reply()
            self._replies[tid] = reply
            while len(self._replies) > self.config.cache_size:
                self._replies.popitem(last=False)
            return reply

        return self._run(execute)

    def results(self) -> bytes:
        return self._run(lambda: json.dumps(self.env.results, default=float).encode())

    def _reply(self) -> bytes:
        env = self.env
        return pickle.dumps({"done": env.done, "cur_scene_done": env.scene_done, "state": env.state()},
                            protocol=PICKLE_PROTOCOL)

    def authorised(self, token: str | None) -> bool:
        expected = self.config.auth_token
        return not expected or (token is not None and hmac.compare_digest(token.encode(), expected.encode()))


def _handler_class(server: HugsimServer) -> type[BaseHTTPRequestHandler]:
    routes = {("POST", "/reset"): "reset", ("GET", "/get_current_state"): "current_state",
              ("POST", "/execute_action"): "execute_action", ("GET", "/results"): "results"}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the client reuses one requests.Session

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            path = self.path.split("?", 1)[0]
            try:
                body = self._read_body() if method == "POST" else b""
                route = routes.get((method, path))
                if route is None:
                    allowed = [m for m, p in routes if p == path]
                    raise HttpError(405, f"{method} {path} is not allowed; use {allowed[0]}") if allowed else \
                        HttpError(404, f"no route {path}; the routes are {sorted({p for _, p in routes})}")
                if not server.authorised(self.headers.get("auth-token")):
                    raise HttpError(401, "missing or wrong header 'auth-token'; pass the server's token "
                                         "(HugsimClient(api_token=...) or HUGSIM_API_TOKEN)")
                handler = getattr(server, route)
                data = handler(body) if route == "execute_action" else handler()
                kind = "application/json" if route in ("reset", "results") else "application/octet-stream"
                self._send(200, data, kind)
            except HttpError as err:
                self._send_error(err.status, err.detail)
            except (InvalidArgument, ActionError) as err:
                self._send_error(400, str(err))
            except Exception as err:  # the server keeps serving whatever one request did
                log.exception("%s %s failed", method, path)
                self._send_error(500, f"internal error: {type(err).__name__}: {err}")

        def _read_body(self) -> bytes:
            length = self.headers.get("Content-Length")
            if length is None:
                self.close_connection = True
                raise HttpError(411, "POST needs a Content-Length header")
            try:
                size = int(length)
            except ValueError:
                self.close_connection = True
                raise HttpError(400, f"bad Content-Length {length!r}")
            if size < 0 or size > server.config.max_body_bytes:
                self.close_connection = True  # the unread body must not be parsed as the next request
                raise HttpError(413, f"the body has {size} bytes, over the limit of {server.config.max_body_bytes}")
            return self.rfile.read(size)

        def _send_error(self, status: int, detail: str) -> None:
            self._send(status, json.dumps({"detail": detail}).encode(), "application/json")

        def _send(self, status: int, data: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args) -> None:
            log.debug("%s " + format, self.address_string(), *args)

    return Handler

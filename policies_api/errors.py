"""The errors a server refuses a request with.

Each carries the name of the grpc.StatusCode the server answers with, so that the code that
raises them (catalog, options, sessions, the policy server) needs no gRPC import; the servers'
`rpc_handler` turns them into statuses.
"""

from __future__ import annotations

import re

from sim.errors import SplatsimError


class ServiceError(SplatsimError):
    """A request the server refuses; `code` is the grpc.StatusCode name it answers with."""

    code = "INTERNAL"

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code


class NotFound(ServiceError):
    code = "NOT_FOUND"


class InvalidArgument(ServiceError):
    code = "INVALID_ARGUMENT"


class FailedPrecondition(ServiceError):
    code = "FAILED_PRECONDITION"


class ResourceExhausted(ServiceError):
    code = "RESOURCE_EXHAUSTED"


class Aborted(ServiceError):
    code = "ABORTED"


MAX_ERROR_CHARS = 1024
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~/-])/(?:[^\s'\"/:,;()\[\]<>]+/)+([^\s'\"/:,;()\[\]<>]*)")


def clip(text: str, limit: int = 120) -> str:
    """A client-supplied string short enough for an error message: its head, the count of what
    was cut, and its tail."""
    text = str(text)
    if len(text) <= limit:
        return text
    keep = max(limit - 40, 2)
    return f"{text[: keep * 2 // 3]}...[{len(text) - keep} characters cut]...{text[len(text) - keep // 3:]}"


def hide_paths(message: str) -> str:
    """`message` with every absolute path reduced to its last component (`.../name`), so that
    errors do not reveal where the server keeps its files."""
    return _ABSOLUTE_PATH.sub(lambda m: ".../" + m.group(1), message)


def public_message(message: str, reveal_paths: bool) -> str:
    """What a client is told: absolute paths hidden unless revealed, and at most MAX_ERROR_CHARS."""
    return clip(message if reveal_paths else hide_paths(message), MAX_ERROR_CHARS)

"""The errors a server refuses a request with.

Each carries the name of the grpc.StatusCode the server answers with, so that the code that
raises them (catalog, options, sessions, the policy server) needs no gRPC import; the servers'
`rpc_handler` turns them into statuses.
"""

from __future__ import annotations

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

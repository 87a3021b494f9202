"""Deadlines and cancellation inside a call: work stops at the next checkpoint once the
client's deadline has passed or the client has cancelled (or gone), and the server counts
what it did.

A handler makes one `CallGuard` per call; the session calls `guard.check(stage)` before each
unit of work (after acquiring the session, before the engine step, before each camera) and
`guard.done()` after it. `check` raises DEADLINE_EXCEEDED or CANCELLED as a ServiceError, so no
unit of an abandoned call starts after its deadline; a unit that started in time and ended
late is counted (`ServerStats.units_finished_late`, `late_s`), which bounds the work wasted.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, fields

from policies_api.errors import ServiceError


@dataclass
class ServerStats:
    """Counters of a server's calls (guarded by `lock`; read with `snapshot`).

    - aborted_busy: calls refused because their session was busy with another call.
    - stopped_deadline / stopped_cancelled: calls stopped at a checkpoint.
    - units: engine steps and camera renders run; units_finished_late: those that ended after
      their call's deadline (started in time); late_s: their seconds past the deadline.
    """

    aborted_busy: int = 0
    stopped_deadline: int = 0
    stopped_cancelled: int = 0
    units: int = 0
    units_finished_late: int = 0
    late_s: float = 0.0

    def __post_init__(self) -> None:
        self.lock = threading.Lock()

    def add(self, **counts) -> None:
        with self.lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def snapshot(self) -> dict:
        with self.lock:
            return {f.name: getattr(self, f.name) for f in fields(self)}


class CallGuard:
    """The checkpoints of one call. `context` is the handler's grpc.ServicerContext (only
    `time_remaining()` and `is_active()` are used); `method` names the call in messages."""

    def __init__(self, context, stats: ServerStats, method: str):
        remaining = context.time_remaining()
        self.deadline_s = None if remaining is None or remaining > 1e9 else time.monotonic() + remaining
        self._context = context
        self._stats = stats
        self._method = method

    def check(self, stage: str) -> None:
        """Raise DEADLINE_EXCEEDED / CANCELLED when the call is over; `stage` is what would run next."""
        if self.deadline_s is not None and time.monotonic() >= self.deadline_s:
            self._stats.add(stopped_deadline=1)
            raise ServiceError(f"the deadline of {self._method} passed before {stage}; the server stopped there",
                               code="DEADLINE_EXCEEDED")
        if not self._context.is_active():
            self._stats.add(stopped_cancelled=1)
            raise ServiceError(f"{self._method} was cancelled by the client before {stage}; the server stopped there",
                               code="CANCELLED")

    def done(self) -> None:
        """After a unit of work: count it, and whether it ended after the deadline."""
        late_s = 0.0 if self.deadline_s is None else time.monotonic() - self.deadline_s
        if late_s > 0:
            self._stats.add(units=1, units_finished_late=1, late_s=late_s)
        else:
            self._stats.add(units=1)

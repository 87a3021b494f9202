"""The open sessions of a server: bounded in number, looked up by id, reclaimed when idle."""

from __future__ import annotations

import logging
import threading
import time
import uuid

from policies_api.errors import Aborted, NotFound, ResourceExhausted
from policies_api.session import Session
from sim.errors import ConfigError

log = logging.getLogger("splatsim.server")


class SessionRegistry:
    """Open sessions: bounded in number, looked up by id, reclaimed when idle.

    A background reaper closes sessions with no call for `idle_timeout_s` (a client that
    vanished); sessions in the middle of a call are never reaped.
    """

    def __init__(self, max_sessions: int = 16, idle_timeout_s: float = 300.0, busy_timeout_s: float = 10.0):
        if max_sessions < 1 or idle_timeout_s <= 0:
            raise ConfigError("max_sessions must be >= 1 and the idle timeout > 0 seconds")
        self.max_sessions = max_sessions
        self.idle_timeout_s = idle_timeout_s
        self.busy_timeout_s = busy_timeout_s
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._reaper: threading.Thread | None = None
        self.reclaimed = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def ids(self) -> list[str]:
        with self._lock:
            return list(self._sessions)

    def reserve(self) -> str:
        """A new session id, or ResourceExhausted when full (the slot is held until add/release)."""
        with self._lock:
            if len(self._sessions) >= self.max_sessions:
                raise ResourceExhausted(f"the server already hosts {self.max_sessions} sessions (its --max-sessions); "
                                        "close a session (CloseSession) or wait for idle ones to be reclaimed after "
                                        f"{self.idle_timeout_s:g} s")
            sid = uuid.uuid4().hex
            self._sessions[sid] = None  # type: ignore[assignment]  # reserved
            return sid

    def add(self, session: Session) -> None:
        with self._lock:
            self._sessions[session.id] = session

    def release(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def acquire(self, session_id: str) -> Session:
        """The session, locked for one call (NotFound / Aborted when busy too long)."""
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None:
            raise NotFound(f"unknown session {session_id!r}: it was closed, reclaimed after {self.idle_timeout_s:g} s "
                           "idle, or never created; call CreateSession")
        if not session.lock.acquire(timeout=self.busy_timeout_s):
            raise Aborted(f"session {session_id} is busy with another call; send one call at a time per session")
        if session.closed:
            session.lock.release()
            raise NotFound(f"session {session_id} was closed; call CreateSession")
        session.last_used_s = time.monotonic()
        return session

    def done_with(self, session: Session) -> None:
        session.last_used_s = time.monotonic()
        session.lock.release()

    def close(self, session_id: str) -> Session | None:
        """Remove and close a session (waits for a call in progress); None when unknown."""
        with self._lock:
            session = self._sessions.pop(session_id, None)
        if session is None:
            return None
        with session.lock:
            session.close()
        return session

    def close_all(self) -> None:
        for sid in self.ids():
            self.close(sid)

    def reap_once(self, now_s: float | None = None) -> list[str]:
        """Close the sessions idle longer than the timeout; their ids."""
        now_s = time.monotonic() if now_s is None else now_s
        with self._lock:
            idle = [s for s in self._sessions.values()
                    if s is not None and now_s - s.last_used_s > self.idle_timeout_s]
        reaped = []
        for session in idle:
            if not session.lock.acquire(blocking=False):
                continue  # in a call right now: not idle
            try:
                if time.monotonic() - session.last_used_s <= self.idle_timeout_s:
                    continue
                with self._lock:
                    self._sessions.pop(session.id, None)
                session.close()
                reaped.append(session.id)
            finally:
                session.lock.release()
        if reaped:
            self.reclaimed += len(reaped)
            log.info("reclaimed %d idle session(s): %s", len(reaped), ", ".join(reaped))
        return reaped

    def start_reaper(self) -> None:
        if self._reaper is not None:
            return
        interval = min(max(self.idle_timeout_s / 4.0, 0.05), 5.0)

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.reap_once()
                except Exception:  # the reaper must outlive any one bad session
                    log.exception("session reaper failed")

        self._reaper = threading.Thread(target=loop, name="splatsim-session-reaper", daemon=True)
        self._reaper.start()

    def stop_reaper(self) -> None:
        self._stop.set()
        if self._reaper is not None:
            self._reaper.join(timeout=5.0)
            self._reaper = None

"""The open sessions of a server: bounded in number (in all and per client), looked up by id,
reclaimed when idle or when their client's connection is gone."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Callable

from policies_api.errors import Aborted, NotFound, ResourceExhausted
from policies_api.session import Session
from sim.errors import ConfigError

log = logging.getLogger("splatsim.server")

PeerConnected = Callable[[str], "bool | None"]
"""peer_connected(peer) -> True / False when the connection of a gRPC peer (`context.peer()`) is
known to be open / closed, None when that cannot be told (Unix sockets)."""


class SessionRegistry:
    """Open sessions: bounded in number, looked up by id, reclaimed when idle.

    - max_sessions: sessions in all; max_sessions_per_client: sessions one client identity may
      hold (the identity is the server's `client_identity` of the call).
    - idle_timeout_s: a session with no call for this long is closed (a client that vanished
      without its connection being seen to close).
    - orphan_timeout_s: a session idle this long whose last caller's connection has closed
      (`peer_connected` says False) is closed sooner than idle_timeout_s.

    A session belongs to the client (and connection) that called it last, so a client that
    reconnects keeps its sessions. A background reaper applies both timeouts; sessions in a call are never reaped.
    Calls on one session are never queued: a second call while one runs is ABORTED at once.
    """

    def __init__(self, max_sessions: int = 16, idle_timeout_s: float = 300.0,
                 max_sessions_per_client: int | None = None, orphan_timeout_s: float = 10.0,
                 peer_connected: PeerConnected | None = None):
        if max_sessions < 1 or idle_timeout_s <= 0 or orphan_timeout_s <= 0:
            raise ConfigError("max_sessions must be >= 1 and the idle and orphan timeouts > 0 seconds")
        per_client = max_sessions if max_sessions_per_client is None else max_sessions_per_client
        if per_client < 1:
            raise ConfigError("max_sessions_per_client must be >= 1")
        self.max_sessions = max_sessions
        self.max_sessions_per_client = min(per_client, max_sessions)
        self.idle_timeout_s = idle_timeout_s
        self.orphan_timeout_s = min(orphan_timeout_s, idle_timeout_s)
        self.peer_connected = peer_connected
        self._sessions: dict[str, Session | None] = {}
        self._owner: dict[str, tuple[str, str]] = {}  # session id -> (client identity, peer) of its last call
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._reaper: threading.Thread | None = None
        self.reclaimed = 0
        self.reclaimed_orphans = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def ids(self) -> list[str]:
        with self._lock:
            return list(self._sessions)

    def reserve(self, client: str = "", peer: str = "") -> str:
        """A new session id for `client`, or ResourceExhausted naming the quota that is full (the
        slot is held until add/release)."""
        with self._lock:
            if len(self._sessions) >= self.max_sessions:
                raise ResourceExhausted(f"the server already hosts {self.max_sessions} sessions (its --max-sessions); "
                                        "close a session (CloseSession) or wait for idle ones to be reclaimed after "
                                        f"{self.idle_timeout_s:g} s")
            held = sum(owner == client for owner, _ in self._owner.values())
            if held >= self.max_sessions_per_client:
                raise ResourceExhausted(f"this client ({client}) already holds {held} sessions, the per-client quota "
                                        f"(the server's --max-sessions-per-client {self.max_sessions_per_client}); "
                                        "close one of yours (CloseSession) before creating another")
            sid = uuid.uuid4().hex
            self._sessions[sid] = None  # reserved
            self._owner[sid] = (client, peer)
            return sid

    def add(self, session: Session) -> None:
        with self._lock:
            self._sessions[session.id] = session

    def release(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)
            self._owner.pop(session_id, None)

    def acquire(self, session_id: str, client: str = "", peer: str = "") -> Session:
        """The session, locked for one call by `client` over `peer`: NotFound when unknown, Aborted at once
        when another call holds it (no thread waits for a busy session)."""
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None:
            raise NotFound(f"unknown session {session_id!r}: it was closed, reclaimed after {self.idle_timeout_s:g} s "
                           "idle, or never created; call CreateSession")
        if not session.lock.acquire(blocking=False):
            raise Aborted(f"session {session_id} is busy with another call; a session answers one call at a time, "
                          "so retry after that call completes")
        if session.closed:
            session.lock.release()
            raise NotFound(f"session {session_id} was closed; call CreateSession")
        with self._lock:
            if session_id in self._owner:
                self._owner[session_id] = (client, peer)
        session.last_used_s = time.monotonic()
        return session

    def done_with(self, session: Session) -> None:
        session.last_used_s = time.monotonic()
        session.lock.release()

    def close(self, session_id: str) -> Session | None:
        """Remove and close a session (waits for a call in progress); None when unknown."""
        with self._lock:
            session = self._sessions.pop(session_id, None)
            self._owner.pop(session_id, None)
        if session is None:
            return None
        with session.lock:
            session.close()
        return session

    def close_all(self) -> None:
        for sid in self.ids():
            self.close(sid)

    def reap_once(self, now_s: float | None = None) -> list[str]:
        """Close the sessions idle longer than the idle timeout, or than the orphan timeout when
        their client's connection has closed; their ids."""
        now_s = time.monotonic() if now_s is None else now_s
        with self._lock:
            candidates = [(s, self._owner.get(s.id, ("", ""))) for s in self._sessions.values()
                          if s is not None and now_s - s.last_used_s > self.orphan_timeout_s]
        gone = {}  # peer -> its connection is known to be closed (asked once per pass, outside the lock)
        if self.peer_connected is not None:
            gone = {peer: self.peer_connected(peer) is False for peer in {p for _, (_, p) in candidates}}
        reaped, orphans = [], 0
        for session, owner in candidates:
            if not session.lock.acquire(blocking=False):
                continue  # in a call right now: not idle
            try:
                idle_s = max(now_s, time.monotonic()) - session.last_used_s
                orphan = idle_s > self.orphan_timeout_s and gone.get(owner[1], False)
                if idle_s <= self.idle_timeout_s and not orphan:
                    continue
                with self._lock:
                    if self._owner.get(session.id) != owner:
                        continue  # called since by another connection: not the orphan seen above
                    self._sessions.pop(session.id, None)
                    self._owner.pop(session.id, None)
                session.close()
                reaped.append(session.id)
                orphans += idle_s <= self.idle_timeout_s
            finally:
                session.lock.release()
        if reaped:
            self.reclaimed += len(reaped)
            self.reclaimed_orphans += orphans
            log.info("reclaimed %d session(s), %d of them of clients gone: %s", len(reaped), orphans,
                     ", ".join(reaped))
        return reaped

    def start_reaper(self) -> None:
        if self._reaper is not None:
            return
        interval = min(max(self.orphan_timeout_s / 4.0, 0.05), 5.0)

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

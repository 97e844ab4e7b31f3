"""Dashboard sessions: kept in server memory, keyed by a random id carried in an HttpOnly cookie.

A session remembers the bearer token the user signed in with (never sent back to the browser) and a CSRF
token the page must echo in the `X-CSRF-Token` header of every state-changing request. Sessions end on
sign-out, after `SESSION_LIFETIME`, or when the server restarts; the token itself is re-authenticated on every
request, so revoking it ends the session at once.
"""

from __future__ import annotations

import dataclasses
import hmac
import secrets
import threading
import time
from collections.abc import Callable

#: name of the session cookie
COOKIE_NAME = "openflows_session"
#: header carrying the per-session CSRF token
CSRF_HEADER = "x-csrf-token"
#: how long a session lasts after sign-in (seconds)
SESSION_LIFETIME = 12 * 3600
#: the paths of the Timers API, which take the Timers token
TIMERS_PREFIXES = ("/jobs", "/v2/timer")


@dataclasses.dataclass(frozen=True)
class Session:
    """One signed-in browser."""

    session_id: str
    token: str
    csrf: str
    expires_at: float
    #: the token was issued to the dashboard at /ui/callback (revoked at sign-out), not pasted by the user
    issued: bool = False
    #: the Timers token issued with it at /ui/callback (None: `token` is used for the Timers API too, as a
    #: pasted token from `openflows tokens create` holds every scope)
    timers_token: str | None = None

    def token_for(self, path: str) -> str:
        """The bearer token for a request to `path`: the Timers token for the Timers API, else `token`."""
        if self.timers_token is not None and path.startswith(TIMERS_PREFIXES):
            return self.timers_token
        return self.token

    def csrf_matches(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented.encode(), self.csrf.encode())


class SessionStore:
    """Sessions by id, thread-safe (handlers run in a thread pool); `clock` returns monotonic seconds."""

    def __init__(self, *, lifetime: float = SESSION_LIFETIME, clock: Callable[[], float] = time.monotonic):
        self.lifetime = lifetime
        self.clock = clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create_session(self, token: str, *, issued: bool = False, timers_token: str | None = None) -> Session:
        now = self.clock()
        session = Session(
            session_id=secrets.token_urlsafe(32),
            token=token,
            csrf=secrets.token_urlsafe(32),
            expires_at=now + self.lifetime,
            issued=issued,
            timers_token=timers_token,
        )
        with self._lock:
            for key in [k for k, s in self._sessions.items() if s.expires_at <= now]:
                del self._sessions[key]
            self._sessions[session.session_id] = session
        return session

    def get_session(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(session_id)
            if session is not None and session.expires_at <= self.clock():
                del self._sessions[session_id]
                return None
        return session

    def delete_session(self, session_id: str | None) -> None:
        if session_id:
            with self._lock:
                self._sessions.pop(session_id, None)

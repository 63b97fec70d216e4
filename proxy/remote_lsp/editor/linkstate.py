"""The bridge's link life, in one place: one state machine, and why each
connection ended.

    connecting --welcome--> up --the connection lost--> down --an attempt--> resuming
    connecting --the connection lost as it was welcomed--> down
    resuming --resumed--> up, or --not resumed--> new session --ready--> up
    resuming, new session --the attempt failed, the link lost again--> down
    any --the host ended the session, an error retrying cannot mend,
          a new session failing to start the same way twice--> given up

Every end of a connection reaches here with its reason (`End`), so the host
ending a session on purpose (a server that cannot start, one stopped) is never
taken for a network drop. The backoff counts the attempts of one outage: a new
session that fails goes on from where it was, and only `up` starts it afresh.
Its wait is short, so the link is seen back soon after the network (an
attempt that meets a network still down costs a failed ssh connection), and
an editor that asks for something while the link is down skips it (`hurry`).
"""

import asyncio
import time
from typing import Any, Dict, List, Optional, Set

CONNECTING, UP, DOWN, RESUMING, NEW_SESSION, GIVEN_UP = (
    "connecting", "up", "down", "resuming", "new session", "given up")
_NEXT: Dict[str, Set[str]] = {
    CONNECTING: {UP, DOWN, GIVEN_UP},
    UP: {DOWN, GIVEN_UP},
    DOWN: {RESUMING, GIVEN_UP},
    RESUMING: {UP, NEW_SESSION, DOWN, GIVEN_UP},
    NEW_SESSION: {UP, DOWN, GIVEN_UP},
    GIVEN_UP: set(),
}
BACKOFF = (0.0, 0.25, 0.5, 1.0)  # seconds before each attempt of an outage; then the last, each,
LONG_OUTAGE = 300.0  # until the outage is this old; then LONG_WAIT (a request still hurries an attempt)
LONG_WAIT = 10.0
SAME_FAILURES = 2  # a session failing to start the same way this many times in a row is given up


class End:
    """Why a connection (or the whole link) ended. `on_purpose`: the host
    ended the session, and reconnecting cannot bring it back; `failed`: it
    ended in failure (exit FAILED); `here`: the bridge ended it itself, so no
    word of the host's tells the editor."""

    def __init__(self, reason: str, on_purpose: bool = False, failed: bool = False,
                 here: bool = False) -> None:
        self.reason = reason
        self.on_purpose = on_purpose
        self.failed = failed
        self.here = here

    @classmethod
    def of_host(cls, frame: Dict[str, Any], host: str) -> "End":
        """The host's `end` frame (wire/link.py)."""
        return cls(str(frame.get("reason") or "the session ended on %s" % host), on_purpose=True,
                   failed=bool(frame.get("failed")))

    def __repr__(self) -> str:
        return "End(%r, on_purpose=%r, failed=%r)" % (self.reason, self.on_purpose, self.failed)


class LinkLife:
    def __init__(self) -> None:
        self.state = CONNECTING
        self.end: Optional[End] = None  # why the last connection ended
        self.down_since = 0.0  # monotonic; when the link went down
        self._attempts = 0
        self._failed_starts: List[str] = []  # how new sessions failed to start, in a row
        self._changes: List[asyncio.Future[str]] = []
        self._hurry: Optional[asyncio.Future[None]] = None

    @property
    def down(self) -> bool:
        """The link is known to be down (an outage: not yet up, not given up)."""
        return self.state in (DOWN, RESUMING, NEW_SESSION)

    def go(self, state: str, end: Optional[End] = None) -> None:
        if state not in _NEXT[self.state]:
            raise AssertionError("the link cannot go from %s to %s" % (self.state, state))
        if end is not None:
            self.end = end
        if state == DOWN and self.state in (CONNECTING, UP):
            self.down_since = time.monotonic()
        if state == UP:
            self._attempts = 0
            self._failed_starts.clear()
        self.state = state
        changes, self._changes = self._changes, []
        for fut in changes:
            if not fut.done():
                fut.set_result(state)

    def changed(self) -> "asyncio.Future[str]":
        """Done with the new state at the next change."""
        fut = asyncio.get_running_loop().create_future()
        self._changes.append(fut)
        return fut

    def start_failed(self, reason: str) -> bool:
        """A session could not start (`reason`): True if it failed so twice in
        a row, and retrying would only do it again."""
        self._failed_starts.append(reason)
        last = self._failed_starts[-SAME_FAILURES:]
        return len(last) == SAME_FAILURES and len(set(last)) == 1

    def hurry(self) -> None:
        """The editor wants something while the link is down: try now."""
        if self._hurry is not None and not self._hurry.done():
            self._hurry.set_result(None)

    async def pause(self, editor_gone: "asyncio.Future[Any]") -> None:
        """The wait before the next attempt: the backoff's, or less if hurried."""
        if time.monotonic() - self.down_since > LONG_OUTAGE:
            delay = LONG_WAIT
        else:
            delay = BACKOFF[min(self._attempts, len(BACKOFF) - 1)]
        self._attempts += 1
        if not delay:
            return
        self._hurry = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait([editor_gone, self._hurry], timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._hurry = None

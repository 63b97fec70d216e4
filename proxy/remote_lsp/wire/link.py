"""A session that survives its connection: the link between the editor-side
bridge and the agent.

A link carries the session's LSP frames unchanged, numbered by their order
(no bytes are added to them), and frames of its own, whose bodies start with
`{"$link":` and are not numbered:

    hello    bridge -> host, first on every connection: {"token", "received", "heartbeat"}
    welcome  host -> bridge, the answer: {"token", "resumed", "received", "reason"}
    ack      either way, now and then and as a heartbeat: {"received"}

Each side keeps the numbered frames it sent until the other acknowledges
them. After a reconnect each says how many it received, and the other sends
again exactly the frames after those, then what it queued meanwhile: nothing
is lost, nothing is delivered twice.

This module holds the bookkeeping only; the bridge and the agent's session
do the I/O.
"""

import collections
import json
import time
from typing import Any, Deque, Dict, List, Optional, Tuple

from remote_lsp.wire import framing

PREFIX = b'{"$link":'
ACK_EVERY = 64  # numbered frames received before an ack goes out on its own
DEFAULT_HEARTBEAT = 15.0  # seconds of silence after which a link is dead
DEFAULT_GRACE = 600.0  # seconds a host keeps a session whose link is down


def clock() -> float:
    """Seconds that keep counting while a laptop sleeps (CLOCK_BOOTTIME), so a
    link is seen dead as soon as the machine wakes; elsewhere, the monotonic clock."""
    try:
        return time.clock_gettime(time.CLOCK_BOOTTIME)  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return time.monotonic()


def control(kind: str, **fields: Any) -> bytes:
    """One of the link's own frames, ready to write."""
    body = json.dumps(dict({"$link": kind}, **fields), separators=(",", ":")).encode()
    return framing.encode(body)


def parse_control(body: bytes) -> Optional[Dict[str, Any]]:
    """The link frame in `body`, or None for a session frame."""
    if not body.startswith(PREFIX):
        return None
    try:
        msg = json.loads(body)
    except ValueError:
        return {"$link": "invalid"}
    return msg if isinstance(msg, dict) else {"$link": "invalid"}


class Link:
    """One side's count of what was sent and received, and what it must keep."""

    def __init__(self) -> None:
        self.sent = 0  # numbered frames written so far
        self.received = 0  # numbered frames read so far
        self._retained: Deque[Tuple[int, bytes, bytes]] = collections.deque()  # sent, not yet acknowledged
        self._retained_bytes = 0
        self._told = 0  # the `received` count last sent to the peer
        self.last_heard = clock()

    def numbered(self, frame: bytes, rest: bytes = b"") -> bytes:
        """A session frame going out now (a large one may come as its header
        and its body, never joined): kept until the peer confirms it."""
        self.sent += 1
        self._retained.append((self.sent, frame, rest))
        self._retained_bytes += len(frame) + len(rest)
        return frame

    def heard(self) -> None:
        self.last_heard = clock()

    def took(self) -> None:
        """A session frame came in."""
        self.received += 1

    def confirmed(self, received: Any) -> None:
        """The peer has `received` of our frames: those need not be kept."""
        if not isinstance(received, int) or isinstance(received, bool):
            return
        while self._retained and self._retained[0][0] <= received:
            _, frame, rest = self._retained.popleft()
            self._retained_bytes -= len(frame) + len(rest)

    def unconfirmed(self, received: Any) -> List[bytes]:
        """After a reconnect: the frames the peer has not seen, to send again."""
        self.confirmed(received)
        return [frame + rest for _, frame, rest in self._retained]

    def ack_due(self) -> bool:
        return self.received - self._told >= ACK_EVERY

    def ack(self) -> bytes:
        self._told = self.received
        return control("ack", received=self.received)

    def silent_for(self) -> float:
        return clock() - self.last_heard

    @property
    def retained(self) -> int:
        """Bytes kept for a resend."""
        return self._retained_bytes

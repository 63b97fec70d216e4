"""A session that survives its connection: the link between the editor-side
bridge and the agent.

A link carries the session's LSP frames unchanged, numbered by their order
(no bytes are added to them), and frames of its own, whose bodies start with
`{"$link":` and are not numbered:

    hello    bridge -> host, first on every connection: {"token", "received", "heartbeat"}
    welcome  host -> bridge, the answer: {"token", "resumed", "received", "reason", "agent"}
    ack      either way, now and then and as a heartbeat: {"received"}
    bye      bridge -> host: the editor left; the session ends (no outage)
    end      host -> bridge: the session ended on purpose: {"reason", "failed"}; no reconnecting

Each side keeps the numbered frames it sent until the other acknowledges
them. After a reconnect each says how many it received, and the other sends
again exactly the frames after those, then what it queued meanwhile: nothing
is lost, nothing is delivered twice.

`Link` is this half of the protocol for both sides (the bridge, editor/endpoint.py,
and the agent's session, host/session.py): the counts, what is kept for a resend,
the acknowledgements and the heartbeat. They do the I/O, through the `write`
they give it.
"""

import asyncio
import collections
import json
import time
from typing import Any, Callable, Deque, Dict, Optional, Tuple

from remote_lsp.wire import framing
from remote_lsp.wire.options import DEFAULTS

PREFIX = b'{"$link":'
ACK_EVERY = 64  # numbered frames received before an ack goes out on its own
Write = Callable[[bytes], None]


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
    """One side's count of what was sent and received, what it must keep, and
    its heartbeat: an ack every third of the interval, and silence for a whole
    interval (a stalled link, a laptop just awake) taken for a dead link."""

    def __init__(self, heartbeat: float = DEFAULTS.heartbeat) -> None:
        self.heartbeat = heartbeat
        self.sent = 0  # numbered frames written so far
        self.received = 0  # numbered frames read so far
        self._retained: Deque[Tuple[int, bytes, bytes]] = collections.deque()  # sent, not yet acknowledged
        self._told = 0  # the `received` count last sent to the peer
        self.last_heard = clock()
        self._beat: Any = None  # the next heartbeat (an asyncio.TimerHandle)

    # --- frames out, and what the peer confirms -------------------------------------------

    def numbered(self, frame: bytes, rest: bytes = b"") -> bytes:
        """A session frame going out now (a large one may come as its header
        and its body, never joined): kept until the peer confirms it."""
        self.sent += 1
        self._retained.append((self.sent, frame, rest))
        return frame

    def confirmed(self, received: Any) -> None:
        """The peer has `received` of our frames: those need not be kept."""
        if not isinstance(received, int) or isinstance(received, bool):
            return
        while self._retained and self._retained[0][0] <= received:
            self._retained.popleft()

    def resend(self, received: Any, write: Write) -> None:
        """After a reconnect: write again the frames the peer has not seen."""
        self.confirmed(received)
        for _, frame, rest in self._retained:
            write(frame + rest)

    # --- frames in, and the acknowledgements ----------------------------------------------

    def heard(self) -> None:
        """Something came from the peer: it is alive."""
        self.last_heard = clock()

    def took(self) -> None:
        """A session frame came in."""
        self.received += 1

    def ack(self) -> bytes:
        self._told = self.received
        return control("ack", received=self.received)

    def ack_if_due(self, write: Write) -> None:
        """Once enough frames came in since the last ack, one goes out on its own."""
        if self.received - self._told >= ACK_EVERY:
            write(self.ack())

    def silent_for(self) -> float:
        return clock() - self.last_heard

    # --- the heartbeat ---------------------------------------------------------------

    def beat(self, write: Write, on_silence: Callable[[], None]) -> None:
        """Heartbeats on a new connection, from now: an ack by `write` every
        third of the interval; `on_silence()` once the peer is silent a whole
        interval (the beat stops then)."""
        self.stop()
        self.heard()
        self._tick(write, on_silence)

    def stop(self) -> None:
        if self._beat is not None:
            self._beat.cancel()
            self._beat = None

    def _tick(self, write: Write, on_silence: Callable[[], None]) -> None:
        self._beat = None
        if self.silent_for() > self.heartbeat:
            on_silence()
            return
        write(self.ack())
        self._beat = asyncio.get_event_loop().call_later(self.heartbeat / 3, self._tick, write, on_silence)

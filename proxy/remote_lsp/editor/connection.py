"""One connection of the bridge to the host side, and how what comes on it
is read: past its first line, then frames.

A large frame is not taken whole before anything is done with it: its first
bytes go to the `HostFrames` (the editor's side), which says what becomes of
the rest: PASS on to the editor as it comes, HOLD to be taken whole, DROP (an
answer nobody waits for any more).
"""

import asyncio
import json
from typing import Any, Callable, Dict, Optional

from remote_lsp.editor.remote import READY
from remote_lsp.editor.transport import RemoteProcess
from remote_lsp.wire import control, framing
from remote_lsp.wire.errors import RemoteLspError

PASS, HOLD, DROP = "pass", "hold", "drop"
_IGNORE = "ignore"  # a large frame before the welcome: not even counted


class HostFrames:
    """What the endpoint gives the session's frames to (the editor's side)."""

    def whole(self, body: bytes) -> None:
        raise NotImplementedError

    def large_head(self, head: bytes, length: int) -> str:
        """The first bytes of a large frame: PASS, HOLD or DROP."""
        raise NotImplementedError

    def large_more(self, data: bytes) -> None:
        """More of the large frame PASSed on."""
        raise NotImplementedError


class Connection:
    """One run of the host side's `connect`, or one connection straight to the agent's socket."""

    def __init__(self, proc: RemoteProcess, direct: bool = False) -> None:
        loop = asyncio.get_running_loop()
        self.proc = proc
        self.direct = direct
        self.ready = loop.create_future()  # the bootstrap's ready line, or the agent's reply, was seen
        self.welcome = loop.create_future()  # the host side's welcome frame
        self.eof = loop.create_future()
        self.parser = framing.PieceParser(strict=False)
        self.large: Optional[str] = None  # what becomes of the large frame coming in (PASS...)
        self.held = bytearray()  # a large frame taken whole (HOLD)
        self.early = b""
        self.end: Optional[Dict[str, Any]] = None  # the host ended the session on purpose

    def past_first_line(self, data: bytes) -> Optional[bytes]:
        """What follows the first line of the connection, once it came: the
        bootstrap's ready line, or on a direct one the agent's reply (a refusal
        ends the connection: the caller goes the long way)."""
        self.early += data
        if not self.direct:
            at = self.early.find(READY)
            if at < 0:
                return None
            rest = self.early[at + len(READY):]
        else:
            nl = self.early.find(b"\n")
            if nl < 0:
                return None
            try:
                control.decode_reply(json.loads(self.early[:nl]))
            except (ValueError, RemoteLspError):
                self.proc.kill()
                return None
            rest = self.early[nl + 1:]
        self.early = b""
        set_result(self.ready)
        return rest

    def read(self, data: bytes, whole: Callable[[bytes], None], frames: HostFrames,
             took: Callable[[], None]) -> None:
        """Frames in `data`: small ones to `whole`, a large one's pieces to
        `frames` (once welcomed) and `took()` when it is complete."""
        for kind, piece, size in self.parser.pieces(data):
            if kind == framing.HEAD:
                self.large = frames.large_head(piece, size) if self.welcome.done() else _IGNORE
                if self.large == HOLD:
                    self.held = bytearray(piece)
                if len(piece) == size:
                    self._large_done(frames, took)
            elif kind == framing.MORE:
                if self.large == PASS:
                    frames.large_more(piece)
                elif self.large == HOLD:
                    self.held += piece
                if not size:
                    self._large_done(frames, took)
            else:
                whole(piece)

    def _large_done(self, frames: HostFrames, took: Callable[[], None]) -> None:
        large, held = self.large, self.held
        self.large, self.held = None, bytearray()
        if large != _IGNORE:
            took()
        if large == HOLD:
            frames.whole(bytes(held))


def set_result(fut: Optional["asyncio.Future[Any]"], value: Any = None) -> None:
    if fut is not None and not fut.done():
        fut.set_result(value)

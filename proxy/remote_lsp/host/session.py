"""One connected client's I/O inside the agent: frames in, frames out.

The `connect` process hands the agent its stdin and stdout, so the session
reads and writes the editor's own pipes. It turns frames into well-formed
JSON-RPC messages for its owner (the instance, which gives them to the mux)
and writes what it is given; all routing state lives in the mux. Its control
socket stays open as a lifeline: if the `connect` process dies, the session
ends too.
"""

import itertools
import logging
import time
from typing import Any, Callable, Dict, Optional

from remote_lsp.wire import framing, jsonrpc
from remote_lsp.wire.channel import Channel
from remote_lsp.wire.jsonrpc import Message

log = logging.getLogger("remote_lsp.session")
_ids = itertools.count(1)


class Session:
    def __init__(self, peer_pid: int, on_message: Callable[["Session", Message], None],
                 on_close: Callable[["Session", str], None],
                 max_frame: int = framing.DEFAULT_MAX_FRAME) -> None:
        self.id = next(_ids)
        self.peer_pid = peer_pid
        self.connected = time.time()
        self.closed = False
        self.close_reason = ""
        self.failed = False  # dropped for misbehaving, not a normal goodbye
        self.restart = False  # the agent is going, the server stays: connect again
        self._on_message = on_message
        self._on_close = on_close
        self._parser = framing.FrameParser(max_frame=max_frame, strict=True)
        self._channel: Optional[Channel] = None

    def open(self, fd_in: int, fd_out: int) -> None:
        self._channel = Channel(fd_in, fd_out, self.feed, self._lost)

    def _lost(self, exc: Optional[BaseException]) -> None:
        self.close("the editor closed its connection" if exc is None else "connection lost: %s" % exc)

    def feed(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            bodies = self._parser.feed(data)
        except framing.FramingError as exc:
            self.fail("remote-lsp: dropped this client: %s" % exc)
            return
        for body in bodies:
            try:
                msg = jsonrpc.decode(body)
            except ValueError as exc:
                self.fail("remote-lsp: dropped this client: invalid JSON-RPC message (%s)" % exc)
                return
            problem = jsonrpc.shape_problem(msg)
            if problem is not None:
                # Well framed but ill formed: refuse this message, keep the client.
                rid = msg.get("id")
                self.send(jsonrpc.error(rid if jsonrpc.valid_id(rid) else None,
                                        jsonrpc.INVALID_REQUEST, "remote-lsp: %s" % problem))
                continue
            self._on_message(self, msg)
            if self.closed:
                return

    def send(self, msg: Message) -> None:
        self.send_body(jsonrpc.encode(msg))

    def send_body(self, body: bytes) -> None:
        if not self.closed and self._channel is not None:
            self._channel.write(framing.encode(body))

    def fail(self, message: str) -> None:
        """Tell the client why (best effort), then drop it."""
        log.warning("client %d: %s", self.id, message)
        self.failed = True
        self.send(jsonrpc.show_message(message))
        self.close(message)

    def close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        if self._channel is not None:
            self._channel.close()  # flushes what is buffered, then closes
        self._on_close(self, reason)

    def describe(self) -> Dict[str, Any]:
        return {"id": self.id, "pid": self.peer_pid, "connected": self.connected}

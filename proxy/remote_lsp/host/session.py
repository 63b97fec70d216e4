"""One connected client's I/O inside the agent: frames in, frames out.

The `connect` process hands the agent its stdin and stdout, so the session
reads and writes the editor's own pipes (or, over SSH, sshd's). It turns
frames into well-formed JSON-RPC messages for its owner (the instance, which
gives them to the mux) and writes what it is given; all routing state lives
in the mux.

A session of a remote editor is linked (wire/link.py): when its connection
drops or falls silent it is suspended, not ended. The mux keeps serving it,
what the server sends it waits in an outbox (bounded: the latest diagnostics
per document, the progress of ended work dropped), and a new connection that
names its token resumes it, each side sending again what the other missed.
After the grace period without one, it ends as a client leaving does.

A remote editor names files by its own URIs (scp://HOST//path): with `uris`
set, the session translates at its edge, so the mux and the server see
file:// names only, and what goes to the bridge is ready for the editor (the
bridge can pass a large answer on as it arrives).
"""

import asyncio
import collections
import itertools
import json
import logging
import time
from typing import Any, Callable, Deque, Dict, List, NamedTuple, Optional, Tuple

from remote_lsp.wire import framing, jsonrpc, link
from remote_lsp.wire.fdio import FdChannel
from remote_lsp.wire.jsonrpc import Message
from remote_lsp.wire.options import DEFAULTS
from remote_lsp.wire.uri import UriMapper

log = logging.getLogger("remote_lsp.session")
_ids = itertools.count(1)
OUTBOX_LIMIT = 64 * 1024 * 1024  # bytes a suspended session may hold before it is ended


class Linked(NamedTuple):
    """How a session survives its connection (wire/link.py): the bridge's heartbeat and
    grace period, and the token a new connection names to resume it."""

    heartbeat: float
    grace: float
    token: str


class Early(NamedTuple):
    """What the agent read of a connection before its session began: the parser
    (perhaps mid-frame), the bodies not taken yet, and one of those already decoded
    (a client's initialize, read to find its workspace), so none is decoded twice."""

    parser: framing.FrameParser
    bodies: List[bytes]
    decoded: Optional[Tuple[bytes, Message]] = None


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
        self.where = ""  # this host as the client names it (over SSH, the editor's host alias)
        self.uris: Optional[UriMapper] = None  # maps the client's names for files here, if not file://
        self.on_suspend: Callable[[Session, bool], None] = lambda s, suspended: None
        self._on_message = on_message
        self._on_close = on_close
        self._parser = framing.FrameParser(max_frame=max_frame, strict=True)
        self._channel: Optional[FdChannel] = None
        # Linked sessions only:
        self.link: Optional[link.Link] = None
        self.token = ""
        self.grace = DEFAULTS.grace
        self.suspended_since: Optional[float] = None
        self._outbox: Deque[Any] = collections.deque()  # (body, what it is) for the client while suspended
        self._outbox_bytes = 0
        self._timers: List[asyncio.TimerHandle] = []
        loop = asyncio.get_event_loop()
        self.ended = loop.create_future()  # the reason, when it ends
        # Set when the current connection is over (suspended, or a newer one took over).
        self.detached = loop.create_future()

    # --- opening, and the link's life -----------------------------------------------------

    def open(self, fd_in: int, fd_out: int, early: Optional[Early] = None) -> None:
        """Start on these fds; `early`: what was already read."""
        if early is not None:
            self._parser = early.parser
        self._channel = FdChannel(fd_in, fd_out, self.feed, self._lost)
        if self.link is not None:
            self._beat()  # (the agent welcomed it before it chose the instance)
        if early is not None:
            self._take(early.bodies, early.decoded)

    def linked(self, heartbeat: float, grace: float, token: str) -> None:
        """Make this a session that survives its connection, named by `token`."""
        self.link = link.Link(heartbeat)
        self.token = token
        self.grace = grace

    def resume(self, fd_in: int, fd_out: int, peer_received: Any, early: Early) -> None:
        """A new connection for this session: send what the client missed, then go on."""
        assert self.link is not None
        if self._channel is not None:  # the old one may not know it is dead yet
            self._drop_channel()
        for timer in self._timers:
            timer.cancel()
        self._timers = []
        self._parser = early.parser
        self._channel = FdChannel(fd_in, fd_out, self.feed, self._lost)
        detached, self.detached = self.detached, asyncio.get_event_loop().create_future()
        if not detached.done():
            detached.set_result("resumed on a newer connection")
        welcome = link.control("welcome", token=self.token, resumed=True, received=self.link.received)
        self._channel.write(welcome)
        self.link.resend(peer_received, self._channel.write)
        was = self.suspended_since
        self.suspended_since = None
        while self._outbox and self._channel is not None:  # (a write that breaks suspends us again)
            body = self._outbox.popleft()[0]
            self._outbox_bytes -= len(body)
            self._write(body)
        log.info("client %d resumed%s", self.id, " after %.1f s" % (time.time() - was) if was else "")
        self.on_suspend(self, False)
        self._beat()
        self._take(early.bodies, early.decoded)

    def _lost(self, exc: Optional[BaseException]) -> None:
        if self.link is not None:
            self.suspend("its connection closed" if exc is None else "connection lost: %s" % exc)
        else:
            self.close("the editor closed its connection" if exc is None else "connection lost: %s" % exc)

    def suspend(self, why: str) -> None:
        """The link is gone: keep the session for the grace period."""
        if self.closed or self.suspended_since is not None:
            return
        self._drop_channel()
        for timer in self._timers:
            timer.cancel()
        if self.link is not None:
            self.link.stop()
        self.suspended_since = time.time()
        log.info("client %d suspended (%s); kept for %g s", self.id, why, self.grace)
        if not self.detached.done():
            self.detached.set_result("the link is down (%s); the session waits %g s" % (why, self.grace))
        loop = asyncio.get_event_loop()
        self._timers = [loop.call_later(self.grace, lambda: self.close(
            "its connection did not come back within %g s" % self.grace))]
        self.on_suspend(self, True)

    def _drop_channel(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            channel.close()

    def _beat(self) -> None:
        """Heartbeats on this connection (wire/link.py); silence means it is dead."""
        assert self.link is not None
        heartbeat = self.link.heartbeat
        self.link.beat(self._write_raw, lambda: self.suspend("no word from the client for %g s" % heartbeat))

    def _write_raw(self, frame: bytes) -> None:
        if self._channel is not None:
            self._channel.write(frame)

    # --- frames in ----------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            bodies = self._parser.feed(data)
        except framing.FramingError as exc:
            self.fail("remote-lsp: dropped this client: %s" % exc)
            return
        if self.link is not None:
            self.link.heard()
        self._take(bodies)
        if self.link is not None:
            self.link.ack_if_due(self._write_raw)

    def _take(self, bodies: List[bytes], decoded: Optional[Tuple[bytes, Message]] = None) -> None:
        """`decoded`: one of `bodies` with its message, decoded already."""
        for body in bodies:
            if self.link is not None:
                ctl = link.parse_control(body)
                if ctl is not None:
                    self.link.confirmed(ctl.get("received"))
                    if ctl.get("$link") == "bye":  # the editor left: an end, not an outage
                        self.close("the editor closed its connection")
                        return
                    continue
                self.link.took()
            try:
                msg = decoded[1] if decoded is not None and body is decoded[0] else jsonrpc.decode(body)
            except ValueError as exc:
                self.fail("remote-lsp: dropped this client: invalid JSON-RPC message (%s)" % exc)
                return
            if self.uris is not None and self.uris.needs_editor_rewrite(body):
                msg = self.uris.message_to_server(msg)
            problem = jsonrpc.shape_problem(msg)
            if problem is not None:
                # Well framed but ill formed: refuse this message, keep the client.
                rid = msg.get("id")
                self.send(jsonrpc.error(jsonrpc.id_or_none(rid),
                                        jsonrpc.INVALID_REQUEST, "remote-lsp: %s" % problem))
                continue
            self._on_message(self, msg)
            if self.closed:
                return

    # --- frames out ---------------------------------------------------------------------

    def send(self, msg: Message) -> None:
        self.send_body(jsonrpc.encode(msg), msg)

    def send_body(self, body: bytes, msg: Optional[Message] = None) -> None:
        """`msg`: the same message decoded, when the caller has it (then it is not decoded again)."""
        if self.closed:
            return
        # What the outbox compacts by, in the server's names (before they are the editor's).
        what = _kind(body, msg) if self.suspended_since is not None else None
        if self.uris is not None:
            body = self.uris.body_to_editor(body, msg)
        if self.suspended_since is not None:
            self._keep(body, what)
        elif self._channel is not None:
            self._write(body)

    def _write(self, body: bytes) -> None:
        assert self._channel is not None
        head = framing.header(len(body))
        if len(body) < framing.COLLECT_FROM:
            head, body = head + body, b""  # one write
        # else two writes: joining them would copy a large answer once more
        if self.link is not None:
            self.link.numbered(head, body)
        self._channel.write(head)
        if body and self._channel is not None:  # (a broken pipe on the head suspends us: the link keeps it)
            self._channel.write(body)

    def _keep(self, body: bytes, what: Any) -> None:
        """Into the outbox, keeping it bounded: a newer publishDiagnostics for a
        document replaces the older one; the progress of work that ended goes
        (all of it, when the client never saw it begin). `what`: `_kind`'s word on it."""
        if what is not None and (what[0] == "diagnostics" or what[2] == "end"):
            kept = [e for e in self._outbox if e[1] is None or e[1][:2] != what[:2]]
            dropped = [e for e in self._outbox if e[1] is not None and e[1][:2] == what[:2]]
            self._outbox = collections.deque(kept)
            self._outbox_bytes = sum(len(e[0]) for e in kept)
            if what[2] == "end" and any(e[1][2] == "begin" for e in dropped):
                return
        self._outbox.append((body, what))
        self._outbox_bytes += len(body)
        if self._outbox_bytes > OUTBOX_LIMIT:
            self.close("more than %d MB waited for it while its connection was down" % (OUTBOX_LIMIT >> 20))

    # --- the end ------------------------------------------------------------------------

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
        for timer in self._timers:
            timer.cancel()
        if self.link is not None:
            self.link.stop()
        if self._channel is not None:
            if self.link is not None:  # on purpose: the bridge is not to reconnect
                self._channel.write(link.control("end", reason=reason, failed=self.failed))
            self._channel.close()  # flushes what is buffered, then closes
        self._on_close(self, reason)
        if not self.ended.done():
            self.ended.set_result(reason)

    def describe(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"id": self.id, "pid": self.peer_pid, "connected": self.connected,
                               "backlog": self._channel.backlog if self._channel is not None else 0}
        if self.link is not None:
            out["link"] = "suspended" if self.suspended_since is not None else "connected"
            out["suspended_since"] = self.suspended_since
            out["waiting"] = len(self._outbox)
        return out


def _kind(body: bytes, msg: Optional[Message] = None) -> Optional[Any]:
    """("diagnostics", uri, None) or ("progress", token, begin|report|end) for
    the notifications an outbox compacts; None for anything else. `msg`: the
    body decoded, when the caller has it (it is not decoded again)."""
    if msg is None:
        if b'"textDocument/publishDiagnostics"' not in body and b'"$/progress"' not in body:
            return None
    elif msg.get("method") not in ("textDocument/publishDiagnostics", "$/progress"):
        return None
    try:
        if msg is None:
            msg = json.loads(body)
        params = msg["params"]
        if "id" in msg:
            return None
        if msg["method"] == "textDocument/publishDiagnostics":
            return ("diagnostics", params["uri"], None)
        if msg["method"] == "$/progress":
            return ("progress", params["token"], params["value"]["kind"])
    except (ValueError, KeyError, TypeError):
        pass
    return None

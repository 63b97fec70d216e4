"""The bridge's end of the link (wire/link.py): one connection at a time to
the host side, the hello and its welcome, the link's own frames, and the
session's frames in and out.

A connection is a run of the host side's `connect` over the transport (its
bootstrap prints a ready line first, and installs remote-lsp there if need
be), or one straight to the agent's socket (`direct`: the request is sent
first and the agent's reply line comes back first; nothing is started on the
host). Either way the hello goes out at once, and on a first connection so
does what the editor sent meanwhile (a new session is welcomed before the
agent reads it), so a slow link costs one round trip fewer, twice.

The session's frames from the host go to the `HostFrames` it was given
(connection.py says how a large one does).
"""

import asyncio
from typing import Any, Callable, Dict, List, Optional

from remote_lsp.editor.connection import Connection, HostFrames, set_result
from remote_lsp.editor.linkstate import End
from remote_lsp.editor.remote import MISSING, check_failure, command_line, upload
from remote_lsp.editor.transport import RemoteProcess, Transport
from remote_lsp.wire import control, framing, link
from remote_lsp.wire.errors import PREFIX, TransportError


class HostRefused(TransportError):
    """The host side ran, and ended the session on purpose before it started, saying why."""


class Endpoint:
    def __init__(self, transport: Transport, remote_args: List[str], heartbeat: float,
                 direct: Optional[control.Request], frames: HostFrames,
                 on_lost: Callable[[End], None], on_phase: Callable[[str], None]) -> None:
        """`direct`: the request that asks the agent's socket for this session
        (encoded, never read); `on_lost(end)`: a linked connection died, and why;
        `on_phase("installing"|"starting")`: for the editor's progress."""
        self.transport = transport
        self.host = transport.host.text
        self.remote_args = remote_args  # the host side's command (`connect --link ...`)
        self.heartbeat = heartbeat
        self.direct = direct
        self.agent_socket = transport.known_agent() if direct is not None else None
        self.frames = frames
        self.on_lost = on_lost
        self.on_phase = on_phase
        self.link = link.Link(heartbeat)
        self.token: Optional[str] = None
        self.conn: Optional[Connection] = None
        self.linked = False  # a welcomed connection: heartbeats run, its death is noticed

    # --- connecting -------------------------------------------------------------------

    async def connect(self, pipeline: Callable[[], Any] = lambda: None,
                      unpipeline: Callable[[Any], None] = lambda sent: None) -> Dict[str, Any]:
        """Start a connection and say hello; its welcome. `pipeline()` sends what
        may go before the welcome (and says what it sent), `unpipeline(sent)`
        takes it back if that connection did not start. TransportError if the
        host side cannot start (HostRefused: it ran, and refused the session);
        asyncio.TimeoutError if it stalls."""
        first = self.token is None
        conn = await self._start(first, pipeline, unpipeline)
        done, _ = await asyncio.wait([conn.welcome, conn.eof], timeout=self.heartbeat,
                                     return_when=asyncio.FIRST_COMPLETED)
        if conn.welcome.done():
            return conn.welcome.result()
        conn.proc.kill()
        if not done:
            raise asyncio.TimeoutError()
        if conn.end is not None:  # the host side ran, and refused the session on purpose
            raise HostRefused("the host side of %s ended before the session started: %s"
                              % (self.host, conn.end.get("reason")))
        said = conn.proc.stderr().strip()
        if said.startswith(PREFIX):
            said = said[len(PREFIX):]  # the host side's own error: ours says "remote-lsp: " once
        raise TransportError("the host side of %s ended before the session started: %s"
                             % (self.host, said or "no reason given"))

    async def _start(self, first: bool, pipeline: Callable[[], Any],
                     unpipeline: Callable[[Any], None]) -> Connection:
        """The host side running, past its ready line (installing it first if need be)."""
        if self.direct is not None and self.agent_socket is not None:
            conn = await self._start_direct(pipeline if first else lambda: None, unpipeline)
            if conn is not None:
                return conn
        for attempt in range(2):
            proc = await self.transport.exec(command_line(["--ready"] + self.remote_args))
            conn = self._open(proc, b"")
            sent = pipeline() if first else None
            timeout = None if first else self.heartbeat + 10
            await asyncio.wait([conn.ready, conn.eof], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if conn.ready.done():
                return conn
            self._unpipeline(sent, unpipeline)
            if not conn.eof.done():
                proc.kill()
                raise asyncio.TimeoutError()
            rc = await proc.wait()
            if rc == MISSING and attempt == 0:
                self.on_phase("installing")
                await upload(self.transport)  # first use of this version on this host
                continue
            check_failure(self.transport, rc, proc.stderr())
            raise TransportError("remote-lsp on %s exited with code %d: %s" % (
                self.host, rc, proc.stderr().strip()))
        raise TransportError("remote-lsp could not start on %s" % self.host)

    async def _start_direct(self, pipeline: Callable[[], Any],
                            unpipeline: Callable[[Any], None]) -> Optional[Connection]:
        """The agent's own socket, through the transport; None if the agent
        cannot take the session so (not there, another build, no server running
        yet, forwarding refused): then `connect` runs on the host, and its
        welcome names the socket again."""
        assert self.direct is not None and self.agent_socket is not None
        proc = await self.transport.stream(self.agent_socket)
        if proc is None:
            self.agent_socket = None
            return None
        conn = self._open(proc, control.encode(self.direct), direct=True)
        sent = pipeline()
        await asyncio.wait([conn.ready, conn.eof], timeout=self.heartbeat,
                           return_when=asyncio.FIRST_COMPLETED)
        if conn.ready.done():
            return conn
        self._unpipeline(sent, unpipeline)
        proc.kill()
        self.agent_socket = None
        return None

    def _unpipeline(self, sent: Any, unpipeline: Callable[[Any], None]) -> None:
        """That connection did not start: what was sent on it goes again, on the next, from one."""
        if sent:
            self.link = link.Link(self.heartbeat)
            unpipeline(sent)

    def _open(self, proc: RemoteProcess, request: bytes, direct: bool = False) -> Connection:
        """A connection started: the hello goes out at once, after the request if any."""
        conn = self.conn = Connection(proc, direct)
        proc.start(lambda data, c=conn: self._data(c, data), lambda c=conn: self._eof(c))
        proc.write(request + link.control("hello", token=self.token, received=self.link.received,
                                          heartbeat=self.heartbeat))
        return conn

    def welcomed(self, welcome: Dict[str, Any]) -> None:
        """The connection is the session's now: heartbeats start, and its death is watched for."""
        self.token = welcome.get("token") or self.token
        self.linked = True
        silent = End("no word from %s for %g s" % (self.host, self.heartbeat))
        self.link.beat(self.write, lambda: self.lost(silent))
        conn = self.conn
        if conn is not None and conn.eof.done():  # it ended before it was the session's
            self.lost(End("the connection closed") if conn.end is None else End.of_host(conn.end, self.host))

    def new_session(self) -> None:
        """The session the host had is gone: count afresh."""
        self.link.stop()
        self.link = link.Link(self.heartbeat)

    # --- writing ----------------------------------------------------------------------

    def send(self, frame: bytes) -> None:
        """A session frame: numbered, and kept until the host confirms it."""
        self.write(self.link.numbered(frame))

    def write(self, data: bytes) -> None:
        if self.conn is not None:
            self.conn.proc.write(data)

    def lost(self, end: End) -> None:
        """The connection is dead (silent, closed, ended by the host): it is killed, the owner told why."""
        if not self.linked:
            return
        self.linked = False
        self.link.stop()
        if self.conn is not None:
            self.conn.proc.kill()
        self.on_lost(end)

    async def close(self, wind_down: float) -> None:
        """The editor left: say so, and give the host side `wind_down` seconds to finish."""
        self.link.stop()
        conn = self.conn
        if conn is None or not self.linked:
            return
        self.write(link.control("bye"))
        conn.proc.write_eof()
        try:
            await asyncio.wait_for(asyncio.shield(conn.eof), wind_down)
        except asyncio.TimeoutError:
            pass
        conn.proc.kill()
        await conn.proc.wait()

    def kill(self) -> None:
        self.link.stop()
        if self.conn is not None:
            self.conn.proc.kill()

    # --- reading ----------------------------------------------------------------------

    def _data(self, conn: Connection, data: bytes) -> None:
        if conn is not self.conn:
            return  # a connection given up on
        if not conn.ready.done():
            data = conn.past_first_line(data)
            if not data:
                return
        self.link.heard()
        try:
            conn.read(data, lambda body: self._whole(conn, body), self.frames, self.link.took)
        except framing.FramingError as exc:
            # Resending would break it again: the session ends, with the reason, and the editor
            # starts another.
            why = "remote-lsp: a message from %s cannot be taken (%s): the session ends" % (self.host, exc)
            conn.end = {"reason": why, "failed": True}
            self.lost(End(why, on_purpose=True, failed=True, here=True))
            return
        if self.linked:
            self.link.ack_if_due(self.write)

    def _whole(self, conn: Connection, body: bytes) -> None:
        ctl = link.parse_control(body)
        if ctl is None:
            if conn.welcome.done():
                self.link.took()
                self.frames.whole(body)
            return
        kind = ctl.get("$link")
        if kind == "welcome":
            agent = ctl.get("agent")
            if self.direct is not None and isinstance(agent, str) and agent:
                self.agent_socket = agent
                self.transport.remember_agent(agent)
            # Said before any answer that came with it (the editor's initialize went out with the hello).
            self.on_phase("starting")
            set_result(conn.welcome, ctl)
        elif kind == "ack":
            self.link.confirmed(ctl.get("received"))
        elif kind == "end":
            conn.end = ctl  # the session ended on purpose: no reconnecting

    def _eof(self, conn: Connection) -> None:
        set_result(conn.eof)
        if conn is self.conn:
            self.lost(End("the connection closed") if conn.end is None else End.of_host(conn.end, self.host))



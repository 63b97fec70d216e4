"""`remote-lsp --host HOST connect`: the editor's stdio bridged to the host,
in a session that survives its connection.

The host side speaks the editor's names for files (scp://HOST//path, where
the server has file:///path): the agent's session translates, where each
frame is whole anyway, so the bridge passes frames through, and a large
answer goes on to the editor as it arrives. The bridge and the host side speak a link
(wire/link.py): numbered frames, acknowledgements that are also the
heartbeat, a token that names the session. When the connection drops or
stalls, or the laptop sleeps, the bridge reconnects (at once, then backing off
to 30 s) and resumes: each side sends again what the other missed. Meanwhile
the editor never waits on us: its notifications queue in order, its requests
queue too, and once the outage outlasts the request bound each gets a clear
error (its edits still go out). If the session cannot be resumed (its grace
period ended, the agent or the server restarted) the bridge starts a new one
by itself: the editor's own initialize, then every open document with its
current text, and one message to say so.
"""

import asyncio
import collections
import json
import os
import signal
import sys
import time
from typing import Any, Deque, Dict, List, Optional, Tuple

from remote_lsp.editor.passage import EditorOut
from remote_lsp.editor.progress import StartProgress, server_label
from remote_lsp.editor.remote import MISSING, READY, check_failure, command_line, upload
from remote_lsp.editor.tracking import SYNC_METHODS, Tracking, incompatible
from remote_lsp.editor.transport import RemoteProcess, Transport
from remote_lsp.wire import control, framing, jsonrpc, link
from remote_lsp.wire.channel import Channel
from remote_lsp.wire.errors import FAILED, PREFIX, RemoteLspError, TransportError
from remote_lsp.wire.uri import UriMapper

WIND_DOWN = 5.0  # seconds the host gets to finish after the editor leaves
DRAIN = 30.0  # seconds a slow editor gets to take the last frames
BACKOFF = (0, 1, 2, 4, 8, 16, 30)  # seconds before each reconnection attempt; then 30 each
REINIT_TIMEOUT = 120.0  # a new session's server may have to start and index
CONNECTING, DOWN, REINIT, UP = "connecting", "down", "re-initializing", "up"
LINKED = (REINIT, UP)  # a connection whose welcome came: heartbeats run, its death is noticed
# What becomes of a large frame from the host, decided on its first bytes:
PASS, HOLD, DROP, IGNORE = "pass", "hold", "drop", "ignore"  # on to the editor as it comes; whole first; not
# to the editor (an answer nobody waits for); not even counted (before the welcome)


class _Connection:
    """One run of the host side's `connect` over the transport, or one
    connection straight to the agent's socket (`direct`)."""

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


class Bridge:
    def __init__(self, transport: Transport, mapper: UriMapper, remote_args: List[str],
                 root: Optional[str] = None, heartbeat: float = link.DEFAULT_HEARTBEAT,
                 request_timeout: float = 10.0, direct: Optional[control.ConnectRequest] = None) -> None:
        self.transport = transport
        self.mapper = mapper
        self.remote_args = remote_args  # `connect --link ...` as the host side runs it
        # The same asked of the agent's socket itself, where the transport reaches it.
        self.direct = direct
        self.agent_socket = transport.known_agent() if direct is not None else None
        self.root = root  # the project root on the host, if known
        self.heartbeat = heartbeat
        self.request_timeout = request_timeout
        self.host = transport.host.text
        self.progress = StartProgress(self._tell_editor, self.host, server_label(remote_args))
        self.state = CONNECTING
        self.editor_done = False
        self.link = link.Link()
        self.token: Optional[str] = None
        self.tracking = Tracking()
        self._outbox: Deque[Tuple[bytes, Any]] = collections.deque()  # (frame, request id) while not up
        self._conn: Optional[_Connection] = None
        self._editor: Optional[Channel] = None
        self.out = EditorOut(self._editor_write)
        self._from_editor = framing.FrameParser(strict=True)
        self._editor_eof: Optional[asyncio.Future] = None
        self._dead: Optional[asyncio.Future] = None  # set when the link dies
        self._down_since = 0.0
        self._expired = False  # the outage outlasted the request bound
        self._beat: Optional[asyncio.TimerHandle] = None  # the next heartbeat
        self._bound: Optional[asyncio.TimerHandle] = None  # the request bound of an outage
        self._reinit: Optional[Tuple[str, asyncio.Future]] = None
        self._exiting = False  # the editor sent `exit`

    # --- the life of the bridge ---------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self._editor_eof = loop.create_future()
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            loop.add_signal_handler(sig, self._editor_gone)
        # Read the editor at once; its frames wait in the outbox until the link is up.
        self._editor = Channel(os.dup(0), os.dup(1), self._editor_data, lambda exc: self._editor_gone())
        welcome = await self._connect(first=True)
        self._linked(welcome, UP)
        while True:
            assert self._dead is not None
            await asyncio.wait([self._editor_eof, self._dead], return_when=asyncio.FIRST_COMPLETED)
            if self._editor_eof.done():
                return await self._wind_down()
            if self._conn is not None and self._conn.end is not None:
                return await self._ended(self._conn.end)
            code = await self._reconnect()
            if code is not None:
                return code

    async def _connect(self, first: bool = False) -> Dict[str, Any]:
        """Run the host side and say hello; its welcome. TransportError if it
        cannot start; asyncio.TimeoutError if it stalls."""
        conn = await self._start(first)
        done, _ = await asyncio.wait([conn.welcome, conn.eof], timeout=self.heartbeat,
                                     return_when=asyncio.FIRST_COMPLETED)
        if conn.welcome.done():
            return conn.welcome.result()
        conn.proc.kill()
        if not done:
            raise asyncio.TimeoutError()
        said = conn.proc.stderr().strip()
        if said.startswith(PREFIX):
            said = said[len(PREFIX):]  # the host side's own error: ours says "remote-lsp: " once
        raise TransportError("the host side of %s ended before the session started: %s"
                             % (self.host, said or "no reason given"))

    async def _start(self, first: bool) -> _Connection:
        """The host side running, past its ready line (installing it first if
        need be). The hello goes out at once, not a round trip later; on a
        first connection so does what the editor sent meanwhile (a new session
        is welcomed before the agent reads it), so a slow link costs one round
        trip fewer, twice."""
        if self.direct is not None and self.agent_socket is not None:
            conn = await self._start_direct(first)
            if conn is not None:
                return conn
        for attempt in range(2):
            proc = await self.transport.exec(command_line(["--ready"] + self.remote_args))
            conn = self._open(proc, b"")
            sent = self._pipeline() if first and self.token is None else []
            timeout = None if first else self.heartbeat + 10
            await asyncio.wait([conn.ready, conn.eof], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if conn.ready.done():
                return conn
            self._unpipeline(sent)
            if not conn.eof.done():
                proc.kill()
                raise asyncio.TimeoutError()
            rc = await proc.wait()
            if rc == MISSING and attempt == 0:
                self.progress.installing()
                await upload(self.transport)  # first use of this version on this host
                continue
            check_failure(self.transport, rc, proc.stderr())
            raise TransportError("remote-lsp on %s exited with code %d: %s" % (
                self.host, rc, proc.stderr().strip()))
        raise TransportError("remote-lsp could not start on %s" % self.host)

    async def _start_direct(self, first: bool) -> Optional[_Connection]:
        """The agent's own socket, through the transport (no process started
        on the host); None if the agent cannot take the session so (not
        there, another build, no server running yet, forwarding refused):
        then `connect` runs on the host, and its welcome names the socket again."""
        assert self.direct is not None and self.agent_socket is not None
        proc = await self.transport.stream(self.agent_socket)
        if proc is None:
            self.agent_socket = None
            return None
        conn = self._open(proc, control.encode(self.direct), direct=True)
        sent = self._pipeline() if first and self.token is None else []
        await asyncio.wait([conn.ready, conn.eof], timeout=self.heartbeat,
                           return_when=asyncio.FIRST_COMPLETED)
        if conn.ready.done():
            return conn
        self._unpipeline(sent)
        proc.kill()
        self.agent_socket = None
        return None

    def _open(self, proc: RemoteProcess, request: bytes, direct: bool = False) -> _Connection:
        """A connection started: the hello goes out at once, after the request if any."""
        conn = self._conn = _Connection(proc, direct)
        proc.start(lambda data, c=conn: self._remote_data(c, data), lambda c=conn: self._remote_eof(c))
        proc.write(request + link.control("hello", token=self.token, received=self.link.received,
                                          heartbeat=self.heartbeat))
        return conn

    def _pipeline(self) -> List[Tuple[bytes, Any]]:
        """Send what the editor has queued before the welcome comes back."""
        sent = list(self._outbox)
        self._outbox.clear()
        for frame, rid in sent:
            self._write(self.link.numbered(frame))
            if rid is not None:
                self.tracking.sent(rid)
        return sent

    def _unpipeline(self, sent: List[Tuple[bytes, Any]]) -> None:
        """That host side did not start: what went out goes again with the next."""
        if sent:
            self.link = link.Link()
            self._outbox.extendleft(reversed(sent))
            for _, rid in sent:
                pending = self.tracking.pending.get(rid) if rid is not None else None
                if pending is not None:
                    pending.queued = True

    def _linked(self, welcome: Dict[str, Any], state: str) -> None:
        """A connection is welcomed: heartbeats start, and its death is watched for."""
        self.token = welcome.get("token") or self.token
        self.state = state
        self._dead = asyncio.get_running_loop().create_future()
        self._cancel_timers()
        self.link.heard()
        self._tick()
        self._flush()

    def _tick(self) -> None:
        """The heartbeat: an ack every third of the interval; silence for a
        whole interval, a stalled link or a laptop just awake, means it is dead."""
        if self.state not in LINKED:
            return
        if self.link.silent_for() > self.heartbeat:
            self._link_died("no word from %s for %g s" % (self.host, self.heartbeat))
            return
        self._write(self.link.ack())
        self._beat = asyncio.get_running_loop().call_later(self.heartbeat / 3, self._tick)

    def _cancel_timers(self) -> None:
        for timer in (self._beat, self._bound):
            if timer is not None:
                timer.cancel()
        self._beat = self._bound = None

    def _remote_eof(self, conn: _Connection) -> None:
        _set(conn.eof)
        if conn is not self._conn or self.state not in LINKED:
            return
        if conn.end is not None:
            self.state = DOWN
            _set(self._dead)  # the run loop ends the bridge
        else:
            self._link_died("the connection closed")

    def _link_died(self, why: str) -> None:
        if self.state not in LINKED:
            return
        self.state = DOWN
        self._down_since = time.monotonic()
        self._expired = False
        self._cancel_timers()
        self._bound = asyncio.get_running_loop().call_later(self.request_timeout, self._expire)
        if self._reinit is not None:
            _set(self._reinit[1], {"error": {"message": "the link went down again"}})
        if self._conn is not None:
            self._conn.proc.kill()
        sys.stderr.write("remote-lsp: the link to %s is down (%s); reconnecting\n" % (self.host, why))
        self._tell_editor(jsonrpc.notification("$/remote-lsp/link", {
            "state": "down", "host": self.host, "since": time.time(), "reason": why}))
        _set(self._dead)

    async def _reconnect(self) -> Optional[int]:
        """Until the session is back (None), or cannot be (an exit code)."""
        assert self._editor_eof is not None
        attempt = 0
        while True:
            delay = BACKOFF[min(attempt, len(BACKOFF) - 1)]
            attempt += 1
            if delay:
                await asyncio.wait([self._editor_eof], timeout=delay)
            if self._editor_eof.done():
                return 0
            try:
                welcome = await self._connect()
            except asyncio.TimeoutError:
                # Connections through a stalled shared connection stall too: start afresh.
                await asyncio.get_running_loop().run_in_executor(None, self.transport.reset)
                continue
            except TransportError as exc:
                if exc.fatal:
                    self._tell_editor(jsonrpc.show_message("remote-lsp: %s" % exc.message))
                    sys.stderr.write("remote-lsp: %s\n" % exc.message)
                    return await self._drain(FAILED)
                continue
            except Exception as exc:  # whatever an attempt meets, the session waits for the next
                sys.stderr.write("remote-lsp: reconnecting to %s: %r\n" % (self.host, exc))
                await asyncio.get_running_loop().run_in_executor(None, self.transport.reset)
                continue
            outage = time.monotonic() - self._down_since
            if welcome.get("resumed"):
                for frame in self.link.unconfirmed(welcome.get("received")):
                    self._write(frame)
                self._linked(welcome, UP)
                self._tell_editor(jsonrpc.notification("$/remote-lsp/link", {
                    "state": "up", "host": self.host, "after": round(outage, 1)}))
                sys.stderr.write("remote-lsp: the link to %s is back after %.1f s\n" % (self.host, outage))
                return None
            return await self._new_session(welcome, outage)

    async def _new_session(self, welcome: Dict[str, Any], outage: float) -> Optional[int]:
        """The old session is gone on the host: start a new one as the editor did.
        Meanwhile the editor's messages wait in the outbox; the documents go out
        whole, as they are when the new session is ready."""
        reason = welcome.get("reason") or "the session was not found there"
        self.link = link.Link()
        lost = "remote-lsp: the session on %s was started anew (%s); ask again" % (self.host, reason)
        self._break_off(lost)
        for rid in list(self.tracking.pending):
            if not self.tracking.pending[rid].queued:
                self.tracking.give_up(rid)
                self._tell_editor(jsonrpc.error(rid, jsonrpc.INTERNAL_ERROR, lost))
        self._linked(welcome, REINIT)
        if self.tracking.init_params is not None:
            result = await self._initialize_again()
            if self.state != REINIT:
                return None  # the link went down again: the run loop reconnects
            if result is None:
                return await self._drain(FAILED)
            problem = incompatible(self.tracking.init_result, result)
            if problem is not None:
                text = "remote-lsp: %s: a new session began, and %s: restart the language client" % (
                    self.host, problem)
                self._tell_editor(jsonrpc.show_message(text))
                sys.stderr.write(text + "\n")
                return await self._drain(FAILED)
            self._write_session(jsonrpc.encode(jsonrpc.notification("initialized", {})))
            for msg in self.tracking.reopen():
                self._write_session(jsonrpc.encode(msg))
        # What the editor sent meanwhile: its edits are in the documents just opened,
        # its answers were for the old server; the rest goes now.
        self._outbox = collections.deque((f, rid) for f, rid in self._outbox
                                         if _method_of(f) not in SYNC_METHODS and _method_of(f) is not None)
        self.state = UP
        self._flush()
        text = ("remote-lsp: %s: a new session after %.0f s (%s); %d document(s) opened again"
                % (self.host, outage, reason, len(self.tracking.documents)))
        self._tell_editor(jsonrpc.show_message(text, 3))
        self._tell_editor(jsonrpc.notification("$/remote-lsp/link", {
            "state": "new-session", "host": self.host, "after": round(outage, 1), "reason": reason}))
        sys.stderr.write(text + "\n")
        return None

    async def _initialize_again(self) -> Optional[Dict[str, Any]]:
        rid = "remote-lsp:initialize:%d" % time.monotonic_ns()
        future = asyncio.get_running_loop().create_future()
        self._reinit = (rid, future)
        self._write_session(jsonrpc.encode(jsonrpc.request(rid, "initialize", self.tracking.init_params)))
        try:
            answer = await asyncio.wait_for(future, REINIT_TIMEOUT)
        except asyncio.TimeoutError:
            answer = {"error": {"message": "no answer within %g s" % REINIT_TIMEOUT}}
        finally:
            self._reinit = None
        if isinstance(answer.get("result"), dict):
            return answer["result"]
        text = "remote-lsp: %s: a new session could not be started: %s" % (
            self.host, (answer.get("error") or {}).get("message"))
        self._tell_editor(jsonrpc.show_message(text))
        sys.stderr.write(text + "\n")
        return None

    def _expire(self) -> None:
        """The outage outlasted the request bound: no request waits on it any more."""
        self._expired = True
        why = "remote-lsp: %s unreachable, reconnecting" % self.host
        self._break_off(why)
        for rid in list(self.tracking.pending):
            if self.tracking.pending[rid].method == "initialize":
                continue
            self.tracking.give_up(rid)
            self._tell_editor(jsonrpc.error(rid, jsonrpc.INTERNAL_ERROR, why))
        self._outbox = collections.deque((f, rid) for f, rid in self._outbox if rid is None)

    # --- editor -> host ---------------------------------------------------------------

    def _editor_data(self, data: bytes) -> None:
        try:
            bodies = self._from_editor.feed(data)
        except framing.FramingError as exc:
            self._tell_editor(jsonrpc.show_message("remote-lsp: %s" % exc))
            self._editor_gone()
            return
        for body in bodies:
            try:
                msg = jsonrpc.decode(body)
            except ValueError:
                self._send(body, None)  # the host side refuses it, in words the editor gets
                continue
            self._from_editor_msg(msg, body)

    def _from_editor_msg(self, msg: Dict[str, Any], body: bytes) -> None:
        method = msg.get("method")
        rid = msg.get("id") if method is not None and jsonrpc.valid_id(msg.get("id")) else None
        if method == "initialize" and rid is not None:
            self.progress.begin(msg.get("params"))
        if method == "initialize" and rid is not None and self._fill_root(msg):
            body = jsonrpc.encode(msg)
        if method == "exit":
            self._exiting = True
        if method == "$/cancelRequest" and self._cancel_queued(msg.get("params")):
            return
        if rid is not None and self._expired and self.state == DOWN and method != "initialize":
            self._tell_editor(jsonrpc.error(rid, jsonrpc.INTERNAL_ERROR,
                                            "remote-lsp: %s unreachable, reconnecting" % self.host))
            return
        self.tracking.from_editor(msg, queued=self.state != UP)
        self._send(body, rid)

    def _cancel_queued(self, params: Any) -> bool:
        """A cancel for a request still in the outbox takes it out, answered."""
        rid = params.get("id") if isinstance(params, dict) else None
        pending = self.tracking.pending.get(rid) if jsonrpc.valid_id(rid) else None
        if pending is None or not pending.queued:
            return False
        self._outbox = collections.deque((f, r) for f, r in self._outbox if r != rid)
        self.tracking.give_up(rid)
        self._tell_editor(jsonrpc.error(rid, jsonrpc.REQUEST_CANCELLED, "cancelled before it was sent"))
        return True

    def _send(self, body: bytes, rid: Any) -> None:
        frame = framing.encode(body)
        if self.state == UP:
            self._write(self.link.numbered(frame))
        else:
            self._outbox.append((frame, rid))

    def _write_session(self, body: bytes) -> None:
        self._write(self.link.numbered(framing.encode(body)))

    def _flush(self) -> None:
        while self._outbox and self.state == UP:
            frame, rid = self._outbox.popleft()
            self._write(self.link.numbered(frame))
            if rid is not None:
                self.tracking.sent(rid)

    def _write(self, frame: bytes) -> None:
        if self._conn is not None:
            self._conn.proc.write(frame)

    def _fill_root(self, msg: Any) -> bool:
        """An editor that cannot name a remote root (Neovim takes root_dir as
        a local path) sends none: give the server the one we were given."""
        params = msg.get("params")
        if not self.root or not isinstance(params, dict) or params.get("rootUri"):
            return False
        params["rootUri"] = self.mapper.editor_prefix + self.root
        params.setdefault("rootPath", self.root)
        return True

    def _editor_gone(self) -> None:
        self.editor_done = True
        _set(self._editor_eof)

    async def _wind_down(self) -> int:
        self._cancel_timers()
        conn = self._conn
        if conn is None or self.state not in LINKED:
            return 0
        self._write(link.control("bye"))
        conn.proc.write_eof()
        try:
            await asyncio.wait_for(asyncio.shield(conn.eof), WIND_DOWN)
        except asyncio.TimeoutError:
            pass
        conn.proc.kill()
        await conn.proc.wait()
        return 0

    # --- host -> editor ---------------------------------------------------------------

    def _remote_data(self, conn: _Connection, data: bytes) -> None:
        if conn is not self._conn:
            return  # a connection given up on
        if not conn.ready.done():
            conn.early += data
            past = self._past_first_line(conn)
            if past is None:
                return
            data = past
        self.link.heard()
        for kind, piece, size in conn.parser.pieces(data):
            if kind == framing.HEAD:
                self._large_head(conn, piece, size)
            elif kind == framing.MORE:
                self._large_more(conn, piece, size)
            else:
                self._whole(conn, piece)
        if self.link.ack_due() and self.state in LINKED:
            self._write(self.link.ack())

    def _past_first_line(self, conn: _Connection) -> Optional[bytes]:
        """What follows the first line of a connection: the bootstrap's ready
        line, or on a direct one the agent's reply (a refusal ends it)."""
        if not conn.direct:
            at = conn.early.find(READY)
            if at < 0:
                return None
            rest = conn.early[at + len(READY):]
        else:
            nl = conn.early.find(b"\n")
            if nl < 0:
                return None
            try:
                control.decode_reply(json.loads(conn.early[:nl]), control.Connected)
            except (ValueError, RemoteLspError):
                conn.proc.kill()  # the caller goes the long way
                return None
            rest = conn.early[nl + 1:]
        conn.early = b""
        _set(conn.ready)
        return rest

    def _whole(self, conn: _Connection, body: bytes) -> None:
        ctl = link.parse_control(body)
        if ctl is not None:
            self._control(conn, ctl)
        elif conn.welcome.done():
            self.link.took()
            self._from_remote(body)

    def _control(self, conn: _Connection, ctl: Dict[str, Any]) -> None:
        kind = ctl.get("$link")
        if kind == "welcome":
            agent = ctl.get("agent")
            if self.direct is not None and isinstance(agent, str) and agent:
                self.agent_socket = agent
                self.transport.remember_agent(agent)
            # Said before any answer that came with it (the editor's initialize went out with the hello).
            self.progress.starting()
            _set(conn.welcome, ctl)
        elif kind == "ack":
            self.link.confirmed(ctl.get("received"))
        elif kind == "end":
            conn.end = ctl  # the session ended on purpose: no reconnecting

    def _from_remote(self, body: bytes) -> None:
        rid = _response_id(body)
        if rid is not None:
            if self._is_ours(rid):
                _set(self._reinit[1], jsonrpc.decode(body))  # type: ignore[index]
                return
            if self._is_first_answer(rid):
                self.tracking.init_result = jsonrpc.decode(body).get("result")
                self.progress.end()
            if not self.tracking.answered(rid):
                return
        self._tell_editor_body(body)

    def _is_ours(self, rid: Any) -> bool:
        """The answer to the bridge's own initialize of a new session?"""
        return self._reinit is not None and rid == self._reinit[0]

    def _is_first_answer(self, rid: Any) -> bool:
        return rid == self.tracking.init_id and self.tracking.init_result is None

    def _large_head(self, conn: _Connection, head: bytes, length: int) -> None:
        """The first bytes of a large frame (a session frame: the link's own are
        small). A plain answer goes on to the editor at once, and the rest as it
        comes; anything else is taken whole first."""
        found = jsonrpc.response_id_prefix(head)
        rid = found[0] if found is not None else None
        if not conn.welcome.done():
            conn.large = IGNORE
        elif self.out.resending and self.out.again(head, length):
            conn.large = PASS
        elif rid is None or self._is_ours(rid) or self._is_first_answer(rid):
            conn.large, conn.held = HOLD, bytearray(head)
        elif self.tracking.answered(rid):
            conn.large = PASS
            self.out.begin(rid, head, length)
        else:
            conn.large = DROP
        if len(head) == length:
            self._large_done(conn)

    def _large_more(self, conn: _Connection, data: bytes, left: int) -> None:
        if conn.large == PASS:
            self.out.more(data)
        elif conn.large == HOLD:
            conn.held += data
        if not left:
            self._large_done(conn)

    def _large_done(self, conn: _Connection) -> None:
        large, held = conn.large, conn.held
        conn.large, conn.held = None, bytearray()
        if large != IGNORE:
            self.link.took()
        if large == HOLD:
            self._from_remote(bytes(held))

    async def _ended(self, end: Dict[str, Any]) -> int:
        """The host ended the session (the server failed or was stopped)."""
        why = str(end.get("reason") or "the session ended on %s" % self.host)
        self._break_off(why)
        for rid in list(self.tracking.pending):
            self.tracking.give_up(rid)
            self._tell_editor(jsonrpc.error(rid, jsonrpc.INTERNAL_ERROR, why))
        if end.get("failed"):
            sys.stderr.write(why + "\n")
        return await self._drain(FAILED if end.get("failed") else 0)

    async def _drain(self, code: int) -> int:
        """Let a slow editor take what was written before we exit."""
        self._break_off("remote-lsp: the session with %s ended" % self.host)
        self.progress.end()
        self._cancel_timers()
        if self._conn is not None:
            self._conn.proc.kill()
        if self._editor is not None:
            self._editor.close()
            await self._editor.wait_closed(DRAIN)
        return code

    def _tell_editor(self, msg: Any) -> None:
        self._tell_editor_body(jsonrpc.encode(msg))

    def _break_off(self, why: str) -> None:
        """The large answer part-way to the editor will not come in time: it is
        filled out and its request answered with `why`; if it comes after all,
        it is dropped."""
        rid = self.out.break_off(why)
        if rid is not None:
            self.tracking.broken_off(rid)

    def _tell_editor_body(self, body: bytes) -> None:
        self.out.frame(body)

    def _editor_write(self, data: bytes) -> None:
        if self._editor is not None:
            self._editor.write(data)


def _response_id(body: bytes) -> Any:
    """The id of a response, without decoding it when it leads the object."""
    found = jsonrpc.response_id_prefix(body)
    if found is not None:
        return found[0]
    if b'"id"' not in body:
        return None
    try:
        msg = jsonrpc.decode(body)
    except ValueError:
        return None
    return msg.get("id") if jsonrpc.is_response(msg) else None


def _method_of(frame: bytes) -> Optional[str]:
    try:
        return jsonrpc.decode(frame[frame.index(b"\r\n\r\n") + 4:]).get("method")
    except ValueError:
        return None


def _set(fut: Optional[asyncio.Future], value: Any = None) -> None:
    if fut is not None and not fut.done():
        fut.set_result(value)

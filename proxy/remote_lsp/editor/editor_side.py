"""The bridge's side toward the editor: what it reads from the editor, what it
writes back, and what it keeps meanwhile.

The editor never waits on the link: while it is not up, the editor's messages
queue in order in an outbox (its requests too, each tracked as queued), and go
out when it is. Once an outage outlasts the request bound, every request
waiting is answered with an error, and new ones at once, until the link is
back. What the host sends goes on to the editor as it comes (a large answer
too, editor/passage.py), except answers nobody waits for any more and the
answer to the bridge's own request (`ask`, a new session's initialize).

This side reads nothing of the session but what every LSP editor sends: the
requests it tracks, the documents it keeps, and an initialize if one comes.
"""

import asyncio
import collections
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

from remote_lsp.editor.connection import DROP, HOLD, PASS, HostFrames
from remote_lsp.editor.passage import EditorOut
from remote_lsp.editor.progress import StartProgress
from remote_lsp.editor.tracking import SYNC_METHODS, Tracking
from remote_lsp.wire import framing, jsonrpc
from remote_lsp.wire.fdio import FdChannel
from remote_lsp.wire.uri import UriMapper

Queued = Tuple[bytes, Any, Optional[str]]  # a frame for the host, its request's id, its method (as decoded)


class EditorSide(HostFrames):
    def __init__(self, host: str, mapper: UriMapper, root: Optional[str], server: str,
                 send: Callable[[bytes], None], on_gone: Callable[[], None],
                 on_wanted: Callable[[], None] = lambda: None) -> None:
        """`send(frame)`: a session frame onto the link; `on_gone()`: the editor left;
        `on_wanted()`: the editor asks for something (a request, a save) while the link is down."""
        self.host = host
        self.mapper = mapper
        self.root = root  # the project root on the host, if known
        self.tracking = Tracking()
        self.progress = StartProgress(self.tell, host, server)
        self.up = False  # frames go onto the link (else into the outbox)
        self.refusing: Optional[str] = None  # an outage outlasted the request bound: requests get this
        self.broken: Optional[str] = None  # why the editor's stream cannot be read any more
        self.out = EditorOut(self._write)
        self._send = send
        self._on_gone = on_gone
        self._on_wanted = on_wanted
        self._outbox: Deque[Queued] = collections.deque()
        self._parser = framing.FrameParser(strict=True)
        self._channel: Optional[FdChannel] = None
        self._own: Optional[Tuple[str, asyncio.Future[Dict[str, Any]]]] = None  # our request, its answer

    def open(self, fd_in: int, fd_out: int) -> None:
        """Read the editor at once; its frames wait in the outbox until the link is up."""
        self._channel = FdChannel(fd_in, fd_out, self._data, lambda exc: self._on_gone())

    async def close(self, drain: float) -> None:
        """Let a slow editor take what was written (`drain` seconds at most)."""
        if self._channel is not None:
            self._channel.close()
            await self._channel.wait_closed(drain)

    # --- editor -> host ---------------------------------------------------------------

    def _data(self, data: bytes) -> None:
        if self.broken is not None:
            return
        try:
            bodies = self._parser.feed(data)
        except framing.FramingError as exc:
            self._break("remote-lsp: the editor's message cannot be taken (%s): the session with %s ends"
                        % (exc, self.host), exc.bodies)
            return
        for body in bodies:
            try:
                msg = jsonrpc.decode(body)
            except ValueError:
                self._forward(body, None, None)  # the host side refuses it, in words the editor gets
                continue
            self._message(msg, body)

    def _break(self, why: str, bodies: List[bytes]) -> None:
        """The editor broke the framing: nothing more is read from it; every
        request waiting, and those that came with the break (never sent on),
        is answered with `why`, told once; the bridge then ends."""
        self.broken = why
        for body in bodies:
            try:
                rid = jsonrpc.id_or_none(jsonrpc.decode(body).get("id"))
            except (ValueError, AttributeError):
                continue
            if rid is not None:
                self.tell(jsonrpc.error(rid, jsonrpc.INTERNAL_ERROR, why))
        self.give_up(why)
        self.tell(jsonrpc.show_message(why))
        self._on_gone()

    def _message(self, msg: Dict[str, Any], body: bytes) -> None:
        method = msg.get("method")
        rid = jsonrpc.id_or_none(msg.get("id")) if method is not None else None
        if method == "initialize" and rid is not None:
            self.progress.begin(msg.get("params"))
            if self._fill_root(msg):
                body = jsonrpc.encode(msg)
        if method == "$/cancelRequest" and self._cancel_queued(msg.get("params")):
            return
        if not self.up and (rid is not None or method == "textDocument/didSave"):
            self._on_wanted()
        if rid is not None and self.refusing is not None and method != "initialize":
            self.tell(jsonrpc.error(rid, jsonrpc.INTERNAL_ERROR, self.refusing))
            return
        self.tracking.from_editor(msg, queued=not self.up)
        self._forward(body, rid, method if isinstance(method, str) else None)

    def _fill_root(self, msg: Dict[str, Any]) -> bool:
        """An editor that cannot name a remote root (Neovim takes root_dir as
        a local path) sends none: give the server the one we were given."""
        params = msg.get("params")
        if not self.root or not isinstance(params, dict) or params.get("rootUri"):
            return False
        params["rootUri"] = self.mapper.editor_prefix + self.root
        params.setdefault("rootPath", self.root)
        return True

    def _cancel_queued(self, params: Any) -> bool:
        """A cancel for a request still in the outbox takes it out, answered."""
        rid = jsonrpc.id_or_none(params.get("id") if isinstance(params, dict) else None)
        pending = self.tracking.pending.get(rid) if rid is not None else None
        if pending is None or not pending.queued:
            return False
        self._outbox = collections.deque(q for q in self._outbox if q[1] != rid)
        self.tracking.give_up(rid)
        self.tell(jsonrpc.error(rid, jsonrpc.REQUEST_CANCELLED, "cancelled before it was sent"))
        return True

    def _forward(self, body: bytes, rid: Any, method: Optional[str]) -> None:
        frame = framing.encode(body)
        if self.up:
            self._send(frame)
        else:
            self._outbox.append((frame, rid, method))

    def go_up(self) -> None:
        """The link is up: what waited goes now, in order."""
        self.up = True
        self.refusing = None
        while self._outbox and self.up:
            frame, rid, _ = self._outbox.popleft()
            self._send(frame)
            if rid is not None:
                self.tracking.sent(rid)

    def pipeline(self) -> List[Queued]:
        """Send what the editor has queued before a first welcome comes back."""
        sent = list(self._outbox)
        self._outbox.clear()
        for frame, rid, _ in sent:
            self._send(frame)
            if rid is not None:
                self.tracking.sent(rid)
        return sent

    def unpipeline(self, sent: Optional[List[Queued]]) -> None:
        """That connection did not start: what went out queues again, first."""
        for queued in reversed(sent or []):
            self._outbox.appendleft(queued)
            rid = queued[1]
            pending = self.tracking.pending.get(rid) if rid is not None else None
            if pending is not None:
                pending.queued = True

    def for_a_new_session(self) -> None:
        """What the editor sent meanwhile: its edits are in the documents opened
        again, its answers were for the old server; the rest goes."""
        self._outbox = collections.deque(q for q in self._outbox
                                         if q[2] is not None and q[2] not in SYNC_METHODS)

    async def ask(self, method: str, params: Any, rid: str, timeout: float) -> Dict[str, Any]:
        """The bridge's own request onto the link (the link is not up for the
        editor): its answer, or {"error": ...}; never given to the editor."""
        future = asyncio.get_running_loop().create_future()
        self._own = (rid, future)
        self._send(framing.encode(jsonrpc.encode(jsonrpc.request(rid, method, params))))
        try:
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            return {"error": {"message": "no answer within %g s" % timeout}}
        finally:
            self._own = None

    def give_up_own(self, why: str) -> None:
        """The link went down: our own request will not be answered."""
        if self._own is not None and not self._own[1].done():
            self._own[1].set_result({"error": {"message": why}})

    # --- host -> editor ---------------------------------------------------------------

    def whole(self, body: bytes) -> None:
        rid, msg = _response_id(body)
        if rid is not None:
            if self._is_own(rid):
                future = self._own[1]  # type: ignore[index]
                if not future.done():
                    future.set_result(msg if msg is not None else jsonrpc.decode(body))
                return
            if self._is_first_answer(rid):
                self.tracking.init_result = (msg if msg is not None else jsonrpc.decode(body)).get("result")
                self.progress.end()
            if not self.tracking.answered(rid):
                return
        self.out.frame(body)

    def large_head(self, head: bytes, length: int) -> str:
        """A plain answer goes on to the editor at once, and the rest as it comes;
        anything else is taken whole first."""
        found = jsonrpc.response_id_prefix(head)
        rid = found[0] if found is not None else None
        if self.out.resending and self.out.again(head, length):
            return PASS
        if rid is None or self._is_own(rid) or self._is_first_answer(rid):
            return HOLD
        if self.tracking.answered(rid):
            self.out.begin(rid, head, length)
            return PASS
        return DROP

    def large_more(self, data: bytes) -> None:
        self.out.more(data)

    def _is_own(self, rid: Any) -> bool:
        return self._own is not None and rid == self._own[0]

    def _is_first_answer(self, rid: Any) -> bool:
        return rid == self.tracking.init_id and self.tracking.init_result is None

    def tell(self, msg: Any) -> None:
        """A message of the bridge's own to the editor."""
        self.out.frame(jsonrpc.encode(msg))

    def _write(self, data: bytes) -> None:
        if self._channel is not None:
            self._channel.write(data)

    # --- when answers will not come -----------------------------------------------------

    def break_off(self, why: str) -> None:
        """The large answer part-way to the editor will not come in time: it is
        filled out and its request answered with `why`; if it comes after all,
        it is dropped."""
        rid = self.out.break_off(why)
        if rid is not None:
            self.tracking.broken_off(rid)

    def give_up(self, why: str, sent_only: bool = False, but_initialize: bool = False) -> None:
        """Answer the editor's waiting requests with `why` (only those on the
        link, not in the outbox; all but an initialize), a large one part-way too."""
        self.break_off(why)
        for rid in list(self.tracking.pending):
            pending = self.tracking.pending[rid]
            if (sent_only and pending.queued) or (but_initialize and pending.method == "initialize"):
                continue
            self.tracking.give_up(rid)
            self.tell(jsonrpc.error(rid, jsonrpc.INTERNAL_ERROR, why))

    def expire(self, why: str) -> None:
        """The outage outlasted the request bound: no request waits on it any
        more, and new ones are answered at once, until the link is back."""
        self.give_up(why, but_initialize=True)
        self._outbox = collections.deque(q for q in self._outbox if q[1] is None)
        self.refusing = why


def _response_id(body: bytes) -> Tuple[Any, Optional[Dict[str, Any]]]:
    """The id of a response (None for anything else), and the message if it
    had to be decoded to know (None if not): read from its first members when
    they say, so most frames are never decoded here, and none twice."""
    found = jsonrpc.response_id_prefix(body)
    if found is not None:
        return found[0], None
    if b'"id"' not in body or jsonrpc.is_request_prefix(body):
        return None, None
    try:
        msg = jsonrpc.decode(body)
    except ValueError:
        return None, None
    return (msg.get("id") if jsonrpc.is_response(msg) else None), msg

"""`remote-lsp --host HOST connect`: the editor's stdio bridged to the host,
in a session that survives its connection.

The host side speaks the editor's names for files (scp://HOST//path, where
the server has file:///path): the agent's session translates, where each
frame is whole anyway, so the bridge passes frames through, and a large
answer goes on to the editor as it arrives. Three parts, each in its module:

    endpoint.py     the link's end: connections to the host side, the hello and
                    welcome, frames in and out, heartbeats (wire/link.py)
    editor_side.py  the editor's end: its messages, the outbox while the link is
                    down, what goes back to it, the requests it waits on
    linkstate.py    the link's life, one state machine, and why each connection ended
    recovery.py     when the link dies: the request bound, reconnecting, resuming,
                    or a new session

The bridge reads nothing of what it carries beyond LSP's framing and JSON-RPC:
it carries any session the host side offers (`connect`, or another whose
command is `remote_args` and whose direct request is `direct`).
"""

import asyncio
import os
import signal
import sys
from typing import List, Optional

from remote_lsp.editor.editor_side import EditorSide
from remote_lsp.editor.endpoint import Endpoint
from remote_lsp.editor.linkstate import CONNECTING, DOWN, GIVEN_UP, UP, End, LinkLife
from remote_lsp.editor.progress import server_label
from remote_lsp.editor.recovery import Recovery
from remote_lsp.editor.transport import Transport
from remote_lsp.wire import control, jsonrpc
from remote_lsp.wire.errors import FAILED
from remote_lsp.wire.options import DEFAULTS
from remote_lsp.wire.uri import UriMapper

WIND_DOWN = 5.0  # seconds the host gets to finish after the editor leaves
DRAIN = 30.0  # seconds a slow editor gets to take the last frames


class Bridge:
    def __init__(self, transport: Transport, mapper: UriMapper, remote_args: List[str],
                 root: Optional[str] = None, heartbeat: float = DEFAULTS.heartbeat,
                 request_timeout: float = DEFAULTS.request_timeout,
                 direct: Optional[control.Request] = None, answer_when_down: bool = False) -> None:
        """`remote_args`: the host side's command (`connect --link ...`); `direct`:
        the same asked of the agent's socket itself, where the transport reaches it;
        `answer_when_down`: while the link is down, requests are answered at once
        (with why) rather than waiting up to the request bound (the file channel's)."""
        self.host = transport.host.text
        self.request_timeout = request_timeout
        self.answer_when_down = answer_when_down
        self.life = LinkLife()
        self.editor = EditorSide(self.host, mapper, root, server_label(remote_args),
                                 lambda frame: self.endpoint.send(frame), self._editor_gone, self.life.hurry)
        self.endpoint = Endpoint(transport, remote_args, heartbeat, direct, self.editor, self._lost,
                                 self._phase)
        self.recovery: Optional[Recovery] = None
        self._editor_eof: Optional[asyncio.Future[None]] = None

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self._editor_eof = loop.create_future()
        self.recovery = Recovery(self.endpoint, self.editor, self.life, self.request_timeout,
                                 self.answer_when_down)
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            loop.add_signal_handler(sig, self._editor_gone)
        self.editor.open(os.dup(0), os.dup(1))
        welcome = await self.endpoint.connect(self.editor.pipeline, self.editor.unpipeline)
        self.recovery.linked(welcome)
        if self.life.state == CONNECTING:  # (not if it ended as it was welcomed)
            self.recovery.up()
        while True:
            if self.life.state == DOWN:
                await self.recovery.reconnect(self._editor_eof)
            if self._editor_eof.done():
                return await self._wind_down()
            if self.life.state == GIVEN_UP:
                return await self._given_up()
            if self.life.state == UP:
                await asyncio.wait([self._editor_eof, self.life.changed()],
                                   return_when=asyncio.FIRST_COMPLETED)

    def _lost(self, end: End) -> None:
        """The endpoint's connection died: an outage, unless the host ended the session."""
        assert self.recovery is not None
        self.recovery.lost(end)

    def _phase(self, phase: str) -> None:
        if phase == "installing":
            self.editor.progress.installing()
        else:
            self.editor.progress.starting()

    def _editor_gone(self) -> None:
        if self._editor_eof is not None and not self._editor_eof.done():
            self._editor_eof.set_result(None)

    async def _wind_down(self) -> int:
        if self.recovery is not None:
            self.recovery.cancel()
        await self.endpoint.close(WIND_DOWN)
        if self.editor.broken is None:
            return 0
        sys.stderr.write(self.editor.broken + "\n")
        await self.editor.close(DRAIN)
        return FAILED

    async def _given_up(self) -> int:
        """The host ended the session (the server failed or was stopped), or it
        cannot be had again: the editor's waiting requests are answered why."""
        end = self.life.end or End("the session with %s ended" % self.host, failed=True)
        self.editor.give_up(end.reason)
        if end.here:  # ended by the bridge itself: no word of the host's tells the editor
            self.editor.tell(jsonrpc.show_message(end.reason))
        if end.failed:
            sys.stderr.write(end.reason + "\n")
        return await self._drain(FAILED if end.failed else 0)

    async def _drain(self, code: int) -> int:
        """Let a slow editor take what was written before we exit."""
        self.editor.break_off("remote-lsp: the session with %s ended" % self.host)
        self.editor.progress.end()
        if self.recovery is not None:
            self.recovery.cancel()
        self.endpoint.kill()
        await self.editor.close(DRAIN)
        return code

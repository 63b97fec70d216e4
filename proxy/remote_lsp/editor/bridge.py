"""`remote-lsp --host HOST connect`: the editor's stdio bridged to the host.

Frames are translated on the way through (scp://HOST//path in the editor,
file:///path at the server); frames without a URI pass untouched. When the
editor closes stdin, the remote side gets end-of-file and everything on the
host winds down; if the connection drops instead, the editor gets a clear
error for every pending request and a message, never a hang.
"""

import asyncio
import os
import signal
import sys
from typing import Any, List, Optional, Set

from remote_lsp.editor.remote import MISSING, READY, check_failure, command_line, upload
from remote_lsp.editor.transport import RemoteProcess, Transport
from remote_lsp.editor.uri import UriMapper
from remote_lsp.wire import framing, jsonrpc
from remote_lsp.wire.channel import Channel
from remote_lsp.wire.errors import AGENT_GONE, TRANSPORT, TransportError

WIND_DOWN = 5.0  # seconds the host gets to finish after the editor leaves
DRAIN = 30.0  # seconds a slow editor gets to take the last frames and the error


class Bridge:
    def __init__(self, transport: Transport, mapper: UriMapper, root: Optional[str] = None) -> None:
        self.transport = transport
        self.mapper = mapper
        self.root = root  # the project root on the host, if known
        self.pending: Set[Any] = set()  # editor request ids awaiting an answer
        self.editor_done = False
        self._editor: Optional[Channel] = None
        self._remote: Optional[RemoteProcess] = None
        self._from_editor = framing.FrameParser(strict=True)
        self._from_remote = framing.FrameParser(strict=False)
        self._remote_eof: Optional[asyncio.Future] = None
        self._editor_eof: Optional[asyncio.Future] = None
        self._ready: Optional[asyncio.Future] = None
        self._early = b""  # host output before the ready line
        self._held: List[bytes] = []  # editor frames sent before the host was ready

    async def run(self, remote_args: List[str]) -> int:
        loop = asyncio.get_running_loop()
        self._editor_eof = loop.create_future()
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            loop.add_signal_handler(sig, self._editor_gone)
        # Read the editor at once; its frames wait in `_held` until the host is ready.
        self._editor = Channel(os.dup(0), os.dup(1), self._editor_data, lambda exc: self._editor_gone())
        if not await self._start(remote_args):
            await upload(self.transport)  # first use of this version on this host
            if not await self._start(remote_args):
                raise TransportError("remote-lsp could not start on %s" % self.transport.host.text)
        assert self._remote is not None and self._remote_eof is not None
        await asyncio.wait([self._remote_eof, self._editor_eof], return_when=asyncio.FIRST_COMPLETED)
        if self._editor_eof.done():
            return await self._wind_down()
        rc = await self._remote.wait()
        return await self._connection_lost(rc)

    async def _start(self, remote_args: List[str]) -> bool:
        """Start the host side; False if this version is not installed there."""
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        self._remote_eof = loop.create_future()
        self._early = b""
        self._remote = await self.transport.exec(command_line(["--ready", *remote_args]))
        self._remote.start(self._remote_data, lambda: _set(self._remote_eof))
        await asyncio.wait([self._ready, self._remote_eof], return_when=asyncio.FIRST_COMPLETED)
        if self._ready.done():
            for frame in self._held:
                self._remote.write(frame)
            self._held = []
            return True
        rc = await self._remote.wait()
        if rc == MISSING:
            return False
        check_failure(self.transport, rc, self._remote.stderr())
        raise TransportError("remote-lsp on %s exited with code %d: %s" % (
            self.transport.host.text, rc, self._remote.stderr().strip()))

    # --- editor -> host ---------------------------------------------------------------

    def _editor_data(self, data: bytes) -> None:
        try:
            bodies = self._from_editor.feed(data)
        except framing.FramingError as exc:
            self._tell_editor(jsonrpc.show_message("remote-lsp: %s" % exc))
            self._editor_gone()
            return
        for body in bodies:
            if b'"id"' in body and b'"method"' in body:
                try:
                    msg = jsonrpc.decode(body)
                except ValueError:
                    msg = {}
                if jsonrpc.is_request(msg):
                    self.pending.add(_key(msg["id"]))
                    if msg.get("method") == "initialize" and self._fill_root(msg):
                        body = jsonrpc.encode(msg)
                if self.mapper.needs_editor_rewrite(body) and msg:
                    body = jsonrpc.encode(self.mapper.message_to_server(msg))
            elif self.mapper.needs_editor_rewrite(body):
                body = self._translate(body, self.mapper.message_to_server)
            if self._ready is not None and self._ready.done() and self._remote is not None:
                self._remote.write(framing.encode(body))
            else:
                self._held.append(framing.encode(body))

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
        assert self._remote is not None and self._remote_eof is not None
        self._remote.write_eof()
        try:
            await asyncio.wait_for(asyncio.shield(self._remote_eof), WIND_DOWN)
        except asyncio.TimeoutError:
            pass
        self._remote.kill()
        await self._remote.wait()
        return 0

    # --- host -> editor ---------------------------------------------------------------

    def _remote_data(self, data: bytes) -> None:
        if self._ready is not None and not self._ready.done():
            self._early += data
            at = self._early.find(READY)
            if at < 0:
                return
            data = self._early[at + len(READY):]
            self._early = b""
            _set(self._ready)
        for body in self._from_remote.feed(data):
            if self.pending and b'"id"' in body:
                found = jsonrpc.response_id_prefix(body)
                if found is not None:
                    self.pending.discard(found[0])
                else:
                    try:
                        msg = jsonrpc.decode(body)
                        if jsonrpc.is_response(msg):
                            self.pending.discard(_key(msg["id"]))
                    except ValueError:
                        pass
            if self.mapper.needs_server_rewrite(body):
                body = self._translate(body, self.mapper.message_to_editor)
            self._tell_editor_body(body)

    async def _connection_lost(self, rc: int) -> int:
        if self.editor_done:
            return 0
        err = self._remote.stderr().strip() if self._remote else ""
        if rc == AGENT_GONE:
            # The host's agent went away and the server runs on there: the
            # host side has told the editor; connecting again finds the server.
            host = self.transport.host.text
            why = err.splitlines()[-1] if err else "remote-lsp: the agent on %s went away" % host
        else:
            why = "remote-lsp: lost the connection to %s (exit code %d%s)" % (
                self.transport.host.text, rc, (": " + err.splitlines()[-1]) if err else "")
        for rid in sorted(self.pending, key=str):
            self._tell_editor(jsonrpc.error(rid, jsonrpc.INTERNAL_ERROR, why))
        if rc != AGENT_GONE:
            self._tell_editor(jsonrpc.show_message(why))
        sys.stderr.write(why + "\n")
        if self._editor is not None:
            # A busy editor may be far behind (a flood was in flight): exiting
            # now would drop what it has not read, the errors with it.
            self._editor.close()
            await self._editor.wait_closed(DRAIN)
        return AGENT_GONE if rc == AGENT_GONE else TRANSPORT

    def _tell_editor(self, msg: Any) -> None:
        self._tell_editor_body(jsonrpc.encode(msg))

    def _tell_editor_body(self, body: bytes) -> None:
        if self._editor is not None:
            self._editor.write(framing.encode(body))

    @staticmethod
    def _translate(body: bytes, fn: Any) -> bytes:
        try:
            return jsonrpc.encode(fn(jsonrpc.decode(body)))
        except ValueError:
            return body


def _key(rid: Any) -> Any:
    return rid if isinstance(rid, (int, str)) else repr(rid)


def _set(fut: Optional[asyncio.Future]) -> None:
    if fut is not None and not fut.done():
        fut.set_result(None)

"""The bridge's policy for a link that dies: reconnect, resume, or begin anew.

When the connection drops or stalls, or the laptop sleeps, the bridge
reconnects (at once, then backing off to 30 s) and resumes: each side sends
again what the other missed (wire/link.py). Meanwhile the editor's messages
queue (editor_side.py), and once the outage outlasts the request bound its
requests are answered with an error. If the session cannot be resumed (its
grace period ended, the agent or the server restarted) a new one begins by
itself: the editor's own initialize again if it sent one, then every open
document with its current text, and one message to say so.
"""

import asyncio
import sys
import time
from typing import Any, Dict, Optional

from remote_lsp.editor.editor_side import EditorSide
from remote_lsp.editor.endpoint import Endpoint
from remote_lsp.editor.tracking import incompatible
from remote_lsp.wire import framing, jsonrpc
from remote_lsp.wire.errors import FAILED, TransportError

BACKOFF = (0, 1, 2, 4, 8, 16, 30)  # seconds before each reconnection attempt; then 30 each
REINIT_TIMEOUT = 120.0  # a new session's server may have to start and index


class Recovery:
    def __init__(self, endpoint: Endpoint, editor: EditorSide, request_timeout: float) -> None:
        self.endpoint = endpoint
        self.editor = editor
        self.host = endpoint.host
        self.request_timeout = request_timeout
        self.dead: asyncio.Future[None] = asyncio.get_running_loop().create_future()  # the link died
        self._down_since = 0.0
        self._bound: Optional[asyncio.TimerHandle] = None  # the request bound of an outage

    def linked(self, welcome: Dict[str, Any], up: bool) -> None:
        """A connection is welcomed: its death is watched for; `up`: the editor's frames go."""
        self.cancel()
        self.dead = asyncio.get_running_loop().create_future()
        self.endpoint.welcomed(welcome)
        self.editor.refusing = None
        if up:
            self.editor.go_up()

    def lost(self, why: str) -> None:
        """The link died (the endpoint killed its connection): the editor's
        frames queue, its requests wait up to the bound, and the editor is told."""
        self.editor.up = False
        self._down_since = time.monotonic()
        self.cancel()
        self._bound = asyncio.get_running_loop().call_later(self.request_timeout, self._expire)
        self.editor.give_up_own("the link went down again")
        sys.stderr.write("remote-lsp: the link to %s is down (%s); reconnecting\n" % (self.host, why))
        self.editor.tell(jsonrpc.notification("$/remote-lsp/link", {
            "state": "down", "host": self.host, "since": time.time(), "reason": why}))
        _set(self.dead)

    def cancel(self) -> None:
        if self._bound is not None:
            self._bound.cancel()
            self._bound = None

    def _expire(self) -> None:
        self._bound = None
        self.editor.expire("remote-lsp: %s unreachable, reconnecting" % self.host)

    async def reconnect(self, editor_gone: "asyncio.Future[Any]") -> Optional[int]:
        """Until the session is back (None), the editor leaves (0), or it
        cannot be (FAILED: the bridge lets the editor read its last words)."""
        attempt = 0
        loop = asyncio.get_running_loop()
        while True:
            delay = BACKOFF[min(attempt, len(BACKOFF) - 1)]
            attempt += 1
            if delay:
                await asyncio.wait([editor_gone], timeout=delay)
            if editor_gone.done():
                return 0
            try:
                welcome = await self.endpoint.connect()
            except asyncio.TimeoutError:
                # Connections through a stalled shared connection stall too: start afresh.
                await loop.run_in_executor(None, self.endpoint.transport.reset)
                continue
            except TransportError as exc:
                if exc.fatal:
                    self.editor.tell(jsonrpc.show_message("remote-lsp: %s" % exc.message))
                    sys.stderr.write("remote-lsp: %s\n" % exc.message)
                    return FAILED
                continue
            except Exception as exc:  # whatever an attempt meets, the session waits for the next
                sys.stderr.write("remote-lsp: reconnecting to %s: %r\n" % (self.host, exc))
                await loop.run_in_executor(None, self.endpoint.transport.reset)
                continue
            outage = time.monotonic() - self._down_since
            if not welcome.get("resumed"):
                return await self._new_session(welcome, outage)
            self.endpoint.link.resend(welcome.get("received"), self.endpoint.write)
            self.linked(welcome, up=True)
            self.editor.tell(jsonrpc.notification("$/remote-lsp/link", {
                "state": "up", "host": self.host, "after": round(outage, 1)}))
            sys.stderr.write("remote-lsp: the link to %s is back after %.1f s\n" % (self.host, outage))
            return None

    async def _new_session(self, welcome: Dict[str, Any], outage: float) -> Optional[int]:
        """The old session is gone on the host: start a new one as the editor did.
        Meanwhile the editor's messages wait in the outbox; the documents go out
        whole, as they are when the new session is ready."""
        reason = welcome.get("reason") or "the session was not found there"
        self.endpoint.new_session()
        lost = "remote-lsp: the session on %s was started anew (%s); ask again" % (self.host, reason)
        self.editor.give_up(lost, sent_only=True)
        self.linked(welcome, up=False)
        tracking = self.editor.tracking
        if tracking.init_params is not None:
            result = await self._initialize_again()
            if not self.endpoint.linked:
                return None  # the link went down again: the bridge reconnects
            if result is None:
                return FAILED
            problem = incompatible(tracking.init_result, result)
            if problem is not None:
                self._say("remote-lsp: %s: a new session began, and %s: restart the language client"
                          % (self.host, problem))
                return FAILED
            self._send(jsonrpc.notification("initialized", {}))
            for msg in tracking.reopen():
                self._send(msg)
        self.editor.for_a_new_session()
        self.editor.go_up()
        text = ("remote-lsp: %s: a new session after %.0f s (%s); %d document(s) opened again"
                % (self.host, outage, reason, len(tracking.documents)))
        self.editor.tell(jsonrpc.show_message(text, 3))
        self.editor.tell(jsonrpc.notification("$/remote-lsp/link", {
            "state": "new-session", "host": self.host, "after": round(outage, 1), "reason": reason}))
        sys.stderr.write(text + "\n")
        return None

    async def _initialize_again(self) -> Optional[Dict[str, Any]]:
        rid = "remote-lsp:initialize:%d" % time.monotonic_ns()
        answer = await self.editor.ask("initialize", self.editor.tracking.init_params, rid, REINIT_TIMEOUT)
        if isinstance(answer.get("result"), dict):
            return answer["result"]
        self._say("remote-lsp: %s: a new session could not be started: %s"
                  % (self.host, (answer.get("error") or {}).get("message")))
        return None

    def _send(self, msg: Any) -> None:
        self.endpoint.send(framing.encode(jsonrpc.encode(msg)))

    def _say(self, text: str) -> None:
        self.editor.tell(jsonrpc.show_message(text))
        sys.stderr.write(text + "\n")


def _set(fut: Optional["asyncio.Future[Any]"], value: Any = None) -> None:
    if fut is not None and not fut.done():
        fut.set_result(value)

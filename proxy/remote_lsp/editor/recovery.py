"""The bridge's policy for a link that dies: reconnect, resume, or begin anew
(the states it goes through are linkstate.py's).

When the connection drops or stalls, or the laptop sleeps, the bridge
reconnects (at once, then backing off) and resumes: each side sends again
what the other missed (wire/link.py). Meanwhile the editor's messages queue
(editor_side.py), and once the outage outlasts the request bound its requests
are answered with an error. If the session cannot be resumed (its grace period
ended, the agent or the server restarted) a new one begins by itself: the
editor's own initialize again if it sent one, then every open document with
its current text, and one message to say so. A session the host ends on
purpose, or one that fails to start the same way twice, is given up.
"""

import asyncio
import sys
import time
from typing import Any, Dict, Optional, Tuple

from remote_lsp.editor.editor_side import EditorSide
from remote_lsp.editor.endpoint import Endpoint, HostRefused
from remote_lsp.editor.linkstate import CONNECTING, DOWN, GIVEN_UP, NEW_SESSION, RESUMING, UP, End, LinkLife
from remote_lsp.editor.tracking import incompatible
from remote_lsp.wire import framing, jsonrpc
from remote_lsp.wire.errors import TransportError

REINIT_TIMEOUT = 120.0  # a new session's server may have to start and index


class Recovery:
    def __init__(self, endpoint: Endpoint, editor: EditorSide, life: LinkLife,
                 request_timeout: float, answer_when_down: bool = False) -> None:
        """`answer_when_down`: new requests are answered at once while the link is down."""
        self.endpoint = endpoint
        self.editor = editor
        self.life = life
        self.host = endpoint.host
        self.request_timeout = request_timeout
        self.answer_when_down = answer_when_down
        self._bound: Optional[asyncio.TimerHandle] = None  # the request bound of an outage

    def linked(self, welcome: Dict[str, Any]) -> None:
        """A connection is welcomed: its death is watched for."""
        self.endpoint.welcomed(welcome)
        if not self.answer_when_down:
            self.editor.refusing = None  # a new session's requests wait for it

    def up(self) -> None:
        """The link is up: the editor's frames go."""
        self.cancel()
        self.life.go(UP)
        self.editor.go_up()

    def lost(self, end: End) -> None:
        """A linked connection died (the endpoint killed it). On purpose: the
        link is given up. Else, from up: the editor's frames queue, its
        requests wait up to the bound, and the editor is told; in a new
        session: the request it waits on will not be answered."""
        self.editor.up = False
        self.editor.give_up_own(end.reason)
        if end.on_purpose:
            self.life.go(GIVEN_UP, end)
            return
        if self.life.state not in (CONNECTING, UP):
            self.life.end = end
            return  # the attempt under way goes down itself
        self._bound = asyncio.get_running_loop().call_later(self.request_timeout, self._expire)
        if self.answer_when_down:
            self.editor.refusing = "remote-lsp: %s unreachable (%s), reconnecting" % (self.host, end.reason)
        sys.stderr.write("remote-lsp: the link to %s is down (%s); reconnecting\n" % (self.host, end.reason))
        self.editor.tell(jsonrpc.notification("$/remote-lsp/link", {
            "state": "down", "host": self.host, "since": time.time(), "reason": end.reason}))
        self.life.go(DOWN, end)

    def cancel(self) -> None:
        if self._bound is not None:
            self._bound.cancel()
            self._bound = None

    def _expire(self) -> None:
        self._bound = None
        self.editor.expire("remote-lsp: %s unreachable, reconnecting" % self.host)

    async def reconnect(self, editor_gone: "asyncio.Future[Any]") -> None:
        """Attempts until the link is up, given up, or the editor leaves."""
        loop = asyncio.get_running_loop()
        while self.life.state == DOWN:
            await self.life.pause(editor_gone)
            if editor_gone.done():
                return
            self.life.go(RESUMING)
            attempt = asyncio.ensure_future(self.endpoint.connect())
            await asyncio.wait([attempt, editor_gone], return_when=asyncio.FIRST_COMPLETED)
            if not attempt.done():  # the editor left: nothing is to wait for the host now
                self.endpoint.transport.abort()
                attempt.cancel()
                await asyncio.wait([attempt])
                self.endpoint.kill()
                return
            try:
                welcome = attempt.result()
            except asyncio.TimeoutError:
                # Connections through a stalled shared connection stall too: start afresh.
                await loop.run_in_executor(None, self.endpoint.transport.reset)
                self.life.go(DOWN, End("no answer from %s" % self.host))
                continue
            except HostRefused as exc:
                self._start_failed(exc.message)
                continue
            except TransportError as exc:
                if exc.fatal:
                    self.editor.tell(jsonrpc.show_message("remote-lsp: %s" % exc.message))
                    self.life.go(GIVEN_UP, End("remote-lsp: %s" % exc.message, failed=True))
                    return
                self.life.go(DOWN, End(exc.message))
                continue
            except Exception as exc:  # whatever an attempt meets, the session waits for the next
                sys.stderr.write("remote-lsp: reconnecting to %s: %r\n" % (self.host, exc))
                await loop.run_in_executor(None, self.endpoint.transport.reset)
                self.life.go(DOWN, End(repr(exc)))
                continue
            outage = time.monotonic() - self.life.down_since
            if not welcome.get("resumed"):
                await self._new_session(welcome, outage)
                continue
            self.endpoint.link.resend(welcome.get("received"), self.endpoint.write)
            self.linked(welcome)
            if self.life.state != RESUMING:
                return  # the host ended it as it was welcomed: given up
            if not self.endpoint.linked:
                self.life.go(DOWN)  # it closed as it was welcomed
                continue
            self.up()
            self.editor.tell(jsonrpc.notification("$/remote-lsp/link", {
                "state": "up", "host": self.host, "after": round(outage, 1)}))
            sys.stderr.write("remote-lsp: the link to %s is back after %.1f s\n" % (self.host, outage))

    def _start_failed(self, reason: str) -> None:
        """A session did not start: down for another attempt, or given up if
        it failed so before."""
        if self.life.start_failed(reason):
            self._give_up("remote-lsp: %s: a new session could not be started: %s" % (self.host, reason))
        else:
            self.life.go(DOWN, End(reason))

    async def _new_session(self, welcome: Dict[str, Any], outage: float) -> None:
        """The old session is gone on the host: start a new one as the editor did.
        Meanwhile the editor's messages wait in the outbox; the documents go out
        whole, as they are when the new session is ready."""
        reason = welcome.get("reason") or "the session was not found there"
        self.life.go(NEW_SESSION)
        self.endpoint.new_session()
        lost = "remote-lsp: the session on %s was started anew (%s); ask again" % (self.host, reason)
        self.editor.give_up(lost, sent_only=True)
        self.linked(welcome)
        if self.life.state != NEW_SESSION:
            return  # the host ended it as it was welcomed: given up
        if not self.endpoint.linked:
            self._start_failed("the link went down again (%s)" % self._why())
            return
        tracking = self.editor.tracking
        if tracking.init_params is not None:
            result, error = await self._initialize_again()
            if self.life.state != NEW_SESSION:
                return  # the host ended it: given up
            if not self.endpoint.linked:
                self._start_failed("the link went down again (%s)" % self._why())
                return
            if result is None:
                self._give_up("remote-lsp: %s: a new session could not be started: %s" % (self.host, error))
                return
            problem = incompatible(tracking.init_result, result)
            if problem is not None:
                self._give_up("remote-lsp: %s: a new session began, and %s: restart the language client"
                              % (self.host, problem))
                return
            self._send(jsonrpc.notification("initialized", {}))
            for msg in tracking.reopen():
                self._send(msg)
        self.editor.for_a_new_session()
        self.up()
        text = ("remote-lsp: %s: a new session after %.0f s (%s); %d document(s) opened again"
                % (self.host, outage, reason, len(tracking.documents)))
        self.editor.tell(jsonrpc.show_message(text, 3))
        self.editor.tell(jsonrpc.notification("$/remote-lsp/link", {
            "state": "new-session", "host": self.host, "after": round(outage, 1), "reason": reason}))
        sys.stderr.write(text + "\n")

    async def _initialize_again(self) -> Tuple[Optional[Dict[str, Any]], str]:
        """The editor's initialize, asked again: its result, or None and what went wrong."""
        rid = "remote-lsp:initialize:%d" % time.monotonic_ns()
        answer = await self.editor.ask("initialize", self.editor.tracking.init_params, rid, REINIT_TIMEOUT)
        if isinstance(answer.get("result"), dict):
            return answer["result"], ""
        return None, str((answer.get("error") or {}).get("message"))

    def _why(self) -> str:
        return self.life.end.reason if self.life.end is not None else "no reason given"

    def _give_up(self, text: str) -> None:
        self.editor.tell(jsonrpc.show_message(text))
        self.life.go(GIVEN_UP, End(text, failed=True))

    def _send(self, msg: Any) -> None:
        self.endpoint.send(framing.encode(jsonrpc.encode(msg)))

"""One language server process held by the agent, and its mux.

The agent owns the server's stdin and stdout, so clients come and go without
the server ever seeing its input close. Stopping is graceful: shutdown and
exit first, signals only when the server does not go by itself.
"""

import asyncio
import json
import logging
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from remote_lsp.host import procs
from remote_lsp.host.aio import background
from remote_lsp.host.mux import Mux
from remote_lsp.host.session import Session
from remote_lsp.wire import framing, jsonrpc
from remote_lsp.wire.channel import Channel

log = logging.getLogger("remote_lsp.instance")

Key = Tuple[Tuple[str, ...], str]
NEVER = None  # idle timeout meaning "keep running with no clients"


class Instance:
    def __init__(self, argv: List[str], root: str, name: str, idle_timeout: Optional[float],
                 on_gone: Callable[["Instance"], None], log_dir: Path,
                 max_frame: int = framing.DEFAULT_MAX_FRAME) -> None:
        self.argv = argv
        self.root = root
        self.name = name
        self.idle_timeout = idle_timeout
        self.adopted = False
        self.attached: Any = None
        self.releasing = False
        self.max_frame = max_frame
        self.started = time.time()
        self.pid = 0
        self.sessions: Dict[int, Session] = {}
        self.mux = Mux(self._write_server, Path(root).as_uri(), on_initialized=self._remember_init)
        self.start_ticks = 0
        self.stopping = False
        self.gone = False
        self._on_gone = on_gone
        self._log_dir = log_dir
        self._proc: Optional[subprocess.Popen] = None
        self._channel: Optional[Channel] = None
        # Not strict: a server's output may start mid-message after an attach.
        self._parser = framing.FrameParser(max_frame=max_frame, strict=False)
        self._idle_handle: Optional[asyncio.TimerHandle] = None
        self._exited = asyncio.get_event_loop().create_future()

    @property
    def key(self) -> Key:
        return (tuple(self.argv), self.root)

    async def spawn(self, env: Dict[str, str]) -> None:
        # The name is the user's (--name): only safe characters reach a file name.
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", self.name)[:64] or "server"
        log_path = self._log_dir / ("%s-%d.log" % (safe, int(self.started * 1000)))
        with open(log_path, "ab") as errlog:
            self._proc = subprocess.Popen(
                self.argv, cwd=self.root, env=env, stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=errlog, start_new_session=True, close_fds=True)
        self.pid = self._proc.pid
        proc = procs.read_proc(self.pid)
        self.start_ticks = proc.start_ticks if proc else 0
        assert self._proc.stdin is not None and self._proc.stdout is not None
        # The channel owns the pipe fds from here on.
        self._channel = Channel(os.dup(self._proc.stdout.fileno()), os.dup(self._proc.stdin.fileno()),
                                self._from_server, self._server_closed)
        self._proc.stdin.close()
        self._proc.stdout.close()
        log.info("started %s (pid %d) in %s", self.name, self.pid, self.root)
        self._arm_idle()

    # --- the initialize result, kept across agents -----------------------------------

    def _init_cache(self) -> Path:
        return self._log_dir.parent / "init" / ("%d-%d.json" % (self.pid, self.start_ticks))

    def _remember_init(self, result: Dict[str, Any]) -> None:
        """So a later attach to this very process can serve clients at once."""
        try:
            path = self._init_cache()
            path.parent.mkdir(mode=0o700, exist_ok=True)
            path.write_text(json.dumps(result))
        except OSError as exc:
            log.warning("cannot cache the initialize result: %s", exc)

    def cached_init(self) -> Optional[Dict[str, Any]]:
        try:
            return json.loads(self._init_cache().read_text())
        except (OSError, ValueError):
            return None

    def adopt(self, pid: int, start_ticks: int, fd_read: int, fd_write: int, attached: Any) -> None:
        """Take over an existing process whose stdio now is our FIFOs."""
        self.adopted = True
        self.pid = pid
        self.start_ticks = start_ticks
        init_result = self.cached_init()
        self.attached = attached  # what `release` needs to give its stdio back
        if init_result is not None:
            self.mux.init_result = init_result
            self.mux.initialized_sent = True
        self._channel = Channel(fd_read, fd_write, self._from_server, self._server_closed)
        log.info("adopted %s (pid %d) in %s", self.name, self.pid, self.root)

    def let_go(self, why: str) -> None:
        """Stop serving an adopted process without stopping it (release)."""
        if not self.gone:
            self._end("remote-lsp: %s (pid %d) %s" % (self.name, self.pid, why), failed=False)

    # --- clients ---------------------------------------------------------------------

    def add_client(self, fd_in: int, fd_out: int, peer_pid: int,
                   on_close: Callable[[Session, str], None]) -> Session:
        session = Session(peer_pid, lambda s, msg: self.mux.from_client(s.id, msg), on_close, self.max_frame)
        self.sessions[session.id] = session
        self.mux.add_client(session.id, session.send_body, session.close)
        session.open(fd_in, fd_out)
        self._cancel_idle()
        return session

    def remove_client(self, session: Session) -> None:
        if self.sessions.pop(session.id, None) is None:
            return
        name = self.mux.describe_client(session.id)["name"]
        if not self.gone:
            self.mux.remove_client(session.id)
        log.info("%s left %s (pid %d): %s", name, self.name, self.pid, session.close_reason)
        self._arm_idle()

    # --- the idle policy (point 8) -------------------------------------------------------

    def _arm_idle(self) -> None:
        self._cancel_idle()
        if self.sessions or self.idle_timeout is NEVER or self.gone or self.stopping:
            return
        loop = asyncio.get_running_loop()
        self._idle_handle = loop.call_later(
            self.idle_timeout, lambda: background(self.stop("idle")))

    def _cancel_idle(self) -> None:
        if self._idle_handle is not None:
            self._idle_handle.cancel()
            self._idle_handle = None

    # --- the server going away ---------------------------------------------------------

    def _write_server(self, frame_body: bytes) -> None:
        if self._channel is not None:
            self._channel.write(framing.encode(frame_body))

    def _from_server(self, data: bytes) -> None:
        try:
            bodies = self._parser.feed(data)
        except framing.FramingError as exc:
            self.server_gone("sent a frame the agent refused (%s)" % exc)
            return
        for body in bodies:
            self.mux.from_server(body)

    def _server_closed(self, exc: Optional[BaseException]) -> None:
        if self.releasing:
            return  # its stdout went back to its terminal; let_go says so
        background(self._reap())

    async def _reap(self) -> None:
        code = None
        if self._proc is not None:
            loop = asyncio.get_running_loop()
            code = await loop.run_in_executor(None, self._proc.wait)
        if self.stopping:
            self.server_gone(None)
        else:
            self.server_gone(_how_it_ended(code))

    def server_gone(self, why: Optional[str]) -> None:
        """The server exited (why is None when we stopped it on purpose)."""
        if self.gone:
            return
        message = "remote-lsp: %s (pid %d) %s" % (self.name, self.pid, why or "was stopped")
        if why is not None:
            log.error(message)
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()  # it stopped talking to us: don't leave it behind
        # (an adopted process is the user's: it is never killed here)
        self._end(message, failed=why is not None)

    def _end(self, message: str, failed: bool) -> None:
        """Tell every client why, answer what is pending, let go of the server."""
        self.gone = True
        self._cancel_idle()
        self.mux.fail_pending(message)
        for session in list(self.sessions.values()):
            session.failed = failed
            session.send(jsonrpc.show_message(message, 1 if failed else 2))
            session.close(message)
        if self._channel is not None:
            self._channel.close()
        if not self._exited.done():
            self._exited.set_result(None)
        self._on_gone(self)

    async def stop(self, reason: str, grace: float = 5.0) -> None:
        """Point 2: shutdown and exit, then SIGTERM, then SIGKILL."""
        if self.gone or self.stopping:
            await self._exited
            return
        self.stopping = True
        log.info("stopping %s (pid %d): %s", self.name, self.pid, reason)
        for session in list(self.sessions.values()):
            session.send(jsonrpc.show_message(
                "remote-lsp: %s (pid %d) is stopping: %s" % (self.name, self.pid, reason), 2))
            session.close("server stopping")
        loop = asyncio.get_running_loop()
        if self.mux.init_result is not None:
            answered = loop.create_future()
            self.mux.request_server("shutdown", None,
                                    lambda msg: answered.done() or answered.set_result(msg))
            try:
                await asyncio.wait_for(answered, grace)
            except asyncio.TimeoutError:
                log.warning("%s (pid %d) did not answer shutdown", self.name, self.pid)
        self._write_server(jsonrpc.encode(jsonrpc.notification("exit")))
        for sig, wait in ((None, grace), (signal.SIGTERM, grace), (signal.SIGKILL, grace)):
            if sig is not None:
                self._signal(sig)
            try:
                await asyncio.wait_for(asyncio.shield(self._exited), wait)
                return
            except asyncio.TimeoutError:
                continue

    def _signal(self, sig: int) -> None:
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass

    def _describe_client(self, session: Session) -> Dict[str, Any]:
        out = session.describe()
        out.update(self.mux.describe_client(session.id), documents=self.mux.docs.uris_of(session.id))
        return out

    def describe(self) -> Dict[str, Any]:
        return {
            "pid": self.pid,
            "name": self.name,
            "argv": self.argv,
            "root": self.root,
            "adopted": self.adopted,
            "started": self.started,
            "idle_timeout": self.idle_timeout,
            "initialized": self.mux.init_result is not None,
            "clients": [self._describe_client(s) for s in self.sessions.values()],
            "documents": self.mux.docs.snapshot(),
        }


def _how_it_ended(code: Optional[int]) -> str:
    if code is None:  # adopted: not our child, only its output tells
        return "closed its output"
    if code < 0:
        try:
            return "was killed by %s" % signal.Signals(-code).name
        except ValueError:
            return "was killed by signal %d" % -code
    return "exited with code %d" % code

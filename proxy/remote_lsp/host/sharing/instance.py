"""One language server process held by the agent, and its mux.

The server's stdin and stdout are FIFOs in the agent's state directory, and
the server holds each of them read-write: it is always a writer of its own
input and a reader of its own output. So no agent's death ever gives it
end-of-file or a broken pipe; its output waits in the pipe until the next
agent, which finds it through the registry, reads on. Frames go to the server
in order, each as one write to the channel, which queues what the pipe does
not take (a server busy indexing stops reading for seconds; the agent serves
everyone else meanwhile). At most one frame is ever in the pipe in part: what
is still to go of it is kept in the registry (`owed`: saved when a frame is
cut, and while it goes out at most OWED_EVERY behind), so a successor can
complete it and the server's framing holds.

Stopping is graceful: shutdown and exit first, signals only when the server
does not go by itself.
"""

import asyncio
import errno
import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from remote_lsp.host import procs
from remote_lsp.host.aio import background
from remote_lsp.host.logs import last_words, server_log
from remote_lsp.host.session import Early, Linked, Session
from remote_lsp.host.sharing.mux import Mux
from remote_lsp.host.sharing.registry import InstanceRecord, Registry
from remote_lsp.host.watching.globs import path_of_uri as globs_path
from remote_lsp.host.watching.serverwatch import ServerWatch
from remote_lsp.host.watching.watcher import Watcher
from remote_lsp.wire import framing, jsonrpc
from remote_lsp.wire.errors import RemoteLspError, UsageError
from remote_lsp.wire.fdio import FdChannel
from remote_lsp.wire.paths import StatePaths, ensure_private_dir, remove_files
from remote_lsp.wire.uri import UriMapper

log = logging.getLogger("remote_lsp.instance")

Key = Tuple[Tuple[str, ...], str, str]  # argv, root, and what isolates it ("" if shared)


def instance_key(argv: List[str], root: str, env: Optional[Dict[str, str]], isolation: str = "") -> Key:
    """The key of the instance a client asks for: its command with the
    program's absolute path, found on the client's PATH (`env`: the client's
    environment; a direct connect brings none, and the agent's, inherited from
    the connect that started it, stands in), and the real path of its root."""
    env = env or dict(os.environ)
    if not argv:
        raise UsageError("no server command given")
    exe = shutil.which(argv[0], path=env.get("PATH"))
    if exe is None and os.sep in argv[0] and os.path.exists(argv[0]):
        raise RemoteLspError("%s: cannot be run: %s" % (
            argv[0], "it is a directory" if os.path.isdir(argv[0]) else "permission denied"))
    if exe is None:
        raise RemoteLspError("%s: command not found on this host (PATH=%s)" % (argv[0], env.get("PATH", "")))
    return (tuple([os.path.abspath(exe)] + list(argv[1:])), os.path.realpath(root), isolation)

NEVER = None  # idle timeout meaning "keep running with no clients"
OWED_EVERY = 0.1  # seconds between saves of `owed` while a frame cut short goes out
_OURS = os.O_NONBLOCK | os.O_CLOEXEC


def make_fifos(paths: StatePaths, entry: str) -> Tuple[str, str]:
    """A server's stdin and stdout FIFOs, `entry`.in and `entry`.out in the agent's
    private FIFO directory, made afresh (a stale pair of that name goes); for a
    server it starts and for one it attaches to. Who opens which end, how, differs."""
    ensure_private_dir(paths.fifos)
    base = os.path.join(str(paths.fifos), entry)
    pair = (base + ".in", base + ".out")
    try:
        for path in pair:
            remove_files(path)
            os.mkfifo(path, 0o600)
    except OSError:
        remove_files(*pair)
        raise
    return pair


def fifos_home(stdin: str, stdout: str) -> Optional[str]:
    """The state directory of the agent whose FIFO pair (made by `make_fifos`)
    a process has as `stdin` and `stdout` (what its fds 0 and 1 name); None if
    they are not such a pair."""
    base, ext = os.path.splitext(stdin)
    fifos = os.path.dirname(base)
    home = os.path.dirname(fifos)
    if ext != ".in" or stdout != base + ".out" or str(StatePaths(Path(home)).fifos) != fifos:
        return None
    return home


class Instance:
    def __init__(self, argv: List[str], root: str, name: str, idle_timeout: Optional[float],
                 on_gone: Callable[["Instance"], None], paths: StatePaths, entry: str = "",
                 generation: int = 0, isolation: str = "",
                 max_frame: int = framing.DEFAULT_MAX_FRAME) -> None:
        self.argv = argv
        self.root = root
        self.name = name
        self.idle_timeout = idle_timeout
        self.isolation = isolation  # set: this client's own instance, shared with nobody
        self.conflicts: List[str] = []  # what joining clients asked for and did not get
        self.adopted = False
        self.attached: Any = None  # for an adopted server: what `release` needs
        self.releasing = False
        self.max_frame = max_frame
        self.started = time.time()
        self.pid = 0
        self.start_ticks = 0
        self.entry = entry or os.urandom(6).hex()  # names its registry file and FIFOs
        self.fifos: Tuple[str, str] = ("", "")
        self.log: Optional[Path] = None  # the server's stderr (none for an adopted one: its terminal has it)
        # Each agent numbers its requests in a range of its own, so a late
        # answer to a dead agent's request is never taken for one of ours.
        self.generation = generation
        self.sessions: Dict[int, Session] = {}
        self.mux = Mux(self._write_server, Path(root).as_uri(), on_initialized=self._remember_init,
                       first_server_id=generation << 32, on_change=self._changed)
        self.watching = ServerWatch(name, self._files_changed)
        self.stopping = False
        self.gone = False
        self._paths = paths
        self._registry = Registry(paths.registry)
        self._on_gone = on_gone
        self._proc: Optional[subprocess.Popen] = None
        self._channel: Optional[FdChannel] = None
        self._owed = 0  # bytes of a frame cut short still to write, as last saved (record: `owed`)
        # Not strict: output may start mid-message after an attach or a new agent.
        # A frame over the limit is read past, and its request answered with an error.
        self._parser = framing.FrameParser(max_frame=max_frame, strict=False, on_oversized=self._oversized)
        self._idle_handle: Optional[asyncio.TimerHandle] = None
        self._save_pending = False
        self._owed_due: Optional[asyncio.TimerHandle] = None  # the next save of `owed` while it shrinks
        self._exited = asyncio.get_event_loop().create_future()

    @property
    def key(self) -> Key:
        return (tuple(self.argv), self.root, self.isolation)

    # --- starting, adopting, taking over from a dead agent ----------------------------

    async def spawn(self, env: Dict[str, str]) -> None:
        self.fifos = make_fifos(self._paths, self.entry)
        ours: List[int] = []
        try:
            # The server's own ends, read-write (see the module's docstring).
            theirs = [os.open(path, os.O_RDWR | os.O_CLOEXEC) for path in self.fifos]
            try:
                ours.append(os.open(self.fifos[1], os.O_RDONLY | _OURS))
                ours.append(os.open(self.fifos[0], os.O_WRONLY | _OURS))
                self.log = server_log(self._paths, self.name, self.started)
                with open(str(self.log), "ab") as errlog:
                    try:
                        self._proc = subprocess.Popen(
                            self.argv, cwd=self.root, env=env, stdin=theirs[0], stdout=theirs[1],
                            stderr=errlog, start_new_session=True, close_fds=True)
                    except OSError as exc:
                        remove_files(str(self.log))  # empty: nothing ran to write to it
                        self.log = None
                        why = _exec_error(exc)
                        raise RemoteLspError("%s: cannot be run: %s" % (self.argv[0], why)) from exc
            finally:
                for fd in theirs:
                    os.close(fd)
        except (OSError, RemoteLspError):
            for fd in ours:
                os.close(fd)
            remove_files(*self.fifos)
            raise
        self.pid = self._proc.pid
        proc = procs.read_proc(self.pid)
        self.start_ticks = proc.start_ticks if proc else 0
        self._open_channel(ours[0], ours[1])
        log.info("started %s (pid %d) in %s", self.name, self.pid, self.root)
        self._save()
        self._arm_idle()

    def adopt(self, pid: int, start_ticks: int, fd_read: int, fd_write: int, attached: Dict[str, Any],
              fifos: Tuple[str, str]) -> None:
        """Take over an existing process whose stdio now is our FIFOs."""
        self.adopted = True
        self.pid = pid
        self.start_ticks = start_ticks
        self.fifos = fifos
        self.attached = attached
        init_result = self.cached_init()
        if init_result is not None:
            self.mux.init_result = init_result
            self.mux.initialized_sent = True
        self._open_channel(fd_read, fd_write)
        log.info("adopted %s (pid %d) in %s", self.name, self.pid, self.root)
        self._save()

    @classmethod
    def from_record(cls, record: InstanceRecord, on_gone: Callable[["Instance"], None],
                    paths: StatePaths, decode_attached: Callable[[Any], Any]) -> "Instance":
        """Serve again a live server whose agent died: its FIFOs, its cached
        state; the dead agent's clients' documents closed and the server's
        requests they left waiting answered."""
        if len(record.fifos) != 2:
            raise ValueError("a registry record names two FIFOs")
        inst = cls(list(record.argv), record.root, record.name, record.idle_timeout, on_gone,
                   paths, entry=record.entry, generation=record.generation + 1, isolation=record.isolation)
        inst.pid, inst.start_ticks = record.pid, record.start_ticks
        inst.started = record.started
        inst.adopted = record.adopted
        inst.attached = decode_attached(record.attached) if record.attached else None
        inst.fifos = (record.fifos[0], record.fifos[1])
        inst.log = Path(record.log) if record.log else None
        inst.mux.restore(record.init_result, record.initialized_sent, record.registrations)
        fd_read = os.open(inst.fifos[1], os.O_RDONLY | _OURS)
        try:
            fd_write = os.open(inst.fifos[0], os.O_WRONLY | _OURS)
        except OSError:
            os.close(fd_read)
            raise
        inst._open_channel(fd_read, fd_write)
        if record.owed:
            # The dead agent left a frame cut short: complete it with spaces
            # (the server rejects that one message) so the next frame parses.
            inst._write_frame(b" " * record.owed)
        for doc in record.documents:
            inst._write_server(jsonrpc.encode(jsonrpc.notification(
                "textDocument/didClose", {"textDocument": {"uri": doc["uri"]}})))
        for sid, answer in record.server_requests:
            inst._write_server(jsonrpc.encode(dict({"jsonrpc": "2.0", "id": sid}, **answer)))
        log.info("took over %s (pid %d) in %s from a previous agent; closed %d document(s), answered %d "
                 "waiting request(s)", inst.name, inst.pid, inst.root, len(record.documents),
                 len(record.server_requests))
        inst._save()
        inst._arm_idle()
        return inst

    # --- files watched on the host for the server ------------------------------------------

    def watch_with(self, watcher: Watcher) -> None:
        """Serve the server's watched-file registrations with the agent's
        watcher: those it makes from now on, and those an earlier agent recorded."""
        self.watching.start(watcher)
        self.mux.on_watch = self._on_watch
        self.mux.replay_watching()

    def _on_watch(self, reg_id: str, options: Any) -> None:
        if options is None:
            self.watching.unregister(reg_id)
            return
        folders = [p for p in (globs_path(f.get("uri")) for f in self.mux.workspace_folders()
                               if isinstance(f, dict)) if p]
        self.watching.register(reg_id, options, folders or [self.root])

    def _files_changed(self, events: List[Dict[str, Any]]) -> None:
        if not self.gone and not self.stopping:
            self._write_server(jsonrpc.encode(jsonrpc.notification(
                "workspace/didChangeWatchedFiles", {"changes": events})))

    def _open_channel(self, fd_read: int, fd_write: int) -> None:
        self._channel = FdChannel(fd_read, fd_write, self._from_server, self._server_closed,
                                on_written=self._written)

    # --- the registry ------------------------------------------------------------------

    def record(self) -> InstanceRecord:
        """What a successor needs to serve this server again (never document text)."""
        attached = None
        if self.attached is not None:
            attached = {k: v for k, v in self.attached.items() if k != "saved"}
            attached["saved"] = self.attached["saved"].to_record()
        return InstanceRecord(
            entry=self.entry, argv=self.argv, root=self.root, name=self.name, pid=self.pid,
            start_ticks=self.start_ticks, started=self.started, adopted=self.adopted, attached=attached,
            fifos=list(self.fifos), idle_timeout=self.idle_timeout, isolation=self.isolation,
            generation=self.generation, owed=self._cut(), log=str(self.log) if self.log else None,
            init_result=self.mux.init_result, initialized_sent=self.mux.initialized_sent,
            registrations=self.mux.registrations,
            documents=[{"uri": d["uri"], "version": d["version"]} for d in self.mux.docs.snapshot()],
            server_requests=self.mux.waiting_server_requests())

    def _changed(self, now: bool) -> None:
        """Something a successor needs changed: save at once, or once this turn
        of the loop is over."""
        if now:
            self._save()
        elif not self._save_pending and not self.gone:
            self._save_pending = True
            asyncio.get_event_loop().call_soon(self._save)

    def _save(self) -> None:
        self._save_pending = False
        if self._owed_due is not None:
            self._owed_due.cancel()
            self._owed_due = None
        if not self.gone:
            self._owed = self._cut()
            self._registry.save(self.entry, self.record())

    def _cut(self) -> int:
        return self._channel.cut if self._channel is not None else 0

    # --- the initialize result, kept for a later attach -----------------------------------

    def _init_cache(self) -> Path:
        return self._paths.root / "init" / ("%d-%d.json" % (self.pid, self.start_ticks))

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

    def let_go(self, why: str) -> None:
        """Stop serving an adopted process without stopping it (release)."""
        if not self.gone:
            self._end(False, {"event": "released"}, lambda where: "remote-lsp: %s (pid %d)%s %s" % (
                self.name, self.pid, _on(where), why))

    # --- clients ---------------------------------------------------------------------

    def add_client(self, fd_in: int, fd_out: int, peer_pid: int, linked: Optional[Linked] = None,
                   early: Optional[Early] = None, where: str = "",
                   uris: Optional[UriMapper] = None) -> Session:
        """A new client on these fds; `linked` for one that survives its
        connection; `early`: what was read already; `where`: this host as the
        client names it, for its messages; `uris`: maps its names for files
        here, when they are not file:// ones."""
        session = Session(peer_pid, lambda s, msg: self.mux.from_client(s.id, msg),
                          lambda s, reason: self.remove_client(s), self.max_frame)
        session.where = where
        session.uris = uris
        if linked is not None:
            session.linked(*linked)
            session.on_suspend = lambda s, suspended: self.mux.set_suspended(s.id, suspended)
        self.sessions[session.id] = session
        self.mux.add_client(session.id, session.send_body, session.close)
        session.open(fd_in, fd_out, early)
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

    # --- to and from the server ---------------------------------------------------------

    def _write_server(self, frame_body: bytes) -> None:
        self._write_frame(framing.encode(frame_body))

    def _write_frame(self, frame: bytes) -> None:
        """One frame, one write: the channel queues what the pipe does not
        take, in order, and says how much of a frame cut short is owed."""
        if self._channel is None:
            return
        was = self._channel.backlog
        self._channel.write(frame)
        if not was and self._channel.cut:  # this frame is cut short: note it now
            self._save()

    def _written(self) -> None:
        """Part of the backlog went out: keep `owed` true. All out is saved
        once this turn of the loop is over; a frame going out bit by bit, at
        most every OWED_EVERY (a save costs a millisecond or more, and a pipe
        drains a page at a time)."""
        channel = self._channel
        if channel is None or channel.cut == self._owed:
            return
        if not channel.backlog:
            self._changed(False)
        elif self._owed_due is None and not self.gone:
            self._owed_due = asyncio.get_event_loop().call_later(OWED_EVERY, self._save)

    def _from_server(self, data: bytes) -> None:
        try:
            bodies = self._parser.feed(data)
        except framing.FramingError as exc:
            self.server_gone("sent a frame the agent refused (%s)" % exc)
            return
        for body in bodies:
            self.mux.from_server(body)

    def _oversized(self, length: int, head: bytes, tail: bytes) -> None:
        """The server sent a message over the frame limit, now read past: the
        request it answered gets an error saying why; the server goes on."""
        size = "a message of %d bytes, over the limit of %d bytes for one message" % (length, self.max_frame)
        sid = jsonrpc.response_id_of_ends(head, tail)
        why = "%s (pid %d) answered with %s; the answer was skipped" % (self.name, self.pid, size)
        if sid is not None and self.mux.fail_request(sid, jsonrpc.REQUEST_FAILED, "remote-lsp: " + why):
            log.warning("%s (request %d)", why, sid)
        else:
            log.warning("%s (pid %d) sent %s, not an answer to a waiting request; skipped: %r...",
                        self.name, self.pid, size, head[:80])

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
            self.server_gone(_how_it_ended(code), code, exited=True)

    def server_gone(self, why: Optional[str], code: Optional[int] = None, exited: bool = False) -> None:
        """The server exited or stopped talking to us (why is None when we
        stopped it on purpose). One that exits before it answered initialize
        exited *at start*: its clients are told the command and its last words
        on stderr, which usually name the fix."""
        if self.gone:
            return
        at_start = exited and not self.adopted and self.mux.init_result is None
        words = last_words(self.log) if why is not None else []
        event = {"event": "stopped" if why is None else "exited", "atStart": at_start, "code": code,
                 "stderr": words}

        def text(where: str) -> str:
            if why is None:
                return "remote-lsp: %s (pid %d)%s was stopped" % (self.name, self.pid, _on(where))
            if at_start:
                head = "remote-lsp: %s%s %s: %s" % (self.name, _on(where), _at_start(code),
                                                    " ".join(shlex.quote(a) for a in self.argv))
            else:
                head = "remote-lsp: %s (pid %d)%s %s" % (self.name, self.pid, _on(where), why)
            lines = [head] + ["  " + w for w in words]
            if self.log is not None:
                lines.append("  (its stderr: %s)" % self.log)
            return "\n".join(lines)

        if why is not None:
            log.error(text(""))
        if not self.adopted and self._still_running():
            self._signal(signal.SIGKILL)  # it stopped talking to us: don't leave it behind
        # (an adopted process is the user's: it is never killed here)
        self._end(why is not None, event, text)

    def _still_running(self) -> bool:
        if self._proc is not None:
            return self._proc.poll() is None
        p = procs.read_proc(self.pid)  # not our child: make sure the pid is still it
        return p is not None and p.start_ticks == self.start_ticks and p.state != "Z"

    def _end(self, failed: bool, event: Dict[str, Any], text: Callable[[str], str]) -> None:
        """Tell every client why, in its own words (`text` of the host as it
        names it), answer what is pending, let go of the server. Before the
        message, a `$/remote-lsp/server` notification says the same for an
        editor plugin (Neovim's remembers a server that exits at start)."""
        self.gone = True
        self._cancel_idle()
        self.watching.close()
        described = dict(event, name=self.name, pid=self.pid, argv=self.argv,
                         log=str(self.log) if self.log else None)
        for session in list(self.sessions.values()):
            message = text(session.where)
            session.send(jsonrpc.notification("$/remote-lsp/server", dict(
                described, host=session.where, message=message)))
            session.send(jsonrpc.show_message(message, 1 if failed else 2))
        self.mux.fail_pending(text(""))
        for session in list(self.sessions.values()):
            session.failed = failed
            session.close(text(session.where))
        if self._channel is not None:
            self._channel.close()
        self._registry.remove(self.entry)
        if not self.adopted:
            remove_files(*self.fifos)  # an adopted server's are removed by release
        if not self._exited.done():
            self._exited.set_result(None)
        self._on_gone(self)

    def hand_over(self, message: str) -> None:
        """The agent is going but the server stays (an upgrade): end every
        session asking its client to connect again, and leave the rest to the
        registry, saved now."""
        for session in list(self.sessions.values()):
            session.restart = True
            session.send(jsonrpc.show_message(message, 2))
            session.close(message)
        self._save()

    async def flush(self, timeout: float) -> None:
        """Let what is written to the server go out before the agent exits."""
        deadline = time.monotonic() + timeout
        while self._channel is not None and self._channel.backlog and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    async def stop(self, reason: str, grace: float = 5.0, restart: bool = False) -> None:
        """Point 2: shutdown and exit, then SIGTERM, then SIGKILL. For a
        restart, a `$/remote-lsp/server` notification (event "restarting")
        first asks each client's editor to connect again, to the new server."""
        if self.gone or self.stopping:
            await self._exited
            return
        self.stopping = True
        log.info("stopping %s (pid %d): %s", self.name, self.pid, reason)
        for session in list(self.sessions.values()):
            message = "remote-lsp: %s (pid %d) is stopping: %s" % (self.name, self.pid, reason)
            if restart:
                session.send(jsonrpc.notification("$/remote-lsp/server", dict(
                    event="restarting", name=self.name, pid=self.pid, host=session.where, message=message)))
            session.send(jsonrpc.show_message(message, 2))
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
            if sig is not None and self._still_running():
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
            "isolated": bool(self.isolation),
            "conflicts": self.conflicts,
            "log": str(self.log) if self.log else None,
            "initialized": self.mux.init_result is not None,
            "generation": self.generation,
            "backlog": self._channel.backlog if self._channel is not None else 0,  # bytes it has yet to read
            "clients": [self._describe_client(s) for s in self.sessions.values()],
            "documents": self.mux.docs.snapshot(),
            "watching": self.watching.describe(),
        }


def _exec_error(exc: OSError) -> str:
    """Why a program could not be run, in words: a script whose interpreter
    (its #! line) is missing fails as if the script itself were."""
    if exc.errno == errno.ENOENT and exc.filename and os.path.exists(exc.filename):
        return "the interpreter its #! line names is not found"
    return (exc.strerror or str(exc)).lower()


def _on(where: str) -> str:
    return " on %s" % where if where else ""


def _at_start(code: Optional[int]) -> str:
    if code is None:
        return "exited at start"
    if code < 0:
        return "exited at start, killed by %s" % _signal_name(-code)
    return "exited at start with exit code %d" % code


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return "signal %d" % number


def _how_it_ended(code: Optional[int]) -> str:
    if code is None:  # not our child (adopted, or started by an earlier agent)
        return "exited"
    if code < 0:
        return "was killed by %s" % _signal_name(-code)
    return "exited with code %d" % code

"""The agent: one per user per host, holding every shared language server.

It listens on a Unix socket in a 0700 directory, lets in only its own uid
(SO_PEERCRED), and keeps instances keyed by (argv, realpath(root)). A lock file
makes it the only agent; whoever holds the lock may replace a stale socket.
It uses no CPU while idle: everything is driven by I/O and timers.
"""

import asyncio
import base64
import fcntl
import gc
import logging
import os
import signal
import socket
import time
from typing import Any, Dict, List, Optional, Tuple, Union

from remote_lsp import __version__
from remote_lsp.host import procs
from remote_lsp.host.aio import background
from remote_lsp.host.files import disk
from remote_lsp.host.files.service import FileService
from remote_lsp.host.session import Early, Linked, Session
from remote_lsp.host.sharing import workspace
from remote_lsp.host.sharing.instance import Instance, Key, fifos_home, instance_key, make_fifos
from remote_lsp.host.sharing.registry import InstanceRecord, Registry
from remote_lsp.host.watching.watcher import Watcher
from remote_lsp.version import digest
from remote_lsp.wire import control, framing, jsonrpc, link
from remote_lsp.wire.errors import (
    ATTACH_FAILED,
    FAILED,
    REFUSED,
    NoSuchProcess,
    Refused,
    RemoteLspError,
    UsageError,
    describe_os_error,
    describe_state_error,
)
from remote_lsp.wire.fdio import wait_readable
from remote_lsp.wire.paths import StatePaths, remove_files
from remote_lsp.wire.uri import UriMapper, check_protocol

log = logging.getLogger("remote_lsp.agent")

# With no instance and no client for this long, the agent exits.
DEFAULT_AGENT_IDLE = 1800.0
REQUEST_TIMEOUT = 30.0  # a caller must send its request within this


class Agent:
    def __init__(self, paths: StatePaths, idle_exit: Optional[float] = DEFAULT_AGENT_IDLE) -> None:
        self.paths = paths
        self.instances: Dict[Key, Instance] = {}
        self.started = time.time()
        self.idle_exit = idle_exit
        self._lock_fd = -1
        self._server: Optional[socket.socket] = None
        self._done: Optional[asyncio.Future] = None
        self._idle_handle: Optional[asyncio.TimerHandle] = None
        self._starting: Dict[Key, asyncio.Future] = {}
        self._links: Dict[str, Session] = {}  # a linked session's token -> the session
        self._conns = 0
        self._watcher: Optional[Watcher] = None
        self.recovered: List[str] = []  # what the writes an earlier agent left cut short needed
        # Editors' channels for the files here; their open files watched by the one watcher.
        self.files = FileService(lambda *args, **kw: self.watcher().subscribe(*args, **kw))

    def watcher(self) -> Watcher:
        """The one file watcher of this agent, made on first use."""
        if self._watcher is None:
            self._watcher = Watcher(asyncio.get_running_loop())
        return self._watcher

    # --- life cycle ----------------------------------------------------------------

    def acquire(self) -> bool:
        """Take the agent lock; False if another agent holds it."""
        self.paths.prepare()
        fd = os.open(str(self.paths.lock), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    def holds_lock(self) -> bool:
        return self._lock_fd >= 0

    def listen(self) -> None:
        path = str(self.paths.socket)
        remove_files(path)  # stale: we hold the lock, so no live agent owns it
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            sock.bind(path)
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        sock.listen(64)
        sock.setblocking(False)
        self._server = sock
        self.paths.pid.write_text("%d\n" % os.getpid())

    async def serve(self, ready_fd: int = -1) -> None:
        loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(sig, lambda s=sig: background(self.shutdown(
                "signal %s" % signal.Signals(s).name)))
        assert self._server is not None
        self._recover_writes()
        self._take_over_instances()
        loop.add_reader(self._server.fileno(), self._accept)
        log.info("agent %s listening on %s (pid %d)", __version__, self.paths.socket, os.getpid())
        _answer_starter(ready_fd, "ready")
        self._arm_idle()
        await self._done

    def _recover_writes(self) -> None:
        """Keep the journal of file writes, and clean up after the writes an
        earlier agent (or a `put`) was killed in the middle of."""
        try:
            disk.keep_journal(str(self.paths.writes))
        except OSError as exc:
            log.warning("file writes are not journaled: cannot use %s: %s", self.paths.writes, exc)
            return
        self.recovered = disk.recover()
        for line in self.recovered:
            log.warning("%s", line)

    def _take_over_instances(self) -> None:
        """Serve again every server a previous agent left running (it died, or
        handed over); clean up after the ones that are gone."""
        for entry, record in Registry(self.paths.registry).load_all():
            try:
                p = procs.read_proc(record.pid)
                if p is None or p.start_ticks != record.start_ticks or p.state == "Z":
                    log.info("%s (pid %d) ended while no agent held it", record.name, record.pid)
                    self._forget(entry, record)
                    continue
                inst = Instance.from_record(record, self._instance_gone, self.paths, _decode_attached)
                inst.watch_with(self.watcher())
            except (OSError, KeyError, TypeError, ValueError, IndexError) as exc:
                log.warning("could not take over the registry entry %s: %r", entry, exc)
                self._forget(entry, record)
                continue
            self.instances[inst.key] = inst

    def _forget(self, entry: str, record: InstanceRecord) -> None:
        Registry(self.paths.registry).remove(entry)
        if all(f.startswith(str(self.paths.fifos)) for f in record.fifos):
            remove_files(*record.fifos)

    async def hand_over(self, pid: int) -> None:
        """A newer build asked (pid `pid`): leave every server running for the
        agent it starts, which takes them over from the registry."""
        log.info("handing over to a newer remote-lsp (asked by pid %d)", pid)
        self._close_socket()
        for inst in list(self.instances.values()):
            inst.hand_over("remote-lsp: the agent was upgraded; %s (pid %d) runs on: connect again"
                           % (inst.name, inst.pid))
        await asyncio.gather(*(inst.flush(2.0) for inst in self.instances.values()))
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    def _close_socket(self) -> None:
        if self._server is None:
            return
        asyncio.get_running_loop().remove_reader(self._server.fileno())
        self._server.close()
        self._server = None
        try:
            if self.paths.pid.read_text().strip() == str(os.getpid()):
                self.paths.socket.unlink()
                self.paths.pid.unlink()
        except OSError:
            pass

    async def shutdown(self, reason: str) -> None:
        log.info("agent shutting down: %s", reason)
        for inst in [i for i in self.instances.values() if i.adopted]:
            try:  # adopted servers are the user's: give them back, never stop them
                await self._release(inst.pid)
            except RemoteLspError as exc:
                log.warning("could not release %d: %s", inst.pid, exc)
        await asyncio.gather(*(i.stop("agent " + reason) for i in list(self.instances.values())))
        self._close_socket()
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    def _arm_idle(self) -> None:
        if self._idle_handle is not None:
            self._idle_handle.cancel()
            self._idle_handle = None
        if self.idle_exit is None or self.instances or self._conns or self.files.channels():
            return
        self._idle_handle = asyncio.get_running_loop().call_later(
            self.idle_exit, lambda: background(self.shutdown("idle")))

    # --- connections -----------------------------------------------------------------

    def _accept(self) -> None:
        assert self._server is not None
        while True:
            try:
                conn, _ = self._server.accept()
            except (BlockingIOError, InterruptedError):
                return
            background(self._handle(conn))

    async def _handle(self, conn: socket.socket) -> None:
        self._conns += 1
        self._arm_idle()
        fds: List[int] = []
        try:
            pid, uid, _gid = control.peer_credentials(conn)
            if uid != os.getuid():
                log.warning("refused a connection from uid %d (pid %d)", uid, pid)
                await control.send_async(conn, control.Failure(
                    REFUSED, "refused: this agent serves uid %d only" % os.getuid()))
                return
            conn.setblocking(False)
            line, fds, rest = await control.recv_async(conn, REQUEST_TIMEOUT)
            if line is None:
                return
            newer = control.compare_client(line)
            if newer < 0:
                raise control.VersionMismatch(line)
            if newer > 0:
                await control.send_async(conn, control.HandingOver(pid=os.getpid()))
                background(self.hand_over(pid))
                return
            request = control.decode_request(line)
            if isinstance(request, control.FilesRequest):
                fds = await self._files(conn, pid, request, fds, rest)
                return
            if isinstance(request, control.ConnectRequest) and request.direct:
                await self._connect_direct(conn, pid, request, rest)
                return
            if isinstance(request, control.ConnectRequest):
                fds = await self._connect(conn, pid, request, fds)
                return
            await control.send_async(conn, await self._dispatch(request))
        except RemoteLspError as exc:
            if isinstance(exc, control.VersionMismatch):
                log.warning("refused a client of another version: %s", exc)
            await control.send_async(conn, control.Failure(exc.code, exc.message))
        except (OSError, ValueError, asyncio.TimeoutError) as exc:
            log.warning("control connection failed: %r", exc)
            await control.send_async(conn, control.Failure(FAILED, str(exc) or "control connection failed"))
        finally:
            for fd in fds:
                _close_fd(fd)
            conn.close()
            self._conns -= 1
            self._arm_idle()

    async def _dispatch(self, request: control.Request) -> control.Reply:
        if isinstance(request, control.StatusRequest):
            return self.status()
        if isinstance(request, control.RunRequest):
            inst, created = await self._instance_for(request)
            return control.Started(pid=inst.pid, created=created, name=inst.name)
        if isinstance(request, control.StopRequest):
            return control.Stopped(stopped=await self._stop(request))
        if isinstance(request, control.AttachRequest):
            return await self._attach(request)
        if isinstance(request, control.ReleaseRequest):
            return await self._release(request.pid)
        if isinstance(request, control.ShutdownRequest):
            asyncio.get_running_loop().call_soon(
                lambda: background(self.shutdown("asked to stop")))
            return control.Done()
        raise UsageError("the agent cannot serve %r here" % request.op)

    async def _connect(self, conn: socket.socket, peer_pid: int, request: control.ConnectRequest,
                       fds: List[int]) -> List[int]:
        if len(fds) != 2:
            raise UsageError("connect needs the client's stdin and stdout")
        reader = _FirstFrames(fds[0])
        linked = None
        uris = _uri_mapper(request)
        if request.link:
            greeting = await self._greet(reader)
            if greeting.old is not None:
                old = greeting.resume(fds[0], fds[1])
                fds.clear()  # the session's now: not the caller's to close if what follows fails
                await control.send_async(conn, self._connected(old))
                await self._attend(conn, old)
                return []
            # A new session: welcome it now, so the bridge lets the editor's initialize through.
            linked = greeting.welcome(fds[1], request)
        try:
            if request.pid is not None:
                inst, created = self._managed(request.pid), False
            else:
                if request.root is None:
                    # One server per workspace: the key's root is the client's own.
                    params = await reader.initialize_params()
                    if uris is not None:
                        params = uris.message_to_server(params)
                    request.root = (workspace.from_initialize(params)
                                    or workspace.by_markers(request.cwd or "/"))
                inst, created = await self._instance_for(request)
                self._note_conflicts(inst, request, created, peer_pid)
        except (RemoteLspError, OSError) as exc:
            if linked is not None:
                _refuse_linked(fds[1], request, exc)
            raise
        session = self._add_client(inst, fds, peer_pid, linked, reader, request)
        fds.clear()  # the session's channel owns them now
        await control.send_async(conn, self._connected(session, created))
        await self._attend(conn, session)
        return []

    async def _connect_direct(self, conn: socket.socket, peer_pid: int, request: control.ConnectRequest,
                              rest: bytes) -> None:
        """A bridge that reached this socket through ssh (a socket forwarded
        by its connection: no `connect` process, no shell, no Python started
        on this host): the session runs on this connection. Only to resume a
        session or to join a server already running; a new server gets the
        environment a `connect` process brings, so for that the bridge runs one."""
        if not request.link or (request.root is None and request.pid is None) or request.isolated:
            raise UsageError("a direct connect is a bridge's, for a root or pid it names")
        reader = _FirstFrames(conn.fileno(), rest)
        greeting = await self._greet(reader)
        old = greeting.old
        inst = self._instance_of(old) if old is not None else self._running(request)
        fd = os.dup(conn.fileno())  # the session's, both ways; `conn` is closed when we return
        linked = None
        try:
            await control.send_async(conn, self._connected(old, False, inst))
            if old is None:
                linked = greeting.welcome(fd, request)
        except BaseException:
            _close_fd(fd)
            raise
        if old is not None:
            greeting.resume(fd, fd)
        else:
            self._add_client(inst, [fd, fd], peer_pid, linked, reader, request)

    async def _files(self, conn: socket.socket, peer_pid: int, request: control.FilesRequest,
                     fds: List[int], rest: bytes) -> List[int]:
        """An editor's channel for the files here: a linked session of the file
        service, new or resumed; on the fds the host's `files` process passed,
        or on this connection itself (`direct`, through a socket ssh forwards)."""
        if request.direct:
            fds = [os.dup(conn.fileno())] * 2  # the session's, both ways; `conn` is closed when we return
        elif len(fds) != 2:
            raise UsageError("files needs the client's stdin and stdout")
        try:
            reader = _FirstFrames(fds[0], rest)
            greeting = await self._greet(reader, files=True)
            session = greeting.old or Session(peer_pid, self.files.message, self._files_closed)
            reply = control.Connected(pid=os.getpid(), client=session.id, clients=self.files.channels())
            if request.direct:
                await control.send_async(conn, reply)  # a direct bridge reads the reply first
            if greeting.old is not None:
                greeting.resume(fds[0], fds[1])
            else:
                session.linked(*greeting.welcome(fds[1], request))
                self.files.opened(session, request.request_timeout, request.search_path)
                self._links[session.token] = session
                session.open(fds[0], fds[1], reader.early())
            fds.clear()  # the session's now: not the caller's to close if what follows fails
        except BaseException:
            if request.direct:
                _close_fd(fds[0])
            raise
        if request.direct:
            return []
        await control.send_async(conn, reply)
        await self._attend(conn, session)
        return []

    def _files_closed(self, session: Session, reason: str) -> None:
        self._links.pop(session.token, None)
        self.files.closed(session)
        self._arm_idle()

    async def _greet(self, reader: "_FirstFrames", files: bool = False) -> "_Greeting":
        """A linked connect's first frame, the bridge's hello, and the session
        it resumes (of the kind it asks for), if that is here."""
        hello = await _hello(reader)
        token = hello.get("token")
        old = self._links.get(token) if isinstance(token, str) else None
        if old is None or old.closed or self.files.serves(old) != files:
            old = None
        return _Greeting(reader, hello, old, str(self.paths.socket))

    def _add_client(self, inst: Instance, fds: List[int], peer_pid: int, linked: Optional[Linked],
                    reader: "_FirstFrames", request: control.ConnectRequest) -> Session:
        session = inst.add_client(fds[0], fds[1], peer_pid, linked, reader.early(),
                                  request.where, _uri_mapper(request))
        if session.token:
            self._links[session.token] = session
            session.ended.add_done_callback(lambda _: self._links.pop(session.token, None))
        return session

    def _connected(self, session: Optional[Session], created: bool = False,
                   inst: Optional[Instance] = None) -> control.Connected:
        inst = inst or self._instance_of(session)  # type: ignore[arg-type]
        return control.Connected(pid=inst.pid, created=created, client=session.id if session else 0,
                                 clients=len(inst.sessions))

    def _running(self, request: control.ConnectRequest) -> Instance:
        """The running instance a direct connect joins; refused if there is none."""
        if request.pid is not None:
            return self._managed(request.pid)
        key = instance_key(request.argv, request.root or "/", request.env)
        inst = self.instances.get(key)
        if inst is None or inst.gone or inst.stopping:
            raise NoSuchProcess("no server %s runs for %s here yet" % (" ".join(request.argv), key[1]))
        return inst

    def _note_conflicts(self, inst: Instance, request: control.ConnectRequest, created: bool,
                        peer_pid: int) -> None:
        """Options a joining client asked for that the running instance does not
        have: kept visible (the log, `status`), never silently dropped."""
        if created or request.idle_timeout == inst.idle_timeout:
            return

        def words(t: Optional[float]) -> str:
            return "never" if t is None else "%g s" % t

        note = ("a client (pid %d) asked for idle timeout %s; the instance keeps %s, set by the client that "
                "started it (connect --isolated gives a client an instance of its own)"
                % (peer_pid, words(request.idle_timeout), words(inst.idle_timeout)))
        inst.conflicts.append(note)
        log.warning("%s (pid %d): %s", inst.name, inst.pid, note)

    async def _attend(self, conn: socket.socket, session: Session) -> None:
        """Keep the connect process informed: its session's end, or (a linked
        session) the end of this connection's part in it, so it never lingers.
        A plain session ends when its connect process goes; a linked one lives
        by its link."""
        loop = asyncio.get_running_loop()
        lifeline = background(loop.sock_recv(conn, 1))
        detached = session.detached
        done, _ = await asyncio.wait([lifeline, session.ended, detached], return_when=asyncio.FIRST_COMPLETED)
        if lifeline in done:
            if session.link is None:
                session.close("the connect process went away")
            return
        lifeline.cancel()
        if session.ended.done():
            end = control.SessionEnd(failed=session.failed or session.restart, restart=session.restart,
                                     message=session.ended.result())
        else:
            end = control.SessionEnd(message=detached.result())
        await control.send_async(conn, end)

    def _instance_of(self, session: Session) -> Instance:
        return next(i for i in self.instances.values() if session.id in i.sessions)

    async def _instance_for(self, request: Union[control.ConnectRequest, control.RunRequest]
                            ) -> Tuple[Instance, bool]:
        isolation = os.urandom(6).hex() if getattr(request, "isolated", False) else ""
        key = instance_key(request.argv, request.root or request.cwd or os.getcwd(), request.env, isolation)
        argv, root = list(key[0]), key[1]
        if not os.path.isdir(root):
            raise UsageError("root %s is not a directory" % root)
        # Concurrent first connects for one key wait for the one spawn.
        while key in self._starting:
            await asyncio.shield(self._starting[key])
        inst = self.instances.get(key)
        if inst is not None and not inst.gone and not inst.stopping:
            return inst, False
        fut = asyncio.get_running_loop().create_future()
        self._starting[key] = fut
        try:
            inst = Instance(argv, root, request.name or os.path.basename(argv[0]),
                            request.idle_timeout, self._instance_gone, self.paths, isolation=key[2])
            inst.watch_with(self.watcher())
            await inst.spawn(request.env or dict(os.environ))
            self.instances[key] = inst
            self._arm_idle()
            return inst, True
        except OSError as exc:
            raise RemoteLspError("cannot start %s: %s" % (" ".join(argv), exc)) from exc
        finally:
            del self._starting[key]
            fut.set_result(None)

    # --- attach by PID ------------------------------------------------------------------

    async def _attach(self, request: control.AttachRequest) -> control.Attached:
        from remote_lsp.host import attach  # loaded when first needed: most agents never attach

        pid, method = request.pid, request.method
        if method not in attach.METHODS:
            raise UsageError("unknown method %r (auto, ptrace or gdb)" % method)
        if any(i.pid == pid for i in self.instances.values()):
            raise Refused("process %d is already managed by this agent; share it with "
                          "`remote-lsp connect --pid %d`" % (pid, pid))
        fifo_dir = str(self.paths.fifos)
        if procs.fd_target(pid, 0).startswith(fifo_dir):
            raise Refused("process %d is already attached (its stdin is an agent FIFO)" % pid)
        home = fifos_home(procs.fd_target(pid, 0), procs.fd_target(pid, 1))
        if home is not None:
            # Taking it over would cut that agent's clients off (they would be told it exited).
            raise Refused("process %d is already served by another remote-lsp agent, the one of %s (its "
                          "stdin and stdout are that agent's FIFOs): share it through that agent "
                          "(REMOTE_LSP_HOME=%s remote-lsp connect --pid %d), or release it there first"
                          % (pid, home, home, pid))
        p, kind = attach.validate(pid, request.name, request.force)
        root = os.path.realpath(request.root or procs.server_root(pid, procs.cwd(pid)) or "/")
        in_path, out_path = make_fifos(self.paths, "%d-%d" % (pid, p.start_ticks))
        fds: List[int] = []
        try:
            # Our ends first, so the target's opens never block: we hold the
            # stdin FIFO read-write, and the stdout FIFO's reader.
            fds.append(os.open(in_path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC))
            fds.append(os.open(out_path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC))
            started = time.monotonic()
            loop = asyncio.get_running_loop()
            saved, used = await loop.run_in_executor(None, lambda: attach.attach(
                p, in_path, out_path, method, request.timeout,
                os.environ.get("REMOTE_LSP_ATTACH_FAIL_AT")))
            elapsed = time.monotonic() - started
        except BaseException as exc:
            for fd in fds:
                _close_fd(fd)
            remove_files(in_path, out_path)
            if isinstance(exc, attach.AttachError) and exc.code == ATTACH_FAILED:
                raise attach.AttachError("attach to %d failed and was rolled back; the process goes "
                                         "on as before: %s" % (pid, exc.message)) from None
            raise
        inst = Instance(p.argv, root, kind, None, self._instance_gone, self.paths,
                        entry="%d-%d" % (pid, p.start_ticks))
        inst.watch_with(self.watcher())
        inst.adopt(pid, p.start_ticks, fds[1], fds[0], {"saved": saved, "method": used}, (in_path, out_path))
        self.instances[inst.key] = inst
        self._arm_idle()
        log.info("attached to %s (pid %d) with %s in %.0f ms", kind, pid, used, elapsed * 1000)
        return control.Attached(pid=pid, name=kind, root=root, method=used,
                                initialized=inst.mux.init_result is not None, ms=round(elapsed * 1000, 1))

    async def _release(self, pid: int) -> control.Released:
        from remote_lsp.host import attach

        inst = self._managed(pid)
        if not inst.adopted:
            raise Refused("process %d was started by the agent, not attached: use `remote-lsp stop "
                          "%d` to stop it" % (pid, pid))
        p = procs.read_proc(pid)
        if p is None:
            raise NoSuchProcess("process %d is gone" % pid)
        info = inst.attached
        loop = asyncio.get_running_loop()
        inst.releasing = True
        try:
            await loop.run_in_executor(None, lambda: attach.release(p, info["saved"], info["method"], 10.0))
        except BaseException:
            inst.releasing = False
            raise
        inst.let_go("was released: it is back on its own terminal")
        remove_files(*inst.fifos)
        log.info("released %s (pid %d)", inst.name, pid)
        return control.Released(pid=pid)

    def _managed(self, pid: int) -> Instance:
        for inst in self.instances.values():
            if inst.pid == pid and not inst.gone and not inst.stopping:
                return inst
        raise NoSuchProcess("no language server with pid %d is managed by this agent "
                            "(start it with `remote-lsp run`, or attach it)" % pid)

    def _instance_gone(self, inst: Instance) -> None:
        if self.instances.get(inst.key) is inst:
            del self.instances[inst.key]
        self._arm_idle()

    async def _stop(self, request: control.StopRequest) -> List[int]:
        if request.all:
            targets = list(self.instances.values())
        else:
            pid = request.pid
            targets = [i for i in self.instances.values() if i.pid == pid]
            if not targets:
                raise NoSuchProcess("no instance with pid %s is managed by this agent" % pid)
        reason = "restarted by a client" if request.restart else "asked to stop"
        await asyncio.gather(*(i.stop(reason, restart=request.restart) for i in targets))
        return [i.pid for i in targets]

    def status(self) -> control.Status:
        return control.Status(
            agent={
                "pid": os.getpid(),
                "version": __version__,
                "build": digest(),
                "protocol": control.PROTOCOL,
                "home": str(self.paths.root),
                "started": self.started,
                "rss_kb": procs.rss_kb(os.getpid()),
                "watcher": self._watcher.describe() if self._watcher is not None else None,
                "recovered": self.recovered,
            },
            instances=[i.describe() for i in self.instances.values()],
            files=self.files.describe(),
        )


def _idle(value: Optional[str]) -> Optional[float]:
    if value is None or value == "never":
        return None
    return max(0.0, float(value))


def _close_fd(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def run_agent(paths: StatePaths, ready_fd: int = -1) -> int:
    """Run the agent in this process until it is stopped. 0 also when another
    agent already holds the lock: the caller then simply connects to it."""
    agent = Agent(paths, _agent_idle_from_env())
    try:
        if not agent.acquire():
            _answer_starter(ready_fd, "busy")
            return 0
        logging.basicConfig(
            filename=str(paths.log), level=logging.INFO,
            format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
        agent.listen()
    except (OSError, RemoteLspError) as exc:
        # A full disk or a read-only state directory: say why to whoever
        # started us, since the log may be exactly what cannot be written.
        text = exc.message if isinstance(exc, RemoteLspError) else describe_state_error(exc, paths.root)
        _answer_starter(ready_fd, "error: %s" % text)
        if agent.holds_lock():  # then nobody else owns these half-made files
            remove_files(str(paths.socket), str(paths.pid))
        return 1
    # Start-up objects live as long as the agent: keep the collector off them,
    # so a collection never has to walk them between two messages.
    gc.collect()
    gc.freeze()
    asyncio.run(agent.serve(ready_fd))
    return 0


def _refuse_linked(fd: int, request: control.ConnectRequest, exc: Exception) -> None:
    """A welcomed bridge's session cannot be had (its server cannot start, the
    server it names is gone): it is told as a server that exits at start tells
    its clients, and the session is ended on purpose, so it does not reconnect."""
    why = exc.message if isinstance(exc, RemoteLspError) else describe_os_error(exc, request.argv[0])
    name = request.name or (os.path.basename(request.argv[0]) if request.argv else "server")
    message = "remote-lsp: %s%s: %s" % (name, " on %s" % request.where if request.where else "", why)
    event = {"event": "exited", "atStart": request.pid is None, "code": None, "stderr": [], "name": name,
             "pid": request.pid or 0, "argv": request.argv, "log": None, "host": request.where,
             "message": message}
    try:
        os.write(fd, framing.encode(jsonrpc.encode(jsonrpc.notification("$/remote-lsp/server", event)))
                 + framing.encode(jsonrpc.encode(jsonrpc.show_message(message, 1)))
                 + link.control("end", reason=message, failed=True))
    except OSError:
        pass  # the bridge is gone already


async def _hello(reader: "_FirstFrames") -> Dict[str, Any]:
    """A remote editor's bridge: its first frame says whether it resumes a session."""
    hello = link.parse_control(await reader.next()) or {}
    if hello.get("$link") != "hello":
        raise UsageError("a linked connect begins with the link's hello")
    return hello


class _Greeting:
    """A linked connect's start, the one path of every kind (a connect, a direct
    one, an editor's file channel): the bridge's hello, then the session it
    resumes, or a welcome for a new one."""

    def __init__(self, reader: "_FirstFrames", hello: Dict[str, Any], old: Optional[Session],
                 agent_socket: str) -> None:
        self.reader = reader
        self.hello = hello
        self.old = old  # the session resumed; None: a new one
        self._agent_socket = agent_socket

    def resume(self, fd_in: int, fd_out: int) -> Session:
        assert self.old is not None
        self.old.resume(fd_in, fd_out, self.hello.get("received"), self.reader.early())
        return self.old

    def welcome(self, fd_out: int, request: Union[control.ConnectRequest, control.FilesRequest]) -> Linked:
        """A new linked session: its first frame, which names this agent's socket,
        so the bridge can reach it directly next time (through ssh, no process)."""
        reason = ("the session was not found there (its grace period ended, or the agent or the server "
                  "restarted)" if self.hello.get("token") else "")
        token = _token()
        os.write(fd_out, link.control("welcome", token=token, resumed=False, received=0, reason=reason,
                                      agent=self._agent_socket))
        return Linked(request.heartbeat, request.grace, token)


def _uri_mapper(request: control.ConnectRequest) -> Optional[UriMapper]:
    """A remote editor's names for files here (scp://HOST//path): its session
    speaks them, so the bridge passes frames on as they come."""
    if not request.protocol:
        return None
    check_protocol(request.protocol)
    return UriMapper(request.protocol, request.where)


def _token() -> str:
    """A linked session's name: a secret (from os.urandom; `secrets` would load
    OpenSSL, 3.5 MB of the agent's memory, for nothing more)."""
    return base64.urlsafe_b64encode(os.urandom(18)).decode("ascii")


class _FirstFrames:
    """A new client's first frames, read before its session exists: a
    bridge's hello, a client's initialize. What was read goes to the session."""

    def __init__(self, fd: int, early: bytes = b"") -> None:
        self.fd = fd
        self.parser = framing.FrameParser(strict=True)
        self.bodies: List[bytes] = self.parser.feed(early) if early else []  # read, not yet taken
        self._decoded: Optional[Tuple[bytes, Any]] = None  # one of them decoded: (body, message)
        os.set_blocking(fd, False)

    def early(self) -> Early:
        """What was read, for the session: nothing is read or decoded twice."""
        return Early(self.parser, self.bodies, self._decoded)

    async def next(self) -> bytes:
        """The next frame's body, taken (the caller handles it)."""
        while not self.bodies:
            await self._read()
        return self.bodies.pop(0)

    async def initialize_params(self) -> Any:
        """The params of the client's initialize, if its first message is one
        (left in place for the session); None otherwise."""
        while True:
            for body in self.bodies:
                if link.parse_control(body) is not None:
                    continue  # a bridge's ack: not the editor's
                try:
                    msg = jsonrpc.decode(body)
                except ValueError:
                    return None
                self._decoded = (body, msg)
                return msg.get("params") if msg.get("method") == "initialize" else None
            await self._read()

    async def _read(self) -> None:
        await wait_readable(self.fd, REQUEST_TIMEOUT)
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        if not data:
            raise RemoteLspError("the client closed its connection before it began")
        self.bodies.extend(self.parser.feed(data))


def _decode_attached(record: Dict[str, Any]) -> Dict[str, Any]:
    from remote_lsp.host.attach.takeover import Saved

    return dict(record, saved=Saved.from_record(record["saved"]))


def _answer_starter(ready_fd: int, word: str) -> None:
    """The one word the process that started the agent waits for: ready, busy or error: TEXT."""
    if ready_fd >= 0:
        os.write(ready_fd, word.encode() + b"\n")
        os.close(ready_fd)


def _agent_idle_from_env() -> Optional[float]:
    raw = os.environ.get("REMOTE_LSP_AGENT_IDLE")
    if raw is None:
        return DEFAULT_AGENT_IDLE
    return _idle(raw)

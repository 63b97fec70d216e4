"""Finding the agent, and starting it on demand.

Race-safe by construction: any number of callers may start an agent at once;
the agent lock lets exactly one of them listen, the others exit, and every
caller connects to whichever won.
"""

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, List, Optional, Tuple, Type

from remote_lsp.host import procs
from remote_lsp.wire import control
from remote_lsp.wire.errors import RemoteLspError, describe_state_error
from remote_lsp.wire.paths import StatePaths

START_TIMEOUT = 15.0
# An agent silent this long, to a request and then to a status asked meanwhile
# (a stop or an attach may rightly take longer), does not answer.
ANSWER_TIMEOUT = 5.0
END_GRACE = 3.0  # an agent that does not answer: from SIGTERM to SIGKILL
where = ""  # this host as the user names it (`--host`), for messages; "" when run here


class NoAgent(RemoteLspError):
    """No agent runs, and none was to be started for this."""


class AgentNotAnswering(RemoteLspError):
    """The agent's socket is there but the agent says nothing (stopped, or
    wedged): distinct from a host or an agent that cannot be reached."""

    def __init__(self, paths: StatePaths) -> None:
        self.pid = agent_pid(paths)
        on = where or "this host"
        stop = "remote-lsp %sstop --agent" % ("--host %s " % shlex.quote(where) if where else "")
        super().__init__(
            "the agent on %s (pid %s) does not answer (nothing in %g s); `%s` ends it and stops its servers, "
            "or `kill -KILL %s` there ends it alone: its servers run on, and the next agent takes them over "
            "(the agent's log: %s)" % (on, self.pid or "unknown", ANSWER_TIMEOUT, stop, self.pid or "PID",
                                      paths.log))


def agent_pid(paths: StatePaths) -> int:
    """The pid the agent wrote when it began to listen; 0 if none is readable."""
    try:
        return int(paths.pid.read_text().strip())
    except (OSError, ValueError):
        return 0


def self_command() -> List[str]:
    """argv that runs this very program (from a checkout, a wheel or a zipapp)."""
    # -S: the host side needs no site-packages, and skipping them starts faster.
    return [sys.executable, "-S", "-m", "remote_lsp"]


def self_env() -> dict:
    env = dict(os.environ)
    # The directory holding the package (or the zipapp itself) goes on the path.
    here = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
    return env


def try_connect(paths: StatePaths) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(ANSWER_TIMEOUT)  # a connect waits only when the agent has not accepted its last 64
    try:
        sock.connect(str(paths.socket))
    except socket.timeout:
        sock.close()
        raise AgentNotAnswering(paths) from None
    except OSError:
        sock.close()
        raise
    return sock


def connect_agent(paths: StatePaths, autostart: bool = True) -> socket.socket:
    """A connected control socket, starting the agent first if needed."""
    try:
        return try_connect(paths)
    except (FileNotFoundError, ConnectionRefusedError):
        if not autostart:
            raise NoAgent("no agent is running (state in %s)" % paths.root) from None
    except OSError as exc:  # permissions, or a state path that is not a directory
        raise RemoteLspError("cannot reach the agent: %s" % describe_state_error(exc, paths.socket)) from None
    start_agent(paths)
    deadline = time.monotonic() + START_TIMEOUT
    delay = 0.005
    while True:
        try:
            return try_connect(paths)
        except (FileNotFoundError, ConnectionRefusedError):
            # Another caller's agent won the lock and is still starting.
            if time.monotonic() > deadline:
                raise RemoteLspError("the agent did not start; see %s" % paths.log) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.1)


def request(req: control.Request, expected: Type[control.R], autostart: bool = False,
            fds: Optional[List[int]] = None) -> Tuple[socket.socket, control.R]:
    """Send `req` to the local agent (started on demand if `autostart`) and
    read its reply; the socket stays open for the caller. An agent of an older
    build hands its servers over instead: then the next agent is started, and
    it takes them over, and the request goes to it."""
    paths = StatePaths.default()
    for _ in range(2):
        sock = connect_agent(paths, autostart=autostart)
        try:
            control.send(sock, req, fds)
            obj = _reply(sock, paths, quick=isinstance(req, control.StatusRequest))
        except socket.timeout:
            sock.close()
            raise AgentNotAnswering(paths) from None
        except BaseException:
            sock.close()
            raise
        if isinstance(obj, dict) and obj.get("reply") == control.HandingOver.kind:
            sock.close()
            _wait_gone(control.decode_reply(obj, control.HandingOver).pid)
            autostart = True
            continue
        try:
            if obj is None:
                raise RemoteLspError("the agent closed the connection without answering")
            return sock, control.decode_reply(obj, expected)
        except BaseException:
            sock.close()
            raise
    raise RemoteLspError("the agent kept handing over; see %s" % paths.log)


def _reply(sock: socket.socket, paths: StatePaths, quick: bool) -> Any:
    """The agent's reply (the socket then blocking again, for the caller).
    While none comes, a status asked meanwhile says whether the agent still
    answers at all; a `quick` request is such a status itself."""
    while True:
        try:
            sock.recv(1, socket.MSG_PEEK)
            break
        except socket.timeout:
            if quick or not _answers(paths):
                raise AgentNotAnswering(paths) from None
    obj = control.recv(sock)  # the rest of the line: the agent writes it whole
    sock.settimeout(None)
    return obj


def _answers(paths: StatePaths) -> bool:
    """Does the agent answer a status within ANSWER_TIMEOUT? (One that went
    away counts as answering: its going ends the first request too.)"""
    try:
        sock = try_connect(paths)
    except AgentNotAnswering:
        return False
    except OSError:
        return True
    try:
        control.send(sock, control.StatusRequest())
        control.recv(sock)
        return True
    except socket.timeout:
        return False
    except OSError:
        return True
    finally:
        sock.close()


def end_agent(paths: StatePaths, pid: int) -> str:
    """End an agent that does not answer: SIGTERM, then SIGKILL after
    END_GRACE. Its servers run on (they hold their own FIFOs) and the next
    agent takes them over, as after a crash. Returns the signal that did it
    ("" if it was gone already)."""
    p = procs.read_proc(pid) if pid > 0 else None
    if p is None or p.state == "Z":
        return ""
    if p.uids.real != os.getuid() or "remote_lsp" not in " ".join(p.argv) or "agent" not in p.argv:
        raise RemoteLspError("pid %d (in %s) is not this user's agent: not touched" % (pid, paths.pid))
    for sig, wait in ((signal.SIGTERM, END_GRACE), (signal.SIGKILL, START_TIMEOUT)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return signal.Signals(sig).name
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            now = procs.read_proc(pid)
            if now is None or now.state == "Z" or now.start_ticks != p.start_ticks:
                return signal.Signals(sig).name
            time.sleep(0.05)
    raise RemoteLspError("the agent (pid %d) did not end even on SIGKILL" % pid)


def ask(req: control.Request, expected: Type[control.R], autostart: bool = False) -> control.R:
    """One request and its reply, with the local agent."""
    sock, reply = request(req, expected, autostart)
    sock.close()
    return reply


def _wait_gone(pid: int) -> None:
    """Until the agent that is handing over has exited (and let go of its lock)."""
    deadline = time.monotonic() + START_TIMEOUT
    delay = 0.005
    while time.monotonic() < deadline:
        p = procs.read_proc(pid)
        if p is None or p.state == "Z":
            return
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
    raise RemoteLspError("the agent (pid %d) did not finish handing over" % pid)


def start_agent(paths: StatePaths) -> None:
    """Start a daemonised agent and wait until it listens (or loses the race)."""
    paths.prepare()
    read_fd, write_fd = os.pipe()
    try:
        try:
            log = open(str(paths.log), "ab")
        except OSError as exc:
            raise RemoteLspError("cannot write the agent log: %s" % describe_state_error(exc)) from None
        with log:
            proc = subprocess.Popen(
                self_command() + ["agent", "--daemonize", "--ready-fd", str(write_fd)],
                env=self_env(), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                pass_fds=(write_fd,), cwd="/", start_new_session=True)
        os.close(write_fd)
        write_fd = -1
        with os.fdopen(read_fd, "rb") as ready:
            read_fd = -1
            word = ready.readline().strip()  # EOF if it died before saying
        proc.wait()  # the daemonising parent exits at once
        if word.startswith(b"error: "):
            raise RemoteLspError("the agent could not start: %s" % word[7:].decode(errors="replace"))
        if word not in (b"ready", b"busy"):
            raise RemoteLspError("the agent failed to start; see %s" % paths.log)
    finally:
        for fd in (read_fd, write_fd):
            if fd >= 0:
                os.close(fd)


def daemonize() -> None:
    """Detach from the caller: fork, let the parent exit, new session."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()

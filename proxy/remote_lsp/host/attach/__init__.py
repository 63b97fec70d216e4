"""Attach by PID: validate the target, then swap its stdio onto our FIFOs.

Validation refuses with a clear message (exit 3 or 4) before anything is
touched. The swap runs in one thread from start to end (ptrace requests must
all come from the tracing thread) and is bounded by a deadline.
"""

import os
import time
from typing import Optional, Tuple

from remote_lsp.host import procs
from remote_lsp.host.attach.takeover import Saved, epoll_watches, give_back, stdio_fds, take_over
from remote_lsp.host.attach.tracee import AttachError, Tracee
from remote_lsp.wire.errors import NoSuchProcess, Refused, UsageError

METHODS = ("auto", "ptrace", "gdb")


def validate(pid: int, name: Optional[str], force: bool = False) -> Tuple[procs.Proc, str]:
    """The process, and the server name it goes by; or a refusal. A name must
    agree with what the process's command line says it is; `force` (the
    user's deliberate override) takes the name for it. Nothing is traced yet."""
    if pid == 1:
        raise Refused("pid 1 is the system's init process: never attached")
    p = procs.read_proc(pid)
    if p is None or p.state == "Z":
        raise NoSuchProcess("no process with pid %d" % pid)
    uid, gid = os.getuid(), os.getgid()
    if set(p.uids) != {uid} or set(p.gids) != {gid}:
        raise Refused("process %d runs as uid %s / gid %s (real, effective, saved); this agent is "
                      "uid %d / gid %d and attaches only to its own user's processes"
                      % (pid, "/".join(map(str, p.uids)), "/".join(map(str, p.gids)), uid, gid))
    seen = procs.server_kind(p)
    what = " ".join(p.argv)[:120] or p.comm
    if force:
        if not name:
            raise UsageError("attach --force takes the server's name on trust: give --name NAME")
        kind = name
    elif seen is None:
        raise Refused("process %d (%s) does not look like a language server; attach refused (if it is "
                      "one, attach it anyway with --force --name NAME)" % (pid, what))
    elif name and not procs.goes_by(p, name, seen):
        raise Refused("process %d is %s (%s), not %s; attach refused (attach it as %s, or with --force "
                      "if you are sure)" % (pid, seen, what, name, seen))
    else:
        kind = name or seen
    child = procs.wrapped_server(p, seen or kind)
    if child is not None:
        # Swapping the wrapper's stdio would leave the server on the old one.
        raise Refused("process %d only runs %s as its child %d, which reads the same stdin: attach to %d"
                      % (pid, kind, child.pid, child.pid))
    return p, kind


def _tracee(method: str, pid: int, deadline: float) -> Tracee:
    if method in ("auto", "ptrace"):
        from remote_lsp.host.attach.ptrace import PtraceTracee, arch

        if method == "ptrace" or arch() is not None:
            return PtraceTracee(pid, deadline)
    from remote_lsp.host.attach.gdb import GdbTracee

    return GdbTracee(pid, deadline)


def _stopped(method: str, p: procs.Proc, deadline: float) -> Tracee:
    t = _tracee(method, p.pid, deadline)
    try:
        t.stop()
        now = procs.read_proc(p.pid)
        if now is None or now.start_ticks != p.start_ticks:
            # The pid now names another process: never touch it.
            raise Refused("process %d changed between validation and attach (pid recycled)" % p.pid)
    except BaseException:
        t.detach()
        raise
    return t


def attach(p: procs.Proc, in_path: str, out_path: str, method: str, timeout: float,
           fail_at: Optional[str] = None) -> Tuple[Saved, str]:
    """Swap fds 0/1 of `p` onto the FIFOs; (what to give back later, method used)."""
    deadline = time.monotonic() + timeout
    in_fds, out_fds = stdio_fds(p.pid)
    watches = epoll_watches(p.pid, in_fds + out_fds)
    def verify() -> None:
        for fd in in_fds + out_fds:
            want = in_path if fd in in_fds else out_path
            if procs.fd_target(p.pid, fd) != want:
                raise AttachError("after the swap, fd %d of %d is %s, not our FIFO"
                                  % (fd, p.pid, procs.fd_target(p.pid, fd)))

    t = _stopped(method, p, deadline)
    try:
        saved = take_over(t, in_path, out_path, in_fds, out_fds, watches, verify, fail_at)
    finally:
        t.detach()
    return saved, t.method


def release(p: procs.Proc, saved: Saved, method: str, timeout: float) -> None:
    t = _stopped(method, p, time.monotonic() + timeout)
    try:
        give_back(t, saved)
    finally:
        t.detach()


__all__ = ["METHODS", "AttachError", "Saved", "attach", "release", "validate"]

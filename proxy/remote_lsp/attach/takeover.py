"""Swapping a stopped process's stdin and stdout onto our FIFOs, and back.

Written once against `Tracee`, so ptrace and gdb share every step. Each step
that changes the target records how to undo it; any failure undoes them all in
reverse, so the process goes on exactly as before.
"""

import os
import re
import struct
from typing import Callable, List, NamedTuple, Optional

from remote_lsp.attach.tracee import AttachError, Tracee

O_WRONLY, O_NONBLOCK, O_CLOEXEC = 0o1, 0o4000, 0o2000000
AT_FDCWD = -100
F_GETFL, F_DUPFD_CLOEXEC = 3, 1030
EPOLL_CTL_ADD, EPOLL_CTL_DEL = 1, 2
PROT_RW, MAP_PRIVATE_ANON = 3, 0x22
SPARE_FD_MIN = 100  # where the original stdin and stdout are kept meanwhile
PAGE = 4096


class Watch(NamedTuple):
    """An epoll set watching fd 0 or 1 (Node, Go and friends do)."""

    epfd: int
    fd: int
    events: int
    data: int


class Saved(NamedTuple):
    """Where the original stdin and stdout live in the target while we hold it."""

    stdin: int
    stdout: int
    watches: List[Watch]


def epoll_watches(pid: int, fds=(0, 1)) -> List[Watch]:
    """Which epoll sets of `pid` watch the files now at `fds` (from fdinfo)."""
    inodes = {}
    for fd in fds:
        try:
            inodes[fd] = os.stat("/proc/%d/fd/%d" % (pid, fd)).st_ino
        except OSError:
            pass
    found = []
    for name in os.listdir("/proc/%d/fd" % pid):
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, name)) != "anon_inode:[eventpoll]":
                continue
            with open("/proc/%d/fdinfo/%s" % (pid, name)) as f:
                info = f.read()
        except OSError:
            continue
        for m in re.finditer(r"tfd:\s*(\d+)\s+events:\s*([0-9a-f]+)\s+data:\s*([0-9a-f]+).*?ino:([0-9a-f]+)",
                             info):
            fd, ino = int(m.group(1)), int(m.group(4), 16)
            if fd in inodes and inodes[fd] == ino:
                found.append(Watch(int(name), fd, int(m.group(2), 16), int(m.group(3), 16)))
    return found


class _Steps:
    """Runs syscalls in the target, remembering how to undo each."""

    def __init__(self, t: Tracee, fail_at: Optional[str]) -> None:
        self.t = t
        self.fail_at = fail_at
        self.undo: List[Callable[[], None]] = []

    def checkpoint(self, step: str) -> None:
        """Tests force a failure here (REMOTE_LSP_ATTACH_FAIL_AT) to prove the rollback."""
        if step == self.fail_at:
            raise AttachError("failure forced at step %r (REMOTE_LSP_ATTACH_FAIL_AT)" % step)

    def call(self, step: str, name: str, *args: int) -> int:
        self.checkpoint(step)
        res = self.t.syscall(name, *args)
        if res < 0:
            raise AttachError("%s failed in process %d: %s" % (step, self.t.pid, os.strerror(-res)))
        return res

    def rollback(self) -> None:
        for undo in reversed(self.undo):
            try:
                undo()
            except Exception:  # undo all we can, whatever one step says
                pass
        self.undo.clear()


def _scratch(s: _Steps) -> int:
    addr = s.call("mmap", "mmap", 0, PAGE, PROT_RW, MAP_PRIVATE_ANON, -1, 0)
    s.undo.append(lambda: s.t.syscall("munmap", addr, PAGE))
    return addr


def _event(arch, watch: Watch) -> bytes:
    return struct.pack(arch.EPOLL_EVENT_FORMAT, watch.events, watch.data)


def take_over(t: Tracee, in_path: str, out_path: str, watches: List[Watch],
              fail_at: Optional[str] = None) -> Saved:
    """Point fds 0 and 1 of the stopped target at our FIFOs."""
    s = _Steps(t, fail_at)
    try:
        mem = _scratch(s)
        paths = in_path.encode() + b"\0" + out_path.encode() + b"\0"
        events = mem + len(paths) + 16 - len(paths) % 16
        t.write_memory(mem, paths)
        flags = [s.call("read flags", "fcntl", fd, F_GETFL) for fd in (0, 1)]
        saved = []
        for fd in (0, 1):
            spare = s.call("save fd %d" % fd, "fcntl", fd, F_DUPFD_CLOEXEC, SPARE_FD_MIN)
            s.undo.append(lambda spare=spare: t.syscall("close", spare))
            saved.append(spare)
        opened = []
        for path_addr, mode, fl in ((mem, 0, flags[0]), (mem + len(in_path) + 1, O_WRONLY, flags[1])):
            fd = s.call("open fifo", "openat", AT_FDCWD, path_addr, mode | (fl & O_NONBLOCK) | O_CLOEXEC)
            s.undo.append(lambda fd=fd: t.syscall("close", fd))
            opened.append(fd)
        for w in watches:  # while fd 0/1 still name the old files
            s.call("epoll del", "epoll_ctl", w.epfd, EPOLL_CTL_DEL, w.fd, 0)
            t.write_memory(events, _event(t.arch, w))
            s.undo.append(lambda w=w: (t.write_memory(events, _event(t.arch, w)),
                                       t.syscall("epoll_ctl", w.epfd, EPOLL_CTL_ADD, w.fd, events)))
        for fd, new, old in ((0, opened[0], saved[0]), (1, opened[1], saved[1])):
            s.call("dup fifo over fd %d" % fd, "dup3", new, fd, 0)
            s.undo.append(lambda fd=fd, old=old: t.syscall("dup3", old, fd, 0))
        for w in watches:
            t.write_memory(events, _event(t.arch, w))
            s.call("epoll add", "epoll_ctl", w.epfd, EPOLL_CTL_ADD, w.fd, events)
            s.undo.append(lambda w=w: t.syscall("epoll_ctl", w.epfd, EPOLL_CTL_DEL, w.fd, 0))
        for fd in opened:
            s.call("close fifo fd", "close", fd)
        s.call("unmap", "munmap", mem, PAGE)
        s.checkpoint("done")
        return Saved(saved[0], saved[1], watches)
    except BaseException:
        s.rollback()
        raise


def give_back(t: Tracee, saved: Saved, fail_at: Optional[str] = None) -> None:
    """Put the original stdin and stdout back (release)."""
    s = _Steps(t, fail_at)
    try:
        mem = _scratch(s)
        for w in saved.watches:
            s.call("epoll del", "epoll_ctl", w.epfd, EPOLL_CTL_DEL, w.fd, 0)
        for fd, old in ((0, saved.stdin), (1, saved.stdout)):
            s.call("restore fd %d" % fd, "dup3", old, fd, 0)
        for w in saved.watches:
            t.write_memory(mem, _event(t.arch, w))
            s.call("epoll add", "epoll_ctl", w.epfd, EPOLL_CTL_ADD, w.fd, mem)
        s.undo.clear()  # from here on, the process has its terminal again
        for fd in (saved.stdin, saved.stdout):
            t.syscall("close", fd)
        t.syscall("munmap", mem, PAGE)
    except BaseException:
        s.rollback()
        raise

"""Swapping a stopped process's stdin and stdout onto our FIFOs, and back.

Written once against `Tracee`, so ptrace and gdb share every step. Each step
that changes the target records how to undo it; any failure undoes them all in
reverse, so the process goes on exactly as before.
"""

import os
import re
import stat
import struct
from typing import Any, Callable, Dict, Iterable, List, NamedTuple, Optional, Tuple

from remote_lsp.host.attach.tracee import AttachError, Tracee
from remote_lsp.wire.errors import REFUSED

O_RDWR, O_NONBLOCK, O_CLOEXEC = 0o2, 0o4000, 0o2000000
AT_FDCWD = -100
F_GETFL, F_DUPFD_CLOEXEC = 3, 1030
EPOLL_CTL_ADD, EPOLL_CTL_DEL = 1, 2
EPOLLIN = 0x1
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
    """Where each replaced fd's original file lives in the target meanwhile."""

    spares: Dict[int, int]  # replaced fd -> spare fd holding the original
    watches: List[Watch]

    def to_record(self) -> Dict[str, Any]:
        """For the registry, so a successor agent can still give them back."""
        return {"spares": [[fd, spare] for fd, spare in self.spares.items()],
                "watches": [list(w) for w in self.watches]}

    @classmethod
    def from_record(cls, record: Dict[str, Any]) -> "Saved":
        return cls({int(fd): int(spare) for fd, spare in record["spares"]},
                   [Watch(*(int(x) for x in w)) for w in record["watches"]])


def stdio_fds(pid: int) -> Tuple[List[int], List[int]]:
    """The fds that are really the server's stdin and stdout.

    Usually just 0 and 1. But libuv (Node) reopens a terminal as a new fd and
    reads that one through epoll, so for a terminal we also take the fds open
    on the same device: those an epoll set watches for input are stdin; the
    lowest other one is the reopened stdout (stderr, if reopened at all, comes
    later and is left alone).
    """
    def dev(fd: int) -> Optional[int]:
        try:
            st = os.stat("/proc/%d/fd/%d" % (pid, fd))
        except OSError:
            return None
        return st.st_rdev if stat.S_ISCHR(st.st_mode) and st.st_rdev else None

    ins, outs = [0], [1]
    tty = dev(0)
    if tty is None:
        return ins, outs
    same = sorted(int(n) for n in os.listdir("/proc/%d/fd" % pid) if int(n) > 2 and dev(int(n)) == tty)
    readers = {w.fd for w in epoll_watches(pid, same) if w.events & EPOLLIN}
    if same and not readers:
        # Reopened, not yet read: a Node server still starting. Guessing which
        # fd is which could hand it a write-only FIFO to read from.
        raise AttachError("process %d has reopened its terminal but does not read it yet (still "
                          "starting?): try again in a moment" % pid, code=REFUSED)
    ins += [fd for fd in same if fd in readers]
    rest = [fd for fd in same if fd not in readers]
    if rest and dev(1) == tty:
        outs.append(rest[0])
    return ins, outs


def epoll_watches(pid: int, fds: Iterable[int] = (0, 1)) -> List[Watch]:
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


def take_over(t: Tracee, in_path: str, out_path: str, in_fds: List[int], out_fds: List[int],
              watches: List[Watch], verify: Callable[[], None], fail_at: Optional[str] = None) -> Saved:
    """Point the stopped target's stdin fds at one FIFO and its stdout fds at the other."""
    s = _Steps(t, fail_at)
    try:
        mem = _scratch(s)
        paths = in_path.encode() + b"\0" + out_path.encode() + b"\0"
        path_of = {fd: mem for fd in in_fds}
        path_of.update({fd: mem + len(in_path) + 1 for fd in out_fds})
        events = mem + len(paths) + 16 - len(paths) % 16
        t.write_memory(mem, paths)
        targets = in_fds + out_fds
        flags = {fd: s.call("read flags", "fcntl", fd, F_GETFL) for fd in targets}
        spares: Dict[int, int] = {}
        for fd in targets:
            spare = s.call("save fd %d" % fd, "fcntl", fd, F_DUPFD_CLOEXEC, SPARE_FD_MIN)
            s.undo.append(lambda spare=spare: t.syscall("close", spare))
            spares[fd] = spare
        opened = {}
        for fd in targets:
            # Read-write: the process then holds both ends of each FIFO, so no
            # agent's death ever gives it end-of-file or a broken pipe. Each fd
            # keeps its O_NONBLOCK, as before the swap.
            mode = O_RDWR | (flags[fd] & O_NONBLOCK) | O_CLOEXEC
            new = s.call("open fifo", "openat", AT_FDCWD, path_of[fd], mode)
            s.undo.append(lambda new=new: t.syscall("close", new))
            opened[fd] = new
        for w in watches:  # while the fds still name the old files
            s.call("epoll del", "epoll_ctl", w.epfd, EPOLL_CTL_DEL, w.fd, 0)
            s.undo.append(lambda w=w: (t.write_memory(events, _event(t.arch, w)),
                                       t.syscall("epoll_ctl", w.epfd, EPOLL_CTL_ADD, w.fd, events)))
        for fd in targets:
            s.call("dup fifo over fd %d" % fd, "dup3", opened[fd], fd, 0)
            s.undo.append(lambda fd=fd: t.syscall("dup3", spares[fd], fd, 0))
        for w in watches:
            t.write_memory(events, _event(t.arch, w))
            s.call("epoll add", "epoll_ctl", w.epfd, EPOLL_CTL_ADD, w.fd, events)
            s.undo.append(lambda w=w: t.syscall("epoll_ctl", w.epfd, EPOLL_CTL_DEL, w.fd, 0))
        for fd in targets:
            s.call("close fifo fd", "close", opened[fd])
        verify()  # through /proc, while every undo can still run
        s.checkpoint("done")
        s.undo.pop(0)  # the scratch page goes now, not on rollback
        t.syscall("munmap", mem, PAGE)
        return Saved(spares, watches)
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
        for fd, spare in saved.spares.items():
            s.call("restore fd %d" % fd, "dup3", spare, fd, 0)
        for w in saved.watches:
            t.write_memory(mem, _event(t.arch, w))
            s.call("epoll add", "epoll_ctl", w.epfd, EPOLL_CTL_ADD, w.fd, mem)
        s.undo.clear()  # from here on, the process has its terminal again
        for spare in saved.spares.values():
            t.syscall("close", spare)
        t.syscall("munmap", mem, PAGE)
    except BaseException:
        s.rollback()
        raise

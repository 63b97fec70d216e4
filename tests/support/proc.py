"""Process checks for tests and the demo: alive, children, waiting for input."""

import os
import subprocess
from typing import List


def pid_alive(pid: int) -> bool:
    """Running (a zombie counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def child_pids(pid: int) -> List[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def waits_to_write(pid: int, fd: int) -> bool:
    """pid's event loop is waiting to write more to its `fd` (or a dup of it):
    the reader has fallen behind and pid holds a backlog. Read from the
    epoll sets in /proc/PID/fdinfo, where each watched fd has a line."""
    base = "/proc/%d/fd/" % pid
    try:
        target = os.readlink(base + str(fd))
        same = {n for n in os.listdir(base) if _readlink(base + n) == target}
        for n in os.listdir(base):
            if _readlink(base + n) != "anon_inode:[eventpoll]":
                continue
            with open("/proc/%d/fdinfo/%s" % (pid, n)) as f:
                for line in f:
                    parts = line.split()
                    if parts[:1] == ["tfd:"] and parts[1] in same and int(parts[3], 16) & 0x4:
                        return True  # EPOLLOUT
    except OSError:
        return False
    return False


def _readlink(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


def waiting_for_input(pid: int) -> bool:
    """Some thread of pid waits in read(0), or in epoll_wait/poll/select with its loop idle."""
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/syscall" % (pid, tid)) as f:
                fields = f.read().split()
            if fields and ((fields[0] == "0" and fields[1] == "0x0") or fields[0] in ("232", "281", "7")):
                return True
    except OSError:
        return False
    return False

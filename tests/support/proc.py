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
    the reader has fallen behind and pid holds a backlog. The epoll sets are
    read as attach reads them (/proc/PID/fdinfo)."""
    from remote_lsp.host.attach.takeover import epoll_watches
    from remote_lsp.host.procs import fd_target

    try:
        target = fd_target(pid, fd)
        same = [int(n) for n in os.listdir("/proc/%d/fd" % pid) if fd_target(pid, int(n)) == target]
        return target != "" and any(w.events & EPOLLOUT for w in epoll_watches(pid, same))
    except OSError:
        return False


EPOLLOUT = 0x4


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

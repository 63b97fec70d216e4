"""Process checks for tests and the demo: alive, and waiting for input."""

import os


def pid_alive(pid: int) -> bool:
    """Running (a zombie counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


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

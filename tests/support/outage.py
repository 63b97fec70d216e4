"""Cutting the link as a network does, for tests and the demo."""

import contextlib
import os
import signal
import time


@contextlib.contextmanager
def outage(sshd):
    """The link cut (the session's sshd processes killed), and the host
    unreachable until the block ends (the listening sshd stopped)."""
    listener = sshd.proc.pid
    os.kill(listener, signal.SIGSTOP)  # first, so reconnecting cannot succeed early
    try:
        for pid in sshd.session_pids():
            os.kill(pid, signal.SIGKILL)
        yield
    finally:
        os.kill(listener, signal.SIGCONT)


def hold(seconds: float) -> None:
    """Keep an outage going this long: the scenario's duration, not a wait for anything."""
    time.sleep(seconds)

#!/usr/bin/env python3
"""The agent while a server stops reading: CPU and control answer times.

A scripted server stops reading its stdin for STALL seconds (as servers do
while indexing) while one client opens DOCS documents of SIZE bytes each,
more than the pipe holds. Meanwhile a status request goes to the agent every
POLL seconds, each timed on its own socket. Prints the agent's CPU over the
window, the status answer times, whether every document reached the server
whole, and whether SIGTERM then ends the agent. Run: python bench/stall.py
"""

import json
import os
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "proxy"), str(REPO)]

from remote_lsp.wire import control  # noqa: E402

from bench.local import cpu_ticks  # noqa: E402
from bench.wire import Row, row  # noqa: E402
from tests.support.lspclient import LspClient  # noqa: E402
from tests.support.proc import pid_alive  # noqa: E402

PROXY = [sys.executable, str(REPO / "proxy" / "proxy.py")]
SCRIPTED = [sys.executable, str(REPO / "tests" / "support" / "scripted_server.py")]
STALL, DOCS, SIZE, POLL, ANSWER_WITHIN = 3.0, 8, 1024 * 1024, 0.05, 2.0


def status_ms(sock_path: str) -> Optional[float]:
    """One status request's answer time; None if none came within ANSWER_WITHIN."""
    start = time.monotonic()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(ANSWER_WITHIN)
    try:
        sock.connect(sock_path)
        control.send(sock, control.StatusRequest())
        if control.recv(sock) is None:
            return None
    except OSError:
        return None
    finally:
        sock.close()
    return (time.monotonic() - start) * 1000


def measure(work: Path) -> Dict[str, Any]:
    """One run, with an agent of its own (in work/stall-state)."""
    home = work / "stall-state"
    root = work / "stall-proj"
    root.mkdir()
    env = dict(os.environ, REMOTE_LSP_HOME=str(home))
    client = LspClient(PROXY + ["connect", "--root", str(root), "--"] + SCRIPTED, cwd=str(root), env=env)
    client.initialize(str(root))
    pid = int((home / "agent.pid").read_text())
    server = client.request("test/state", None)["pid"]
    client.notify("test/stall", {"seconds": STALL})
    hz = os.sysconf("SC_CLK_TCK")
    t0, c0 = time.monotonic(), cpu_ticks(pid)
    texts = {(root / ("big%d.py" % i)).as_uri(): ("# %d\n" % i) + "x" * (SIZE - 8) + "\n"
             for i in range(DOCS)}
    opening = threading.Thread(target=lambda: [client.open_uri(u, t) for u, t in texts.items()], daemon=True)
    opening.start()
    answers: List[Optional[float]] = []
    cpu: List[float] = []  # percent while the server stalls, then once it reads again
    for until in (STALL, STALL + 3.0):
        while time.monotonic() - t0 < until:
            answers.append(status_ms(str(home / "agent.sock")))
            time.sleep(POLL)
        t1, c1 = time.monotonic(), cpu_ticks(pid)
        cpu.append(round((c1 - c0) / hz / (t1 - t0) * 100))
        t0, c0 = t1, c1
    whole = False
    try:
        state = client.request("test/state", None, timeout=10)
        whole = all(state["docs"].get(u, {}).get("text") == t for u, t in texts.items())
    except Exception as exc:  # a wedged agent never answers
        print("test/state: %r" % (exc,))
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.05)
    ended = not pid_alive(pid)
    if not ended:
        os.kill(pid, signal.SIGKILL)
    client.proc.kill()
    try:
        os.kill(server, signal.SIGKILL)  # it outlives a killed agent
    except ProcessLookupError:
        pass
    got = [a for a in answers if a is not None]
    return {"cpu_percent": cpu, "status_requests": len(answers), "unanswered": len(answers) - len(got),
            "median_ms": round(statistics.median(got), 1) if got else None,
            "max_ms": round(max(got), 1) if got else None,
            "documents_whole": whole, "sigterm_ended_agent": ended}


def rows(work: Path) -> List[Row]:
    """For `make bench`."""
    out = measure(work)
    print("stall: %s" % json.dumps(out))
    during, after = out["cpu_percent"]
    return [row("agent CPU, a server stalled %gs (%d x %d MB sent), then reading" % (STALL, DOCS, SIZE >> 20),
                "-", "%d%%, then %d%%" % (during, after), "<= 10%",
                during <= 10 and after <= 10 and out["documents_whole"]),
            row("status answer while a server stalls (%d asked)" % out["status_requests"], "-",
                "median %s ms, max %s ms, %d unanswered" % (
                    out["median_ms"], out["max_ms"], out["unanswered"]),
                "max <= 100 ms", out["unanswered"] == 0 and (out["max_ms"] or 1e9) <= 100),
            row("SIGTERM after the stall ends the agent", "-", "yes" if out["sigterm_ended_agent"] else "no",
                "yes", out["sigterm_ended_agent"])]


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="rl-stall-", dir="/tmp"))
    try:
        out = measure(work)
    finally:
        if os.environ.get("STALL_KEEP"):
            print("kept", work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(out))
    good = out["unanswered"] == 0 and out["documents_whole"] and out["sigterm_ended_agent"]
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())

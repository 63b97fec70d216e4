#!/usr/bin/env python3
"""`make bench`: what sharing through the agent costs, measured side by side.

Both paths talk to the same scripted server in one run: directly over its
stdio, and through `remote-lsp connect` + the agent. Prints round-trip
latency (median, p99), 4 MB response throughput, the agent's resident memory
with 8 clients attached, and the agent's CPU time while idle.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "proxy"), str(REPO)]

from remote_lsp.framing import FrameParser, encode  # noqa: E402

SERVER = [sys.executable, str(REPO / "tests" / "support" / "scripted_server.py")]
PROXY = [sys.executable, str(REPO / "proxy" / "proxy.py")]
ROUND_TRIPS = 3000
BIG = 4 * 1024 * 1024
BIG_RUNS = 15
CLIENTS = 8
IDLE_SECONDS = 5.0


class Wire:
    """The leanest possible client: blocking writes and reads, one thread."""

    def __init__(self, argv: List[str], root: str) -> None:
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=root)
        self.parser = FrameParser()
        self.backlog: List[bytes] = []
        self.next_id = 0
        self.call("initialize", {"processId": None, "rootUri": Path(root).as_uri(), "capabilities": {}})
        self.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})

    def send(self, msg: Dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(encode(json.dumps(msg).encode()))
        self.proc.stdin.flush()

    def call(self, method: str, params: Any) -> Any:
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while True:
            while self.backlog:
                msg = json.loads(self.backlog.pop(0))
                if msg.get("id") == self.next_id and "method" not in msg:
                    return msg.get("result")
            data = os.read(fd, 1 << 20)
            if not data:
                raise EOFError("server closed")
            self.backlog += self.parser.feed(data)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(30)


def latencies(direct: Wire, via: Wire) -> Tuple[List[float], List[float]]:
    """Alternate the two paths request by request, so both see the same
    machine: same caches, same background noise."""
    for _ in range(200):  # warm up
        direct.call("test/echo", {"x": 1})
        via.call("test/echo", {"x": 1})
    out: Tuple[List[float], List[float]] = ([], [])
    for i in range(ROUND_TRIPS):
        params = {"textDocument": {"uri": "file:///x.py"}, "position": {"line": i, "character": 4}}
        for wire, times in ((direct, out[0]), (via, out[1])):
            t = time.perf_counter()
            wire.call("test/echo", params)
            times.append(time.perf_counter() - t)
    return out


def throughput(wire: Wire) -> float:
    wire.call("test/big", {"bytes": BIG})
    times = []
    for _ in range(BIG_RUNS):
        t = time.perf_counter()
        wire.call("test/big", {"bytes": BIG})
        times.append(time.perf_counter() - t)
    return BIG / statistics.median(times) / 1e6


def p99(values: List[float]) -> float:
    return sorted(values)[int(len(values) * 0.99)]


def proc_rss_kb(pid: int) -> int:
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_ticks(pid: int) -> int:
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def row(name: str, direct: str, via: str, goal: str, ok: bool) -> Tuple[str, ...]:
    return (name, direct, via, goal, "ok" if ok else "MISSED")


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="rl-bench-"))
    os.environ["REMOTE_LSP_HOME"] = str(work / "state")
    root = str(work)
    connect = PROXY + ["connect", "--root", root, "--"] + SERVER
    rows = []
    try:
        direct, via = Wire(SERVER, root), Wire(connect, root)
        lat_d, lat_v = latencies(direct, via)
        med_add = (statistics.median(lat_v) - statistics.median(lat_d)) * 1e6
        p99_add = (p99(lat_v) - p99(lat_d)) * 1e6
        rows.append(row("round trip, median", "%.0f us" % (statistics.median(lat_d) * 1e6),
                        "%.0f us (+%.0f)" % (statistics.median(lat_v) * 1e6, med_add),
                        "added <= 150 us", med_add <= 150))
        rows.append(row("round trip, p99", "%.0f us" % (p99(lat_d) * 1e6),
                        "%.0f us (+%.0f)" % (p99(lat_v) * 1e6, p99_add),
                        "added <= 1000 us", p99_add <= 1000))
        tp_d, tp_v = throughput(direct), throughput(via)
        rows.append(row("4 MB response", "%.0f MB/s" % tp_d, "%.0f MB/s (%.0f%%)" % (tp_v, 100 * tp_v / tp_d),
                        ">= 50% of direct", tp_v >= tp_d / 2))
        direct.close()

        others = [Wire(connect, root) for _ in range(CLIENTS - 1)]
        agent_pid = int((work / "state" / "agent.pid").read_text())
        status = json.loads(subprocess.run(PROXY + ["status", "--json"], capture_output=True,
                                           text=True, check=True).stdout)
        attached = len(status["instances"][0]["clients"])
        rss = proc_rss_kb(agent_pid)
        rows.append(row("agent RSS, %d clients" % attached, "-", "%.1f MB" % (rss / 1024),
                        "<= 30 MB", rss <= 30 * 1024 and attached == CLIENTS))
        before = cpu_ticks(agent_pid)
        time.sleep(IDLE_SECONDS)  # measuring idleness: nothing to wait for but time
        idle = cpu_ticks(agent_pid) - before
        rows.append(row("agent CPU idle %gs" % IDLE_SECONDS, "-", "%d ticks" % idle, "0 ticks", idle == 0))
        for w in [via, *others]:
            w.close()
    finally:
        subprocess.run(PROXY + ["stop", "--agent"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)

    header = ("measure", "direct stdio", "connect + agent", "goal", "")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print("remote-lsp %s, Python %s, %d round trips" % (
        __import__("remote_lsp").__version__, sys.version.split()[0], ROUND_TRIPS))
    for r in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0 if all(r[-1] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

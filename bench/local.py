"""On one machine: what the agent adds to a round trip, against the floors of
any relay process (socat, in C; a bare Python selector loop), all to the same
scripted server in one run; and the agent's own figures (memory, idle CPU,
its death to the next answered connect, attach)."""

import json
import os
import shutil
import signal
import statistics
import subprocess
import time
from pathlib import Path
from typing import Dict, List

from remote_lsp.host.procs import rss_kb

from bench.wire import BIG, PROXY, RELAY, SERVER, Row, Wire, latencies, p99, row, spread, timed

ROUND_TRIPS = 3000
BIG_RUNS = 15
CLIENTS = 8
IDLE_SECONDS = 5.0


def overhead_rows(root: str) -> List[Row]:
    connect = PROXY + ["connect", "--root", root, "--"] + SERVER
    paths: Dict[str, Wire] = {"direct": Wire(SERVER, root), "python relay": Wire(RELAY + SERVER, root)}
    if shutil.which("socat"):
        paths["socat"] = Wire(["socat", "STDIO", "EXEC:%s,pipes" % " ".join(SERVER)], root)
    paths["agent"] = Wire(connect, root)
    try:
        lat = latencies(paths, ROUND_TRIPS)
        big = timed(paths, "test/big", {"bytes": BIG}, BIG_RUNS)
    finally:
        for wire in paths.values():
            wire.close()
    d50, d99 = statistics.median(lat["direct"]), p99(lat["direct"])
    added = {name: (statistics.median(v) - d50) * 1e6 for name, v in lat.items()}
    rows = [row("local: small request, direct", "-", spread(lat["direct"], 1e6, "us"), "baseline", True)]
    for name in paths:
        if name != "direct":
            rows.append(row("local: small request added, %s" % name, "-", "+%.0f us" % added[name],
                            "floor of a relay" if name != "agent" else
                            "<= python relay + 50 us (%.0f)" % (added["python relay"] + 50),
                            name != "agent" or added["agent"] <= added["python relay"] + 50))
    p99_added = (p99(lat["agent"]) - d99) * 1e6
    rows.append(row("local: small request p99 added, agent", "%.0f us" % (d99 * 1e6), "+%.0f us" % p99_added,
                    "<= 1000 us", p99_added <= 1000))
    mbs = {name: BIG / statistics.median(v) / 1e6 for name, v in big.items()}
    for name in paths:
        share = 100 * mbs[name] / mbs["direct"]
        rows.append(row("local: 4 MB answer, %s" % name, "%.0f MB/s" % mbs["direct"],
                        "%.0f MB/s (%.0f%%)" % (mbs[name], share), "reported", True))
    return rows


def agent_rows(root: str, home: Path) -> List[Row]:
    """Memory with 8 clients, CPU while idle."""
    connect = PROXY + ["connect", "--root", root, "--"] + SERVER
    wires = [Wire(connect, root) for _ in range(CLIENTS)]
    try:
        agent_pid = int((home / "agent.pid").read_text())
        status = json.loads(subprocess.run(PROXY + ["status", "--json"], capture_output=True, text=True,
                                           check=True).stdout)
        attached = len(status["instances"][0]["clients"])
        rss = rss_kb(agent_pid)
        before = cpu_ticks(agent_pid)
        time.sleep(IDLE_SECONDS)  # measuring idleness: nothing to wait for but time
        idle = cpu_ticks(agent_pid) - before
    finally:
        for w in wires:
            w.close()
        subprocess.run(PROXY + ["stop", "--agent"], capture_output=True)
    return [row("agent RSS, %d clients" % attached, "-", "%.1f MB" % (rss / 1024), "<= 30 MB",
                rss <= 30 * 1024 and attached == CLIENTS),
            row("agent CPU idle %gs" % IDLE_SECONDS, "-", "%d ticks" % idle, "0 ticks", idle == 0)]


def cpu_ticks(pid: int) -> int:
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def survival_rows(root: str, home: Path, runs: int = 7) -> List[Row]:
    """From the agent's SIGKILL to the next connect's initialize result, answered
    by the same server: a new agent starts and takes the server over."""
    connect = PROXY + ["connect", "--root", root, "--"] + SERVER
    times = []
    for _ in range(runs):
        wire = Wire(connect, root, stderr=subprocess.DEVNULL)  # it is told the agent died
        pid = wire.call("test/state", None)["pid"]
        agent = int((home / "agent.pid").read_text())
        t = time.perf_counter()
        os.kill(agent, signal.SIGKILL)
        again = Wire(connect, root)
        times.append(time.perf_counter() - t)
        same = again.call("test/state", None)["pid"] == pid
        wire.proc.kill()
        wire.proc.wait()
        again.close()
        if not same:
            return [row("agent killed -> next connect answered", "-", "a new server answered", "<= 1000 ms",
                        False)]
    subprocess.run(PROXY + ["stop", "--agent"], capture_output=True)
    med = statistics.median(times)
    return [row("agent killed -> next connect answered, same server", "-", spread(times, 1000, "ms"),
                "<= 1000 ms", med <= 1.0)]


def attach_rows(work: Path) -> List[Row]:
    """Attach to a running pylsp by pid, then release it: 10 times per method."""
    pylsp = shutil.which("pylsp")
    if pylsp is None:
        return [row("attach", "-", "skipped: no pylsp", "-", True)]
    server = subprocess.Popen([pylsp], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=str(work))
    rows = []
    try:
        for method, goal in (("ptrace", 100.0), ("gdb", 2000.0)):
            if method == "gdb" and shutil.which("gdb") is None:
                rows.append(row("attach, gdb", "-", "skipped: no gdb", "<= 2000 ms", True))
                continue
            times = []
            for _ in range(10):
                out = subprocess.run(PROXY + ["attach", str(server.pid), "--method", method, "--json"],
                                     capture_output=True, text=True, check=True).stdout
                times.append(json.loads(out)["ms"] / 1000)
                subprocess.run(PROXY + ["release", str(server.pid)], capture_output=True, check=True)
            med = statistics.median(times) * 1000
            rows.append(row("attach, %s (10 runs)" % method, "-", spread(times, 1000, "ms"),
                            "<= %d ms" % goal, med <= goal))
    finally:
        server.kill()
        server.wait()
        subprocess.run(PROXY + ["stop", "--agent"], capture_output=True)
    return rows

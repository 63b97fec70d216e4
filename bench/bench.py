#!/usr/bin/env python3
"""`make bench`: every figure of docs/benchmarks.md, measured side by side.

Overhead: both paths talk to the same scripted server in one run, directly
over its stdio and through remote-lsp (the local agent; SSH with each
transport): round-trip latency (median, p99) and 4 MB throughput, the agent's
memory with 8 clients and its CPU time while idle, attach time per method.
Sharing (bench/sharing.py): memory of shared against separate servers, and
warm against cold answers, with real servers on generated projects.
Prints the tables and writes docs/benchmarks.md.
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
from typing import Any, Dict, List, Optional, Tuple

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "proxy"), str(REPO)]

from remote_lsp.host.procs import rss_kb  # noqa: E402
from remote_lsp.wire.framing import FrameParser, encode  # noqa: E402

from bench import report  # noqa: E402
from bench import sharing as share  # noqa: E402

SERVER = [sys.executable, str(REPO / "tests" / "support" / "scripted_server.py")]
PROXY = [sys.executable, str(REPO / "proxy" / "proxy.py")]
ROUND_TRIPS = 3000
SSH_ROUND_TRIPS = 1000
BIG = 4 * 1024 * 1024
BIG_RUNS = 15
CLIENTS = 8
IDLE_SECONDS = 5.0


class Wire:
    """The leanest possible client: blocking writes and reads, one thread."""

    def __init__(self, argv: List[str], root: str, env: Optional[Dict[str, str]] = None,
                 stderr: Optional[int] = None) -> None:
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                                     cwd=root, env=env)
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


def latencies(direct: Wire, via: Wire, count: int = ROUND_TRIPS) -> Tuple[List[float], List[float]]:
    """Alternate the two paths request by request, so both see the same
    machine: same caches, same background noise."""
    for _ in range(200):  # warm up
        direct.call("test/echo", {"x": 1})
        via.call("test/echo", {"x": 1})
    out: Tuple[List[float], List[float]] = ([], [])
    for i in range(count):
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


def overhead_rows(path: str, direct: Wire, via: Wire, count: int, goals: bool) -> List[Tuple[str, ...]]:
    """Latency and throughput of `via` against `direct`; the foundation's goals
    apply to the local agent, SSH rows are reported."""
    lat_d, lat_v = latencies(direct, via, count)
    med_add = (statistics.median(lat_v) - statistics.median(lat_d)) * 1e6
    p99_add = (p99(lat_v) - p99(lat_d)) * 1e6
    tp_d, tp_v = throughput(direct), throughput(via)
    return [
        row("%s: round trip, median" % path, "%.0f us" % (statistics.median(lat_d) * 1e6),
            "%.0f us (+%.0f)" % (statistics.median(lat_v) * 1e6, med_add),
            "added <= 150 us" if goals else "reported", med_add <= 150 or not goals),
        row("%s: round trip, p99" % path, "%.0f us" % (p99(lat_d) * 1e6),
            "%.0f us (+%.0f)" % (p99(lat_v) * 1e6, p99_add),
            "added <= 1000 us" if goals else "reported", p99_add <= 1000 or not goals),
        row("%s: 4 MB response" % path, "%.0f MB/s" % tp_d, "%.0f MB/s (%.0f%%)" % (tp_v, 100 * tp_v / tp_d),
            ">= 50% of direct" if goals else "reported", tp_v >= tp_d / 2 or not goals),
    ]


def p99(values: List[float]) -> float:
    return sorted(values)[int(len(values) * 0.99)]


def cpu_ticks(pid: int) -> int:
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def row(name: str, direct: str, via: str, goal: str, ok: bool) -> Tuple[str, ...]:
    return (name, direct, via, goal, "ok" if ok else "MISSED")


def connect_time(argv: List[str], env: Dict[str, str], root: str) -> float:
    """Seconds from starting `connect` to holding the initialize result."""
    t = time.perf_counter()
    wire = Wire(argv, root, env)
    elapsed = time.perf_counter() - t
    wire.close()
    return elapsed


def attach_rows(work: Path) -> List[Tuple[str, ...]]:
    """Attach to a running pylsp by pid, then release it: 10 times per method."""
    import shutil

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
                times.append(json.loads(out)["ms"])
                subprocess.run(PROXY + ["release", str(server.pid)], capture_output=True, check=True)
            med = statistics.median(times)
            rows.append(row("attach, %s (median of 10)" % method, "-", "%.0f ms" % med,
                            "<= %d ms" % goal, med <= goal))
    finally:
        server.kill()
        server.wait()
        subprocess.run(PROXY + ["stop", "--agent"], capture_output=True)
    return rows


def survival_rows(root: str, runs: int = 7) -> List[Tuple[str, ...]]:
    """From the agent's SIGKILL to the next connect's initialize result, answered
    by the same server: a new agent starts and takes the server over."""
    import signal

    connect = PROXY + ["connect", "--root", root, "--"] + SERVER
    times = []
    for _ in range(runs):
        wire = Wire(connect, root, stderr=subprocess.DEVNULL)  # it is told the agent died
        pid = wire.call("test/state", None)["pid"]
        agent = int((Path(os.environ["REMOTE_LSP_HOME"]) / "agent.pid").read_text())
        t = time.perf_counter()
        os.kill(agent, signal.SIGKILL)
        again = Wire(connect, root)
        times.append(time.perf_counter() - t)
        if again.call("test/state", None)["pid"] != pid:
            return [row("agent killed -> next connect answered", "-", "a new server answered", "<= 1000 ms",
                        False)]
        wire.proc.kill()
        wire.proc.wait()
        again.close()
    subprocess.run(PROXY + ["stop", "--agent"], capture_output=True)
    med = statistics.median(times) * 1000
    return [row("agent killed -> next connect answered (median of %d)" % runs, "-", "%.0f ms" % med,
                "<= 1000 ms", med <= 1000)]


def ssh_rows(work: Path) -> List[Tuple[str, ...]]:
    """Connect over SSH (a private sshd on 127.0.0.1), agent and server already up."""
    from remote_lsp.editor.hosts import parse_host
    from remote_lsp.editor.transport.openssh import OpenSSH

    from tests.support.sshd import ALIAS, Sshd

    if not Path("/usr/sbin/sshd").exists():
        return [row("ssh connect", "-", "skipped: no sshd", "-", True)]
    (work / "ssh").mkdir()
    path = os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"])
    sshd = Sshd(work / "ssh", path).start()
    env = sshd.client_env(work / "editor-state")
    # This machine's environment sets PYTHONDONTWRITEBYTECODE; a user's does not,
    # and without cached bytecode every start compiles the proxy again.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    root = str(work)

    def argv(transport: str) -> List[str]:
        return PROXY + ["--host", ALIAS, "--transport", transport, "connect", "--root", root,
                        "--"] + SERVER

    rows = []
    try:
        first = connect_time(argv("openssh"), env, root)  # uploads, starts agent and server
        # What any command costs on this host before remote-lsp runs: ssh over
        # the shared connection plus the user's login shell.
        os.environ["REMOTE_LSP_SSH_CONFIG"] = str(sshd.home / ".ssh" / "config")
        ssh = OpenSSH(parse_host(ALIAS), work / "editor-state")
        baseline = []
        for _ in range(7):
            t = time.perf_counter()
            subprocess.run(ssh.base_argv() + ["-o", "ControlMaster=no", ALIAS, "true"], env=env,
                           stdin=subprocess.DEVNULL, check=True)
            baseline.append(time.perf_counter() - t)
        rows.append(row("ssh HOST true (baseline)", "-", "%.0f ms" % (statistics.median(baseline) * 1000),
                        "reported", True))
        keeper = Wire(argv("openssh"), root, env)  # keeps the instance up
        for transport, goal in (("openssh", 0.3), ("paramiko", 0.6)):
            times = [connect_time(argv(transport), env, root) for _ in range(7)]
            med = statistics.median(times)
            rows.append(row("ssh connect->init, %s" % transport, "-", "%.0f ms" % (med * 1000),
                            "<= %d ms" % (goal * 1000), med <= goal))
        for transport in ("openssh", "paramiko"):
            direct, via = Wire(SERVER, root), Wire(argv(transport), root, env)
            rows += overhead_rows("ssh, %s" % transport, direct, via, SSH_ROUND_TRIPS, goals=False)
            direct.close()
            via.close()
        rows.append(row("ssh first-ever connect", "-", "%.0f ms" % (first * 1000),
                        "reported (upload+agent+server)", True))
        keeper.close()
        subprocess.run(PROXY + ["--host", ALIAS, "stop", "--agent"], env=env, capture_output=True)
    finally:
        sshd.stop()
        subprocess.run(["pkill", "-f", "ControlPath=%s" % (work / "editor-state")], capture_output=True)
    return rows


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="rl-bench-"))
    os.environ["REMOTE_LSP_HOME"] = str(work / "state")
    root = str(work)
    connect = PROXY + ["connect", "--root", root, "--"] + SERVER
    rows = []
    sharing: Dict[str, Any] = {}
    try:
        direct, via = Wire(SERVER, root), Wire(connect, root)
        rows += overhead_rows("local agent", direct, via, ROUND_TRIPS, goals=True)
        direct.close()

        others = [Wire(connect, root) for _ in range(CLIENTS - 1)]
        agent_pid = int((work / "state" / "agent.pid").read_text())
        status = json.loads(subprocess.run(PROXY + ["status", "--json"], capture_output=True,
                                           text=True, check=True).stdout)
        attached = len(status["instances"][0]["clients"])
        rss = rss_kb(agent_pid)
        rows.append(row("agent RSS, %d clients" % attached, "-", "%.1f MB" % (rss / 1024),
                        "<= 30 MB", rss <= 30 * 1024 and attached == CLIENTS))
        before = cpu_ticks(agent_pid)
        time.sleep(IDLE_SECONDS)  # measuring idleness: nothing to wait for but time
        idle = cpu_ticks(agent_pid) - before
        rows.append(row("agent CPU idle %gs" % IDLE_SECONDS, "-", "%d ticks" % idle, "0 ticks", idle == 0))
        for w in [via, *others]:
            w.close()
        subprocess.run(PROXY + ["stop", "--agent"], capture_output=True)
        rows += survival_rows(root)
        rows += attach_rows(work)
        rows += ssh_rows(work)
        if "--no-sharing" not in sys.argv:
            sharing = share.run(work)
    finally:
        subprocess.run(PROXY + ["stop", "--agent"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)

    header = ("measure", "direct stdio", "connect + agent", "goal", "")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print("remote-lsp %s, Python %s, %d round trips" % (
        __import__("remote_lsp").__version__, sys.version.split()[0], ROUND_TRIPS))
    for r in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    ok = all(r[-1] == "ok" for r in rows)
    if sharing:
        for title, head, found in (
                ("memory", ("server", "sessions", "separate PSS", "shared PSS", "agent+connects", "ratio",
                            "separate RSS", "shared RSS", ""), report.memory_rows(sharing["memory"])),
                ("warm/cold", ("server", "answer", "cold", "warm", "speed-up", ""),
                 report.warm_cold_rows(sharing["warm_cold"]))):
            print("\n" + title)
            for r in [head, *found]:
                print("  ".join(r))
            ok = ok and all(r[-1] == "ok" for r in found)
        print("\nwrote %s" % report.write(rows, sharing, "make bench"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Search in a remote project: find and grep through the agent's file channel,
30 ms away (the delaying proxy in front of the test sshd), against ripgrep
run over ssh and on the host itself, on a generated git project of
$REMOTE_LSP_BENCH_SEARCH_FILES files (default 100,000).

find: every name (the file list warm in the agent) against `ssh HOST rg
--files`; the first 100 names; a file created on the host until a find has
it; the agent's memory for the list (and the watch that keeps it) and its
CPU while idle. grep: the whole answer and the first match against
ripgrep's own time on the host; git grep and the built-in search as ratios
to ripgrep. live grep: 20 queries 50 ms apart, each replacing the one
before; how long a replaced search goes on on the host, and what is left
running once the last answer is in.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "proxy"), str(REPO)]

from bench.wire import PROXY, Row, row  # noqa: E402
from tests.support.delay import EACH_WAY  # noqa: E402

FILES = int(os.environ.get("REMOTE_LSP_BENCH_SEARCH_FILES", "100000"))
RTT = 2 * EACH_WAY
SLOW_ALIAS = "rlsp-search-slow"
RUNS = 5
IDLE_SECONDS = 3.0
PATTERN = "heaviest%04d\\(" % (FILES // 2)  # in one file: every file read to find it
TYPED = "gadget = Gadget00001"  # live grep types this, a key at a time: 20 keys


def project(root: Path) -> Path:
    """genproject's Python modules, with an ignored build directory and hidden
    files, committed: a git work tree as a user has it."""
    from bench.genproject import python_project

    python_project(root, FILES)
    (root / ".gitignore").write_text("build/\n*.pyc\n")
    (root / "build").mkdir()
    for i in range(200):
        (root / "build" / ("out%03d.py" % i)).write_text("def heaviest_built(): pass\n")
    (root / ".config.py").write_text("hidden = True\n")
    git = ["git", "-C", str(root), "-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
    subprocess.run(git + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-qm", "generated"], check=True)
    return root


def _timed_client(argv: List[str], env: Dict[str, str]) -> Any:
    from tests.support.lspclient import LspClient

    class Timed(LspClient):  # each message stamped with its arrival
        def _dispatch(self, msg: Dict[str, Any]) -> None:
            msg["_at"] = time.monotonic()
            super()._dispatch(msg)

    return Timed(argv, env=env, name="search")


def _ask(c: Any, method: str, params: Dict[str, Any], key: str, first: int) -> Tuple[float, float, int, Any]:
    """(seconds to the whole answer, to the first `first` items, items, the answer)."""
    token = "b%d" % time.monotonic_ns()
    params = dict(params, partialResultToken=token)
    start = time.monotonic()
    rid = c.request_async(method, params)
    answer = c.wait_response(rid, 300)
    if "error" in answer:
        raise RuntimeError("%s: %s" % (method, answer["error"]))
    seen, first_at = 0, None
    for n in [n for n in c.notifications if n.get("params", {}).get("token") == token] + [answer]:
        seen += len(n["params"]["value"][key] if "method" in n else n["result"][key])
        if first_at is None and seen >= first:
            first_at = n["_at"]
    c.notifications[:] = [n for n in c.notifications if n.get("params", {}).get("token") != token]
    return answer["_at"] - start, (first_at or answer["_at"]) - start, seen, answer["result"]


def _rg_time(argv: List[str], first_line: bool = False) -> float:
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    if first_line:
        proc.stdout.readline()
        took = time.monotonic() - start
        proc.kill()
        proc.wait()
        return took
    proc.stdout.read()
    proc.wait()
    return time.monotonic() - start


def _searching(root: Path, agent: int) -> List[int]:
    """The agent's search processes (rg, git) running in `root`."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path("/proc/%s/stat" % pid).read_text().rsplit(")", 1)[1].split()
            if int(stat[1]) == agent and os.readlink("/proc/%s/cwd" % pid) == str(root):
                out.append(int(pid))
        except (OSError, IndexError, ValueError):
            continue
    return out


def _ms(seconds: float) -> str:
    return "%.0f ms" % (seconds * 1000)


def rows(work: Path) -> List[Row]:
    from remote_lsp.host.procs import rss_kb

    from bench.local import cpu_ticks
    from tests.support.delay import distant_sshd

    if not Path("/usr/sbin/sshd").exists() or not shutil.which("rg"):
        return [row("search", "-", "skipped: needs sshd and ripgrep", "-", True)]
    root = project(work / "search-project")
    sshd, delay = distant_sshd(work / "search-ssh", SLOW_ALIAS)
    env = sshd.client_env(work / "search-editor-state")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "proxy"), str(REPO)])
    config = str(sshd.home / ".ssh" / "config")
    out: List[Row] = []
    c = _timed_client(PROXY + ["--host", SLOW_ALIAS, "files"], env)
    try:
        c.request("files/stat", {"path": str(root)}, timeout=120)  # the channel up, the agent started
        agent = int((sshd.remote_state / "agent.pid").read_text())
        small = work / "search-small"  # a first search elsewhere: what any search loads, loaded
        small.mkdir()
        (small / "a.py").write_text("x = 1\n")
        _ask(c, "search/files", {"root": str(small)}, "files", 1)
        _ask(c, "search/grep", {"root": str(small), "pattern": "x"}, "matches", 1)
        rss_before = rss_kb(agent)
        before = cpu_ticks(agent)
        time.sleep(IDLE_SECONDS)  # the channel alone, idle (its link's heartbeat): the baseline
        idle_before = cpu_ticks(agent) - before
        cold, _, total, _ = _ask(c, "search/files", {"root": str(root)}, "files", 100)
        time.sleep(1.0)  # the watcher covers the tree a chunk per turn of the loop: let it finish
        rss_after = rss_kb(agent)
        whole, first = [], []
        for _ in range(RUNS):
            w, f, n, _ = _ask(c, "search/files", {"root": str(root)}, "files", 100)
            whole.append(w)
            first.append(f)
            assert n == total
        ssh_rg = []
        for _ in range(3):
            start = time.monotonic()
            got = subprocess.run(["ssh", "-F", config, SLOW_ALIAS, "rg", "--files", str(root)], env=env,
                                 capture_output=True)
            ssh_rg.append(time.monotonic() - start)
            assert got.stdout.count(b"\n") == total, (got.stdout.count(b"\n"), total, got.stderr[-300:])
        before = cpu_ticks(agent)
        time.sleep(IDLE_SECONDS)  # measuring idleness: nothing to wait for but time
        idle = cpu_ticks(agent) - before

        made = root / "pkg07" / "made_on_the_host.py"
        start = time.monotonic()
        made.write_text("x = 1\n")
        found_after = None
        while time.monotonic() - start < 10:
            files = c.request("search/files", {"root": str(root), "query": "made_on_the_host"})["files"]
            if "pkg07/made_on_the_host.py" in files:
                found_after = time.monotonic() - start
                break

        w, s = statistics.median(whole), statistics.median(ssh_rg)
        f = statistics.median(first)
        mb = (rss_after - rss_before) / 1024
        out += [
            row("search: find %d names (warm), 30 ms RTT" % total, "ssh rg --files %s" % _ms(s), _ms(w),
                "<= 0.5x (%s)" % _ms(s / 2), w <= s / 2),
            row("search: find, first 100 names", "-", _ms(f), "<= RTT + 20 ms", f <= RTT + 0.020),
            row("search: first find (walks the tree, then watches it)", "-", _ms(cold), "reported", True),
            row("search: a file made on the host, found", "-", _ms(found_after) if found_after else "never",
                "<= 500 ms", found_after is not None and found_after <= 0.5),
            row("search: agent memory for the list of %d files" % total, "-", "%.1f MB" % mb,
                "<= 30 MB for 100,000", mb <= 30 * max(total, 1) / 100000),
            row("search: agent CPU idle %gs, tree watched" % IDLE_SECONDS,
                "without it %d tick(s)" % idle_before, "%d tick(s)" % idle, "no more", idle <= idle_before),
        ]
        out += _grep_rows(c, root)
        out += _live_rows(c, root, agent, env)
    finally:
        c.close()
        sshd.stop_agent()
        _stop_master(env, work / "search-editor-state")
        delay.close()
        sshd.stop()
    out += _engine_rows(root)
    return out


def _stop_master(env: Dict[str, str], state: Path) -> None:
    """The shared ssh connection the editor side opened, ended by its own control socket."""
    from remote_lsp.editor.hosts import parse_host
    from remote_lsp.editor.transport.openssh import OpenSSH

    saved = os.environ.get("HOME")
    os.environ["HOME"] = env["HOME"]
    try:
        if state.exists():
            OpenSSH(parse_host(SLOW_ALIAS), state).stop_master()
    finally:
        os.environ["HOME"] = saved or ""


def _grep_rows(c: Any, root: Path) -> List[Row]:
    rg = shutil.which("rg") or "rg"
    own = statistics.median(_rg_time([rg, "--vimgrep", "-S", "-e", PATTERN, str(root)]) for _ in range(RUNS))
    own_first = statistics.median(_rg_time([rg, "--vimgrep", "--line-buffered", "-S", "-e", "heaviest",
                                            str(root)], True) for _ in range(RUNS))
    whole, first = [], []
    for _ in range(RUNS):
        whole.append(_ask(c, "search/grep", {"root": str(root), "pattern": PATTERN}, "matches", 1)[0])
        first.append(_ask(c, "search/grep", {"root": str(root), "pattern": "heaviest", "limit": 2000},
                          "matches", 1)[1])
    w, f = statistics.median(whole), statistics.median(first)
    return [
        row("search: grep (rg on the host), whole answer", "rg alone %s" % _ms(own), _ms(w),
            "<= rg + RTT + 10%% (%s)" % _ms((own + RTT) * 1.1), w <= (own + RTT) * 1.1),
        row("search: grep, first match", "rg alone %s" % _ms(own_first), _ms(f),
            "<= RTT + rg + 20 ms (%s)" % _ms(RTT + own_first + 0.020), f <= RTT + own_first + 0.020),
    ]


def _live_rows(c: Any, root: Path, agent: int, env: Dict[str, str]) -> List[Row]:
    """20 keystrokes 50 ms apart: each query replaces the one before. How long a
    replaced search went on after its cancel (until its process was gone) the
    agent measures itself: `status` shows the last ones. What is left running
    once the last answer is in (threads end before their answer goes) is
    looked for in /proc."""
    queries = [TYPED[:n] for n in range(1, 21)]
    sent: List[Tuple[int, float]] = []
    for q in queries:
        sent.append((c.request_async("search/grep", {"root": str(root), "pattern": q, "limit": 2000}),
                     time.monotonic()))
        time.sleep(0.05)  # the typist's pace
    answers = [c.wait_response(rid, 120) for rid, _ in sent]
    left = _searching(root, agent)
    replaced = sum(1 for a in answers if a.get("error", {}).get("code") == -32800)
    status = subprocess.run(PROXY + ["--host", SLOW_ALIAS, "status", "--json"], env=env, capture_output=True)
    stopped = json.loads(status.stdout)["files"]["search"]["stopped_ms"][-replaced:] if replaced else [0.0]
    worst = max(stopped) / 1000
    last_ok = "result" in answers[-1]
    return [
        row("search: live grep, a replaced search ends on the host (%d of 19 replaced, median %.1f ms, "
            "worst)" % (replaced, statistics.median(stopped)), "-", "%.1f ms" % (worst * 1000), "<= 10 ms",
            worst <= 0.010),
        row("search: live grep, 20 keys 50 ms apart: left running after the last answer", "-",
            "%d process(es)" % len(left), "none", not left and last_ok),
    ]


def _engine_rows(root: Path) -> List[Row]:
    """Each engine on the host, the same search, fully read: their ratios to ripgrep."""
    from remote_lsp.host.search import grep

    times: Dict[str, float] = {}
    counts: Dict[str, int] = {}
    for engine in grep.ENGINES:
        runs = []
        for _ in range(3 if engine != "builtin" else 1):
            start = time.monotonic()
            counts[engine] = sum(1 for _ in grep.search(str(root), grep.Query(PATTERN), grep.Job(), engine))
            runs.append(time.monotonic() - start)
        times[engine] = statistics.median(runs)
    rg = times["rg"]
    return [row("search: grep on the host with %s" % engine, "rg %s" % _ms(rg),
                "%s (%.1fx rg)" % (_ms(times[engine]), times[engine] / rg), "reported",
                counts[engine] == counts["rg"]) for engine in ("git", "builtin")]


if __name__ == "__main__":
    from bench.wire import alone

    sys.exit(alone(rows, "rl-bench-search-"))

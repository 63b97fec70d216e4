#!/usr/bin/env python3
"""Files watched on the host: how soon a write on disk reaches the server,
a 5,000-file burst, and what watching a 100,000-file workspace costs the agent.

The server is the scripted one, which notes when each change arrives; the
agent serves its `**/*.py` registration. The cost is measured beside the same
workspace unwatched, in the same run: the agent's RSS before the server
registers and after it watches every directory, and its CPU while idle.
Alone: `bench/watch.py [--files N]`; `make bench` calls `rows(work)`.
"""

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "proxy"), str(REPO)]

from remote_lsp.host.procs import rss_kb  # noqa: E402

from bench.local import cpu_ticks  # noqa: E402
from bench.wire import PROXY, SERVER, Row, Wire, alone, p99, row  # noqa: E402

WRITES = 60
BURST = 5000
WORKSPACE_DIRS, FILES_PER_DIR = 10000, 10  # 100,000 files
IDLE_SECONDS = 5.0
WATCHERS = {"watchers": [{"globPattern": "**/*.py"}]}


def _register(wire: Wire) -> None:
    wire.call("test/serverRequest", {"method": "client/registerCapability", "params": {"registrations": [
        {"id": "bench-watch", "method": "workspace/didChangeWatchedFiles", "registerOptions": WATCHERS}]}})


def _status() -> Dict[str, Any]:
    out = subprocess.run(PROXY + ["status", "--json"], capture_output=True, text=True, check=True).stdout
    return json.loads(out)["instances"][0]


def _until(pred: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("timed out waiting for " + what)
        time.sleep(0.005)


def latency_rows(root: Path) -> List[Row]:
    """One file written at a time, then the time it reached the server; then a burst."""
    root.mkdir()
    wire = Wire(PROXY + ["connect", "--root", str(root), "--"] + SERVER, str(root))
    try:
        _register(wire)
        _until(lambda: _status()["watching"]["directories"], 10, "the watch")
        times = []
        for i in range(WRITES):
            path = root / ("w%d.py" % i)
            uri = path.as_uri()
            t = time.time()
            path.write_text("x = %d\n" % i)
            at = _until(lambda u=uri: wire.call("test/state", None)["watched_at"].get(u), 10, "a change")
            times.append(at - t)
        first = time.time()
        uris = []
        for d in range(BURST // 100):
            (root / ("pkg%d" % d)).mkdir()
            for i in range(100):
                path = root / ("pkg%d" % d) / ("m%d.py" % i)
                path.write_text("x = %d\n" % i)
                uris.append(path.as_uri())
        last_write = time.time()
        state = _until(lambda: (lambda s: s if all(u in s["watched_at"] for u in uris) else None)(
            wire.call("test/state", None)), 60, "the burst")
        last_event = max(state["watched_at"][u] for u in uris)
        once = all(state["watched"][u] == [1] for u in uris)
        batches = state["watched_batches"] - WRITES
    finally:
        wire.close()
    p50 = statistics.median(times)
    return [
        row("write on disk -> server's didChangeWatchedFiles", "-",
            "p50 %.0f ms, p99 %.0f ms" % (p50 * 1000, p99(times) * 1000), "p50 <= 100 ms, p99 <= 300 ms",
            p50 <= 0.1 and p99(times) <= 0.3),
        row("%d-file burst: to its last event" % BURST, "written in %.2f s" % (last_write - first),
            "%.2f s after the first write, %.0f ms after the last; %d batches%s" % (
                last_event - first, (last_event - last_write) * 1000, batches, "" if once else ", REPEATS"),
            "<= 2 s, each file once", last_event - last_write <= 2.0 and once),
    ]


def _workspace(root: Path) -> None:
    for d in range(WORKSPACE_DIRS):
        sub = root / ("d%02d" % (d % 100)) / ("p%d" % d)
        sub.mkdir(parents=True)
        for i in range(FILES_PER_DIR):
            (sub / ("m%d.py" % i)).write_bytes(b"")


def cost_rows(root: Path, home: Path) -> List[Row]:
    """The agent's RSS and idle CPU with the workspace unwatched, then watched."""
    root.mkdir()
    _workspace(root)
    wire = Wire(PROXY + ["connect", "--root", str(root), "--"] + SERVER, str(root))
    try:
        agent = int((home / "agent.pid").read_text())
        unwatched = rss_kb(agent)
        t = time.perf_counter()
        _register(wire)
        watching = _until(lambda: (lambda w: w if w["directories"] > WORKSPACE_DIRS else None)(
            _status()["watching"]), 120, "the whole workspace watched")
        walk = time.perf_counter() - t
        time.sleep(1.0)  # let the walk's garbage go before measuring
        watched = rss_kb(agent)
        before = cpu_ticks(agent)
        time.sleep(IDLE_SECONDS)  # measuring idleness: nothing to wait for but time
        idle = cpu_ticks(agent) - before
    finally:
        wire.close()
    files = WORKSPACE_DIRS * FILES_PER_DIR
    extra = watched - unwatched
    return [
        row("agent RSS, %d files / %d dirs watched" % (files, watching["directories"]),
            "%.1f MB unwatched" % (unwatched / 1024), "%.1f MB (+%.1f MB; %s, walked in %.1f s)" % (
                watched / 1024, extra / 1024, watching["mode"], walk), "<= +30 MB", extra <= 30 * 1024),
        row("agent CPU idle %gs, %d files watched" % (IDLE_SECONDS, files), "-", "%d ticks" % idle, "0 ticks",
            idle == 0),
    ]


def rows(work: Path) -> List[Row]:
    home = Path(os.environ["REMOTE_LSP_HOME"])
    try:
        out = latency_rows(work / "watch-latency")
    finally:
        subprocess.run(PROXY + ["stop", "--agent"], capture_output=True)
    try:
        out += cost_rows(work / "watch-cost", home)
    finally:
        subprocess.run(PROXY + ["stop", "--agent"], capture_output=True)
    return out


def main() -> int:
    global WORKSPACE_DIRS
    if "--dirs" in sys.argv:
        WORKSPACE_DIRS = int(sys.argv[sys.argv.index("--dirs") + 1])
    def rows_here(work: Path) -> List[Row]:
        os.environ["REMOTE_LSP_HOME"] = str(work / "state")
        return rows(work)

    return alone(rows_here, "rl-bench-watch-")


if __name__ == "__main__":
    sys.exit(main())

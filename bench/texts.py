#!/usr/bin/env python3
"""What answering each client on its own text costs (sharing contract 14).

Two clients share the scripted server through the agent, both with the same
5,000-line file open. A request about the file costs, against the same request
about a file nobody has open: nothing measurable when the two texts agree (a
pointer compare), and one full-text change when they differ (the requester's
text goes first). That full-text change is measured beside it, sent by a third
client on its own copy of the file. The mux alone, in process, is timed too:
there the cost of agreeing texts is a few microseconds or nothing.
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
from typing import Any, Dict, List

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "proxy"), str(REPO)]

from bench.wire import PROXY, SERVER, Row, Wire, row, spread  # noqa: E402

LINES = 5000
RUNS = 60  # the scripted server keeps every change: a few MB each run
MUX_RUNS = 20000


def big_text() -> str:
    return "".join("def f%d(x: int) -> int:  # line %d of a large module\n" % (i, i) for i in range(LINES))


def _open(wire: Wire, uri: str, text: str) -> None:
    wire.send({"jsonrpc": "2.0", "method": "textDocument/didOpen",
               "params": {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}}})


def _edit(wire: Wire, uri: str, version: int, full: str = "") -> None:
    change: Dict[str, Any] = {"text": full} if full else {
        "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}, "text": "#"}
    wire.send({"jsonrpc": "2.0", "method": "textDocument/didChange",
               "params": {"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]}})


def _ask(uri: str) -> Dict[str, Any]:
    return {"textDocument": {"uri": uri}, "position": {"line": 10, "character": 4}}


def through_agent(root: str) -> Dict[str, List[float]]:
    """Seconds per request of b, alternated run by run, as the cases go."""
    connect = PROXY + ["connect", "--root", root, "--"] + SERVER
    a, b, c = Wire(connect, root), Wire(connect, root), Wire(connect, root)
    shared, alone, other = (Path(root, name).as_uri() for name in ("shared.py", "alone.py", "other.py"))
    text = big_text()
    out: Dict[str, List[float]] = {"no document": [], "agree": [], "differ": [], "full-text change": []}
    try:
        for wire in (a, b):
            _open(wire, shared, text)
        _open(c, other, text)
        for _ in range(50):  # warm up
            b.call("test/echo", _ask(alone))
            b.call("test/echo", _ask(shared))
        for i in range(RUNS):
            for wire in (a, b, c):  # what the server still has to do lands outside the timings
                wire.call("test/echo", _ask(alone))
            cases = [("no document", alone), ("agree", shared)]
            for name, uri in cases if i % 2 else cases[::-1]:  # neither always first
                t = time.perf_counter()
                b.call("test/echo", _ask(uri))
                out[name].append(time.perf_counter() - t)
            # c's full-text change then its request: what one full-text change adds.
            t = time.perf_counter()
            _edit(c, other, i + 2, text)
            c.call("test/echo", _ask(other))
            out["full-text change"].append(time.perf_counter() - t)
            # a types (unsaved): the server holds a's text; b asks on its own.
            _edit(a, shared, i + 2)
            a.call("test/echo", _ask(shared))
            t = time.perf_counter()
            b.call("test/echo", _ask(shared))
            out["differ"].append(time.perf_counter() - t)
            _edit(b, shared, i + 2)  # b makes the same edit: the texts agree again
    finally:
        for wire in (a, b, c):
            wire.close()
    return out


def in_process() -> Dict[str, List[float]]:
    """The mux alone: b's request about the shared file, or about a file nobody has open."""
    from tests.support.muxharness import Harness

    h = Harness()
    a, b = h.ready_client(), h.ready_client()
    text = big_text()
    for client in (a, b):
        client.notify("textDocument/didOpen", {"textDocument": {
            "uri": "file:///w/shared.py", "languageId": "python", "version": 1, "text": text}})
    out: Dict[str, List[float]] = {"no document": [], "agree": []}
    mux = h.mux
    for i in range(MUX_RUNS):
        for name, uri in (("no document", "file:///w/alone.py"), ("agree", "file:///w/shared.py")):
            msg = json.loads(json.dumps({"jsonrpc": "2.0", "id": i, "method": "textDocument/hover",
                                         "params": _ask(uri)}))
            t = time.perf_counter()
            mux.from_client(b.id, msg)
            out[name].append(time.perf_counter() - t)
            h.to_server.clear()
    return out


def rows(root: str) -> List[Row]:
    mux = in_process()
    lat = through_agent(root)
    base = statistics.median(lat["no document"])
    full = statistics.median(lat["full-text change"]) - base
    agree = statistics.median(lat["agree"]) - base
    differ = statistics.median(lat["differ"]) - base
    mux_agree = (statistics.median(mux["agree"]) - statistics.median(mux["no document"])) * 1e6
    return [
        row("texts: mux alone, request about no open document", "-", spread(mux["no document"], 1e6, "us"),
            "baseline", True),
        row("texts: mux alone, added when texts agree", "-", "%+.1f us" % mux_agree, "<= 5 us",
            mux_agree <= 5),
        row("texts: request about no open document (%d lines open)" % LINES, "-",
            spread(lat["no document"], 1e6, "us"), "baseline", True),
        row("texts: added when texts agree", "-", "%+.0f us" % (agree * 1e6), "<= 50 us (noise)",
            agree <= 50e-6),
        row("texts: added when texts differ", "one full-text change: +%.2f ms" % (full * 1e3),
            "+%.2f ms" % (differ * 1e3), "<= one full-text change + 25%", differ <= full * 1.25),
    ]


def main() -> int:
    root = tempfile.mkdtemp(prefix="rl-bench-texts-")
    os.environ.setdefault("REMOTE_LSP_HOME", str(Path(root) / "state"))
    try:
        found = rows(root)
    finally:
        subprocess.run(PROXY + ["stop", "--agent"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
    widths = [max(len(r[i]) for r in found) for i in range(5)]
    for r in found:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0 if all(r[-1] == "ok" for r in found) else 1


if __name__ == "__main__":
    sys.exit(main())

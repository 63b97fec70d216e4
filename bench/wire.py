"""The benchmarks' client and figures: one lean LSP client per path, timed
side by side (request by request, so every path sees the same machine)."""

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "proxy"), str(REPO)]

from remote_lsp.wire.framing import FrameParser, encode  # noqa: E402

SERVER = [sys.executable, str(REPO / "tests" / "support" / "scripted_server.py")]
PROXY = [sys.executable, str(REPO / "proxy" / "proxy.py")]
RELAY = [sys.executable, str(REPO / "bench" / "relay.py")]
BIG = 4 * 1024 * 1024
LOCATIONS = 30000
Row = Tuple[str, str, str, str, str]


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


def row(name: str, baseline: str, value: str, goal: str, ok: bool) -> Row:
    return (name, baseline, value, goal, "ok" if ok else "MISSED")


def p99(values: Sequence[float]) -> float:
    return sorted(values)[int(len(values) * 0.99)]


def spread(values: Sequence[float], scale: float, unit: str) -> str:
    """Median with the middle half of the runs: '412 us (388-440)'."""
    s = sorted(values)
    q1, q3 = s[len(s) // 4], s[(3 * len(s)) // 4]
    return "%.0f %s (%.0f-%.0f)" % (statistics.median(s) * scale, unit, q1 * scale, q3 * scale)


def latencies(paths: Dict[str, Wire], count: int) -> Dict[str, List[float]]:
    """Small requests, the paths alternated request by request."""
    for _ in range(200):  # warm up
        for wire in paths.values():
            wire.call("test/echo", {"x": 1})
    out: Dict[str, List[float]] = {name: [] for name in paths}
    for i in range(count):
        params = {"textDocument": {"uri": "file:///x.py"}, "position": {"line": i, "character": 4}}
        for name, wire in paths.items():
            t = time.perf_counter()
            wire.call("test/echo", params)
            out[name].append(time.perf_counter() - t)
    return out


def timed(paths: Dict[str, Wire], method: str, params: Any, runs: int) -> Dict[str, List[float]]:
    """Seconds per call of one large answer, the paths alternated run by run."""
    for wire in paths.values():
        wire.call(method, params)
    out: Dict[str, List[float]] = {name: [] for name in paths}
    for _ in range(runs):
        for name, wire in paths.items():
            t = time.perf_counter()
            wire.call(method, params)
            out[name].append(time.perf_counter() - t)
    return out


def alone(rows: Any, prefix: str) -> int:
    """A benchmark module run by itself (`python bench/NAME.py`): its rows in a
    fresh work directory, printed; 1 if a goal is missed."""
    import shutil
    import tempfile

    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        found = rows(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for r in found:
        print("  ".join(r))
    return 0 if all(r[-1] == "ok" for r in found) else 1

"""Where the time goes: the agent (locally) and the bridge (over SSH) run
under cProfile while they carry the benchmark's loads; the functions that
cost the most go into docs/benchmarks.md."""

import io
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

from bench.wire import LOCATIONS, PROXY, REPO, SERVER, Wire

TOP = 8
LOADS = (("small requests", "test/echo", {"x": 1}, 3000), ("30,000-location answers", "test/locations",
                                                            {"count": LOCATIONS}, 10))


def run(work: Path) -> Dict[str, List[str]]:
    """{"agent: <load>": lines, "bridge: <load>": lines}."""
    out: Dict[str, List[str]] = {}
    for label, method, params, count in LOADS:
        out["agent, %s" % label] = _agent(work, method, params, count)
        bridge = _bridge(work, method, params, count)
        if bridge:
            out["bridge (openssh), %s" % label] = bridge
    return out


def _top(path: str, seconds: float, count: int) -> List[str]:
    buf = io.StringIO()
    stats = pstats.Stats(path, stream=buf)
    stats.sort_stats("tottime").print_stats(TOP)
    lines = [line.rstrip() for line in buf.getvalue().splitlines() if line.strip()]
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    head = "%d calls in %.2f s of wall time, %.0f us each; the %d functions that cost the most:" % (
        count, seconds, seconds / count * 1e6, TOP)
    return [head] + [line.replace(str(REPO) + "/", "") for line in lines[start:]]


def _agent(work: Path, method: str, params: dict, count: int) -> List[str]:
    home = Path(tempfile.mkdtemp(prefix="prof-", dir=str(work)))
    env = dict(os.environ, REMOTE_LSP_HOME=str(home / "state"))
    out = str(home / "agent.prof")
    argv = [sys.executable, "-m", "cProfile", "-o", out] + PROXY[1:] + ["agent", "--foreground"]
    agent = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not (home / "state" / "agent.sock").exists():
        if time.monotonic() > deadline or agent.poll() is not None:
            return ["the agent did not start under the profiler"]
        time.sleep(0.05)  # the socket appears: no event to wait on from here
    wire = Wire(PROXY + ["connect", "--root", str(work), "--"] + SERVER, str(work), env)
    t = time.perf_counter()
    for _ in range(count):
        wire.call(method, params)
    seconds = time.perf_counter() - t
    wire.close()
    subprocess.run(PROXY + ["stop", "--agent"], env=env, capture_output=True)
    agent.wait(30)
    return _top(out, seconds, count)


def _bridge(work: Path, method: str, params: dict, count: int) -> List[str]:
    from tests.support.sshd import ALIAS, Sshd

    if not Path("/usr/sbin/sshd").exists():
        return []
    base = Path(tempfile.mkdtemp(prefix="prof-ssh-", dir="/tmp"))
    path = os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"])
    sshd = Sshd(base, path).start()
    env = sshd.client_env(base / "editor-state")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    out = str(base / "bridge.prof")
    try:
        argv = [sys.executable, "-m", "cProfile", "-o", out] + PROXY[1:] + [
            "--host", ALIAS, "connect", "--root", str(work), "--"] + SERVER
        wire = Wire(argv, str(work), env)
        params = dict(params, root=str(work)) if "count" in params else params
        t = time.perf_counter()
        for _ in range(count):
            wire.call(method, params)
        seconds = time.perf_counter() - t
        wire.close()
        subprocess.run(PROXY + ["--host", ALIAS, "stop", "--agent"], env=env, capture_output=True)
        return _top(out, seconds, count)
    finally:
        sshd.stop()
        subprocess.run(["pkill", "-f", "ControlPath=%s" % (base / "editor-state")], capture_output=True)

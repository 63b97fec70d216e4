"""What sharing one server buys: memory, and warm answers instead of cold ones.

Both sides of each comparison run in the same `make bench` on the same
generated project (bench/genproject.py), with real language servers.
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "proxy"), str(REPO)]

from remote_lsp.host.connect import WAITER_SHELL  # noqa: E402
from remote_lsp.host.procs import all_pids  # noqa: E402

from bench.genproject import CHAIN, c_project, py_symbol, python_project  # noqa: E402
from tests.support.lspclient import LspClient  # noqa: E402

PROXY = [sys.executable, str(REPO / "proxy" / "proxy.py")]
SESSIONS = 4
COLD_RUNS = 3
WARM_RUNS = 7


def server_argv(name: str) -> Optional[List[str]]:
    """The command for a benchmarked server, or None if it is not installed."""
    npm_bin = str(REPO / ".venv" / "npm" / "node_modules" / ".bin")
    path = os.pathsep.join([npm_bin, os.environ.get("PATH", "")])
    exe = {"pylsp": "pylsp", "pyright": "pyright-langserver", "clangd": "clangd"}[name]
    found = shutil.which(exe, path=path)
    if found is None:
        return None
    return {"pylsp": [found], "pyright": [found, "--stdio"],
            "clangd": [found, "--background-index", "--log=error"]}[name]


# --- memory of a set of processes ---------------------------------------------------------

def descendants(pid: int) -> List[int]:
    children: Dict[int, List[int]] = {}
    for child in all_pids():
        try:
            with open("/proc/%d/stat" % child) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(child)
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def memory_kb(pids: List[int]) -> Tuple[int, int]:
    """(sum of RSS, sum of PSS): PSS splits shared pages between the processes
    that share them, so it is the honest total; RSS counts them again each time."""
    rss = pss = 0
    for pid in pids:
        try:
            with open("/proc/%d/smaps_rollup" % pid) as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            pass
    return rss, pss


# --- one editor session's work --------------------------------------------------------------

class Project:
    def __init__(self, kind: str, root: Path) -> None:
        self.kind = kind
        self.root = root
        if kind == "python":
            self.main = root / "main.py"
            self.language = "python"
            self.hover_at = (2, 10)  # Gadget1999(...) in main.py, defined in pkg19/mod1999.py
            self.symbol = py_symbol(CHAIN * 3 + 1)  # in a module main.py never imports
        else:
            self.main = root / "src" / "main.c"
            self.language = "c"
            self.hover_at = (4, 24)  # gadget_0999(3), declared in unit0999.h
            self.symbol = "weigh_%04d" % 1  # defined in unit0001.c only


def hover_answer(client: LspClient, project: Project, uri: str) -> None:
    """Hover on a symbol defined in another file, until it says something."""
    deadline = time.monotonic() + 600
    while True:
        result = client.hover(uri, *project.hover_at, timeout=600)
        if result and "contents" in result:
            return
        if time.monotonic() > deadline:
            raise TimeoutError("no hover from %s" % client.name)


def symbol_answer(client: LspClient, project: Project, uri: str = "") -> None:
    """workspace/symbol until the project's far-away symbol is in the answer
    (clangd answers from its background index, which fills up over time)."""
    deadline = time.monotonic() + 900
    while True:
        found = client.request("workspace/symbol", {"query": project.symbol}, timeout=600) or []
        if any(s.get("name") == project.symbol for s in found):
            return
        if time.monotonic() > deadline:
            raise TimeoutError("%s never found %s" % (client.name, project.symbol))
        time.sleep(0.05)  # polling an index that has no "done" event of its own


def handed_off(pid: int) -> bool:
    """True once `connect` has given its pipes to the agent and become the waiter."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().startswith(WAITER_SHELL.encode() + b"\0-c\0")
    except OSError:
        return False


def session(argv: List[str], project: Project, name: str, env: Dict[str, str],
            answer: Callable[[LspClient, Project, str], None]) -> Tuple[LspClient, float]:
    """Start a client, then time initialize, opening the main file and the answer.
    The clock starts at `initialize`, once `connect` has handed its pipes to the
    agent: a process start is the same on both sides and is not the question."""
    client = LspClient(argv, cwd=str(project.root), env=env, name=name)
    if argv[:len(PROXY)] == PROXY:
        deadline = time.monotonic() + 60
        while not handed_off(client.proc.pid):  # no event for an exec: poll /proc
            if time.monotonic() > deadline or client.proc.poll() is not None:
                raise TimeoutError("%s never handed off (stderr: %s)" % (name, client.stderr))
            time.sleep(0.002)
    t = time.perf_counter()
    client.initialize(str(project.root), timeout=600)
    uri = client.open(str(project.main), language=project.language)
    answer(client, project, uri)
    return client, time.perf_counter() - t


def own_work(index: int) -> Callable[[LspClient, Project, str], None]:
    """What one of several developers does: the shared main file, then a
    module of their own, each with a hover across files."""
    def work(client: LspClient, project: Project, uri: str) -> None:
        hover_answer(client, project, uri)
        n = index * 500 + 7  # pkg00, pkg05, pkg10, pkg15: far apart
        mine = client.open(str(project.root / ("pkg%02d" % (n // 100)) / ("mod%04d.py" % n)))
        client.hover(mine, 34, 28, timeout=600)  # previous() -> the preceding module's class
    return work


def connect_argv(server: List[str], root: Path) -> List[str]:
    return PROXY + ["connect", "--root", str(root), "--"] + server


def agent_env(home: Path) -> Dict[str, str]:
    return dict(os.environ, REMOTE_LSP_HOME=str(home))


def stop_agent(env: Dict[str, str]) -> None:
    subprocess.run(PROXY + ["stop", "--agent"], env=env, capture_output=True, timeout=120)


def close_all(clients: List[LspClient]) -> None:
    for c in clients:
        if c.proc.poll() is None:
            c.proc.kill()
            c.proc.wait()


# --- the comparisons ----------------------------------------------------------------------------

def memory(server: str, project: Project, work: Path) -> Dict[str, Any]:
    """SESSIONS sessions, each with its own server, against SESSIONS sessions
    through remote-lsp sharing one: total memory of every process involved."""
    argv = server_argv(server)
    assert argv is not None
    separate = [session(argv, project, "own-%d" % i, dict(os.environ), own_work(i))[0]
                for i in range(SESSIONS)]
    own = memory_kb([p for c in separate for p in descendants(c.proc.pid)])
    close_all(separate)

    env = agent_env(work / ("mem-" + server))
    shared = [session(connect_argv(argv, project.root), project, "shared-%d" % i, env, own_work(i))[0]
              for i in range(SESSIONS)]
    agent_pid = int((work / ("mem-" + server) / "agent.pid").read_text())
    pids = descendants(agent_pid) + [c.proc.pid for c in shared]
    together = memory_kb(pids)
    ours = memory_kb([agent_pid] + [c.proc.pid for c in shared])  # what remote-lsp itself costs
    close_all(shared)
    stop_agent(env)
    return {"server": server, "sessions": SESSIONS, "separate_rss_kb": own[0], "separate_pss_kb": own[1],
            "shared_rss_kb": together[0], "shared_pss_kb": together[1], "remote_lsp_pss_kb": ours[1]}


def warm_cold(server: str, project: Project, work: Path, ask: Callable[[LspClient, Project, str], None],
              what: str) -> Dict[str, Any]:
    """Seconds from starting a session to the first useful answer: with the
    server cold (a new agent, a new server, clangd's on-disk index removed),
    and warm (another session already has the server indexed)."""
    argv = server_argv(server)
    assert argv is not None
    cold = []
    for i in range(COLD_RUNS):
        shutil.rmtree(project.root / ".cache", ignore_errors=True)  # clangd's index on disk
        env = agent_env(work / ("cold-%s-%d" % (server, i)))
        client, seconds = session(connect_argv(argv, project.root), project, "cold", env, ask)
        cold.append(seconds)
        close_all([client])
        stop_agent(env)
    env = agent_env(work / ("warm-" + server))
    keeper, _ = session(connect_argv(argv, project.root), project, "keeper", env, ask)
    warm = []
    for _ in range(WARM_RUNS):
        client, seconds = session(connect_argv(argv, project.root), project, "warm", env, ask)
        warm.append(seconds)
        client.close()
    close_all([keeper])
    stop_agent(env)
    return {"server": server, "what": what, "cold_s": cold, "warm_s": warm,
            "cold_median_s": statistics.median(cold), "warm_median_s": statistics.median(warm)}


def generate(work: Path) -> Dict[str, Project]:
    t = time.perf_counter()
    projects = {"python": Project("python", python_project(work / "py")),
                "c": Project("c", c_project(work / "c"))}
    print("generated projects in %.1f s" % (time.perf_counter() - t), file=sys.stderr)
    return projects


def run(work: Path) -> Dict[str, Any]:
    projects = generate(work)
    out: Dict[str, Any] = {"memory": [], "warm_cold": [], "skipped": []}
    for server in ("pylsp", "pyright"):
        if server_argv(server) is None:
            out["skipped"].append("%s is not installed" % server)
            continue
        print("memory: %s" % server, file=sys.stderr)
        out["memory"].append(memory(server, projects["python"], work))
    for server, project in (("pyright", projects["python"]), ("clangd", projects["c"])):
        if server_argv(server) is None:
            out["skipped"].append("%s is not installed" % server)
            continue
        print("warm/cold: %s" % server, file=sys.stderr)
        for ask, what in ((hover_answer, "hover on a symbol from another file"),
                          (symbol_answer, "workspace/symbol")):
            out["warm_cold"].append(warm_cold(server, project, work, ask, what))
    return out


if __name__ == "__main__":
    import json

    base = Path(tempfile.mkdtemp(prefix="rl-share-", dir="/tmp"))
    try:
        print(json.dumps(run(base), indent=2))
    finally:
        shutil.rmtree(base, ignore_errors=True)

"""docs/benchmarks.md and its one plot, written from a `make bench` run."""

import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
# What follows this line in docs/benchmarks.md is written by hand (what the figures say, how they moved
# from run to run) and carried over by every run.
KEEP = "<!-- Below this line: written by hand; `make bench` keeps it. -->"


def _first_line(argv: Sequence[str]) -> str:
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    text = (done.stdout or done.stderr).strip().splitlines()
    return text[0] if text else "?"


def machine() -> Dict[str, str]:
    """Where the figures came from: they mean little without it."""
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    distro = "?"
    if os.path.exists("/etc/os-release"):
        found = re.search(r'^PRETTY_NAME="?([^"\n]*)', Path("/etc/os-release").read_text(), re.M)
        distro = found.group(1) if found else distro
    from importlib import metadata

    try:
        pylsp = metadata.version("python-lsp-server")
    except metadata.PackageNotFoundError:
        pylsp = "not installed"
    pyright_pkg = REPO / ".venv" / "npm" / "node_modules" / "pyright" / "package.json"
    pyright = "not installed"
    if pyright_pkg.exists():
        import json

        pyright = json.loads(pyright_pkg.read_text())["version"]
    import remote_lsp

    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": "%s, %d cores" % (cpu, os.cpu_count() or 0),
        "memory": "%.1f GiB" % (mem_kb / 1024 / 1024),
        "system": "%s, Linux %s" % (distro, platform.release()),
        "python": sys.version.split()[0],
        "remote-lsp": remote_lsp.__version__,
        "pylsp": pylsp,
        "pyright": pyright,
        "clangd": _first_line(["clangd", "--version"]),
        "node": _first_line(["node", "--version"]),
        "openssh": _first_line(["ssh", "-V"]),
    }


def _table(header: Sequence[str], rows: List[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _mb(kb: int) -> str:
    return "%.0f MB" % (kb / 1024)


def memory_rows(results: List[Dict[str, Any]]) -> List[List[str]]:
    rows = []
    for m in results:
        ratio = m["shared_pss_kb"] / m["separate_pss_kb"]
        rows.append([m["server"], str(m["sessions"]), _mb(m["separate_pss_kb"]), _mb(m["shared_pss_kb"]),
                     _mb(m["remote_lsp_pss_kb"]), "%.2f" % ratio, _mb(m["separate_rss_kb"]),
                     _mb(m["shared_rss_kb"]),
                     "ok" if ratio <= 1 / 3 else "MISSED"])
    return rows


def warm_cold_rows(results: List[Dict[str, Any]]) -> List[List[str]]:
    rows = []
    for w in results:
        speedup = w["cold_median_s"] / w["warm_median_s"]
        rows.append([w["server"], w["what"],
                     "%.2f s (%s)" % (w["cold_median_s"], ", ".join("%.2f" % s for s in w["cold_s"])),
                     "%.0f ms (%.0f-%.0f)" % (w["warm_median_s"] * 1000, min(w["warm_s"]) * 1000,
                                              max(w["warm_s"]) * 1000),
                     "%.0fx" % speedup, "ok" if speedup >= 20 else "MISSED"])
    return rows


def memory_svg(results: List[Dict[str, Any]]) -> str:
    """Horizontal bars: each server, separate sessions against one shared server."""
    bar_h, gap, left, width = 22, 14, 190, 460
    top = 40
    most = max([m["separate_pss_kb"] for m in results] + [1])
    parts = ['<text x="10" y="22" font-size="15" font-weight="bold">Total memory (PSS) of %d editor '
             'sessions</text>' % (results[0]["sessions"] if results else 0)]
    y = top
    for m in results:
        for label, kb, color in (("%s, a server each" % m["server"], m["separate_pss_kb"], "#b0b0b0"),
                                 ("%s, shared" % m["server"], m["shared_pss_kb"], "#2f7ed8")):
            w = max(1, int(width * kb / most))
            parts.append('<text x="10" y="%d" font-size="13">%s</text>' % (y + 16, label))
            parts.append('<rect x="%d" y="%d" width="%d" height="%d" fill="%s"/>'
                         % (left, y, w, bar_h, color))
            parts.append('<text x="%d" y="%d" font-size="13">%s</text>' % (left + w + 6, y + 16, _mb(kb)))
            y += bar_h + 4
        y += gap
    height = y + 10
    return ('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif">\n'
            '<rect width="100%%" height="100%%" fill="white"/>\n%s\n</svg>\n'
            % (left + width + 90, height, "\n".join(parts)))


def write(overhead: List[Sequence[str]], sharing: Dict[str, Any], profiles: Dict[str, List[str]],
          command: str) -> Path:
    DOCS.mkdir(exist_ok=True)
    facts = machine()
    if sharing.get("memory"):
        (DOCS / "benchmarks-memory.svg").write_text(memory_svg(sharing["memory"]))
    out = ["# Benchmarks", "",
           "Written by `%s` on the machine below; every comparison in a table was measured side by"
           " side in the same run. Rerun it to get your own figures." % command, "",
           _table(["machine", ""], [[k, v] for k, v in facts.items()]), ""]
    if sharing.get("memory"):
        out += ["## Memory: one shared server against one server per session", "",
                "The generated project (`bench/genproject.py`): 2,000 Python modules. Each session"
                " initializes, opens `main.py` and hovers a class defined in another module, then opens a"
                " module of its own (a different package per session) and hovers there."
                " Totals cover every process involved: the servers and their"
                " children; for the shared setup also the agent and each session's `connect` process."
                " PSS splits pages shared between processes among them, so it is the honest total;"
                " RSS counts shared pages once per process. Goal: shared at most 1/3 of separate.", "",
                "![memory](benchmarks-memory.svg)", "",
                _table(["server", "sessions", "separate (PSS)", "shared (PSS)",
                        "of which agent + connects", "ratio",
                        "separate (RSS)", "shared (RSS)", "goal <= 1/3"], memory_rows(sharing["memory"])), ""]
    if sharing.get("warm_cold"):
        out += ["## Warm against cold: time to the first useful answer", "",
                "From starting a new session (`remote-lsp connect`) through `initialize` and opening"
                " the main file to the answer: cold is a new agent and a new server (clangd's on-disk"
                " index removed first), warm is a server another session already has indexed. pyright"
                " works on the Python project above; clangd on 1,000 generated C units with a"
                " `compile_commands.json`, main.c seeing them all through an umbrella header. Median"
                " of %d cold and %d warm runs, each run listed or the spread given. Goal: warm at least"
                " 20 times faster." % (len(sharing["warm_cold"][0]["cold_s"]),
                                      len(sharing["warm_cold"][0]["warm_s"])), "",
                _table(["server", "answer", "cold: median (runs)", "warm: median (min-max)", "speed-up",
                        "goal >= 20x"], warm_cold_rows(sharing["warm_cold"])), ""]
    out += ["## Overhead, surviving the agent and the network, attach", "",
            "Every row against its baseline in the same run, medians with the middle half of the runs in"
            " brackets. Small request: `test/echo` answered by the scripted server"
            " (`tests/support/scripted_server.py`), the paths alternated request by request. Locally the"
            " baselines are the server direct, a bare Python relay (`bench/relay.py`: a selector loop,"
            " os.read and os.write) and socat, the floor of any relay process. Over SSH (a private sshd"
            " on 127.0.0.1, so the figures are what remote-lsp adds to SSH, not a network) the baseline"
            " is the same server through a plain pipe on the same sshd: `ssh HOST SERVER` for openssh,"
            " one paramiko channel (`bench/paramiko_pipe.py`) for paramiko. The 30,000-location answer"
            " is what a references request on a large project returns: every URI translated. A host's"
            " first openssh session runs `connect` there; later ones (\"straight to the agent\") reach"
            " the agent's socket through a socket the shared ssh connection forwards. CPU per round"
            " trip is each process's user + system time from /proc over 3,000 small requests.", "",
            _table(["measure", "baseline", "through remote-lsp", "goal", ""], overhead), ""]
    if profiles:
        out += ["## Where the time goes", "",
                "On a small request every process of the path works in turn, so the latency is the sum"
                " of their steps: the CPU rows above say whose work it is. A bare Python relay spends"
                " 100 to 140 us of CPU per round trip on this machine (two reads, two writes, two waits"
                " in epoll, and the interpreter around them), so two of them already add more than the"
                " 300 us goal; the bridge and the agent spend a few tens of us each more than a relay"
                " (the link's numbering, the request's bookkeeping, the id put back, asyncio's"
                " dispatch). A large answer over SSH: the agent takes it whole before it sends it on,"
                " because putting the client's id back and translating names changes its length, which"
                " its header, written first, must give; that copy is a step the pipeline cannot overlap,"
                " and it keeps the 4 MB row at the two-relay floor. cProfile of the agent (locally)"
                " and of the editor-side bridge (over SSH,"
                " openssh) while they carry the loads above; most of the wall time is spent waiting in"
                " `epoll.poll`, for the other processes of the path.", ""]
        for title, lines in profiles.items():
            out += ["%s: %s" % (title, lines[0]), "", "```"] + lines[1:] + ["```", ""]
    for note in sharing.get("skipped", []):
        out.append("- skipped: %s" % note)
    path = DOCS / "benchmarks.md"
    path.write_text("\n".join(out).rstrip() + "\n" + kept(path))
    return path


def kept(path: Path) -> str:
    """The hand-written part of the report at `path` (from KEEP on), to carry over."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return ""
    at = text.find(KEEP)
    return "\n" + text[at:] if at >= 0 else ""

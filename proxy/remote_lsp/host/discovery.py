"""`list` and `processes`: the language servers (or matching processes) here.

Where psutil is importable (an editor's machine, macOS included) it reads the
process table; on a host, where remote-lsp runs with the standard library
only, /proc does. Both give the same rows; what only /proc can tell (what a
process's stdin and stdout are) says "unknown" without it.
"""

import os
import pwd
import re
from typing import Any, Dict, Iterator, List, Optional, Tuple

from remote_lsp.host import procs

try:
    import psutil
except ImportError:  # the host side: standard library only
    psutil = None  # type: ignore[assignment]

Row = Dict[str, Any]


def find(pattern: Optional[str] = None, our_fifos: str = "") -> List[Row]:
    """Language servers, or with a pattern, processes whose command line matches it."""
    rx = re.compile(pattern) if pattern else None
    rows = []
    servers = []
    for p, row, kind in _scan(our_fifos):
        if not p.argv or p.state == "Z" or _is_remote_lsp(p.argv):
            continue
        if rx is not None:
            if rx.search(" ".join(p.argv)):
                rows.append(row)
        elif kind is not None:
            servers.append((p, row))
    return rows if rx is not None else [row for p, row in servers if not _wrapper(p, row, servers)]


def describe(pid: int, our_fifos: str = "") -> Optional[Row]:
    """The row of one process (a managed server found by pid), or None."""
    found = next(_scan(our_fifos, only=pid), None)
    return found[1] if found is not None else None


def _wrapper(p: procs.Proc, row: Row, servers: List[Any]) -> bool:
    """p only waits for a child that is the same server on the same stdin (as
    npm's Node script `biome` runs the binary): the child is the one listed."""
    stdin = procs.fd_target(p.pid, 0)
    return bool(stdin) and any(
        c.ppid == p.pid and c_row["name"] == row["name"] and procs.fd_target(c.pid, 0) == stdin
        for c, c_row in servers)


def _scan(our_fifos: str, only: Optional[int] = None) -> Iterator[Any]:
    """(process, its row, the server it is or None) for every process, or the one pid."""
    me = os.getpid()
    if psutil is not None:
        yield from _scan_psutil(our_fifos, me, only)
        return
    for pid in [only] if only is not None else procs.all_pids():
        if pid == me:
            continue
        p = procs.read_proc(pid)
        if p is not None:
            yield _row(p, procs.boot_time() + p.start_ticks / procs.CLK_TCK, procs.rss_kb(pid),
                       procs.cwd(pid), our_fifos)


def _scan_psutil(our_fifos: str, me: int, only: Optional[int]) -> Iterator[Any]:
    wanted = ["pid", "ppid", "cmdline", "name", "uids", "gids", "create_time", "status", "memory_info",
              "cwd"]
    found = [psutil.Process(only)] if only is not None and psutil.pid_exists(only) else []
    for proc in found if only is not None else psutil.process_iter(wanted):
        if proc.pid == me:
            continue
        try:
            info = proc.as_dict(wanted)
        except psutil.Error:
            continue
        uids = info.get("uids") or (-1, -1, -1)
        gids = info.get("gids") or (-1, -1, -1)
        state = "Z" if info.get("status") == psutil.STATUS_ZOMBIE else "S"
        p = procs.Proc(proc.pid, list(info.get("cmdline") or []), info.get("name") or "",
                       procs.Ids(*uids[:3]), procs.Ids(*gids[:3]), 0, state, info.get("ppid") or 0)
        mem = info.get("memory_info")
        yield _row(p, info.get("create_time") or 0.0, mem.rss // 1024 if mem else 0, info.get("cwd") or "",
                   our_fifos)


def _row(p: procs.Proc, started: float, rss_kb: int, cwd: str, our_fifos: str) -> Tuple[procs.Proc, Row, Any]:
    """The process, its listing entry of the CLI contract (managed/clients are
    filled in by the caller), and the server it is (or None)."""
    try:
        user = pwd.getpwuid(p.uids.real).pw_name
    except KeyError:
        user = str(p.uids.real)
    kinds = [procs.fd_kind(procs.fd_target(p.pid, fd), our_fifos) if os.path.isdir("/proc") else "unknown"
             for fd in (0, 1)]
    kind = procs.server_kind(p, cwd)
    return p, {
        "pid": p.pid, "name": kind or p.comm, "argv": p.argv, "root": procs.server_root(p.pid, cwd),
        "user": user, "uid": p.uids.real, "started": started, "rss_kb": rss_kb, "stdin": kinds[0],
        "stdout": kinds[1], "managed": False, "clients": 0,
    }, kind


def _is_remote_lsp(argv: List[str]) -> bool:
    """remote-lsp's own commands (and the ssh carrying them): never servers,
    though their command lines hold the very pattern being searched for."""
    line = " ".join(argv)
    return "remote_lsp" in line or "remote-lsp" in line or os.path.basename(argv[0]) == "proxy.py" or (
        len(argv) > 1 and os.path.basename(argv[1]) == "proxy.py")

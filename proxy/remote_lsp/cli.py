"""The `remote-lsp` command line (also `python3 proxy/proxy.py`).

Exit codes: 0 ok, 2 usage, 3 no such process, 4 refused, 5 attach failed and
rolled back, 6 transport/SSH failure, 1 anything else. With --json, errors
print {"error": {"code": ..., "message": ...}}.
"""

import argparse
import json
import os
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

from remote_lsp import __version__
from remote_lsp.errors import (
    FAILED,
    NoSuchProcess,
    RemoteLspError,
    TransportError,
    UsageError,
    describe_os_error,
)


def _idle_timeout(text: str) -> Any:
    if text == "never":
        return "never"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected seconds or 'never', got %r" % text) from None
    if value < 0:
        raise argparse.ArgumentTypeError("idle timeout must be >= 0")
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # Subcommands add their name; the program's own is already "remote-lsp: ".
        where = self.prog.split(" ", 1)[1] if " " in self.prog else ""
        raise UsageError("%s: %s" % (where, message) if where else message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="remote-lsp", description="Long-lived, shareable language servers.")
    p.add_argument("--version", action="version", version="remote-lsp " + __version__)
    p.add_argument("--host", help="run the subcommand on HOST over SSH")
    p.add_argument("--transport", choices=("openssh", "paramiko"), default="openssh")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    c = sub.add_parser("connect", help="stdio bridge for an editor: share or start the server")
    c.add_argument("--root", help="project root (default: the current directory)")
    c.add_argument("--name", help="a name for the server in listings")
    c.add_argument("--pid", type=int, help="share the managed server with this pid")
    c.add_argument("--idle-timeout", type=_idle_timeout, default=600.0,
                   help="stop the server this many seconds after its last client leaves, "
                        "or 'never' (default 600)")
    c.add_argument("--protocol", choices=("scp", "rsync"), default="scp")

    r = sub.add_parser("run", help="start a shareable server now, with no client; print its pid")
    r.add_argument("--root")
    r.add_argument("--name")
    r.add_argument("--idle-timeout", type=_idle_timeout, default="never",
                   help="as for connect; default 'never': you started it, you stop it")

    ls = sub.add_parser("list", help="language servers on this host, managed or not")
    ls.add_argument("--json", action="store_true")
    ls.add_argument("--all", action="store_true", help="other users' servers too")

    pr = sub.add_parser("processes", help="processes whose command line matches PATTERN")
    pr.add_argument("pattern", help="a regular expression")
    pr.add_argument("--json", action="store_true")

    at = sub.add_parser("attach", help="adopt a running language server by pid")
    at.add_argument("pid", type=int)
    at.add_argument("--root", help="its project root (default: its working directory)")
    at.add_argument("--name", help="what server it is, if its name does not say")
    at.add_argument("--method", choices=("auto", "ptrace", "gdb"), default="auto")
    at.add_argument("--timeout", type=float, default=10.0, help="bound on the whole attempt (s)")
    at.add_argument("--json", action="store_true")

    rl = sub.add_parser("release", help="give an adopted server its own stdin/stdout back")
    rl.add_argument("pid", type=int)
    rl.add_argument("--json", action="store_true")

    st = sub.add_parser("status", help="the agent: version, instances, clients, documents")
    st.add_argument("--json", action="store_true")

    sp = sub.add_parser("stop", help="stop instances (shutdown, exit, then signals)")
    sp.add_argument("pid", nargs="?", type=int)
    sp.add_argument("--all", action="store_true")
    sp.add_argument("--agent", action="store_true", help="also stop the agent itself")
    sp.add_argument("--json", action="store_true")

    lo = sub.add_parser("locate", help="for editors: a file's project root and which server "
                                       "commands exist, in one call (JSON)")
    lo.add_argument("path")
    lo.add_argument("--marker", action="append", default=[], help="a root marker (repeatable)")
    lo.add_argument("--command", action="append", default=[], dest="commands",
                    help="a server command to look for (repeatable)")

    a = sub.add_parser("agent", help="run the agent (normally started on demand)")
    a.add_argument("--foreground", action="store_true")
    a.add_argument("--daemonize", action="store_true", help=argparse.SUPPRESS)
    a.add_argument("--ready-fd", type=int, default=-1, help=argparse.SUPPRESS)
    return p


def split_command(argv: Sequence[str]) -> Tuple[List[str], List[str]]:
    """Everything after the first `--` is the server command, taken verbatim."""
    argv = list(argv)
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1:]
    return argv, []


def main(argv: Optional[Sequence[str]] = None) -> int:
    args_in, command = split_command(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in args_in
    try:
        args = build_parser().parse_args(args_in)
        if args.host is not None:
            return _on_host(args, args_in, command)
        return run(args, command)
    except RemoteLspError as exc:
        if as_json:
            print(json.dumps(exc.to_json()))
        else:
            sys.stderr.write("remote-lsp: %s\n" % exc.message)
        return exc.code
    except OSError as exc:
        # Anything the system refused that no layer above put into words.
        sys.stderr.write("remote-lsp: %s\n" % describe_os_error(exc))
        return FAILED
    except KeyboardInterrupt:
        return 130


def run(args: argparse.Namespace, command: List[str]) -> int:
    if args.command is None:
        raise UsageError("a subcommand is needed; see remote-lsp --help")
    if args.command == "agent":
        return _agent(args)
    _precheck(args)
    if args.command == "connect":
        from remote_lsp.connect import connect

        if not command and args.pid is None:
            raise UsageError("connect: give the server command after --, or --pid")
        return connect(command, args.root, args.name, args.pid, args.idle_timeout)
    if args.command == "run":
        if not command:
            raise UsageError("run: give the server command after --")
        return _run(args, command)
    if args.command == "status":
        return _status(args)
    if args.command in ("list", "processes"):
        return _discover(args)
    if args.command == "attach":
        return _attach(args)
    if args.command == "locate":
        return _locate(args)
    if args.command == "release":
        return _release(args)
    if args.command == "stop":
        return _stop(args)
    raise UsageError("unknown subcommand %s" % args.command)


def _precheck(args: argparse.Namespace) -> None:
    """Refuse what is plainly wrong here, before an agent is started for it."""
    root = getattr(args, "root", None)
    if root is not None and args.command in ("connect", "run", "attach") and not os.path.isdir(root):
        raise UsageError("root %s is not a directory" % root)
    pid = getattr(args, "pid", None)
    if pid is not None and args.command == "attach" and (pid <= 0 or not os.path.exists("/proc/%d" % pid)):
        raise NoSuchProcess("no process with pid %d" % pid)


def _without_globals(args_in: List[str]) -> List[str]:
    """The arguments with --host and --transport (before the subcommand) removed."""
    out: List[str] = []
    i = 0
    while i < len(args_in):
        arg = args_in[i]
        if arg in ("--host", "--transport"):
            i += 2
            continue
        if arg.startswith(("--host=", "--transport=")):
            i += 1
            continue
        out.extend(args_in[i:])
        break
    return out


def _on_host(args: argparse.Namespace, args_in: List[str], command: List[str]) -> int:
    """Any subcommand, run on args.host over SSH."""
    import asyncio

    from remote_lsp.hosts import parse_host
    from remote_lsp.paths import StatePaths
    from remote_lsp.transport import make_transport

    if args.command is None:
        raise UsageError("a subcommand is needed; see remote-lsp --help")
    if args.command == "agent":
        raise UsageError("agent runs on the host itself; it is started there on demand")
    host = parse_host(args.host)
    transport = make_transport(args.transport, host, StatePaths.default().prepare().root)
    try:
        if args.command == "connect":
            return _connect_on_host(args, command, transport)
        from remote_lsp.remote import run_subcommand

        rest = _without_globals(args_in)
        return asyncio.run(run_subcommand(transport, rest + (["--"] + command if command else [])))
    finally:
        transport.close()


def _connect_on_host(args: argparse.Namespace, command: List[str], transport: Any) -> int:
    import asyncio

    from remote_lsp import framing, jsonrpc
    from remote_lsp.bridge import Bridge
    from remote_lsp.uri import UriMapper

    if not command and args.pid is None:
        raise UsageError("connect: give the server command after --, or --pid")
    mapper = UriMapper(args.protocol, transport.host.text)
    remote = ["connect"]
    if args.root:
        remote += ["--root", mapper.path_of(args.root)]
    if args.name:
        remote += ["--name", args.name]
    if args.pid is not None:
        remote += ["--pid", str(args.pid)]
    remote += ["--idle-timeout", str(args.idle_timeout)]
    if command:
        remote += ["--"] + command
    try:
        root = mapper.path_of(args.root) if args.root else None
        return asyncio.run(Bridge(transport, mapper, root).run(remote))
    except TransportError as exc:
        # Tell the editor too, in its own protocol, before going.
        note = jsonrpc.show_message("remote-lsp: %s" % exc.message)
        try:
            os.write(1, framing.encode(jsonrpc.encode(note)))
        except OSError:
            pass
        raise


def _agent(args: argparse.Namespace) -> int:
    # The agent lives as long as the servers and never speaks TLS: keep asyncio
    # from loading OpenSSL (1.5 MB of the agent's RSS, measured by make bench).
    sys.modules.setdefault("ssl", None)  # type: ignore[arg-type]
    from remote_lsp.agent import run_agent
    from remote_lsp.daemon import daemonize
    from remote_lsp.paths import StatePaths

    if args.daemonize:
        daemonize()
    return run_agent(StatePaths.default(), args.ready_fd)


def _run(args: argparse.Namespace, command: List[str]) -> int:
    from remote_lsp.connect import agent_request

    reply = agent_request("run", argv=command, root=args.root or os.getcwd(), name=args.name,
                          idle_timeout=args.idle_timeout, env=dict(os.environ), cwd=os.getcwd())
    print(reply["pid"])
    return 0


def _status(args: argparse.Namespace) -> int:
    status = _agent_status()
    status["host"] = host_facts()
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    agent = status["agent"]
    if agent is None:
        print("no agent is running: no language servers")
        return 0
    print("agent %s pid %d, %d kB, state in %s" % (agent["version"], agent["pid"], agent["rss_kb"],
                                                  agent["home"]))
    for inst in status["instances"]:
        idle = inst["idle_timeout"]
        print("\n%s pid %d  root %s  idle %s  %s" % (
            inst["name"], inst["pid"], inst["root"], "never" if idle is None else "%gs" % idle,
            "initialized" if inst["initialized"] else "not initialized"))
        print("  argv: %s" % " ".join(inst["argv"]))
        for c in inst["clients"]:
            print("  client %d %s (pid %d), %d document(s), %d pending" % (
                c["id"], c["name"], c["pid"], len(c["documents"]), c["pending_requests"]))
        for d in inst["documents"]:
            print("  document %s v%d, open in %d client(s)" % (d["uri"], d["version"], d["clients"]))
    if not status["instances"]:
        print("no language servers running")
    return 0


def _agent_status() -> Dict[str, Any]:
    from remote_lsp.connect import agent_request

    try:
        return agent_request("status")
    except RemoteLspError as exc:
        if "no agent is running" not in exc.message:
            raise
        return {"agent": None, "instances": []}


def _discover(args: argparse.Namespace) -> int:
    """`list` and `processes`: what runs here, marked with what the agent manages."""
    from remote_lsp import procs
    from remote_lsp.paths import StatePaths

    managed = {i["pid"]: i for i in _agent_status()["instances"]}
    pattern = getattr(args, "pattern", None)
    if pattern is not None:
        import re

        try:
            re.compile(pattern)
        except re.error as exc:
            raise UsageError("invalid pattern %r: %s" % (pattern, exc)) from None
    rows = []
    fifos = str(StatePaths.default().fifos)

    def mark(row: Dict[str, Any], inst: Dict[str, Any]) -> None:
        row.update(managed=True, clients=len(inst["clients"]), name=inst["name"], root=inst["root"])

    for p, row in procs.find(pattern, our_fifos=fifos):
        if args.command == "list" and not getattr(args, "all", False) and p.uids.real != os.getuid():
            continue
        inst = managed.pop(p.pid, None)
        if inst is not None:
            mark(row, inst)
        rows.append(row)
    if args.command == "list":  # managed servers whose names we would not have guessed
        for inst in managed.values():
            p = procs.read_proc(inst["pid"])
            if p is not None:
                row = procs.describe(p, fifos)
                mark(row, inst)
                rows.append(row)
    rows.sort(key=lambda r: r["pid"])
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        _print_table([dict(r, age=_age(r["started"]), rss="%d MB" % (r["rss_kb"] // 1024),
                           managed="yes" if r["managed"] else "no") for r in rows],
                     ("pid", "name", "root", "rss", "age", "stdin", "managed", "clients"))
    return 0


def _age(started: float) -> str:
    import time

    secs = max(0, int(time.time() - started))
    if secs >= 86400:
        return "%dd%02dh" % (secs // 86400, secs % 86400 // 3600)
    if secs >= 3600:
        return "%dh%02dm" % (secs // 3600, secs % 3600 // 60)
    return "%dm%02ds" % (secs // 60, secs % 60)


def _locate(args: argparse.Namespace) -> int:
    """Walk up from PATH to the nearest directory holding a marker (else PATH's
    directory), and look up each command in PATH: all on the host, at once."""
    import shutil

    path = os.path.realpath(args.path)
    start = path if os.path.isdir(path) else os.path.dirname(path)
    root = None
    here = start
    while args.marker:
        if any(os.path.exists(os.path.join(here, m)) for m in args.marker):
            root = here
            break
        parent = os.path.dirname(here)
        if parent == here:
            break
        here = parent
    print(json.dumps({"path": path, "root": root or start, "marker_found": root is not None,
                      "commands": {c: shutil.which(c) for c in args.commands}}))
    return 0


def host_facts() -> Dict[str, Any]:
    """What an editor's health check wants to know about this host."""
    import platform

    from remote_lsp.attach.ptrace import yama_scope

    return {"python": platform.python_version(), "machine": platform.machine(),
            "ptrace_scope": yama_scope(), "version": __version__}


def _attach(args: argparse.Namespace) -> int:
    from remote_lsp.connect import agent_request

    reply = agent_request("attach", pid=args.pid, root=args.root, name=args.name, method=args.method,
                          timeout=args.timeout)
    if args.json:
        print(json.dumps(reply))
    else:
        print("attached to %s (pid %d) with %s in %.0f ms; share it with: remote-lsp connect --pid %d"
              % (reply["name"], reply["pid"], reply["method"], reply["ms"], reply["pid"]))
    return 0


def _release(args: argparse.Namespace) -> int:
    from remote_lsp.connect import agent_request

    reply = agent_request("release", pid=args.pid)
    if args.json:
        print(json.dumps(reply))
    else:
        print("released %d: it is back on its own stdin and stdout" % reply["pid"])
    return 0


def _stop(args: argparse.Namespace) -> int:
    from remote_lsp.connect import agent_request

    if args.pid is None and not args.all and not args.agent:
        raise UsageError("stop: give a PID, --all or --agent")
    try:
        if args.agent:
            reply = agent_request("stop", all=True)
            agent_request("shutdown")
        else:
            reply = agent_request("stop", pid=args.pid, all=args.all)
    except RemoteLspError as exc:
        if args.agent and "no agent is running" in exc.message:
            reply = {"stopped": []}
        else:
            raise
    if args.json:
        print(json.dumps({"stopped": reply["stopped"]}))
    else:
        for pid in reply["stopped"]:
            print("stopped %d" % pid)
    return 0


def _print_table(rows: List[Dict[str, Any]], cols: Sequence[str]) -> None:
    if not rows:
        print("no language servers running")
        return
    cells = [[str(r[c]) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(cols, widths)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))

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
from remote_lsp.errors import RemoteLspError, TransportError, UsageError


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
        raise UsageError("%s: %s" % (self.prog, message))


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

    ls = sub.add_parser("list", help="language servers managed by the agent")
    ls.add_argument("--json", action="store_true")
    ls.add_argument("--all", action="store_true")

    st = sub.add_parser("status", help="the agent: version, instances, clients, documents")
    st.add_argument("--json", action="store_true")

    sp = sub.add_parser("stop", help="stop instances (shutdown, exit, then signals)")
    sp.add_argument("pid", nargs="?", type=int)
    sp.add_argument("--all", action="store_true")
    sp.add_argument("--agent", action="store_true", help="also stop the agent itself")
    sp.add_argument("--json", action="store_true")

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
        if args.host:
            return _on_host(args, args_in, command)
        return run(args, command)
    except RemoteLspError as exc:
        if as_json:
            print(json.dumps(exc.to_json()))
        else:
            sys.stderr.write("remote-lsp: %s\n" % exc.message)
        return exc.code
    except KeyboardInterrupt:
        return 130


def run(args: argparse.Namespace, command: List[str]) -> int:
    if args.command is None:
        raise UsageError("a subcommand is needed; see remote-lsp --help")
    if args.command == "agent":
        return _agent(args)
    if args.command == "connect":
        from remote_lsp.connect import connect

        if not command and args.pid is None:
            raise UsageError("connect: give the server command after --, or --pid")
        return connect(command, args.root, args.name, args.pid, args.idle_timeout)
    if args.command == "run":
        if not command:
            raise UsageError("run: give the server command after --")
        return _run(args, command)
    if args.command in ("status", "list"):
        return _status(args)
    if args.command == "stop":
        return _stop(args)
    raise UsageError("unknown subcommand %s" % args.command)


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
        return asyncio.run(Bridge(transport, mapper).run(remote))
    except TransportError as exc:
        # Tell the editor too, in its own protocol, before going.
        note = jsonrpc.show_message("remote-lsp: %s" % exc.message)
        try:
            os.write(1, framing.encode(jsonrpc.encode(note)))
        except OSError:
            pass
        raise


def _agent(args: argparse.Namespace) -> int:
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
    from remote_lsp.connect import agent_request

    try:
        status = agent_request("status")
    except RemoteLspError as exc:
        if "no agent is running" not in exc.message:
            raise
        status = {"agent": None, "instances": []}
    if args.command == "list":
        rows = [_list_row(i) for i in status["instances"]]
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            _print_table(rows, ("pid", "name", "root", "clients", "rss_kb"))
        return 0
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


def _list_row(inst: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "pid": inst["pid"], "name": inst["name"], "argv": inst["argv"], "root": inst["root"],
        "user": _user(), "started": inst["started"], "rss_kb": _rss_kb(inst["pid"]),
        "managed": True, "clients": len(inst["clients"]),
    }


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


def _user() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def _rss_kb(pid: int) -> int:
    try:
        with open("/proc/%d/statm" % pid) as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, ValueError, IndexError):
        return 0



"""The subcommands that run on this machine (no `--host`): each one a request
to the local agent, or a look at the processes here."""

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from remote_lsp import __version__
from remote_lsp.version import digest
from remote_lsp.wire import control, options
from remote_lsp.wire.errors import NoSuchProcess, UsageError
from remote_lsp.wire.paths import StatePaths
from remote_lsp.wire.uri import check_protocol


def run(args: argparse.Namespace, command: List[str]) -> int:
    if args.command == "agent":
        return _agent(args)
    _precheck(args, command)
    named = getattr(args, "host_name", None) or getattr(args, "where", "")
    if named:  # messages name this host as the user does
        from remote_lsp.host import daemon

        daemon.where = named
    if args.command == "files":
        from remote_lsp.host.connect import files_channel

        defaults = options.DEFAULTS
        return files_channel(args.heartbeat or defaults.heartbeat, args.grace or defaults.grace, args.where,
                             args.request_timeout or defaults.request_timeout)
    if args.command in ("find", "grep"):
        from remote_lsp.host.search import commands as searchcommands

        if args.protocol is not None:
            raise UsageError("%s: --protocol names the editor's remote files, so it needs --host"
                             % args.command)
        return searchcommands.run(args, command)
    if args.command in ("cat", "stat", "put"):
        from remote_lsp.host.files import commands as filecommands

        return filecommands.run(args)
    if args.command == "connect":
        from remote_lsp.host.connect import connect

        return connect(command, options.from_args(args), args.link, args.where)
    handler = {
        "run": _run, "status": _status, "list": _discover, "processes": _discover, "attach": _attach,
        "locate": _locate, "release": _release, "stop": _stop, "log": _log, "doctor": _doctor,
    }.get(args.command)
    if handler is None:
        raise UsageError("unknown subcommand %s" % args.command)
    return handler(args, command)


def _precheck(args: argparse.Namespace, command: List[str]) -> None:
    """Refuse what is plainly wrong here, before an agent is started for it."""
    if args.command == "connect":
        if not command and args.pid is None:
            raise UsageError("connect: give the server command after --, or --pid")
        if args.protocol is not None and not args.link:
            raise UsageError("connect: --protocol names the editor's remote URIs, so it needs --host")
        if args.protocol is not None:
            check_protocol(args.protocol)
        if args.isolated and args.pid is not None:
            raise UsageError("connect: --isolated starts an instance of its own; --pid joins one")
        if args.request_timeout is not None or (not args.link and (args.heartbeat or args.grace)):
            raise UsageError("connect: --heartbeat, --grace and --request-timeout are for a session over "
                             "the network, so they need --host")
    if args.command == "run" and not command:
        raise UsageError("run: give the server command after --")
    root = getattr(args, "root", None)
    if root is not None and args.command in ("connect", "run", "attach") and not os.path.isdir(root):
        raise UsageError("root %s is not a directory" % root)
    pid = getattr(args, "pid", None)
    if pid is not None and args.command == "attach" and (pid <= 0 or not os.path.exists("/proc/%d" % pid)):
        raise NoSuchProcess("no process with pid %d" % pid)


def _ask(request: control.Request, expected: Any, autostart: bool = False) -> Any:
    from remote_lsp.host.daemon import ask

    return ask(request, expected, autostart)


def _agent(args: argparse.Namespace) -> int:
    # The agent lives as long as the servers and never speaks TLS: keep asyncio
    # from loading OpenSSL (1.5 MB of the agent's RSS, measured by make bench).
    sys.modules.setdefault("ssl", None)  # type: ignore[arg-type]
    from remote_lsp.host.agent import run_agent
    from remote_lsp.host.daemon import daemonize

    if args.daemonize:
        daemonize()
    return run_agent(StatePaths.default(), args.ready_fd)


def _run(args: argparse.Namespace, command: List[str]) -> int:
    reply = _ask(control.RunRequest(argv=command, root=args.root, cwd=os.getcwd(), name=args.name,
                                    idle_timeout=args.idle_timeout, env=dict(os.environ)),
                 control.Started, autostart=True)
    print(reply.pid)
    return 0


def _status(args: argparse.Namespace, command: List[str]) -> int:
    status = _agent_status()
    out = {"agent": status.agent if status else None, "instances": status.instances if status else [],
           "files": status.files if status else {}, "host": host_facts()}
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    if status is None:
        print("no agent is running: no language servers")
        return 0
    agent = status.agent
    print("agent %s (build %s) pid %d, %d kB, state in %s" % (
        agent["version"], agent["build"], agent["pid"], agent["rss_kb"], agent["home"]))
    for line in agent.get("recovered") or []:
        print("at start: %s" % line)
    if status.files.get("channels"):
        files = status.files
        print("files: %s, %s watched in %s" % (
            _plural(files["channels"], "editor channel"), _plural(files["watched"], "open file"),
            _plural(files["directories"], "directory", "directories")))
    for kept in status.files.get("search", {}).get("indexes", []):
        also = [what for what in ("hidden", "ignored") if kept[what]]
        print("search: %s listed in %s%s" % (_plural(kept["files"], "file"), kept["root"],
                                             " (%s files too)" % " and ".join(also) if also else ""))
    for inst in status.instances:
        idle = inst["idle_timeout"]
        print("\n%s pid %d  root %s  idle %s  %s%s" % (
            inst["name"], inst["pid"], inst["root"], "never" if idle is None else "%gs" % idle,
            "initialized" if inst["initialized"] else "not initialized",
            "  isolated" if inst.get("isolated") else ""))
        print("  argv: %s" % " ".join(inst["argv"]))
        for note in inst.get("conflicts") or []:
            print("  note: %s" % note)
        for c in inst["clients"]:
            link = ""
            if c.get("link") == "suspended":
                since = time.strftime("%H:%M:%S", time.localtime(c["suspended_since"]))
                link = ", link down since %s" % since
            print("  client %d %s (pid %d), %d document(s), %d pending%s" % (
                c["id"], c["name"], c["pid"], len(c["documents"]), c["pending_requests"], link))
        for d in inst["documents"]:
            print("  document %s v%d, open in %d client(s)" % (d["uri"], d["version"], d["clients"]))
        _print_watching(inst.get("watching"))
    if not status.instances:
        print("no language servers running")
    return 0


def _plural(count: int, one: str, many: str = "") -> str:
    return "%d %s" % (count, one if count == 1 else many or one + "s")


def _print_watching(watching: Any) -> None:
    """What the agent watches for one server (its didChangeWatchedFiles registrations)."""
    if not watching or not watching["patterns"]:
        return
    print("  watching %s (%s) for: %s" % (
        _plural(watching["directories"], "directory", "directories"), watching["mode"] or "-",
        ", ".join(watching["patterns"])))
    if watching["problem"]:
        print("  watch problem: %s" % watching["problem"])


def _agent_status() -> Optional[control.Status]:
    """The agent's status, or None when no agent runs (none is started for it)."""
    from remote_lsp.host.daemon import NoAgent

    try:
        return _ask(control.StatusRequest(), control.Status)
    except NoAgent:
        return None


def _discover(args: argparse.Namespace, command: List[str]) -> int:
    """`list` and `processes`: what runs here, marked with what the agent manages."""
    from remote_lsp.host import discovery

    status = _agent_status()
    managed = {i["pid"]: i for i in (status.instances if status else [])}
    pattern = getattr(args, "pattern", None)
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise UsageError("invalid pattern %r: %s" % (pattern, exc)) from None
    fifos = str(StatePaths.default().fifos)

    def mark(row: Dict[str, Any], inst: Dict[str, Any]) -> None:
        row.update(managed=True, clients=len(inst["clients"]), name=inst["name"], root=inst["root"])

    rows = []
    for row in discovery.find(pattern, our_fifos=fifos):
        if args.command == "list" and not args.all and row["uid"] != os.getuid():
            continue
        inst = managed.pop(row["pid"], None)
        if inst is not None:
            mark(row, inst)
        rows.append(row)
    if args.command == "list":  # managed servers whose names we would not have guessed
        for inst in managed.values():
            found = discovery.describe(inst["pid"], fifos)
            if found is not None:
                mark(found, inst)
                rows.append(found)
    rows.sort(key=lambda r: r["pid"])
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        _print_table([dict(r, age=_age(r["started"]), rss="%d MB" % (r["rss_kb"] // 1024),
                           managed="yes" if r["managed"] else "no") for r in rows],
                     ("pid", "name", "root", "rss", "age", "stdin", "managed", "clients"))
    return 0


def _age(started: float) -> str:
    secs = max(0, int(time.time() - started))
    if secs >= 86400:
        return "%dd%02dh" % (secs // 86400, secs % 86400 // 3600)
    if secs >= 3600:
        return "%dh%02dm" % (secs // 3600, secs % 3600 // 60)
    return "%dm%02ds" % (secs // 60, secs % 60)


def _locate(args: argparse.Namespace, command: List[str]) -> int:
    """PATH's project root and the server commands on this host, at once (disk.locate)."""
    from remote_lsp.host.files.disk import locate

    print(json.dumps(locate(args.path, args.marker, args.commands)))
    return 0


def host_facts() -> Dict[str, Any]:
    """What an editor's health check wants to know about this host."""
    import platform

    from remote_lsp.host.attach.ptrace import yama_scope
    from remote_lsp.host.watching.inotify import max_user_watches

    return {"python": platform.python_version(), "machine": platform.machine(),
            "ptrace_scope": yama_scope(), "version": __version__, "build": digest(),
            "max_user_watches": max_user_watches()}


def _log(args: argparse.Namespace, command: List[str]) -> int:
    """The last lines of the agent's log and, if asked, of one server's stderr."""
    from remote_lsp.host import logs

    if args.server is not None and args.name is not None:
        raise UsageError("log: give --server PID or --name NAME, not both")
    if args.root is not None and args.name is None:
        raise UsageError("log: --root goes with --name")
    paths = StatePaths.default()
    out: Dict[str, Any] = {"agent": {"path": str(paths.log), "lines": logs.tail(paths.log, args.lines)},
                           "server": None}
    if args.server is not None or args.name is not None:
        out["server"] = _server_log(paths, args)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print("==> %s (the agent's log; last %d lines) <==" % (paths.log, args.lines))
    print("\n".join(out["agent"]["lines"]) if out["agent"]["lines"] else "(empty, or not written yet)")
    server = out["server"]
    if server is not None:
        who = "%s, pid %d" % (server["name"], server["pid"]) if server["pid"] else server["name"]
        print("\n==> %s (%s: its stderr; last %d lines) <==" % (server["path"] or "-", who, args.lines))
        if server["note"]:
            print(server["note"])
        else:
            print("\n".join(server["lines"]) if server["lines"] else "(it wrote nothing to stderr)")
    return 0


def _server_log(paths: StatePaths, args: argparse.Namespace) -> Dict[str, Any]:
    """Which server's stderr `log` shows: by pid (managed now), or by name
    (the running one, else the newest log of that name: one that is gone)."""
    from remote_lsp.host import logs

    status = _agent_status()
    instances = status.instances if status else []
    out: Dict[str, Any] = {"name": args.name, "pid": None, "path": None, "lines": [], "note": ""}
    if args.server is not None:
        found = [i for i in instances if i["pid"] == args.server]
        if not found:
            raise NoSuchProcess("no language server with pid %d is managed by the agent here" % args.server)
    else:
        root = os.path.realpath(args.root) if args.root else None
        named = [i for i in instances if i["name"] == args.name and (root is None or i["root"] == root)]
        found = sorted(named, key=lambda i: i["started"])[-1:]
    if found:
        inst = found[0]
        out.update(name=inst["name"], pid=inst["pid"], path=inst.get("log"))
        if not out["path"]:
            out["note"] = "(attached by PID: its stderr goes where it went before, e.g. its terminal)"
    else:
        path = logs.newest_server_log(paths, args.name)
        out["path"] = str(path) if path else None
        if path is None:
            out["note"] = "(no server named %s has run here)" % args.name
    if out["path"]:
        out["lines"] = logs.tail(Path(out["path"]), args.lines)
    return out


def _doctor(args: argparse.Namespace, command: List[str]) -> int:
    """This host for an editor's health check: Python, remote-lsp, the agent,
    ptrace, and whether each server given actually runs."""
    from remote_lsp.host import doctor

    servers = [(name, doctor.parse_command(text)) for name, text in args.server]
    if command:
        servers.append((os.path.basename(command[0]), command))
    from remote_lsp.host.daemon import AgentNotAnswering

    problem = None
    try:
        status = _agent_status()
    except AgentNotAnswering as exc:
        status, problem = None, exc.message
    out = {"host": host_facts(), "agent": status.agent if status else None, "agent_problem": problem,
           "instances": len(status.instances) if status else 0,
           "servers": doctor.probe_all(servers, args.timeout)}
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    facts = out["host"]
    print("python %s on %s; remote-lsp %s (build %s)" % (facts["python"], facts["machine"], facts["version"],
                                                          facts["build"]))
    agent = out["agent"]
    if agent:
        print("agent: running, version %s, pid %d, %d server(s)" % (agent["version"], agent["pid"],
                                                                    out["instances"]))
    elif problem:
        print("agent: PROBLEM: " + problem)
    else:
        print("agent: not running (it starts on first use)")
    print(_watch_line(facts["max_user_watches"], (agent or {}).get("watcher")))
    scope = facts["ptrace_scope"]
    print("ptrace: %s" % ("allowed (Yama ptrace_scope %s)" % ("absent" if scope is None else scope)
                          if not scope else "Yama ptrace_scope %d: attaching by PID is refused" % scope))
    for s in out["servers"]:
        print("%s: %s%s" % (s["name"], s["state"].upper() if s["state"] != "ok" else "ok",
                            " (%s)" % s["version"] if s["version"] else ""))
        print("  %s: %s" % (" ".join(s["argv"]), s["detail"]))
        for line in s["stderr"] if s["state"] != "ok" else []:
            print("  " + line)
    return 0


def _watch_line(limit: Optional[int], watcher: Any) -> str:
    """The file watching of this host in one line: the inotify limit, and what the agent uses of it."""
    head = "file watching: inotify, fs.inotify.max_user_watches = %d" % limit if limit else \
        "file watching: no inotify here: the agent polls"
    if watcher:
        head += "; the agent watches %d directories (%d polled)" % (watcher["directories"], watcher["polled"])
        if watcher["problem"]:
            head += "\n  problem: %s" % watcher["problem"]
    return head


def _attach(args: argparse.Namespace, command: List[str]) -> int:
    request = control.AttachRequest(pid=args.pid, root=args.root, name=args.name, method=args.method,
                                    timeout=args.timeout, force=args.force)
    reply = _ask(request, control.Attached, autostart=True)
    if args.json:
        print(json.dumps(dict(vars(reply), ok=True)))
    else:
        print("attached to %s (pid %d) with %s in %.0f ms; share it with: remote-lsp connect --pid %d"
              % (reply.name, reply.pid, reply.method, reply.ms, reply.pid))
    return 0


def _release(args: argparse.Namespace, command: List[str]) -> int:
    reply = _ask(control.ReleaseRequest(pid=args.pid), control.Released)
    if args.json:
        print(json.dumps({"ok": True, "pid": reply.pid}))
    else:
        print("released %d: it is back on its own stdin and stdout" % reply.pid)
    return 0


def _stop(args: argparse.Namespace, command: List[str]) -> int:
    from remote_lsp.host.daemon import AgentNotAnswering, NoAgent, end_agent

    if args.pid is None and not args.all and not args.agent:
        raise UsageError("stop: give a PID, --all or --agent")
    ended: Optional[Dict[str, Any]] = None
    try:
        if args.agent:
            try:
                stopped = _ask(control.StopRequest(all=True), control.Stopped).stopped
            except AgentNotAnswering as exc:
                # Ended as if it had crashed; its servers run on, and the next
                # agent, started for this, takes them over and stops them.
                ended = {"pid": exc.pid, "by": end_agent(StatePaths.default(), exc.pid)}
                if not args.json and ended["by"]:
                    print("the agent (pid %d) did not answer: ended by %s" % (exc.pid, ended["by"]))
                stopped = _ask(control.StopRequest(all=True), control.Stopped, autostart=True).stopped
            _ask(control.ShutdownRequest(), control.Done)
        else:
            stopped = _ask(control.StopRequest(pid=args.pid, all=args.all, restart=args.restart),
                           control.Stopped).stopped
    except NoAgent:
        if not args.agent:
            raise
        stopped = []
    if args.json:
        print(json.dumps(dict({"stopped": stopped}, **({"ended_agent": ended} if ended else {}))))
    else:
        for pid in stopped:
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


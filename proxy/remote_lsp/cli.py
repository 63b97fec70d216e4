"""The `remote-lsp` command line (also `python3 proxy/proxy.py`): parsing, and
the choice of side. Without `--host` a subcommand runs here (`host.commands`);
with it, on that host over SSH (`editor.commands`). Shipped to hosts, so it
imports editor code only when `--host` is given.

Exit codes: the table in wire/errors.py (0 ok, 1 anything else, 2 usage, 3 no
such process, 4 refused, 5 attach failed and rolled back, 6 transport/SSH
failure, 7 connect's agent went away). With --json, errors print
{"error": {"code": ..., "message": ...}}.
"""

import argparse
import json
import sys
from typing import Any, List, Optional, Sequence, Tuple

from remote_lsp import __version__
from remote_lsp.wire import options
from remote_lsp.wire.errors import FAILED, PREFIX, RemoteLspError, UsageError, describe_os_error

D = options.DEFAULTS


def _idle_timeout(text: str) -> Optional[float]:
    try:
        return options.parse_idle_timeout(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(convert: Any, what: str, least: str) -> Any:
    """An argparse type: a number of `what` (int or float), more than 0."""
    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError("expected %s, got %r" % (what, text)) from None
        if value <= 0:
            raise argparse.ArgumentTypeError(least)
        return value
    return parse


_count = _positive(int, "a number of lines", "must be 1 or more")
_seconds = _positive(float, "seconds", "must be more than 0 seconds")


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
    c.add_argument("--root", help="project root (default: the client's workspace from its initialize, "
                                  "else the nearest project marker above the current directory)")
    c.add_argument("--name", help="a name for the server in listings")
    c.add_argument("--pid", type=int, help="share the managed server with this pid")
    c.add_argument("--isolated", action="store_true",
                   help="an instance of its own, shared with no other client")
    c.add_argument("--idle-timeout", type=_idle_timeout, default=D.idle_timeout,
                   help="stop the server this many seconds after its last client leaves, "
                        "or 'never' (default %s)" % options.idle_words(D.idle_timeout))
    # The network's options: None when not given, so that the host side can refuse them without --host.
    c.add_argument("--protocol",  # checked where it is used: the bridge, and the host it names
                   help="with --host: the editor's URI scheme for remote files (default %s)" % D.protocol)
    c.add_argument("--heartbeat", type=_seconds, default=None,
                   help="with --host: a link silent this long is dead and reconnected (default %g)"
                        % D.heartbeat)
    c.add_argument("--grace", type=_seconds, default=None,
                   help="with --host: how long the host keeps a session while its link is down "
                        "(default %g)" % D.grace)
    c.add_argument("--request-timeout", type=_seconds, default=None,
                   help="with --host: an outage longer than this answers waiting requests with an "
                        "error (default %g)" % D.request_timeout)
    c.add_argument("--link", action="store_true", help=argparse.SUPPRESS)  # what the bridge runs
    c.add_argument("--where", default="", help=argparse.SUPPRESS)  # the bridge's name for this host

    r = sub.add_parser("run", help="start a shareable server now, with no client; print its pid")
    r.add_argument("--root")
    r.add_argument("--name")
    r.add_argument("--idle-timeout", type=_idle_timeout, default=None,
                   help="as for connect; default 'never': you started it, you stop it")

    ls = sub.add_parser("list", help="language servers on this host, managed or not")
    ls.add_argument("--json", action="store_true")
    ls.add_argument("--all", action="store_true", help="other users' servers too")

    pr = sub.add_parser("processes", help="processes whose command line matches PATTERN")
    pr.add_argument("pattern", help="a regular expression")
    pr.add_argument("--json", action="store_true")

    at = sub.add_parser("attach", help="adopt a running language server by pid")
    at.add_argument("pid", type=int)
    at.add_argument("--root", help="its project root (default: as `list` shows it: its working directory, "
                    "or where it was started from if that is inside its own installation)")
    at.add_argument("--name", help="what server it is; its command line must say so too, unless --force")
    at.add_argument("--force", action="store_true",
                    help="attach even if the process does not look like the server --name names")
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
    sp.add_argument("--restart", action="store_true",
                    help="it is being restarted: every client is asked to connect to the new one")
    sp.add_argument("--agent", action="store_true", help="also stop the agent itself")
    sp.add_argument("--json", action="store_true")

    lg = sub.add_parser("log", help="the end of the agent's log, and of a server's own stderr")
    lg.add_argument("--server", type=int, metavar="PID", help="also the stderr of the managed server PID")
    lg.add_argument("--name", help="also the stderr of the server of that name: the running one, else "
                                   "the last one started here (one that failed at start too)")
    lg.add_argument("--root", help="with --name: the server of that project root")
    lg.add_argument("--lines", type=_count, default=50, help="how many lines of each (default 50)")
    lg.add_argument("--json", action="store_true")

    dr = sub.add_parser("doctor", help="for health checks: this host, its agent, and whether each server "
                                       "command given actually runs (answers initialize)")
    dr.add_argument("--server", nargs=2, action="append", default=[], metavar=("NAME", "COMMAND"),
                    help="a server to try: its name and its command (a JSON array, or a command line); "
                         "repeatable")
    dr.add_argument("--timeout", type=_seconds, default=10.0, help="seconds each server gets to answer")
    dr.add_argument("--json", action="store_true")

    lo = sub.add_parser("locate", help="for editors: a file's project root and which server "
                                       "commands exist, in one call (JSON)")
    lo.add_argument("path")
    lo.add_argument("--marker", action="append", default=[], help="a root marker (repeatable)")
    lo.add_argument("--command", action="append", default=[], dest="commands",
                    help="a server command to look for (repeatable)")

    fs = sub.add_parser("files", help="for editors: a channel for the files on the host, JSON-RPC on stdio "
                                      "(with --host; ARCHITECTURE.md, \"Files through the agent\")")
    fs.add_argument("--heartbeat", type=_seconds, default=None,
                    help="a link silent this long is dead and reconnected (default 15)")
    fs.add_argument("--grace", type=_seconds, default=None,
                    help="how long the host keeps the channel while its link is down (default 600)")
    fs.add_argument("--request-timeout", type=_seconds, default=None,
                    help="an outage longer than this answers waiting requests with an error (default 10)")
    fs.add_argument("--link", action="store_true", help=argparse.SUPPRESS)  # what the bridge runs
    fs.add_argument("--where", default="", help=argparse.SUPPRESS)

    ct = sub.add_parser("cat", help="print a file's bytes")
    ct.add_argument("path", help="absolute, or relative to the home directory")
    sa = sub.add_parser("stat", help="a file's type, mode and version (JSON), for put --if-unchanged-since")
    sa.add_argument("path")
    pu = sub.add_parser("put", help="write stdin to a file, atomically; print its new version")
    pu.add_argument("path")
    pu.add_argument("--if-unchanged-since", metavar="VERSION",
                    help="refuse (exit 4) if the file is no longer this version (from stat or an earlier "
                         "put; 'none': only if there is no such file)")

    fd = sub.add_parser("find", help="the files of a tree, as `rg --files` lists them (with --host: "
                                     "scp://HOST//path names)")
    fd.add_argument("--root", help="the tree (default: the current directory; on a host, the home)")
    gr = sub.add_parser("grep", help="search a tree's files for a pattern; print PATH:LINE:COLUMN:TEXT "
                                     "and exit 0 found, 1 none, 2 error, as ripgrep")
    gr.add_argument("pattern", nargs="?", help="a regular expression (ripgrep's syntax)")
    gr.add_argument("-e", "--regexp", help="the pattern (one that starts with -: --regexp=-PAT, or -- -PAT)")
    gr.add_argument("--root", help="the tree (default: the current directory; on a host, the home)")
    gr.add_argument("-F", "--fixed-strings", action="store_true", help="the pattern is text, not a regex")
    gr.add_argument("-w", "--word-regexp", action="store_true", help="whole words only")
    case = gr.add_mutually_exclusive_group()
    case.add_argument("-i", "--ignore-case", action="store_true", help="case insensitive")
    case.add_argument("-s", "--case-sensitive", action="store_true",
                      help="case sensitive (default: smart case: insensitive unless the pattern has "
                           "a capital)")
    gr.add_argument("-g", "--glob", action="append", default=[],
                    help="search only files that match GLOB; !GLOB leaves them out (repeatable)")
    gr.add_argument("--max-count", type=_count, metavar="N", help="stop after N matches in all")
    for each in (fd, gr):
        each.add_argument("--engine", help=argparse.SUPPRESS)  # rg, git or builtin: tests and benchmarks
        each.add_argument("--hidden", action="store_true", help="hidden files and directories too")
        each.add_argument("--no-ignore", action="store_true",
                          help="the files .gitignore, .ignore and .rgignore leave out too")
        each.add_argument("--protocol", help="with --host: the scheme of the names printed (default %s)"
                                             % D.protocol)

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
        if args.command is None:
            raise UsageError("a subcommand is needed; see remote-lsp --help")
        if args.host is not None:
            try:
                from remote_lsp.editor.commands import on_host
            except ModuleNotFoundError as exc:  # the host bundle ships no editor side (a bug is no such case)
                if exc.name not in ("remote_lsp.editor", "remote_lsp.editor.commands"):
                    raise
                raise UsageError("--host is for the editor's machine; this is the host side") from None
            return on_host(args, args_in, command)
        from remote_lsp.host.commands import run

        return run(args, command)
    except RemoteLspError as exc:
        if as_json:
            print(json.dumps(exc.to_json()))
        else:
            sys.stderr.write(PREFIX + exc.message + "\n")
        return exc.code
    except OSError as exc:
        # Anything the system refused that no layer above put into words.
        sys.stderr.write(PREFIX + describe_os_error(exc) + "\n")
        return FAILED
    except KeyboardInterrupt:
        return 130

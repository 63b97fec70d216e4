"""`remote-lsp --host HOST SUBCOMMAND ...`: any subcommand, run on HOST.

`connect` becomes the bridge (editor stdio <-> the host's `connect`, with URI
translation); every other subcommand runs there once and its output is
printed as it is.
"""

import argparse
import asyncio
import os
import sys
from typing import List

from remote_lsp.editor.bridge import Bridge
from remote_lsp.editor.hosts import parse_host
from remote_lsp.editor.remote import run_subcommand, stream
from remote_lsp.editor.transport import Transport, make_transport
from remote_lsp.wire import control, framing, jsonrpc, options
from remote_lsp.wire.errors import TransportError, UsageError
from remote_lsp.wire.paths import StatePaths
from remote_lsp.wire.uri import UriMapper, check_protocol


def on_host(args: argparse.Namespace, args_in: List[str], command: List[str]) -> int:
    if args.command == "agent":
        raise UsageError("agent runs on the host itself; it is started there on demand")
    host = parse_host(args.host)
    transport = make_transport(args.transport, host, StatePaths.default().prepare().root)
    try:
        if args.command == "connect":
            return _connect(args, command, transport)
        if args.command == "files":
            return _files(args, transport)
        if args.command in ("find", "grep"):
            return asyncio.run(_search(args, command, transport))
        rest = _without_globals(args_in)
        stdin = sys.stdin.buffer.read() if args.command == "put" else None
        return asyncio.run(run_subcommand(transport, rest + (["--"] + command if command else []), stdin))
    finally:
        transport.close()


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


def _files(args: argparse.Namespace, transport: Transport) -> int:
    """The editor's channel for the files on the host: a bridge like an LSP
    session's (it survives the network the same way), to the agent's file
    service; straight to the agent's socket where the transport can."""
    heartbeat = args.heartbeat or options.DEFAULTS.heartbeat
    grace = args.grace or options.DEFAULTS.grace
    where = transport.host.text
    remote = ["files", "--link", "--heartbeat", str(heartbeat), "--grace", str(grace), "--where", where]
    direct = control.FilesRequest(heartbeat=heartbeat, grace=grace, where=where, direct=True)
    bridge = Bridge(transport, UriMapper("scp", where), remote, None, heartbeat,
                    args.request_timeout or options.DEFAULTS.request_timeout, direct)
    return asyncio.run(bridge.run())


async def _search(args: argparse.Namespace, command: List[str], transport: Transport) -> int:
    """`find` and `grep` there, each name printed as the editor's
    (PROTOCOL://HOST//path), line by line as they come."""
    protocol = args.protocol or options.DEFAULTS.protocol
    check_protocol(protocol)
    mapper = UriMapper(protocol, transport.host.text)
    remote = [args.command]
    if args.root:
        remote.append("--root=" + mapper.path_of(args.root))
    remote += [flag for flag, on in (("--hidden", args.hidden), ("--no-ignore", args.no_ignore)) if on]
    if args.engine:
        remote.append("--engine=" + args.engine)
    if args.command == "grep":
        remote += [flag for flag, on in (("-F", args.fixed_strings), ("-w", args.word_regexp),
                                          ("-i", args.ignore_case), ("-s", args.case_sensitive)) if on]
        remote += ["--glob=" + g for g in args.glob]
        if args.max_count is not None:
            remote.append("--max-count=%d" % args.max_count)
        if args.regexp is not None:
            remote.append("--regexp=" + args.regexp)
        tail = ([args.pattern] if args.pattern is not None else []) + command
        remote += ["--"] + tail if tail else []
    elif command:
        remote += ["--"] + command
    prefix = mapper.editor_prefix.encode()
    out = sys.stdout.buffer
    pending = bytearray()
    stopped = []

    def lines(chunk: bytes) -> bool:
        pending.extend(chunk)
        end = pending.rfind(b"\n") + 1
        if end and not stopped:
            try:
                out.write(b"".join(prefix + line for line in bytes(pending[:end]).splitlines(keepends=True)))
                out.flush()
            except BrokenPipeError:  # the reader had enough (`| head`): the search on the host ends
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                stopped.append(True)
            del pending[:end]
        return not stopped

    try:
        rc, err = await stream(transport, remote, lines)
    except TransportError:
        if stopped:  # we ended it
            return 0
        raise
    if stopped:
        return 0
    sys.stderr.write(err)
    return rc


def _connect(args: argparse.Namespace, command: List[str], transport: Transport) -> int:
    if not command and args.pid is None:
        raise UsageError("connect: give the server command after --, or --pid")
    opts = options.from_args(args)
    check_protocol(opts.protocol)
    mapper = UriMapper(opts.protocol, transport.host.text)
    opts.root = mapper.path_of(opts.root) if opts.root else None
    where = transport.host.text
    remote = ["connect", "--link", "--where", where] + options.to_argv(opts)
    if command:
        remote += ["--"] + command
    direct = None  # the same, asked of the agent's socket: to join a server already running
    if (opts.root or opts.pid is not None) and not opts.isolated:
        direct = control.ConnectRequest.of(opts, command, link=True, where=where, direct=True)
    try:
        bridge = Bridge(transport, mapper, remote, opts.root, opts.heartbeat, opts.request_timeout, direct)
        return asyncio.run(bridge.run())
    except TransportError as exc:
        # Tell the editor too, in its own protocol, before going.
        note = jsonrpc.show_message("remote-lsp: %s" % exc.message)
        try:
            os.write(1, framing.encode(jsonrpc.encode(note)))
        except OSError:
            pass
        raise

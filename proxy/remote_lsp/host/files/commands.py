"""`remote-lsp cat | stat | put PATH`: the file service's operations for
scripts and other editors, one process each (with --host, one ssh command).
An editor that keeps a channel open uses `remote-lsp --host HOST files`
instead (ARCHITECTURE.md, "Files through the agent")."""

import argparse
import json
import sys

from remote_lsp.host.files import disk
from remote_lsp.wire.errors import FAILED, REFUSED, RemoteLspError
from remote_lsp.wire.paths import StatePaths


def run(args: argparse.Namespace) -> int:
    try:
        if args.command == "cat":
            entry = disk.read(args.path)
            if entry["type"] != "file":
                raise disk.FileError(disk.FAILED, args.path, "%s: %s" % (
                    args.path, "no such file" if not entry["exists"] else "not a regular file"))
            sys.stdout.buffer.write(entry["data"])
            sys.stdout.flush()
            return 0
        if args.command == "stat":
            print(json.dumps(disk.stat_entry(args.path)))
            return 0
        try:  # a `put` killed mid-write is cleaned up after by the next agent
            disk.keep_journal(str(StatePaths.default().prepare().writes))
        except (OSError, RemoteLspError):
            pass
        data = sys.stdin.buffer.read()
        expect = args.if_unchanged_since
        version = disk.write(args.path, data, None if expect == "none" else expect,
                              force=expect is None)
        print(version)
        return 0
    except disk.FileError as exc:
        raise RemoteLspError(exc.message, REFUSED if exc.code == disk.CONFLICT else FAILED) from None

"""`remote-lsp find` and `remote-lsp grep`: a tree's files and matches, for
scripts and other editors, one process each (with --host, one ssh command,
each name made the editor's `scp://HOST//path`). `find` prints one absolute
path a line; `grep` prints `PATH:LINE:COLUMN:TEXT` (ripgrep's --vimgrep) and
exits as ripgrep does: 0 found, 1 none, 2 an error."""

import argparse
import os
import sys
from typing import List

from remote_lsp.host.search import grep
from remote_lsp.wire.errors import UsageError

NOT_FOUND = 1  # grep's exit code when nothing matched, as ripgrep's


def root_of(args: argparse.Namespace) -> str:
    root = os.path.abspath(os.path.expanduser(args.root or "."))
    if not os.path.isdir(root):
        raise UsageError("%s: %s is not a directory" % (args.command, root))
    return root


def pattern_of(args: argparse.Namespace, command: List[str]) -> str:
    given = [p for p in (args.regexp, args.pattern) if p is not None] + command
    if len(given) != 1:
        raise UsageError("grep: give one pattern (--regexp=-PAT or -- -PAT for one that starts with -)")
    return given[0]


def run(args: argparse.Namespace, command: List[str]) -> int:
    try:
        return _run(args, command)
    except BrokenPipeError:  # the reader had enough (`| head`): quietly, as ripgrep
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to flush at exit
        return 0


def _run(args: argparse.Namespace, command: List[str]) -> int:
    root = root_of(args)
    out = sys.stdout.buffer
    head = root.rstrip("/") + "/"
    if args.command == "find":
        if command:
            raise UsageError("find: unexpected arguments %s" % " ".join(command))
        try:
            engine = "rg" if grep.choose(root, args.engine) == "rg" else "builtin"
            for rel in grep.files(root, args.hidden, args.no_ignore, grep.Job(), engine):
                out.write((head + rel + "\n").encode("utf-8", "surrogateescape"))
        except grep.GrepError as exc:
            raise UsageError("find: %s" % exc) from None
        out.flush()
        return 0
    query = grep.Query(pattern_of(args, command), args.fixed_strings, _case(args), args.word_regexp,
                       tuple(args.glob), args.hidden, args.no_ignore)
    job = grep.Job()
    found = 0
    try:
        engine = grep.choose(root, args.engine)
        matches = grep.search(root, query, job, engine)
        for m in matches:
            if args.max_count is not None and found >= args.max_count:
                break
            found += 1
            out.write(("%s%s:%d:%d:%s\n" % (head, m.path, m.line, m.column, m.text)).encode(
                "utf-8", "surrogateescape"))
            if found == 1 or found % 64 == 0:
                out.flush()  # the first at once: a script (or an editor) reads as they come
    except grep.GrepError as exc:
        raise UsageError("grep: %s" % exc) from None
    finally:
        job.cancel()  # a search stopped early (a broken pipe, --max-count) leaves nothing running
    out.flush()
    return 0 if found else NOT_FOUND


def _case(args: argparse.Namespace) -> str:
    return "insensitive" if args.ignore_case else "sensitive" if args.case_sensitive else "smart"

"""Text search in a tree: ripgrep when the host has it, else `git grep` in a
git work tree, else a search of our own; one form of answer for all three.

Each engine yields `Match(path relative to the root, line, column, text)`,
one per match as `rg --vimgrep` prints them (the column in bytes, from 1;
a line with two matches twice), binary files skipped, a line longer than
MAX_TEXT cut around its match. The files searched are ignore.py's (ripgrep's
own rules): git grep's answer is kept to them, the built-in engine walks
them. A pattern is ripgrep's; the other two read it with Python's `re`
(the same for what people type: classes, `\\b`, `\\d`, groups, repeats),
and a pattern it refuses is a GrepError with the reason. Every engine
stops at once when its job is cancelled: ripgrep and git are killed.
"""

import base64
import contextlib
import json
import os
import re
import shutil
import subprocess
import threading
import time
from typing import BinaryIO, Callable, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Set

from remote_lsp.host.files.disk import TEMPORARY_GLOB
from remote_lsp.host.search.ignore import Rules
from remote_lsp.host.search.index import Cancelled, walk_files

ENGINES = ("rg", "git", "builtin")
ENGINE_ENV = "REMOTE_LSP_GREP_ENGINE"  # forces one (tests, benchmarks)
MAX_TEXT = 500  # characters of a longer line kept, around its match
_BEFORE = 100  # ...of which before the match
BINARY_PEEK = 64 * 1024  # a NUL byte in this much of a file: binary, skipped (as ripgrep's first buffer)
CHUNK = 8 << 20  # the built-in search reads a file this much at a time
CASES = ("smart", "sensitive", "insensitive")


class GrepError(Exception):
    """The search cannot run (a bad pattern, an engine that failed); the reason in one line."""


class Match(NamedTuple):
    path: str
    line: int
    column: int
    text: str  # undecodable bytes as surrogates (surrogateescape): bytes back out unchanged


class Query(NamedTuple):
    pattern: str
    fixed: bool = False
    case: str = "smart"
    word: bool = False
    globs: Sequence[str] = ()
    hidden: bool = False
    ignored: bool = False


class Job:
    """One running search: cancelled from any thread, its processes killed at once."""

    def __init__(self) -> None:
        self.cancelled = threading.Event()
        self.cancelled_at = 0.0  # time.monotonic() of the cancel...
        self.stopped_at = 0.0  # ...and of its process's end (reaped) after it
        self._procs: List[subprocess.Popen[bytes]] = []
        self._lock = threading.Lock()

    def spawn(self, argv: List[str], cwd: str) -> "subprocess.Popen[bytes]":
        with self._lock:
            if self.cancelled.is_set():
                raise Cancelled()
            env = dict(os.environ)
            env.pop("RIPGREP_CONFIG_PATH", None)
            env["LC_ALL"] = "C.UTF-8"
            proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=env, close_fds=True)
            self._procs.append(proc)
            return proc

    def cancel(self) -> None:
        with self._lock:
            if not self.cancelled.is_set():
                self.cancelled_at = time.monotonic()
            self.cancelled.set()
            for proc in self._procs:
                if proc.poll() is None:
                    try:
                        proc.kill()
                    except OSError:
                        pass

    def reaped(self, proc: "subprocess.Popen[bytes]") -> None:
        """`proc` is gone (waited for): when it was, if it was cancelled."""
        proc.wait()
        if self.cancelled_at and not self.stopped_at:
            self.stopped_at = time.monotonic()

    def check(self) -> None:
        if self.cancelled.is_set():
            raise Cancelled()

    @contextlib.contextmanager
    def ending(self, proc: "subprocess.Popen[bytes]") -> Iterator[None]:
        """Around the reading of `proc`'s output: however that ends, `proc` is
        killed if still running, reaped, and its pipes closed."""
        try:
            yield
        finally:
            if proc.poll() is None:
                proc.kill()
            self.reaped(proc)
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()


def choose(root: str, forced: Optional[str] = None) -> str:
    """The engine for `root`: the one forced (argument, else $REMOTE_LSP_GREP_ENGINE),
    else rg on PATH, else git in a work tree, else builtin."""
    forced = forced or os.environ.get(ENGINE_ENV) or None
    if forced is not None:
        if forced not in ENGINES:
            raise GrepError("no search engine %r (one of %s)" % (forced, ", ".join(ENGINES)))
        return forced
    if shutil.which("rg"):
        return "rg"
    if in_git_tree(root):
        return "git"
    return "builtin"


def in_git_tree(root: str) -> bool:
    if not shutil.which("git"):
        return False
    try:
        done = subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], cwd=root,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0 and done.stdout.strip() == b"true"


def search(root: str, query: Query, job: Job, engine: str,
           files: Optional[Callable[[], Iterable[str]]] = None) -> Iterator[Match]:
    """The matches under `root`, as found. `files`: the files to search, relative
    to root, when the caller holds them already (an index); else walked."""
    if query.case not in CASES:
        raise GrepError("case must be one of %s" % ", ".join(CASES))
    if engine == "rg":
        return _rg(root, query, job)
    regex = compile_query(query)

    def listed() -> Iterable[str]:
        if files is not None and not query.globs:
            return files()
        return walk_files(root, Rules(query.hidden, query.ignored, query.globs), job.cancelled)

    if engine == "git":
        return _git(root, query, regex, job, listed)
    return _builtin(root, regex, job, listed())


def files(root: str, hidden: bool, ignored: bool, job: Job, engine: str) -> Iterator[str]:
    """The files under root, relative to it: `rg --files` when the engine is rg, else our walk."""
    if engine != "rg":
        yield from walk_files(root, Rules(hidden, ignored), job.cancelled)
        return
    rg = shutil.which("rg")
    if rg is None:
        raise GrepError("ripgrep (rg) is not installed here")
    argv = [rg, "--files", "--no-config", "--no-messages", "--glob=" + TEMPORARY_GLOB]
    argv += ["--hidden"] * hidden + ["--no-ignore"] * ignored + ["--", "."]
    proc = job.spawn(argv, root)
    assert proc.stdout is not None
    with job.ending(proc):
        for raw in proc.stdout:
            name = raw.rstrip(b"\n").decode("utf-8", "surrogateescape")
            yield name[2:] if name.startswith("./") else name
        job.check()


# --- the pattern, for git and builtin -----------------------------------------------------


_POSIX = {"alnum": "a-zA-Z0-9", "alpha": "a-zA-Z", "digit": "0-9", "lower": "a-z", "upper": "A-Z",
          "space": "\\s", "xdigit": "0-9A-Fa-f", "punct": "!-/:-@\\[-`{-~", "word": "\\w", "blank": " \\t"}


def smart_insensitive(query: Query) -> bool:
    if query.case != "smart":
        return query.case == "insensitive"
    text = query.pattern
    if not query.fixed:  # escapes (\W, \S, \p{Lu}) are no uppercase literals
        text = re.sub(r"\\[pP]\{[^}]*\}|\\[pP].|\\.", "", text)
    return not any(c.isupper() for c in text)


def compile_query(query: Query) -> "re.Pattern[str]":
    if "\n" in query.pattern:  # as ripgrep: a line is searched at a time
        raise GrepError("bad pattern: a newline cannot be in it (lines are searched one at a time)")
    if query.fixed:
        body = re.escape(query.pattern)
    else:
        body = re.sub(r"\[:(\w+):\]", lambda m: _POSIX.get(m.group(1), m.group(0)), query.pattern)
        body = body.replace("\\z", "\\Z")
    if query.word:
        body = r"(?<!\w)(?:%s)(?!\w)" % body
    flags = re.MULTILINE | (re.IGNORECASE if smart_insensitive(query) else 0)
    try:
        return re.compile(body, flags)
    except re.error as exc:
        raise GrepError("bad pattern '%s': %s" % (query.pattern, exc)) from None
    except (OverflowError, RecursionError) as exc:
        raise GrepError("bad pattern '%s': %s" % (query.pattern, exc)) from None


def _line_matches(path: str, number: int, line: str, regex: "re.Pattern[str]") -> Iterator[Match]:
    found = [m for m in regex.finditer(line)]
    wide = [m for m in found if m.end() > m.start()]
    ascii_ = line.isascii()
    for m in wide or found[:1]:
        start = m.start()
        column = start + 1 if ascii_ else len(line[:start].encode("utf-8", "surrogateescape")) + 1
        yield Match(path, number, column, cut(line, start))


def cut(line: str, start: int) -> str:
    if len(line) <= MAX_TEXT:
        return line
    begin = max(0, min(start - _BEFORE, len(line) - MAX_TEXT))
    return line[begin:begin + MAX_TEXT]


# --- the engines --------------------------------------------------------------------------


def _rg(root: str, query: Query, job: Job) -> Iterator[Match]:
    rg = shutil.which("rg")
    if rg is None:
        raise GrepError("ripgrep (rg) is not installed here")
    case = {"smart": "--smart-case", "sensitive": "--case-sensitive", "insensitive": "--ignore-case"}
    argv = [rg, "--json", "--no-config", "--no-messages", "--line-buffered", case[query.case]]
    if query.fixed:
        argv.append("--fixed-strings")
    if query.word:
        argv.append("--word-regexp")
    if query.hidden:
        argv.append("--hidden")
    if query.ignored:
        argv.append("--no-ignore")
    argv += ["--glob=" + g for g in (*query.globs, TEMPORARY_GLOB)]
    argv += ["--regexp=" + query.pattern, "--", "."]
    proc = job.spawn(argv, root)
    return _rg_read(proc, job, query.pattern)


def _rg_read(proc: "subprocess.Popen[bytes]", job: Job, pattern: str) -> Iterator[Match]:
    assert proc.stdout is not None and proc.stderr is not None
    with job.ending(proc):
        for raw in proc.stdout:
            if job.cancelled.is_set():
                break  # killed: what it wrote before is not read
            if not raw.startswith(b'{"type":"match"'):
                continue
            data = json.loads(raw)["data"]
            path = _text_of(data["path"])
            if path.startswith("./"):
                path = path[2:]
            line_bytes = _bytes_of(data["lines"])
            if line_bytes.endswith(b"\n"):
                line_bytes = line_bytes[:-1]
            line = line_bytes.decode("utf-8", "surrogateescape")
            ascii_ = line.isascii()
            number = data["line_number"]
            for sub in data["submatches"]:
                start = sub["start"]
                at = start if ascii_ else len(line_bytes[:start].decode("utf-8", "surrogateescape"))
                yield Match(path, number, start + 1, cut(line, at))
        job.check()
        err = proc.stderr.read().decode("utf-8", "replace").strip()
        rc = proc.wait()
        job.check()
        if rc == 2 and err:
            raise GrepError(_rg_error(pattern, err))


def _rg_error(pattern: str, err: str) -> str:
    """ripgrep's regex error is a small drawing over several lines: its reason, in one line."""
    for line in err.splitlines():
        if line.strip().startswith("error:"):
            return "bad pattern '%s': %s" % (pattern, line.strip()[len("error:"):].strip())
    return "rg: " + " ".join(err.split())


def _text_of(obj: dict) -> str:
    if "text" in obj:
        return obj["text"]
    return base64.b64decode(obj["bytes"]).decode("utf-8", "surrogateescape")


def _bytes_of(obj: dict) -> bytes:
    if "text" in obj:
        return obj["text"].encode("utf-8", "surrogateescape")
    return base64.b64decode(obj["bytes"])


def _git(root: str, query: Query, regex: "re.Pattern[str]", job: Job,
         listed: Callable[[], Iterable[str]]) -> Iterator[Match]:
    """git grep finds the lines (fast, in C); ours finds the columns, and keeps
    to the files ripgrep's rules list (git knows neither .ignore nor hidden).
    What those rules list and git would not search (a file .gitignore leaves
    out and a .ignore lets in) is searched by the built-in engine after it."""
    if not shutil.which("git"):
        raise GrepError("git is not installed here")
    allowed = set(listed())
    job.check()
    rest: List[str] = []
    if not query.ignored:  # git grep --untracked skips what .gitignore names, tracked or not
        known = _git_list(job, root, "--cached", "--others") - _git_list(job, root, "--cached", "--ignored")
        rest = sorted(allowed - known)
    yield from _git_grep(root, query, regex, job, allowed)
    yield from _builtin(root, regex, job, rest)


def _git_list(job: Job, root: str, *which: str) -> Set[str]:
    lister = job.spawn(["git", "ls-files", "-z", "--exclude-standard", *which], root)
    names = lister.communicate()[0].decode("utf-8", "surrogateescape").split("\0")
    job.check()
    return set(names)


def _git_grep(root: str, query: Query, regex: "re.Pattern[str]", job: Job,
              allowed: Set[str]) -> Iterator[Match]:
    argv = ["git", "-c", "core.quotePath=false", "grep", "-I", "-n", "-z", "--no-color", "--untracked"]
    if query.ignored:
        argv.append("--no-exclude-standard")
    argv.append("-F" if query.fixed else "-P" if _git_has_pcre() else "-E")
    if smart_insensitive(query):
        argv.append("-i")
    if query.word:
        argv.append("-w")
    argv += ["-e", query.pattern, "--"]
    proc = job.spawn(argv, root)
    assert proc.stdout is not None and proc.stderr is not None
    binary = set()  # NUL past git's first 8000 bytes: as ripgrep, the file ends there
    with job.ending(proc):
        for raw in proc.stdout:
            if job.cancelled.is_set():
                break
            parts = raw.rstrip(b"\n").split(b"\0", 2)
            if len(parts) != 3:
                continue
            path = parts[0].decode("utf-8", "surrogateescape")
            if path not in allowed or path in binary:
                continue
            if b"\0" in parts[2]:
                binary.add(path)
                continue
            line = parts[2].decode("utf-8", "surrogateescape")
            yield from _line_matches(path, int(parts[1]), line, regex)
        job.check()
        err = proc.stderr.read().decode("utf-8", "replace").strip()
        rc = proc.wait()
        job.check()
        if rc not in (0, 1):
            raise GrepError("git grep: %s" % (" ".join(err.split()) or "failed (exit %d)" % rc))


_PCRE: List[bool] = []


def _git_has_pcre() -> bool:
    if not _PCRE:
        try:
            done = subprocess.run(["git", "grep", "--no-index", "-P", "-q", "x", "--", os.devnull],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  timeout=10)
            _PCRE.append(b"PCRE" not in done.stderr and b"perl" not in done.stderr.lower())
        except (OSError, subprocess.SubprocessError):
            _PCRE.append(False)
    return _PCRE[0]


def _builtin(root: str, regex: "re.Pattern[str]", job: Job, files: Iterable[str]) -> Iterator[Match]:
    for rel in files:
        job.check()
        try:
            with open(os.path.join(root, rel), "rb") as f:
                yield from _search_file(rel, f, regex, job)
        except OSError:
            continue


def _search_file(rel: str, f: BinaryIO, regex: "re.Pattern[str]", job: Job) -> Iterator[Match]:
    """One file, a chunk of whole lines at a time (a large file never whole in memory)."""
    done = 0  # lines before this chunk
    carry = b""
    first = True
    while True:
        block = f.read(CHUNK)
        data = carry + block
        if not block:  # the end: its last line, if it has no newline
            if not data:
                return
            carry = b""
        else:
            end = data.rfind(b"\n") + 1
            if not end:  # one line longer than a chunk: read on to its end
                carry = data
                continue
            data, carry = data[:end], data[end:]
        nul = data.find(b"\0")
        last = nul != -1
        if last:
            if first and nul < BINARY_PEEK:
                return  # binary: skipped
            data = data[:data.rfind(b"\n", 0, nul) + 1]  # as ripgrep: what came before it, then stop
        first = False
        text = data.decode("utf-8", "surrogateescape")
        lines = text.split("\n")
        if text.endswith("\n"):
            lines.pop()
        if regex.search(text) is not None:
            for number, line in enumerate(lines, done + 1):
                if regex.search(line) is not None:
                    yield from _line_matches(rel, number, line, regex)
        done += len(lines)
        job.check()
        if last:
            return

"""LSP 3.17 file watchers: glob patterns, relative patterns, watch kinds.

Syntax (the spec's GlobPattern): `*` any characters within a path segment
(none included, as VS Code and the corrected spec text have it), `?` one
character, `**` any number of segments (none included), `{a,b}` either (may
nest, may hold `/`), `[...]` a character range, `[!...]` its negation.
A RelativePattern matches paths relative to its baseUri (a URI, or a
WorkspaceFolder); a plain pattern matches relative to each workspace folder,
or, when absolute, the path itself.
"""

import os
import re
from typing import Any, List, Optional, Pattern, Tuple
from urllib.parse import unquote, urlparse

WATCH_CREATE, WATCH_CHANGE, WATCH_DELETE = 1, 2, 4
ALL_KINDS = WATCH_CREATE | WATCH_CHANGE | WATCH_DELETE
# FileChangeType (1 created, 2 changed, 3 deleted) -> the WatchKind bit it needs
KIND_OF_CHANGE = {1: WATCH_CREATE, 2: WATCH_CHANGE, 3: WATCH_DELETE}
_MAX_ALTERNATIVES = 256  # brace expansion beyond this is refused (bad input, not a pattern)


class GlobError(ValueError):
    pass


def expand_braces(pattern: str) -> List[str]:
    """`{a,b}` groups expanded (nested ones too): the alternatives of a pattern."""
    start = _find_open(pattern)
    if start < 0:
        return [pattern]
    depth, parts, last = 0, [], start + 1
    for i in range(start, len(pattern)):
        c = pattern[i]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                parts.append(pattern[last:i])
                head, tail = pattern[:start], pattern[i + 1:]
                out: List[str] = []
                for part in parts:
                    out.extend(expand_braces(head + part + tail))
                    if len(out) > _MAX_ALTERNATIVES:
                        raise GlobError("too many alternatives in %r" % pattern)
                return out
        elif c == "," and depth == 1:
            parts.append(pattern[last:i])
            last = i + 1
    raise GlobError("unclosed { in %r" % pattern)


def _find_open(pattern: str) -> int:
    """The first `{` outside a `[...]` range, -1 if none."""
    i = 0
    while i < len(pattern):
        if pattern[i] == "[":
            end = pattern.find("]", i + 2)
            if end > 0:
                i = end + 1
                continue
        if pattern[i] == "{":
            return i
        i += 1
    return -1


def _segment_regex(seg: str) -> str:
    out, i = [], 0
    while i < len(seg):
        c = seg[i]
        if c == "*":
            while i + 1 < len(seg) and seg[i + 1] == "*":
                i += 1
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = seg.find("]", i + 2 if seg[i + 1:i + 2] in ("!", "^") else i + 1)
            if end < 0:
                out.append(re.escape(c))
            else:
                body = seg[i + 1:end]
                neg = body[:1] in ("!", "^")
                if neg:
                    body = body[1:]
                body = body.replace("\\", "\\\\").replace("[", "\\[")
                out.append("[%s%s]" % ("^" if neg else "", body))
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


class Glob:
    """One glob pattern, matched against '/'-separated relative paths."""

    __slots__ = ("_alts", "_regex", "pattern")

    def __init__(self, pattern: str) -> None:
        if not isinstance(pattern, str) or not pattern:
            raise GlobError("a glob pattern must be a non-empty string")
        self.pattern = pattern
        self._alts: List[List[Optional[Pattern[str]]]] = []  # segments; None for **
        regexes = []
        try:
            for alt in expand_braces(pattern):
                segs = [s for s in alt.split("/") if s] or [""]
                self._alts.append([None if s == "**" else re.compile(_segment_regex(s)) for s in segs])
                regexes.append(_alt_regex(segs))
            self._regex = re.compile("(?:%s)\\Z" % "|".join(regexes), re.DOTALL)
        except re.error as exc:
            raise GlobError("bad glob %r: %s" % (pattern, exc)) from None

    def match(self, rel: str) -> bool:
        return self._regex.match(rel) is not None

    def could_contain(self, rel_dir: str) -> bool:
        """Could something strictly under directory `rel_dir` match?"""
        parts = [p for p in rel_dir.split("/") if p]
        for segs in self._alts:
            states = _closure(segs, {0})
            for part in parts:
                nxt = set()
                for i in states:
                    if i < len(segs):
                        seg = segs[i]
                        if seg is None:
                            nxt.add(i)
                        elif seg.fullmatch(part):
                            nxt.add(i + 1)
                states = _closure(segs, nxt)
                if not states:
                    break
            if any(i < len(segs) for i in states):
                return True
        return False


def _alt_regex(segs: List[str]) -> str:
    out = []
    for i, seg in enumerate(segs):
        last = i == len(segs) - 1
        if seg == "**":
            out.append(".*" if last else "(?:[^/]*/)*")
        else:
            out.append(_segment_regex(seg) + ("" if last else "/"))
    return "".join(out)


def _closure(segs: List[Optional[Pattern[str]]], states: set) -> set:
    out = set(states)
    for i in sorted(states):
        j = i
        while j < len(segs) and segs[j] is None:
            j += 1
            out.add(j)
    return out


class FileWatcher:
    """One FileSystemWatcher of a registration, bound to one base directory."""

    __slots__ = ("base", "glob", "kind")

    def __init__(self, base: str, glob: Glob, kind: int) -> None:
        self.base = base
        self.glob = glob
        self.kind = kind

    def describe(self) -> str:
        kinds = "" if self.kind == ALL_KINDS else " (%s)" % ",".join(
            n for b, n in ((WATCH_CREATE, "create"), (WATCH_CHANGE, "change"), (WATCH_DELETE, "delete"))
            if self.kind & b)
        return "%s/%s%s" % (self.base.rstrip("/"), self.glob.pattern, kinds)

    def _rel(self, path: str) -> Optional[str]:
        if path == self.base:
            return ""
        prefix = self.base.rstrip("/") + "/"
        return path[len(prefix):] if path.startswith(prefix) else None

    def matches(self, path: str, change: int) -> bool:
        if not self.kind & KIND_OF_CHANGE.get(change, 0):
            return False
        rel = self._rel(path)
        return bool(rel) and self.glob.match(rel)  # type: ignore[arg-type]

    def wants_dir(self, path: str) -> bool:
        """Must directory `path` be watched for this watcher?"""
        rel = self._rel(path)
        if rel is None:  # not under the base: only if the base is under it
            return self.base.startswith(path.rstrip("/") + "/")
        return self.glob.could_contain(rel)


def path_of_uri(uri: Any) -> Optional[str]:
    if not isinstance(uri, str) or not uri.startswith("file://"):
        return None
    return unquote(urlparse(uri).path) or None


def parse_watchers(options: Any, folders: List[str]) -> Tuple[List[FileWatcher], List[str]]:
    """A didChangeWatchedFiles registration's watchers for `folders`
    (workspace folder paths), and a line for each one that cannot be served."""
    out: List[FileWatcher] = []
    problems: List[str] = []
    watchers = options.get("watchers") if isinstance(options, dict) else None
    if not isinstance(watchers, list):
        return out, ["a didChangeWatchedFiles registration without a watchers list"]
    for w in watchers:
        try:
            out.extend(_watcher(w, folders))
        except GlobError as exc:
            problems.append(str(exc))
    return out, problems


def _watcher(w: Any, folders: List[str]) -> List[FileWatcher]:
    if not isinstance(w, dict):
        raise GlobError("a watcher that is not an object: %r" % (w,))
    kind = w.get("kind", ALL_KINDS)
    if not isinstance(kind, int) or isinstance(kind, bool) or not 0 <= kind <= ALL_KINDS:
        raise GlobError("a watcher with a bad kind %r" % (kind,))
    pattern = w.get("globPattern")
    if isinstance(pattern, dict):
        base_uri = pattern.get("baseUri")
        if isinstance(base_uri, dict):  # a WorkspaceFolder
            base_uri = base_uri.get("uri")
        base = path_of_uri(base_uri)
        if base is None:
            raise GlobError("a relative pattern whose baseUri is not a file URI: %r" % (base_uri,))
        bases, text = [os.path.normpath(base)], pattern.get("pattern")
    elif isinstance(pattern, str) and pattern.startswith("/"):
        base, text = _literal_base(pattern)
        bases = [base]
    else:
        bases, text = [os.path.normpath(f) for f in folders], pattern
    if not isinstance(text, str) or not text:
        raise GlobError("a watcher without a glob pattern: %r" % (pattern,))
    glob = Glob(text)
    return [FileWatcher(b, glob, kind) for b in bases]


def _literal_base(pattern: str) -> Tuple[str, str]:
    """An absolute pattern as (base directory, pattern relative to it): its
    leading segments without glob syntax are the base."""
    segs = [s for s in pattern.split("/") if s]
    n = 0
    while n < len(segs) - 1 and not any(c in segs[n] for c in "*?[{"):
        n += 1
    return "/" + "/".join(segs[:n]), "/".join(segs[n:])

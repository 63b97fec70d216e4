"""The file list of one searched tree, in memory, kept current by the watcher.

A find walks nothing: it reads this. The list is what `rg --files` lists
(ignore.py's rules), per directory: its files as one '\\0'-joined string
(100,000 names cost a few MB), its rules, its subdirectories. Built on first
use by `walk` (the same walk a search without an index does), then changed
where the watcher says: a directory whose entries came or went is listed
again, a directory that appeared is walked, one that went is dropped with
what was under it, and a changed ignore file walks its directory again.

Threads: the index is built and changed on the search service's threads and
read by finds on theirs; `lock` makes each change whole, and a reader takes
a snapshot (a list of the directories' strings) under it.
"""

import os
import re
import threading
import time
from typing import Callable, Dict, Iterator, List, Optional, Tuple

from remote_lsp.host.search.ignore import IGNORE_FILES, RULE_NAMES, Level, Rules

SEP = "\0"


class Cancelled(Exception):
    """The search was cancelled (a newer one replaced it, or the editor asked)."""


_Entry = Tuple[str, str, bool]  # name, full path, is a directory


def listing(path: str) -> Tuple[List[_Entry], List[str]]:
    """A directory's regular files and subdirectories (symlinks are not followed,
    as ripgrep's), and which of the names that make rules it has."""
    entries: List[_Entry] = []
    present: List[str] = []
    try:
        it = os.scandir(path)
    except OSError:
        return entries, present
    with it:
        for entry in it:
            if entry.name in RULE_NAMES:
                present.append(entry.name)
            try:
                if entry.is_symlink():
                    continue
                is_dir = entry.is_dir(follow_symlinks=False)
                if not is_dir and not entry.is_file(follow_symlinks=False):
                    continue
            except OSError:
                continue
            entries.append((entry.name, entry.path, is_dir))
    return entries, present


def kept(rules: Rules, level: Level, entries: List[_Entry], root_prefix: int) -> Tuple[List[str], List[str]]:
    """The files and subdirectories (names) the rules let in."""
    files: List[str] = []
    dirs: List[str] = []
    excluded = rules.excluded
    for name, path, is_dir in entries:
        if not excluded(level, path, name, is_dir, root_prefix):
            (dirs if is_dir else files).append(name)
    return files, dirs


def tree(rules: Rules, root: str, rel: str, parent: Optional[Level], cancel: Optional[threading.Event] = None
         ) -> Iterator[Tuple[str, Level, List[str], List[str]]]:
    """(directory relative to root, its level, files, subdirectories) from `rel`
    down, depth first; `parent`: the level above `rel` (None: rel is the root)."""
    prefix = len(root) + 1 if root != "/" else 1
    stack = [(rel, os.path.join(root, rel) if rel else root, parent)]
    while stack:
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        here, path, above = stack.pop()
        entries, present = listing(path)
        level = rules.top(root) if above is None else rules.child(above, path, present)
        files, dirs = kept(rules, level, entries, prefix)
        yield here, level, files, dirs
        for name in dirs:
            stack.append((_join(here, name), os.path.join(path, name), level))


def walk(root: str, rules: Rules, cancel: Optional[threading.Event] = None
         ) -> Iterator[Tuple[str, Level, List[str], List[str]]]:
    """The whole tree under `root`, as `tree` gives it."""
    return tree(rules, root.rstrip("/") or "/", "", None, cancel)


def walk_files(root: str, rules: Rules, cancel: Optional[threading.Event] = None) -> Iterator[str]:
    for rel, _level, files, _dirs in walk(root, rules, cancel):
        for name in files:
            yield rel + "/" + name if rel else name


class _Dir:
    __slots__ = ("dirs", "files", "level")

    def __init__(self, level: Level, files: List[str], dirs: List[str]) -> None:
        self.level = level
        self.files = SEP.join(files)
        self.dirs = frozenset(dirs)


class FileIndex:
    """One tree's file list as one set of rules sees it (hidden, ignored)."""

    def __init__(self, root: str, hidden: bool, ignored: bool) -> None:
        self.root = root.rstrip("/") or "/"
        self.rules = Rules(hidden, ignored)
        self.prefix = len(self.root) + 1 if self.root != "/" else 1
        self.lock = threading.Lock()
        self.dirs: Dict[str, _Dir] = {}
        self.built = threading.Event()
        self.building = threading.Lock()  # held by the one thread building it
        self.built_at_ns = 0
        self.subscription = None  # the watcher's, while it is kept

    # --- building and reading ---------------------------------------------------------------

    def ensure(self, cancel: threading.Event) -> bool:
        """Built (by this thread, or by another while it waited); True if by this one."""
        while not self.built.is_set():
            if self.building.acquire(timeout=0.05):
                try:
                    if self.built.is_set():
                        return False
                    self.built_at_ns = time.time_ns()
                    dirs = {rel: _Dir(level, files, subdirs) for rel, level, files, subdirs
                            in walk(self.root, self.rules, cancel)}
                    with self.lock:
                        self.dirs = dirs
                    self.built.set()
                    return True
                finally:
                    self.building.release()
            if cancel.is_set():
                raise Cancelled()
        return False

    def snapshot(self) -> List[Tuple[str, str]]:
        """(directory, its files '\\0'-joined) for every directory, as they are now."""
        with self.lock:
            return [(rel, d.files) for rel, d in self.dirs.items() if d.files]

    def files(self) -> Iterator[str]:
        for rel, joined in self.snapshot():
            head = rel + "/" if rel else ""
            for name in joined.split(SEP):
                yield head + name

    def count(self) -> int:
        with self.lock:
            return sum(d.files.count(SEP) + 1 for d in self.dirs.values() if d.files)

    # --- kept current -----------------------------------------------------------------------

    def skip(self, path: str) -> bool:
        """For the watcher: a directory nothing of this index is in (not to be watched).
        One just made may be under others just made, not listed yet: the rules from
        the nearest listed directory down to it decide."""
        rel = self._rel(path)
        if rel is None:
            return True
        if not rel:
            return False
        parts = rel.split("/")
        with self.lock:
            known = None
            depth = len(parts) - 1
            while known is None and depth >= 0:
                known = self.dirs.get("/".join(parts[:depth]))
                depth -= 1 if known is None else 0
        if known is None:
            return True
        level = known.level
        for name in parts[depth:]:
            full = os.path.join(level.path, name)
            if self.rules.excluded(level, full, name, True, self.prefix):
                return True
            level = self.rules.child(level, full)
        return False

    def _rel(self, path: str) -> Optional[str]:
        if path == self.root:
            return ""
        if not path.startswith(self.root.rstrip("/") + "/"):
            return None
        return path[self.prefix:]

    def changed(self, paths: List[str]) -> bool:
        """The watcher saw these paths change: list their directories again. True if
        the rules changed somewhere (the watcher's subscription should be refreshed)."""
        again: Dict[str, bool] = {}  # directory -> walk it whole (its ignore rules changed)
        for path in paths:
            parent, name = os.path.split(path)
            rel = self._rel(parent)
            if rel is None:
                continue
            whole = name in IGNORE_FILES
            again[rel] = again.get(rel, False) or whole
            if name == "exclude" and parent.endswith("/.git/info"):
                top = self._rel(parent[:-len("/.git/info")])
                if top is not None:
                    again[top] = True
        self.relist(again)
        return any(again.values())

    def relist(self, again: Dict[str, bool]) -> None:
        """List these directories again (True: walk it whole, its rules read anew)."""
        for rel in sorted(again, key=len):
            self._refresh(rel, again[rel])

    def _refresh(self, rel: str, whole: bool) -> None:
        with self.lock:
            known = self.dirs.get(rel)
        if known is None:
            return  # not in the list: an excluded directory, or under one; its parent decides
        if whole:  # its own rules changed: it and what is under it, again
            self._drop(rel, keep_self=False)
            self._add_tree(rel, self._parent_level(rel))
            return
        full = self.root if not rel else os.path.join(self.root, rel)
        files, dirs = kept(self.rules, known.level, listing(full)[0], self.prefix)
        new = _Dir(known.level, files, dirs)
        with self.lock:
            self.dirs[rel] = new
        for name in known.dirs - new.dirs:
            self._drop(_join(rel, name), keep_self=False)
        for name in new.dirs - known.dirs:
            self._add_tree(_join(rel, name), known.level)

    def _parent_level(self, rel: str) -> Optional[Level]:
        if not rel:
            return None
        with self.lock:
            parent = self.dirs.get(rel.rsplit("/", 1)[0] if "/" in rel else "")
        return parent.level if parent is not None else None

    def _add_tree(self, rel: str, parent: Optional[Level]) -> None:
        if rel and parent is None:
            return  # its parent went meanwhile
        found = {here: _Dir(level, files, dirs)
                 for here, level, files, dirs in tree(self.rules, self.root, rel, parent)}
        with self.lock:
            self.dirs.update(found)

    def _drop(self, rel: str, keep_self: bool) -> None:
        head = rel + "/"
        with self.lock:
            for key in [k for k in self.dirs if k.startswith(head) or (k == rel and not keep_self)]:
                del self.dirs[key]
            if rel == "":
                self.dirs.clear()

    def catch_up(self) -> None:
        """Once watched: list again the directories changed since the build began
        (by their mtime), whose changes the watcher may have missed meanwhile."""
        with self.lock:
            names = list(self.dirs)
        stale = {}
        for rel in names:
            try:
                if os.stat(self.root if not rel else os.path.join(self.root, rel)).st_mtime_ns \
                        >= self.built_at_ns - 10_000_000:
                    stale[rel] = False
            except OSError:
                parent = rel.rsplit("/", 1)[0] if "/" in rel else ""
                stale[parent] = False
        self.relist(stale)


def _join(rel: str, name: str) -> str:
    return rel + "/" + name if rel else name


def rank(query: str) -> Callable[[str], Tuple[int, int, str]]:
    """How well a path matches a query (less is better): the query in its name, then
    in the path, then only as a subsequence; then the shorter path."""
    q = query.lower()

    def key(path: str) -> Tuple[int, int, str]:
        lower = path.lower()
        tier = 0 if q in lower[lower.rfind("/") + 1:] else 1 if q in lower else 2
        return tier, len(path), path

    return key


def subsequence(query: str) -> Callable[[str], bool]:
    """A case-insensitive fuzzy filter: the query's characters in order, anything between."""
    regex = re.compile(".*?".join(re.escape(c) for c in query), re.IGNORECASE | re.DOTALL)
    return lambda path: regex.search(path) is not None

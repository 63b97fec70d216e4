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

from remote_lsp.host.search.ignore import IGNORE_FILES, Level, Rules

SEP = "\0"


class Cancelled(Exception):
    """The search was cancelled (a newer one replaced it, or the editor asked)."""


def scan(rules: Rules, level: Level, root_prefix: int) -> Tuple[List[str], List[str]]:
    """A directory's files and subdirectories (names) as the rules let them in."""
    files: List[str] = []
    dirs: List[str] = []
    base = level.path
    try:
        it = os.scandir(base)
    except OSError:
        return files, dirs
    with it:
        for entry in it:
            try:
                if entry.is_symlink():
                    continue  # as ripgrep: links are not followed
                is_dir = entry.is_dir(follow_symlinks=False)
                if not is_dir and not entry.is_file(follow_symlinks=False):
                    continue
            except OSError:
                continue
            if rules.excluded(level, entry.path, entry.name, is_dir, root_prefix):
                continue
            (dirs if is_dir else files).append(entry.name)
    return files, dirs


def walk(root: str, rules: Rules, cancel: Optional[threading.Event] = None
         ) -> Iterator[Tuple[str, Level, List[str], List[str]]]:
    """(directory relative to root, its level, files, subdirectories), depth first."""
    root = root.rstrip("/") or "/"
    prefix = len(root) + 1 if root != "/" else 1
    stack = [("", rules.top(root))]
    while stack:
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        rel, level = stack.pop()
        files, dirs = scan(rules, level, prefix)
        yield rel, level, files, dirs
        for name in dirs:
            stack.append((_join(rel, name), rules.child(level, os.path.join(level.path, name))))


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
        self.used = time.monotonic()

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
        """For the watcher: a directory nothing of this index is in (not to be watched)."""
        if path == self.root:
            return False
        parent, name = os.path.split(path)
        rel_parent = self._rel(parent)
        if rel_parent is None:
            return True
        with self.lock:
            known = self.dirs.get(rel_parent)
        if known is None:
            return True
        return self.rules.excluded(known.level, path, name, True, self.prefix)

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
        full = self.root if not rel else os.path.join(self.root, rel)
        if whole:  # its own rules changed: it and what is under it, again
            level = _relevel(self, rel, full)
            self._drop(rel, keep_self=False)
            self._add_tree(rel, level)
            return
        files, dirs = scan(self.rules, known.level, self.prefix)
        new = _Dir(known.level, files, dirs)
        with self.lock:
            self.dirs[rel] = new
        for name in known.dirs - new.dirs:
            self._drop(rel + "/" + name if rel else name, keep_self=False)
        for name in new.dirs - known.dirs:
            child = rel + "/" + name if rel else name
            self._add_tree(child, self.rules.child(known.level, os.path.join(full, name)))

    def _add_tree(self, rel: str, level: Level) -> None:
        stack = [(rel, level)]
        found: Dict[str, _Dir] = {}
        while stack:
            here, lv = stack.pop()
            files, dirs = scan(self.rules, lv, self.prefix)
            found[here] = _Dir(lv, files, dirs)
            for name in dirs:
                stack.append((_join(here, name), self.rules.child(lv, os.path.join(lv.path, name))))
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


def _relevel(index: FileIndex, rel: str, full: str) -> Level:
    """A directory's level made again (its ignore files read anew)."""
    if not rel:
        return index.rules.top(index.root)
    parent_rel = rel.rsplit("/", 1)[0] if "/" in rel else ""
    with index.lock:
        parent = index.dirs.get(parent_rel)
    if parent is None:
        return index.rules.top(full)
    return index.rules.child(parent.level, full)


def _join(rel: str, name: str) -> str:
    return rel + "/" + name if rel else name


def subsequence(query: str) -> Callable[[str], bool]:
    """A case-insensitive fuzzy filter: the query's characters in order, anything between."""
    regex = re.compile(".*?".join(re.escape(c) for c in query), re.IGNORECASE | re.DOTALL)
    return lambda path: regex.search(path) is not None

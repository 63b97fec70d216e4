"""The host's file watcher: one per agent, shared by everything that watches.

inotify (watching/inotify.py) where the kernel allows it, so an idle workspace
costs no CPU at all; directories inotify refuses (no inotify, the watch limit
`fs.inotify.max_user_watches` reached) are polled instead, only those, and the
reason is one line in `problem`. Each directory is watched once however many
subscriptions cover it (reference-counted).

Changes go to each subscription in coalesced batches on the loop: a path once
per batch, created-then-deleted dropped, deleted-then-created a change, a
batch sent once the tree has been quiet for QUIET seconds or the oldest
change in it is MAX_DELAY old (both doubled after a batch cut short by
MAX_DELAY, up to BURST times, until a pause as long: a checkout reaches a
server in a few large batches however slowly it is written); a file created
and not yet closed waits for its close (HOLD at most), so a file written in
a burst is one event, not a creation and then a change. So does a file found empty and just made in a
new directory's walk (its writer opened it before the directory's watch
began); a walked file's late events (made between the watch and the listing,
read after) are not told again: only a file that differs from what the walk
saw has changed. What inotify cannot say is rebuilt from what
the watcher remembers of each directory (its entry names): a file renamed
over an existing one (an atomic save) is a change of that file, and after a
kernel queue overflow every watched directory is listed again and the
difference reported. A subscription may *follow* its directory: watched from
its highest watchable ancestor going only towards it, so that the directory
removed, moved away or made again at any level above is told. A save's
temporary file (files/disk.py, `is_temporary`) is never told.
"""

import asyncio
import collections
import errno
import logging
import os
import stat
import time
from typing import Callable, Deque, Dict, List, Optional, Set, Tuple

from remote_lsp.host.files.disk import is_temporary
from remote_lsp.host.watching import inotify as ino

log = logging.getLogger("remote_lsp.watcher")

FileChange = Tuple[str, int]  # (absolute path, 1 created | 2 changed | 3 deleted): LSP's FileChangeType
CREATED, CHANGED, DELETED = 1, 2, 3
QUIET = 0.04  # a batch goes once nothing new came for this long...
MAX_DELAY = 0.2  # ...or its oldest change is this old
BURST = 4  # in a long burst, both at most this many times as long
HOLD = 1.0  # a file created and still open for writing waits this long at most for its close
POLL_INTERVAL = 1.0  # for the directories inotify does not serve...
POLL_SHARE = 0.05  # ...or longer, so that polling a large tree takes at most this share of a CPU
WALK_CHUNK = 200  # directories walked per turn of the loop: a large tree never stalls the agent
MAX_DIRECTORIES = 50000  # watched at most (every subscription together); beyond, a problem line
# File systems whose changes made on other machines inotify never sees: polled.
NETWORK_FS = frozenset({"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ncpfs", "ceph", "glusterfs",
                        "fuse.sshfs", "fuse.rclone", "fuse.s3fs", "lustre", "gpfs", "virtiofs"})
_Stamp = Tuple[int, int, bool]  # mtime_ns, size, is a directory
_Seen = Tuple[int, int, int, int]  # a file as a walk saw it: size, mtime_ns, ctime_ns, inode


class _Dir:
    """One watched directory: its inotify watch (or its polling snapshot),
    the names in it when last seen, the subscriptions that cover it."""

    __slots__ = ("names", "path", "snap", "subs", "wd")

    def __init__(self, path: str) -> None:
        self.path = path
        self.wd = -1
        self.subs: List[Subscription] = []
        self.names: Set[str] = set()
        self.snap: Optional[Dict[str, _Stamp]] = None  # set: polled


class Subscription:
    """Changes under one directory for one caller."""

    def __init__(self, watcher: "Watcher", directory: str, on_changes: Callable[[List[FileChange]], None],
                 recursive: bool, skip: Optional[Callable[[str], bool]], follow: bool = False) -> None:
        self.directory = directory
        self.recursive = recursive
        self.skip = skip
        # follow: watched from `top` (an ancestor), going only towards `directory`, so that its
        # removal, its move and its return, at any level above it, are seen.
        self.top = anchor(directory) if follow else directory
        self._towards = directory.rstrip("/") + "/" if follow and self.top != directory else ""
        self.seen = False  # the directory was there, watched, at some time
        self.refused: Dict[str, str] = {}  # directories under it inotify was refused, and why
        self._watcher = watcher
        self._on_changes = on_changes
        self._dirs: Set[str] = set()
        self._pending: Dict[str, int] = {}
        self._writing: Dict[str, float] = {}  # created, not yet closed: held (one event, not two)
        self._found: Dict[str, Tuple[float, _Seen]] = {}  # told created by a walk: when, as seen
        self._first = 0.0
        self._last = 0.0
        self._flushed = 0.0  # when the last batch went
        self._stretch = 1  # QUIET and MAX_DELAY times this: doubled in a long burst
        self._timer: Optional[asyncio.TimerHandle] = None
        self._forget: Optional[asyncio.TimerHandle] = None  # for `_found`, once its entries are old
        self.closed = False
        self.missing = False  # the directory did not exist when subscribed

    @property
    def directories(self) -> int:
        """Watched at or under its directory (the ones on the way to it not counted)."""
        if not self._towards:
            return len(self._dirs)
        return sum(1 for d in self._dirs if d == self.directory or d.startswith(self._towards))

    def _on_the_way(self, path: str) -> bool:
        """A directory above this following subscription's own, on the way to it."""
        return self._towards.startswith(path.rstrip("/") + "/")

    def _wants(self, path: str) -> bool:
        """Is a change of `path` this subscription's? (Entries beside the way to its directory are not.)"""
        if not self._towards:
            return True
        return path == self.directory or path.startswith(self._towards) or self._on_the_way(path)

    def _enters(self, path: str) -> bool:
        """Is the directory `path` (under top) one to watch?"""
        if self._towards:
            if self._on_the_way(path) or path == self.directory:
                return True
            if not path.startswith(self._towards):
                return False
        return self.recursive and not (self.skip is not None and self.skip(path))

    def covers(self, directory: str) -> bool:
        """Is `directory` one this subscription watches (its direct entries)?"""
        return directory in self._dirs

    def refresh(self) -> None:
        """Its `skip` answers differently now: cover what it no longer skips
        (what is there already is not reported: it was there before)."""
        if not self.closed and not self.missing:
            self._watcher._cover(self, self.top, report=False, again=True)

    def when_covered(self, callback: Callable[[], None]) -> None:
        """`callback` once its tree is watched through (at once if it is)."""
        self._watcher.after_walks(callback)

    @property
    def polled(self) -> int:
        return self._watcher.polled_among(self._dirs)

    @property
    def mode(self) -> str:
        polled = self.polled
        if not polled:
            return "inotify"
        return "polling" if polled == len(self._dirs) else "inotify+polling"

    @property
    def problem(self) -> str:
        if self.missing:
            return "%s does not exist" % self.directory
        if self._towards and self.seen and not os.path.isdir(self.directory):
            return "%s was removed: watched again once it is made" % self.directory
        return self._watcher.problem if self.polled else ""

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self._timer is not None:
                self._timer.cancel()
            if self._forget is not None:
                self._forget.cancel()
            self._pending.clear()
            self._writing.clear()
            self._found.clear()
            self._watcher._unsubscribe(self)

    # --- batching -------------------------------------------------------------------------

    def _event(self, path: str, kind: int, what: int) -> None:
        """An inotify event of `path`: `what` is its mask (IN_CREATE, IN_MODIFY, IN_CLOSE_WRITE...).
        A file a walk told as created may have events from before its listing still
        queued: news only if the file is not as the walk saw it."""
        found = self._found.get(path)
        if found is not None:
            if what & ino.IN_CREATE:
                if path in self._pending:
                    self._writing[path] = time.monotonic()  # not delivered yet: held until its close
                return
            if what & (ino.IN_MODIFY | ino.IN_CLOSE_WRITE | ino.IN_ATTRIB) and _seen(path) == found[1]:
                return
            del self._found[path]  # written (or gone) since: told as ever
        # A file just created is being written: its close says it is done.
        self._add(path, kind, writing=bool(what & ino.IN_CREATE) and not what & ino.IN_ISDIR)

    def _add(self, path: str, kind: int, writing: bool = False, seen: Optional[_Seen] = None) -> None:
        if writing:
            self._writing[path] = time.monotonic()
        elif kind == DELETED:
            self._writing.pop(path, None)
        if seen is not None:
            self._found[path] = (time.monotonic(), seen)
            if self._forget is None:
                self._forget = self._watcher.loop.call_later(HOLD, self._forget_found)
        prev = self._pending.get(path)
        if prev is None:
            self._pending[path] = kind
        elif prev == CREATED:
            if kind == DELETED:
                del self._pending[path]  # it came and went: nothing to tell
        elif prev == DELETED:
            if kind != DELETED:
                self._pending[path] = CHANGED  # replaced
        elif kind == DELETED:
            self._pending[path] = DELETED
        now = time.monotonic()
        self._last = now
        if self._timer is None:
            if now - self._flushed > MAX_DELAY * self._stretch:
                self._stretch = 1  # a pause: the burst, if any, is over
            self._first = now
            self._timer = self._watcher.loop.call_later(QUIET * self._stretch, self._due)

    def _forget_found(self) -> None:
        """What the walks saw, once old: their files' late events have come long since."""
        self._forget = None
        now = time.monotonic()
        for path in [p for p, (at, _) in self._found.items() if now - at >= HOLD]:
            del self._found[path]
        if self._found and not self.closed:
            self._forget = self._watcher.loop.call_later(HOLD, self._forget_found)

    def _due(self) -> None:
        self._timer = None
        now = time.monotonic()
        quiet, most = QUIET * self._stretch, MAX_DELAY * self._stretch
        if now - self._last < quiet and now - self._first < most:
            wait = min(self._last + quiet, self._first + most) - now
            self._timer = self._watcher.loop.call_later(max(wait, 0.001), self._due)
            return
        if self._pending and now - self._last < quiet:  # cut short while changes still come: a burst
            self._stretch = min(self._stretch * 2, BURST)
        held: Dict[str, int] = {}
        if self._writing:
            for path, since in list(self._writing.items()):
                if path in self._pending and now - since < HOLD:
                    held[path] = self._pending.pop(path)
                else:
                    del self._writing[path]
        batch, self._pending = list(self._pending.items()), held
        if batch:
            self._flushed = now
        if held:
            self._first = self._last = now
            self._timer = self._watcher.loop.call_later(QUIET * self._stretch, self._due)
        if batch and not self.closed:
            try:
                self._on_changes(batch)
            except Exception:  # one subscriber's failure must not stop the others
                log.exception("a watch subscriber failed on %d change(s)", len(batch))


class Watcher:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.problem = ""  # one line: why some directories are polled
        self._ino: Optional[ino.Inotify] = None
        self._tried = False
        self._by_path: Dict[str, _Dir] = {}
        self._by_wd: Dict[int, _Dir] = {}
        self._polled: Set[str] = set()
        self._poll_handle: Optional[asyncio.TimerHandle] = None
        self._poll_every = POLL_INTERVAL
        self._read_at = time.time()
        self._remote_tops: Set[str] = set()  # subscribed directories on a network file system
        self._walks: Deque[Tuple[Subscription, List[str], bool, bool]] = collections.deque()
        self._after_walks: List[Callable[[], None]] = []
        self._walking = False
        self._walk_handle: Optional[asyncio.Handle] = None
        self._subs: Set[Subscription] = set()
        self._following: Set[Subscription] = set()
        self._refusal = ""  # why the last directory could not be watched

    # --- the public API ------------------------------------------------------------------

    def subscribe(self, directory: str, on_changes: Callable[[List[FileChange]], None],
                  recursive: bool = True, skip: Optional[Callable[[str], bool]] = None,
                  follow: bool = False) -> Subscription:
        """Changes under `directory` (its direct entries only unless recursive);
        `skip(path)` True: a subdirectory not to go into (nothing asked for is there).
        `follow`: the directory may be missing, or removed, moved away or made again
        at any level above it: watched from its highest watchable ancestor, going only
        towards it; its removal is told (a deletion of it or of a directory above it)
        and, when it is back, what is in it (as created)."""
        self._start()
        directory = os.path.abspath(directory)
        sub = Subscription(self, directory, on_changes, recursive, skip, follow)
        if not os.path.isdir(sub.top):
            sub.missing = True
            return sub
        self._subs.add(sub)
        if follow:
            self._following.add(sub)
        fstype = network_fs(directory)
        if fstype:
            self._remote_tops.add(directory)
            self._note_problem("%s is on a network file system (%s): polled every %g s or more, so that "
                               "changes made on other machines are seen" % (directory, fstype, POLL_INTERVAL))
        self._cover(sub, sub.top, report=False)
        return sub

    def close(self) -> None:
        self._walks.clear()
        if self._walk_handle is not None:
            self._walk_handle.cancel()
            self._walk_handle = None
        if self._poll_handle is not None:
            self._poll_handle.cancel()
            self._poll_handle = None
        if self._ino is not None:
            self.loop.remove_reader(self._ino.fd)
            self._ino.close()
            self._ino = None
        for node in self._by_path.values():
            for sub in node.subs:
                sub.closed = True
        self._subs.clear()
        self._following.clear()
        self._by_path.clear()
        self._by_wd.clear()
        self._polled.clear()

    def describe(self) -> Dict[str, object]:
        """`problem`: why some directories are polled, which followed ones were removed
        (not watched until they are back), which could not be watched (and why)."""
        lines = [self.problem] if self.problem else []
        lines += sorted({s.problem for s in self._following if not s.closed and s.problem})
        refused = {p: why for s in self._subs for p, why in s.refused.items()
                   if p not in self._by_path and os.path.isdir(p)}
        if refused:
            path, why = min(refused.items())
            lines.append("%d director%s cannot be watched (%s: %s)" % (
                len(refused), "y" if len(refused) == 1 else "ies", path, why))
        return {"directories": len(self._by_path), "inotify": len(self._by_wd), "polled": len(self._polled),
                "problem": "; ".join(lines), "max_user_watches": ino.max_user_watches()}

    def polled_among(self, dirs: Set[str]) -> int:
        if not self._polled:
            return 0
        return len(dirs & self._polled)

    # --- directories covered and let go -----------------------------------------------------

    def _start(self) -> None:
        if self._tried:
            return
        self._tried = True
        try:
            self._ino = ino.Inotify()
        except OSError as exc:
            self._note_problem("inotify is not available (%s): the watched directories are polled every %g s"
                               % (exc.strerror or exc, POLL_INTERVAL))
            return
        self.loop.add_reader(self._ino.fd, self._readable)

    def _note_problem(self, line: str) -> None:
        if line != self.problem:
            self.problem = line
            log.warning("%s", line)

    def after_walks(self, callback: Callable[[], None]) -> None:
        """`callback` once every subscription has covered its tree (at once if none is walking)."""
        if self._walks:
            self._after_walks.append(callback)
        else:
            callback()

    def _cover(self, sub: Subscription, top: str, report: bool, again: bool = False) -> None:
        """`sub` covers `top` and (recursive) what is under it; `report`:
        what is found there is new to it (a directory created or moved in);
        `again`: through what it covers already too (its `skip` has changed).
        A large tree is walked a chunk per turn of the loop (the first at once)."""
        self._walks.append((sub, [top], report, again))
        if not self._walking and self._walk_handle is None:
            self._walk_some()

    @property
    def walking(self) -> bool:
        return bool(self._walks)

    def _walk_some(self) -> None:
        self._walk_handle = None
        self._walking = True
        try:
            budget = WALK_CHUNK
            while self._walks and budget > 0:
                sub, stack, report, again = self._walks[0]
                budget = self._walk(sub, stack, report, again, budget)
                if not stack or sub.closed:
                    self._walks.popleft()
        finally:
            self._walking = False
        if self._walks and self._walk_handle is None:
            self._walk_handle = self.loop.call_soon(self._walk_some)
        elif not self._walks and self._after_walks:
            callbacks, self._after_walks = self._after_walks, []
            for callback in callbacks:
                callback()

    def _walk(self, sub: Subscription, stack: List[str], report: bool, again: bool, budget: int) -> int:
        while stack and budget > 0 and not sub.closed:
            if len(self._by_path) >= MAX_DIRECTORIES:
                self._note_problem("more than %d directories to watch: the rest of %s is not watched"
                                   % (MAX_DIRECTORIES, sub.directory))
                stack.clear()
                break
            budget -= 1
            path = stack.pop()
            if path == sub.directory:
                sub.seen = True
            node = self._by_path.get(path)
            if node is None:
                node = self._watch(path)
                if node is None:
                    if self._refusal:
                        sub.refused[path] = self._refusal
                    continue
                entries = self._entries(node)
            elif sub not in node.subs:
                entries = _listing(path)  # shared: what it remembers is kept for its events
            elif again:
                entries = _listing(path)
            else:
                continue
            if sub not in node.subs:
                node.subs.append(sub)
                sub._dirs.add(path)
            for name, is_dir in entries:
                child = os.path.join(path, name)
                if report and sub._wants(child) and not is_temporary(name):
                    seen = None if is_dir else _seen(child)
                    # Found empty, just made: its writer may have it open still, not written yet.
                    writing = seen is not None and seen[0] == 0 and time.time() - seen[1] / 1e9 < HOLD
                    sub._add(child, CREATED, writing, seen)
                if is_dir and sub._enters(child):
                    stack.append(child)
        return budget

    def _watch(self, path: str) -> Optional[_Dir]:
        node = _Dir(path)
        if self._ino is not None and not self._on_network_fs(path):
            # Only a subscription's own directory can be a symlink (none is followed
            # below it): that one is followed, and its changes named through it.
            mask = ino.DIR_MASK & ~ino.IN_DONT_FOLLOW if os.path.islink(path) else ino.DIR_MASK
            try:
                node.wd = self._ino.add(path, mask)
            except OSError as exc:
                if exc.errno in (errno.EACCES, errno.ELOOP):
                    self._refusal = exc.strerror or str(exc)  # named in describe()
                    return None
                if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                    self._refusal = ""
                    return None  # gone already
                if exc.errno == errno.ENOSPC:
                    self._note_problem(
                        "the inotify watch limit is reached (fs.inotify.max_user_watches = %s): the "
                        "directories beyond it are polled every %g s; raise it with "
                        "`sysctl fs.inotify.max_user_watches=N`"
                        % (ino.max_user_watches(), POLL_INTERVAL))
                else:
                    self._note_problem("inotify refused %s (%s): it is polled every %g s"
                                       % (path, exc.strerror, POLL_INTERVAL))
        if node.wd >= 0:
            old = self._by_wd.get(node.wd)
            if old is not None and old.path != path:  # same directory by another name (a bind mount)
                del self._by_path[old.path]
            self._by_wd[node.wd] = node
        else:
            node.snap = {}
            self._polled.add(path)
            self._arm_poll()
        self._by_path[path] = node
        return node

    def _on_network_fs(self, path: str) -> bool:
        return bool(self._remote_tops) and any(path == top or path.startswith(top + os.sep)
                                               for top in self._remote_tops)

    def _entries(self, node: _Dir) -> List[Tuple[str, bool]]:
        """The directory's entries now (name, is a directory), remembered."""
        out: List[Tuple[str, bool]] = []
        snap: Optional[Dict[str, _Stamp]] = {} if node.snap is not None else None
        try:
            with os.scandir(node.path) as it:
                for entry in it:
                    try:
                        is_dir = entry.is_dir(follow_symlinks=False)
                        if snap is not None:
                            st = entry.stat(follow_symlinks=False)
                            snap[entry.name] = (st.st_mtime_ns, st.st_size, is_dir)
                    except OSError:
                        continue
                    out.append((entry.name, is_dir))
        except OSError:
            pass
        node.names = {name for name, _ in out}
        if snap is not None:
            node.snap = snap
        return out

    def _unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)
        self._following.discard(sub)
        for path in sub._dirs:
            node = self._by_path.get(path)
            if node is not None and sub in node.subs:
                node.subs.remove(sub)
                if not node.subs:
                    self._drop(node)
        sub._dirs.clear()

    def _drop(self, node: _Dir) -> None:
        if self._by_path.get(node.path) is node:
            del self._by_path[node.path]
        if node.wd >= 0 and self._by_wd.get(node.wd) is node:
            del self._by_wd[node.wd]
            if self._ino is not None:
                self._ino.remove(node.wd)
        self._polled.discard(node.path)

    def _gone_tree(self, top: str) -> None:
        """A directory went away (deleted, moved out): stop watching it and what was under it."""
        prefix = top + os.sep
        for path in [p for p in self._by_path if p == top or p.startswith(prefix)]:
            node = self._by_path[path]
            for sub in node.subs:
                sub._dirs.discard(path)
            node.subs = []
            self._drop(node)

    # --- events ------------------------------------------------------------------------------

    def _to_subscribers(self, node: _Dir, name: str, kind: int, what: int = 0) -> None:
        """`what`: the inotify event's mask (0: a change found by listing)."""
        if is_temporary(name):
            return  # a save's temporary file, renamed over its target at once: that is the change
        path = os.path.join(node.path, name)
        for sub in node.subs:
            if sub._wants(path):
                if what:
                    sub._event(path, kind, what)
                else:
                    sub._add(path, kind)

    def _closed(self, node: _Dir, name: str) -> None:
        path = os.path.join(node.path, name)
        for sub in node.subs:
            sub._writing.pop(path, None)

    def _new_dir(self, node: _Dir, name: str) -> None:
        """A directory appeared in `node`: each recursive subscription there
        that wants it covers it, and hears of what is in it already."""
        path = os.path.join(node.path, name)
        for sub in list(node.subs):
            if sub._enters(path):
                self._cover(sub, path, report=True)

    def _readable(self) -> None:
        assert self._ino is not None
        since, self._read_at = self._read_at, time.time()
        for wd, mask, _cookie, name in self._ino.read():
            if mask & ino.IN_Q_OVERFLOW:
                log.warning("the kernel's inotify queue overflowed: every watched directory is listed again")
                self._rescan(since - 1.0)
                continue
            node = self._by_wd.get(wd)
            if node is None:
                continue
            if mask & (ino.IN_IGNORED | ino.IN_DELETE_SELF | ino.IN_MOVE_SELF | ino.IN_UNMOUNT):
                if not name:
                    self._gone_tree(node.path)
                continue
            is_dir = bool(mask & ino.IN_ISDIR)
            if mask & (ino.IN_CREATE | ino.IN_MOVED_TO):
                # Renamed over: an atomic save. (A name created is new: if a walk listed it, that
                # was after its creation.)
                kind = CHANGED if mask & ino.IN_MOVED_TO and name in node.names else CREATED
                node.names.add(name)
                self._to_subscribers(node, name, kind, mask)
                if is_dir:
                    if kind == CHANGED:
                        self._gone_tree(os.path.join(node.path, name))
                    self._new_dir(node, name)
            elif mask & (ino.IN_DELETE | ino.IN_MOVED_FROM):
                node.names.discard(name)
                self._to_subscribers(node, name, DELETED, ino.IN_DELETE)
                if is_dir:
                    self._gone_tree(os.path.join(node.path, name))
            elif mask & (ino.IN_MODIFY | ino.IN_CLOSE_WRITE | ino.IN_ATTRIB) and not is_dir:
                self._to_subscribers(node, name, CHANGED, mask)
                if mask & ino.IN_CLOSE_WRITE:
                    self._closed(node, name)

    def _rescan(self, since: float) -> None:
        """Events were lost: list every inotify-watched directory again and report
        the difference (entries come and gone; files written since `since`)."""
        mark = int(since * 1e9)
        for node in self._by_path.values():
            for sub in node.subs:
                sub._writing.clear()  # their closes may be among the events lost
                sub._found.clear()
        for node in list(self._by_path.values()):
            if node.snap is not None or self._by_path.get(node.path) is not node:
                continue
            before = node.names
            entries = self._entries(node)
            for name, is_dir in entries:
                if name not in before:
                    self._to_subscribers(node, name, CREATED)
                    if is_dir:
                        self._new_dir(node, name)
                elif not is_dir and _mtime_ns(os.path.join(node.path, name)) >= mark:
                    self._to_subscribers(node, name, CHANGED)
            for name in before - node.names:
                self._to_subscribers(node, name, DELETED)
                self._gone_tree(os.path.join(node.path, name))

    # --- polling, where inotify does not serve -----------------------------------------------

    def _arm_poll(self) -> None:
        if self._poll_handle is None and self._polled:
            self._poll_handle = self.loop.call_later(self._poll_every, self._poll)

    def _poll(self) -> None:
        self._poll_handle = None
        started = time.monotonic()
        for path in list(self._polled):
            node = self._by_path.get(path)
            if node is None or node.snap is None:
                continue
            if not os.path.isdir(path):
                continue  # its parent's poll (or inotify) reports it gone
            before = node.snap
            self._entries(node)
            after = node.snap
            for name, stamp in after.items():
                old = before.get(name)
                if old is None:
                    self._to_subscribers(node, name, CREATED)
                    if stamp[2]:
                        self._new_dir(node, name)
                elif old != stamp and not stamp[2]:
                    self._to_subscribers(node, name, CHANGED)
            for name, stamp in before.items():
                if name not in after:
                    self._to_subscribers(node, name, DELETED)
                    if stamp[2]:
                        self._gone_tree(os.path.join(path, name))
        self._poll_every = max(POLL_INTERVAL, (time.monotonic() - started) / POLL_SHARE)
        self._arm_poll()


def network_fs(path: str) -> str:
    """The type of the network file system `path` is on ("" if local), from
    /proc/self/mounts (the longest mount point that holds it)."""
    best, fstype = "", ""
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                fields = line.split()
                if len(fields) < 3:
                    continue
                point = fields[1].replace("\\040", " ")
                inside = path == point or path.startswith(point.rstrip("/") + "/")
                if inside and len(point) >= len(best):
                    best, fstype = point, fields[2]
    except OSError:
        return ""
    return fstype if fstype in NETWORK_FS else ""


def anchor(path: str) -> str:
    """The highest directory from which `path` (or the part of it there is) can
    be watched all the way down: "/" when every directory on the way may be read."""
    top = existing(path)
    while top != "/" and os.access(os.path.dirname(top), os.R_OK | os.X_OK):
        top = os.path.dirname(top)
    return top


def existing(path: str) -> str:
    """`path`, or its nearest existing ancestor (watched until it appears)."""
    while not os.path.isdir(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path


def _listing(path: str) -> List[Tuple[str, bool]]:
    out: List[Tuple[str, bool]] = []
    try:
        with os.scandir(path) as it:
            for entry in it:
                try:
                    out.append((entry.name, entry.is_dir(follow_symlinks=False)))
                except OSError:
                    continue
    except OSError:
        pass
    return out


def _seen(path: str) -> Optional[_Seen]:
    """A regular file as it is now (size, mtime, ctime, inode); None: not one, or gone."""
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino


def _mtime_ns(path: str) -> int:
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return 0
    return st.st_mtime_ns if not stat.S_ISDIR(st.st_mode) else 0

"""search/files and search/grep on an editor's file channel (files/service.py
hands them here), with `$/cancelRequest`.

Each search runs on a thread of its own, so other file requests and other
searches go on meanwhile; what it finds goes out as `$/progress` batches
under the request's partialResultToken (the first a few ms after the first
find, then every 20 ms), the rest in the answer. A new search of the same
method on the same channel ends the one before it (live grep sends one per
keystroke), unless it says `parallel`; a cancelled search kills its process
at once and is answered RequestCancelled. Without a partialResultToken,
what the answer holds past disk.MAX_LISTED (encoded) is left out, and
`truncated: true` says so.

The file lists (index.py) are kept per (real root, hidden, ignored), the
INDEXES most recently used, each watched through the agent's watcher.
"""

import asyncio
import collections
import concurrent.futures
import heapq
import logging
import os
import sys
import threading
import time
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

from remote_lsp.host.files import disk
from remote_lsp.host.search import grep
from remote_lsp.host.search.index import Cancelled, FileIndex, rank, subsequence
from remote_lsp.host.session import Session
from remote_lsp.wire import jsonrpc

log = logging.getLogger("remote_lsp.search")

FILES, GREP, CANCEL, PROGRESS = "search/files", "search/grep", "$/cancelRequest", "$/progress"
METHODS = (FILES, GREP)
GREP_LIMIT = 10000  # matches answered at most unless the request says
INDEXES = 4  # trees whose file list is kept
FIRST = {FILES: 100, GREP: 1}  # the first batch goes as soon as it has this many...
FIRST_AFTER = 0.003  # ...or this long after the first find...
EVERY = 0.02  # ...and the next ones this often
FIRST_WAIT = 0.02  # a search waits at most this long for its first batch to go
# The interpreter passes from thread to thread this often (Python's default: 5 ms): a search's thread
# never keeps the loop (a cancel, the next keystroke's query, LSP traffic) waiting longer than this.
SWITCH = 0.001


class _Running:
    """One search: its job (to cancel), its channel and id, what it found not yet sent."""

    def __init__(self, service: "SearchService", session: Session, rid: Any, method: str, token: Any) -> None:
        self.service = service
        self.session = session
        self.rid = rid
        self.method = method
        self.token = token
        self.job = grep.Job()
        self.key = "files" if method == FILES else "matches"
        self.loop = asyncio.get_running_loop()
        self._items: List[Any] = []
        self._lock = threading.Lock()
        self._armed = False
        self._sent_any = False
        self._first_out = False  # the first batch is on its way
        self._first_sent = threading.Event()
        self.done = False

    # On the search's thread.
    def add(self, item: Any) -> None:
        first = False
        with self._lock:
            self._items.append(item)
            if self.token is None:
                return
            if not self._first_out and len(self._items) >= FIRST[self.method]:
                self._first_out = first = True
            elif self._armed:
                return
            else:
                self._armed = True
        if first:
            # The first batch goes now, and small: this thread waits for the loop to send it
            # (else it would keep the interpreter until its switch interval, adding to the batch).
            self._on_loop(self._flush)
            self._first_sent.wait(FIRST_WAIT)
        else:
            self._on_loop(self._arm)

    def finish(self, result: Optional[Dict[str, Any]], code: int = 0, message: str = "") -> None:
        self._on_loop(self._finish, result, code, message)

    def _on_loop(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the agent is gone: nobody to answer
            self.job.cancel()

    # On the loop.
    def _arm(self) -> None:
        self.loop.call_later(EVERY if self._sent_any else FIRST_AFTER, self._flush)

    def _flush(self) -> None:
        with self._lock:
            batch, self._items = self._items, []
            self._armed = False
            self._first_out = True
        self._first_sent.set()
        if self.done or not batch or self.session.closed:
            return
        self._sent_any = True
        self.session.send(jsonrpc.notification(PROGRESS, {"token": self.token, "value": {self.key: batch}}))

    def _finish(self, result: Optional[Dict[str, Any]], code: int, message: str) -> None:
        self.done = True
        self.service._ended(self)
        if self.session.closed:
            return
        if result is None:
            self.session.send(jsonrpc.error(self.rid, code, message))
            return
        with self._lock:
            rest, self._items = self._items, []
        result[self.key] = rest
        self.session.send(jsonrpc.response(self.rid, result))


class SearchService:
    def __init__(self, subscribe: Optional[Callable[..., Any]]) -> None:
        """`subscribe`: the agent's watcher's (None: a file list is made again for each find)."""
        self._subscribe = subscribe
        self._indexes: collections.OrderedDict[Tuple[str, bool, bool], FileIndex] = collections.OrderedDict()
        self._running: Dict[Tuple[int, Any], _Running] = {}
        self._latest: Dict[Tuple[int, str], _Running] = {}
        self._updates = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="remote-lsp-index")
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self.stopped_ms: Deque[float] = collections.deque(maxlen=50)  # cancel to the search's end

    @staticmethod
    def handles(method: Any) -> bool:
        return method in METHODS or method == CANCEL

    def message(self, session: Session, msg: jsonrpc.Message) -> None:
        """A request or a cancel of the channel `session` (on the loop)."""
        self._loop = asyncio.get_running_loop()
        method, rid, params = msg.get("method"), msg.get("id"), msg.get("params")
        params = params if isinstance(params, dict) else {}
        if method == CANCEL:
            cancelled = params.get("id")
            if not jsonrpc.valid_id(cancelled):
                return  # names no request (an id is an integer or a string): nothing to end
            running = self._running.get((session.id, cancelled))
            if running is not None:
                running.job.cancel()
            return
        if rid is None:
            return
        try:
            start = self._files if method == FILES else self._grep
            target = start(session, rid, method, params)
        except (TypeError, ValueError, grep.GrepError, disk.FileError) as exc:
            text = exc.message if isinstance(exc, disk.FileError) else str(exc)
            session.send(jsonrpc.error(rid, jsonrpc.INVALID_PARAMS, "remote-lsp: %s: %s" % (method, text)))
            return
        running = target[0]
        if not params.get("parallel"):
            before = self._latest.get((session.id, method))
            if before is not None and not before.done:
                before.job.cancel()
            self._latest[(session.id, method)] = running
        self._running[(session.id, rid)] = running
        name = "remote-lsp-%s" % method.replace("/", "-")
        sys.setswitchinterval(SWITCH)
        threading.Thread(target=target[1], name=name, daemon=True).start()

    def closed(self, session: Session) -> None:
        """A channel ended: its searches with it."""
        for (sid, _), running in list(self._running.items()):
            if sid == session.id:
                running.job.cancel()
        for key in [k for k in self._latest if k[0] == session.id]:
            del self._latest[key]

    def describe(self) -> Dict[str, Any]:
        return {"searches": len(self._running), "stopped_ms": list(self.stopped_ms),
                "indexes": [{"root": i.root, "hidden": i.rules.hidden, "ignored": i.rules.ignored,
                             "files": i.count()} for i in self._indexes.values() if i.built.is_set()]}

    def close(self) -> None:
        for running in list(self._running.values()):
            running.job.cancel()
        for index in self._indexes.values():
            if index.subscription is not None:
                index.subscription.close()
        self._indexes.clear()
        self._updates.shutdown(wait=False)

    def _ended(self, running: _Running) -> None:
        if self._running.get((running.session.id, running.rid)) is running:
            del self._running[(running.session.id, running.rid)]

    # --- the requests (checked on the loop, run on their thread) ----------------------------

    def _files(self, session: Session, rid: Any, method: str, params: Dict[str, Any]) -> Tuple[_Running, Any]:
        root = _root(params)
        hidden, ignored = _flag(params, "hidden"), _flag(params, "ignored")
        query = params.get("query") or ""
        if not isinstance(query, str):
            raise TypeError("query must be a string")
        limit = _limit(params, None)
        running = _Running(self, session, rid, method, params.get("partialResultToken"))

        def run() -> None:
            def body() -> Dict[str, Any]:
                _directory(root)
                index = self._index_here(root, hidden, ignored)
                self._ready(index, running.job)
                keep = subsequence(query) if query else None
                ranked: Optional[List[str]] = [] if query and limit is not None else None
                total = 0
                budget = _Budget(running)
                check = running.job.cancelled.is_set
                for rel, joined in index.snapshot():
                    if check():
                        raise Cancelled()
                    head = rel + "/" if rel else ""
                    for name in joined.split("\0"):
                        path = head + name
                        if keep is not None and not keep(path):
                            continue
                        total += 1
                        if ranked is not None:
                            ranked.append(path)
                        elif (limit is None or total <= limit) and budget.fits(path):
                            running.add(_clean(path))
                if ranked is not None:  # a query and a limit: the best ones, best first
                    assert limit is not None
                    for path in heapq.nsmallest(limit, ranked, key=rank(query)):
                        if budget.fits(path):
                            running.add(_clean(path))
                return {"total": total, "truncated": (limit is not None and total > limit) or budget.over}

            _run(running, body)

        return running, run

    def _grep(self, session: Session, rid: Any, method: str, params: Dict[str, Any]) -> Tuple[_Running, Any]:
        root = _root(params)
        pattern = params.get("pattern")
        if not isinstance(pattern, str):
            raise TypeError("pattern must be a string")
        case = params.get("case") or "smart"
        if case not in grep.CASES:
            raise ValueError("case must be one of %s" % ", ".join(grep.CASES))
        globs = params.get("globs") or []
        if not isinstance(globs, list) or not all(isinstance(g, str) for g in globs):
            raise TypeError("globs must be a list of strings")
        query = grep.Query(pattern, _flag(params, "fixed"), case, _flag(params, "word"), tuple(globs),
                           _flag(params, "hidden"), _flag(params, "ignored"))
        limit = _limit(params, GREP_LIMIT)
        assert limit is not None
        running = _Running(self, session, rid, method, params.get("partialResultToken"))

        def run() -> None:
            def body() -> Dict[str, Any]:
                _directory(root)
                engine = grep.choose(root)  # here: without ripgrep, it asks git, which takes a while
                files = None
                if engine != "rg":
                    grep.compile_query(query)  # a bad pattern refused before anything runs
                    if not globs:  # (with globs, a walk of its own: they may let ignored files in)
                        index = self._index_here(root, query.hidden, query.ignored)
                        self._ready(index, running.job)
                        files = index.files
                found = 0
                truncated = False
                budget = _Budget(running)
                matches = grep.search(root, query, running.job, engine, files)
                try:
                    for m in matches:
                        if found >= limit or not budget.fits(m.path, m.text):
                            truncated = True
                            break
                        found += 1
                        running.add({"path": _clean(m.path), "line": m.line, "column": m.column,
                                     "text": _clean(m.text)})
                finally:
                    if truncated:
                        running.job.cancel()
                    if hasattr(matches, "close"):
                        matches.close()  # type: ignore[union-attr]
                if running.job.cancelled.is_set() and not truncated:
                    raise Cancelled()
                return {"truncated": truncated, "engine": engine}

            _run(running, body)

        return running, run

    # --- the file lists ---------------------------------------------------------------------

    def _index(self, real: str, hidden: bool, ignored: bool) -> FileIndex:
        """On the loop: the file list of the real path `real` (found on a search's thread)."""
        key = (real, hidden, ignored)
        if self._subscribe is None:  # not kept current: not kept
            return FileIndex(key[0], hidden, ignored)
        index = self._indexes.pop(key, None)
        if index is None:
            index = FileIndex(key[0], hidden, ignored)
        self._indexes[key] = index
        while len(self._indexes) > INDEXES:
            _, old = self._indexes.popitem(last=False)
            if old.subscription is not None:
                old.subscription.close()
        return index

    def _index_here(self, root: str, hidden: bool, ignored: bool) -> FileIndex:
        """`_index`, from a search's thread (the real path asked here: the file system may hang)."""
        assert self._loop is not None
        made: concurrent.futures.Future[FileIndex] = concurrent.futures.Future()
        real = os.path.realpath(root)

        def make() -> None:
            try:
                made.set_result(self._index(real, hidden, ignored))
            except Exception as exc:
                made.set_exception(exc)

        self._loop.call_soon_threadsafe(make)
        return made.result(timeout=30)

    def _ready(self, index: FileIndex, job: grep.Job) -> None:
        """On a search's thread: the index built (and, by the one that built it, watched)."""
        if index.ensure(job.cancelled) and self._subscribe is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._watch, index)

    def _watch(self, index: FileIndex) -> None:
        if self._subscribe is None or index not in self._indexes.values():
            return  # let go meanwhile
        try:
            index.subscription = self._subscribe(index.root, lambda changes: self._changed(index, changes),
                                                 recursive=True, skip=index.skip)
        except OSError as exc:
            log.info("cannot watch %s: %s", index.root, exc)
            return
        # What changed between the walk and the watch is found by the directories' mtimes; then
        # the heap the walks used goes back.
        index.subscription.when_covered(lambda: self._update(lambda: (index.catch_up(), _give_back_memory())))

    def _changed(self, index: FileIndex, changes: List[Tuple[str, int]]) -> None:
        paths = [path for path, _ in changes]

        def apply() -> None:
            if index.changed(paths) and index.subscription is not None and self._loop is not None:
                self._loop.call_soon_threadsafe(index.subscription.refresh)

        self._update(apply)

    def _update(self, fn: Callable[[], None]) -> None:
        def logged() -> None:
            try:
                fn()
            except Exception:
                log.exception("a file list could not be brought up to date")

        try:
            self._updates.submit(logged)
        except RuntimeError:  # shut down
            pass


class _Budget:
    """What an answer without a partialResultToken may still hold (disk.MAX_LISTED encoded):
    the first result past it makes `over` true and is left out, as every one after it."""

    def __init__(self, running: _Running) -> None:
        self.left = disk.MAX_LISTED if running.token is None else None
        self.over = False

    def fits(self, *texts: str) -> bool:
        if self.left is None:
            return True
        if not self.over:
            self.left -= disk.ENTRY_COST + sum(disk.encoded_size(t) for t in texts)
            self.over = self.left < 0
        return not self.over


def _run(running: _Running, body: Callable[[], Dict[str, Any]]) -> None:
    """A search's thread: its answer, whatever happens."""
    try:
        result = body()
    except Cancelled:
        # How long it went on after its cancel (until its process was gone; the built-in engine, its
        # thread): `status` shows the last ones.
        job = running.job
        went_on = (job.stopped_at or time.monotonic()) - job.cancelled_at
        running.service.stopped_ms.append(round(went_on * 1000, 1))
        running.finish(None, jsonrpc.REQUEST_CANCELLED, "remote-lsp: %s: cancelled" % running.method)
    except (grep.GrepError, disk.FileError) as exc:
        text = exc.message if isinstance(exc, disk.FileError) else str(exc)
        running.finish(None, jsonrpc.INVALID_PARAMS, "remote-lsp: %s: %s" % (running.method, text))
    except Exception as exc:  # never a request left unanswered
        log.exception("%s failed", running.method)
        running.finish(None, jsonrpc.INTERNAL_ERROR, "remote-lsp: %s failed: %s" % (running.method, exc))
    else:
        running.finish(result)


def _give_back_memory() -> None:
    """Free heap back to the system (glibc keeps it otherwise): a walk of a large
    tree leaves megabytes free that the agent, long-lived, would hold for good."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _root(params: Dict[str, Any]) -> str:
    """The search's root as named (on the loop: no system call, its file system may hang)."""
    return disk.resolve(params.get("root"))  # type: ignore[arg-type]


def _directory(root: str) -> None:
    """On the search's thread: its root is a directory."""
    if not os.path.isdir(root):
        raise disk.FileError(disk.NODIR, root, "%s is not a directory" % root)


def _flag(params: Dict[str, Any], name: str) -> bool:
    value = params.get(name, False)
    if not isinstance(value, bool):
        raise TypeError("%s must be true or false" % name)
    return value


def _limit(params: Dict[str, Any], default: Optional[int]) -> Optional[int]:
    value = params.get("limit")
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError("limit must be a number, 1 or more")
    return value


def _clean(text: str) -> str:
    """Undecodable bytes (kept as surrogates) as U+FFFD: JSON carries UTF-8 only."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")

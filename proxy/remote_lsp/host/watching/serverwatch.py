"""One server's watched-file registrations, served on the host.

The server registers `workspace/didChangeWatchedFiles` watchers (globs,
kinds); this watches the directories they can match (only those: a
directory no pattern can match anything in is never gone into) through the
agent's watcher, and sends the server each matching change once, in the
watcher's batches. Registrations whose bases nest share one subscription at
the outer base, so no change is seen twice.
"""

import logging
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from remote_lsp.host.watching import globs
from remote_lsp.host.watching.watcher import FileChange, Subscription, Watcher

log = logging.getLogger("remote_lsp.watch")


class ServerWatch:
    def __init__(self, name: str, send: Callable[[List[Dict[str, Any]]], None]) -> None:
        self.name = name
        self._send = send  # FileEvent list -> one didChangeWatchedFiles to the server
        self._watcher: Optional[Watcher] = None
        self._regs: Dict[str, List[globs.FileWatcher]] = {}
        self._problems: Dict[str, List[str]] = {}
        self._subs: Dict[str, Subscription] = {}  # outermost base -> its subscription
        self._retiring: List[Subscription] = []
        self._current: List[globs.FileWatcher] = []
        self.sent = 0  # changes sent to the server

    @property
    def active(self) -> bool:
        return self._watcher is not None and bool(self._regs)

    def start(self, watcher: Watcher) -> None:
        self._watcher = watcher

    def register(self, reg_id: str, options: Any, folders: List[str]) -> None:
        found, problems = globs.parse_watchers(options, folders)
        for line in problems:
            log.warning("%s: a watched-files pattern is not served: %s", self.name, line)
        self._regs[reg_id] = found
        self._problems[reg_id] = problems
        self._resubscribe()

    def unregister(self, reg_id: str) -> None:
        if self._regs.pop(reg_id, None) is not None:
            self._problems.pop(reg_id, None)
            self._resubscribe()

    def close(self) -> None:
        for sub in list(self._subs.values()) + self._retiring:
            sub.close()
        self._subs = {}
        self._retiring = []
        self._regs.clear()

    def describe(self) -> Dict[str, Any]:
        subs = list(self._subs.values())
        modes = sorted({s.mode for s in subs if s.directories})
        mode = modes[0] if len(modes) == 1 else ("inotify+polling" if modes else "")
        problems = [p for s in subs for p in [s.problem] if p]
        problems += [p for lines in self._problems.values() for p in lines]
        return {"patterns": [w.describe() for w in self._watchers()],
                "directories": sum(s.directories for s in subs),
                "mode": mode, "problem": "; ".join(dict.fromkeys(problems)), "sent": self.sent}

    # --- inside ----------------------------------------------------------------------------

    def _watchers(self) -> List[globs.FileWatcher]:
        return [w for ws in self._regs.values() for w in ws]

    def _resubscribe(self) -> None:
        """One subscription per outermost base. A base kept is walked again
        for what its new patterns reach; a new one is subscribed; one no
        longer needed (or now inside another) is closed once the others have
        covered their trees, so that nothing goes unwatched in between."""
        if self._watcher is None:
            return
        self._current = self._watchers()
        bases = sorted({w.base for w in self._current}, key=len)
        roots: List[str] = []
        for base in bases:
            if not any(base == r or base.startswith(r.rstrip("/") + "/") for r in roots):
                roots.append(base)
        subs: Dict[str, Subscription] = {}
        for root in roots:
            sub = self._subs.pop(root, None)
            if sub is not None:
                sub.refresh()
            else:
                sub = self._subscribe(root)
            subs[root] = sub
        retiring, self._subs = list(self._subs.values()), subs
        if retiring:
            self._retiring += retiring
            self._watcher.after_walks(self._retire)

    def _retire(self) -> None:
        for sub in self._retiring:
            sub.close()
        self._retiring = []

    def _subscribe(self, root: str) -> Subscription:
        assert self._watcher is not None
        holder: List[Subscription] = []
        # Followed: the root removed and made again (`rm -rf proj && git clone ...`) is seen,
        # and what is in it then is told.
        sub = self._watcher.subscribe(root, lambda batch: self._deliver(holder[0], batch), True, self._skip,
                                      follow=True)
        holder.append(sub)
        return sub

    def _skip(self, path: str) -> bool:
        return not any(w.wants_dir(path) for w in self._current)

    def _deliver(self, sub: Subscription, batch: List[FileChange]) -> None:
        # A retiring subscription's change that a current one saw too is sent
        # once: by the current one.
        retiring = sub in self._retiring
        current = list(self._subs.values()) if retiring else []
        events = []
        for path, change in batch:
            if retiring and any(s.covers(os.path.dirname(path)) for s in current):
                continue
            if any(w.matches(path, change) for w in self._current):
                events.append({"uri": Path(path).as_uri(), "type": change})
        if events:
            self.sent += len(events)
            self._send(events)


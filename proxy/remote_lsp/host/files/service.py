"""The agent's file service: an editor's channel for the files on this host.

A channel is a linked session (session.py) like an LSP client's, so it
survives its connection the same way; what it speaks is JSON-RPC with the
requests below (ARCHITECTURE.md, "Files through the agent"), answered here
with the operations of disk.py:

    files/read   {paths}            -> {files: [entry with data or entries]}   (N files, one round trip)
    files/stat   {path}             -> entry
    files/list   {path}             -> entry of a directory
    files/write  {files: [{path, data, expect, force}]} -> {files: [{path, ok, version | error, current}]}
    files/watch  {files: {path: version}} -> {changes}   the set this channel watches, replaced
    files/changed (to the editor)   {changes: [{path, kind, version}]}
    search/files, search/grep, $/cancelRequest: handed to host/search/service.py

File operations run one at a time on a thread of their own, in the order
they came: a large file never stalls the agent's LSP traffic, and two writes
of one path never cross. The editor's open files are watched through the
agent's one watcher (watcher.py), by their directories: a save that renames
a new file over the old is seen too. A channel's own writes move the version
it watches, so they are not told back to it.
"""

import asyncio
import base64
import concurrent.futures
import logging
import os
from typing import Any, Callable, Dict, List, Optional, Tuple

from remote_lsp.host.aio import background
from remote_lsp.host.files import disk
from remote_lsp.host.search.service import SearchService
from remote_lsp.host.session import Session
from remote_lsp.host.watching.watcher import existing
from remote_lsp.wire import jsonrpc
from remote_lsp.wire.jsonrpc import Message

log = logging.getLogger("remote_lsp.files")

CHANGED = "files/changed"
KINDS = {1: "created", 2: "changed", 3: "deleted"}  # LSP's FileChangeType, as the editor is told


class _Channel:
    """One editor's channel: what it watches, and the version it holds of each."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.watched: Dict[str, Tuple[str, Optional[str]]] = {}  # full path -> (its name, version held)


class FileService:
    def __init__(self, subscribe: Optional[Callable[..., Any]]) -> None:
        """`subscribe`: the agent's watcher's (None: changes are found only when
        the editor asks, as after a cut)."""
        self._subscribe = subscribe
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="remote-lsp-files")
        self._channels: Dict[int, _Channel] = {}
        self._directories: Dict[str, Tuple[Any, int]] = {}  # directory -> (subscription, how many watch it)
        self.search = SearchService(subscribe)  # search/* and $/cancelRequest, on threads of their own

    def opened(self, session: Session) -> None:
        """A new channel."""
        self._channels[session.id] = _Channel(session)

    def serves(self, session: Session) -> bool:
        return session.id in self._channels

    def channels(self) -> int:
        return len(self._channels)

    def message(self, session: Session, msg: Message) -> None:
        """A message of a channel (Session's on_message)."""
        channel = self._channels.get(session.id)
        if channel is None:
            return
        method, rid = msg.get("method"), msg.get("id")
        if self.search.handles(method):
            self.search.message(session, msg)
            return
        if method is None or rid is None:
            return  # notifications and answers: nothing of ours wants one
        background(self._answer(channel, rid, method, msg.get("params")))

    def closed(self, session: Session) -> None:
        """A channel ended (Session's on_close): its watches go."""
        channel = self._channels.pop(session.id, None)
        if channel is not None:
            self._set_watched(channel, {})
            self.search.closed(session)

    def describe(self) -> Dict[str, Any]:
        return {"channels": len(self._channels),
                "watched": sum(len(c.watched) for c in self._channels.values()),
                "directories": len(self._directories), "search": self.search.describe()}

    def close(self) -> None:
        for subscription, _ in self._directories.values():
            subscription.close()
        self._directories.clear()
        self.search.close()
        self._pool.shutdown(wait=False)

    # --- requests ---------------------------------------------------------------------

    async def _answer(self, channel: _Channel, rid: Any, method: str, params: Any) -> None:
        handler = _HANDLERS.get(method)
        if handler is None:
            channel.session.send(jsonrpc.error(rid, jsonrpc.METHOD_NOT_FOUND,
                                               "remote-lsp: no method %s" % method))
            return
        try:
            result = await handler(self, channel, params if isinstance(params, dict) else {})
        except disk.FileError as exc:
            channel.session.send(jsonrpc.error(rid, jsonrpc.INVALID_PARAMS, exc.message))
            return
        except (TypeError, ValueError, KeyError) as exc:
            channel.session.send(jsonrpc.error(rid, jsonrpc.INVALID_PARAMS, "remote-lsp: %s: bad params (%s)"
                                               % (method, exc)))
            return
        except Exception as exc:  # never a request left unanswered: the editor would wait for it
            log.exception("%s failed", method)
            channel.session.send(jsonrpc.error(rid, jsonrpc.INTERNAL_ERROR, "remote-lsp: %s failed: %s"
                                               % (method, exc)))
            return
        channel.session.send(jsonrpc.response(rid, result))

    def _run(self, fn: Callable[..., Any], *args: Any) -> "asyncio.Future[Any]":
        return asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def _read(self, channel: _Channel, params: Dict[str, Any]) -> Dict[str, Any]:
        paths = params["paths"]
        if not isinstance(paths, list):
            raise TypeError("paths must be a list")
        entries = await self._run(_read_all, paths)
        for entry in entries:
            self._held(channel, entry["path"], entry.get("version"))
        return {"files": entries}

    async def _stat(self, channel: _Channel, params: Dict[str, Any]) -> Dict[str, Any]:
        return await self._run(disk.stat_entry, params["path"])

    async def _list(self, channel: _Channel, params: Dict[str, Any]) -> Dict[str, Any]:
        entry = await self._run(disk.read, params["path"])
        if entry["type"] != "directory":
            raise disk.FileError(disk.FAILED, params["path"], "%s is not a directory" % params["path"])
        return entry

    async def _write(self, channel: _Channel, params: Dict[str, Any]) -> Dict[str, Any]:
        items = params["files"]
        if not isinstance(items, list):
            raise TypeError("files must be a list")
        written = await self._run(_write_all, items)
        for item in written:
            if item["ok"]:
                self._held(channel, item["path"], item["version"])
        return {"files": written}

    async def _watch(self, channel: _Channel, params: Dict[str, Any]) -> Dict[str, Any]:
        wanted = params["files"]
        if not isinstance(wanted, dict):
            raise TypeError("files must be an object of path: version")
        held = {_key(name): (name, version) for name, version in wanted.items()}
        self._set_watched(channel, held)
        # What changed while the editor was not told (a cut, a new session): compare now.
        changes = await self._run(_differences, list(held.values()))
        for change in changes:
            self._held(channel, change["path"], change["version"])
        return {"changes": changes}

    def _held(self, channel: _Channel, name: str, version: Optional[str]) -> None:
        """The channel holds this version of a file now (it read or wrote it)."""
        full = _key(name)
        if full in channel.watched:
            channel.watched[full] = (name, version)

    # --- watching ---------------------------------------------------------------------

    def _set_watched(self, channel: _Channel, held: Dict[str, Tuple[str, Optional[str]]]) -> None:
        before = {os.path.dirname(p) for p in channel.watched}
        channel.watched = held
        after = {os.path.dirname(p) for p in held}
        for directory in after - before:
            self._watch_directory(directory)
        for directory in before - after:
            self._unwatch_directory(directory)

    def _watch_directory(self, directory: str) -> None:
        if self._subscribe is None:
            return
        count = 0
        known = self._directories.pop(directory, None)
        if known is not None and known[0].directories > 0:
            self._directories[directory] = (known[0], known[1] + 1)
            return
        if known is not None:  # missing when it was first watched, or gone since: it may be back
            known[0].close()
            count = known[1]
        # Watched from its parent (or the nearest directory there is), going only towards it: the
        # directory's own removal and return (`rm -rf gen && make`) are seen too.
        towards = directory.rstrip("/") + "/"

        def elsewhere(d: str) -> bool:
            return not towards.startswith(d.rstrip("/") + "/")

        try:
            subscription = self._subscribe(existing(os.path.dirname(directory)), self._changed,
                                           recursive=True, skip=elsewhere)
        except OSError as exc:  # gone: the editor is told when it asks
            log.info("cannot watch %s: %s", directory, exc)
            return
        self._directories[directory] = (subscription, count + 1)

    def _unwatch_directory(self, directory: str) -> None:
        known = self._directories.get(directory)
        if known is None:
            return
        if known[1] > 1:
            self._directories[directory] = (known[0], known[1] - 1)
            return
        del self._directories[directory]
        known[0].close()

    def _changed(self, changes: List[Tuple[str, int]]) -> None:
        """The watcher's batch: for each channel holding one of these files, see
        what the file is now, and tell it if that is not what it holds."""
        wanted = []
        for channel in self._channels.values():
            for full, kind in changes:
                if full in channel.watched:
                    wanted.append((channel, full))
                elif kind == 3:  # a directory removed: its open files with it
                    wanted.extend((channel, f) for f in channel.watched if f.startswith(full + "/"))
        if wanted:
            background(self._tell(wanted))

    async def _tell(self, wanted: List[Tuple[_Channel, str]]) -> None:
        found = await self._run(_versions, list({(full, channel.watched[full][1]) for channel, full in wanted
                                                 if full in channel.watched}))
        told: Dict[int, List[Dict[str, Any]]] = {}
        for channel, full in wanted:
            if full not in channel.watched or channel.session.closed:
                continue
            name, held = channel.watched[full]
            if (full, held) not in found:
                continue  # the channel read or wrote it meanwhile: what it holds is newer
            now = found[(full, held)]
            if disk.same_content(now, held):
                continue
            channel.watched[full] = (name, now)
            told.setdefault(channel.session.id, []).append(_change(name, held, now))
        for sid, changes in told.items():
            channel = self._channels.get(sid)
            if channel is not None:
                channel.session.send(jsonrpc.notification(CHANGED, {"changes": changes}))


_HANDLERS: Dict[str, Callable[..., Any]] = {
    "files/read": FileService._read, "files/stat": FileService._stat, "files/list": FileService._list,
    "files/write": FileService._write, "files/watch": FileService._watch,
}


def _change(name: str, held: Optional[str], now: Optional[str]) -> Dict[str, Any]:
    kind = 3 if now is None else 1 if held is None else 2
    return {"path": name, "kind": KINDS[kind], "version": now}


# --- on the service's thread ---------------------------------------------------------------


def _read_all(paths: List[Any]) -> List[Dict[str, Any]]:
    out = []
    for path in paths:
        try:
            entry = disk.read(path)
        except disk.FileError as exc:
            entry = {"path": path, "exists": None, "type": None, "version": None, "error": exc.to_json()}
        if "data" in entry:
            entry["data"] = base64.b64encode(entry["data"]).decode("ascii")
        out.append(entry)
    return out


def _write_all(items: List[Any]) -> List[Dict[str, Any]]:
    for item in items:  # all checked before any is written: bad input changes nothing
        if not isinstance(item, dict) or not isinstance(item.get("data"), str) \
                or not isinstance(item.get("expect"), (str, type(None))):
            raise TypeError("each file needs a path, its data (base64) and the version it expects")
    out = []
    for item in items:
        path = item.get("path")
        try:
            data = base64.b64decode(item["data"], validate=True)
            version = disk.write(path, data, item.get("expect"), bool(item.get("force")))
            out.append({"path": path, "ok": True, "version": version})
        except disk.FileError as exc:
            out.append({"path": path, "ok": False, "error": exc.to_json(), "current": exc.current})
        except ValueError:
            problem = {"code": disk.FAILED, "message": "%s: the data is not base64" % path}
            out.append({"path": path, "ok": False, "error": problem})
    return out


def _versions(paths: List[Tuple[str, Optional[str]]]) -> Dict[Tuple[str, Optional[str]], Optional[str]]:
    """Each file's version now, by (path, the version held): a file whose
    size and mtime are the held version's is not read and hashed again."""
    out: Dict[Tuple[str, Optional[str]], Optional[str]] = {}
    for full, held in paths:
        try:
            out[(full, held)] = disk.current_version(full, held)
        except disk.FileError:
            out[(full, held)] = None  # unreadable now: as good as gone, for the editor
    return out


def _differences(held: List[Tuple[str, Optional[str]]]) -> List[Dict[str, Any]]:
    now = _versions([(_key(name), version) for name, version in held])
    return [_change(name, version, now[(_key(name), version)]) for name, version in held
            if not disk.same_content(now[(_key(name), version)], version)]


def _key(name: str) -> str:
    """What a watched file is known by: its real path, as the watcher names
    what it sees (a file reached through a symlink is watched where it is)."""
    return os.path.realpath(disk.resolve(name))

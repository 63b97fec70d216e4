"""The agent's file service: an editor's channel for the files on this host.

A channel is a linked session (session.py) like an LSP client's, so it
survives its connection the same way; what it speaks is JSON-RPC with the
requests below (ARCHITECTURE.md, "Files through the agent"), answered here
with the operations of disk.py:

    files/read   {paths}            -> {files: [entry with data or entries]}   (N files, one round trip)
    files/stat   {path}             -> entry
    files/list   {path}             -> entry of a directory
    files/write  {files: [{path, data, expect, force?, parents?}]}
                                    -> {files: [{path, ok, version | error, current}]}
    files/watch  {files: {path: version}} -> {changes}   the set this channel watches, replaced
    files/locate {path, markers, commands} -> {path, root, marker_found, dir_exists, commands}
                                    (`remote-lsp locate`'s answer, commands found on the channel's PATH)
    files/changed (to the editor)   {changes: [{path, kind, version}]}
    search/files, search/grep, $/cancelRequest: handed to host/search/service.py

Each file operation runs on a thread of its own, off the event loop: a
large file never stalls the agent's LSP traffic, and a file system that
hangs (frozen, an NFS server gone) holds only the requests on it, never those
on another. Operations on one file run in the order they came (a read after a
write sees it). A request still waiting on its file system after the
editor's request bound is answered so; a write is left to finish and is
answered then, for the editor must know whether its bytes are there.

No message is larger than a frame may be: a read whose files are too large
together answers those that fit and names the rest in `more`, for the
editor to ask again; a directory with more entries than disk.MAX_LISTED
holds lists the first, with `truncated: true` and `count` (all of them).
The editor's open files are watched through the agent's one watcher
(watcher.py), by their directories: a save that renames a new file over
the old is seen too. A channel's own writes move the version
it watches, so they are not told back to it.
"""

import asyncio
import base64
import logging
import os
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

from remote_lsp.host import memory
from remote_lsp.host.aio import background
from remote_lsp.host.files import disk
from remote_lsp.host.search.service import SearchService
from remote_lsp.host.session import Session
from remote_lsp.wire import framing, jsonrpc
from remote_lsp.wire.jsonrpc import Message
from remote_lsp.wire.options import DEFAULTS

log = logging.getLogger("remote_lsp.files")

CHANGED = "files/changed"
KINDS = {1: "created", 2: "changed", 3: "deleted"}  # LSP's FileChangeType, as the editor is told
# The file data (base64) one message carries, unless it carries one file alone (a file of
# disk.MAX_FILE is 53.3 MB in base64): with the entries around it, under a frame's limit. The
# plugin's MAX_BATCH (files/channel.lua) is the same, for the requests it builds.
MAX_BATCH = 48 * 1024 * 1024
assert disk.MAX_FILE * 4 // 3 + (8 << 20) < framing.DEFAULT_MAX_FRAME
# What an entry costs beyond its data, counted generously (its path counted apart).
_ENTRY = 512
# A request still waiting on its file system this long is answered so: the editor's request bound.
HUNG = DEFAULTS.request_timeout  # unless the channel says its own


class Hung(Exception):
    """The file system of a request did not answer within the channel's request bound."""


class _Channel:
    """One editor's channel: what it watches, and the version it holds of each."""

    def __init__(self, session: Session, bound: float, search_path: Optional[str]) -> None:
        self.session = session
        self.bound = bound  # the editor's request bound (HUNG unless it says)
        self.search_path = search_path  # the PATH its commands are looked up in (None: the agent's)
        self.watched: Dict[str, Tuple[str, Optional[str]]] = {}  # full path -> (its name, version held)


class FileService:
    def __init__(self, subscribe: Optional[Callable[..., Any]]) -> None:
        """`subscribe`: the agent's watcher's (None: changes are found only when
        the editor asks, as after a cut)."""
        self._subscribe = subscribe
        self._last: Dict[str, asyncio.Future[Any]] = {}  # a file -> the last operation on it
        self._channels: Dict[int, _Channel] = {}
        self._directories: Dict[str, Tuple[Any, int]] = {}  # directory -> (subscription, how many watch it)
        self.search = SearchService(subscribe)  # search/* and $/cancelRequest, on threads of their own

    def opened(self, session: Session, bound: float = 0.0, search_path: str = "") -> None:
        """A new channel; `bound`: the editor's request bound (0: HUNG); `search_path`:
        the PATH of the host's `files` process ("": the agent's)."""
        self._channels[session.id] = _Channel(session, bound if bound > 0 else HUNG, search_path or None)

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

    # --- requests ---------------------------------------------------------------------

    async def _answer(self, channel: _Channel, rid: Any, method: str, params: Any) -> None:
        handler = _HANDLERS.get(method)
        if handler is None:
            channel.session.send(jsonrpc.error(rid, jsonrpc.METHOD_NOT_FOUND,
                                               "remote-lsp: no method %s" % method))
            return
        try:
            size = _data_size(params)
            result = await handler(self, channel, params if isinstance(params, dict) else {})
        except disk.FileError as exc:
            channel.session.send(jsonrpc.error(rid, jsonrpc.INVALID_PARAMS, exc.message))
            return
        except Hung as exc:
            channel.session.send(jsonrpc.error(rid, jsonrpc.INTERNAL_ERROR,
                                               "remote-lsp: %s: %s" % (method, exc)))
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
        memory.transferred(size + _data_size(result))

    def _run(self, names: List[Any], fn: Callable[..., Any], *args: Any) -> "asyncio.Future[Any]":
        """fn(*args) on a thread of its own once the operations before it on
        the same files (`names`) are done; its result."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Any] = loop.create_future()
        keys = {_order_key(name) for name in names}
        before = {self._last[key] for key in keys if key in self._last}
        for key in keys:
            self._last[key] = done

        def finished(_: "asyncio.Future[Any]") -> None:
            for key in keys:
                if self._last.get(key) is done:
                    del self._last[key]
            if not done.cancelled():
                done.exception()  # retrieved: a requester that stopped waiting leaves no warning

        done.add_done_callback(finished)
        waiting = [len(before)]

        def one_before(_: "asyncio.Future[Any]") -> None:
            waiting[0] -= 1
            if not waiting[0]:
                _start(loop, done, fn, args)

        for fut in before:
            fut.add_done_callback(one_before)
        if not before:
            _start(loop, done, fn, args)
        return done

    async def _bounded(self, channel: _Channel, names: List[Any], fn: Callable[..., Any], *args: Any) -> Any:
        """_run, answered with Hung once the file system has not answered within the channel's bound."""
        try:
            return await asyncio.wait_for(asyncio.shield(self._run(names, fn, *args)), channel.bound)
        except asyncio.TimeoutError:
            shown = ", ".join(str(n) for n in names[:3]) + (", ..." if len(names) > 3 else "")
            raise Hung("the file system of %s did not answer within %g s" % (shown, channel.bound)) from None

    async def _read(self, channel: _Channel, params: Dict[str, Any]) -> Dict[str, Any]:
        paths = params["paths"]
        if not isinstance(paths, list):
            raise TypeError("paths must be a list")
        (entries, more), keys = await self._bounded(channel, paths, _keyed, paths, _read_all, paths)
        for entry in entries:
            self._held(channel, keys, entry["path"], entry.get("version"))
        return {"files": entries, "more": more} if more else {"files": entries}

    async def _stat(self, channel: _Channel, params: Dict[str, Any]) -> Dict[str, Any]:
        return await self._bounded(channel, [params["path"]], disk.stat_entry, params["path"])

    async def _list(self, channel: _Channel, params: Dict[str, Any]) -> Dict[str, Any]:
        entry = await self._bounded(channel, [params["path"]], disk.read, params["path"])
        if entry["type"] != "directory":
            raise disk.FileError(disk.FAILED, params["path"], "%s is not a directory" % params["path"])
        return entry

    async def _write(self, channel: _Channel, params: Dict[str, Any]) -> Dict[str, Any]:
        items = params["files"]
        if not isinstance(items, list):
            raise TypeError("files must be a list")
        # Not bounded: the editor must know whether the bytes are there, however late.
        names = [item.get("path") for item in items if isinstance(item, dict)]
        written, keys = await self._run(names, _keyed, names, _write_all, items)
        for item in written:
            if item["ok"]:
                self._held(channel, keys, item["path"], item["version"])
        return {"files": written}

    async def _watch(self, channel: _Channel, params: Dict[str, Any]) -> Dict[str, Any]:
        wanted = params["files"]
        if not isinstance(wanted, dict):
            raise TypeError("files must be an object of path: version")
        for name, version in wanted.items():  # checked whole first: bad input changes nothing
            if not name or "\0" in name or not isinstance(version, (str, type(None))):
                raise TypeError("files: %r: a path and its version (a string, or null for no file), not %r"
                                % (name, version))
        names = list(wanted)
        keys = await self._bounded(channel, names, _keys, names)
        held = {keys[name]: (name, version) for name, version in wanted.items()}
        self._set_watched(channel, held)
        # What changed while the editor was not told (a cut, a new session): compare now.
        changes = await self._bounded(channel, names, _differences,
                                      [(full, name, version) for full, (name, version) in held.items()])
        for change in changes:
            self._held(channel, keys, change["path"], change["version"])
        return {"changes": changes}

    async def _locate(self, channel: _Channel, params: Dict[str, Any]) -> Dict[str, Any]:
        path = disk.resolve(params["path"])
        lists = [params.get("markers", []), params.get("commands", [])]
        for what, items in zip(("markers", "commands"), lists):
            if not isinstance(items, list) or not all(isinstance(i, str) and i and "\0" not in i
                                                      for i in items):
                raise TypeError("%s must be a list of non-empty strings, not %r" % (what, items))
        markers, commands = lists
        return await self._bounded(channel, [path], disk.locate, path, markers, commands, channel.search_path)

    def _held(self, channel: _Channel, keys: Dict[str, str], name: Any, version: Optional[str]) -> None:
        """The channel holds this version of a file now (it read or wrote it);
        `keys`: the real paths of its names, found on the operation's thread."""
        full = keys.get(name) if isinstance(name, str) else None
        if full is not None and full in channel.watched:
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
        if known is not None:  # removed since it was first watched: followed already, but made anew
            known[0].close()
            count = known[1]
        # Followed: watched from its highest watchable ancestor, going only towards it, so that
        # its removal, a move of a directory above it and its return (`rm -rf build && make`)
        # are all seen.
        try:
            subscription = self._subscribe(directory, self._changed, recursive=False, follow=True)
        except OSError as exc:  # the editor is told when it asks
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
                elif kind == 3:  # a directory removed (or one above it): its open files with it
                    wanted.extend((channel, f) for f in channel.watched if f.startswith(full + "/"))
        if wanted:
            background(self._send_changes(wanted))

    async def _send_changes(self, wanted: List[Tuple[_Channel, str]]) -> None:
        asked = list({(full, channel.watched[full][1]) for channel, full in wanted
                      if full in channel.watched})
        found = await self._run([full for full, _ in asked], _versions, asked)
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
    "files/locate": FileService._locate,
}


def _change(name: str, held: Optional[str], now: Optional[str]) -> Dict[str, Any]:
    kind = 3 if now is None else 1 if held is None else 2
    return {"path": name, "kind": KINDS[kind], "version": now}


def _data_size(value: Any) -> int:
    """The file data in a files/read answer or a files/write request."""
    files = value.get("files") if isinstance(value, dict) else None
    if not isinstance(files, list):
        return 0
    return sum(len(f["data"]) for f in files if isinstance(f, dict) and isinstance(f.get("data"), str))


def _order_key(name: Any) -> str:
    """A file as the order of operations knows it: its path as named, made
    absolute (no system call: the file system it is on may hang)."""
    try:
        return os.path.normpath(disk.resolve(name))
    except disk.FileError:
        return repr(name)


def _start(loop: asyncio.AbstractEventLoop, done: "asyncio.Future[Any]", fn: Callable[..., Any],
           args: Tuple[Any, ...]) -> None:
    """fn(*args) on a new thread, its outcome into `done`. A thread each: a
    hung file system holds the threads of its own requests only (a pool's
    threads could all end up there). Daemon threads: one stuck in the kernel
    never holds the agent's exit."""
    if done.done():
        return

    def settle(result: Any, exc: Optional[BaseException]) -> None:
        if done.done():
            return
        if exc is not None:
            done.set_exception(exc)
        else:
            done.set_result(result)

    def work() -> None:
        try:
            outcome: Tuple[Any, Optional[BaseException]] = (fn(*args), None)
        except Exception as exc:
            outcome = (None, exc)
        try:
            loop.call_soon_threadsafe(settle, *outcome)
        except RuntimeError:
            pass  # the loop is closed: the agent is going

    threading.Thread(target=work, name="remote-lsp-files", daemon=True).start()


# --- on a thread of the operation's own ----------------------------------------------------


def _encoded_size(size: int) -> int:
    return (size + 2) // 3 * 4


def _read_all(paths: List[Any]) -> Tuple[List[Dict[str, Any]], List[Any]]:
    """The entries of the paths that fit in one message (the first always),
    and the paths left for the editor to ask again."""
    out: List[Dict[str, Any]] = []
    used = 0
    for i, path in enumerate(paths):
        used += _ENTRY + 2 * len(str(path))
        if out and used + _encoded_size(_size(path)) > MAX_BATCH:
            return out, paths[i:]
        try:
            entry = disk.read(path)
        except disk.FileError as exc:
            entry = {"path": path, "exists": None, "type": None, "version": None, "error": exc.to_json()}
        if "data" in entry:
            used += _encoded_size(len(entry["data"]))
            if out and used > MAX_BATCH:  # it grew since it was measured
                return out, paths[i:]
            entry["data"] = base64.b64encode(entry["data"]).decode("ascii")
        elif "entries" in entry:
            used += sum(disk.ENTRY_COST + disk.encoded_size(e["name"]) for e in entry["entries"])
        out.append(entry)
    return out, []


def _size(path: Any) -> int:
    """A file's size as it stands, 0 if it cannot be told (read() then says why)."""
    try:
        return os.stat(disk.resolve(path)).st_size
    except (OSError, disk.FileError):
        return 0


def _write_all(items: List[Any]) -> List[Dict[str, Any]]:
    out = []
    for path, data, expect, force, parents in _checked(items):
        try:
            version = disk.write(path, data, expect, force, parents)
            out.append({"path": path, "ok": True, "version": version})
        except disk.FileError as exc:
            out.append({"path": path, "ok": False, "error": exc.to_json(), "current": exc.current})
    return out


def _checked(items: List[Any]) -> List[Tuple[str, bytes, Optional[str], bool, bool]]:
    """Every item of a batch checked whole (types, paths, base64) before any is
    written: bad input changes nothing. A flag is a boolean, never a truthy value."""
    out = []
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise TypeError("file %d is not an object" % n)
        path, data, expect = item.get("path"), item.get("data"), item.get("expect")
        if not isinstance(path, str) or not path or "\0" in path:
            raise TypeError("file %d: path must be a non-empty string, not %r" % (n, path))
        if not isinstance(data, str):
            raise TypeError("file %d (%s): data must be a base64 string" % (n, path))
        if not isinstance(expect, (str, type(None))):
            raise TypeError("file %d (%s): expect must be a version string or null" % (n, path))
        flags = []
        for flag in ("force", "parents"):
            value = item.get(flag, False)
            if not isinstance(value, bool):
                raise TypeError("file %d (%s): %s must be true or false, not %r" % (n, path, flag, value))
            flags.append(value)
        try:
            raw = base64.b64decode(data, validate=True)
        except ValueError:
            raise ValueError("file %d (%s): the data is not base64" % (n, path)) from None
        out.append((path, raw, expect, flags[0], flags[1]))
    return out


def _versions(paths: List[Tuple[str, Optional[str]]]) -> Dict[Tuple[str, Optional[str]], Optional[str]]:
    """Each file's version now, by (path, the version held): read and hashed
    again, even when its size and mtime are the held version's (a same-size
    write within one timestamp tick changes neither)."""
    out: Dict[Tuple[str, Optional[str]], Optional[str]] = {}
    for full, held in paths:
        try:
            out[(full, held)] = disk.current_version(full)
        except disk.FileError:
            out[(full, held)] = None  # unreadable now: as good as gone, for the editor
    return out


def _differences(held: List[Tuple[str, str, Optional[str]]]) -> List[Dict[str, Any]]:
    """(full path, name, version held) -> the changes from what is held."""
    now = _versions([(full, version) for full, _, version in held])
    return [_change(name, version, now[(full, version)]) for full, name, version in held
            if not disk.same_content(now[(full, version)], version)]


def _keyed(names: List[Any], fn: Callable[..., Any], *args: Any) -> Tuple[Any, Dict[str, str]]:
    """fn(*args), and the keys of `names` after it."""
    return fn(*args), _keys(names)


def _keys(names: List[Any]) -> Dict[str, str]:
    """What each watched file is known by: its real path, as the watcher names
    what it sees (a file reached through a symlink is watched where it is);
    found here, for a real path asks the file system, which may hang. Names
    that are no path are left out."""
    out = {}
    for name in names:
        try:
            out[name] = os.path.realpath(disk.resolve(name))
        except (disk.FileError, TypeError):
            pass
    return out

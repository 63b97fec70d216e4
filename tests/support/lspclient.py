"""A small, synchronous LSP client for tests, the demo and the benchmarks.

It speaks to any process over its stdin/stdout, answers the server's requests
through handlers, and waits for responses and notifications with deadlines
(never with sleeps).
"""

import itertools
import json
import os
import queue
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from remote_lsp.wire.framing import FrameParser, FramingError, encode

Handler = Callable[[Dict[str, Any]], Any]
NO_REPLY = object()  # a handler returning this leaves the server's request unanswered


EDITOR_CAPABILITIES: Dict[str, Any] = {
    "general": {"positionEncodings": ["utf-8", "utf-16"]},
    "workspace": {"configuration": True, "applyEdit": True, "workspaceFolders": True,
                  "didChangeWatchedFiles": {"dynamicRegistration": True}},
    "window": {"workDoneProgress": True},
    "textDocument": {
        "hover": {"contentFormat": ["markdown", "plaintext"]},
        "completion": {"completionItem": {"snippetSupport": True,
                                          "documentationFormat": ["markdown", "plaintext"]}},
        "publishDiagnostics": {"versionSupport": True},
        "synchronization": {"didSave": True},
    },
}
# What a minimal tool declares: nothing (no markdown, snippets, registration, progress).
TOOL_CAPABILITIES: Dict[str, Any] = {}


class LspError(Exception):
    def __init__(self, error: Dict[str, Any]) -> None:
        super().__init__("%s: %s" % (error.get("code"), error.get("message")))
        self.error = error


class LspClient:
    def __init__(self, argv: Sequence[str], cwd: Optional[str] = None,
                 env: Optional[Dict[str, str]] = None, name: str = "test-client") -> None:
        self.name = name
        self.proc = subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, cwd=cwd, env=env)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._responses: Dict[Any, queue.Queue[Dict[str, Any]]] = {}
        self._cond = threading.Condition()
        self.notifications: List[Dict[str, Any]] = []
        self.arrivals: List[Dict[str, Any]] = []  # every message from the server, in the order it came
        self.server_requests: List[Dict[str, Any]] = []
        self.handlers: Dict[str, Handler] = {
            "workspace/configuration": lambda p: [None] * len(p.get("items", [])),
        }
        self.closed = threading.Event()
        self.reading = threading.Event()  # cleared: act as an editor that has stopped reading
        self.reading.set()
        self.read_error: Optional[Exception] = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._stderr: List[bytes] = []
        self._stderr_reader = threading.Thread(target=self._drain_stderr, daemon=True)
        self._stderr_reader.start()

    # --- wire --------------------------------------------------------------------------

    def send(self, msg: Dict[str, Any]) -> None:
        self.send_raw(encode(json.dumps(msg).encode()))

    def send_raw(self, data: bytes) -> None:
        with self._lock:
            assert self.proc.stdin is not None
            self.proc.stdin.write(data)
            self.proc.stdin.flush()

    def _read(self) -> None:
        parser = FrameParser(strict=True)
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        try:
            while True:
                self.reading.wait()
                data = os.read(fd, 1 << 20)
                if not data:
                    break
                for body in parser.feed(data):
                    self._dispatch(json.loads(body))
        except (FramingError, ValueError) as exc:  # a torn or malformed frame reached the editor
            self.read_error = exc
        self.closed.set()
        with self._cond:
            self._cond.notify_all()

    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._stderr.append(line)

    @property
    def stderr(self) -> str:
        if self.proc.poll() is not None:  # exited: all it wrote is on its way to us
            self._stderr_reader.join(5)
        return b"".join(self._stderr).decode(errors="replace")

    def _dispatch(self, msg: Dict[str, Any]) -> None:
        self.arrivals.append(msg)
        if "method" in msg and "id" in msg:
            self.server_requests.append(msg)
            handler = self.handlers.get(msg["method"])
            result = handler(msg.get("params") or {}) if handler else None
            if result is not NO_REPLY:
                try:
                    self.send({"jsonrpc": "2.0", "id": msg["id"], "result": result})
                except BrokenPipeError:
                    pass  # the session ended while the server's request was on its way: nobody to answer
        elif "method" in msg:
            with self._cond:
                self.notifications.append(msg)
                self._cond.notify_all()
        else:
            with self._cond:
                self._responses.setdefault(msg.get("id"), queue.Queue()).put(msg)
                self._cond.notify_all()

    # --- requests ------------------------------------------------------------------------

    def request_async(self, method: str, params: Any = None) -> int:
        rid = next(self._ids)
        with self._cond:
            self._responses.setdefault(rid, queue.Queue())
        self.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        return rid

    def wait_response(self, rid: Any, timeout: float = 30.0) -> Dict[str, Any]:
        with self._cond:
            q = self._responses.setdefault(rid, queue.Queue())
        deadline = time.monotonic() + timeout
        while True:
            try:
                return q.get(timeout=0.05 if self.closed.is_set() else min(1.0, timeout))
            except queue.Empty:
                if self.closed.is_set() and q.empty():
                    raise ConnectionError("%s: connection closed before the response to %s (stderr: %s)"
                                          % (self.name, rid, self.stderr.strip())) from None
                if time.monotonic() > deadline:
                    said = b"".join(self._stderr)[-2000:].decode(errors="replace")
                    raise TimeoutError("%s: no response to request %s within %ss (stderr so far: %s)" % (
                        self.name, rid, timeout, said)) from None

    def request(self, method: str, params: Any = None, timeout: float = 30.0) -> Any:
        msg = self.wait_response(self.request_async(method, params), timeout)
        if "error" in msg:
            raise LspError(msg["error"])
        return msg.get("result")

    def server_state(self) -> Dict[str, Any]:
        """What the scripted server (scripted_server.py) was told: its own record, `test/state`."""
        return self.request("test/state")

    def notify(self, method: str, params: Any = None) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def wait_notification(self, method: str, pred: Callable[[Dict[str, Any]], bool] = lambda p: True,
                          timeout: float = 30.0) -> Dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for msg in self.notifications:
                    if msg["method"] == method and pred(msg.get("params") or {}):
                        return msg.get("params") or {}
                left = deadline - time.monotonic()
                if left <= 0 or self.closed.is_set():
                    raise TimeoutError("%s: no %s notification within %ss" % (self.name, method, timeout))
                self._cond.wait(left)

    def wait_closed(self, timeout: float = 10.0) -> None:
        if not self.closed.wait(timeout):
            raise TimeoutError("%s: connection still open after %ss" % (self.name, timeout))

    # --- LSP conveniences ---------------------------------------------------------------

    def initialize(self, root: Optional[str], timeout: float = 60.0,
                   capabilities: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """An editor's initialize (capabilities as a rich editor declares them,
        unless given); root None names no workspace at all."""
        uri = Path(root).as_uri() if root else None
        result = self.request("initialize", {
            "processId": os.getpid(), "rootUri": uri, "rootPath": root,
            "clientInfo": {"name": self.name},
            "workspaceFolders": [{"uri": uri, "name": os.path.basename(root)}] if root else None,
            "capabilities": EDITOR_CAPABILITIES if capabilities is None else capabilities,
        }, timeout=timeout)
        self.notify("initialized", {})
        return result

    def open(self, path: str, text: Optional[str] = None, language: str = "python",
             version: int = 1) -> str:
        uri = Path(path).as_uri()
        if text is None:
            text = Path(path).read_text()
        self.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": language, "version": version, "text": text}})
        return uri

    def open_uri(self, uri: str, text: str, language: str = "python", version: int = 1) -> str:
        self.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": language, "version": version, "text": text}})
        return uri

    def hover(self, uri: str, line: int, character: int, timeout: float = 30.0) -> Any:
        return self.request("textDocument/hover", {
            "textDocument": {"uri": uri}, "position": {"line": line, "character": character}},
            timeout=timeout)

    def close(self, timeout: float = 10.0) -> int:
        """Polite end: shutdown, exit, close stdin; the process's exit code."""
        if not self.closed.is_set() and self.proc.poll() is None:
            try:
                self.request("shutdown", timeout=timeout)
                self.notify("exit")
            except (OSError, TimeoutError, LspError):
                pass
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def hover_text(result: Any) -> str:
    """The text of a hover result, whatever shape the server chose."""
    if not result:
        return ""
    contents = result.get("contents")
    if isinstance(contents, dict):
        return contents.get("value", "")
    if isinstance(contents, list):
        return "\n".join(c if isinstance(c, str) else c.get("value", "") for c in contents)
    return str(contents or "")

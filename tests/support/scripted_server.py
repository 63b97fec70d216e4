"""A small LSP server for exact protocol cases, driven by its clients.

It keeps what it was told (documents, cancellations, initialize calls) and
answers `test/state` with it, so tests can see exactly what reached the server.
Requests under `test/` make it do things a real server does at awkward times:
ask the client something, register a capability, answer slowly, crash.
"""

import json
import os
import sys
import threading
import time
from typing import Any, Dict

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "proxy"))

from remote_lsp.wire.framing import FrameParser, encode
from remote_lsp.wire.text import apply_change

_lock = threading.Lock()
_out = os.fdopen(1, "wb", buffering=0)
state: Dict[str, Any] = {
    "pid": os.getpid(), "initialize_calls": 0, "initialize_params": None, "initialized": 0,
    "shutdown": 0, "cancelled": [], "docs": {}, "closed": [], "changes": [], "notifications": [],
    "answers": [],
    "watched": {},  # uri -> [change type, ...] from every workspace/didChangeWatchedFiles
    "watched_at": {},  # uri -> when its last change arrived (time.time(), for the benchmarks)
    "watched_batches": 0,
}
STATE_FILE = os.environ.get("SCRIPTED_STATE_FILE")


def finish(code: int) -> None:
    """Exit, leaving what we saw for the test to read."""
    if STATE_FILE:
        with open(STATE_FILE, "w") as f:
            json.dump(dict(state, exit_code=code), f)
    os._exit(code)
_waiting: Dict[Any, Any] = {}  # our request id -> (event, [answer])
_cancel: Dict[Any, threading.Event] = {}
_next = [0]
_stall = [0.0]  # when reading stdin goes on (test/stall)
BIG = b""
LOCATIONS: Any = ((0, ""), b"")


def send(msg: Dict[str, Any]) -> None:
    data = encode(json.dumps(msg).encode())
    with _lock:
        _out.write(data)


def ask(method: str, params: Any) -> Any:
    """Send the client a request and wait for its answer."""
    _next[0] += 1
    rid = "srv-%d" % _next[0]
    ev = threading.Event()
    box: list = []
    _waiting[rid] = (ev, box)
    send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
    ev.wait(30)
    answer = box[0] if box else {"timeout": True}
    state["answers"].append({"method": method, "answer": answer})
    return answer


def reply(rid: Any, result: Any) -> None:
    send({"jsonrpc": "2.0", "id": rid, "result": result})


def handle_request(rid: Any, method: str, params: Any) -> None:
    if method == "initialize":
        state["initialize_calls"] += 1
        state["initialize_params"] = params
        reply(rid, {"capabilities": {"textDocumentSync": 2, "hoverProvider": True,
                                     "positionEncoding": "utf-16",
                                     "executeCommandProvider": {"commands": ["x"]}},
                    "serverInfo": {"name": "scripted", "version": "1"}})
    elif method == "shutdown":
        state["shutdown"] += 1
        reply(rid, None)
    elif method == "test/state":
        reply(rid, state)
    elif method == "textDocument/hover":
        reply(rid, {"contents": {"kind": "plaintext", "value": "hover from %d" % os.getpid()}})
    elif method == "test/ask":
        # Ask the client (applyEdit, configuration, ...) and return its answer.
        threading.Thread(target=lambda: reply(rid, ask(params["method"], params["params"])),
                         daemon=True).start()
    elif method == "test/serverRequest":
        # Fire a server->client request and answer at once with what it got back.
        threading.Thread(target=lambda: reply(rid, ask(params["method"], params.get("params"))),
                         daemon=True).start()
    elif method == "test/slow":
        ev = _cancel[rid] = threading.Event()

        def slow() -> None:
            if ev.wait(params.get("seconds", 30)):
                send({"jsonrpc": "2.0", "id": rid,
                      "error": {"code": -32800, "message": "cancelled"}})
            else:
                reply(rid, "slow done")
        threading.Thread(target=slow, daemon=True).start()
    elif method == "test/big":
        global BIG
        if len(BIG) != params["bytes"]:
            BIG = json.dumps("x" * (params["bytes"] - 2)).encode()
        body = b'{"jsonrpc":"2.0","id":' + json.dumps(rid).encode() + b',"result":' + BIG + b"}"
        with _lock:
            _out.write(encode(body))
    elif method == "test/locations":
        # A large answer of the kind references gives: many Locations, every one a URI.
        global LOCATIONS
        count, root = params.get("count", 30000), params.get("root", "/proj")
        if LOCATIONS[0] != (count, root):
            locs = [{"uri": "file://%s/pkg%d/module_%d.py" % (root, i % 97, i % 1000),
                     "range": {"start": {"line": i % 5000, "character": 4},
                               "end": {"line": i % 5000, "character": 12}}} for i in range(count)]
            LOCATIONS = ((count, root), json.dumps(locs).encode())
        body = b'{"jsonrpc":"2.0","id":' + json.dumps(rid).encode() + b',"result":' + LOCATIONS[1] + b"}"
        with _lock:
            _out.write(encode(body))
    elif method == "test/flood":
        # A stream of notifications, then the answer: bytes in flight on demand.
        def flood() -> None:
            filler = "x" * params.get("bytes", 1024)
            for i in range(params.get("count", 1000)):
                send({"jsonrpc": "2.0", "method": "test/flooded", "params": {"n": i, "data": filler}})
            reply(rid, params.get("count", 1000))
        threading.Thread(target=flood, daemon=True).start()
    elif method == "test/echo":
        reply(rid, params)
    elif method == "test/crash":
        os._exit(params.get("code", 3) if isinstance(params, dict) else 3)
    else:
        send({"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": method}})


def handle_notification(method: str, params: Any) -> None:
    state["notifications"].append(method)
    if method == "initialized":
        state["initialized"] += 1
    elif method == "exit":
        finish(0 if state["shutdown"] else 1)
    elif method == "$/cancelRequest":
        state["cancelled"].append(params["id"])
        ev = _cancel.get(params["id"])
        if ev:
            ev.set()
    elif method == "textDocument/didOpen":
        doc = params["textDocument"]
        state["docs"][doc["uri"]] = {"text": doc["text"], "version": doc["version"]}
    elif method == "textDocument/didChange":
        doc = state["docs"][params["textDocument"]["uri"]]
        for change in params["contentChanges"]:
            doc["text"] = apply_change(doc["text"], change)
        doc["version"] = params["textDocument"]["version"]
        state["changes"].append(params)
    elif method == "textDocument/didClose":
        uri = params["textDocument"]["uri"]
        state["docs"].pop(uri, None)
        state["closed"].append(uri)
    elif method == "workspace/didChangeWatchedFiles":
        state["watched_batches"] += 1
        now = time.time()
        for change in params["changes"]:
            state["watched"].setdefault(change["uri"], []).append(change["type"])
            state["watched_at"][change["uri"]] = now
    elif method == "test/stall":
        # Stop reading stdin for a while, as a server busy indexing does.
        _stall[0] = time.monotonic() + params.get("seconds", 3)
    elif method == "test/publish":
        send({"jsonrpc": "2.0", "method": params["method"], "params": params["params"]})


def main() -> None:
    # A line on stderr, as real servers write: its log shows it.
    sys.stderr.write("scripted server %d: reading stdin\n" % os.getpid())
    sys.stderr.flush()
    parser = FrameParser(strict=False)
    inp = os.fdopen(0, "rb", buffering=0)
    while True:
        data = inp.read(65536)
        if not data:
            finish(0)
        for body in parser.feed(data):
            msg = json.loads(body)
            if "method" not in msg:
                ev, box = _waiting.pop(msg.get("id"), (None, None))
                if ev is not None:
                    box.append(msg.get("result", msg.get("error")))
                    ev.set()
            elif "id" in msg:
                handle_request(msg["id"], msg["method"], msg.get("params"))
            else:
                handle_notification(msg["method"], msg.get("params"))
        if _stall[0]:
            time.sleep(max(0.0, _stall[0] - time.monotonic()))
            _stall[0] = 0.0


if __name__ == "__main__":
    main()

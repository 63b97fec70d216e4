"""The mux in process: clients and a server as lists of what each was sent.

Exact and fast, for the sharing contract point by point; the end-to-end tests
prove the wiring through the real agent.
"""

import json
from typing import Any, Dict, List, Optional

from remote_lsp.host.sharing.mux import Mux
from remote_lsp.wire import jsonrpc

Msg = Dict[str, Any]
# What an editor such as Neovim declares: progress, dynamic registration, markdown, snippets.
EDITOR_CAPS: Msg = {
    "window": {"workDoneProgress": True},
    "workspace": {"didChangeWatchedFiles": {"dynamicRegistration": True}},
    "textDocument": {"hover": {"contentFormat": ["markdown", "plaintext"]},
                     "completion": {"completionItem": {"snippetSupport": True,
                                                       "documentationFormat": ["markdown", "plaintext"]}}},
}


class FakeClient:
    """A client as the instance wires it: closing it removes it from the mux."""

    def __init__(self, mux: Mux, cid: int) -> None:
        self.mux = mux
        self.id = cid
        self.got: List[Msg] = []
        self.closed: Optional[str] = None
        mux.add_client(cid, self.send_body, self.close)

    def send_body(self, body: bytes, msg: Any = None) -> None:
        self.got.append(json.loads(body))

    def close(self, reason: str) -> None:
        if self.closed is None:
            self.closed = reason
            self.mux.remove_client(self.id)

    def send(self, msg: Msg) -> None:
        self.mux.from_client(self.id, json.loads(jsonrpc.encode(msg)))

    def request(self, rid: Any, method: str, params: Any = None) -> None:
        self.send(jsonrpc.request(rid, method, params))

    def notify(self, method: str, params: Any = None) -> None:
        self.send(jsonrpc.notification(method, params))

    def responses(self, rid: Any) -> List[Msg]:
        return [m for m in self.got if "method" not in m and m.get("id") == rid]

    def received(self, method: str) -> List[Msg]:
        return [m for m in self.got if m.get("method") == method]


class Harness:
    def __init__(self, init_result: Optional[Msg] = None, root_uri: str = "file:///w") -> None:
        self.to_server: List[Msg] = []
        self.mux = Mux(lambda body: self.to_server.append(json.loads(body)), root_uri,
                       init_result=init_result)
        self._next = 0

    def client(self) -> FakeClient:
        self._next += 1
        return FakeClient(self.mux, self._next)

    def server_sends(self, msg: Msg) -> None:
        self.mux.from_server(jsonrpc.encode(msg))

    def server_got(self, method: Optional[str] = None) -> List[Msg]:
        return [m for m in self.to_server if method is None or m.get("method") == method]

    def last_request(self, method: str) -> Msg:
        return [m for m in self.to_server if m.get("method") == method and "id" in m][-1]

    def answer(self, method: str, result: Any) -> None:
        """The server answers its latest request of `method`."""
        self.server_sends(jsonrpc.response(self.last_request(method)["id"], result))

    def ready_client(self, caps: Optional[Msg] = None, name: str = "") -> FakeClient:
        """A client through initialize (the first one makes the server answer)."""
        c = self.client()
        params: Msg = {"processId": 1, "rootUri": "file:///w",
                       "capabilities": EDITOR_CAPS if caps is None else caps}
        if name:
            params["clientInfo"] = {"name": name}
        c.request("init", "initialize", params)
        if not c.responses("init"):
            self.answer("initialize", {"capabilities": {"textDocumentSync": 2, "hoverProvider": True}})
        c.notify("initialized", {})
        return c

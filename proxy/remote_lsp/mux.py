"""The multiplexer: many LSP clients, one server (the sharing contract, 1-7).

Pure routing, no I/O of its own: the instance feeds it the server's message
bodies and each client's decoded messages, and it writes through callbacks.
Ids: every request to the server gets a fresh integer id; the client's own id
is restored on the way back. Requests from the server to a client get ids from
a second counter, so replies from several clients can never collide.
"""

import logging
import os
import time
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from remote_lsp import jsonrpc
from remote_lsp.documents import Documents
from remote_lsp.jsonrpc import Id, Message

log = logging.getLogger("remote_lsp.mux")

# What reading a well-shaped message with ill-typed params can raise: such a
# message is refused on its own, never allowed to take the agent down.
_MALFORMED = (AttributeError, KeyError, TypeError, ValueError, IndexError)

# Answered by the mux at once, then shown to every client (point 4).
_ANSWER_AND_BROADCAST = {
    "window/workDoneProgress/create",
    "client/registerCapability",
    "client/unregisterCapability",
}
# Go to the client that caused them; its answer goes back to the server.
_ROUTED_DEFAULTS: Dict[str, Any] = {
    "workspace/configuration": None,  # filled per request: one null per item
    "workspace/applyEdit": {"applied": False, "failureReason": "no editor is connected"},
    "window/showMessageRequest": None,
    "window/showDocument": {"success": False},
}


class Client:
    """What the mux needs of a connected client (implemented by the session)."""

    id: int
    name: str
    ready: bool  # has its initialize result, so it may receive server messages
    last_active: float
    inflight: Dict[Id, int]  # client's request id -> server id

    def send(self, msg: Message) -> None:
        raise NotImplementedError

    def send_body(self, body: bytes) -> None:
        raise NotImplementedError

    def close(self, reason: str) -> None:
        raise NotImplementedError


class _Pending:
    __slots__ = ("client", "client_id", "method", "on_result")

    def __init__(self, client: Optional[Client], client_id: Optional[Id], method: str,
                 on_result: Optional[Callable[[Message], None]] = None) -> None:
        self.client = client  # None once the client left: the reply is dropped
        self.client_id = client_id
        self.method = method
        self.on_result = on_result  # for the mux's own requests


class _ServerRequest:
    __slots__ = ("client", "default", "method", "server_id")

    def __init__(self, server_id: Optional[Id], client: Client, method: str, default: Any) -> None:
        self.server_id = server_id  # None: already answered by the mux
        self.client = client
        self.method = method
        self.default = default


class Mux:
    def __init__(self, write_server: Callable[[bytes], None], root_uri: str,
                 init_result: Optional[Dict[str, Any]] = None,
                 on_initialized: Optional[Callable[[Dict[str, Any]], None]] = None) -> None:
        self._write_server = write_server
        self.on_initialized = on_initialized
        self.root_uri = root_uri
        self.clients: Dict[int, Client] = {}
        self.docs = Documents()
        self.init_result = init_result  # cached InitializeResult (point 1)
        self.initialized_sent = init_result is not None
        self._init_params: Optional[Dict[str, Any]] = None
        self._init_waiters: List[Tuple[Client, Id]] = []
        self._init_inflight = False
        self._next_server_id = 0
        self._pending: Dict[int, _Pending] = {}
        self._next_client_id = 0
        self._to_clients: Dict[int, _ServerRequest] = {}
        self.registrations: Dict[str, Dict[str, Any]] = {}
        self._client_tokens: Dict[Any, int] = {}  # progress tokens a client chose
        self._progress: Dict[Any, Set[int]] = {}  # server tokens -> clients told of them

    # --- clients joining and leaving -------------------------------------------------

    def add_client(self, client: Client) -> None:
        self.clients[client.id] = client

    def remove_client(self, client: Client) -> None:
        """A client left (exit, EOF, crash, garbage): clean up after it (points 3, 4, 6)."""
        if self.clients.pop(client.id, None) is None:
            return
        for sid in list(client.inflight.values()):
            pending = self._pending.get(sid)
            if pending is None:
                continue
            pending.client = None
            if pending.method != "initialize":  # initialize's result is still cached
                self._to_server(jsonrpc.notification("$/cancelRequest", {"id": sid}))
        client.inflight.clear()
        for mid, req in list(self._to_clients.items()):
            if req.client is client:
                del self._to_clients[mid]
                if req.server_id is not None:
                    self._answer_default(req.server_id, req.method, req.default)
        self._init_waiters = [(c, i) for c, i in self._init_waiters if c is not client]
        for tok in [t for t, c in self._client_tokens.items() if c == client.id]:
            del self._client_tokens[tok]
        for msg in self.docs.close_all(client.id):
            self._to_server(msg)

    # --- client -> server ------------------------------------------------------------

    def from_client(self, client: Client, msg: Message) -> None:
        """`msg` has a valid shape (jsonrpc.shape_problem); its params may not."""
        client.last_active = time.monotonic()
        method = msg.get("method")
        try:
            if method is None:
                self._client_response(client, msg)
            elif "id" in msg:
                self._client_request(client, msg, method)
            else:
                self._client_notification(client, msg, method)
        except _MALFORMED as exc:
            # Params the mux itself reads (documents, cancel, initialize) were
            # not what the spec says: refuse this message, not the session.
            log.warning("%s: bad %s message: %r", client.name, method, exc)
            if method is not None and "id" in msg:
                client.send(jsonrpc.error(msg["id"], jsonrpc.INVALID_PARAMS,
                                          "remote-lsp: invalid params for %s" % method))

    def _client_request(self, client: Client, msg: Message, method: str) -> None:
        cid = msg["id"]
        if method == "initialize":
            self._initialize(client, cid, msg.get("params") or {})
        elif method == "shutdown":
            # Point 2: only this client is shutting down.
            client.send(jsonrpc.response(cid, None))
        elif not client.ready:
            client.send(jsonrpc.error(cid, jsonrpc.SERVER_NOT_INITIALIZED, "initialize first"))
        else:
            params = msg.get("params")
            if isinstance(params, dict):
                for key in ("workDoneToken", "partialResultToken"):
                    tok = params.get(key)
                    if tok is not None and _hashable(tok):
                        self._client_tokens[tok] = client.id
            self._forward_request(client, cid, method, msg)

    def _client_notification(self, client: Client, msg: Message, method: str) -> None:
        params = msg.get("params") or {}
        if method == "initialized":
            if not self.initialized_sent:
                self.initialized_sent = True
                self._to_server(msg)
            self._replay_registrations(client)
        elif method == "exit":
            client.close("exit")
        elif method == "$/cancelRequest":
            sid = client.inflight.get(params.get("id"))
            if sid is not None:
                self._to_server(jsonrpc.notification("$/cancelRequest", {"id": sid}))
        elif method == "textDocument/didOpen":
            self._send_all(self.docs.did_open(client.id, params))
        elif method == "textDocument/didChange":
            self._send_all(self.docs.did_change(client.id, params))
        elif method == "textDocument/didClose":
            self._send_all(self.docs.did_close(client.id, params["textDocument"]["uri"]))
        elif method in ("textDocument/didSave", "textDocument/willSave"):
            if self.docs.is_open_by(client.id, params["textDocument"]["uri"]):
                self._to_server(msg)
        elif client.ready:
            self._to_server(msg)

    def _client_response(self, client: Client, msg: Message) -> None:
        req = self._to_clients.pop(msg.get("id"), None) if _hashable(msg.get("id")) else None
        if req is None or req.client is not client or req.server_id is None:
            return  # a reply to something the mux already answered
        msg["id"] = req.server_id
        self._to_server(msg)

    # --- initialize (point 1) ----------------------------------------------------------

    def _initialize(self, client: Client, cid: Id, params: Dict[str, Any]) -> None:
        info = params.get("clientInfo")
        if isinstance(info, dict) and info.get("name"):
            client.name = str(info["name"])
        if self.init_result is not None:
            self._send_init_result(client, cid)
            return
        self._init_waiters.append((client, cid))
        if self._init_inflight:
            return
        self._init_inflight = True
        params = dict(params)
        # The server outlives this client: it answers to the agent.
        params["processId"] = os.getpid()
        caps = dict(params.get("capabilities") or {})
        general = dict(caps.get("general") or {})
        # One encoding every client understands: UTF-16 is mandatory in LSP.
        general["positionEncodings"] = ["utf-16"]
        caps["general"] = general
        params["capabilities"] = caps
        self._init_params = params
        sid = self._new_server_id()
        self._pending[sid] = _Pending(None, None, "initialize", self._initialize_done)
        self._to_server(jsonrpc.request(sid, "initialize", params))

    def _initialize_done(self, msg: Message) -> None:
        self._init_inflight = False
        waiters, self._init_waiters = self._init_waiters, []
        if "result" in msg and isinstance(msg["result"], dict):
            self.init_result = msg["result"]
            if self.on_initialized is not None:
                self.on_initialized(self.init_result)
            for client, cid in waiters:
                self._send_init_result(client, cid)
            return
        err = msg.get("error") or {"code": jsonrpc.INTERNAL_ERROR, "message": "initialize failed"}
        for client, cid in waiters:
            client.send({"jsonrpc": "2.0", "id": cid, "error": err})

    def _send_init_result(self, client: Client, cid: Id) -> None:
        client.send(jsonrpc.response(cid, self.init_result))
        client.ready = True

    def workspace_folders(self) -> Any:
        params = self._init_params or {}
        folders = params.get("workspaceFolders")
        if folders:
            return folders
        name = self.root_uri.rstrip("/").rsplit("/", 1)[-1]
        return [{"uri": self.root_uri, "name": name}]

    # --- server -> clients ---------------------------------------------------------------

    def from_server(self, body: bytes) -> None:
        fast = jsonrpc.response_id_prefix(body)
        if fast is not None:
            pending = self._pending.get(fast[0])
            if pending is not None and pending.client is not None:
                # A plain reply for a client: splice its id back in, no decoding.
                del self._pending[fast[0]]
                client = pending.client
                client.inflight.pop(pending.client_id, None)
                client.send_body(jsonrpc.splice_id(body, fast[1], fast[2], pending.client_id))
                return
        try:
            msg = jsonrpc.decode(body)
            problem = jsonrpc.shape_problem(msg)
            if problem is not None:
                raise ValueError(problem)
        except ValueError as exc:
            log.warning("server sent a body that is not JSON-RPC (%s); skipped", exc)
            return
        method = msg.get("method")
        try:
            if method is None:
                self._server_response(msg)
            elif "id" in msg:
                self._server_request(msg, method)
            else:
                self._server_notification(msg, method, body)
        except _MALFORMED as exc:
            log.warning("server sent a %s message the mux cannot use (%r); skipped", method, exc)

    def _server_response(self, msg: Message) -> None:
        sid = msg.get("id")
        pending = self._pending.pop(sid, None) if isinstance(sid, int) else None
        if pending is None:
            return
        if pending.on_result is not None:
            pending.on_result(msg)
            return
        client = pending.client
        if client is None:
            return  # the client left; late replies are dropped (point 3)
        client.inflight.pop(pending.client_id, None)
        msg["id"] = pending.client_id
        client.send(msg)
        if "result" in msg or "error" in msg:
            self._forget_client_tokens(client)

    def _server_request(self, msg: Message, method: str) -> None:
        sid = msg["id"]
        params = msg.get("params")
        if method in _ANSWER_AND_BROADCAST:
            self._to_server(jsonrpc.response(sid, None))
            self._note_server_request(method, params)
            told = self._broadcast_request(method, params)
            if method == "window/workDoneProgress/create" and isinstance(params, dict):
                tok = params.get("token")
                if _hashable(tok):
                    self._progress[tok] = told
        elif method.startswith("workspace/") and method.endswith("/refresh"):
            self._to_server(jsonrpc.response(sid, None))
            self._broadcast_request(method, params)
        elif method == "workspace/workspaceFolders":
            self._to_server(jsonrpc.response(sid, self.workspace_folders()))
        else:
            default = _ROUTED_DEFAULTS.get(method, _MISSING)
            if method == "workspace/configuration":
                items = (params or {}).get("items") or []
                default = [None] * len(items)
            target = self._originator()
            if target is None:
                self._answer_default(sid, method, default)
                return
            mid = self._new_client_side_id()
            self._to_clients[mid] = _ServerRequest(sid, target, method, default)
            target.send(jsonrpc.request(mid, method, params))

    def _server_notification(self, msg: Message, method: str, body: bytes) -> None:
        params = msg.get("params")
        if method == "$/progress" and isinstance(params, dict):
            tok = params.get("token")
            if _hashable(tok) and tok in self._client_tokens:
                owner = self.clients.get(self._client_tokens[tok])
                if owner is not None:
                    owner.send_body(body)
                return
            if _hashable(tok) and tok in self._progress:
                told = self._progress[tok]
                if isinstance(params.get("value"), dict) and params["value"].get("kind") == "end":
                    del self._progress[tok]
                for client in self._ready_clients():
                    if client.id in told:
                        client.send_body(body)
                return
        if method == "textDocument/publishDiagnostics" and isinstance(params, dict) \
                and params.get("version") is not None:
            self._publish_versioned(msg, params)
            return
        for client in self._ready_clients():
            client.send_body(body)

    def _publish_versioned(self, msg: Message, params: Dict[str, Any]) -> None:
        # Each client gets diagnostics tagged with its own version of the
        # document, or untagged when its text is not the one diagnosed.
        uri, version = params.get("uri"), params["version"]
        for client in self._ready_clients():
            own = self.docs.client_version(client.id, uri, version)
            out = dict(params)
            if own is None:
                del out["version"]
            else:
                out["version"] = own
            client.send(jsonrpc.notification(msg["method"], out))

    # --- the mux's own requests to the server ----------------------------------------------

    def request_server(self, method: str, params: Any, on_result: Callable[[Message], None]) -> None:
        sid = self._new_server_id()
        self._pending[sid] = _Pending(None, None, method, on_result)
        self._to_server(jsonrpc.request(sid, method, params))

    def fail_pending(self, message: str) -> None:
        """The server is gone: answer every request still waiting on it."""
        for pending in self._pending.values():
            if pending.client is not None:
                pending.client.send(jsonrpc.error(pending.client_id, jsonrpc.INTERNAL_ERROR, message))
            elif pending.on_result is not None:
                pending.on_result(jsonrpc.error(None, jsonrpc.INTERNAL_ERROR, message))
        self._pending.clear()

    # --- helpers -------------------------------------------------------------------------

    def _forward_request(self, client: Client, cid: Id, method: str, msg: Message) -> None:
        sid = self._new_server_id()
        self._pending[sid] = _Pending(client, cid, method)
        if _hashable(cid):
            client.inflight[cid] = sid
        msg["id"] = sid
        self._to_server(msg)

    def _note_server_request(self, method: str, params: Any) -> None:
        if not isinstance(params, dict):
            return
        if method == "client/registerCapability":
            for reg in params.get("registrations") or []:
                self.registrations[str(reg.get("id"))] = reg
        elif method == "client/unregisterCapability":
            # The spec's field name really is misspelt "unregisterations".
            for reg in params.get("unregisterations") or params.get("unregistrations") or []:
                self.registrations.pop(str(reg.get("id")), None)

    def _replay_registrations(self, client: Client) -> None:
        if self.registrations and client.ready:
            params = {"registrations": list(self.registrations.values())}
            mid = self._new_client_side_id()
            self._to_clients[mid] = _ServerRequest(None, client, "client/registerCapability", None)
            client.send(jsonrpc.request(mid, "client/registerCapability", params))

    def _broadcast_request(self, method: str, params: Any) -> Set[int]:
        told: Set[int] = set()
        for client in self._ready_clients():
            mid = self._new_client_side_id()
            self._to_clients[mid] = _ServerRequest(None, client, method, None)
            client.send(jsonrpc.request(mid, method, params))
            told.add(client.id)
        return told

    def _answer_default(self, sid: Id, method: str, default: Any) -> None:
        if default is _MISSING:
            self._to_server(jsonrpc.error(sid, jsonrpc.METHOD_NOT_FOUND,
                                          "no client is connected to answer %s" % method))
        else:
            self._to_server(jsonrpc.response(sid, default))

    def _originator(self) -> Optional[Client]:
        """The client that most likely caused a server request: one waiting on
        the server (e.g. for workspace/executeCommand), else the most recently
        active one."""
        ready = list(self._ready_clients())
        if not ready:
            return None
        waiting = [c for c in ready if c.inflight]
        return max(waiting or ready, key=lambda c: c.last_active)

    def _forget_client_tokens(self, client: Client) -> None:
        if not client.inflight:
            for tok in [t for t, c in self._client_tokens.items() if c == client.id]:
                del self._client_tokens[tok]

    def _ready_clients(self) -> List[Client]:
        return [c for c in self.clients.values() if c.ready]

    def _send_all(self, msgs: List[Message]) -> None:
        for msg in msgs:
            self._to_server(msg)

    def _to_server(self, msg: Message) -> None:
        self._write_server(jsonrpc.encode(msg))

    def _new_server_id(self) -> int:
        self._next_server_id += 1
        return self._next_server_id

    def _new_client_side_id(self) -> int:
        self._next_client_id += 1
        return self._next_client_id


class _Missing:
    def __repr__(self) -> str:
        return "<no default>"


_MISSING = _Missing()


def _hashable(value: Any) -> bool:
    return isinstance(value, (int, str))

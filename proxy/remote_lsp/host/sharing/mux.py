"""The multiplexer: many LSP clients, one server (the sharing contract).

Pure routing, no I/O of its own: the instance feeds it the server's message
bodies and each client's decoded messages, and it writes through callbacks.
It owns all per-client routing state (a `_Client` per client id).
Ids: every request to the server gets a fresh integer id; the client's own id
is restored on the way back. Requests from the server to a client get ids from
a second counter, so replies from several clients can never collide, and the
server's own cancellations are translated to the id the client saw.
Which text of a shared document a request is computed on, and which
diagnostics each client is shown, is the lending's (`lending.Lending`).
"""

import logging
import os
import time
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from remote_lsp.host.sharing import adapt, shapes
from remote_lsp.host.sharing.documents import Document, Documents
from remote_lsp.host.sharing.lending import Lending
from remote_lsp.wire import jsonrpc
from remote_lsp.wire.jsonrpc import Id, Message

log = logging.getLogger("remote_lsp.mux")

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
_LOG_WARNING = 2  # window/logMessage type
WATCHED_FILES = "workspace/didChangeWatchedFiles"
# How a client is written to: `send_body(body, msg=None)`, with the same message
# decoded when the mux has it, so that the client's side need not decode it again.
SendBody = Callable[..., None]


class _Client:
    """The mux's state for one connected client, and how to reach it."""

    __slots__ = ("close", "form", "id", "inflight", "last_active", "name", "ready", "send_body", "suspended",
                 "tokens")

    def __init__(self, client_id: int, send_body: SendBody, close: Callable[[str], None]) -> None:
        self.id = client_id
        self.name = "client-%d" % client_id
        self.ready = False  # has its initialize result, so it may receive server messages
        self.last_active = time.monotonic()
        self.inflight: Dict[Id, int] = {}  # the client's request id -> server id
        self.tokens: Set[Id] = set()  # progress tokens this client chose
        self.suspended = False  # its link is down: it hears everything later, but is asked nothing
        self.form = adapt.Form({})  # what it declared it can take, from its initialize
        self.send_body = send_body
        self.close = close

    def send(self, msg: Message) -> None:
        self.send_body(jsonrpc.encode(msg), msg)


class _Pending:
    """A request the server has not answered yet."""

    __slots__ = ("client", "client_id", "doc", "method", "on_result")

    def __init__(self, client: Optional[_Client], client_id: Optional[Id], method: str,
                 on_result: Optional[Callable[[Message], None]] = None,
                 doc: Optional[Document] = None) -> None:
        self.client = client  # None once the client left: the reply is dropped
        self.client_id = client_id
        self.method = method
        self.on_result = on_result  # for the mux's own requests
        self.doc = doc  # the document whose text the server computes it on


class _ServerRequest:
    """A request sent to a client on the server's behalf."""

    __slots__ = ("client", "default", "method", "server_id")

    def __init__(self, server_id: Optional[Id], client: _Client, method: str, default: Any) -> None:
        self.server_id = server_id  # None: already answered by the mux
        self.client = client
        self.method = method
        self.default = default


class Mux:
    def __init__(self, write_server: Callable[[bytes], None], root_uri: str,
                 init_result: Optional[Dict[str, Any]] = None,
                 on_initialized: Optional[Callable[[Dict[str, Any]], None]] = None,
                 first_server_id: int = 0, on_change: Callable[[bool], None] = lambda now: None) -> None:
        self._write_server = write_server
        self.on_initialized = on_initialized
        # What a successor agent needs has changed; now=True: record it before
        # going on, as a successor must never miss it (a document the server
        # has open, a server request waiting on a client).
        self._on_change = on_change
        self.root_uri = root_uri
        self.clients: Dict[int, _Client] = {}
        self.docs = Documents()
        # Requests and diagnostics on each client's own text: the lending owns that state.
        self.lending = Lending(self.docs, self._send_all, self.request_server, self._ready_clients,
                               self._server_pulls, self._pulls_itself)
        self.init_result = init_result  # cached InitializeResult (point 1)
        self.initialized_sent = init_result is not None
        self._init_params: Optional[Dict[str, Any]] = None
        self._init_waiters: List[Tuple[_Client, Id]] = []
        self._init_inflight = False
        self._next_server_id = first_server_id
        self._pending: Dict[int, _Pending] = {}
        self._next_client_id = 0
        self._to_clients: Dict[int, _ServerRequest] = {}  # our id at the client -> the request
        self._routed: Dict[Id, int] = {}  # server's id of a routed request -> our id at the client
        self.registrations: Dict[str, Dict[str, Any]] = {}
        self._token_owner: Dict[Id, int] = {}  # progress tokens a client chose -> that client
        self._progress: Dict[Id, Set[int]] = {}  # server tokens -> clients told of them
        # Set by the instance when the host watches files for the server:
        # (registration id, its registerOptions; None to unregister).
        self.on_watch: Optional[Callable[[str, Any], None]] = None

    def restore(self, init_result: Optional[Dict[str, Any]], initialized_sent: bool,
                registrations: Dict[str, Dict[str, Any]]) -> None:
        """What an earlier agent had cached of this server."""
        self.init_result = init_result
        self.initialized_sent = initialized_sent
        self.registrations = dict(registrations)

    def waiting_server_requests(self) -> List[List[Any]]:
        """The server's requests still waiting on a client, each with the
        answer it gets should the agent go: [[server id, {result|error}], ...]."""
        return [[req.server_id, self._default_answer(req.method, req.default)]
                for req in self._to_clients.values() if req.server_id is not None]

    # --- clients joining and leaving -------------------------------------------------

    def add_client(self, client_id: int, send_body: SendBody,
                   close: Callable[[str], None]) -> None:
        self.clients[client_id] = _Client(client_id, send_body, close)

    def set_suspended(self, client_id: int, suspended: bool) -> None:
        client = self.clients.get(client_id)
        if client is not None:
            client.suspended = suspended

    def describe_client(self, client_id: int) -> Dict[str, Any]:
        client = self.clients.get(client_id)
        if client is None:
            return {"name": "client-%d" % client_id, "pending_requests": 0}
        return {"name": client.name, "pending_requests": len(client.inflight)}

    def remove_client(self, client_id: int) -> None:
        """A client left (exit, EOF, crash, garbage): clean up after it (points 3, 4, 6)."""
        client = self.clients.pop(client_id, None)
        if client is None:
            return
        for sid in client.inflight.values():
            pending = self._pending.get(sid)
            if pending is None:
                continue
            pending.client = None
            if pending.method != "initialize":  # initialize's result is still cached
                self._to_server(jsonrpc.notification("$/cancelRequest", {"id": sid}))
        client.inflight.clear()
        for mid, req in list(self._to_clients.items()):
            if req.client is client:
                self._forget_routed(mid)
                if req.server_id is not None:
                    self._answer_default(req.server_id, req.method, req.default)
        self._init_waiters = [(c, i) for c, i in self._init_waiters if c is not client]
        for tok in client.tokens:
            self._token_owner.pop(tok, None)
        self.lending.client_left(client)
        for msg in self.docs.close_all(client.id):
            self._to_server(msg)
        self._on_change(False)

    # --- client -> server ------------------------------------------------------------

    def from_client(self, client_id: int, msg: Message) -> None:
        """`msg` has a valid JSON-RPC shape (the session checks that); its
        params are checked here, for the methods the mux reads."""
        client = self.clients.get(client_id)
        if client is None:
            return
        client.last_active = time.monotonic()
        method = msg.get("method")
        if method is None:
            self._client_response(client, msg)
            return
        problem = shapes.client_problem(method, msg.get("params"))
        if problem is not None:
            self._refuse(client, msg, method, problem)
        elif "id" in msg:
            self._client_request(client, msg, method)
        else:
            self._client_notification(client, msg, method)

    def _refuse(self, client: _Client, msg: Message, method: str, problem: str) -> None:
        """An ill-typed message never reaches the shared server (one client's
        mistake must not take the server down for everyone)."""
        log.warning("%s: refused %s: %s", client.name, method, problem)
        text = "remote-lsp: refused %s: %s" % (method, problem)
        if "id" in msg:
            client.send(jsonrpc.error(msg["id"], jsonrpc.INVALID_PARAMS, text))
        else:
            client.send(jsonrpc.notification("window/logMessage", {"type": _LOG_WARNING, "message": text}))

    def _client_request(self, client: _Client, msg: Message, method: str) -> None:
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
                    if tok is not None:
                        self._token_owner[tok] = client.id
                        client.tokens.add(tok)
            if not self.lending.request(client, cid, method, params,
                                        lambda doc: self._forward_request(client, cid, method, msg, doc)):
                self._forward_request(client, cid, method, msg)

    def _client_notification(self, client: _Client, msg: Message, method: str) -> None:
        params = msg.get("params")
        if method == "textDocument/didSave":
            self.docs.did_save(client.id, params["textDocument"]["uri"])  # its text is now the disk's
        if method == "initialized":
            if not self.initialized_sent:
                self.initialized_sent = True
                self._to_server(msg)
            self._replay_registrations(client)
        elif method == "exit":
            client.close("exit")
        elif method == "$/cancelRequest":
            sid = client.inflight.get(params["id"])
            if sid is not None:
                self._to_server(jsonrpc.notification("$/cancelRequest", {"id": sid}))
            else:
                self.lending.cancel(client, params["id"])
        elif method == "textDocument/didOpen":
            msgs = self.docs.did_open(client.id, params)
            self._on_change(True)
            self._send_all(msgs)
            self.lending.opened(client, params["textDocument"]["uri"])
        elif method == "textDocument/didChange":
            self._send_all(self.docs.did_change(client.id, params))
            self.lending.changed(client, params["textDocument"]["uri"])
        elif method == "textDocument/didClose":
            self.lending.closing(client, params["textDocument"]["uri"])
            self._send_all(self.docs.did_close(client.id, params["textDocument"]["uri"]))
            self._on_change(False)
        elif method in ("textDocument/didSave", "textDocument/willSave"):
            if self.docs.is_open_by(client.id, params["textDocument"]["uri"]):
                self._to_server(msg)
        elif method == WATCHED_FILES and self.host_watches():
            pass  # the host sends the server each change once; this client's copy would double it
        elif client.ready:
            self._to_server(msg)

    def _client_response(self, client: _Client, msg: Message) -> None:
        mid = msg.get("id")
        req = self._to_clients.get(mid) if isinstance(mid, int) else None
        if req is None or req.client is not client:
            return  # a reply to something the mux already answered, or not ours
        problem = shapes.response_problem(msg)
        if problem is not None:
            log.warning("%s: refused its answer to %s: %s", client.name, req.method, problem)
            return  # the server gets the default when the client leaves, or never needed one
        self._forget_routed(mid)
        if req.server_id is not None:
            msg["id"] = req.server_id
            self._to_server(msg)

    # --- initialize (point 1) ----------------------------------------------------------

    def _initialize(self, client: _Client, cid: Id, params: Dict[str, Any]) -> None:
        info = params.get("clientInfo")
        if isinstance(info, dict) and isinstance(info.get("name"), str) and info["name"]:
            client.name = info["name"]
        client.form = adapt.Form(params.get("capabilities"))
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
        # Capabilities that serve every client; each gets answers in its own form.
        caps = adapt.merged(params.get("capabilities") or {})
        self._offer_watching(caps)
        general = dict(caps.get("general") or {})
        # One encoding every client understands: UTF-16 is mandatory in LSP.
        general["positionEncodings"] = ["utf-16"]
        caps["general"] = general
        params["capabilities"] = caps
        self._init_params = params
        self.request_server("initialize", params, self._initialize_done)

    def _initialize_done(self, msg: Message) -> None:
        self._init_inflight = False
        waiters, self._init_waiters = self._init_waiters, []
        if isinstance(msg.get("result"), dict):
            self.init_result = msg["result"]
            if self.on_initialized is not None:
                self.on_initialized(self.init_result)
            self._on_change(False)
            for client, cid in waiters:
                self._send_init_result(client, cid)
            return
        err = msg.get("error") or {"code": jsonrpc.INTERNAL_ERROR, "message": "initialize failed"}
        for client, cid in waiters:
            client.send({"jsonrpc": "2.0", "id": cid, "error": err})

    def _send_init_result(self, client: _Client, cid: Id) -> None:
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
            if pending is not None and pending.client is not None and not (
                    pending.method in adapt.ADAPTED and pending.client.form.needs(pending.method)):
                # A plain reply for a client: splice its id back in, no decoding.
                del self._pending[fast[0]]
                client = pending.client
                client.inflight.pop(pending.client_id, None)  # type: ignore[arg-type]
                client.send_body(jsonrpc.splice_id(body, fast[1], fast[2], pending.client_id))  # type: ignore
                self._forget_tokens(client)
                self.lending.answered(pending.doc)
                return
        try:
            msg = jsonrpc.decode(body)
            problem = jsonrpc.shape_problem(msg)
        except ValueError as exc:
            problem = str(exc)
        if problem is not None:
            log.warning("server sent a body that is not JSON-RPC (%s); skipped", problem)
            return
        method = msg.get("method")
        if method is None:
            self._server_response(msg)
            return
        problem = shapes.server_problem(method, msg.get("params"))
        if problem is not None:
            log.warning("server sent an ill-typed %s (%s); skipped", method, problem)
            if "id" in msg:
                self._to_server(jsonrpc.error(msg["id"], jsonrpc.INVALID_PARAMS, "remote-lsp: " + problem))
        elif "id" in msg:
            self._server_request(msg, method)
        else:
            self._server_notification(msg, method, body)

    def _server_response(self, msg: Message) -> None:
        sid = msg.get("id")
        pending = self._pending.pop(sid, None) if isinstance(sid, int) else None
        if pending is None:
            return
        self.lending.answered(pending.doc)
        if pending.on_result is not None:
            pending.on_result(msg)
            return
        client = pending.client
        if client is None:
            return  # the client left; late replies are dropped (point 3)
        client.inflight.pop(pending.client_id, None)  # type: ignore[arg-type]
        msg["id"] = pending.client_id
        if "result" in msg and pending.method in adapt.ADAPTED and client.form.needs(pending.method):
            msg["result"] = client.form.adapt(pending.method, msg["result"])
        client.send(msg)
        self._forget_tokens(client)

    def _server_request(self, msg: Message, method: str) -> None:
        sid = msg["id"]
        params = msg.get("params")
        if method in _ANSWER_AND_BROADCAST:
            self._to_server(jsonrpc.response(sid, None))
            self._note_server_request(method, params)
            params = self._serve_watching(method, params)
            told = self._broadcast_request(method, params) if params is not None else set()
            if method == "window/workDoneProgress/create":
                self._progress[params["token"]] = told
        elif method.startswith("workspace/") and method.endswith("/refresh"):
            self._to_server(jsonrpc.response(sid, None))
            self._broadcast_request(method, params)
            if method == "workspace/diagnostic/refresh":
                self.lending.pull_for_all()
        elif method == "workspace/workspaceFolders":
            self._to_server(jsonrpc.response(sid, self.workspace_folders()))
        else:
            default = _ROUTED_DEFAULTS.get(method, _MISSING)
            if method == "workspace/configuration":
                default = [None] * len(params["items"])
            target = self._originator()
            if target is None:
                self._answer_default(sid, method, default)
                return
            mid = self._new_client_side_id()
            self._to_clients[mid] = _ServerRequest(sid, target, method, default)
            self._routed[sid] = mid
            self._on_change(True)
            target.send(jsonrpc.request(mid, method, params))

    def _server_notification(self, msg: Message, method: str, body: bytes) -> None:
        params = msg.get("params")
        if method == "$/cancelRequest":
            self._server_cancel(params["id"])
            return
        if method == "$/progress":
            tok = params["token"]
            if tok in self._token_owner:
                owner = self.clients.get(self._token_owner[tok])
                if owner is not None:
                    owner.send_body(body, msg)
                return
            told = self._progress.get(tok)
            value = params.get("value")
            if told is not None and isinstance(value, dict) and value.get("kind") == "end":
                del self._progress[tok]
            for client in self._ready_clients():
                if client.form.progress and (told is None or client.id in told):
                    client.send_body(body, msg)
            return
        if method == "textDocument/publishDiagnostics" and self.lending.published(params):
            return
        for client in self._ready_clients():
            client.send_body(body, msg)

    def _server_cancel(self, sid: Id) -> None:
        """Point 9: the server gave up on one of its requests; the client that
        has it hears so with the id it saw."""
        mid = self._routed.get(sid)
        req = self._to_clients.get(mid) if mid is not None else None
        if req is not None:
            req.client.send(jsonrpc.notification("$/cancelRequest", {"id": mid}))

    # --- each client answered on its own text (points 13-17): the lending's ----------------

    def _server_pulls(self) -> bool:
        """Does the server serve diagnostics by pull (declared or registered)?"""
        caps = (self.init_result or {}).get("capabilities")
        if isinstance(caps, dict) and caps.get("diagnosticProvider"):
            return True
        return any(r.get("method") == "textDocument/diagnostic" for r in self.registrations.values())

    def _pulls_itself(self, client: _Client) -> bool:
        """Does the client pull diagnostics from this server? It declared pull, and
        the server serves it statically or registered it in a way the client takes."""
        caps = (self.init_result or {}).get("capabilities")
        if not client.form.pulls:
            return False
        return bool(isinstance(caps, dict) and caps.get("diagnosticProvider")) or \
            client.form.registers("textDocument/diagnostic")

    def _registered(self, params: Dict[str, Any]) -> None:
        """The server went pull after documents were opened: pull for the push-only clients."""
        if any(r.get("method") == "textDocument/diagnostic" for r in params["registrations"]):
            self.lending.pull_for_all()

    # --- the mux's own requests to the server ----------------------------------------------

    def request_server(self, method: str, params: Any, on_result: Callable[[Message], None],
                       doc: Optional[Document] = None) -> None:
        """`doc`: the document whose text the server computes it on (the lending's)."""
        sid = self._new_server_id()
        self._pending[sid] = _Pending(None, None, method, on_result, doc)
        self._to_server(jsonrpc.request(sid, method, params))

    def fail_request(self, sid: int, code: int, message: str) -> bool:
        """Answer our request `sid` to the server with an error in its stead
        (its own answer could not be delivered); False if none such waits."""
        if sid not in self._pending:
            return False
        self._server_response(jsonrpc.error(sid, code, message))
        return True

    def fail_pending(self, message: str) -> None:
        """The server is gone: answer every request still waiting on it."""
        for pending in self._pending.values():
            if pending.client is not None:
                pending.client.send(jsonrpc.error(pending.client_id, jsonrpc.INTERNAL_ERROR, message))
            elif pending.on_result is not None:
                pending.on_result(jsonrpc.error(None, jsonrpc.INTERNAL_ERROR, message))
        self._pending.clear()

    # --- helpers -------------------------------------------------------------------------

    def _forward_request(self, client: _Client, cid: Id, method: str, msg: Message,
                         doc: Optional[Document] = None) -> None:
        sid = self._new_server_id()
        self._pending[sid] = _Pending(client, cid, method, doc=doc)
        client.inflight[cid] = sid
        msg["id"] = sid
        self._to_server(msg)

    def _note_server_request(self, method: str, params: Any) -> None:
        if method == "client/registerCapability":
            for reg in params["registrations"]:
                self.registrations[reg["id"]] = reg
            self._on_change(False)
            self._registered(params)
        elif method == "client/unregisterCapability":
            for reg in params.get("unregisterations", params.get("unregistrations")):
                self.registrations.pop(reg["id"], None)
            self._on_change(False)

    def _replay_registrations(self, client: _Client) -> None:
        regs = [r for r in self.registrations.values() if not self._host_serves(r)]
        params = adapt.registrations_for(client.form, {"registrations": regs})
        if regs and client.ready and params is not None:
            mid = self._new_client_side_id()
            self._to_clients[mid] = _ServerRequest(None, client, "client/registerCapability", None)
            client.send(jsonrpc.request(mid, "client/registerCapability", params))

    # --- watched files, served on the host ---------------------------------------------------

    def _offer_watching(self, caps: Dict[str, Any]) -> None:
        """With a host watcher, every server may register watched files
        (relative patterns too), whatever its clients can do."""
        if self.on_watch is not None:
            ws = caps["workspace"] = dict(caps.get("workspace") or {})
            ws["didChangeWatchedFiles"] = {"dynamicRegistration": True, "relativePatternSupport": True}

    def _host_serves(self, reg: Any) -> bool:
        return self.on_watch is not None and isinstance(reg, dict) and reg.get("method") == WATCHED_FILES

    def host_watches(self) -> bool:
        """Does the host watch files for this server now?"""
        return any(self._host_serves(r) for r in self.registrations.values())

    def replay_watching(self) -> None:
        """Serve the watched-file registrations an earlier agent recorded."""
        for reg in self.registrations.values():
            if self._host_serves(reg):
                self.on_watch(reg["id"], reg.get("registerOptions"))  # type: ignore[misc]

    def _serve_watching(self, method: str, params: Any) -> Any:
        """Watched-file (un)registrations go to the host's watcher and to no
        client: a client told to watch would only send what the host sends
        already (and is dropped). What is left goes on; None if nothing."""
        if self.on_watch is None or method == "window/workDoneProgress/create":
            return params
        if method == "client/registerCapability":
            key, regs = "registrations", params["registrations"]
        else:
            key, regs = "unregisterations", params.get("unregisterations", params.get("unregistrations"))
        kept = []
        for reg in regs:
            if reg.get("method") == WATCHED_FILES:
                self.on_watch(reg["id"], reg.get("registerOptions") if key == "registrations" else None)
            else:
                kept.append(reg)
        if len(kept) == len(regs):
            return params
        return {key: kept} if kept else None

    def _broadcast_request(self, method: str, params: Any) -> Set[int]:
        """To every client that takes it, in the form it takes."""
        told: Set[int] = set()
        for client in self._ready_clients():
            mine = params
            if method == "window/workDoneProgress/create" and not client.form.progress:
                continue
            if method == "client/registerCapability":
                mine = adapt.registrations_for(client.form, params)
            elif method == "client/unregisterCapability":
                mine = _unregistrations_for(client, params)
            if mine is None and params is not None:
                continue  # nothing of it is for this client
            mid = self._new_client_side_id()
            self._to_clients[mid] = _ServerRequest(None, client, method, None)
            client.send(jsonrpc.request(mid, method, mine))
            told.add(client.id)
        return told

    def _forget_routed(self, mid: int) -> None:
        req = self._to_clients.pop(mid, None)
        if req is not None and req.server_id is not None:
            self._routed.pop(req.server_id, None)
            self._on_change(False)

    def _answer_default(self, sid: Id, method: str, default: Any) -> None:
        self._to_server(dict({"jsonrpc": "2.0", "id": sid}, **self._default_answer(method, default)))

    @staticmethod
    def _default_answer(method: str, default: Any) -> Dict[str, Any]:
        if default is _MISSING:
            return {"error": {"code": jsonrpc.METHOD_NOT_FOUND,
                              "message": "no client is connected to answer %s" % method}}
        return {"result": default}

    def _originator(self) -> Optional[_Client]:
        """The client that most likely caused a server request: one waiting on
        the server (e.g. for workspace/executeCommand), else the most recently
        active one."""
        ready = [c for c in self._ready_clients() if not c.suspended]
        if not ready:
            return None
        waiting = [c for c in ready if c.inflight]
        return max(waiting or ready, key=lambda c: c.last_active)

    def _forget_tokens(self, client: _Client) -> None:
        """A client's progress tokens live as long as one of its requests does."""
        if not client.inflight and client.tokens:
            for tok in client.tokens:
                self._token_owner.pop(tok, None)
            client.tokens.clear()

    def _ready_clients(self) -> List[_Client]:
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


def _unregistrations_for(client: _Client, params: Any) -> Optional[Dict[str, Any]]:
    regs = params.get("unregisterations", params.get("unregistrations"))
    kept = [r for r in regs if client.form.registers(str(r.get("method", "")))]
    return {"unregisterations": kept} if kept else None


class _Missing:
    def __repr__(self) -> str:
        return "<no default>"


_MISSING = _Missing()

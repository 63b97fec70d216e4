"""Each client answered on its own text (sharing contract, points 13-17).

The server holds one text per document (`documents`); a request about a
document from a client whose text differs borrows it: the server is given that
text, the request goes, and once nothing on it is in flight the text goes back
to the primary's. Diagnostics are kept per text, so each client is shown those
computed on the text it holds (those that may be on another are shown to none);
a client that pulls from a pushing server is answered from what was pushed, and
one that only takes pushes from a pulling server is pulled for.

This module owns that lending: per document a `Loan` (requests in flight on the
server's text, requests waiting for another, diagnostics awaited, diagnostics
per text, pulls under way), and the pulls parked until a push answers them.
Nothing else changes that state: `documents` asks a loan through its methods,
the mux calls `Lending`. No I/O: what goes to the server goes through callbacks.
"""

from typing import TYPE_CHECKING, Any, Callable, Dict, List, NamedTuple, Optional, Protocol, Set

from remote_lsp.host.sharing.adapt import Form
from remote_lsp.wire import jsonrpc
from remote_lsp.wire.jsonrpc import Id, Message

if TYPE_CHECKING:  # documents holds a Loan per document: imported for the types only
    from remote_lsp.host.sharing.documents import Document, Documents, Held, Text


class Client(Protocol):
    """What the lending needs of the mux's client."""

    id: int
    form: Form

    def send(self, msg: Message) -> None: ...


class Waiting:
    """A request about a document, held until the server may take its text."""

    __slots__ = ("cid", "client", "go")

    def __init__(self, client: int, cid: Any, go: Callable[[], None]) -> None:
        self.client = client
        self.cid = cid
        self.go = go


class Parked(NamedTuple):
    """A client's pull from a pushing server, answered once the server has pushed for its text."""

    client: "Client"
    cid: Id
    doc: "Document"
    previous: Any  # the pull's previousResultId


class Loan:
    """One document's lending state. Its fields are changed here only."""

    __slots__ = ("awaiting", "diags", "inflight", "pulling", "since", "waiting")

    def __init__(self) -> None:
        self.inflight = 0  # requests at the server computed on the text it holds
        self.waiting: List[Waiting] = []
        self.awaiting: Optional[int] = None  # lent for diagnostics: the server version they are awaited for
        self.diags: Dict[bytes, Dict[str, Any]] = {}  # text digest -> last diagnostics computed on it
        self.pulling: Dict[bytes, Text] = {}  # texts diagnostics are being pulled for
        # The server version when diagnostics were last published and shown: those
        # published without a version may have been computed on any text held since.
        self.since: Optional[int] = None

    def at_rest(self) -> bool:
        """Nothing at the server needs the text it holds: it may go back to the primary's."""
        return not (self.inflight or self.waiting or self.awaiting is not None)

    def edited(self) -> None:
        """An edit takes the document: the server computes on it at once."""
        self.awaiting = None

    def left(self, client: int, server_text_held: bool) -> None:
        """A client closed the document; others still have it open."""
        self.waiting = [w for w in self.waiting if w.client != client]
        if not server_text_held:
            self.awaiting = None  # nobody left to show those diagnostics to


class Lending:
    """The mux's partner for requests and diagnostics on a shared document's texts."""

    def __init__(self, docs: "Documents", send: Callable[[List[Message]], None],
                 request: Callable[[str, Any, Callable[[Message], None], "Document"], None],
                 clients: Callable[[], List["Client"]], server_pulls: Callable[[], bool],
                 pulls_itself: Callable[["Client"], bool]) -> None:
        self.docs = docs
        self._send = send  # to the server
        self._request = request  # a request of the mux's own, computed on a document's text
        self._clients = clients  # the clients ready for server messages
        self._server_pulls = server_pulls  # does the server serve diagnostics by pull
        self._pulls_itself = pulls_itself  # does this client pull them from this server itself
        self._parked: List[Parked] = []  # pulls waiting for pushed diagnostics
        self._published = 0  # diagnostics seen, for result ids

    # --- requests ------------------------------------------------------------------------

    def request(self, client: "Client", cid: Id, method: str, params: Any,
                forward: Callable[["Document"], None]) -> bool:
        """A request about a document the client has open is answered on the
        client's text (point 14); `forward(doc)` sends it to the server. True
        when it was taken care of here."""
        ident = params.get("textDocument") if isinstance(params, dict) else None
        uri = ident.get("uri") if isinstance(ident, dict) else None
        doc = self.docs.docs.get(uri) if isinstance(uri, str) else None
        if doc is None or client.id not in doc.views:
            return False
        if method == "textDocument/diagnostic" and not self._server_pulls():
            self._pull_from_pushed(client, cid, doc, params, forward)
            return True
        self._on_text(doc, client.id, cid, lambda: forward(doc))
        return True

    def answered(self, doc: Optional["Document"]) -> None:
        """A request computed on a document's text is answered: the requests
        waiting for another text may go, and at rest the primary's text returns."""
        if doc is None or self.docs.docs.get(doc.uri) is not doc:
            return
        loan = doc.loan
        loan.inflight = max(0, loan.inflight - 1)
        while loan.waiting:
            head = loan.waiting[0]
            if head.client not in doc.views:
                loan.waiting.pop(0)
                continue
            msgs = self._lend(doc, head.client, first=True)
            if msgs is None:
                break
            loan.waiting.pop(0)
            self._send(msgs)
            loan.inflight += 1
            head.go()
        self._send(self.docs.restore(doc))

    def closing(self, client: "Client", uri: str) -> None:
        """A client closes a document: its requests still waiting for the
        server to take its text are answered (every request is)."""
        doc = self.docs.docs.get(uri)
        for w in [w for w in doc.loan.waiting if w.client == client.id] if doc is not None else []:
            client.send(jsonrpc.error(w.cid, jsonrpc.REQUEST_CANCELLED, "cancelled: the document was closed"))

    def cancel(self, client: "Client", cid: Id) -> None:
        """The client cancelled a request still held here."""
        for doc in self.docs.docs.values():
            for w in doc.loan.waiting:
                if w.client == client.id and w.cid == cid:
                    doc.loan.waiting.remove(w)
                    client.send(jsonrpc.error(cid, jsonrpc.REQUEST_CANCELLED, "cancelled"))
                    self._send(self.docs.restore(doc))
                    return
        for parked in self._parked:
            if parked.client is client and parked.cid == cid:
                self._parked.remove(parked)
                client.send(jsonrpc.error(cid, jsonrpc.REQUEST_CANCELLED, "cancelled"))
                return

    def client_left(self, client: "Client") -> None:
        self._parked = [p for p in self._parked if p.client is not client]

    def _on_text(self, doc: "Document", owner: int, cid: Optional[Id], go: Callable[[], None]) -> None:
        """Run `go` (which sends one request) once the server holds `owner`'s text."""
        msgs = self._lend(doc, owner)
        if msgs is None:
            doc.loan.waiting.append(Waiting(owner, cid, go))
            return
        self._send(msgs)
        doc.loan.inflight += 1
        go()

    def _lend(self, doc: "Document", client: int, first: bool = False) -> Optional[List[Message]]:
        """What to send so the server holds `client`'s text now (nothing when it
        does); None: not now, requests on another text are in flight or waiting
        (`first`: this one is the first of those waiting)."""
        view = doc.views[client]
        if view.text.same(doc.server):
            view.text = doc.server
            return []
        if doc.loan.inflight or (doc.loan.waiting and not first):
            return None
        doc.loan.awaiting = None
        return [self.docs.full_text(doc, view)]

    def _lend_for_diagnostics(self, doc: "Document", client: int) -> List[Message]:
        """The server computes diagnostics on `client`'s text, if it is free to:
        the document goes back to its primary once they are published."""
        if doc.loan.inflight or doc.loan.waiting or doc.views[client].text.same(doc.server):
            return []
        out = self._lend(doc, client) or []
        doc.loan.awaiting = doc.server_version
        return out

    # --- diagnostics ---------------------------------------------------------------------

    def opened(self, client: "Client", uri: str) -> None:
        """A client opened a document: it gets the diagnostics for its text at
        once when they are known (point 13), else the server computes them.
        Cached rather than asked again: a pushing server has no request that
        publishes again, and any change to make it would cost every client a
        new analysis; the cache is exact, as it is keyed by the text's digest."""
        doc = self.docs.docs[uri]
        view = doc.views[client.id]
        entry = doc.loan.diags.get(view.text.digest)
        if self._server_pulls():
            if self._pulls_itself(client):
                return  # it pulls them itself
            if entry is not None:
                self._send_diagnostics(client, doc, entry["diagnostics"], True)
            else:
                self._pull_for(doc, client.id)
            return
        if len(doc.views) == 1:
            return  # the server publishes for a document it has just opened
        if entry is not None:
            self._send_diagnostics(client, doc, entry["diagnostics"], entry["versioned"])
        else:
            self._send(self._lend_for_diagnostics(doc, client.id))

    def changed(self, client: "Client", uri: str) -> None:
        doc = self.docs.docs.get(uri)
        if doc is not None and client.id in doc.views and self._server_pulls() \
                and not self._pulls_itself(client):
            self._pull_for(doc, client.id)  # a push-only client of a pull-only server (point 17)

    def published(self, params: Dict[str, Any]) -> bool:
        """Diagnostics go only to the clients holding the text they were
        computed on (point 15); the others keep theirs until the server has
        computed on their text. False: not about a shared document."""
        doc = self.docs.docs.get(params["uri"])
        if doc is None:
            return False
        version = params.get("version")
        loan = doc.loan
        # A server may take the version as it begins and read the text as it goes
        # (pylsp does): they were computed on one of the texts it has held from
        # their version on, or, without one, since it last published.
        tagged = version is not None and version <= doc.server_version
        held = doc.since(version if tagged else loan.since)
        arrival = doc.server_version
        text = doc.text_of(version)
        if text is None:
            return True  # computed on a text nobody has any more
        diagnostics = params.get("diagnostics")
        if not all(h.is_(text) for h in held):
            if self._uncertain(doc, text, held, diagnostics, version is not None, tagged):
                loan.since = arrival
            return True
        loan.since = arrival
        self._published += 1
        self._keep(doc, text, {"diagnostics": diagnostics, "versioned": version is not None,
                               "id": self._published})
        self._show_diagnostics(doc, text, diagnostics, version is not None, pull_form_too=True)
        if loan.awaiting is not None and (text is doc.server or (version or 0) >= loan.awaiting):
            loan.awaiting = None  # the lent text has its diagnostics: back to the primary's
        parked, self._parked = self._parked, []
        ready = self._clients() if parked else []
        for p in parked:
            view = p.doc.views.get(p.client.id)
            if p.doc is doc and view is not None and view.text.same(text):
                p.client.send(jsonrpc.response(p.cid, self._report(doc, view.text, p.previous)))
            elif p.client in ready:
                self._parked.append(p)
        self._send(self.docs.restore(doc))
        for cid, view in doc.views.items():
            if view.text.digest not in loan.diags:  # lent away before its diagnostics came
                lend = self._lend_for_diagnostics(doc, cid)
                if lend:
                    self._send(lend)
                    break
        return True

    def _uncertain(self, doc: "Document", text: "Text", held: List["Held"], diagnostics: Any,
                   versioned: bool, tagged: bool) -> bool:
        """Diagnostics that may have been computed on any of several texts: shown
        only to the clients that had every one of them (stale by their own edits,
        as without the mux), never kept. Without a version, when a client holding
        the server's text is left without them, the server is given that text
        again to publish once more, on it for certain. False: left without."""
        shown = set()
        for client in self._clients():
            view = doc.views.get(client.id)
            if view is not None and view.text.same(text) \
                    and all(h.had_by(client.id, view.text) for h in held):
                self._send_diagnostics(client, doc, diagnostics, versioned)
                shown.add(client.id)
        if all(cid in shown for cid in doc.holders(text)):
            return True
        loan = doc.loan
        if tagged or text is not doc.server or loan.inflight or loan.waiting:
            return False  # the server computes on its text again, and publishes with its version
        self._send([self.docs.full_text(doc, None)])
        return True

    def pull_for_all(self) -> None:
        """The server's diagnostics changed (workspace/diagnostic/refresh), or it went pull."""
        if not self._server_pulls():
            return
        push_only = {c.id for c in self._clients() if not self._pulls_itself(c)}
        for doc in list(self.docs.docs.values()):
            done: Set[bytes] = set()
            for cid, view in doc.views.items():
                if cid in push_only and view.text.digest not in done:
                    done.add(view.text.digest)
                    self._pull_for(doc, cid)

    def _keep(self, doc: "Document", text: "Text", entry: Dict[str, Any]) -> None:
        diags = doc.loan.diags
        diags[text.digest] = entry
        live = {v.text.digest for v in doc.views.values()} | {doc.disk.digest}
        for digest in [d for d in diags if d not in live]:
            del diags[digest]

    def _show_diagnostics(self, doc: "Document", text: "Text", diagnostics: Any, versioned: bool,
                          pull_form_too: bool) -> None:
        for client in self._clients():
            view = doc.views.get(client.id)
            if view is None:
                if text.same(doc.disk):  # a client without the document has it as on disk
                    client.send(jsonrpc.notification("textDocument/publishDiagnostics",
                                                     {"uri": doc.uri, "diagnostics": diagnostics}))
            elif view.text.same(text) and (pull_form_too or not self._pulls_itself(client)):
                self._send_diagnostics(client, doc, diagnostics, versioned)

    @staticmethod
    def _send_diagnostics(client: "Client", doc: "Document", diagnostics: Any, versioned: bool) -> None:
        out: Dict[str, Any] = {"uri": doc.uri, "diagnostics": diagnostics}
        if versioned:
            out["version"] = doc.views[client.id].version  # its own version of the text diagnosed
        client.send(jsonrpc.notification("textDocument/publishDiagnostics", out))

    def _pull_for(self, doc: "Document", owner: int) -> None:
        """Pull diagnostics on a push-only client's behalf and publish them to
        the push-only clients holding that text (point 17)."""
        text = doc.views[owner].text
        loan = doc.loan
        if text.digest in loan.pulling:
            return
        loan.pulling[text.digest] = text

        def done(msg: Message) -> None:
            loan.pulling.pop(text.digest, None)
            report = msg.get("result")
            if self.docs.docs.get(doc.uri) is not doc or not isinstance(report, dict):
                return
            items = report.get("items")
            if report.get("kind") == "unchanged":
                items = (loan.diags.get(text.digest) or {}).get("diagnostics")
            if not isinstance(items, list):
                return
            self._published += 1
            self._keep(doc, text, {"diagnostics": items, "versioned": True, "id": self._published})
            self._show_diagnostics(doc, text, items, True, pull_form_too=False)

        def go() -> None:
            self._request("textDocument/diagnostic", {"textDocument": {"uri": doc.uri}}, done, doc)

        self._on_text(doc, owner, None, go)

    def _pull_from_pushed(self, client: "Client", cid: Id, doc: "Document", params: Dict[str, Any],
                          forward: Callable[["Document"], None]) -> None:
        """A pull from a client of a server that only pushes: answered from what
        it pushed for the client's text, or once it has (point 17)."""
        view = doc.views[client.id]
        prev = params.get("previousResultId")
        if view.text.digest in doc.loan.diags:
            client.send(jsonrpc.response(cid, self._report(doc, view.text, prev)))
        elif doc.loan.diags:  # it pushes for this document: its answer on this text is on its way
            self._parked.append(Parked(client, cid, doc, prev))
            self._send(self._lend_for_diagnostics(doc, client.id))
        else:  # nothing pushed yet: the server answers if it can, as it would without the mux
            self._on_text(doc, client.id, cid, lambda: forward(doc))

    @staticmethod
    def _report(doc: "Document", text: "Text", previous: Any) -> Dict[str, Any]:
        entry = doc.loan.diags[text.digest]
        result_id = "%s.%d" % (text.digest.hex()[:16], entry["id"])  # per text, and per publication
        if previous == result_id:
            return {"kind": "unchanged", "resultId": result_id}
        return {"kind": "full", "resultId": result_id, "items": entry["diagnostics"] or []}

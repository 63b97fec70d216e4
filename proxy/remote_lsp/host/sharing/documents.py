"""Open documents shared by several clients (sharing contract, points 6, 13-17).

The server sees one copy of each document; each client keeps its own view
(its text and version). Texts are `Text` objects compared by identity, then by
length and digest: equal texts share one object, so the common case (every
client holds the same text) costs a pointer compare, no copy and no resend.

At rest the server holds the text of the document's *primary* client: the one
that changed it last (else the first opener). Its incremental changes pass
through as they are. A request about the document from a client whose text
differs *borrows* the document: the server is given that client's whole text
first (one full-text change), the request goes, and once no request on it is
in flight the server goes back to the primary's text. While requests on one
text are in flight, requests needing another text wait (their answers must be
computed on the text they were asked about). Server-side versions are the
mux's own and only ever increase; each is remembered with the text it names
and the clients that held that text, so diagnostics can be matched to a text,
and told apart when the server may have read another since (`lending`).
Whether the server's text may change now is the lending's to say (`lending`:
each document's `Loan`, which only that module changes).

Positions are UTF-16 code units: the mux negotiates utf-16 with the server.
"""

import hashlib
import weakref
from typing import Any, Dict, List, Optional, Set

from remote_lsp.host.sharing.lending import Loan
from remote_lsp.wire import jsonrpc
from remote_lsp.wire.text import apply_change

Message = Dict[str, Any]
_HISTORY = 64  # server versions remembered with their text, for versioned diagnostics


class Text:
    """One document text, with its digest computed once, when first compared."""

    __slots__ = ("__weakref__", "_digest", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._digest: Optional[bytes] = None

    @property
    def digest(self) -> bytes:
        if self._digest is None:
            data = self.text.encode("utf-8", "surrogatepass")
            self._digest = hashlib.blake2b(data, digest_size=16).digest()
        return self._digest

    def same(self, other: Optional["Text"]) -> bool:
        return self is other or (other is not None and len(self.text) == len(other.text)
                                 and self.digest == other.digest)


class Held:
    """A text the server held at one of its versions, and the clients that had it then."""

    __slots__ = ("clients", "ref")

    def __init__(self, text: Text, clients: Set[int]) -> None:
        self.ref = weakref.ref(text)  # kept while someone holds the text
        self.clients = clients

    def is_(self, text: Text) -> bool:
        held = self.ref()
        return held is not None and text.same(held)

    def had_by(self, client: int, text: Text) -> bool:
        """Whether a client holding `text` now had this text, then or now."""
        return client in self.clients or self.is_(text)


class ClientView:
    __slots__ = ("edited", "text", "version")

    def __init__(self, text: Text, version: int) -> None:
        self.text = text
        self.version = version
        self.edited = 0  # when this client last changed the document (0: never)


class Document:
    def __init__(self, uri: str, language_id: str, text: Text, version: int, opener: int) -> None:
        self.uri = uri
        self.language_id = language_id
        self.server = text  # the text the server holds
        self.server_version = version
        # Server versions in order, each with the text it names and who had it.
        self.history: Dict[int, Held] = {version: Held(text, {opener})}
        self.primary: Optional[int] = None  # the client whose text the server holds at rest
        self.disk = text  # the text a client without the document open is taken to have
        self.views: Dict[int, ClientView] = {}
        self.loan = Loan()  # whose text the server computes on now, and the diagnostics per text

    def bump(self, client_version: int) -> int:
        # Follow the client's numbering while it is ahead (one client: the
        # server sees the very versions the editor sent), never go back.
        self.server_version = max(self.server_version + 1, client_version)
        return self.server_version

    def hold(self, text: Text, version: int) -> None:
        self.server = text
        self.history[version] = Held(text, set(self.holders(text)))
        while len(self.history) > _HISTORY:
            del self.history[next(iter(self.history))]

    def text_of(self, server_version: Optional[int]) -> Optional[Text]:
        """The text the server had at a version (None: too old to know, or nobody has it now)."""
        if server_version is None or server_version > self.server_version:
            return self.server  # unversioned, or numbered by the server itself: what it holds now
        held = self.history.get(server_version)
        return held.ref() if held is not None else None

    def since(self, server_version: Optional[int]) -> List[Held]:
        """The texts the server has held from a version on (None: all those remembered)."""
        return [h for v, h in self.history.items() if server_version is None or v >= server_version]

    def holders(self, text: Text) -> List[int]:
        return [cid for cid, v in self.views.items() if v.text.same(text)]


class Documents:
    """Reference-counted documents; each method returns what to send the server."""

    def __init__(self) -> None:
        self.docs: Dict[str, Document] = {}
        self._edits = 0

    def did_open(self, client: int, params: Message) -> List[Message]:
        item = params["textDocument"]
        uri, version = item["uri"], int(item.get("version", 0))
        text = Text(item["text"])
        doc = self.docs.get(uri)
        if doc is None:
            doc = self.docs[uri] = Document(uri, item.get("languageId", ""), text, version, client)
            doc.views[client] = ClientView(text, version)
            doc.primary = client
            return [jsonrpc.notification("textDocument/didOpen", params)]
        # An opener does not take the document from the client that has it
        # (maybe with unsaved edits): it is answered on its own text, by borrowing.
        for other in [doc.server] + [v.text for v in doc.views.values()]:
            if text.same(other):
                text = other  # one object per distinct text: later compares are a pointer compare
                break
        doc.views[client] = ClientView(text, version)
        if text is doc.server:
            doc.history[doc.server_version].clients.add(client)
        if doc.primary is None:
            doc.primary = client
            return self.restore(doc)
        return []

    def did_change(self, client: int, params: Message) -> List[Message]:
        ident = params["textDocument"]
        doc = self.docs.get(ident["uri"])
        view = doc.views.get(client) if doc else None
        if doc is None or view is None:
            return []  # a change to a document this client never opened
        old = view.text
        text = old.text
        for change in params.get("contentChanges") or []:
            text = apply_change(text, change)
        view.text = Text(text)
        version = ident.get("version")
        view.version = int(version) if version is not None else view.version + 1
        self._edits += 1
        view.edited = self._edits
        doc.primary = client  # an edit takes the document
        doc.loan.edited()
        if doc.server is old or old.same(doc.server):
            # The server holds this client's text: its changes pass through as they are.
            out = dict(params)
            v = doc.bump(view.version)
            out["textDocument"] = {"uri": doc.uri, "version": v}
            doc.hold(view.text, v)
            return [jsonrpc.notification("textDocument/didChange", out)]
        return self.restore(doc)

    def did_save(self, client: int, uri: str) -> None:
        doc = self.docs.get(uri)
        view = doc.views.get(client) if doc else None
        if doc is not None and view is not None:
            doc.disk = view.text

    def did_close(self, client: int, uri: str) -> List[Message]:
        doc = self.docs.get(uri)
        if doc is None or doc.views.pop(client, None) is None:
            return []
        if doc.views:
            if doc.primary == client or doc.primary not in doc.views:
                # The one that edited last among those left, else the first left.
                doc.primary = max(doc.views, key=lambda c: (doc.views[c].edited, -c))
            doc.loan.left(client, bool(doc.holders(doc.server)))
            return self.restore(doc)
        del self.docs[uri]
        return [jsonrpc.notification("textDocument/didClose", {"textDocument": {"uri": uri}})]

    def close_all(self, client: int) -> List[Message]:
        out: List[Message] = []
        for uri in [u for u, d in self.docs.items() if client in d.views]:
            out.extend(self.did_close(client, uri))
        return out

    def is_open_by(self, client: int, uri: str) -> bool:
        doc = self.docs.get(uri)
        return doc is not None and client in doc.views

    def view(self, client: int, uri: str) -> Optional[ClientView]:
        doc = self.docs.get(uri)
        return doc.views.get(client) if doc is not None else None

    def restore(self, doc: Document) -> List[Message]:
        """Back to the primary's text, when nothing on the server needs another."""
        view = doc.views.get(doc.primary) if doc.primary is not None else None
        if view is None or not doc.loan.at_rest() or view.text.same(doc.server):
            return []
        return [self.full_text(doc, view)]

    def uris_of(self, client: int) -> List[str]:
        return sorted(u for u, d in self.docs.items() if client in d.views)

    def snapshot(self) -> List[Dict[str, Any]]:
        return [
            {"uri": d.uri, "version": d.server_version, "clients": len(d.views)}
            for d in sorted(self.docs.values(), key=lambda d: d.uri)
        ]

    def full_text(self, doc: Document, view: Optional[ClientView]) -> Message:
        """The change that gives the server this view's text, whole (a lending or a
        restore); None: the text it holds, again (to have it computed on once more)."""
        text = view.text if view is not None else doc.server
        version = doc.bump(view.version if view is not None else 0)
        doc.hold(text, version)
        return jsonrpc.notification(
            "textDocument/didChange",
            {
                "textDocument": {"uri": doc.uri, "version": version},
                "contentChanges": [{"text": text.text}],
            },
        )

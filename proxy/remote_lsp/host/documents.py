"""Open documents shared by several clients (sharing contract, point 6).

The server sees one copy of each document. Each client keeps its own view
(its text and version). The server always holds the text of the client that
changed the document last: that client's incremental changes pass through
as they are; when another client edits, its whole text is sent once (a
full-text resync) and it becomes the last editor. Server-side versions are the
mux's own and only ever increase.

Positions are UTF-16 code units: the mux negotiates utf-16 with the server.
"""

from typing import Any, Dict, List, Optional

from remote_lsp.wire import jsonrpc
from remote_lsp.wire.text import apply_change

Message = Dict[str, Any]


class ClientView:
    __slots__ = ("text", "version")

    def __init__(self, text: str, version: int) -> None:
        self.text = text
        self.version = version


class Document:
    def __init__(self, uri: str, language_id: str, text: str, version: int) -> None:
        self.uri = uri
        self.language_id = language_id
        self.server_text = text
        self.server_version = version
        self.last_editor: Optional[int] = None  # client id whose text the server holds
        self.views: Dict[int, ClientView] = {}

    def bump(self, client_version: int) -> int:
        # Follow the client's numbering while it is ahead (one client: the
        # server sees the very versions the editor sent), never go back.
        self.server_version = max(self.server_version + 1, client_version)
        return self.server_version


class Documents:
    """Reference-counted documents; each method returns what to send the server."""

    def __init__(self) -> None:
        self.docs: Dict[str, Document] = {}

    def did_open(self, client: int, params: Message) -> List[Message]:
        item = params["textDocument"]
        uri, text, version = item["uri"], item["text"], int(item.get("version", 0))
        doc = self.docs.get(uri)
        if doc is None:
            doc = self.docs[uri] = Document(uri, item.get("languageId", ""), text, version)
            doc.views[client] = ClientView(text, version)
            doc.last_editor = client
            return [jsonrpc.notification("textDocument/didOpen", params)]
        doc.views[client] = ClientView(text, version)
        if text == doc.server_text:
            return []
        # This client's text differs (unsaved edits elsewhere): it is now the
        # last to have changed the document, so the server takes its text.
        doc.last_editor = client
        return [self._full_text(doc, text, version)]

    def did_change(self, client: int, params: Message) -> List[Message]:
        ident = params["textDocument"]
        doc = self.docs.get(ident["uri"])
        view = doc.views.get(client) if doc else None
        if doc is None or view is None:
            return []  # a change to a document this client never opened
        changes = params.get("contentChanges") or []
        text = view.text
        for change in changes:
            text = apply_change(text, change)
        view.text = text
        version = ident.get("version")
        view.version = int(version) if version is not None else view.version + 1
        if doc.last_editor == client:
            doc.server_text = text
            out = dict(params)
            out["textDocument"] = {"uri": doc.uri, "version": doc.bump(view.version)}
            return [jsonrpc.notification("textDocument/didChange", out)]
        doc.last_editor = client
        return [self._full_text(doc, text, view.version)]

    def did_close(self, client: int, uri: str) -> List[Message]:
        doc = self.docs.get(uri)
        if doc is None or doc.views.pop(client, None) is None:
            return []
        if doc.last_editor == client:
            doc.last_editor = None  # whoever edits next resyncs in full
        if doc.views:
            return []
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

    def client_version(self, client: int, uri: str, server_version: int) -> Optional[int]:
        """The client's own version for a server version, when the client's
        text is exactly the text the server had at that version."""
        doc = self.docs.get(uri)
        view = doc.views.get(client) if doc else None
        if view is None or server_version != doc.server_version:
            return None
        if doc.last_editor == client or view.text == doc.server_text:
            return view.version
        return None

    def uris_of(self, client: int) -> List[str]:
        return sorted(u for u, d in self.docs.items() if client in d.views)

    def snapshot(self) -> List[Dict[str, Any]]:
        return [
            {"uri": d.uri, "version": d.server_version, "clients": len(d.views)}
            for d in sorted(self.docs.values(), key=lambda d: d.uri)
        ]

    def _full_text(self, doc: Document, text: str, client_version: int) -> Message:
        doc.server_text = text
        return jsonrpc.notification(
            "textDocument/didChange",
            {
                "textDocument": {"uri": doc.uri, "version": doc.bump(client_version)},
                "contentChanges": [{"text": text}],
            },
        )

"""What the bridge remembers of the editor's session, so that no outage ends
it: the editor's initialize (to start a new session by itself if the old one
cannot be resumed), its open documents with their current text (to open them
again there), and its requests still waiting for an answer (to answer them
with a clear error when an outage outlasts the bound, never to hang).
"""

from typing import Any, Dict, List, Optional

from remote_lsp.wire import jsonrpc
from remote_lsp.wire.text import apply_change

Message = Dict[str, Any]


class Document:
    __slots__ = ("language", "text", "version")

    def __init__(self, language: str, text: str, version: int) -> None:
        self.language = language
        self.text = text
        self.version = version


class Pending:
    """A request of the editor's that has no answer yet."""

    __slots__ = ("method", "queued")

    def __init__(self, method: str, queued: bool) -> None:
        self.method = method
        self.queued = queued  # still in the bridge's outbox, not yet on the link


class Tracking:
    def __init__(self) -> None:
        self.init_params: Optional[Message] = None
        self.init_result: Optional[Message] = None
        self.init_id: Any = None
        self.documents: Dict[str, Document] = {}
        self.pending: Dict[Any, Pending] = {}
        self.abandoned: set = set()  # answered by the bridge: the server's late answer is dropped

    # --- the editor's messages, in the editor's names (before URI translation) ----------------

    def from_editor(self, msg: Message, queued: bool) -> None:
        method = msg.get("method")
        if method is None:
            return
        params = msg.get("params")
        rid = jsonrpc.id_or_none(msg.get("id"))
        if rid is not None:
            self.pending[rid] = Pending(method, queued)
            if method == "initialize" and isinstance(params, dict):
                self.init_params = params
                self.init_id = rid
            return
        try:
            if method == "textDocument/didOpen":
                item = params["textDocument"]
                self.documents[item["uri"]] = Document(item.get("languageId", ""), item["text"],
                                                       int(item.get("version", 0)))
            elif method == "textDocument/didChange":
                doc = self.documents.get(params["textDocument"]["uri"])
                if doc is not None:
                    for change in params["contentChanges"]:
                        doc.text = apply_change(doc.text, change)
                    doc.version = int(params["textDocument"].get("version", doc.version + 1))
            elif method == "textDocument/didClose":
                self.documents.pop(params["textDocument"]["uri"], None)
        except (KeyError, TypeError, ValueError, AttributeError):
            pass  # ill-typed: the host side refuses it; nothing to remember

    def answered(self, rid: Any) -> bool:
        """The server answered `rid`: True if the editor is to get the answer
        (False: the bridge answered it already)."""
        key = jsonrpc.id_or_none(rid)
        self.pending.pop(key, None)
        if key in self.abandoned:
            self.abandoned.discard(key)
            return False
        return True

    def sent(self, rid: Any) -> None:
        p = self.pending.get(jsonrpc.id_or_none(rid))
        if p is not None:
            p.queued = False

    def give_up(self, rid: Any) -> Optional[Pending]:
        """The bridge answers `rid` itself; a later answer from the server is dropped."""
        key = jsonrpc.id_or_none(rid)
        p = self.pending.pop(key, None)
        if p is not None and not p.queued:
            self.abandoned.add(key)
        return p

    def broken_off(self, rid: Any) -> None:
        """The editor got an error for `rid` in place of the rest of its answer:
        the answer, should it come again, is dropped."""
        self.abandoned.add(jsonrpc.id_or_none(rid))

    def reopen(self) -> List[Message]:
        """didOpen for every document the editor has open, with its text now."""
        return [jsonrpc.notification("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": d.language, "version": d.version, "text": d.text}})
            for uri, d in self.documents.items()]


SYNC_METHODS = frozenset({"textDocument/didOpen", "textDocument/didChange", "textDocument/didClose",
                          "textDocument/didSave", "textDocument/willSave"})


def incompatible(old: Optional[Message], new: Optional[Message]) -> Optional[str]:
    """What about a new session's server the editor cannot absorb, if anything:
    it already sends edits and positions in the form the old server asked for."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return None
    a, b = old.get("capabilities") or {}, new.get("capabilities") or {}
    if _sync_kind(a) != _sync_kind(b):
        return "the server now wants document changes in another form (textDocumentSync)"
    if a.get("positionEncoding", "utf-16") != b.get("positionEncoding", "utf-16"):
        return "the server now counts positions in another encoding"
    return None


def _sync_kind(caps: Message) -> Any:
    sync = caps.get("textDocumentSync")
    return sync.get("change") if isinstance(sync, dict) else sync

"""Each client served in the form it declared (sharing contract, point 11).

The server is initialized once, for every client: with the first client's
capabilities merged into a rich editor's set (`merged`), so it answers in
the richest form (markdown, snippets) and registers and reports what it can.
Each client then gets messages in the form it declared (`Form`): markdown made
plain text, snippets made plain text, dynamic registrations and work-done
progress only if it supports them. What cannot be adapted (a capability the
server registers dynamically instead of declaring it, for a client without
dynamic registration) is listed in ARCHITECTURE.md and :help remote-lsp-sharing.
"""

import copy
import re
from typing import Any, Dict, List, Optional

Caps = Dict[str, Any]
MARKUP = ["markdown", "plaintext"]

# What the mux can adapt for every client, so the server may use it.
RICH: Caps = {
    "textDocument": {
        "hover": {"contentFormat": MARKUP, "dynamicRegistration": True},
        "completion": {"dynamicRegistration": True, "completionItem": {
            "snippetSupport": True, "documentationFormat": MARKUP}},
        "signatureHelp": {"dynamicRegistration": True,
                          "signatureInformation": {"documentationFormat": MARKUP}},
        "synchronization": {"dynamicRegistration": True},
    },
    "workspace": {
        "didChangeWatchedFiles": {"dynamicRegistration": True},
        "didChangeConfiguration": {"dynamicRegistration": True},
        "symbol": {"dynamicRegistration": True},
        "executeCommand": {"dynamicRegistration": True},
    },
    "window": {"workDoneProgress": True},
}
# Methods whose answers the mux adapts for a client that needs it.
ADAPTED = frozenset({"textDocument/hover", "textDocument/completion", "completionItem/resolve",
                     "textDocument/signatureHelp"})


def merged(first: Caps) -> Caps:
    """The first client's capabilities with the rich set merged in: its
    values stay where the rich set has none; markdown goes first in a format
    list, so the server answers in markdown when it can."""
    out = copy.deepcopy(first) if isinstance(first, dict) else {}
    _merge(out, RICH)
    return out


def _merge(into: Caps, rich: Caps) -> None:
    for key, value in rich.items():
        have = into.get(key)
        if isinstance(value, dict):
            if not isinstance(have, dict):
                have = into[key] = {}
            _merge(have, value)
        elif isinstance(value, list):
            extra = [v for v in have if v not in value] if isinstance(have, list) else []
            into[key] = list(value) + extra
        elif value is True:
            into[key] = True


class Form:
    """What one client declared it can take."""

    __slots__ = ("caps", "completion_markdown", "hover_markdown", "progress", "pulls", "signature_markdown",
                 "snippets")

    def __init__(self, caps: Any) -> None:
        self.caps = caps if isinstance(caps, dict) else {}
        td = _get(self.caps, "textDocument")
        self.hover_markdown = "markdown" in _list(_get(td, "hover", "contentFormat"))
        item = _get(td, "completion", "completionItem")
        self.completion_markdown = "markdown" in _list(_get(item, "documentationFormat"))
        self.snippets = _get(item, "snippetSupport") is True
        self.signature_markdown = "markdown" in _list(_get(td, "signatureHelp", "signatureInformation",
                                                           "documentationFormat"))
        self.progress = _get(self.caps, "window", "workDoneProgress") is True
        self.pulls = isinstance(_get(td, "diagnostic"), dict)  # takes diagnostics by pull, else by push

    def needs(self, method: str) -> bool:
        """Does an answer to `method` have to be adapted for this client?"""
        if method == "textDocument/hover":
            return not self.hover_markdown
        if method in ("textDocument/completion", "completionItem/resolve"):
            return not (self.completion_markdown and self.snippets)
        if method == "textDocument/signatureHelp":
            return not self.signature_markdown
        return False

    def registers(self, method: str) -> bool:
        """Does this client take dynamic registrations of `method`?"""
        ns, _, name = method.partition("/")
        if ns == "textDocument" and name in ("didOpen", "didChange", "didClose", "didSave", "willSave",
                                             "willSaveWaitUntil"):
            name = "synchronization"
        return _get(self.caps, ns, name, "dynamicRegistration") is True

    def adapt(self, method: str, result: Any) -> Any:
        """An answer to `method` in this client's form."""
        if method == "textDocument/hover" and isinstance(result, dict):
            result["contents"] = _contents(result.get("contents"), self.hover_markdown)
        elif method == "textDocument/completion":
            items = result.get("items") if isinstance(result, dict) else result
            defaults = result.get("itemDefaults") if isinstance(result, dict) else None
            snippet_default = isinstance(defaults, dict) and defaults.get("insertTextFormat") == 2
            if snippet_default and not self.snippets:
                defaults["insertTextFormat"] = 1
            for item in items if isinstance(items, list) else []:
                self._item(item, snippet_default)
        elif method == "completionItem/resolve":
            self._item(result, False)
        elif method == "textDocument/signatureHelp" and isinstance(result, dict):
            for sig in _list(result.get("signatures")):
                if isinstance(sig, dict):
                    sig["documentation"] = _doc(sig.get("documentation"))
                    for param in _list(sig.get("parameters")):
                        if isinstance(param, dict):
                            param["documentation"] = _doc(param.get("documentation"))
        return result

    def _item(self, item: Any, snippet_default: bool) -> None:
        if not isinstance(item, dict):
            return
        if not self.completion_markdown and "documentation" in item:
            item["documentation"] = _doc(item.get("documentation"))
        snippet = item.get("insertTextFormat") == 2 or (snippet_default and "insertTextFormat" not in item)
        if snippet and not self.snippets:
            if isinstance(item.get("insertText"), str):
                item["insertText"] = plain_snippet(item["insertText"])
            edit = item.get("textEdit")
            if isinstance(edit, dict) and isinstance(edit.get("newText"), str):
                edit["newText"] = plain_snippet(edit["newText"])
            item["insertTextFormat"] = 1


def _contents(contents: Any, markdown: bool) -> Any:
    """Hover contents as MarkupContent a client without markdown can show."""
    if markdown:
        return contents
    parts = contents if isinstance(contents, list) else [contents]
    texts = []
    for part in parts:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and isinstance(part.get("value"), str):
            is_md = part.get("kind") == "markdown"
            texts.append(plain_markdown(part["value"]) if is_md else part["value"])
    return {"kind": "plaintext", "value": "\n\n".join(t for t in texts if t)}


def _doc(doc: Any) -> Any:
    if isinstance(doc, dict) and doc.get("kind") == "markdown" and isinstance(doc.get("value"), str):
        return {"kind": "plaintext", "value": plain_markdown(doc["value"])}
    return doc


_FENCE = re.compile(r"^\s*(```|~~~)")
_ESCAPED = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|<>])")


def plain_markdown(text: str) -> str:
    """Markdown as plain text: code fences and escapes gone, the words kept."""
    lines = [line for line in text.split("\n") if not _FENCE.match(line)]
    return _ESCAPED.sub(r"\1", "\n".join(lines)).strip("\n")


_TABSTOP = re.compile(r"\$(\d+|[A-Za-z_][A-Za-z0-9_]*)")


def plain_snippet(text: str) -> str:
    """A snippet as the plain text it inserts: placeholders keep their
    default text, tabstops and variables go, escapes are undone."""
    out: List[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in "$}\\,|":
            out.append(text[i + 1])
            i += 2
        elif text.startswith("${", i):
            end, inner = _braced(text, i + 2)
            out.append(inner)
            i = end
        elif ch == "$" and _TABSTOP.match(text, i):
            i = _TABSTOP.match(text, i).end()  # type: ignore[union-attr]
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _braced(text: str, i: int) -> Any:
    """After `${`: (index past the closing brace, the text the placeholder inserts)."""
    name = re.compile(r"\d+|[A-Za-z_][A-Za-z0-9_]*").match(text, i)
    j = name.end() if name else i
    if text.startswith("|", j):  # a choice: its first option
        close = text.find("|}", j + 1)
        close = len(text) - 2 if close < 0 else close
        return close + 2, text[j + 1:close].split(",")[0]
    if not text.startswith(":", j):
        close = text.find("}", j)
        return (len(text) if close < 0 else close + 1), ""
    depth, k = 1, j + 1
    while k < len(text):
        if text[k] == "\\":
            k += 2
            continue
        if text.startswith("${", k):
            depth += 1
            k += 2
            continue
        if text[k] == "}":
            depth -= 1
            if depth == 0:
                return k + 1, plain_snippet(text[j + 1:k])
        k += 1
    return len(text), plain_snippet(text[j + 1:])


def _get(d: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(key)
    return d


def _list(value: Any) -> List[Any]:
    return value if isinstance(value, list) else []


def registrations_for(form: Optional[Form], params: Any) -> Optional[Dict[str, Any]]:
    """registerCapability params with only what `form` takes (None: nothing)."""
    regs = params.get("registrations") if isinstance(params, dict) else None
    if form is None or not isinstance(regs, list):
        return params
    kept = [r for r in regs if isinstance(r, dict) and form.registers(str(r.get("method", "")))]
    return {"registrations": kept} if kept else None

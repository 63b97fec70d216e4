"""Document text and LSP edits: positions in UTF-16 code units, as every LSP
client supports (the mux negotiates utf-16 with the server). Used by the mux
(each client's view of a shared document) and by the bridge (the editor's
documents, to open them again in a new session).
"""

from typing import Any, Dict


def utf16_offset(text: str, line: int, character: int) -> int:
    """Index into `text` of an LSP position (clamped, as the spec asks)."""
    start = 0
    for _ in range(line):
        nl = text.find("\n", start)
        if nl < 0:
            return len(text)
        start = nl + 1
    end = text.find("\n", start)
    if end < 0:
        end = len(text)
    segment = text[start:end]
    if segment.isascii():
        return start + min(character, len(segment))
    units = 0
    for i, ch in enumerate(segment):
        if units >= character:
            return start + i
        units += 2 if ord(ch) > 0xFFFF else 1
    return end


def apply_change(text: str, change: Dict[str, Any]) -> str:
    rng = change.get("range")
    if rng is None:
        return change["text"]
    a = utf16_offset(text, rng["start"]["line"], rng["start"]["character"])
    b = utf16_offset(text, rng["end"]["line"], rng["end"]["character"])
    if b < a:
        a, b = b, a
    return text[:a] + change["text"] + text[b:]

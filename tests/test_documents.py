"""Document sharing (sharing contract, point 6) at the unit level."""

from remote_lsp.host.sharing.documents import Documents
from remote_lsp.wire.text import apply_change, utf16_offset


def change(line, ch, line2, ch2, text):
    return {"range": {"start": {"line": line, "character": ch},
                      "end": {"line": line2, "character": ch2}}, "text": text}


def server_text(msgs, text):
    for m in msgs:
        if m["method"] in ("textDocument/didOpen",):
            text = m["params"]["textDocument"]["text"]
        elif m["method"] == "textDocument/didChange":
            for c in m["params"]["contentChanges"]:
                text = apply_change(text, c)
    return text


def test_utf16_positions_count_surrogate_pairs():
    text = "a😀b\nx"
    assert utf16_offset(text, 0, 3) == 2  # after the emoji, which is 2 units
    assert utf16_offset(text, 0, 99) == 3  # clamped to the line
    assert utf16_offset(text, 1, 1) == 5
    assert apply_change(text, change(0, 3, 0, 4, "B")) == "a😀B\nx"


def test_last_editor_wins_and_versions_only_increase():
    docs = Documents()
    uri = "file:///p/a.py"
    sent = docs.did_open(1, {"textDocument": {"uri": uri, "languageId": "python",
                                              "version": 1, "text": "abc\n"}})
    assert docs.did_open(2, {"textDocument": {"uri": uri, "languageId": "python",
                                              "version": 7, "text": "abc\n"}}) == []
    server = server_text(sent, "")
    versions = []
    # Client 1 edits: incremental changes pass through.
    out = docs.did_change(1, {"textDocument": {"uri": uri, "version": 2},
                              "contentChanges": [change(0, 3, 0, 3, "1")]})
    assert out[0]["params"]["contentChanges"][0].get("range")
    server = server_text(out, server)
    versions += [m["params"]["textDocument"]["version"] for m in out]
    # Client 2, which never saw client 1's edit, edits: full-text resync.
    out = docs.did_change(2, {"textDocument": {"uri": uri, "version": 8},
                              "contentChanges": [change(0, 0, 0, 0, "2")]})
    assert "range" not in out[0]["params"]["contentChanges"][0]
    server = server_text(out, server)
    assert server == "2abc\n"
    versions += [m["params"]["textDocument"]["version"] for m in out]
    out = docs.did_change(1, {"textDocument": {"uri": uri, "version": 3},
                              "contentChanges": [change(0, 0, 0, 0, ">")]})
    server = server_text(out, server)
    assert server == ">abc1\n"
    versions += [m["params"]["textDocument"]["version"] for m in out]
    assert versions == sorted(set(versions))
    # Reference counting: the server hears didClose only from the last one; it
    # goes back to the text of the client left.
    out = docs.did_close(1, uri)
    assert [m["method"] for m in out] == ["textDocument/didChange"]
    assert server_text(out, server) == "2abc\n"
    assert docs.close_all(2)[0]["method"] == "textDocument/didClose"

"""URI translation between PROTOCOL://HOST//path and file:///path."""

import json
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from remote_lsp.editor.hosts import parse_host
from remote_lsp.wire.errors import UsageError
from remote_lsp.wire.uri import PROTOCOLS, UriMapper

M = UriMapper("scp", "dev-box")


def test_round_trip_keeps_spaces_percent_and_non_ascii():
    for path in ("/srv/proj/a.py", "/srv/my proj/ä ö/文件.py", "/srv/100%/x#y.py".replace("#", "")):
        editor = "scp://dev-box/" + path
        server = M.to_server(editor)
        assert server.startswith("file:///") and " " not in server
        assert M.to_editor(server) == editor
    # Editor names are plain paths: a literal %20 is the name's own.
    assert M.to_server("scp://dev-box//srv/a%20b.py") == "file:///srv/a%2520b.py"
    assert M.to_editor("file:///srv/a%2520b.py") == "scp://dev-box//srv/a%20b.py"
    assert M.to_server("scp://other//srv/a.py") == "scp://other//srv/a.py"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_protocol_names_absolute_paths_after_two_slashes(protocol):
    # netrw's scp://, rsync://, sftp:// and oil.nvim's oil-ssh://: the host as written (user and
    # port too), one slash, then the path as `host:PATH` takes it, so an absolute one starts with /.
    m = UriMapper(protocol, "me@dev-box:2222")
    editor = "%s://me@dev-box:2222//srv/my proj/ä.py" % protocol
    assert m.to_server(editor) == "file:///srv/my%20proj/%C3%A4.py"
    assert m.to_editor("file:///srv/my%20proj/%C3%A4.py") == editor
    assert m.path_of("%s://me@dev-box:2222//srv/proj" % protocol) == "/srv/proj"
    # A path relative to the login's home there, another host's, another scheme's: not ours.
    for other in ("%s://me@dev-box:2222/src/a.py" % protocol, "%s://dev-box//srv/a.py" % protocol,
                  "ftp://me@dev-box:2222//srv/a.py"):
        assert m.to_server(other) == other
        assert m.message_to_server({"uri": other}) == {"uri": other}
    hover = {"contents": {"kind": "markdown", "value": "[a](file:///srv/a.py#L3), file:///srv/b.py"}}
    assert m.message_to_editor(hover)["contents"]["value"] == (
        "[a](%s://me@dev-box:2222//srv/a.py#L3), %s://me@dev-box:2222//srv/b.py" % (protocol, protocol))
    text = "see %s://me@dev-box:2222//srv/c.py" % protocol
    assert m.message_to_server({"message": text}) == {"message": "see file:///srv/c.py"}


def test_the_editors_own_names():
    """Exactly as netrw names an sftp buffer and oil.nvim an ssh one (after it
    resolved the path on the host, as it does before naming any buffer)."""
    assert UriMapper("sftp", "dev-box").to_server("sftp://dev-box//home/me/proj/a.py") == (
        "file:///home/me/proj/a.py")
    oil = UriMapper("oil-ssh", "me@dev-box")
    assert oil.to_server("oil-ssh://me@dev-box//home/me/proj/a.py") == "file:///home/me/proj/a.py"
    assert oil.to_editor("file:///home/me/proj/b.py") == "oil-ssh://me@dev-box//home/me/proj/b.py"
    with pytest.raises(ValueError, match="unknown protocol 'ftp'"):
        UriMapper("ftp", "dev-box")


def test_messages_translate_everywhere_but_document_text():
    code = 'URL = "file:///etc/passwd"  # scp://dev-box//not/a/uri\n'
    msg = {"method": "textDocument/didOpen", "params": {"textDocument": {
        "uri": "scp://dev-box//srv/a.py", "languageId": "python", "version": 1, "text": code}}}
    out = M.message_to_server(msg)
    assert out["params"]["textDocument"]["uri"] == "file:///srv/a.py"
    assert out["params"]["textDocument"]["text"] == code
    hover = {"result": {"contents": {"kind": "markdown",
                                     "value": "see [a.py](file:///srv/a%20b.py#L3) and file:///srv/c.py"}},
             "edits": {"changes": {"file:///srv/a.py": [{"newText": "file:///keep", "range": {}}]}},
             "command": {"arguments": ["file:///srv/d.py", {"uri": "file:///srv/e.py"}]}}
    back = M.message_to_editor(hover)
    assert back["result"]["contents"]["value"] == (
        "see [a.py](scp://dev-box//srv/a b.py#L3) and scp://dev-box//srv/c.py")
    assert list(back["edits"]["changes"]) == ["scp://dev-box//srv/a.py"]
    assert back["edits"]["changes"]["scp://dev-box//srv/a.py"][0]["newText"] == "file:///keep"
    assert back["command"]["arguments"] == ["scp://dev-box//srv/d.py", {"uri": "scp://dev-box//srv/e.py"}]


def test_host_specs():
    assert parse_host("dev-box").destination == "dev-box"
    h = parse_host("me@10.0.0.5:2222")
    assert (h.user, h.host, h.port) == ("me", "10.0.0.5", 2222)
    assert parse_host("[::1]:22").host == "::1"
    for bad in ("-oProxyCommand=x", "a;touch /tmp/x", "$(id)", "a b", "h:99999", "'q'", "a`b`", ""):
        with pytest.raises(UsageError):
            parse_host(bad)


# The byte-level translation of server frames (the fast path for large answers)
# must give exactly what decoding and walking the message gives.

_paths = st.lists(st.sampled_from(["a", "b c", "é", "%20", "q\"x", "x#y", "(p)", "z\\w", "ü/ü", "."]),
                  min_size=1, max_size=4).map(lambda parts: "/" + "/".join(parts))
_uris = _paths.map(lambda p: "file://" + quote(p, safe="/#"))
_strings = st.one_of(_uris, _uris.map(lambda u: "see [it](%s) here" % u), st.text(max_size=8),
                     st.sampled_from(["file:///plain/path.py", 'file:///raw"quote/a b.py', "file:///tab\there",
                                      "file:///back\\slash.py", "x file:///a.py, file:///b.py"]))
_values = st.recursive(st.one_of(st.none(), st.integers(), _strings),
                       lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                           st.sampled_from(["uri", "targetUri", "value", "text", "newText", "x", "file:///k.py"]),
                           inner, max_size=3), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(_values)
def test_byte_translation_equals_decoding(value):
    mapper = UriMapper("scp", "host")
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "result": value}, ensure_ascii=False,
                      separators=(",", ":")).encode()
    assert json.loads(mapper.body_to_editor(body)) == mapper.message_to_editor(json.loads(body))
    # A caller that has the message decoded passes it: the same translation, without decoding again.
    assert mapper.body_to_editor(body, json.loads(body)) == mapper.body_to_editor(body)


def test_a_message_built_on_the_host_translates_as_its_body():
    """The agent's own messages (tuples for arrays, a number for a key) reach
    the editor as their encoded bodies would: every URI in its names."""
    mapper = UriMapper("scp", "host")
    msg = {"jsonrpc": "2.0", "id": 1, "result": {"items": ({"uri": "file:///a.py", "newText": "file:///b"},),
                                                  7: ["file:///c.py"]}}
    body = json.dumps(msg, ensure_ascii=False, separators=(",", ":")).encode()
    expected = {"jsonrpc": "2.0", "id": 1, "result": {"items": [
        {"uri": "scp://host//a.py", "newText": "file:///b"}], "7": ["scp://host//c.py"]}}
    assert json.loads(mapper.body_to_editor(body)) == expected
    assert json.loads(mapper.body_to_editor(body, msg)) == expected

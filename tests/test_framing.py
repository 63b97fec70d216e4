"""LSP framing: partial reads, batching, resynchronisation, limits."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from remote_lsp.wire import jsonrpc
from remote_lsp.wire.framing import FrameParser, FramingError, encode


def frames(*bodies: bytes) -> bytes:
    return b"".join(encode(b) for b in bodies)


def test_one_byte_at_a_time_and_many_per_read():
    bodies = [b'{"a":1}', b'{"b":"\xc3\xa9"}', b"{}"]
    stream = frames(*bodies)
    p = FrameParser()
    got = []
    for i in range(len(stream)):
        got += p.feed(stream[i:i + 1])
    assert got == bodies
    assert FrameParser().feed(stream) == bodies


def test_content_type_is_ignored_and_header_case_insensitive():
    data = (b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n"
            b"content-length: 2\r\n\r\n{}")
    assert FrameParser().feed(data) == [b"{}"]


def test_strict_parser_refuses_garbage():
    with pytest.raises(FramingError, match="malformed"):
        FrameParser(strict=True).feed(b"hello world\r\n\r\n" + encode(b"{}"))


def test_resync_after_garbage_and_mid_message_start():
    p = FrameParser(strict=False)
    # What a reader sees when it starts in the middle of a message.
    tail = b'ult":null}' + encode(b'{"id":1}') + b"\x00junk\r\n\r\n" + encode(b'{"id":2}')
    assert p.feed(tail) == [b'{"id":1}', b'{"id":2}']
    assert p.skipped > 0


def test_resync_across_reads():
    p = FrameParser(strict=False)
    data = b"garbage garbage Content-Len" + b"gth: 2\r\n\r\n{}"
    assert p.feed(data[:20]) == []
    assert p.feed(data[20:]) == [b"{}"]


def test_oversized_frame_refused_before_buffering():
    p = FrameParser(max_frame=1000)
    with pytest.raises(FramingError, match="over the 1000 byte limit"):
        p.feed(b"Content-Length: 1001\r\n\r\n")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 5000), min_size=1, max_size=40), st.booleans())
def test_an_oversized_frame_is_read_past_in_any_pieces(cuts, strict):
    """With on_oversized, a frame over the limit is dropped as it arrives (the
    parser never holds more of it than one read), its length and ends are
    told, and the frames around it come out whole."""
    big = b'{"jsonrpc":"2.0","id":7,"result":"' + b"x" * 20000 + b'"}'
    stream = frames(b'{"id":1}', big, b'{"id":2}')
    told = []
    p = FrameParser(max_frame=1000, strict=strict, on_oversized=lambda *args: told.append(args))
    got, at = [], 0
    for n in cuts * (len(stream) // sum(cuts) + 1):
        got += p.feed(stream[at:at + n])
        assert len(p._buf) <= n + 40  # what is buffered: at most this read and a header
        at += n
        if at >= len(stream):
            break
    assert got == [b'{"id":1}', b'{"id":2}']
    assert told == [(len(big), big[:256], big[-256:])]


@pytest.mark.parametrize("head, tail, sid", [
    (b'{"jsonrpc":"2.0","id":7,"result":[', b"]}", 7),
    (b'{"jsonrpc":"2.0","result":[{"id":3}', b'{"id":4}],"id":9}', 9),  # the top-level id, at the end
    (b'{"jsonrpc":"2.0","result":[', b'{"id":4}]}', None),  # a nested id only
    (b'{"jsonrpc":"2.0","method":"x","params":[', b'],"id":3}', None),  # a request
    (b'{"jsonrpc":"2.0","method":"x","params":[', b"]}", None),
])
def test_a_response_is_known_by_its_ends(head, tail, sid):
    assert jsonrpc.response_id_of_ends(head, tail) == sid


def test_response_id_fast_path_matches_only_top_level_ids():
    body = b'{"jsonrpc":"2.0","id":42,"result":{"id":7}}'
    found = jsonrpc.response_id_prefix(body)
    assert found is not None and found[0] == 42
    spliced = jsonrpc.splice_id(body, found[1], found[2], "abc")
    assert json.loads(spliced) == {"jsonrpc": "2.0", "id": "abc", "result": {"id": 7}}
    # A request or a response with another member order takes the slow path.
    assert jsonrpc.response_id_prefix(b'{"jsonrpc":"2.0","id":1,"method":"x"}') is None
    assert jsonrpc.response_id_prefix(b'{"result":{"id":1},"id":2}') is None


@pytest.mark.parametrize("body, says", [
    (b'{"jsonrpc":"2.0","id":1,"method":"x","params":{}}', True),
    (b'{ "jsonrpc" : "2.0" , "id" : "a-1" , "method" : "x" }', True),
    (b'{"jsonrpc":"2.0","method":"textDocument/publishDiagnostics","params":{"id":3}}', True),
    (b'{"method":"x","id":1}', True),
    # Not known from the first members: the caller decodes.
    (b'{"jsonrpc":"2.0","id":1,"result":{"method":"x"}}', False),
    (b'{"params":{"method":"x"},"id":1,"result":null}', False),
    (b'{"id":"a\\\\","method":"x"}', False),
    (b'{"jsonrpc":"2.0","error":{"code":1},"id":1,"method":"x"}', False),
])
def test_a_request_is_known_by_its_first_members(body, says):
    assert jsonrpc.is_request_prefix(body) is says
    if says:  # never a response: the bridge need not decode it to know
        assert not jsonrpc.is_response(json.loads(body))

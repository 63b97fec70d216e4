"""Large answers passed to the editor as they arrive: the piece parser, and
what the editor reads when the link dies part-way (resumed, or broken off)."""

import json
from typing import List

from hypothesis import given, settings
from hypothesis import strategies as st
from remote_lsp.editor.passage import EditorOut
from remote_lsp.wire.framing import COLLECT_FROM, HEAD, MORE, WHOLE, FrameParser, PieceParser, encode

LARGE = 1000


def answer(rid: int, size: int) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": rid, "result": "x" * size}).encode()


def reassemble(parser: PieceParser, chunks: List[bytes]) -> List[bytes]:
    """Bodies as a relay passing large ones on would have them, checking the pieces' contract."""
    bodies: List[bytes] = []
    part = bytearray()
    length = left = 0
    for chunk in chunks:
        for kind, data, size in parser.pieces(chunk):
            if kind == WHOLE:
                assert not left and len(data) == size < LARGE
                bodies.append(data)
            elif kind == HEAD:
                assert not left and size >= LARGE and data
                part, length, left = bytearray(data), size, size - len(data)
                if not left:
                    bodies.append(bytes(part))
            else:
                assert kind == MORE and left and size == left - len(data)
                part += data
                left = size
                if not left:
                    assert len(part) == length
                    bodies.append(bytes(part))
    return bodies


@settings(max_examples=200, deadline=None)
@given(sizes=st.lists(st.integers(0, 3 * LARGE), min_size=1, max_size=8), cuts=st.lists(st.integers(1, 4000)))
def test_pieces_make_the_same_bodies_as_whole_frames(sizes, cuts):
    stream = b"".join(encode(answer(i, n)) for i, n in enumerate(sizes))
    chunks, at = [], 0
    for cut in cuts + [len(stream)]:
        chunks.append(stream[at:at + cut])
        at += cut
    whole = FrameParser().feed(stream)
    assert reassemble(PieceParser(large=LARGE, peek=64), chunks) == whole


class Editor:
    def __init__(self) -> None:
        self.bytes = bytearray()

    def messages(self) -> List[object]:
        out = []
        for body in FrameParser().feed(bytes(self.bytes)):
            try:
                out.append(json.loads(body))
            except ValueError:
                out.append("undecodable")
        return out


def passing(rid: int):
    """An editor, what writes to it, and a large answer whose first 100 bytes have gone to it."""
    editor = Editor()
    out = EditorOut(editor.bytes.extend)
    body = answer(rid, 5000)
    out.begin(rid, body[:100], len(body))
    return editor, out, body


def test_other_frames_wait_until_the_large_answer_is_out():
    editor, out, body = passing(7)
    out.frame(b'{"jsonrpc":"2.0","method":"note"}')
    assert editor.messages() == []  # nothing inside the answer
    out.more(body[100:])
    assert editor.messages() == [json.loads(body), {"jsonrpc": "2.0", "method": "note"}]


def test_a_resumed_link_sends_the_answer_again_and_the_editor_gets_it_once():
    editor, out, body = passing(3)
    out.more(body[100:2100])  # then the link died
    out.frame(b'{"jsonrpc":"2.0","method":"$/remote-lsp/link","params":{"state":"up"}}')
    assert out.resending
    assert out.again(body[:700], len(body))  # the host sends it whole again
    out.more(body[700:])
    assert not out.resending
    msgs = editor.messages()
    assert msgs[0] == json.loads(body) and msgs[1]["method"] == "$/remote-lsp/link" and len(msgs) == 2


def test_an_answer_that_cannot_come_again_is_broken_off_with_an_error():
    editor, out, body = passing(5)
    out.frame(b'{"jsonrpc":"2.0","method":"note"}')
    out.break_off("remote-lsp: host unreachable")
    out.more(body[100:])  # a straggler from the dead connection: dropped
    msgs = editor.messages()
    assert msgs[0] == "undecodable"
    assert msgs[1]["id"] == 5 and msgs[1]["error"]["message"] == "remote-lsp: host unreachable"
    assert msgs[2] == {"jsonrpc": "2.0", "method": "note"} and len(msgs) == 3


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.sampled_from([0, 10, COLLECT_FROM - 30, COLLECT_FROM, 3 * COLLECT_FROM]), min_size=1,
                      max_size=5),
       cuts=st.lists(st.integers(1, 2 * COLLECT_FROM), max_size=12))
def test_large_bodies_gathered_read_by_read_are_the_same(sizes, cuts):
    stream = b"".join(encode(answer(i, n)) for i, n in enumerate(sizes))
    parser, bodies, at = FrameParser(), [], 0
    for cut in cuts + [len(stream)]:
        bodies += parser.feed(stream[at:at + cut])
        at += cut
    assert bodies == FrameParser().feed(stream)

"""Fuzzing the two places hostile bytes enter: the framing reader and the
multiplexer. Property: nothing escapes but the documented error, and a
well-behaved client sharing the server never notices.

In process for volume (hundreds of examples a second), then end to end
through the real agent for the claim a user cares about.
"""

import json
import string
from typing import Any, Dict, List

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from remote_lsp.wire import jsonrpc
from remote_lsp.wire.framing import FrameParser, FramingError, encode

from tests.conftest import pid_alive, wait_for
from tests.support.muxharness import FakeClient, Harness

# --- framing ------------------------------------------------------------------------

bodies = st.lists(st.binary(max_size=300), max_size=8)


@given(bodies, st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=20))
def test_frames_survive_any_split(items: List[bytes], cuts: List[int]) -> None:
    stream = b"".join(encode(b) for b in items)
    for strict in (True, False):
        parser, got, pos, i = FrameParser(strict=strict), [], 0, 0
        while pos < len(stream):
            step = cuts[i % len(cuts)]
            got += parser.feed(stream[pos:pos + step])
            pos, i = pos + step, i + 1
        assert got == items


header_ish = st.one_of(
    st.binary(max_size=200),
    st.builds(lambda n, junk: b"Content-Length: %d\r\n%s\r\n\r\n" % (n, junk),
              st.integers(min_value=0, max_value=1 << 40), st.binary(max_size=30)),
    st.sampled_from([b"content-length:5\r\n\r\nhello", b"Content-Length: -1\r\n\r\n",
                     b"Content-Length: 99999999999999999999\r\n\r\n", b"\r\n\r\n\r\n",
                     b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"]),
)


@given(st.lists(header_ish, min_size=1, max_size=6))
def test_garbage_raises_only_framing_errors(chunks: List[bytes]) -> None:
    for strict in (True, False):
        parser = FrameParser(max_frame=1 << 20, strict=strict)
        try:
            for chunk in chunks:
                for body in parser.feed(chunk):
                    assert len(body) <= 1 << 20
        except FramingError:
            pass


@given(st.binary(max_size=200).filter(lambda b: b"ontent-" not in b.lower()), bodies)
def test_server_output_resyncs_after_garbage(garbage: bytes, items: List[bytes]) -> None:
    parser = FrameParser(strict=False)
    assert parser.feed(garbage + b"".join(encode(b) for b in items)) == items


# --- the multiplexer, in process ----------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10)
methods = st.sampled_from([
    "initialize", "initialized", "shutdown", "exit", "$/cancelRequest", "textDocument/didOpen",
    "textDocument/didChange", "textDocument/didClose", "textDocument/didSave", "textDocument/hover",
    "workspace/executeCommand", "$/progress", "client/registerCapability", "window/workDoneProgress/create",
    "workspace/configuration", "textDocument/publishDiagnostics",
]) | st.text(string.printable, max_size=12) | json_values
doc_params = st.fixed_dictionaries({}, optional={
    "textDocument": st.fixed_dictionaries({}, optional={
        "uri": st.sampled_from(["file:///w/a.py", "file:///w/b.py"]) | json_values,
        "version": st.integers() | json_values, "text": st.text(max_size=20) | json_values,
        "languageId": st.just("python") | json_values}),
    "contentChanges": st.lists(st.fixed_dictionaries({"text": st.text(max_size=10) | json_values}, optional={
        "range": json_values}), max_size=2) | json_values,
    "id": json_values, "token": json_values, "value": json_values, "items": json_values,
    "version": json_values, "uri": json_values,
})
messages = st.fixed_dictionaries({}, optional={
    "jsonrpc": st.just("2.0") | json_values, "id": st.integers() | st.text(max_size=4) | json_values,
    "method": methods, "params": doc_params | json_values, "result": json_values, "error": json_values,
})


def _mux_with_bystander():
    h = Harness(init_result={"capabilities": {"textDocumentSync": 2}})
    return h, h.ready_client(), h.ready_client()


def _bystander_still_served(h: Harness, bystander: FakeClient) -> None:
    bystander.request("mine", "textDocument/hover", {"textDocument": {"uri": "file:///w/b.py"},
                                                     "position": {"line": 0, "character": 0}})
    h.answer("textDocument/hover", {"contents": "ok"})
    assert bystander.got[-1] == {"jsonrpc": "2.0", "id": "mine", "result": {"contents": "ok"}}


@settings(max_examples=400, deadline=None)
@given(st.lists(messages, min_size=1, max_size=8))
def test_mux_survives_any_client_message(msgs: List[Dict[str, Any]]) -> None:
    h, bystander, fuzzer = _mux_with_bystander()
    bystander.notify("textDocument/didOpen", {
        "textDocument": {"uri": "file:///w/b.py", "languageId": "python", "version": 1, "text": "x\n"}})
    for msg in msgs:
        if jsonrpc.shape_problem(msg) is None:  # the session refuses the rest first
            h.mux.from_client(fuzzer.id, msg)
    fuzzer.close("done")
    _bystander_still_served(h, bystander)
    # The bystander's document is still open at the server, with its text.
    assert h.mux.docs.is_open_by(bystander.id, "file:///w/b.py")
    closed = [m["params"]["textDocument"]["uri"] for m in h.server_got("textDocument/didClose")
              if "id" not in m]
    assert "file:///w/b.py" not in closed


@settings(max_examples=300, deadline=None)
@given(st.lists(messages.map(lambda m: jsonrpc.encode(m)) | st.binary(max_size=60), min_size=1, max_size=8))
def test_mux_survives_any_server_message(bodies_in: List[bytes]) -> None:
    h, bystander, fuzzer = _mux_with_bystander()
    for body in bodies_in:
        h.mux.from_server(body)
    assert bystander.closed is None and fuzzer.closed is None  # no client pays for the server's mistake
    _bystander_still_served(h, bystander)


# --- end to end, through the real agent --------------------------------------------------

frames = st.one_of(
    messages.map(lambda m: encode(json.dumps(m).encode())),  # valid JSON, any shape
    st.binary(max_size=40).map(encode),  # frames of non-JSON
    header_ish,  # broken framing
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(frames, min_size=1, max_size=5))
def test_agent_never_crashes_and_others_never_notice(agent, scripted, project, sent: List[bytes]) -> None:
    argv, env, _ = scripted
    if not agent.clients:
        bystander = agent.client(argv, str(project), name="bystander", env=env)
        bystander.initialize(str(project))
        bystander.open(str(project / "a.py"))
    bystander = agent.clients[0]
    pid = agent.agent_pid()
    fuzzer = agent.client(argv, str(project), name="fuzzer", env=env)
    fuzzer.initialize(str(project))
    try:
        for data in sent:
            fuzzer.send_raw(data)
        fuzzer.proc.stdin.close()  # the agent reads all of it, then ends the session
    except BrokenPipeError:
        pass  # dropped for garbage before it finished
    fuzzer.proc.wait(15)
    agent.clients.remove(fuzzer)
    assert pid_alive(pid) and agent.agent_pid() == pid
    assert bystander.request("test/echo", {"n": len(sent)}, timeout=10) == {"n": len(sent)}
    # Whatever the fuzzer opened is closed at the server; the bystander's is not.
    wait_for(lambda: list(bystander.server_state()["docs"]) == [(project / "a.py").as_uri()],
             10, "the fuzzer's documents to be closed")

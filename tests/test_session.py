"""A client's session inside the agent, in process: a linked session that
loses its connection keeps what the client missed, within a bound."""

import asyncio
import json
import os
import socket

from remote_lsp.host import session as session_module
from remote_lsp.host.agent import _FirstFrames
from remote_lsp.host.session import OUTBOX_LIMIT, Early, Session
from remote_lsp.wire import framing, jsonrpc
from remote_lsp.wire.framing import FrameParser


def answer(rid: int, size: int) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": rid, "result": "x" * size}).encode()


def linked_session() -> Session:
    """A linked session whose client's end of the connection is already gone."""
    session = Session(1, lambda s, m: None, lambda s, r: None)
    session.linked(15.0, 600.0, "token")
    ours, theirs = socket.socketpair()
    session.open(os.dup(ours.fileno()), os.dup(ours.fileno()))
    ours.close()
    theirs.close()
    return session


def test_a_connection_that_breaks_on_a_large_answer_suspends_its_session_and_sends_it_again():
    async def run() -> list:
        session = linked_session()
        session.send_body(answer(1, 100000))  # header and body go in two writes: the first breaks
        assert session.suspended_since is not None
        ours, theirs = socket.socketpair()  # the client's new connection, which has seen nothing
        theirs.setblocking(False)
        session.resume(os.dup(ours.fileno()), os.dup(ours.fileno()), 0, Early(FrameParser(strict=True), []))
        ours.close()
        parser, bodies = FrameParser(), []
        loop = asyncio.get_running_loop()
        while len(bodies) < 2:
            data = await asyncio.wait_for(loop.sock_recv(theirs, 1 << 16), 10)
            assert data, "the session closed the connection"
            bodies += parser.feed(data)
        theirs.close()
        session.close("done")
        return [json.loads(b) for b in bodies]

    welcome, again = asyncio.run(run())[:2]  # (then the heartbeat's ack)
    assert welcome["$link"] == "welcome" and welcome["resumed"] is True
    assert again["id"] == 1 and len(again["result"]) == 100000


def test_a_suspended_session_that_would_keep_more_than_its_bound_is_ended():
    async def run() -> Session:
        session = linked_session()
        session.suspend("the link is down")
        body = answer(1, 1 << 20)
        for _ in range(OUTBOX_LIMIT // len(body) + 2):
            session.send_body(body)
        return session

    session = asyncio.run(run())
    assert session.closed and "more than 64 MB waited for it" in session.close_reason


def test_a_suspended_session_keeps_the_latest_diagnostics_without_decoding_them_again(monkeypatch):
    class NoDecoding:
        @staticmethod
        def loads(body):
            raise AssertionError("decoded again: %r" % body)

    async def run() -> Session:
        session = linked_session()
        session.suspend("the link is down")
        monkeypatch.setattr(session_module, "json", NoDecoding)  # the mux hands the message over
        for n in (1, 2):
            params = {"uri": "file:///a.py", "diagnostics": [n]}
            msg = jsonrpc.notification("textDocument/publishDiagnostics", params)
            session.send_body(jsonrpc.encode(msg), msg)
        return session

    session = asyncio.run(run())
    assert session.describe()["waiting"] == 1  # the newer diagnostics replaced the older
    session.close("done")


def test_an_initialize_the_agent_read_first_is_decoded_once(monkeypatch):
    decoded = []
    decode = jsonrpc.decode
    monkeypatch.setattr(jsonrpc, "decode", lambda body: decoded.append(body) or decode(body))
    init = jsonrpc.encode(jsonrpc.request(1, "initialize", {"rootUri": None, "capabilities": {}}))

    async def run() -> list:
        ours, theirs = socket.socketpair()
        theirs.sendall(framing.header(len(init)) + init)
        reader = _FirstFrames(os.dup(ours.fileno()))
        params = await reader.initialize_params()  # the agent finds the workspace in it
        assert params["capabilities"] == {}
        got = []
        session = Session(1, lambda s, m: got.append(m), lambda s, r: None)
        session.open(reader.fd, reader.fd, reader.early())
        session.close("done")
        ours.close()
        theirs.close()
        return got

    got = asyncio.run(run())
    assert [m["method"] for m in got] == ["initialize"]  # the session took it
    assert decoded == [init]  # once, not once by the agent and again by the session

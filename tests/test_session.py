"""A client's session inside the agent, in process: a linked session that
loses its connection keeps what the client missed, within a bound."""

import asyncio
import json
import os
import socket

from remote_lsp.host.session import OUTBOX_LIMIT, Session
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
        session.resume(os.dup(ours.fileno()), os.dup(ours.fileno()), 0, FrameParser(strict=True), [])
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

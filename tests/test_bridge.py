"""The bridge's parts in process, each through what it offers: the endpoint
(hello, welcome, acknowledgements, a dead connection), the editor's side (the
outbox, cancels, the request bound) and recovery (resume, a new session, with
or without an initialize). The editor is real pipes; the host side is played
by the test (tests/support/bridgerig.py). The whole bridge over real ssh:
test_network.py, test_ssh.py, test_direct.py."""

import asyncio

from remote_lsp.editor import linkstate
from remote_lsp.wire import link

from tests.support.bridgerig import Rig, frame, until, welcome


def request(rid, method="textDocument/hover"):
    return {"jsonrpc": "2.0", "id": rid, "method": method, "params": {}}


def note(method, **params):
    return {"jsonrpc": "2.0", "method": method, "params": params}


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_the_hello_goes_first_and_what_the_editor_sent_goes_with_it():
    async def go():
        rig = Rig()
        rig.send(request(1, "initialize"))
        await until(lambda: rig.editor.tracking.pending, "the editor's request to be read")
        got = await rig.connect(welcome())
        rig.up(got)
        bodies = rig.host.bodies()
        rig.close()
        return got, bodies

    got, bodies = run(go())
    assert got["token"] == "T" and not got["resumed"]
    assert bodies[0]["$link"] == "hello" and bodies[0]["token"] is None
    assert bodies[1]["method"] == "initialize"  # before the welcome came back


def test_answers_go_to_the_editor_and_an_ack_goes_back_every_64_frames():
    async def go():
        rig = Rig()
        rig.up(await rig.connect(welcome()))
        for i in range(link.ACK_EVERY):
            rig.send(request(i))
        await until(lambda: len(rig.host.session_bodies()) == link.ACK_EVERY, "the requests to go out")
        rig.host.say(b"".join(frame({"jsonrpc": "2.0", "id": i, "result": i}) for i in range(link.ACK_EVERY)))
        await until(lambda: len(rig.messages()) == link.ACK_EVERY, "the answers to reach the editor")
        acks = [b for b in rig.host.bodies() if b.get("$link") == "ack"]
        rig.close()
        return rig.received, acks

    answers, acks = run(go())
    assert [a["result"] for a in answers] == list(range(link.ACK_EVERY))
    assert acks[-1]["received"] == link.ACK_EVERY


def test_while_the_link_is_down_the_editor_queues_and_past_the_bound_gets_errors():
    async def go():
        rig = Rig(request_timeout=0.2)
        rig.up(await rig.connect(welcome()))
        rig.host.close()  # the connection drops
        rig.send(request(1))
        rig.send(note("textDocument/didSave", textDocument={"uri": "scp://h//p/a.py"}))
        rig.send(request(2))
        rig.send(note("$/cancelRequest", id=2))  # a queued request cancelled: answered here
        await until(lambda: any(m.get("id") == 1 for m in rig.messages()), "the request bound to pass")
        rig.send(request(3))  # past the bound: answered at once
        await until(lambda: any(m.get("id") == 3 for m in rig.messages()), "the third request's answer")
        queued = [m for m in rig.editor.pipeline()]  # what would go out once the link is back
        rig.close()
        return rig.lost, rig.received, queued

    lost, received, queued = run(go())
    assert lost == ["the connection closed"]
    by_id = {m.get("id"): m for m in received if "id" in m}
    assert by_id[2]["error"]["message"] == "cancelled before it was sent"
    assert "unreachable" in by_id[1]["error"]["message"] and "unreachable" in by_id[3]["error"]["message"]
    assert [m["params"]["state"] for m in received if m.get("method") == "$/remote-lsp/link"] == ["down"]
    assert [q[1] for q in queued] == [None]  # only the notification is left to send


def test_a_resumed_link_sends_again_what_the_host_missed():
    async def go():
        rig = Rig()
        rig.up(await rig.connect(welcome()))
        rig.send(request(1))
        await until(lambda: rig.host.session_bodies(), "the request to go out")
        rig.host.close()
        task = asyncio.ensure_future(rig.recovery.reconnect(asyncio.get_running_loop().create_future()))
        await until(lambda: len(rig.transport.procs) == 2, "a new connection")
        rig.host.say(welcome(resumed=True, received=0))  # the host had not read it
        assert await task is None
        again = rig.host.session_bodies()
        hello = rig.host.bodies()[0]
        rig.close()
        return hello, again, rig.messages()

    hello, again, messages = run(go())
    assert hello["token"] == "T" and again == [request(1)]
    assert [m["params"]["state"] for m in messages if m.get("method") == "$/remote-lsp/link"] == [
        "down", "up"]


def test_a_new_session_initializes_again_and_opens_the_documents():
    async def go():
        rig = Rig()
        rig.send(request(1, "initialize"))
        rig.up(await rig.connect(welcome()))
        rig.host.say(frame({"jsonrpc": "2.0", "id": 1, "result": {"capabilities": {}}}))
        rig.send(note("textDocument/didOpen", textDocument={"uri": "scp://h//p/a.py", "languageId": "python",
                                                             "version": 1, "text": "x = 1\n"}))
        await until(lambda: len(rig.host.session_bodies()) == 2, "the didOpen to go out")
        rig.host.close()
        # Meanwhile an edit (it goes in the document opened again) and a request (it goes after).
        rig.send(note("textDocument/didChange", textDocument={"uri": "scp://h//p/a.py", "version": 2},
                      contentChanges=[{"text": "x = 2\n"}]))
        rig.send(request(9))
        await until(lambda: 9 in rig.editor.tracking.pending, "the request to queue")
        task = asyncio.ensure_future(rig.recovery.reconnect(asyncio.get_running_loop().create_future()))
        await until(lambda: len(rig.transport.procs) == 2, "a new connection")
        rig.host.say(welcome(reason="the agent restarted"))
        await until(lambda: rig.host.session_bodies(), "the bridge's own initialize")
        rid = rig.host.session_bodies()[0]["id"]
        rig.host.say(frame({"jsonrpc": "2.0", "id": rid, "result": {"capabilities": {}}}))
        assert await task is None
        sent = rig.host.session_bodies()
        rig.close()
        return sent, rig.messages()

    sent, messages = run(go())
    assert [m["method"] for m in sent] == ["initialize", "initialized", "textDocument/didOpen",
                                           "textDocument/hover"]
    assert sent[2]["params"]["textDocument"]["text"] == "x = 2\n"
    assert [m["id"] for m in messages if "id" in m] == [1]  # the bridge's own answer is not the editor's
    assert any(m.get("method") == "$/remote-lsp/link" and m["params"]["state"] == "new-session"
               for m in messages)


def test_a_session_without_initialize_begins_anew_too():
    """Not every session is LSP's: one that never sends initialize (a file
    channel) gets a new session with its queued requests, and is told."""

    async def go():
        rig = Rig()
        rig.up(await rig.connect(welcome()))
        rig.host.close()
        rig.send(request(5, "files/read"))
        task = asyncio.ensure_future(rig.recovery.reconnect(asyncio.get_running_loop().create_future()))
        await until(lambda: len(rig.transport.procs) == 2, "a new connection")
        rig.host.say(welcome(reason="gone"))
        assert await task is None
        sent = rig.host.session_bodies()
        rig.close()
        return sent, rig.messages()

    sent, messages = run(go())
    assert sent == [request(5, "files/read")]
    assert [m["params"]["state"] for m in messages if m.get("method") == "$/remote-lsp/link"] == [
        "down", "new-session"]


def test_an_answer_broken_off_that_comes_after_all_is_dropped():
    """The outage outlasted the request bound while a large answer was part-way
    (the editor got an error for it), then the session resumed and the host
    sent the answer again: the editor must not get a second answer."""

    async def go():
        rig = Rig(request_timeout=0.1)
        rig.up(await rig.connect(welcome()))
        rig.send(request(7, "textDocument/references"))
        await until(lambda: rig.host.session_bodies(), "the request to go out")
        answer = frame({"jsonrpc": "2.0", "id": 7, "result": "x" * 200000})
        rig.host.say(answer[:100000])
        rig.host.close()
        await until(lambda: rig.editor.refusing, "the request bound to pass")
        task = asyncio.ensure_future(rig.recovery.reconnect(asyncio.get_running_loop().create_future()))
        await until(lambda: len(rig.transport.procs) == 2, "a new connection")
        rig.host.say(welcome(resumed=True, received=0) + answer)
        assert await task is None
        await until(lambda: len(rig.messages()) >= 3, "the editor to read")
        rig.close()
        return rig.received

    messages = run(go())
    assert messages[0] == "undecodable" and "unreachable" in messages[1]["error"]["message"]
    assert [m for m in messages[2:] if isinstance(m, dict) and m.get("id") == 7] == []


def test_a_frame_over_the_limit_from_the_host_ends_the_session_once_with_the_reason():
    from remote_lsp.wire import framing

    async def go():
        rig = Rig()
        rig.recovery.linked(await rig.connect(welcome()))
        rig.recovery.up()
        rig.send(request(1))
        await until(lambda: rig.host.session_bodies(), "the request to go out")
        over = b"Content-Length: %d\r\n\r\n" % (framing.DEFAULT_MAX_FRAME + 1)
        for _ in range(3):  # more reads of it: nothing more happens
            rig.host.say(over + b"x" * 1000)
        end = rig.endpoint.conn.end
        rig.close()
        return end, rig.lost

    end, lost = run(go())
    assert end["failed"] and "a message from h cannot be taken" in end["reason"]
    assert len(lost) == 1 and "a message from h cannot be taken" in lost[0]  # once: no reconnecting, no storm
def test_a_file_channel_down_answers_at_once_and_a_request_hurries_the_next_attempt(monkeypatch):
    """While the link is known to be down, a file channel's request is
    answered at once with why (an LSP session's waits, as above), and a
    request skips the backoff's wait: the next attempt goes now."""
    monkeypatch.setattr(linkstate, "BACKOFF", (60.0,))

    async def go():
        rig = Rig(answer_when_down=True)
        rig.up(await rig.connect(welcome()))
        rig.host.close()
        task = asyncio.ensure_future(rig.recovery.reconnect(asyncio.get_running_loop().create_future()))
        await until(lambda: rig.life.state == linkstate.DOWN and rig.life._hurry is not None,
                    "the backoff's wait")
        rig.send(request(4, "files/write"))
        await until(lambda: any(m.get("id") == 4 for m in rig.messages()), "the answer", timeout=0.5)
        await until(lambda: len(rig.transport.procs) == 2, "an attempt, at once", timeout=1)
        rig.host.say(welcome(resumed=True, received=0))
        await task
        rig.close()
        return rig.received, rig.life.state

    received, state = run(go())
    (answer,) = [m for m in received if m.get("id") == 4]
    assert answer["error"]["message"] == "remote-lsp: h unreachable (the connection closed), reconnecting"
    assert state == linkstate.UP


def test_a_connection_that_ends_as_it_is_welcomed_is_never_taken_for_up():
    """The welcome, the host's end and the end of the connection in one read
    (a server that cannot start): the session is given up with the host's
    reason; one that merely closed so is a drop, and reconnected."""

    async def go(answer):
        rig = Rig()
        got = await rig.connect(welcome() + answer)
        rig.host.close()  # before the bridge has taken the welcome in
        rig.up(got)
        rig.close()
        return rig.life.state, rig.life.end

    state, end = run(go(link.control("end", reason="remote-lsp: x: command not found", failed=True)))
    assert state == linkstate.GIVEN_UP and end.on_purpose and end.failed
    assert end.reason == "remote-lsp: x: command not found"
    state, end = run(go(b""))
    assert state == linkstate.DOWN and not end.on_purpose

"""Sessions that survive the network, against the real sshd: the link is cut
as a network does it (the session's sshd processes killed, the host then
unreachable while the listening sshd is stopped), and a laptop's sleep is
the bridge stopped. The editor's `connect` never exits, nothing it sent is
lost, nothing is delivered twice.
"""

import json
import os
import random
import select
import signal
import subprocess
import threading
import time

import pytest
from remote_lsp.wire.framing import FrameParser, encode

from tests.conftest import wait_for
from tests.support.lspclient import LspError, hover_text
from tests.support.outage import hold, outage
from tests.support.sessions import link_states, opened, wait_link

TRANSPORTS = ["openssh", "paramiko"]
NEW_FUNCTION = ('\n\ndef added_offline(x: int) -> int:\n    """Typed while the link was down."""\n'
                '    return x\n')


def append(c, uri, text, version, line):
    c.notify("textDocument/didChange", {
        "textDocument": {"uri": uri, "version": version},
        "contentChanges": [{"range": {"start": {"line": line, "character": 0},
                                      "end": {"line": line, "character": 0}}, "text": text}]})


def finish(remote, c):
    """The editor leaves; nothing of the session stays behind on either side."""
    c.proc.stdin.close()
    assert c.proc.wait(20) == 0
    try:
        wait_for(lambda: not remote.leftovers(), 15, "no ssh or connect process to be left")
    except TimeoutError:
        raise AssertionError("left behind: %s" % remote.leftovers()) from None


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_outage_while_typing_is_resumed_and_hover_sees_the_edit(remote, project, transport):
    c = remote.client(["pylsp"], str(project), transport, name="typist")
    c.initialize(str(project))
    path = project / "b.py"
    text = path.read_text()
    uri = c.open_uri(remote.uri(path), text)
    assert "Say hello" in hover_text(c.hover(uri, 2, 1))
    lines = text.count("\n")
    with outage(remote.sshd):
        wait_link(c, "down")
        append(c, uri, NEW_FUNCTION + "\nadded_offline(1)\n", 2, lines)
        hold(8)
        assert c.proc.poll() is None
    call_line = lines + NEW_FUNCTION.count("\n") + 1
    assert "Typed while the link was down" in hover_text(c.hover(uri, call_line, 2))
    assert link_states(c) == ["down", "up"] and c.proc.poll() is None
    finish(remote, c)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_ten_cuts_during_two_thousand_requests_and_edits(remote, project, scripted, transport):
    argv, _, _ = scripted
    c = remote.client(argv, str(project), transport, name="busy")
    c.initialize(str(project))
    path = project / "a.py"
    text = path.read_text()
    uri = c.open_uri(remote.uri(path), text)
    rng = random.Random(11)
    asked, version = [], 1
    cuts = sorted(rng.sample(range(100, 1900), 10))
    cutter = None
    for i in range(2000):
        if cuts and i == cuts[0]:
            cuts.pop(0)
            if cutter is not None:
                cutter.join()
            cutter = threading.Thread(target=_cut_for, args=(remote, rng.uniform(0, 1.5)))
            cutter.start()
        if i % 2:
            asked.append((c.request_async("test/echo", {"n": i}), i))
        else:
            version += 1
            line = "x%d = %d\n" % (i, i)
            append(c, uri, line, version, 0)
            text = line + text
    cutter.join()
    for rid, n in asked:
        answer = c.wait_response(rid, 60)
        if "error" in answer:
            assert "unreachable, reconnecting" in answer["error"]["message"], answer
        else:
            assert answer["result"] == {"n": n}, answer
    assert all(q.empty() for q in c._responses.values())  # none answered twice
    # The last cut may still be reconnecting (backing off): a request now would be
    # answered "unreachable", rightly. Ask once the link is back.
    wait_for(lambda: link_states(c).count("up") == link_states(c).count("down"), 60, "the link to be back")
    state = c.server_state()
    assert state["docs"][remote.uri(path)]["text"] == text  # every edit arrived, once, in order
    assert link_states(c).count("down") >= 1 and c.proc.poll() is None
    finish(remote, c)


def _cut_for(remote, seconds):
    with outage(remote.sshd):
        hold(seconds)


def test_an_outage_longer_than_the_request_bound(remote, project, scripted):
    c, path, text, uri = opened(remote, scripted[0], project, "patient", "--request-timeout", "2")
    slow = c.request_async("test/slow", {"seconds": 30})
    with outage(remote.sshd):
        wait_link(c, "down")
        queued = c.request_async("test/echo", {"n": 1})
        append(c, uri, "# typed offline\n", 2, 0)
        for rid in (slow, queued):
            answer = c.wait_response(rid, 10)  # well before the host is back
            assert answer["error"]["message"] == "remote-lsp: rlsp-test unreachable, reconnecting"
        with pytest.raises(LspError, match="unreachable, reconnecting"):
            c.request("test/echo", {"n": 2}, timeout=5)  # asked past the bound: answered at once
    wait_link(c, "up")
    assert c.request("test/echo", {"n": 3}) == {"n": 3}
    assert c.server_state()["docs"][remote.uri(path)]["text"] == "# typed offline\n" + text
    finish(remote, c)


@pytest.mark.parametrize("what", ["grace expired", "agent restarted"])
def test_a_session_that_cannot_resume_is_started_anew(remote, project, scripted, what):
    c, path, text, uri = opened(remote, scripted[0], project, "phoenix", "--grace", "1")
    before = c.server_state()
    with outage(remote.sshd):
        wait_link(c, "down")
        append(c, uri, "# typed offline\n", 2, 0)
        if what == "agent restarted":
            os.kill(int((remote.sshd.remote_state / "agent.pid").read_text()), signal.SIGKILL)
        hold(3)  # longer than the grace period
    wait_link(c, "new-session")
    state = c.server_state()
    assert state["docs"] == {remote.uri(path): {"text": "# typed offline\n" + text, "version": 2}}
    assert state["pid"] == before["pid"]  # the server ran on (taken over by the next agent)
    shown = [n["params"] for n in c.notifications if n["method"] == "window/showMessage"]
    assert len(shown) == 1 and shown[0]["type"] == 3 and "a new session" in shown[0]["message"]
    assert "1 document(s) opened again" in shown[0]["message"]
    assert c.request("test/echo", {"after": 1}) == {"after": 1}
    finish(remote, c)


def test_a_laptop_asleep_for_a_minute_wakes_to_its_session(remote, project, scripted):
    argv, _, _ = scripted
    c = remote.client(argv, str(project), name="sleeper")
    c.initialize(str(project))
    uri = c.open_uri(remote.uri(project / "a.py"), (project / "a.py").read_text())
    server = c.server_state()["pid"]
    os.kill(c.proc.pid, signal.SIGSTOP)
    try:
        hold(60)
    finally:
        os.kill(c.proc.pid, signal.SIGCONT)
    append(c, uri, "# after the sleep\n", 2, 0)
    state = c.request("test/state", timeout=60)
    assert state["pid"] == server and state["docs"][remote.uri(project / "a.py")]["text"].startswith(
        "# after the sleep\n")
    assert link_states(c) == ["down", "up"]  # noticed on waking, resumed
    finish(remote, c)


def test_a_large_answer_cut_part_way_reaches_the_editor_whole_and_once(remote, project, scripted):
    """A large answer goes on to the editor as it arrives. The link is cut once
    the editor has its first bytes; after the resume the host sends it again,
    the bridge skips what the editor has, and the editor reads it whole, once,
    with nothing inside it, the link's news after it."""
    size = 48 * 1024 * 1024
    proc = subprocess.Popen(remote.connect_argv(scripted[0], str(project)), env=remote.env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = bytearray()

    def read_until(done, timeout=60):
        fd = proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, "waited in vain; the editor has %d bytes" % len(out)
            if select.select([fd], [], [], 1)[0]:
                data = os.read(fd, 1 << 20)
                assert data, "the bridge closed its stdout"
                out.extend(data)

    def send(msg):
        proc.stdin.write(encode(json.dumps(msg).encode()))
        proc.stdin.flush()

    try:
        send({"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"processId": None, "rootUri": remote.uri(project), "capabilities": {}}})
        read_until(lambda: b'"id":1' in out)
        send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        out.clear()
        send({"jsonrpc": "2.0", "id": 2, "method": "test/big", "params": {"bytes": size}})
        read_until(lambda: len(out) > 64 * 1024)  # the answer is under way
        os.kill(proc.pid, signal.SIGSTOP)  # the bridge has taken a few MB of it at most
        with outage(remote.sshd):
            os.kill(proc.pid, signal.SIGCONT)
            hold(1)
        read_until(lambda: b'"state":"up"' in out)
        messages = [json.loads(body) for body in FrameParser(max_frame=2 * size).feed(bytes(out))]
        answers = [m for m in messages if m.get("id") == 2]
        assert len(answers) == 1 and answers[0]["result"] == "x" * (size - 2)
        assert messages[0] is answers[0]
        news = [m["params"]["state"] for m in messages if m.get("method") == "$/remote-lsp/link"]
        assert news == ["down", "up"]
    finally:
        proc.stdin.close()
        proc.wait(30)


@pytest.mark.parametrize("how", ["RemoteLspDetach", "bwipe!"])
def test_detaching_or_wiping_while_the_link_is_down_stops_reconnecting(editor, remote, project, how):
    """Nothing keeps retrying for a client the user let go of: `:RemoteLspDetach`
    says the link is down (not that the server keeps running), and wiping the
    one buffer a reconnecting client serves stops it."""
    from remote_lsp.host import procs

    from tests.conftest import pids_with
    from tests.test_neovim import open_remote, wait_message

    def bridges():
        found = [procs.read_proc(pid) for pid in pids_with(str(project))]
        return [p.pid for p in found if p is not None and "--host" in p.argv]

    n = editor()
    open_remote(n, remote, project / "a.py")
    assert len(bridges()) == 1
    with outage(remote.sshd):
        n.wait("return require('remote-lsp.link').is_down(vim.lsp.get_clients({ bufnr = 0 })[1].id)",
               "the link to be down")
        n.nvim.command(how)
        wait_for(lambda: not bridges(), 5, "the bridge to stop")
    if how == "RemoteLspDetach":
        said = wait_message(n, "detached from", "the detach's word")
        assert "link is down" in said and "keeps running" not in said, said

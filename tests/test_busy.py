"""A busy server, a stuck agent, a frame too large: nothing wedges.

A server that stops reading while clients send more than the pipe holds
costs the agent nothing (bench/stall.py measures its CPU and answer times);
an agent that does not answer is named as such by the CLI, and `stop --agent`
ends it; a frame over the limit from a server is read past, its request
answered with an error that says why, and the server lives.
"""

import json
import os
import re
import signal
import threading

from remote_lsp.wire import framing

from tests.conftest import pid_alive, wait_for

STALL = 3.0
DOCS, SIZE = 8, 1024 * 1024


def test_a_server_that_stops_reading_wedges_nothing(agent, scripted, project):
    argv, env, state_file = scripted
    c = agent.client(argv, str(project), env=env)
    c.initialize(str(project))
    pid = agent.agent_pid()
    c.notify("test/stall", {"seconds": STALL})
    texts = {(project / ("big%d.py" % i)).as_uri(): "# %d\n" % i + "x" * SIZE for i in range(DOCS)}
    opening = threading.Thread(target=lambda: [c.open_uri(u, t) for u, t in texts.items()], daemon=True)
    opening.start()
    # While the server reads nothing, frames wait in the agent, and the agent answers.
    wait_for(lambda: agent.status()["instances"][0]["backlog"] > 0, what="frames to wait for the server")
    state = c.request("test/state", timeout=30)  # it reads again: every frame reaches it whole, in order
    assert {u: d["text"] for u, d in state["docs"].items()} == texts
    assert agent.status()["instances"][0]["backlog"] == 0
    os.kill(pid, signal.SIGTERM)  # ends the agent gracefully: the server is shut down, not killed
    wait_for(lambda: not pid_alive(pid), 30, "the agent to exit on SIGTERM")
    wait_for(state_file.exists, 10, "the server to exit")
    assert '"exit_code": 0' in state_file.read_text()


def test_an_answer_over_the_frame_limit_is_skipped_and_the_server_lives(agent, scripted, project):
    argv, env, _ = scripted
    c = agent.client(argv, str(project), env=env)
    c.initialize(str(project))
    pid = c.request("test/state")["pid"]
    size = framing.DEFAULT_MAX_FRAME + 1000
    answer = c.wait_response(c.request_async("test/big", {"bytes": size}), 60)
    message = answer["error"]["message"]
    assert "over the limit of %d bytes for one message" % framing.DEFAULT_MAX_FRAME in message, answer
    said = re.search(r"answered with a message of (\d+) bytes", message)
    assert said and size < int(said.group(1)) < size + 100  # the answer's own size (its other members too)
    assert c.request("test/echo", {"after": 1}) == {"after": 1}  # the next answer arrives
    assert c.request("test/state")["pid"] == pid  # from the same server
    assert c.proc.poll() is None


def test_an_agent_that_does_not_answer_is_named_and_stop_agent_ends_it(agent, scripted, project):
    argv, env, state_file = scripted
    c = agent.client(argv, str(project), env=env)
    c.initialize(str(project))
    server = c.request("test/state")["pid"]
    pid = agent.agent_pid()
    os.kill(pid, signal.SIGSTOP)  # its socket is there, and it says nothing
    try:
        status = agent.cli("status", check=False, timeout=30)
        assert status.returncode == 1, status
        said = status.stderr.strip()
        assert said.startswith("remote-lsp: the agent on this host (pid %d) does not answer" % pid), said
        assert "`remote-lsp stop --agent` ends it" in said
        doctor = json.loads(agent.cli("doctor", "--json", timeout=30).stdout)
        assert doctor["agent"] is None and "(pid %d) does not answer" % pid in doctor["agent_problem"]
        stop = agent.cli("stop", "--agent", timeout=60)
    finally:
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    # Ended as after a crash: the server ran on, and the next agent took it over and stopped it gracefully.
    assert stop.stdout.splitlines() == ["the agent (pid %d) did not answer: ended by SIGKILL" % pid,
                                        "stopped %d" % server], stop
    assert not pid_alive(pid)
    wait_for(state_file.exists, 10, "the server to exit")
    assert json.loads(state_file.read_text())["exit_code"] == 0  # shutdown, then exit: not killed
    assert c.proc.wait(15) == 7  # the client was told its agent went away


def test_a_remote_agent_that_does_not_answer_is_named_not_the_network(remote, sshd, scripted, project):
    remote.cli("run", "--root", str(project), "--", *scripted[0])  # an agent runs there
    pid = int((sshd.remote_state / "agent.pid").read_text())
    os.kill(pid, signal.SIGSTOP)
    try:
        status = remote.cli("status", check=False, timeout=60)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert status.returncode == 1, status  # not 6: the host was reached
    said = status.stderr.strip()
    assert said.startswith("remote-lsp: the agent on %s (pid %d) does not answer" % (remote.alias, pid)), said
    assert "`remote-lsp --host %s stop --agent` ends it" % remote.alias in said


def test_a_client_that_stops_reading_slows_nobody(agent, scripted, project):
    argv, env, _ = scripted
    slow, other = (agent.client(argv, str(project), name=n, env=env) for n in ("slow", "other"))
    for c in (slow, other):
        c.initialize(str(project))
    slow.reading.clear()  # an editor that stops reading its server's stdout
    rid = slow.request_async("test/flood", {"count": 4000, "bytes": 2048})  # 8 MB, to every client
    wait_for(lambda: any(c["backlog"] > 0 for c in agent.status()["instances"][0]["clients"]),
             what="the agent to hold a backlog for the slow client")
    assert other.request("test/echo", {"n": 1}) == {"n": 1}  # the others are served meanwhile
    slow.reading.set()
    assert slow.wait_response(rid, 60)["result"] == 4000
    flooded = [n["params"]["n"] for n in slow.notifications if n["method"] == "test/flooded"]
    assert flooded == list(range(4000))  # every one, whole and in order

"""Sessions that reach the agent's socket itself. A session's welcome names
the agent's socket; from then on a bridge over openssh connects through a
socket its shared ssh connection forwards there, starting nothing on the
host (no ssh session, no shell, no Python). The agent takes a session so only
to join a server already running or to resume; anything else is refused, and
the bridge goes the long way, through `connect` on the host.
"""

import json
import socket
import stat

from remote_lsp.wire import control, framing, jsonrpc, link

from tests.conftest import wait_for
from tests.support.lspclient import hover_text
from tests.support.outage import hold, outage
from tests.support.sessions import hover_in_new_project, opened, pylsp_session, wait_link


class Direct:
    """A connection to the agent's socket, as ssh forwards one: a direct
    connect request, the link's hello, then the session's frames."""

    def __init__(self, sock_path, request: control.ConnectRequest, frames: bytes = b"") -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(str(sock_path))
        self.sock.sendall(control.encode(request) + link.control("hello", token=None, received=0,
                                                                 heartbeat=15.0) + frames)
        self.parser = framing.FrameParser()
        self.bodies = []
        buf = b""
        while b"\n" not in buf:
            data = self.sock.recv(65536)
            if not data:
                break
            buf += data
        line, _, rest = buf.partition(b"\n")
        self.reply = json.loads(line) if line else None
        self.bodies += self.parser.feed(rest)

    def answer(self, rid):
        """The answer to request `rid` (the link's acks and the server's notes skipped)."""
        while True:
            msg = self.next()
            if msg.get("id") == rid and "method" not in msg:
                return msg

    def next(self):
        while not self.bodies:
            data = self.sock.recv(65536)
            assert data, "the agent closed the session"
            self.bodies += self.parser.feed(data)
        return json.loads(self.bodies.pop(0))

    def closed(self) -> bool:
        return self.sock.recv(1) == b""


def _request(argv, root, **kw):
    return control.ConnectRequest(argv=argv, root=root, link=True, direct=True, **kw)


def test_the_agent_joins_a_running_server_directly_and_refuses_anything_else(agent, scripted, project):
    argv, env, _ = scripted
    sock = agent.home / "agent.sock"
    first = agent.client(argv, str(project), env=env)
    first.initialize(str(project))
    (inst,) = agent.status()["instances"]

    # Nothing to join: refused, and nothing is started for it.
    other = project / "sub"
    other.mkdir()
    for request, words in ((_request(argv, str(other)), "no server"),
                           (_request(argv, None), "for a root or pid it names"),
                           (_request(argv, str(project), isolated=True), "for a root or pid it names")):
        refused = Direct(sock, request)
        assert refused.reply["reply"] == "error" and words in refused.reply["message"], refused.reply
        assert refused.closed()
    assert [i["pid"] for i in agent.status()["instances"]] == [inst["pid"]]

    # A server running: the session runs on the connection, welcomed with the socket's path.
    init = jsonrpc.request(1, "initialize", {"processId": None, "rootUri": project.as_uri(),
                                             "capabilities": {}})
    joined = Direct(sock, _request(argv, str(project)), framing.encode(jsonrpc.encode(init)))
    assert joined.reply["reply"] == "connected" and joined.reply["pid"] == inst["pid"]
    welcome = joined.next()
    assert welcome["$link"] == "welcome" and welcome["agent"] == str(sock) and not welcome["resumed"]
    assert "capabilities" in joined.answer(1)["result"]  # the shared server's initialize answer
    (inst,) = agent.status()["instances"]
    assert len(inst["clients"]) == 2
    first.close()


def test_a_second_session_over_ssh_starts_nothing_on_the_host(remote, project):
    _a, uri = pylsp_session(remote, project, "openssh", "a")
    one_session = sorted(remote.leftovers())  # a's ssh session and its waiting `connect`
    assert one_session
    b, _ = pylsp_session(remote, project, "openssh", "b")
    assert "Say hello to NAME" in hover_text(b.hover(uri, 2, 1))
    assert sorted(remote.leftovers()) == one_session  # b: a socket through the shared connection
    (inst,) = json.loads(remote.cli("status", "--json").stdout)["instances"]
    assert len(inst["clients"]) == 2

    # A root with no server yet: the long way, which starts it.
    assert "Another project." in hover_in_new_project(remote, project.parent / "other", "Another project.")
    assert len(remote.leftovers()) > len(one_session)
    assert len(json.loads(remote.cli("status", "--json").stdout)["instances"]) == 2


def test_a_resumed_session_comes_back_directly(remote, project, scripted):
    c, _path, text, uri = opened(remote, scripted[0], project, "returning")
    with outage(remote.sshd):
        wait_link(c, "down")
        c.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                            "contentChanges": [{"text": "# typed offline\n" + text}]})
        hold(1)
    wait_link(c, "up")
    assert c.server_state()["docs"][uri]["text"] == "# typed offline\n" + text
    # No ssh session and no `connect` waiting on the host: the old ones end, no new ones start.
    wait_for(lambda: not remote.leftovers(), 15, "no ssh session or connect for the resumed session")


def test_a_stale_note_of_the_agent_socket_costs_nothing(remote, project, monkeypatch):
    """The socket a welcome named is gone (the host's state moved, or the host
    forbids forwarding: either way the forwarded connection closes at once):
    the session goes the long way, and the note is put right."""
    from remote_lsp.editor.hosts import parse_host
    from remote_lsp.editor.transport.openssh import OpenSSH

    monkeypatch.setenv("HOME", remote.env["HOME"])  # the editor side's ssh config
    ssh = OpenSSH(parse_host(remote.alias), remote.local_state)
    agent_sock = str(remote.sshd.remote_state / "agent.sock")
    pylsp_session(remote, project, "openssh", "first")
    assert ssh.known_agent() == agent_sock
    ssh.remember_agent("/nonexistent/agent.sock")
    before = len(remote.leftovers())
    b, uri = pylsp_session(remote, project, "openssh", "second")
    assert "Say hello to NAME" in hover_text(b.hover(uri, 2, 1))
    assert not [n for n in b.notifications if n["method"] == "window/showMessage"]  # nothing to tell
    assert len(remote.leftovers()) > before  # the long way: a `connect` on the host
    assert ssh.known_agent() == agent_sock
    # The forwarded sockets are private, as the master's own.
    forwards = list(ssh.dir.glob("*.fwd"))
    assert forwards and stat.S_IMODE(ssh.dir.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in forwards)


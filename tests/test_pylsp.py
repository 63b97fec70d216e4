"""Real pylsp shared by several clients through the agent."""

import signal

from tests.conftest import wait_for
from tests.support.lspclient import hover_text

PYLSP = ["pylsp"]


def diagnostics_of(client, uri):
    return client.wait_notification("textDocument/publishDiagnostics",
                                    lambda p: p["uri"] == uri and p["diagnostics"], timeout=60)


def test_three_clients_share_one_pylsp_and_survive_a_sigkill(agent, project):
    clients = [agent.client(PYLSP, str(project), name="editor-%d" % i) for i in range(3)]
    for c in clients:
        c.initialize(str(project))
    a_uri = (project / "a.py").as_uri()
    for c in clients:
        c.open(str(project / "a.py"))
    for c in clients:
        assert "Say hello to NAME" in hover_text(c.hover(a_uri, 8, 7))
        messages = [d["message"] for d in diagnostics_of(c, a_uri)["diagnostics"]]
        assert "undefined name 'undefined_name'" in messages
    (inst,) = agent.status()["instances"]
    assert inst["name"] == "pylsp" and len(inst["clients"]) == 3

    # The third client alone has b.py open; then it dies without a word.
    victim = clients[2]
    victim.open(str(project / "b.py"))
    wait_for(lambda: len(agent.status()["instances"][0]["documents"]) == 2, what="b.py to open")
    victim.proc.send_signal(signal.SIGKILL)
    wait_for(lambda: len(agent.status()["instances"][0]["clients"]) == 2, what="the victim to go")
    (inst,) = agent.status()["instances"]
    assert [d["uri"] for d in inst["documents"]] == [a_uri]  # b.py closed at the server
    assert inst["pid"] == agent.status()["instances"][0]["pid"]
    for c in clients[:2]:
        assert "Say hello to NAME" in hover_text(c.hover(a_uri, 8, 7))

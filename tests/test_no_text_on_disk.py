"""Document text is never on disk: the agent keeps the documents open at a
server in its registry (URIs and versions, for a successor), never their
text, and writes no text to its logs."""

import os

from tests.conftest import wait_for


def _files(root):
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            if os.path.isfile(path):  # not the socket, not the FIFOs
                yield path


def test_document_text_is_never_on_disk(agent, scripted, project):
    argv, env, _ = scripted
    opened, typed = "opened-%s" % os.urandom(8).hex(), "typed-%s" % os.urandom(8).hex()
    c = agent.client(argv, str(project), name="editor", env=env)
    c.initialize(str(project))
    uri = c.open(str(project / "a.py"), "# %s\n" % opened)
    c.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                        "contentChanges": [{"text": "# %s\n" % typed}]})
    assert c.server_state()["docs"][uri]["text"] == "# %s\n" % typed  # the server has it

    registry = agent.home / "instances"

    def recorded():
        return any(uri in open(p, encoding="utf-8", errors="replace").read() for p in _files(registry))

    wait_for(recorded, 15, "the registry to record the open document")  # looking where a successor looks
    found = [p for p in _files(agent.home)
             for word in (opened, typed) if word.encode() in open(p, "rb").read()]
    assert not found, found

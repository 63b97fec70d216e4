"""What several system tests do with a client of the agent: open a session over
SSH, wait for its link's state, attach a server by PID."""

import json

from tests.support.lspclient import hover_text
from tests.support.waiting import wait_for


def link_states(c):
    return [n["params"]["state"] for n in c.notifications if n["method"] == "$/remote-lsp/link"]


def wait_link(c, state, count=1, timeout=60):
    wait_for(lambda: link_states(c).count(state) >= count, timeout, "the link to be %s" % state)


def opened(remote, argv, project, name, *opts):
    """A client through `connect` over SSH, initialized, with a.py open: (client, path, text, uri)."""
    c = remote.client(argv, str(project), name=name, opts=opts)
    c.initialize(str(project))
    path = project / "a.py"
    text = path.read_text()
    return c, path, text, c.open_uri(remote.uri(path), text)


def pylsp_session(remote, project, transport, name="editor"):
    c = remote.client(["pylsp"], str(project), transport, name=name)
    c.initialize(str(project))
    uri = c.open_uri(remote.uri(project / "b.py"), (project / "b.py").read_text())
    return c, uri


def hover_in_new_project(remote, root, doc):
    """A new project of one file, its function documented `doc`, opened by a
    new client over openssh: the hover on the function's call."""
    root.mkdir()
    (root / "m.py").write_text('def here():\n    """%s"""\n\n\nhere()\n' % doc)
    c = remote.client(["pylsp"], str(root), name="new-project")
    c.initialize(str(root))
    uri = c.open_uri(remote.uri(root / "m.py"), (root / "m.py").read_text())
    return hover_text(c.hover(uri, 4, 1))


def attach(agent, pid, *opts, check=True):
    proc = agent.cli("attach", str(pid), "--json", *opts, check=False)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return json.loads(proc.stdout)
    return proc

"""Each client answered on its own text and in its own form, with real pyright
and `ruff server` shared through `remote-lsp connect` (sharing contract 13-17).

The pull client is our own LSP client declaring pull diagnostics the way
OpenCode does (`textDocument.diagnostic` with dynamic registration: pyright then
serves diagnostics by pull only); the push client is Emacs eglot itself, and our
client declaring nothing of pull where eglot's part is not the point.
"""

import os
import sys
from pathlib import Path

import pytest

from tests.support.lspclient import EDITOR_CAPABILITIES, hover_text

REPO = Path(__file__).resolve().parent.parent
PYRIGHT = [str(REPO / ".venv" / "npm" / "node_modules" / ".bin" / "pyright-langserver"), "--stdio"]
RUFF = [os.path.join(os.path.dirname(sys.executable), "ruff"), "server"]
needs_pyright = pytest.mark.skipif(not Path(PYRIGHT[0]).exists(),
                                   reason="pyright is installed by `make install`")

PUSH_CAPS = EDITOR_CAPABILITIES
PULL = {"dynamicRegistration": True, "relatedDocumentSupport": False}
PULL_CAPS = dict(EDITOR_CAPABILITIES, textDocument=dict(EDITOR_CAPABILITIES["textDocument"], diagnostic=PULL))
# A's unsaved edit: a line on top naming something undefined (every later line moves down one).
A_EDIT = "other_undefined\n"
TOP = {"line": 0, "character": 0}


def join(agent, server, project, name, caps=PUSH_CAPS):
    c = agent.client(server, str(project), name=name)
    c.initialize(str(project), capabilities=caps)
    return c


def messages(params):
    return [d["message"] for d in params["diagnostics"]]


def pushed(client, uri, pred=lambda msgs: True, timeout=60.0):
    """The first diagnostics pushed for `uri` whose messages satisfy `pred`."""
    return messages(client.wait_notification("textDocument/publishDiagnostics",
                                             lambda p: p["uri"] == uri and pred(messages(p)), timeout))


def all_pushed(client, uri):
    return [messages(m["params"]) for m in list(client.notifications)
            if m["method"] == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri]


def pulled(client, uri):
    report = client.request("textDocument/diagnostic", {"textDocument": {"uri": uri}}, timeout=60)
    return [d["message"] for d in report["items"]]


def edit_on_top(client, uri, version, text):
    client.notify("textDocument/didChange", {
        "textDocument": {"uri": uri, "version": version},
        "contentChanges": [{"range": {"start": TOP, "end": TOP}, "text": text}]})


def mentions(name):
    return lambda msgs: any(name in m for m in msgs)


@needs_pyright
def test_a_late_opener_gets_diagnostics_within_a_second(agent, project):
    a = join(agent, PYRIGHT, project, "a")
    uri = a.open(str(project / "a.py"))
    pushed(a, uri, mentions("undefined_name"))
    b = join(agent, PYRIGHT, project, "b")
    b.open(str(project / "a.py"))
    assert any("undefined_name" in m for m in pushed(b, uri, timeout=1.0))  # within 1 s of its didOpen


@needs_pyright
def test_each_client_is_answered_on_its_own_text(agent, project):
    a = join(agent, PYRIGHT, project, "a")
    b = join(agent, PYRIGHT, project, "b")
    uri = a.open(str(project / "a.py"))
    b.open(str(project / "a.py"))
    for c in (a, b):
        pushed(c, uri, mentions("undefined_name"))
    edit_on_top(a, uri, 2, A_EDIT)  # unsaved
    pushed(a, uri, mentions("other_undefined"))
    # b's hover on its own line 8 (print(greet(...))): on a's text that line is empty.
    assert "greet" in hover_text(b.hover(uri, 8, 7))
    assert "greet" in hover_text(a.hover(uri, 9, 7))  # a's answers on a's text again
    a.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})  # a round trip after it all
    b.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})
    assert not any("other_undefined" in m for msgs in all_pushed(b, uri) for m in msgs)
    assert mentions("other_undefined")(all_pushed(a, uri)[-1])


@needs_pyright
def test_an_opener_with_the_disk_text_does_not_change_what_the_editor_is_shown(agent, project):
    a = join(agent, PYRIGHT, project, "editor")
    uri = a.open(str(project / "a.py"))
    pushed(a, uri, mentions("undefined_name"))
    edit_on_top(a, uri, 2, A_EDIT)
    pushed(a, uri, mentions("other_undefined"))
    tool = join(agent, PYRIGHT, project, "tool")
    tool.open(str(project / "a.py"))  # the file as on disk
    got = pushed(tool, uri)
    assert mentions("undefined_name")(got) and not mentions("other_undefined")(got)
    assert "greet" in hover_text(tool.hover(uri, 8, 7))
    tool.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    assert "greet" in hover_text(a.hover(uri, 9, 7))
    assert all(mentions("other_undefined")(msgs) for msgs in all_pushed(a, uri)[1:])
    (inst,) = agent.status()["instances"]
    assert [d["clients"] for d in inst["documents"]] == [1]


@pytest.mark.parametrize("server", ["pyright", "ruff"])
@pytest.mark.parametrize("first", ["push", "pull"])
def test_push_and_pull_clients_in_either_order_get_diagnostics(agent, project, server, first):
    argv = {"pyright": PYRIGHT, "ruff": RUFF}[server]
    if not Path(argv[0]).exists():
        pytest.skip("%s is installed by `make install`" % server)
    word = {"pyright": "undefined_name", "ruff": "useless"}[server]  # a word of each server's diagnostics
    order = [first, "pull" if first == "push" else "push"]
    clients = {form: join(agent, argv, project, form, caps=PUSH_CAPS if form == "push" else PULL_CAPS)
               for form in order}
    uri = (project / "a.py").as_uri()
    for form in order:
        clients[form].open(str(project / "a.py"))
    assert mentions(word)(pushed(clients["push"], uri, mentions(word)))
    assert mentions(word)(pulled(clients["pull"], uri))


EGLOT = r"""
(require 'eglot)
(setq eglot-server-programs (list (cons 'python-mode '%(contact)s)))
(setq eglot-sync-connect 60)
;; What eglot is given to show (flymake's part needs a display): every non-empty publication, to a file.
(advice-add 'eglot-handle-notification :before
            (lambda (_server method &rest params)
              (when (eq method 'textDocument/publishDiagnostics)
                (let ((diags (plist-get params :diagnostics)))
                  (when (> (length diags) 0)
                    (with-temp-file %(out)s
                      (insert (mapconcat (lambda (d) (plist-get d :message)) diags "\n"))))))))
(find-file %(file)s)
(apply #'eglot--connect (eglot--guess-contact))
(while (not (file-exists-p %(release)s))
  (accept-process-output nil 0.1))
(kill-emacs 0)
"""


def _eglot(agent, project, tmp_path):
    """Emacs with eglot (a push-only client: it declares no pull) on a.py, through connect."""
    import json
    import shutil
    import subprocess

    if shutil.which("emacs") is None:
        pytest.skip("emacs is not installed (.ci/run installs emacs-nox and elpa-eglot)")
    contact = "(%s)" % " ".join(json.dumps(a) for a in agent.connect_argv(PYRIGHT, str(project)))
    script = tmp_path / "eglot-diagnostics.el"
    script.write_text(EGLOT % {"contact": contact, "file": json.dumps(str(project / "a.py")),
                               "out": json.dumps(str(tmp_path / "eglot-diagnostics")),
                               "release": json.dumps(str(tmp_path / "release"))})
    return subprocess.Popen(["emacs", "--batch", "-l", str(script)], cwd=str(project),
                            env=dict(agent.env, HOME=str(tmp_path)), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@needs_pyright
@pytest.mark.parametrize("first", ["eglot", "pull client"])
def test_eglot_and_a_pull_client_share_pyright_in_either_order(agent, project, tmp_path, first):
    """The issue's case: whoever starts pyright (a pull client makes it pull only), eglot is shown
    diagnostics and the pull client pulls them."""
    from tests.conftest import wait_for

    shown = tmp_path / "eglot-diagnostics"
    emacs = None
    try:
        if first == "eglot":
            emacs = _eglot(agent, project, tmp_path)
            wait_for(lambda: shown.exists() or emacs.poll() is not None, 60, "eglot's diagnostics")
        puller = join(agent, PYRIGHT, project, "opencode-like", caps=PULL_CAPS)
        uri = puller.open(str(project / "a.py"))
        assert mentions("undefined_name")(pulled(puller, uri))
        if emacs is None:
            emacs = _eglot(agent, project, tmp_path)
            wait_for(lambda: shown.exists() or emacs.poll() is not None, 60, "eglot's diagnostics")
        assert shown.exists(), emacs.communicate()[1]
        assert "undefined_name" in shown.read_text()
        (inst,) = agent.status()["instances"]
        assert len(inst["clients"]) == 2
        (tmp_path / "release").write_text("")
        assert emacs.wait(30) == 0
    finally:
        if emacs is not None and emacs.poll() is None:
            emacs.kill()
            emacs.wait()

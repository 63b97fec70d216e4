"""One server per workspace, each client served in its own form, conflicts in
the open: real pylsp through the real agent (sharing contract, points 10-12)."""

import sys

import pytest

from tests.conftest import PROXY
from tests.support.lspclient import TOOL_CAPABILITIES, LspClient, hover_text


def connect(agent, cwd, *opts, server=("pylsp",), name="client"):
    """`remote-lsp connect -- pylsp` as a tool runs it: no --root, in `cwd`."""
    c = LspClient([sys.executable, str(PROXY), "connect", *opts, "--", *server], cwd=str(cwd),
                  env=agent.env, name=name)
    agent.clients.append(c)
    return c


def test_clients_in_different_directories_of_one_project_share_one_server(agent, project):
    sub = project / "pkg" / "deep"
    sub.mkdir(parents=True)
    editor, tool = connect(agent, project, name="editor"), connect(agent, sub, name="tool")
    editor.initialize(str(project))
    tool.initialize(str(project))  # started elsewhere, but names the same workspace
    (inst,) = agent.status()["instances"]
    assert inst["root"] == str(project) and len(inst["clients"]) == 2


def test_a_client_naming_no_workspace_gets_the_project_found_by_its_markers(agent, project):
    (project / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    sub = project / "src"
    sub.mkdir()
    c = connect(agent, sub, name="anonymous")
    c.initialize(None)
    (inst,) = agent.status()["instances"]
    assert inst["root"] == str(project)


@pytest.mark.parametrize("first", ["tool", "editor"])
def test_each_client_gets_hover_in_its_own_form_whoever_comes_first(agent, project, first):
    order = ["tool", "editor"] if first == "tool" else ["editor", "tool"]
    clients = {}
    for name in order:
        clients[name] = connect(agent, project, name=name)
        clients[name].initialize(str(project), capabilities=TOOL_CAPABILITIES if name == "tool" else None)
    uri = clients["editor"].open(str(project / "a.py"))
    clients["tool"].open(str(project / "a.py"))
    rich = clients["editor"].hover(uri, 8, 7)["contents"]
    plain = clients["tool"].hover(uri, 8, 7)["contents"]
    assert rich["kind"] == "markdown" and "```" in rich["value"]
    assert plain["kind"] == "plaintext" and "```" not in plain["value"]
    assert "Say hello to NAME" in hover_text({"contents": plain})
    assert len(agent.status()["instances"]) == 1


def test_a_tool_gets_no_snippets_the_editor_does(agent, project):
    editor, tool = connect(agent, project, name="editor"), connect(agent, project, name="tool")
    tool.initialize(str(project), capabilities=TOOL_CAPABILITIES)
    editor.initialize(str(project))
    # Completion with parameters, as snippets where the client takes them.
    editor.notify("workspace/didChangeConfiguration", {"settings": {"pylsp": {"plugins": {
        "jedi_completion": {"include_params": True}}}}})
    uri = editor.open(str(project / "b.py"), "from a import greet\n\ngree")
    tool.open(str(project / "b.py"), "from a import greet\n\ngree")
    ask = {"textDocument": {"uri": uri}, "position": {"line": 2, "character": 4}}

    def greet(c):
        result = c.request("textDocument/completion", ask)
        items = result["items"] if isinstance(result, dict) else result
        return next(i for i in items if i["label"].startswith("greet"))

    rich, plain = greet(editor), greet(tool)
    assert rich.get("insertTextFormat") == 2 and "$" in rich["insertText"]
    assert plain.get("insertTextFormat") == 1 and "$" not in plain["insertText"]
    assert plain["insertText"].startswith("greet(")


def test_conflicting_idle_policies_are_in_status_and_isolated_gets_its_own(agent, project):
    a = connect(agent, project, "--idle-timeout", "600", name="a")
    a.initialize(str(project))
    b = connect(agent, project, "--idle-timeout", "0", name="b")
    b.initialize(str(project))
    (inst,) = agent.status()["instances"]
    assert inst["idle_timeout"] == 600 and len(inst["clients"]) == 2
    assert "asked for idle timeout 0 s; the instance keeps 600 s" in inst["conflicts"][0]
    assert "asked for idle timeout 0 s" in (agent.home / "agent.log").read_text()
    assert "asked for idle timeout 0 s" in agent.cli("status").stdout
    alone = connect(agent, project, "--isolated", name="alone")
    alone.initialize(str(project))
    instances = agent.status()["instances"]
    assert len(instances) == 2 and [i["isolated"] for i in instances].count(True) == 1
    assert len({i["pid"] for i in instances}) == 2

"""Files changed outside any editor reach every shared server: the agent
watches for them, whatever the clients can do. Real servers (pyright, ruff),
locally and over the real sshd; the scripted server counts what it was told.
"""

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import pytest

from tests.conftest import REPO, wait_for
from tests.support.lspclient import EDITOR_CAPABILITIES, TOOL_CAPABILITIES, LspClient
from tests.support.sessions import attach

PYRIGHT = REPO / ".venv" / "npm" / "node_modules" / ".bin" / "pyright-langserver"
RUFF = Path(sys.executable).parent / "ruff"
WATCHED = "workspace/didChangeWatchedFiles"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The project: an empty directory of the test's own."""
    root = tmp_path / "proj"
    root.mkdir()
    return root


def scripted_tool(agent: Any, scripted: Any, root: Path, name: str = "client",
                  env: Optional[Dict[str, str]] = None, capabilities: Any = TOOL_CAPABILITIES) -> LspClient:
    """A client of the scripted server, initialized: by default a tool that watches nothing itself."""
    argv, scripted_env, _ = scripted
    client = agent.client(argv, str(root), name=name, env=dict(scripted_env, **(env or {})))
    client.initialize(str(root), capabilities=capabilities)
    return client


def latest_diagnostics(client: LspClient, uri: str) -> Optional[List[Dict[str, Any]]]:
    for msg in reversed(list(client.notifications)):
        if msg["method"] == "textDocument/publishDiagnostics" and msg["params"]["uri"] == uri:
            return msg["params"]["diagnostics"]
    return None


def wait_diagnostics(client: LspClient, uri: str, pred: Callable[[List[Dict[str, Any]]], bool],
                     what: str, timeout: float = 60) -> None:
    def ok() -> bool:
        diags = latest_diagnostics(client, uri)
        return diags is not None and pred(diags)
    try:
        wait_for(ok, timeout, what)
    except TimeoutError:
        last = latest_diagnostics(client, uri)
        raise AssertionError("%s; the last diagnostics: %s" % (what, last)) from None


def unresolved(diags: List[Dict[str, Any]]) -> bool:
    return any("newmod" in d["message"] and "could not be resolved" in d["message"] for d in diags)


def pyright_project(root: Path) -> Path:
    (root / "main.py").write_text("import newmod\n\nprint(newmod)\n")
    return root / "main.py"


def pyright_round(client: LspClient, root: Path, uri: str) -> None:
    """What a user sees: a module made on disk resolves the import, deleting it
    breaks it again, and a config change is taken."""
    client.initialize(str(root), capabilities=TOOL_CAPABILITIES)  # a client that watches nothing
    client.open_uri(uri, (root / "main.py").read_text())
    wait_diagnostics(client, uri, unresolved, "pyright to report the missing module")
    (root / "newmod.py").write_text("VALUE = 1\n")
    wait_diagnostics(client, uri, lambda d: not unresolved(d), "the new module to clear the diagnostic")
    (root / "newmod.py").unlink()
    wait_diagnostics(client, uri, unresolved, "the deleted module to bring it back")
    (root / "pyrightconfig.json").write_text(json.dumps({"reportMissingImports": "none"}))
    wait_diagnostics(client, uri, lambda d: not unresolved(d), "the config change to be taken")


@pytest.mark.skipif(not PYRIGHT.exists(), reason="pyright is installed by `make install`")
def test_pyright_sees_files_created_and_deleted_on_disk(agent, root):
    main = pyright_project(root)
    client = agent.client([str(PYRIGHT), "--stdio"], str(main.parent))
    pyright_round(client, main.parent, main.as_uri())
    watching = agent.status()["instances"][0]["watching"]
    assert watching["mode"] == "inotify" and watching["directories"] >= 1 and watching["problem"] == ""
    assert any(str(main.parent) in p for p in watching["patterns"]), watching
    assert watching["sent"] >= 3
    text = agent.cli("status").stdout
    assert "watching %d director" % watching["directories"] in text and "inotify" in text
    doctor = agent.cli("doctor").stdout
    limit = Path("/proc/sys/fs/inotify/max_user_watches").read_text().strip()
    assert "fs.inotify.max_user_watches = %s; the agent watches" % limit in doctor, doctor


@pytest.mark.skipif(not PYRIGHT.exists(), reason="pyright is installed by `make install`")
def test_pyright_over_ssh_sees_files_created_and_deleted_on_the_host(remote, root):
    main = pyright_project(root)
    client = remote.client([str(PYRIGHT), "--stdio"], str(main.parent), name="tool-over-ssh")
    pyright_round(client, main.parent, remote.uri(main))
    status = json.loads(remote.cli("status", "--json").stdout)
    assert status["instances"][0]["watching"]["mode"] == "inotify"


@pytest.mark.skipif(not RUFF.exists(), reason="ruff is in the virtualenv")
def test_ruff_server_config_files_are_watched(agent, root):
    (root / "a.py").write_text("import os\n")
    client = agent.client([str(RUFF), "server"], str(root))
    client.initialize(str(root), capabilities=TOOL_CAPABILITIES)
    uri = client.open_uri((root / "a.py").as_uri(), "import os\n")

    def unused_import(d: List[Dict[str, Any]]) -> bool:
        return any(x.get("code") == "F401" for x in d)
    wait_diagnostics(client, uri, unused_import, "ruff's unused import")
    (root / "ruff.toml").write_text('[lint]\nselect = ["E"]\n')
    wait_diagnostics(client, uri, lambda d: not unused_import(d), "ruff to take its new ruff.toml")
    (root / "ruff.toml").unlink()
    wait_diagnostics(client, uri, unused_import, "ruff to take its ruff.toml gone")
    watching = agent.status()["instances"][0]["watching"]
    assert any("ruff.toml" in p for p in watching["patterns"]), watching


# --- the scripted server: exact counts ---------------------------------------------------

def register_watchers(client: LspClient, watchers: List[Dict[str, Any]], reg_id: str = "watch") -> None:
    client.request("test/serverRequest", {"method": "client/registerCapability", "params": {"registrations": [
        {"id": reg_id, "method": WATCHED, "registerOptions": {"watchers": watchers}}]}})


def test_each_change_reaches_the_server_once_though_a_client_watches_too(agent, root, scripted):
    # The editor declares it watches files.
    watcher = scripted_tool(agent, scripted, root, "watching-editor", capabilities=EDITOR_CAPABILITIES)
    tool = scripted_tool(agent, scripted, root, "tool")
    params = tool.server_state()["initialize_params"]
    assert params["capabilities"]["workspace"]["didChangeWatchedFiles"] == {
        "dynamicRegistration": True, "relativePatternSupport": True}
    register_watchers(tool, [{"globPattern": "**/*.py"},
                             {"globPattern": {"baseUri": root.as_uri(), "pattern": "cfg/*.toml"}, "kind": 1}])
    # The watched-files registration went to the host, to no client (the editor's
    # own watcher would only send what the agent sends already).
    assert not [r for r in watcher.server_requests if r["method"] == "client/registerCapability"]

    (root / "new.py").write_text("x = 1\n")
    (root / "skip.txt").write_text("not asked for\n")
    (root / "cfg").mkdir()
    (root / "cfg" / "a.toml").write_text("")
    uri = (root / "new.py").as_uri()
    # The editor sends its own copy of the same change, as editors that watch do.
    watcher.notify(WATCHED, {"changes": [{"uri": uri, "type": 1}]})
    wait_for(lambda: uri in tool.server_state()["watched"] and (root / "cfg" / "a.toml").as_uri()
             in tool.server_state()["watched"], 15, "the changes at the server")
    (root / "cfg" / "a.toml").write_text("changed, but only creation was asked for\n")
    (root / "new.py").write_text("x = 2\n")
    wait_for(lambda: tool.server_state()["watched"][uri] == [1, 2], 15, "the second change")
    watched = tool.server_state()["watched"]
    assert watched == {uri: [1, 2], (root / "cfg" / "a.toml").as_uri(): [1]}

    # Unregistered: no more watching, and a client's own notification goes through again.
    tool.request("test/serverRequest", {"method": "client/unregisterCapability", "params": {
        "unregisterations": [{"id": "watch", "method": WATCHED}]}})
    assert agent.status()["instances"][0]["watching"]["directories"] == 0
    watcher.notify(WATCHED, {"changes": [{"uri": uri, "type": 3}]})
    wait_for(lambda: tool.server_state()["watched"][uri] == [1, 2, 3], 15, "the client's own notification")


def test_other_registrations_still_reach_the_clients_that_take_them(agent, root, scripted):
    caps = dict(EDITOR_CAPABILITIES, textDocument=dict(EDITOR_CAPABILITIES["textDocument"], synchronization={
        "dynamicRegistration": True, "didSave": True}))
    editor = scripted_tool(agent, scripted, root, "editor", capabilities=caps)
    editor.request("test/serverRequest", {"method": "client/registerCapability", "params": {"registrations": [
        {"id": "w", "method": WATCHED, "registerOptions": {"watchers": [{"globPattern": "**/*"}]}},
        {"id": "s", "method": "textDocument/didSave"}]}})
    regs = [r for r in editor.server_requests if r["method"] == "client/registerCapability"]
    assert [x["id"] for r in regs for x in r["params"]["registrations"]] == ["s"]
    late = scripted_tool(agent, scripted, root, "late", capabilities=caps)  # replayed to it the same way
    wait_for(lambda: [r for r in late.server_requests if r["method"] == "client/registerCapability"], 15,
             "the replayed registrations")
    replayed = next(r for r in late.server_requests if r["method"] == "client/registerCapability")
    assert [x["id"] for x in replayed["params"]["registrations"]] == ["s"]


def test_a_5000_file_checkout_reaches_the_server_in_batches_each_file_once(agent, root, scripted):
    client = scripted_tool(agent, scripted, root)
    register_watchers(client, [{"globPattern": "**/*.py"}])
    for d in range(50):
        (root / ("pkg%d" % d)).mkdir()
        for i in range(100):
            (root / ("pkg%d" % d) / ("m%d.py" % i)).write_text("x = %d\n" % i)
    wait_for(lambda: len(client.server_state()["watched"]) == 5000, 30, "5,000 files at the server")
    state = client.server_state()
    assert all(kinds == [1] for kinds in state["watched"].values())
    assert state["watched_batches"] <= 40, state["watched_batches"]


def test_the_next_agent_watches_what_the_server_registered_with_the_one_killed(agent, root, scripted):
    first = scripted_tool(agent, scripted, root)
    register_watchers(first, [{"globPattern": "**/*.py"}])
    pid = first.server_state()["pid"]
    os.kill(agent.agent_pid(), signal.SIGKILL)
    first.wait_closed(15)
    again = scripted_tool(agent, scripted, root, "again")
    assert again.server_state()["pid"] == pid  # the same server, taken over
    (root / "after.py").write_text("")
    uri = (root / "after.py").as_uri()
    wait_for(lambda: uri in again.server_state()["watched"], 15, "a change seen by the next agent")
    assert again.server_state()["watched"][uri] == [1]


@pytest.mark.skipif(not RUFF.exists(), reason="ruff is in the virtualenv")
def test_a_server_attached_by_pid_has_the_registrations_it_makes_afterwards_served(agent, root, tmux):
    (root / "a.py").write_text("import os\n")
    pid = tmux.start([str(RUFF), "server"], str(root))
    attach(agent, pid, "--root", str(root))
    client = agent.client([], str(root), "--pid", str(pid), name="tool")
    client.initialize(str(root), capabilities=TOOL_CAPABILITIES)  # ruff registers its config files now
    uri = client.open_uri((root / "a.py").as_uri(), "import os\n")
    wait_diagnostics(client, uri, lambda d: any(x.get("code") == "F401" for x in d), "ruff's unused import")
    (root / "ruff.toml").write_text('[lint]\nselect = ["E"]\n')
    wait_diagnostics(client, uri, lambda d: not any(x.get("code") == "F401" for x in d),
                     "the attached ruff to take its new ruff.toml")
    watching = agent.status()["instances"][0]["watching"]
    assert watching["mode"] == "inotify" and any("ruff.toml" in p for p in watching["patterns"]), watching
    agent.cli("release", str(pid))


def test_where_inotify_cannot_serve_the_agent_polls_and_says_so_in_one_line(agent, root, scripted):
    client = scripted_tool(agent, scripted, root, env={"REMOTE_LSP_NO_INOTIFY": "1"})  # the agent it starts
    register_watchers(client, [{"globPattern": "**/*.py"}])
    (root / "polled.py").write_text("")
    uri = (root / "polled.py").as_uri()
    wait_for(lambda: uri in client.server_state()["watched"], 15, "a change seen by polling")
    watching = agent.status()["instances"][0]["watching"]
    assert watching["mode"] == "polling" and "\n" not in watching["problem"]
    assert "inotify is not available" in watching["problem"]
    assert "watch problem: inotify is not available" in agent.cli("status").stdout
    assert "problem: inotify is not available" in agent.cli("doctor").stdout
    log = (agent.home / "agent.log").read_text()
    assert log.count("inotify is not available") == 1


def test_a_project_removed_and_made_again_is_watched_again_and_said_meanwhile(agent, tmp_path, scripted):
    """`rm -rf proj && git clone ...`: the server hears of the new files; while
    the root is gone, `status` and `doctor` say it is not watched, and why."""
    import shutil

    argv, env, _ = scripted
    root = tmp_path / "proj"
    root.mkdir()
    client = agent.client(argv, str(root), env=env)
    client.initialize(str(root), capabilities=TOOL_CAPABILITIES)
    register_watchers(client, [{"globPattern": "**/*.py"}])
    shutil.rmtree(root)
    said = "%s was removed: watched again once it is made" % root
    wait_for(lambda: said in agent.cli("status").stdout, 15, "status to say so")
    assert said in agent.cli("doctor").stdout
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "cloned.py").write_text("")
    uri = (root / "pkg" / "cloned.py").as_uri()
    wait_for(lambda: uri in client.server_state()["watched"], 15, "the new file at the server")
    assert client.server_state()["watched"][uri] == [1]
    assert said not in agent.cli("status").stdout

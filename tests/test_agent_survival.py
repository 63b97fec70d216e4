"""Servers survive their agent: a SIGKILL, or an upgrade to a newer build.

Servers hold their FIFOs read-write, so an agent's death gives them neither
end-of-file nor a broken pipe; the next agent takes them over from the
registry and clients reach the same, warm, process.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.conftest import REPO, pid_alive, wait_for
from tests.support.lspclient import LspClient, hover_text

PYLSP = [os.path.join(os.path.dirname(sys.executable), "pylsp")]


def _still_alive_for(pids, seconds):
    """Every pid stays alive for `seconds` (a duration the test asserts, not a wait)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert all(pid_alive(p) for p in pids), [p for p in pids if not pid_alive(p)]
        time.sleep(0.1)


def _ended_by_agent_death(c):
    c.wait_closed(15)
    assert c.proc.wait(10) == 7  # AGENT_GONE: connect again
    shown = [n["params"] for n in c.notifications if n["method"] == "window/showMessage"]
    assert shown[-1]["type"] == 1 and "agent ended unexpectedly" in shown[-1]["message"]
    assert "The language server runs on" in c.stderr
    assert c.read_error is None


def test_sigkill_leaves_spawned_and_adopted_servers_running_for_the_next_agent(agent, project, tmux):
    clients = [agent.client(["pylsp"], str(project), name="c%d" % i) for i in range(3)]
    for c in clients:
        c.initialize(str(project))
    uri = clients[0].open(str(project / "b.py"))
    assert "Say hello" in hover_text(clients[1].hover(uri, 2, 1))
    (spawned,) = [i["pid"] for i in agent.status()["instances"]]
    # A pylsp the user started by hand in tmux, adopted.
    adopted = tmux.start(PYLSP, str(project))
    tty = os.readlink("/proc/%d/fd/0" % adopted)
    assert agent.cli("attach", str(adopted), "--root", str(project)).returncode == 0
    old_agent = agent.agent_pid()

    os.kill(old_agent, signal.SIGKILL)
    for c in clients:
        _ended_by_agent_death(c)
    _still_alive_for([spawned, adopted], 3)

    again = agent.client(["pylsp"], str(project), name="again")
    again.initialize(str(project))
    uri = again.open(str(project / "b.py"))
    assert "Say hello" in hover_text(again.hover(uri, 2, 1))
    status = agent.status()
    assert status["agent"]["pid"] not in (0, old_agent)
    assert sorted(i["pid"] for i in status["instances"]) == sorted([spawned, adopted])
    (inst,) = [i for i in status["instances"] if i["pid"] == spawned]
    assert inst["generation"] == 1 and [c["name"] for c in inst["clients"]] == ["again"]

    by_pid = agent.client([], str(project), "--pid", str(adopted), name="by-pid")
    by_pid.initialize(str(project))
    uri = by_pid.open(str(project / "a.py"))
    assert "Say hello to NAME" in hover_text(by_pid.hover(uri, 8, 7))
    assert agent.cli("release", str(adopted)).returncode == 0
    by_pid.wait_closed()
    assert os.readlink("/proc/%d/fd/0" % adopted) == tty and pid_alive(adopted)
    assert tmux.pane("#{pane_dead}") == "0"
    assert not list((agent.home / "fifos").glob("%d-*" % adopted))


def test_agent_killed_mid_burst_of_edits(agent, scripted, project):
    argv, env, _ = scripted
    a, b = (agent.client(argv, str(project), name=n, env=env) for n in ("a", "b"))
    for c in (a, b):
        c.initialize(str(project))
    path = project / "a.py"
    uri = a.open(str(path))
    b.open(str(path))
    b.open(str(project / "b.py"))
    pid = a.server_state()["pid"]
    sent = {"a": 0, "b": 0}

    def burst(c, name):
        try:
            for n in range(100000):
                at = {"line": 0, "character": 0}
                c.notify("textDocument/didChange", {
                    "textDocument": {"uri": uri, "version": n + 2},
                    "contentChanges": [{"range": {"start": at, "end": at}, "text": "#%s\n" % name}]})
                sent[name] += 1
        except OSError:
            pass  # the agent died under it

    threads = [threading.Thread(target=burst, args=(c, c.name)) for c in (a, b)]
    for t in threads:
        t.start()
    wait_for(lambda: min(sent.values()) > 500, 30, "both bursts to be under way")
    os.kill(agent.agent_pid(), signal.SIGKILL)
    for t in threads:
        t.join(30)
    for c in (a, b):
        c.wait_closed(15)

    text = "# the editor's text after reconnecting\n" + path.read_text()
    again = agent.client(argv, str(project), name="again", env=env)
    again.initialize(str(project))
    again.open(str(path), text)
    st = again.server_state()
    assert st["pid"] == pid
    assert st["docs"] == {uri: {"text": text, "version": 1}}  # b.py, open in a gone client, is closed


def _second_build(tmp_path: Path, version: str = "") -> Path:
    """This checkout's proxy with one byte changed: another build (digest)."""
    copy = tmp_path / "build2"
    shutil.copytree(REPO / "proxy", copy, ignore=shutil.ignore_patterns("__pycache__"))
    with open(copy / "remote_lsp" / "wire" / "jsonrpc.py", "a") as f:
        f.write("\n# another build\n")
    if version:
        init = copy / "remote_lsp" / "__init__.py"
        init.write_text(init.read_text().replace('__version__ = "', '__version__ = "%s" or "' % version))
    return copy


def test_a_newer_build_takes_over_without_restarting_servers(agent, scripted, project, tmp_path):
    argv, env, _ = scripted
    old = [agent.client(argv, str(project), name="old%d" % i, env=env) for i in range(2)]
    for c in old:
        c.initialize(str(project))
    old[0].open(str(project / "a.py"))
    server = old[0].server_state()["pid"]
    old_agent, old_build = agent.agent_pid(), agent.status()["agent"]["build"]

    build2 = _second_build(tmp_path)
    new_env = dict(agent.env, PYTHONPATH=str(build2), **env)
    connect = [sys.executable, str(build2 / "proxy.py"), "connect", "--root", str(project), "--", *argv]
    new = LspClient(connect, cwd=str(project), env=new_env, name="new")
    agent.clients.append(new)
    new.initialize(str(project))
    assert new.server_state()["pid"] == server
    for c in old:  # told, and gone with exit 7 so an editor connects again
        c.wait_closed(15)
        assert c.proc.wait(10) == 7
        assert "agent was upgraded" in c.stderr
    wait_for(lambda: not pid_alive(old_agent), 15, "the old agent to exit")
    status = json.loads(subprocess.run([sys.executable, str(build2 / "proxy.py"), "status", "--json"],
                                       env=new_env, capture_output=True, text=True, timeout=60).stdout)
    assert status["agent"]["build"] != old_build and status["agent"]["pid"] != old_agent
    assert [i["pid"] for i in status["instances"]] == [server]
    # The registry told the new agent which documents the old clients had open: closed at the server.
    assert new.server_state()["docs"] == {}


def test_an_older_client_is_refused_naming_both_versions(agent, scripted, project, tmp_path):
    argv, env, _ = scripted
    c = agent.client(argv, str(project), env=env)
    c.initialize(str(project))
    older = _second_build(tmp_path, version="0.0.1")
    proc = subprocess.run([sys.executable, str(older / "proxy.py"), "status"], capture_output=True, text=True,
                          env=dict(agent.env, PYTHONPATH=str(older)), timeout=60)
    assert proc.returncode == 4
    assert "this client is remote-lsp 0.0.1" in proc.stderr
    assert "older than the agent, remote-lsp 0.2" in proc.stderr
    assert len(agent.status()["instances"]) == 1  # nothing changed


def test_a_corrupt_registry_entry_is_skipped(agent, scripted, project):
    argv, env, _ = scripted
    registry = agent.home / "instances"
    registry.mkdir(parents=True, mode=0o700)
    (registry / "broken.json").write_text('{"format": 1, "pid": ')  # half-written
    (registry / "stale.json").write_text(json.dumps({"format": 1, "entry": "stale", "pid": 999999,
                                                     "start_ticks": 1, "fifos": []}))
    c = agent.client(argv, str(project), env=env)
    c.initialize(str(project))
    assert c.request("test/echo", {"x": 1}) == {"x": 1}
    log = (agent.home / "agent.log").read_text()
    assert "skipped the registry entry %s" % (registry / "broken.json") in log
    assert not (registry / "broken.json").exists() and not (registry / "stale.json").exists()
    assert len(list(registry.glob("*.json"))) == 1  # the new server's own

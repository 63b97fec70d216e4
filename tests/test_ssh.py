"""Remote hosts over a real OpenSSH server on 127.0.0.1, both transports."""

import json
import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import pid_alive, wait_for
from tests.support.lspclient import hover_text
from tests.support.sessions import hover_in_new_project, pylsp_session
from tests.support.sshd import keygen

TRANSPORTS = ["openssh", "paramiko"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_remote_pylsp_hover_definition_and_scp_uris(remote, project, transport):
    c, uri = pylsp_session(remote, project, transport)
    assert uri == "scp://rlsp-test/%s/b.py" % project
    assert "Say hello to NAME" in hover_text(c.hover(uri, 2, 1))
    (loc,) = c.request("textDocument/definition", {"textDocument": {"uri": uri},
                                                   "position": {"line": 2, "character": 1}})
    assert loc["uri"] == remote.uri(project / "a.py")  # scp://rlsp-test//.../a.py
    assert loc["range"]["start"]["line"] == 3
    # status and list over SSH give the host's JSON.
    status = json.loads(remote.cli("status", "--json", transport=transport).stdout)
    (inst,) = status["instances"]
    assert inst["name"] == "pylsp" and inst["root"] == str(project)
    assert inst["documents"][0]["uri"] == (project / "b.py").as_uri()  # file:// on the host
    listed = json.loads(remote.cli("list", "--json", transport=transport).stdout)
    mine = [r for r in listed if r["root"] == str(project)]  # (other runs' servers may be listed too)
    assert [(r["pid"], r["managed"]) for r in mine] == [(inst["pid"], True)]


def test_two_editors_share_one_remote_server_across_transports(remote, project):
    _a, uri = pylsp_session(remote, project, "openssh", "a")
    b, _ = pylsp_session(remote, project, "paramiko", "b")
    assert "Say hello" in hover_text(b.hover(uri, 2, 1))
    (inst,) = json.loads(remote.cli("status", "--json").stdout)["instances"]
    assert len(inst["clients"]) == 2


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_unknown_or_changed_host_key_is_refused(remote, project, transport, tmp_path):
    for case in ("unknown", "changed"):
        if case == "unknown":
            remote.sshd.known_hosts.write_text("")
        else:
            remote.sshd.write_known_hosts(keygen(tmp_path / ("other-%s" % transport)))
        proc = remote.cli("status", "--json", transport=transport, check=False)
        assert proc.returncode == 6, proc.stderr
        err = json.loads(proc.stdout)["error"]["message"]
        if transport == "openssh":
            assert "Host key verification failed" in err or "IDENTIFICATION HAS CHANGED" in err, err
        else:
            assert ("is unknown" if case == "unknown" else "has CHANGED") in err, err
    assert not (remote.sshd.remote_state / "agent.sock").exists()  # nothing started


def test_shell_metacharacters_in_host_and_path(remote, tmp_path):
    import os
    import uuid

    mark = "rlsp-pwned-%s" % uuid.uuid4().hex[:8]
    # Wherever an injected command would run: the remote HOME, our cwd, the project.
    places = [Path("/root"), Path(os.getcwd()), tmp_path, Path("/")]
    host = "rlsp-test;touch %s" % mark
    proc = subprocess.run(remote.connect_argv(["pylsp"], "/tmp")[:2] + ["--host", host, "status"],
                          env=remote.env, capture_output=True, text=True)
    assert proc.returncode == 2 and "invalid host" in proc.stderr
    weird = tmp_path / ("pro j;$(touch %s)`touch %s`'q\"" % (mark, mark))
    assert "Right file." in hover_in_new_project(remote, weird, "Right file.")
    (inst,) = json.loads(remote.cli("status", "--json").stdout)["instances"]
    assert inst["root"] == str(weird)
    assert not [p for p in places if (p / mark).exists()]


@pytest.mark.parametrize("how", ["sigkill", "close-stdin"])
def test_editor_side_going_away_leaves_nothing_behind(remote, project, how):
    c, _ = pylsp_session(remote, project, "openssh")
    assert remote.leftovers()
    if how == "sigkill":
        c.proc.send_signal(signal.SIGKILL)
    else:
        c.proc.stdin.close()
        assert c.proc.wait(15) == 0
    wait_for(lambda: not remote.leftovers(), 10, "ssh and connect processes to go")
    (inst,) = json.loads(remote.cli("status", "--json").stdout)["instances"]
    assert pid_alive(inst["pid"])  # the server stays, per its idle policy
    if how == "sigkill":  # as an outage looks: the session waits for its editor, in the open
        (client,) = inst["clients"]
        assert client["link"] == "suspended" and client["suspended_since"] > 0
    else:  # the editor said goodbye: the session ended
        assert inst["clients"] == []


def test_agent_zipapp_uploaded_once_and_new_version_beside_it(remote, tmp_path):
    import shutil
    import sys

    from tests.conftest import REPO

    remote.cli("status")
    bins = sorted((remote.sshd.remote_cache / "bin").glob("remote-lsp-*.pyz"))
    assert len(bins) == 1
    stamp = bins[0].stat().st_mtime_ns
    remote.cli("status")
    assert bins[0].stat().st_mtime_ns == stamp  # reused, not sent again
    changed = tmp_path / "changed"
    shutil.copytree(REPO / "proxy", changed, ignore=shutil.ignore_patterns("__pycache__"))
    with open(changed / "remote_lsp" / "wire" / "jsonrpc.py", "a") as f:
        f.write("\n# a new version\n")
    proc = subprocess.run([sys.executable, str(changed / "proxy.py"), "--host", remote.alias, "status"],
                          env=dict(remote.env, PYTHONPATH=str(changed)), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert len(list((remote.sshd.remote_cache / "bin").glob("remote-lsp-*.pyz"))) == 2


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_user_at_host_colon_port(remote, project, transport):
    host = "root@127.0.0.1:%d" % remote.sshd.port
    c = remote.client(["pylsp"], str(project), transport, name="explicit", host=host)
    c.initialize(str(project))
    uri = c.open_uri("scp://%s/%s/b.py" % (host, project), (project / "b.py").read_text())
    (loc,) = c.request("textDocument/definition", {"textDocument": {"uri": uri},
                                                   "position": {"line": 2, "character": 1}})
    assert loc["uri"] == "scp://%s/%s/a.py" % (host, project)


def _our_ssh_processes(remote):
    """The ssh processes this test's editor side runs (masters and sessions alike)."""
    out = subprocess.run(["ps", "-ww", "-eo", "pid,ppid,args"], capture_output=True, text=True).stdout
    return [line.strip() for line in out.splitlines()[1:]
            if line.split(None, 2)[2].startswith("ssh ") and str(remote.sshd.home) in line]


def test_a_master_killed_uncleanly_is_replaced_and_nothing_piles_up(remote):
    import os

    remote.cli("status")
    (line,) = _our_ssh_processes(remote)  # the master, alone
    master = int(line.split()[0])
    control = Path(line.split("ControlPath=")[1].split()[0])
    sessions = set(remote.sshd.session_pids())
    os.kill(master, signal.SIGKILL)  # as the OOM killer ends it: its socket stays
    wait_for(lambda: not pid_alive(master), 10, "the master to go")
    wait_for(lambda: len(set(remote.sshd.session_pids()) & sessions) < len(sessions), 10,
             "its sshd session to go")
    assert control.exists()
    try:
        # Two calls at once find the stale socket, then more one after another.
        calls = [subprocess.Popen(remote_argv(remote, "status"), env=remote.env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
        for call in calls:
            _out, err = call.communicate(timeout=60)
            assert call.returncode == 0 and err == "", err  # no "Control socket connect(...)"
        for _ in range(3):
            assert remote.cli("status").stderr == ""
        # One master again, nothing else of ours running on either side.
        (line,) = _our_ssh_processes(remote)
        assert " -M " in line, line
        assert len(set(remote.sshd.session_pids()) - sessions) == 1
    finally:  # a leak must not outlive the test: all but the master on the socket go
        check = subprocess.run(["ssh", "-F", str(remote.sshd.home / ".ssh" / "config"), "-S", str(control),
                                "-O", "check", remote.alias], capture_output=True, text=True)
        for line in _our_ssh_processes(remote):
            if "(pid=%s)" % line.split()[0] not in check.stderr:
                os.kill(int(line.split()[0]), signal.SIGTERM)


def remote_argv(remote, *args):
    import sys

    from tests.conftest import PROXY

    return [sys.executable, str(PROXY), "--host", remote.alias, *args]

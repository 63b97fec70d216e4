"""Attach by PID to real processes: pylsp and pyright in tmux, a pipe child,
a threaded server; refusals; rollback; release."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import BIOME, REPO, Agent, Tmux, pid_alive, wait_for
from tests.support.lspclient import LspClient, hover_text
from tests.support.sessions import attach

PYLSP = [os.path.join(os.path.dirname(sys.executable), "pylsp")]
PYRIGHT = REPO / ".venv" / "npm" / "node_modules" / ".bin" / "pyright-langserver"
RUFF = os.path.join(os.path.dirname(sys.executable), "ruff")
THREADED = [sys.executable, str(REPO / "tests" / "support" / "threaded_server.py")]
METHODS = ["ptrace", "gdb"]


def by_pid(agent, pid, root, name="editor"):
    c = agent.client([], str(root), "--pid", str(pid), name=name)
    c.initialize(str(root))
    return c


def fd0(pid):
    return os.readlink("/proc/%d/fd/0" % pid)


@pytest.mark.parametrize("method", METHODS)
def test_pylsp_in_tmux_attach_share_release(agent, project, tmux, method):
    pid = tmux.start(PYLSP, str(project))
    tty = fd0(pid)
    assert tty.startswith("/dev/pts/")
    listed = json.loads(agent.cli("list", "--json").stdout)
    mine = [(r["pid"], r["name"], r["stdin"], r["managed"]) for r in listed if r["pid"] == pid]
    assert mine == [(pid, "pylsp", "tty", False)]

    reply = attach(agent, pid, "--method", method, "--root", str(project))
    assert reply["method"] == method and reply["name"] == "pylsp"
    assert fd0(pid).startswith(str(agent.home / "fifos"))
    a = by_pid(agent, pid, project, "a")
    b = by_pid(agent, pid, project, "b")  # a second client shares it
    uri = a.open(str(project / "a.py"))
    b.open(str(project / "a.py"))
    assert "Say hello to NAME" in hover_text(a.hover(uri, 8, 7))
    assert "Say hello to NAME" in hover_text(b.hover(uri, 8, 7))
    diags = b.wait_notification("textDocument/publishDiagnostics", lambda p: bool(p["diagnostics"]), 60)
    assert "undefined name 'undefined_name'" in [d["message"] for d in diags["diagnostics"]]
    (row,) = [r for r in json.loads(agent.cli("list", "--json").stdout) if r["pid"] == pid]
    assert row["managed"] and row["clients"] == 2 and row["stdin"] == "agent-fifo"

    assert agent.cli("release", str(pid)).returncode == 0
    a.wait_closed()
    assert "released" in a.notifications[-1]["params"]["message"]
    assert fd0(pid) == tty and os.readlink("/proc/%d/fd/1" % pid) == tty
    assert pid_alive(pid) and tmux.pane("#{pane_dead}") == "0"
    assert not agent.status()["instances"]


@pytest.mark.skipif(not PYRIGHT.exists(), reason="pyright is installed by `make install`")
def test_pyright_in_tmux_epoll(agent, project, tmux):
    pid = tmux.start([str(PYRIGHT), "--stdio"], str(project))
    # Up once Node reads its reopened terminal through epoll, as a long-running one does.
    wait_for(lambda: _node_reads_terminal(pid), 30, "pyright to watch its terminal")
    reply = attach(agent, pid, "--root", str(project))
    assert reply["name"] == "pyright"
    c = by_pid(agent, pid, project)
    uri = c.open(str(project / "a.py"))
    assert "greet" in hover_text(c.hover(uri, 8, 7, timeout=60))
    agent.cli("release", str(pid))
    assert fd0(pid).startswith("/dev/pts/") and pid_alive(pid)


def _node_reads_terminal(pid):
    from remote_lsp.host.attach.takeover import stdio_fds
    from remote_lsp.host.attach.tracee import AttachError

    try:
        return len(stdio_fds(pid)[0]) > 1
    except AttachError:  # reopened, not read yet: still starting
        return False


def test_ruff_server_in_tmux_is_attached_without_a_name(agent, project, tmux):
    """A server that is a subcommand of a multi-purpose binary: found by what
    its arguments say, so attach needs no --name."""
    pid = tmux.start([RUFF, "server"], str(project))
    (row,) = [r for r in json.loads(agent.cli("list", "--json").stdout) if r["pid"] == pid]
    assert (row["name"], row["stdin"], row["managed"]) == ("ruff", "tty", False)
    reply = attach(agent, pid, "--root", str(project))
    assert reply["name"] == "ruff"
    c = by_pid(agent, pid, project)
    uri = c.open(str(project / "a.py"))
    diags = c.wait_notification("textDocument/publishDiagnostics",
                                lambda p: p["uri"] == uri and bool(p["diagnostics"]), 60)
    assert "F401" in [d.get("code") for d in diags["diagnostics"]]  # ruff's word on `import os`
    assert [i["name"] for i in agent.status()["instances"]] == ["ruff"]
    agent.cli("release", str(pid))
    assert fd0(pid).startswith("/dev/pts/") and pid_alive(pid)


def test_a_wrapper_is_refused_and_its_server_named(agent, project, biome_env):
    """npm's `biome` is a Node script that runs the binary on the same stdio:
    swapping the script's fds would leave the server where it was."""
    from remote_lsp.host import procs

    wrapper = subprocess.Popen([str(BIOME), "lsp-proxy"], cwd=str(project), env=biome_env,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        (server,) = wait_for(lambda: [c.pid for c in procs.children(wrapper.pid)
                                      if c.argv[1:] == ["lsp-proxy"]], 30, "biome's binary to start")
        before = fd0(wrapper.pid)
        proc = attach(agent, wrapper.pid, check=False)
        assert proc.returncode == 4, proc.stdout
        assert json.loads(proc.stdout)["error"]["message"] == (
            "process %d only runs biome as its child %d, which reads the same stdin: attach to %d"
            % (wrapper.pid, server, server))
        assert fd0(wrapper.pid) == before == fd0(server) and not agent.status()["instances"]
    finally:
        wrapper.kill()
        wrapper.wait()


def test_pipe_child_of_a_running_parent(agent, project):
    # This test is the parent: it keeps the pipes, then uses them again after release.
    child = LspClient(PYLSP, cwd=str(project), name="parent")
    try:
        child.initialize(str(project))
        attach(agent, child.proc.pid, "--root", str(project))
        c = by_pid(agent, child.proc.pid, project)
        uri = c.open(str(project / "a.py"))
        assert "Say hello" in hover_text(c.hover(uri, 8, 7))
        agent.cli("release", str(child.proc.pid))
        # Back on the parent's pipe: it answers the parent again.
        assert "Say hello" in hover_text(child.hover(uri, 8, 7))
    finally:
        child.proc.kill()
        child.proc.wait()


def test_threaded_server_blocked_in_a_worker_thread(agent, project):
    parent = subprocess.Popen(THREADED, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        wait_for(lambda: _reading_thread(parent.pid), 15, "the worker to block in read")
        attach(agent, parent.pid, "--name", "threaded", "--force", "--root", str(project))
        c = by_pid(agent, parent.pid, project)
        assert c.request("custom/where") == {"thread": "reader", "method": "custom/where"}
    finally:
        parent.kill()
        parent.wait()


def _reading_thread(pid):
    for tid in os.listdir("/proc/%d/task" % pid):
        if int(tid) != pid:
            with open("/proc/%d/task/%s/syscall" % (pid, tid)) as f:
                if f.read().startswith("0 0x0 "):
                    return True
    return False


def test_refusals_leave_the_target_untouched(agent, project, tmux):
    proc = attach(agent, 4194000, check=False)
    assert proc.returncode == 3
    assert "no process with pid 4194000" in json.loads(proc.stdout)["error"]["message"]
    sleeper = subprocess.Popen(["sleep", "300"])
    try:
        proc = attach(agent, sleeper.pid, check=False)
        assert proc.returncode == 4
        assert "does not look like a language server" in json.loads(proc.stdout)["error"]["message"]
        assert fd0(sleeper.pid) == os.readlink("/proc/self/fd/0")
    finally:
        sleeper.kill()
        sleeper.wait()
    pid = tmux.start(PYLSP, str(project))
    attach(agent, pid)
    proc = attach(agent, pid, check=False)
    assert proc.returncode == 4 and "already managed" in json.loads(proc.stdout)["error"]["message"]


def test_another_users_process_is_refused(agent, intruder):
    theirs = subprocess.Popen(["sleep", "300"], preexec_fn=lambda: (os.setgid(intruder.pw_gid),
                                                                    os.setuid(intruder.pw_uid)))
    try:
        proc = attach(agent, theirs.pid, "--name", "pylsp", check=False)
        assert proc.returncode == 4
        assert "attaches only to its own user's processes" in json.loads(proc.stdout)["error"]["message"]
    finally:
        theirs.kill()
        theirs.wait()


ROLLBACK_CASES = [(PYLSP, "open fifo"), (PYLSP, "dup fifo over fd 1"), (PYLSP, "done"),
                  # Node watches stdin through epoll: undo the epoll steps too.
                  ([str(PYRIGHT), "--stdio"], "epoll add"), ([str(PYRIGHT), "--stdio"], "done")]


@pytest.mark.parametrize("server,step", ROLLBACK_CASES, ids=[
    "%s-%s" % (os.path.basename(c[0][0]), c[1].replace(" ", "-")) for c in ROLLBACK_CASES])
def test_failure_mid_takeover_rolls_back(agent, project, server, step):
    if not os.path.exists(server[0]):
        pytest.skip("%s is not installed" % server[0])
    agent.env["REMOTE_LSP_ATTACH_FAIL_AT"] = step  # the agent is started by this attach
    child = LspClient(server, cwd=str(project), name="parent")
    try:
        child.initialize(str(project))
        before = _fds(child.proc.pid)
        proc = attach(agent, child.proc.pid, check=False)
        assert proc.returncode == 5, proc.stdout
        assert "rolled back" in json.loads(proc.stdout)["error"]["message"]
        after = _fds(child.proc.pid)
        assert (after[0], after[1]) == (before[0], before[1])
        assert not [t for t in after.values() if str(agent.home) in t]  # no FIFO left open
        for fd in (0, 1):  # and no spare copy of the original pipes left behind
            assert list(after.values()).count(before[fd]) == list(before.values()).count(before[fd])
        uri = child.open(str(project / "a.py"))
        assert "greet" in hover_text(child.hover(uri, 8, 7, timeout=60))  # still answers on its own pipes
        assert not agent.status()["instances"]
    finally:
        child.proc.kill()
        child.proc.wait()


def _fds(pid):
    fds = {}
    for n in os.listdir("/proc/%d/fd" % pid):
        try:
            fds[int(n)] = os.readlink("/proc/%d/fd/%s" % (pid, n))
        except OSError:
            pass
    return fds


def test_reattach_reuses_the_cached_initialize_result(agent, project, tmux):
    pid = tmux.start(PYLSP, str(project))
    assert attach(agent, pid)["initialized"] is False  # sat idle in tmux: first client initializes
    c = by_pid(agent, pid, project)
    agent.cli("release", str(pid))
    c.wait_closed()
    assert attach(agent, pid)["initialized"] is True
    c = by_pid(agent, pid, project)
    assert "Say hello" in hover_text(c.hover(c.open(str(project / "a.py")), 8, 7))




@pytest.mark.system
def test_the_demos_attach_step_leaves_a_tmux_session_of_the_same_name_alone(tmp_path, monkeypatch):
    """`make demo` starts pylsp in tmux on a server of its own: the same step of
    another demo running meanwhile (or a session of yours) of the same name is
    neither killed nor taken for its own, which ended that pylsp under its hover."""
    from demo import demo

    monkeypatch.setenv("TMUX_TMPDIR", str(tmp_path))  # the tmux everyone shares, kept to this test
    monkeypatch.setenv("REMOTE_LSP_HOME", str(tmp_path / "state"))
    shared = tmp_path / ("tmux-%d" % os.getuid())
    shared.mkdir(mode=0o700)
    others = Tmux("remote-lsp-demo")
    others.SOCKET = str(shared / "default")
    project = tmp_path / "demo" / "project"
    project.mkdir(parents=True)
    (project / "hello.py").write_text(demo.SOURCE)
    try:
        theirs = others.start(PYLSP, str(project))
        assert demo.attach_by_pid(project) == 0
        assert pid_alive(theirs) and others.pane("#{pane_dead}") == "0"
        assert fd0(theirs).startswith("/dev/pts/")
    finally:
        others.run("kill-server")


def test_a_server_another_agent_serves_is_refused_and_serves_on(agent, project, tmux):
    """A second agent (another REMOTE_LSP_HOME: another demo, another checkout)
    attaching the same pid took its stdio from the first, whose clients then
    had no answer until the second let it go."""
    pid = tmux.start(PYLSP, str(project))
    attach(agent, pid, "--root", str(project))
    c = by_pid(agent, pid, project)
    uri = c.open(str(project / "a.py"))
    other = Agent(Path(tempfile.mkdtemp(prefix="rl-", dir="/tmp")) / "state")
    try:
        proc = attach(other, pid, "--root", str(project), check=False)
        assert proc.returncode == 4, proc.stdout
        assert json.loads(proc.stdout)["error"]["message"] == (
            "process %d is already served by another remote-lsp agent, the one of %s (its stdin and stdout "
            "are that agent's FIFOs): share it through that agent (REMOTE_LSP_HOME=%s remote-lsp connect "
            "--pid %d), or release it there first" % (pid, agent.home, agent.home, pid))
    finally:
        other.stop()
        shutil.rmtree(str(other.home.parent), ignore_errors=True)
    assert fd0(pid).startswith(str(agent.home / "fifos"))
    assert "Say hello to NAME" in hover_text(c.hover(uri, 8, 7))




def test_a_pylsp_attached_before_its_first_read_serves(agent, project, tmux, tmp_path):
    """Just started, not reading its terminal yet (held before pylsp starts until
    the attach is done, so the moment is sure): its first read is on the FIFO."""
    go = tmp_path / "go"
    start = ("import os, time\nwhile not os.path.exists(%r): time.sleep(0.01)\n"
             "from pylsp.__main__ import main\nmain()" % str(go))
    pid = tmux.open([sys.executable, "-c", start], str(project))
    wait_for(lambda: open("/proc/%d/comm" % pid).read().startswith("python"), 15, "python to start")
    attach(agent, pid, "--force", "--name", "pylsp", "--root", str(project))
    go.touch()
    c = by_pid(agent, pid, project)
    assert "Say hello to NAME" in hover_text(c.hover(c.open(str(project / "a.py")), 8, 7))
    assert pid_alive(pid) and tmux.pane("#{pane_dead}") == "0"

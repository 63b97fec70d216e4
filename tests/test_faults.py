"""Faults a user will meet sooner or later: a server killed under their feet,
the SSH connection cut mid-stream, a full or read-only disk. (The agent
killed: test_agent_survival.py.)

Each ends in a clear error where the user looks (an LSP answer or message,
stderr, the exit code), and the next connect works.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROXY, pid_alive, wait_for
from tests.support.proc import waits_to_write

SLOW = {"seconds": 60}


def test_server_sigkilled_mid_request(agent, scripted, project):
    argv, env, _ = scripted
    clients = [agent.client(argv, str(project), name="c%d" % i, env=env) for i in range(2)]
    for c in clients:
        c.initialize(str(project))
    pid = clients[0].server_state()["pid"]
    pending = [c.request_async("test/slow", SLOW) for c in clients]
    wait_for(lambda: all(c["pending_requests"] == 1 for c in agent.status()["instances"][0]["clients"]),
             what="both requests to reach the server")
    os.kill(pid, signal.SIGKILL)
    for c, rid in zip(clients, pending):
        answer = c.wait_response(rid, 15)
        assert "was killed by SIGKILL" in answer["error"]["message"], answer
        c.wait_closed()
        assert c.proc.wait(10) == 1
        # The editor's log gets it too, as one plain line.
        assert "remote-lsp: python (pid %d) was killed by SIGKILL" % pid in c.stderr.splitlines()
    fresh = agent.client(argv, str(project), name="fresh", env=env)
    fresh.initialize(str(project))
    assert fresh.server_state()["pid"] != pid


def test_ssh_connection_cut_mid_stream(remote, project, scripted):
    """A flood in flight and the editor behind when the connection dies: the
    bridge reconnects and resumes, and the answer comes whole, after the backlog."""
    argv, _, _ = scripted
    c = remote.client(argv, str(project), name="cut")
    c.initialize(str(project))
    server_pid = c.server_state()["pid"]
    # 40 MB: far more than the pipes hold, and less than the host keeps for a session
    # while its link is down (64 MB; past that it ends the session, rightly).
    rid = c.request_async("test/flood", {"count": 20000, "bytes": 2048})
    c.wait_notification("test/flooded", timeout=30)  # bytes are flowing now
    # The editor falls behind: the bridge holds a backlog when the connection goes.
    c.reading.clear()
    wait_for(lambda: waits_to_write(c.proc.pid, 1), 15, "the bridge to hold a backlog")
    for pid in remote.sshd.session_pids():
        subprocess.run(["kill", "-9", str(pid)])
    c.reading.set()
    answer = c.wait_response(rid, 60)  # after the backlog and the resume, whole
    assert answer.get("result") == 20000, answer
    assert c.read_error is None  # no torn frame reached the editor
    assert c.proc.poll() is None  # the session goes on
    assert c.server_state()["pid"] == server_pid
    states = [n["params"]["state"] for n in c.notifications if n["method"] == "$/remote-lsp/link"]
    assert states == ["down", "up"]


@pytest.fixture
def small_disk():
    """A tmpfs of our own: full, or read-only, on demand."""
    if os.getuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    import tempfile

    mounts = []

    def make(options: str) -> Path:
        path = Path(tempfile.mkdtemp(prefix="rl-disk-", dir="/tmp"))
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip("cannot mount a tmpfs here: %s" % done.stderr.strip())
        mounts.append(path)
        return path

    yield make
    for path in mounts:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)
        path.rmdir()


def _run(home: Path, project: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, REMOTE_LSP_HOME=str(home))
    return subprocess.run([sys.executable, str(PROXY), "run", "--root", str(project), "--", "pylsp"],
                          env=env, capture_output=True, text=True, timeout=60)


def test_full_disk_is_a_clear_error(small_disk, project):
    disk = small_disk("size=64k,mode=0700")
    filler = disk / "filler"
    fd = os.open(str(filler), os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass  # full
    finally:
        os.close(fd)
    done = _run(disk / "state", project)
    assert done.returncode == 1
    assert "the agent could not start: %s: no space left on the device" % (disk / "state") in done.stderr
    assert "Traceback" not in done.stderr
    # Nothing half-made is left to confuse the next run...
    assert not (disk / "state" / "agent.sock").exists()
    assert not (disk / "state" / "agent.pid").exists()
    assert not subprocess.run(["pgrep", "-f", str(disk)], capture_output=True).stdout
    # ...which works as soon as there is room.
    filler.unlink()
    done = _run(disk / "state", project)
    assert done.returncode == 0, done.stderr
    pid = int(done.stdout)
    subprocess.run([sys.executable, str(PROXY), "stop", "--agent"], capture_output=True, timeout=60,
                   env=dict(os.environ, REMOTE_LSP_HOME=str(disk / "state")))
    wait_for(lambda: not pid_alive(pid), 15, "pylsp to stop with its agent")


def test_unwritable_state_directory_is_a_clear_error(small_disk, project, tmp_path):
    disk = small_disk("ro,mode=0700")
    done = _run(disk / "state", project)
    assert done.returncode == 1
    assert ("cannot use the state directory: %s: Read-only file system" % (disk / "state")
            in done.stderr)
    assert "REMOTE_LSP_HOME" in done.stderr and "Traceback" not in done.stderr
    # A state path that runs through a regular file.
    (tmp_path / "file").write_text("")
    done = _run(tmp_path / "file" / "state", project)
    assert done.returncode == 1 and "Not a directory" in done.stderr
    assert "Traceback" not in done.stderr

"""The agent itself: started on demand without races, private to its user."""

import os
import shutil
import socket
import subprocess
import sys
import threading

from tests.conftest import PROXY, pid_alive


def test_five_concurrent_first_connects_make_one_agent_and_one_server(agent, scripted, project):
    argv, env, _ = scripted
    clients = [agent.client(argv, str(project), name="c%d" % i, env=env) for i in range(5)]
    results = []
    threads = [threading.Thread(target=lambda c=c: results.append(c.initialize(str(project))))
               for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 5
    status = agent.status()
    assert len(status["instances"]) == 1
    assert len(status["instances"][0]["clients"]) == 5
    agents = subprocess.run(["pgrep", "-f", "remote_lsp agent"], capture_output=True, text=True)
    mine = [int(p) for p in agents.stdout.split()
            if str(agent.home) in open("/proc/%s/environ" % p, "rb").read().decode(errors="replace")]
    assert mine == [status["agent"]["pid"]]


def test_state_is_private(agent, scripted, project):
    argv, env, _ = scripted
    c = agent.client(argv, str(project), env=env)
    c.initialize(str(project))
    assert os.stat(agent.home).st_mode & 0o777 == 0o700
    assert os.stat(agent.home / "agent.sock").st_mode & 0o777 == 0o600


def _as_user(user, code):
    def demote():
        os.setgid(user.pw_gid)
        os.setgroups([])
        os.setuid(user.pw_uid)
    # The system python: the intruder cannot read root's own interpreter.
    python = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")
    return subprocess.run([python, "-c", code], preexec_fn=demote, capture_output=True,
                          text=True, timeout=30, cwd="/", env={"PATH": "/usr/bin:/bin"})


def test_another_user_is_refused(agent, scripted, project, intruder):
    argv, env, _ = scripted
    c = agent.client(argv, str(project), env=env)
    c.initialize(str(project))
    sock_path = str(agent.home / "agent.sock")
    probe = ("import socket,sys\ns=socket.socket(socket.AF_UNIX)\n"
             "try:\n s.connect(%r)\nexcept OSError as e:\n print('denied', e.errno); sys.exit(0)\n"
             "try:\n s.sendall(b'{\"op\":\"run\",\"argv\":[\"/usr/bin/touch\",\"/tmp/rlsp-pwned\"]}\\n')\n"
             "except BrokenPipeError:\n pass  # refused and closed already; the refusal is still to read\n"
             "print(s.makefile().readline())\n" % sock_path)
    # Normally the 0700 directory keeps other users away from the socket.
    out = _as_user(intruder, probe)
    assert out.stdout.startswith("denied 13"), out
    # Even with the directory opened up by mistake, the agent checks the peer.
    os.chmod(agent.home.parent, 0o755)
    os.chmod(agent.home, 0o755)
    os.chmod(sock_path, 0o666)
    out = _as_user(intruder, probe)
    assert "refused: this agent serves uid 0 only" in out.stdout, out
    assert not os.path.exists("/tmp/rlsp-pwned")
    assert len(agent.status()["instances"]) == 1


def test_stale_socket_is_replaced(agent, scripted, project):
    agent.home.mkdir(mode=0o700, parents=True)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(agent.home / "agent.sock"))
    stale.close()  # a socket file with nobody listening, as after a crash
    argv, env, _ = scripted
    c = agent.client(argv, str(project), env=env)
    c.initialize(str(project))
    assert pid_alive(agent.agent_pid())


def test_usage_errors(agent):
    for args, code, text in (
        (["connect"], 2, "give the server command after --"),
        (["frobnicate"], 2, "invalid choice"),
        (["connect", "--idle-timeout", "soon", "--", "pylsp"], 2, "expected seconds or 'never'"),
        (["stop"], 2, "give a PID, --all or --agent"),
    ):
        proc = subprocess.run([sys.executable, str(PROXY), *args], env=agent.env,
                              capture_output=True, text=True, timeout=30)
        assert proc.returncode == code, (args, proc.stderr)
        assert text in proc.stderr
    assert not (agent.home / "agent.sock").exists()  # nothing was started

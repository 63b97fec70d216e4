"""Bad input at every command: a clear one-line error, the contract's exit
code, and nothing changed (no agent started, no server, no file written,
nothing run by a shell)."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import PROXY

MARKER = "/tmp/rlsp-bad-input-ran"
SHELL = "$(touch %s)" % MARKER
HUGE = "a" * 100_000
HUGE_PID = "9" * 30

CASES = [
    # pids
    (["attach", ""], 2, "invalid int value"),
    (["attach", "abc"], 2, "invalid int value"),
    (["attach", "0"], 3, "no process with pid 0"),
    (["attach", "-5"], 3, "no process with pid -5"),
    (["attach", "999999999"], 3, "no process with pid 999999999"),
    (["attach", HUGE_PID], 3, "no process with pid " + HUGE_PID),
    (["attach", "1;touch %s" % MARKER], 2, "invalid int value"),
    (["attach", HUGE], 2, "invalid int value"),
    (["release", SHELL], 2, "invalid int value"),
    (["stop", SHELL], 2, "invalid int value"),
    (["connect", "--pid", SHELL], 2, "invalid int value"),
    # paths
    (["run", "--root", SHELL, "--", "pylsp"], 2, "is not a directory"),
    (["run", "--root", "/nonexistent/dir", "--", "pylsp"], 2, "is not a directory"),
    (["run", "--root", HUGE, "--", "pylsp"], 2, "is not a directory"),
    (["connect", "--root", "", "--", "pylsp"], 2, "is not a directory"),
    (["attach", "1", "--root", SHELL], 2, "is not a directory"),
    # hosts
    (["--host", SHELL, "status"], 2, "invalid host"),
    (["--host", "", "status"], 2, "invalid host '': empty"),
    (["--host", "-oProxyCommand=touch %s" % MARKER, "status"], 2, "invalid host"),
    (["--host", "a b", "list"], 2, "invalid host"),
    (["--host", "x;touch %s" % MARKER, "connect", "--", "pylsp"], 2, "invalid host"),
    (["--host", HUGE, "status"], 2, "longer than 300 characters"),
    (["--host", "user@host:99999", "status"], 2, "port must be a number"),
    # server names and commands
    (["processes", "(unclosed"], 2, "invalid pattern"),
    (["processes", "--", SHELL], 2, "the following arguments are required: pattern"),
    (["run", "--", SHELL], 1, "command not found on this host"),
    (["run", "--", ""], 1, "command not found on this host"),
    (["run", "--"], 2, "give the server command after --"),
    (["connect", "--idle-timeout", SHELL, "--", "pylsp"], 2, "expected seconds or 'never'"),
    (["attach", "1", "--method", SHELL], 2, "invalid choice"),
    # logs and health checks
    (["log", "--lines", "0"], 2, "must be 1 or more"),
    (["log", "--lines", SHELL], 2, "expected a number of lines"),
    (["log", "--server", SHELL], 2, "invalid int value"),
    (["log", "--server", "999999999"], 3, "no language server with pid 999999999"),
    (["log", "--server", "1", "--name", "x"], 2, "--server PID or --name NAME, not both"),
    (["log", "--root", "/tmp"], 2, "--root goes with --name"),
    (["doctor", "--server", "x", "[" + SHELL], 2, "is not a JSON array"),
    (["doctor", "--server", "x", '["a", 1]'], 2, "must be an array of strings"),
    (["doctor", "--server", "x", ""], 2, "an empty server command"),
    (["doctor", "--server", "x", "'unclosed"], 2, "cannot split"),
    (["doctor", "--timeout", "0"], 2, "must be more than 0 seconds"),
    (["--host", "h", "connect", "--protocol", "ftp", "--", "pylsp"], 2, "--protocol must be one of scp"),
]


def _case_id(value):
    return str(value)[:40] if isinstance(value, (str, list)) else None


@pytest.mark.parametrize("args,code,text", CASES, ids=_case_id)
def test_bad_input_is_refused_and_changes_nothing(agent, tmp_path, args, code, text):
    proc = subprocess.run([sys.executable, str(PROXY), *args], env=agent.env, cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == code, proc.stderr
    assert text in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("remote-lsp") and len(proc.stderr) < 2 * len(HUGE)
    assert not os.path.exists(MARKER)
    if code != 1:  # refused before anything started
        assert not (agent.home / "agent.sock").exists()
    else:
        assert agent.status()["instances"] == []


def test_json_errors_are_json(agent):
    proc = subprocess.run([sys.executable, str(PROXY), "attach", "999999999", "--json"], env=agent.env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3
    assert json.loads(proc.stdout)["error"] == {"code": 3, "message": "no process with pid 999999999"}


def test_odd_server_names_stay_out_of_file_names(agent, scripted, project):
    argv, _env, _ = scripted
    for name in (SHELL, "../../escape", "", "x" * 5000):
        pid = int(agent.cli("run", "--name", name, "--root", str(project), "--", *argv).stdout)
        agent.cli("stop", str(pid))
    logs = os.listdir(agent.home / "logs")
    assert len(logs) == 4 and all("/" not in n and len(n) < 100 for n in logs)
    assert not os.path.exists(MARKER)
    assert not (agent.home.parent / "escape").exists()

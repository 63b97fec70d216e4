"""The editor's file channel as the system tests open it: `remote-lsp --host
HOST files` over the test sshd, as a plain JSON-RPC client."""

import base64
import sys

from tests.conftest import PROXY
from tests.support.lspclient import LspClient


def channel(remote, transport="openssh", *opts):
    c = LspClient([sys.executable, str(PROXY), "--host", remote.alias, "--transport", transport, "files",
                   *opts], env=remote.env, name="files")
    remote.clients.append(c)
    return c


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()

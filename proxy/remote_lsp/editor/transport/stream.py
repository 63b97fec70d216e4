"""A connection to a socket on the host, as a `RemoteProcess` with no process:
the agent's socket, forwarded by the ssh connection, so reaching it starts
nothing on the host."""

import socket
from typing import Optional

from remote_lsp.editor.transport import ChannelProcess, OnData, OnEof
from remote_lsp.wire.fdio import FdChannel


class SocketStream(ChannelProcess):
    def __init__(self, sock: socket.socket) -> None:
        self._sock: Optional[socket.socket] = sock
        self._channel: Optional[FdChannel] = None

    def start(self, on_data: OnData, on_eof: OnEof) -> None:
        assert self._sock is not None
        fd = self._sock.detach()  # the channel's now, both ways
        self._sock = None
        self._channel = FdChannel(fd, fd, on_data, lambda exc: on_eof())

    async def wait(self) -> int:
        return 0

    def stderr(self) -> str:
        return ""

    def kill(self) -> None:
        if self._channel is not None:
            self._channel.abort()
        elif self._sock is not None:
            self._sock.close()

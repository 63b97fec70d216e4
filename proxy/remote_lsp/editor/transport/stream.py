"""A connection to a socket on the host, as a `RemoteProcess` with no process:
the agent's socket, forwarded by the ssh connection, so reaching it starts
nothing on the host."""

import socket
from typing import Optional

from remote_lsp.editor.transport import OnData, OnEof, RemoteProcess
from remote_lsp.wire.channel import Channel


class SocketStream(RemoteProcess):
    def __init__(self, sock: socket.socket) -> None:
        self._sock: Optional[socket.socket] = sock
        self._channel: Optional[Channel] = None

    def start(self, on_data: OnData, on_eof: OnEof) -> None:
        assert self._sock is not None
        fd = self._sock.detach()  # the channel's now, both ways
        self._sock = None
        self._channel = Channel(fd, fd, on_data, lambda exc: on_eof())

    def write(self, data: bytes) -> None:
        if self._channel is not None:
            self._channel.write(data)

    def write_eof(self) -> None:
        if self._channel is not None:
            self._channel.shutdown_write()

    async def wait(self) -> int:
        return 0

    def stderr(self) -> str:
        return ""

    def kill(self) -> None:
        if self._channel is not None:
            self._channel.abort()
        elif self._sock is not None:
            self._sock.close()

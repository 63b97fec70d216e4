"""A non-blocking byte channel on raw fds, driven by the event loop.

Used for the two hot paths (editor <-> agent, agent <-> server). It is
asyncio's own readiness callbacks without the transport layer on top: a read
callback calls os.read, and a write goes straight to os.write, buffering only
when the peer is slow. That halves the agent's CPU per message.
"""

import asyncio
import collections
import fcntl
import os
import socket
import stat
from typing import Callable, Deque, Optional, Union

READ_SIZE = 64 * 1024  # small reads stay cheap; a full one means read on
PIPE_SIZE = 1024 * 1024
READS_PER_WAKE = 64  # then others get their turn
WRITEV_MAX = 64  # buffers handed to one writev when a backlog goes out
_F_SETPIPE_SZ = 1031  # Linux; fcntl.F_SETPIPE_SZ only exists from Python 3.10


def _widen_pipe(fd: int) -> None:
    """A large response crosses a 64 KiB pipe in many small steps, each a
    wake-up of both ends; 1 MiB cuts that sixteen-fold. Best effort."""
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            fcntl.fcntl(fd, _F_SETPIPE_SZ, PIPE_SIZE)
    except OSError:
        pass  # not Linux, or over /proc/sys/fs/pipe-max-size


async def wait_readable(fd: int, timeout: float) -> None:
    """Until `fd` has something to read (asyncio.TimeoutError after `timeout`)."""
    loop = asyncio.get_event_loop()
    ready = loop.create_future()
    loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
    try:
        await asyncio.wait_for(ready, timeout)
    finally:
        loop.remove_reader(fd)


class FdChannel:
    def __init__(self, fd_in: int, fd_out: int, on_data: Callable[[bytes], None],
                 on_close: Callable[[Optional[BaseException]], None],
                 on_written: Optional[Callable[[], None]] = None) -> None:
        self._loop = asyncio.get_event_loop()
        self._on_written = on_written  # called when part of a backlog has gone out
        self.fd_in = fd_in
        self.fd_out = fd_out
        self._on_data = on_data
        self._on_close = on_close
        # What the peer has not taken yet: the frames themselves (the first one
        # as a view past what went out), never copied into one buffer, which
        # would move the rest of a large answer after every partial write.
        # Each write() is one item, never split or joined: so `cut` can say how
        # much of the one item the peer has in part is still to go.
        self._pending: Deque[Union[bytes, memoryview]] = collections.deque()
        self._backlog = 0
        self._started = False  # the first pending item is the rest of one partly written
        self._closing = False
        self._eof_after_flush = False
        self.out_closed = False
        self.closed = False
        self._done: Optional[asyncio.Future] = None  # made by wait_closed
        for fd in (fd_in, fd_out):
            os.set_blocking(fd, False)
            _widen_pipe(fd)
        self._loop.add_reader(fd_in, self._readable)

    def write(self, data: bytes) -> None:
        if self._closing or self.closed or self._eof_after_flush or not data:
            return
        if self._pending:
            self._pending.append(data)
            self._backlog += len(data)
            return
        try:
            n = os.write(self.fd_out, data)
        except BlockingIOError:
            n = 0
        except OSError as exc:
            self._fail(exc)
            return
        if n < len(data):
            self._pending.append(memoryview(data)[n:])
            self._backlog = len(data) - n
            self._started = n > 0
            self._loop.add_writer(self.fd_out, self._writable)

    @property
    def backlog(self) -> int:
        """Bytes written to us that the peer has not taken yet."""
        return self._backlog

    @property
    def cut(self) -> int:
        """Bytes still to go of the one write() the peer has taken only part
        of (0 when what it took ends where a write() ended)."""
        return len(self._pending[0]) if self._started else 0

    def shutdown_write(self) -> None:
        """Send end-of-file once what was written has gone out; keep reading."""
        self._eof_after_flush = True
        if not self._pending:
            self._close_out()

    def _close_out(self) -> None:
        if self.out_closed:
            return
        self.out_closed = True
        self._loop.remove_writer(self.fd_out)
        if self.fd_out != self.fd_in:
            os.close(self.fd_out)
            return
        sock = socket.socket(fileno=self.fd_out)  # one socket both ways: half-close it
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            sock.detach()

    def close(self) -> None:
        """Stop reading; close once what was written has gone out."""
        if self._closing or self.closed:
            return
        self._closing = True
        self._loop.remove_reader(self.fd_in)
        if not self._pending:
            self._finish(None)

    def abort(self) -> None:
        """Close now, dropping what the peer has not taken (a stalled peer
        would hold a close forever); the owner is told, as at end of input."""
        self._fail(None)

    async def wait_closed(self, timeout: float) -> bool:
        """After close(): wait until what was written has gone out (True), or
        give up after `timeout` seconds (False) so a peer that stopped reading
        cannot hold us forever."""
        if self.closed:
            return True
        if self._done is None:
            self._done = self._loop.create_future()
        try:
            await asyncio.wait_for(asyncio.shield(self._done), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    def _readable(self) -> None:
        # Each read goes to the owner as it is (joining the reads of a large
        # answer would copy all of it once more); a full read means read on.
        for _ in range(READS_PER_WAKE):
            try:
                data = os.read(self.fd_in, READ_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._fail(exc)
                return
            if not data:
                if not self.closed:
                    self._fail(None)
                return
            self._on_data(data)
            if len(data) < READ_SIZE or self._closing or self.closed:
                return

    def _writable(self) -> None:
        pending = self._pending
        try:
            if len(pending) == 1:
                n = os.write(self.fd_out, pending[0])
            else:
                n = os.writev(self.fd_out, [pending[i] for i in range(min(len(pending), WRITEV_MAX))])
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fail(exc)
            return
        self._backlog -= n
        while n:
            first = pending[0]
            if n < len(first):
                pending[0] = memoryview(first)[n:]
                self._started = True
                break
            n -= len(first)
            pending.popleft()
            self._started = False
        if not self._pending:
            self._loop.remove_writer(self.fd_out)
            if self._closing:
                self._finish(None)
                return
            if self._eof_after_flush:
                self._close_out()
                return
        if self._on_written is not None:
            self._on_written()

    def _fail(self, exc: Optional[BaseException]) -> None:
        """End of input or a broken pipe: close at once and tell the owner."""
        self._pending.clear()
        self._backlog = 0
        self._started = False
        self._closing = True
        self._finish(exc, notify=True)

    def _finish(self, exc: Optional[BaseException], notify: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        self._loop.remove_reader(self.fd_in)
        fds = {self.fd_in}
        if not self.out_closed:
            self._loop.remove_writer(self.fd_out)
            fds.add(self.fd_out)
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass
        if self._done is not None and not self._done.done():
            self._done.set_result(None)
        if notify:
            self._on_close(exc)

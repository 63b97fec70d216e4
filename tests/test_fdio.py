"""The write queue of FdChannel on a real pipe, against a model of the byte
stream: whatever the peer takes, when, and in what pieces, it reads every
write whole and in order, and `backlog` and `cut` say exactly what is left."""

import asyncio
import fcntl
import os
import termios
from typing import List, Tuple

from hypothesis import given, settings
from hypothesis import strategies as st
from remote_lsp.wire import fdio

PAGE = 4096  # the smallest pipe the kernel makes: full after a few writes

step = st.one_of(
    st.tuples(st.just("write"), st.integers(1, 3 * PAGE)),
    st.tuples(st.just("drain"), st.integers(1, 4 * PAGE)),  # the peer reads up to this many bytes
    st.tuples(st.just("turn"), st.just(0)),  # the loop runs a turn without the peer reading
)


def _in_pipe(fd: int) -> int:
    return int.from_bytes(fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"), "little")


async def _run(steps: List[Tuple[str, int]]) -> None:
    r, w = os.pipe()
    quiet_r, quiet_w = os.pipe()  # the channel's input: nothing comes
    got = bytearray()
    written = bytearray()  # the model: every write, in order
    ends: List[int] = []  # where each write ends in the stream
    chan = fdio.FdChannel(quiet_r, w, lambda data: None, lambda exc: None)
    fcntl.fcntl(w, fdio._F_SETPIPE_SZ, PAGE)
    os.set_blocking(r, False)
    try:
        for i, (op, n) in enumerate(steps):
            if op == "write":
                data = bytes([i % 251]) * n
                written += data
                ends.append(len(written))
                chan.write(data)
            elif op == "drain":
                try:
                    got += os.read(r, n)
                except BlockingIOError:
                    pass
            await asyncio.sleep(0)  # the channel's writer runs if the pipe has room
            out = len(got) + _in_pipe(r)  # what the channel has handed to the pipe
            assert bytes(got) == bytes(written[:len(got)])
            assert chan.backlog == len(written) - out
            boundary = next((e for e in ends if e >= out), out)
            assert chan.cut == boundary - out
        while len(got) < len(written):  # the peer reads on: everything arrives
            try:
                got += os.read(r, 65536)
            except BlockingIOError:
                pass
            await asyncio.sleep(0)
        assert bytes(got) == bytes(written)
        assert chan.backlog == 0 and chan.cut == 0
    finally:
        chan.abort()
        os.close(r)
        os.close(quiet_w)


@settings(max_examples=150, deadline=None)
@given(st.lists(step, max_size=60))
def test_every_write_reaches_the_peer_whole_and_in_order(steps):
    asyncio.run(_run(steps))

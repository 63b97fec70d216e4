"""A slow network for the benchmarks and the demo: a TCP proxy on 127.0.0.1
that holds every chunk for a fixed time in each direction before passing it
on, in order, in front of the test sshd (`tc netem` is not available here).
A user 30 ms away is `Delay(sshd.port, EACH_WAY)`; `distant_sshd` starts an sshd
with such a proxy in front of it, under an alias of its own."""

import asyncio
import os
import socket
import sys
import threading
from pathlib import Path
from typing import Optional, Tuple

from tests.support.sshd import ALIAS, Sshd

EACH_WAY = 0.015  # seconds each way: a 30 ms round trip


class Delay:
    def __init__(self, target_port: int, each_way: float) -> None:
        self.target_port = target_port
        self.each_way = each_way
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._server: Optional[asyncio.AbstractServer] = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the delaying proxy did not start")

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        for w in (writer, up_writer):
            w.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        except asyncio.CancelledError:  # the proxy is closing: an end like any other
            for w in (writer, up_writer):
                w.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Each chunk leaves `each_way` after it came, in the order it came."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Optional[tuple]] = asyncio.Queue()

        async def send() -> None:
            while True:
                item = await queue.get()
                if item is None:
                    break
                due, data = item
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()
            writer.close()

        sender = asyncio.ensure_future(send())
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                queue.put_nowait((loop.time() + self.each_way, data))
        except OSError:
            pass
        queue.put_nowait(None)
        try:
            await sender
        except OSError:
            pass

    def close(self) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._loop.stop()

        self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(stop()))
        self._thread.join(10)


def add_alias(sshd, alias: str, port: int) -> None:
    """An ssh alias for the same sshd through `port` (the proxy), with its
    host key known under that address too: verified, never auto-accepted."""
    key = " ".join(sshd.host_pub.split()[:2])
    with open(sshd.known_hosts, "a") as f:
        f.write("[127.0.0.1]:%d %s\n" % (port, key))
    config = sshd.home / ".ssh" / "config"
    text = config.read_text()
    first = text.split("Host 127.0.0.1\n")[0]  # the test alias's block: the same keys and user
    block = first.replace("Host %s\n" % ALIAS, "Host %s\n" % alias, 1).replace(
        "Port %d\n" % sshd.port, "Port %d\n" % port, 1)
    config.write_text(block + text)


def distant_sshd(folder: Path, alias: str, each_way: float = EACH_WAY) -> Tuple[Sshd, Delay]:
    """A test sshd in `folder` (made here), reached through a Delay as `alias`
    (and directly as the test alias): stop both after."""
    folder.mkdir()
    path = os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"])
    sshd = Sshd(folder, path).start()
    delay = Delay(sshd.port, each_way)
    add_alias(sshd, alias, delay.port)
    return sshd, delay

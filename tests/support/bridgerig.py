"""The bridge's parts, in process: a real editor on pipes, and a host side
played by the test (the one fake: a transport whose processes the test
answers for), assembled as Bridge assembles them."""

import asyncio
import json
import os
from types import SimpleNamespace
from typing import Any, Callable, Dict, List, Optional

from remote_lsp.editor.editor_side import EditorSide
from remote_lsp.editor.endpoint import Endpoint
from remote_lsp.editor.linkstate import CONNECTING, End, LinkLife
from remote_lsp.editor.recovery import Recovery
from remote_lsp.editor.remote import READY
from remote_lsp.editor.transport import RemoteProcess
from remote_lsp.wire import framing, link
from remote_lsp.wire.uri import UriMapper

from tests.support.waiting import until


class HostProcess(RemoteProcess):
    """One run of the host side, as the test plays it: what the bridge wrote, and `say` for its answers."""

    def __init__(self) -> None:
        self.written = bytearray()
        self.killed = False
        self._on_data: Callable[[bytes], None] = lambda data: None
        self._on_eof: Callable[[], None] = lambda: None

    def start(self, on_data: Any, on_eof: Any) -> None:
        self._on_data, self._on_eof = on_data, on_eof

    def write(self, data: bytes) -> None:
        self.written += data

    def write_eof(self) -> None:
        self._on_eof()

    async def wait(self) -> int:
        return 0

    def stderr(self) -> str:
        return ""

    def kill(self) -> None:
        self.killed = True

    def say(self, data: bytes) -> None:
        self._on_data(data)

    def close(self) -> None:
        self._on_eof()

    def bodies(self) -> List[Dict[str, Any]]:
        return [json.loads(b) for b in framing.FrameParser().feed(bytes(self.written))]

    def session_bodies(self) -> List[Dict[str, Any]]:
        """What the bridge sent of the session (not the link's own frames)."""
        return [b for b in self.bodies() if "$link" not in b]


class HostTransport:
    host = SimpleNamespace(text="h")

    def __init__(self) -> None:
        self.procs: List[HostProcess] = []

    async def exec(self, command: str) -> HostProcess:
        proc = HostProcess()
        self.procs.append(proc)
        return proc

    def known_agent(self) -> Optional[str]:
        return None

    def remember_agent(self, path: str) -> None:
        pass

    def reset(self) -> None:
        pass


def welcome(resumed: bool = False, received: int = 0, reason: str = "") -> bytes:
    return READY + link.control("welcome", token="T", resumed=resumed, received=received, reason=reason)


def frame(msg: Dict[str, Any]) -> bytes:
    return framing.encode(json.dumps(msg).encode())


class Rig:
    """EditorSide, Endpoint and Recovery over a HostTransport, with an editor on pipes."""

    def __init__(self, request_timeout: float = 10.0, root: Optional[str] = None,
                 answer_when_down: bool = False) -> None:
        self.transport = HostTransport()
        self.lost: List[str] = []
        self.life = LinkLife()
        self.editor = EditorSide("h", UriMapper("scp", "h"), root, "srv", lambda f: self.endpoint.send(f),
                                 lambda: None, self.life.hurry)
        self.endpoint = Endpoint(self.transport, ["connect"], 15.0, None, self.editor,  # type: ignore[arg-type]
                                 self._lost, lambda phase: None)
        self.recovery = Recovery(self.endpoint, self.editor, self.life, request_timeout, answer_when_down)
        to_bridge, self._editor_w = os.pipe()
        self._editor_r, from_bridge = os.pipe()
        os.set_blocking(self._editor_r, False)
        self.editor.open(to_bridge, from_bridge)
        self._parser = framing.FrameParser()
        self.received: List[Any] = []
        self._closed = False

    def _lost(self, end: End) -> None:
        self.lost.append(end.reason)
        self.recovery.lost(end)

    def up(self, welcomed: Dict[str, Any]) -> None:
        """The first connection, welcomed: the link is up (as Bridge.run has it)."""
        self.recovery.linked(welcomed)
        if self.life.state == CONNECTING:
            self.recovery.up()

    @property
    def host(self) -> HostProcess:
        return self.transport.procs[-1]

    async def connect(self, answer: bytes) -> Dict[str, Any]:
        """Connect (the first time or again), the host answering `answer`; the welcome."""
        task = asyncio.ensure_future(self.endpoint.connect(self.editor.pipeline, self.editor.unpipeline))
        count = len(self.transport.procs)
        await until(lambda: len(self.transport.procs) > count, "the host side to be started")
        self.host.say(answer)
        return await asyncio.wait_for(task, 10)

    def send(self, msg: Dict[str, Any]) -> None:
        """The editor writes a message."""
        os.write(self._editor_w, frame(msg))

    def messages(self) -> List[Any]:
        """What the editor has read so far (an undecodable frame as "undecodable")."""
        while not self._closed:
            try:
                data = os.read(self._editor_r, 1 << 16)
            except BlockingIOError:
                break
            if not data:
                break
            for body in self._parser.feed(data):
                try:
                    self.received.append(json.loads(body))
                except ValueError:
                    self.received.append("undecodable")
        return self.received

    def close(self) -> None:
        """Done: what the editor got stays in `received`."""
        self.messages()
        self._closed = True
        self.recovery.cancel()
        self.endpoint.kill()
        os.close(self._editor_w)
        os.close(self._editor_r)



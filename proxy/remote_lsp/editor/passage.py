"""What the bridge writes to the editor: whole frames, and large answers
passed on as they arrive.

A large answer (references on a big project, a long completion list) goes
to the editor piece by piece as it comes from the host, not after its last
byte, so the editor reads while the rest is still on the way. While one is
part-way out nothing else may reach the editor (it would land inside it):
other frames wait here until it is complete.

If the link dies part-way, the host sends that frame again once the session
resumes (it is the first one the bridge had not received whole), and the
bytes the editor already has are skipped. If it cannot come again (a new
session, the end of the session), or the editor must not wait for it any
longer (the outage outlasted the request bound), it is broken off: filled out
with spaces to the length its header gave (the editor reads one frame it
cannot decode), and its request answered with an error after it.
"""

from typing import Any, Callable, List, Optional

from remote_lsp.wire import framing, jsonrpc


class _Passage:
    """A large answer part-way to the editor."""

    def __init__(self, rid: Any, length: int) -> None:
        self.rid = rid
        self.length = length  # of its body, as its header told the editor
        self.passed = 0  # bytes of the body the editor has
        self.skip = 0  # bytes of the frame coming in that the editor has already


class EditorOut:
    def __init__(self, write: Callable[[bytes], None]) -> None:
        self._write = write
        self._waiting: List[bytes] = []  # whole frames held while a passage is part-way
        self._passage: Optional[_Passage] = None

    def frame(self, body: bytes) -> None:
        frame = framing.encode(body)
        if self._passage is not None:
            self._waiting.append(frame)
        else:
            self._write(frame)

    @property
    def resending(self) -> bool:
        """Is the next large frame from the host the one part-way out when the link died?"""
        return self._passage is not None

    def begin(self, rid: Any, head: bytes, length: int) -> None:
        """The head of a large answer to request `rid`: pass it on."""
        assert self._passage is None
        self._passage = _Passage(rid, length)
        self._write(framing.header(length))
        self.more(head)

    def again(self, head: bytes, length: int) -> bool:
        """The head of the frame part-way out, sent again after a resume: what
        the editor has of it is skipped. False (and the old one broken off)
        if it is another frame, which cannot happen short of a bug."""
        passage = self._passage
        assert passage is not None
        if passage.length != length:
            self.break_off("remote-lsp: the answer did not come again after the link was back; ask again")
            return False
        passage.skip = passage.passed
        self.more(head)
        return True

    def more(self, data: bytes) -> None:
        """Bytes of the large answer on its way (none once it was broken off)."""
        passage = self._passage
        if passage is None:
            return
        if passage.skip:
            cut = min(passage.skip, len(data))
            passage.skip -= cut
            data = data[cut:]
        if data:
            passage.passed += len(data)
            self._write(data)
        if passage.passed >= passage.length and not passage.skip:
            self._passage = None
            self._flush()

    def break_off(self, why: str) -> Any:
        """The rest of the answer part-way out will not come (in time): fill it
        out, and answer its request with an error. The id of that request, or
        None: the bridge drops the answer if it comes after all."""
        passage, self._passage = self._passage, None
        if passage is None:
            return None
        self._write(b" " * (passage.length - passage.passed))
        self._write(framing.encode(jsonrpc.encode(jsonrpc.error(passage.rid, jsonrpc.INTERNAL_ERROR, why))))
        self._flush()
        return passage.rid

    def _flush(self) -> None:
        waiting, self._waiting = self._waiting, []
        for frame in waiting:
            self._write(frame)

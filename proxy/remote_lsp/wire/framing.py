"""LSP base protocol framing: `Content-Length` headers around JSON bodies.

The parser is a pure state machine fed with whatever bytes arrive, so it
handles partial reads and many messages per read alike, and is shared by every
transport (pipes, sockets, FIFOs). It never parses JSON: that is dispatch's job.
"""

import re
from typing import Callable, List, Optional, Tuple

DEFAULT_MAX_FRAME = 64 * 1024 * 1024

_HEADER_END = b"\r\n\r\n"
# A header block we can trust: header lines only, one of them Content-Length.
_CONTENT_LENGTH = re.compile(rb"(?im)^content-length[ \t]*:[ \t]*(\d+)[ \t\r]*$")
_HEADER_LINE = re.compile(rb"^[A-Za-z][A-Za-z0-9-]*[ \t]*:[^\r\n]*$")
_RESYNC = re.compile(rb"(?i)content-length[ \t]*:")
_RESYNC_KEEP = b"Content-Length:"
_MAX_HEADER = 8192
_CANONICAL = b"Content-Length: "
COLLECT_FROM = 64 * 1024  # a body this large is gathered read by read
ENDS = 256  # bytes kept of each end of a frame read past (see FrameParser)
# Told of a frame read past: its length, and its first and last bytes (up to ENDS of each).
OnOversized = Callable[[int, bytes, bytes], None]


class FramingError(Exception):
    """The peer broke the base protocol (garbage, or a frame over the limit).
    `bodies`: the whole frames that came before the break in the same feed."""

    bodies: List[bytes] = []


class FrameParser:
    """Turns a byte stream into message bodies.

    strict=True (client connections): any garbage is an error, so a broken
    client is dropped. strict=False (server output, which may start
    mid-message after an attach): skip to the next `Content-Length` header.

    A frame over `max_frame` is an error, unless `on_oversized` is given: then
    it is read past as it arrives (never held whole) and `on_oversized` gets
    its length and ends, so the peer that sent it can be answered and go on.
    """

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME, strict: bool = True,
                 on_oversized: Optional[OnOversized] = None) -> None:
        self.max_frame = max_frame
        self.strict = strict
        self._on_oversized = on_oversized
        self._skip_left = 0  # bytes still to read past of a frame over the limit
        self._past: Tuple[int, bytes, bytes] = (0, b"", b"")  # its length, first and last bytes
        self.skipped = 0  # bytes discarded while resynchronising
        self._buf = bytearray()
        self._need: Optional[int] = None  # body length once the header is read
        # A large body's reads, kept as they came and joined once at its end
        # (growing one buffer would copy it over and over).
        self._parts: Optional[List[bytes]] = None
        self._have = 0

    def feed(self, data: bytes) -> List[bytes]:
        """Add bytes; return every complete body now available, in order."""
        out: List[bytes] = []
        if self._skip_left:
            data = self._read_past(data)
            if self._skip_left:
                return out
        if self._parts is not None:
            data = self._collect(data, out)
            if self._parts is not None:
                return out
        self._buf += data
        while True:
            try:
                header = self._need is not None or self._read_header()
            except FramingError as exc:
                exc.bodies = out
                raise
            if not header:
                return out
            if self._skip_left:  # a frame over the limit began: read past what is buffered of it
                rest = self._read_past(bytes(self._buf))
                self._buf = bytearray(rest)
                if self._skip_left:
                    return out
                continue
            need = self._need
            assert need is not None
            if len(self._buf) < need:
                if need >= COLLECT_FROM:
                    self._parts, self._have = [bytes(self._buf)], len(self._buf)
                    self._buf = bytearray()
                return out
            out.append(self._body(need))

    def _collect(self, data: bytes, out: List[bytes]) -> bytes:
        """One more read of a large body; the bytes after it, once it is whole."""
        assert self._parts is not None and self._need is not None
        self._parts.append(data)
        self._have += len(data)
        extra = self._have - self._need
        if extra < 0:
            return b""
        rest = b""
        if extra:
            self._parts[-1], rest = data[:len(data) - extra], data[len(data) - extra:]
        out.append(b"".join(self._parts))
        self._parts, self._need = None, None
        return rest

    def _body(self, size: int) -> bytes:
        """The next `size` bytes of the buffer, taken out; the header is read anew after."""
        with memoryview(self._buf) as view:
            body = bytes(view[:size])
        del self._buf[:size]
        self._need = None
        return body

    def _read_header(self) -> bool:
        """Consume one header block; False when more bytes are needed."""
        if not self._buf:
            return False  # the usual end of a read: every frame in it taken
        if self._buf.startswith(_CANONICAL):
            # The header nearly every peer sends: no regex needed.
            end = self._buf.find(_HEADER_END, len(_CANONICAL), 40)
            digits = self._buf[len(_CANONICAL):end]
            if end > 0 and digits.isdigit():
                return self._take(end, int(digits))
        while True:
            if not self.strict and not self._skip_to_content_length():
                return False
            end = self._buf.find(_HEADER_END)
            if end < 0:
                if len(self._buf) > _MAX_HEADER:
                    self._reject(b"header too long")
                    continue
                return False
            block = bytes(self._buf[:end])
            match = _CONTENT_LENGTH.search(block)
            if match is None or not all(_HEADER_LINE.match(x) for x in block.split(b"\r\n")):
                self._reject(block[:60])
                continue
            return self._take(end, int(match.group(1)))

    def _take(self, header_end: int, length: int) -> bool:
        if length > self.max_frame and self._on_oversized is None:
            # Refused even when resynchronising: the limit is what keeps one
            # peer from exhausting the agent's memory.
            raise FramingError("frame of %d bytes is over the %d byte limit" % (length, self.max_frame))
        del self._buf[: header_end + len(_HEADER_END)]
        if length > self.max_frame:
            self._skip_left, self._past = length, (length, b"", b"")
            return True
        self._need = length
        return True

    def _read_past(self, data: bytes) -> bytes:
        """Drop the next bytes of a frame over the limit, keeping its ends;
        what follows it is returned."""
        piece, rest = data[:self._skip_left], data[self._skip_left:]
        length, head, tail = self._past
        if len(head) < ENDS:
            head += piece[:ENDS - len(head)]
        tail = (tail + piece[-ENDS:])[-ENDS:]
        self._skip_left -= len(piece)
        self._past = (length, head, tail)
        if not self._skip_left:
            self._past = (0, b"", b"")
            assert self._on_oversized is not None
            self._on_oversized(length, head, tail)
        return rest

    def _skip_to_content_length(self) -> bool:
        """Drop bytes before the next Content-Length; False if none is buffered."""
        found = _RESYNC.search(self._buf)
        if found is None:
            keep = len(_RESYNC_KEEP)  # a header split across reads
            cut = max(0, len(self._buf) - keep)
            self.skipped += cut
            del self._buf[:cut]
            return False
        self.skipped += found.start()
        del self._buf[: found.start()]
        return True

    def _reject(self, sample: bytes) -> None:
        if self.strict:
            raise FramingError("malformed frame header: %r" % sample)
        # Step past this false start; the loop then finds the next header.
        self.skipped += 1
        del self._buf[:1]


WHOLE, HEAD, MORE = "whole", "head", "more"
Piece = Tuple[str, bytes, int]


class PieceParser(FrameParser):
    """For a relay: a frame of `large` bytes or more comes out as it arrives,
    so it can be passed on before its last byte is here.

    pieces() returns, in order: (WHOLE, body, len) for a smaller frame;
    (HEAD, first bytes of the body, the body's whole length) when a large
    frame's header and at least `peek` bytes of it are in, then (MORE,
    bytes, bytes still to come after these) until that is 0. The head may
    hold the whole body (then nothing follows it).
    """

    def __init__(self, large: int = COLLECT_FROM, peek: int = 256, **kwargs) -> None:
        super().__init__(**kwargs)
        self.large = large
        self.peek = peek
        self._left = 0  # bytes of a large body still to come

    def pieces(self, data: bytes) -> List[Piece]:
        out: List[Piece] = []
        if self._left:
            piece = data if len(data) <= self._left else data[:self._left]
            self._left -= len(piece)
            out.append((MORE, piece, self._left))
            data = data[len(piece):]
        self._buf += data
        while not self._left:
            if self._need is None and not self._read_header():
                break
            need = self._need
            assert need is not None
            have = len(self._buf)
            if have >= need and need < self.large:
                out.append((WHOLE, self._body(need), need))
            elif need >= self.large and have >= min(need, self.peek):
                head = self._body(min(need, have))
                self._left = need - len(head)
                out.append((HEAD, head, need))
            else:
                break
        return out


def header(length: int) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % length


def encode(body: bytes) -> bytes:
    """One whole frame; written with a single write so frames never interleave."""
    return header(len(body)) + body

"""Linux inotify through ctypes (the standard library has no binding).

`Inotify()` raises OSError where inotify is missing or refused (another OS,
a seccomp profile, the instance limit); `add` raises OSError with errno
ENOSPC when fs.inotify.max_user_watches is reached.
"""

import os
import struct
from typing import Any, Iterator, Optional, Tuple

IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_UNMOUNT = 0x00002000
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
IN_EXCL_UNLINK = 0x04000000
IN_ISDIR = 0x40000000

# What a directory watch asks for: entries created, written, removed, renamed,
# and the directory itself going away.
DIR_MASK = (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
            | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK)

_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = os.O_CLOEXEC
_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len
Event = Tuple[int, int, int, str]  # wd, mask, cookie, name ("" for the directory itself)

_libc: Any = None


def _lib() -> Any:
    """libc's inotify functions (ctypes is loaded only when a watch is made)."""
    global _libc
    if _libc is None:
        import ctypes
        import ctypes.util

        lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        for name in ("inotify_init1", "inotify_add_watch", "inotify_rm_watch"):
            if not hasattr(lib, name):
                raise OSError("this system has no %s" % name)
        lib.inotify_init1.argtypes = [ctypes.c_int]
        lib.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        lib.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
        _libc = lib
    return _libc


def _fail(what: str, path: str = "") -> OSError:
    import ctypes

    err = ctypes.get_errno()
    return OSError(err, "%s: %s" % (what, os.strerror(err)), path or None)


class Inotify:
    """One inotify instance: a non-blocking fd to read events from."""

    def __init__(self) -> None:
        if os.environ.get("REMOTE_LSP_NO_INOTIFY"):  # tests and benchmarks force the fallback
            raise OSError("inotify disabled by REMOTE_LSP_NO_INOTIFY")
        try:
            lib = _lib()
        except (OSError, AttributeError) as exc:
            raise OSError("inotify is not available: %s" % exc) from None
        fd = lib.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if fd < 0:
            raise _fail("inotify_init1")
        self.fd = fd
        self._lib = lib

    def add(self, path: str, mask: int = DIR_MASK) -> int:
        wd = self._lib.inotify_add_watch(self.fd, os.fsencode(path), mask)
        if wd < 0:
            raise _fail("inotify_add_watch", path)
        return wd

    def remove(self, wd: int) -> None:
        self._lib.inotify_rm_watch(self.fd, wd)  # fails only for a watch already gone: nothing to do

    def read(self) -> Iterator[Event]:
        """Every event queued now (none: an empty iterator)."""
        while True:
            try:
                data = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return
            if not data:
                return
            pos = 0
            while pos + _HEADER.size <= len(data):
                wd, mask, cookie, length = _HEADER.unpack_from(data, pos)
                pos += _HEADER.size
                name = os.fsdecode(data[pos:pos + length].rstrip(b"\0"))
                pos += length
                yield wd, mask, cookie, name

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def max_user_watches() -> Optional[int]:
    """fs.inotify.max_user_watches, None where it cannot be read."""
    try:
        with open("/proc/sys/fs/inotify/max_user_watches") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None

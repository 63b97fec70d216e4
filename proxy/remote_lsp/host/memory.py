"""Memory given back to the system after large transfers.

A file read or written through the agent passes through it as several
whole-file buffers (bytes, base64, JSON), each dropped once its request is
answered; some only when the garbage collector breaks a reference cycle, and
an idle agent makes too few objects for it to run. What is freed, glibc keeps
in its heaps, and after the first large block is freed it raises the size
from which blocks get mappings of their own to 32 MB: an agent that moved a
few 40 MB files would keep 100 MB and more for good. So, from the first large
transfer on, large blocks are mapped on their own (unmapped when freed), and
once transfers have ended (SETTLE seconds without one) cycles are collected
and the heaps trimmed. Elsewhere than glibc only the collection is done.
"""

import asyncio
import gc
from typing import Any, Optional

LARGE = 1 << 20  # a transfer this large is followed by giving back
SETTLE = 0.5  # seconds after the last large transfer
_MMAP_THRESHOLD = -3  # mallopt's M_MMAP_THRESHOLD
_MAPPED_FROM = 256 << 10
_libc: Any = None  # the C library once loaded; False where it is not glibc
_pending: Optional[asyncio.TimerHandle] = None


def _glibc() -> Optional[Any]:
    global _libc
    if _libc is None:
        try:
            import ctypes  # loaded with the first large transfer only

            lib = ctypes.CDLL(None)
            trim, mallopt = lib.malloc_trim, lib.mallopt
            mallopt(_MMAP_THRESHOLD, _MAPPED_FROM)  # fixed: no longer raised as blocks are freed
            trim.argtypes = [ctypes.c_size_t]
            _libc = lib
        except (OSError, AttributeError):
            _libc = False
    return _libc or None


def transferred(size: int) -> None:
    """`size` bytes went through a request just answered (on the event loop)."""
    global _pending
    if size < LARGE:
        return
    _glibc()
    if _pending is not None:
        _pending.cancel()
    _pending = asyncio.get_running_loop().call_later(SETTLE, give_back)


def give_back() -> None:
    """Collect what reference cycles hold, and trim the heaps."""
    global _pending
    _pending = None
    gc.collect()
    lib = _glibc()
    if lib is not None:
        lib.malloc_trim(0)

"""Waiting for an event with a deadline, never a sleep standing in for readiness.

`wait_for` polls from a test's thread; `until` from a coroutine, letting the event
loop run in between. Both return the check's first true value, and raise
TimeoutError naming what was awaited.
"""

import asyncio
import time
from typing import Any, Callable, Iterator


def _delays(first: float, most: float) -> Iterator[float]:
    """A poll's pauses: short at first (the event is often near), then at most `most`."""
    delay = first
    while True:
        yield delay
        delay = min(delay * 2, most)


def wait_for(pred: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    """Poll a cheap check until it holds, with a deadline (for state that has no event)."""
    deadline = time.monotonic() + timeout
    for delay in _delays(0.01, 0.2):
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("timed out waiting for %s" % what)
        time.sleep(delay)
    raise AssertionError("unreachable")


async def until(pred: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    """Let the loop run until `pred()` holds, within a deadline."""
    deadline = time.monotonic() + timeout
    for delay in _delays(0.005, 0.02):
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("timed out waiting for %s" % what)
        await asyncio.sleep(delay)
    raise AssertionError("unreachable")

"""Background tasks that are neither lost to the garbage collector nor silent."""

import asyncio
import logging
from typing import Any, Coroutine, Set

log = logging.getLogger("remote_lsp")
_running: Set["asyncio.Future[Any]"] = set()


def background(coro: Coroutine[Any, Any, Any]) -> "asyncio.Future[Any]":
    """Run `coro` on its own; keep a reference until it ends; log its failure."""
    task = asyncio.ensure_future(coro)
    _running.add(task)
    task.add_done_callback(_finished)
    return task


def _finished(task: "asyncio.Future[Any]") -> None:
    _running.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("background task failed", exc_info=task.exception())

"""The logs a user reads when something went wrong: the agent's, and each
server's own stderr (logs/NAME-MS.log in the state directory, one file per
server process, NAME made safe for a file name, MS its start in ms).

`last_words` picks what a server said before it ended, for a message: the end
of its stderr, without the stack backtrace that some programs print after the
error itself (rustup and anyhow with RUST_BACKTRACE, Go's goroutine dumps,
Node's `at` lines).
"""

import re
from pathlib import Path
from typing import List, Optional

from remote_lsp.wire.paths import StatePaths

READ_LIMIT = 1 << 20  # bytes read from the end of a log, at most
LINE_LIMIT = 300  # characters of one line in a message

_STACK_START = re.compile(r"^\s*(stack )?backtrace:\s*$|^goroutine \d+ \[", re.IGNORECASE)
_FRAME = re.compile(r"^\s+(at |\d+: )|^\s*\d+: ")


def safe_name(name: str) -> str:
    """The user's name for a server (--name), as a file name may hold it."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:64] or "server"


def server_log(paths: StatePaths, name: str, started: float) -> Path:
    return paths.logs / ("%s-%d.log" % (safe_name(name), int(started * 1000)))


def newest_server_log(paths: StatePaths, name: str) -> Optional[Path]:
    """The log of the last server of that name started here (it may have ended)."""
    prefix = safe_name(name) + "-"
    best: Optional[Path] = None
    best_ms = -1
    try:
        candidates = list(paths.logs.iterdir())
    except OSError:
        return None
    for path in candidates:
        stamp = path.name[len(prefix):-len(".log")]
        if path.name.startswith(prefix) and path.name.endswith(".log") and stamp.isdigit() \
                and int(stamp) > best_ms:
            best, best_ms = path, int(stamp)
    return best


def tail(path: Path, count: int) -> List[str]:
    """The last `count` lines of a file (of its last MB); [] if it cannot be read."""
    try:
        with open(str(path), "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - READ_LIMIT))
            data = f.read()
    except OSError:
        return []
    lines = data.decode("utf-8", errors="replace").splitlines()
    if size > READ_LIMIT and lines:
        lines = lines[1:]  # it begins mid-line
    return lines[-count:] if count > 0 else []


def last_words(path: Optional[Path], count: int = 5) -> List[str]:
    """Up to `count` lines a server wrote last to stderr, backtraces left out."""
    if path is None:
        return []
    lines = [line.rstrip() for line in tail(path, 200) if line.strip()]
    starts = [i for i, line in enumerate(lines) if _STACK_START.match(line)]
    if starts and starts[-1] > 0:
        lines = lines[:starts[-1]]
    while len(lines) > 1 and _FRAME.match(lines[-1]):
        lines.pop()
    return [line[:LINE_LIMIT] for line in lines[-count:]]

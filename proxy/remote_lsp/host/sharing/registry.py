"""The durable registry: one small JSON file per instance, so the next agent
can take over the servers of one that died (or handed over).

Each file is replaced atomically (a temp file, then rename) on every change
that matters to a successor: the server's identity and FIFOs, its idle policy,
the cached InitializeResult and registrations, an adopted server's spare fds,
the documents open at the server (URIs and versions, never text) and the
server's requests waiting on a client. A file that cannot be read, or whose
record is ill-typed, is skipped with a log line and removed: a bad file never
keeps an agent from starting.

The record is typed and versioned like the control records (wire/control.py):
`InstanceRecord`, written with its `format`. Format 1 (remote-lsp 0.2, the
same keys untyped, `isolation` possibly absent) still reads; a newer format is
skipped (a newer agent hands over to none older).
"""

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from remote_lsp.wire.control import from_dict
from remote_lsp.wire.errors import RemoteLspError

log = logging.getLogger("remote_lsp.registry")

FORMAT = 2  # bumped when a record's meaning changes
READS = (1, FORMAT)  # the formats this code takes over from


@dataclass
class InstanceRecord:
    """What a successor needs to serve a server again (never document text)."""

    entry: str = ""  # names the file and the FIFOs
    argv: List[str] = field(default_factory=list)
    root: str = ""
    name: str = ""
    pid: int = 0
    start_ticks: int = 0  # with pid, names the process (a reused pid is another)
    started: float = 0.0
    adopted: bool = False  # attached by PID: given back, never stopped, when the agent goes
    attached: Optional[Dict[str, Any]] = None  # an adopted server's saved state, for `release`
    fifos: List[str] = field(default_factory=list)  # its stdin's and its stdout's
    idle_timeout: Optional[float] = None  # None: never
    isolation: str = ""  # "": shared
    generation: int = 0  # each agent numbers its requests to the server in a range of its own
    owed: int = 0  # bytes of a frame to the server cut short, still to write
    log: Optional[str] = None  # the server's stderr
    init_result: Optional[Dict[str, Any]] = None
    initialized_sent: bool = False
    registrations: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    documents: List[Dict[str, Any]] = field(default_factory=list)  # uri and version at the server
    server_requests: List[List[Any]] = field(default_factory=list)  # [server id, the answer it gets]


class Registry:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, entry: str) -> Path:
        return self.directory / ("%s.json" % entry)

    def save(self, entry: str, record: InstanceRecord) -> None:
        """Atomic replace. A full disk is logged, not fatal: the server runs on."""
        path = self.path(entry)
        tmp = path.with_suffix(".tmp")
        try:
            self.directory.mkdir(mode=0o700, exist_ok=True)
            fd = os.open(str(tmp), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(dict(asdict(record), format=FORMAT), f, separators=(",", ":"))
            os.replace(str(tmp), str(path))
        except OSError as exc:
            log.warning("cannot write the registry entry %s: %s", path, exc)

    def remove(self, entry: str) -> None:
        for path in (self.path(entry), self.path(entry).with_suffix(".tmp")):
            _unlink(path)

    def load_all(self) -> List[Tuple[str, InstanceRecord]]:
        """Every readable entry; an unreadable one is logged and removed."""
        out = []
        try:
            names = sorted(p.name for p in self.directory.iterdir())
        except FileNotFoundError:
            return []
        for name in names:
            path = self.directory / name
            if name.endswith(".tmp"):  # half-written by an agent that died
                _unlink(path)
                continue
            if not name.endswith(".json"):
                continue
            try:
                obj = json.loads(path.read_text())
                if not isinstance(obj, dict) or obj.get("format") not in READS:
                    raise ValueError("not a registry record of format %s" % " or ".join(map(str, READS)))
                record = from_dict(InstanceRecord, obj, "registry record")
            except (OSError, ValueError, RemoteLspError) as exc:
                log.warning("skipped the registry entry %s: %s", path, exc)
                self.remove(name[:-5])
                continue
            out.append((name[:-5], record))
        return out


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("cannot remove %s: %s", path, exc)

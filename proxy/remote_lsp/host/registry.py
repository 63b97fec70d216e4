"""The durable registry: one small JSON file per instance, so the next agent
can take over the servers of one that died (or handed over).

Each file is replaced atomically (a temp file, then rename) on every change
that matters to a successor: the server's identity and FIFOs, its idle policy,
the cached InitializeResult and registrations, an adopted server's spare fds,
the documents open at the server (URIs and versions, never text) and the
server's requests waiting on a client. A file that cannot be read is skipped
with a log line and removed: a bad file never keeps an agent from starting.
"""

import json
import logging
import os
from pathlib import Path
from typing import Any, Dict, List, Tuple

log = logging.getLogger("remote_lsp.registry")

FORMAT = 1  # bumped when a record's meaning changes; other formats are skipped


class Registry:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, entry: str) -> Path:
        return self.directory / ("%s.json" % entry)

    def save(self, entry: str, record: Dict[str, Any]) -> None:
        """Atomic replace. A full disk is logged, not fatal: the server runs on."""
        path = self.path(entry)
        tmp = path.with_suffix(".tmp")
        try:
            self.directory.mkdir(mode=0o700, exist_ok=True)
            fd = os.open(str(tmp), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(dict(record, format=FORMAT), f, separators=(",", ":"))
            os.replace(str(tmp), str(path))
        except OSError as exc:
            log.warning("cannot write the registry entry %s: %s", path, exc)

    def remove(self, entry: str) -> None:
        for path in (self.path(entry), self.path(entry).with_suffix(".tmp")):
            _unlink(path)

    def load_all(self) -> List[Tuple[str, Dict[str, Any]]]:
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
                record = json.loads(path.read_text())
                if not isinstance(record, dict) or record.get("format") != FORMAT:
                    raise ValueError("not a registry record of format %d" % FORMAT)
            except (OSError, ValueError) as exc:
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

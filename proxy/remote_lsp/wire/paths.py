"""Where the agent keeps its state, and making sure nobody else can reach it.

The directory is 0700 and owned by us; sockets and FIFOs inside are 0600.
"""

import os
import stat
from pathlib import Path

from remote_lsp.wire.errors import Refused, RemoteLspError, describe_state_error


def state_dir() -> Path:
    """$REMOTE_LSP_HOME, else $XDG_RUNTIME_DIR/remote-lsp, else ~/.cache/remote-lsp."""
    explicit = os.environ.get("REMOTE_LSP_HOME")
    if explicit:
        return Path(explicit)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return Path(runtime) / "remote-lsp"
    return Path.home() / ".cache" / "remote-lsp"


def ensure_private_dir(path: Path) -> Path:
    """Create `path` 0700, or check an existing one is ours and make it 0700."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise Refused("%s is not a directory" % path)
    if st.st_uid != os.getuid():
        raise Refused("%s belongs to uid %d, not to us (uid %d)" % (path, st.st_uid, os.getuid()))
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(path, 0o700)
    return path


class StatePaths:
    """The files of one agent's state directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.socket = root / "agent.sock"
        self.lock = root / "agent.lock"
        self.pid = root / "agent.pid"
        self.log = root / "agent.log"
        self.logs = root / "logs"  # one stderr log per server
        self.fifos = root / "fifos"  # every server's stdin and stdout
        self.registry = root / "instances"  # one record per server, for a successor agent
        self.writes = root / "writes"  # the journal of file writes in progress (files/disk.py)

    @classmethod
    def default(cls) -> "StatePaths":
        return cls(state_dir())

    def prepare(self) -> "StatePaths":
        try:
            ensure_private_dir(self.root)
            ensure_private_dir(self.logs)
        except OSError as exc:
            raise RemoteLspError("cannot use the state directory: %s" % describe_state_error(exc)) from None
        return self


def remove_files(*paths: str) -> None:
    """Remove what of `paths` exists (a dangling symlink included)."""
    for path in paths:
        if path and os.path.lexists(path):
            os.unlink(path)

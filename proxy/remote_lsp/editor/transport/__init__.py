"""Editor-side transports: how the editor reaches a host (openssh, paramiko).

A transport runs one command line on the host and hands back a
`RemoteProcess`: bytes in, bytes out, an exit code and its stderr. openssh
can also reach a socket on the host (`stream`: the agent's, once a session
has named it) through its shared connection, starting nothing there. Both
transports verify host keys and never prompt: a prompt would hang the editor.
A host that asks for a password, a key passphrase or a second factor is
refused at once, with the fixes named (`would_prompt`); a key ssh could not
use (missing, too open, unreadable) is named as such (`refused`).
"""

import os
import re
from pathlib import Path
from typing import Callable, List, Optional

from remote_lsp.editor.hosts import HostSpec
from remote_lsp.wire.errors import UsageError
from remote_lsp.wire.fdio import FdChannel

OnData = Callable[[bytes], None]
OnEof = Callable[[], None]
CONNECT_TIMEOUT = 10  # seconds to reach the host at all
# Seconds for the SSH handshake once connected: a host coming back from an
# outage may hold a new connection in its accept queue for a while.
HANDSHAKE_TIMEOUT = 30


class RemoteProcess:
    """One command running on the host."""

    def start(self, on_data: OnData, on_eof: OnEof) -> None:
        raise NotImplementedError

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def write_eof(self) -> None:
        raise NotImplementedError

    async def wait(self) -> int:
        raise NotImplementedError

    def stderr(self) -> str:
        raise NotImplementedError

    def kill(self) -> None:
        raise NotImplementedError


class ChannelProcess(RemoteProcess):
    """A remote process whose bytes go through the FdChannel its `start` makes."""

    _channel: Optional[FdChannel] = None

    def write(self, data: bytes) -> None:
        if self._channel is not None:
            self._channel.write(data)

    def write_eof(self) -> None:
        if self._channel is not None:
            self._channel.shutdown_write()


class Transport:
    name = ""
    # Exit status that means "ssh itself failed", not the remote command.
    ssh_failure: Optional[int] = None

    def __init__(self, host: HostSpec, state_dir: Path) -> None:
        self.host = host
        self.state_dir = state_dir

    async def exec(self, command: str) -> RemoteProcess:
        raise NotImplementedError

    async def stream(self, path: str) -> Optional[RemoteProcess]:
        """A connection to the Unix socket `path` on the host, with no process
        started there; None where this transport cannot make one."""
        return None

    def known_agent(self) -> Optional[str]:
        """The agent's socket on this host, as its last welcome named it."""
        return None

    def remember_agent(self, path: str) -> None:
        pass

    def reset(self) -> None:
        """Drop any connection kept for reuse: it may be stalled (blocking)."""

    def abort(self) -> None:
        """Give up a connection being made now (from any thread): the editor left."""

    def close(self) -> None:
        pass


# What ssh says when it needed to ask the user something, BatchMode being on.
_PROMPT_WORDS = ("Permission denied", "passphrase", "Too many authentication failures",
                 "keyboard-interactive", "Authentication failed", "authentication failed")


def needs_prompt(text: str) -> bool:
    return any(word in text for word in _PROMPT_WORDS)


# What ssh says of a key it could not use, and that in words a user can act on.
_KEY_PROBLEMS = (
    (re.compile(r"no such identity: (.+?): No such file or directory"), "the key file %s does not exist"),
    (re.compile(r"Permissions \S+ for '(.+?)' are too open"),
     "the key file %s is readable by others, so ssh will not use it (chmod 600 it)"),
    (re.compile(r'Load key "(.+?)": invalid format'), "the key file %s is not a private key ssh can read"),
)
# The methods a host offers when it refuses: `Permission denied (publickey,password).`
_DENIED = re.compile(r"Permission denied \(([^)]*)\)")


def key_problems(text: str) -> List[str]:
    """The key files ssh could not use, as its output names them."""
    return [words % m.group(1) for rx, words in _KEY_PROBLEMS for m in rx.finditer(text)]


def refused(host: str, detail: str, transport: str) -> str:
    """The message for a host that refused us: a key problem if ssh named one,
    or the host takes keys only; else the host wants what only a person can
    type (`would_prompt`)."""
    keys = key_problems(detail)
    denied = _DENIED.search(detail)
    only_keys = denied is not None and set(denied.group(1).split(",")) <= {"publickey"}
    if not keys and not only_keys:
        return would_prompt(host, detail, transport)
    said = "; ".join(keys) if keys else "no key offered was accepted"
    if only_keys:
        said += ", and the host accepts public keys only (%s)" % denied.group(0)
    return ("ssh %s: %s. remote-lsp never prompts. Fixes: point IdentityFile (in your ssh config) at a key "
            "the host accepts (`ssh-copy-id %s` installs one), or put that key in ssh-agent (`ssh-add`; a "
            "key with a passphrase needs it); %s" % (host, said, host, _ride(host, transport)))


def would_prompt(host: str, detail: str, transport: str) -> str:
    """The message for a host that wants what only a person can type."""
    return ("ssh %s: %s. The host wants a password, a key passphrase or a second factor, and remote-lsp "
            "never prompts (a prompt would hang the editor). Fixes: put your key in ssh-agent (`ssh-add`, "
            "and a key the host accepts, see `ssh-copy-id %s`); %s"
            % (host, detail.strip().rstrip("."), host, _ride(host, transport)))


def _ride(host: str, transport: str) -> str:
    """The fix for a host only a person can log in to: ride their connection."""
    ride = ("or open one connection yourself, once, with a ControlMaster in your own ssh config "
            "(`Host %s` with `ControlMaster auto`, `ControlPath ~/.ssh/cm-%%C`, `ControlPersist 1h`, then "
            "`ssh %s` and answer its questions): remote-lsp rides that connection while it is open"
            % (host, host))
    if transport != "openssh":
        ride = "or use transport openssh with a ControlMaster you open once (paramiko cannot ride one)"
    return ride


def ssh_config_path() -> Path:
    """The ssh config both transports read: $REMOTE_LSP_SSH_CONFIG, else
    ~/.ssh/config (by $HOME, so a test's HOME is honoured by ssh too)."""
    return Path(os.environ.get("REMOTE_LSP_SSH_CONFIG") or os.path.expanduser("~/.ssh/config"))


def make_transport(name: str, host: HostSpec, state_dir: Path) -> Transport:
    if name == "openssh":
        from remote_lsp.editor.transport.openssh import OpenSSH

        return OpenSSH(host, state_dir)
    if name == "paramiko":
        from remote_lsp.editor.transport.paramiko_ssh import ParamikoSSH

        return ParamikoSSH(host, state_dir)
    raise UsageError("unknown transport %r (openssh or paramiko)" % name)

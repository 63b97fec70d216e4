"""`connect`'s options and their defaults, defined once.

The command line (cli.py) takes its defaults and its parsing of "never" from
here; the editor's bridge passes the options on to the host side as flags
(`to_argv`) and asks the agent's socket with the same values (a ConnectRequest,
wire/control.py, whose defaults are these); the host side reads them back with
`from_args`.
"""

from dataclasses import dataclass, fields
from typing import Any, List, Optional

NEVER = "never"  # an idle timeout: keep the server with no client (None in a record)


@dataclass
class ConnectOptions:
    root: Optional[str] = None  # None: the client's workspace, else the nearest project marker
    name: Optional[str] = None  # a name for the server in listings
    pid: Optional[int] = None  # join the managed server with this pid
    isolated: bool = False  # an instance of its own, shared with nobody
    idle_timeout: Optional[float] = 600.0  # seconds a server outlives its last client; None: never
    protocol: str = "scp"  # over the network: the editor's URI scheme for remote files (wire/uri.py)
    heartbeat: float = 15.0  # over the network: seconds of silence after which the link is dead
    grace: float = 600.0  # over the network: seconds the host keeps a session while its link is down
    request_timeout: float = 10.0  # over the network: an outage this long answers waiting requests


DEFAULTS = ConnectOptions()
# Given on the host side only by the bridge, for a session over the network.
NETWORK = ("protocol", "heartbeat", "grace", "request_timeout")


def parse_idle_timeout(text: str) -> Optional[float]:
    """Seconds, or "never" (None). ValueError for anything else."""
    if text == NEVER:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError("expected seconds or %r, got %r" % (NEVER, text)) from None
    if value < 0:
        raise ValueError("idle timeout must be >= 0")
    return value


def idle_words(value: Optional[float]) -> str:
    """An idle timeout as the command line spells it."""
    return NEVER if value is None else "%g" % value


def from_args(args: Any) -> ConnectOptions:
    """The options of a parsed `connect` command line. The network's are None
    there when not given (the host side refuses them without the bridge): their
    defaults are filled in here."""
    given = {f.name: getattr(args, f.name) for f in fields(ConnectOptions)}
    return ConnectOptions(**{k: v for k, v in given.items() if v is not None or k not in NETWORK})


def to_argv(opts: ConnectOptions) -> List[str]:
    """The same options as `connect` flags, for the host side's command line."""
    out = ["--idle-timeout", idle_words(opts.idle_timeout), "--protocol", opts.protocol,
           "--heartbeat", repr(opts.heartbeat), "--grace", repr(opts.grace)]
    if opts.root:
        out += ["--root", opts.root]
    if opts.name:
        out += ["--name", opts.name]
    if opts.pid is not None:
        out += ["--pid", str(opts.pid)]
    if opts.isolated:
        out += ["--isolated"]
    return out

"""The agent's control protocol: typed, versioned records over a Unix socket.

A caller (`connect`, the CLI) sends one request as one JSON line, optionally
with file descriptors attached (SCM_RIGHTS); the agent answers with one reply
line. For `connect` the caller passes its own stdin and stdout, so the editor's
bytes flow straight into the agent; the socket then stays open as a lifeline
and carries a `SessionEnd` line when the session ends. A bridge that reaches
the socket itself through ssh (a forwarded socket: `direct`) passes nothing:
after the reply line the connection carries its session.

Every request names the protocol version it speaks (`v`) and the build it
comes from. An agent hands its servers over to a newer build (replying
`HandingOver` and exiting; the next agent re-adopts them from the registry)
and refuses an older one with a message naming both. This module is the only place
that encodes or decodes the protocol: the agent and every caller use
`send`/`recv` (or `recv_async` in the agent's event loop) and the records below.
"""

import array
import json
import socket
import struct
import sys
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar, Dict, List, Optional, Tuple, Type, TypeVar, Union

from remote_lsp.wire.errors import REFUSED, USAGE, Refused, RemoteLspError
from remote_lsp.wire.options import DEFAULTS, ConnectOptions

PROTOCOL = 2  # 1 was the untyped protocol of remote-lsp 0.1, which sent no version
MAX_LINE = 1 << 20
MAX_FDS = 2  # connect passes stdin and stdout; nothing passes more
_FD_BYTES = array.array("i").itemsize


# --- requests -------------------------------------------------------------------------------


@dataclass
class Request:
    op: ClassVar[str] = ""


@dataclass
class ConnectRequest(Request):
    """Join (or start) the instance for argv + root, or the one with `pid`;
    the client's stdin and stdout come with it."""

    op: ClassVar[str] = "connect"
    argv: List[str] = field(default_factory=list)
    root: Optional[str] = None  # None: the agent decides (the client's directory)
    cwd: str = ""
    name: Optional[str] = None
    pid: Optional[int] = None
    idle_timeout: Optional[float] = DEFAULTS.idle_timeout  # None: never
    env: Dict[str, str] = field(default_factory=dict)
    isolated: bool = False  # an instance of its own, shared with nobody
    link: bool = False  # a remote editor's bridge: the session survives its connection
    heartbeat: float = DEFAULTS.heartbeat  # linked: seconds of silence after which the link is dead
    grace: float = DEFAULTS.grace  # linked: seconds the session is kept while its link is down
    where: str = ""  # this host as the client names it, for its messages ("": the client is here)
    protocol: str = ""  # linked: the editor's scheme for files here (wire/uri.py); "": file:// as here
    direct: bool = False  # linked: the session runs on this connection, no fds (a socket forwarded by ssh)

    @classmethod
    def of(cls, opts: ConnectOptions, argv: List[str], **extra: Any) -> "ConnectRequest":
        """The request for `connect`'s options (wire/options.py) and server command."""
        return cls(argv=argv, root=opts.root, name=opts.name, pid=opts.pid, isolated=opts.isolated,
                   idle_timeout=opts.idle_timeout, heartbeat=opts.heartbeat, grace=opts.grace,
                   protocol=opts.protocol, **extra)


@dataclass
class RunRequest(Request):
    """Start a shareable instance now, with no client."""

    op: ClassVar[str] = "run"
    argv: List[str] = field(default_factory=list)
    root: Optional[str] = None
    cwd: str = ""
    name: Optional[str] = None
    idle_timeout: Optional[float] = None
    env: Dict[str, str] = field(default_factory=dict)


@dataclass
class AttachRequest(Request):
    op: ClassVar[str] = "attach"
    pid: int = 0
    root: Optional[str] = None
    name: Optional[str] = None
    method: str = "auto"
    timeout: float = 10.0
    force: bool = False  # take `name` on trust: the process need not look like that server


@dataclass
class ReleaseRequest(Request):
    op: ClassVar[str] = "release"
    pid: int = 0


@dataclass
class StatusRequest(Request):
    op: ClassVar[str] = "status"


@dataclass
class StopRequest(Request):
    op: ClassVar[str] = "stop"
    pid: Optional[int] = None
    all: bool = False
    restart: bool = False  # an editor starts it again: its other clients are asked to come back too


@dataclass
class FilesRequest(Request):
    """An editor's channel for the files here (host/files/service.py): a linked
    session, as a remote connect's is; its stdin and stdout come with it,
    unless `direct` (the session runs on this connection)."""

    op: ClassVar[str] = "files"
    heartbeat: float = DEFAULTS.heartbeat
    grace: float = DEFAULTS.grace
    where: str = ""
    direct: bool = False
    request_timeout: float = DEFAULTS.request_timeout  # the editor's bound: a request past it is answered so
    search_path: str = ""  # the PATH files/locate looks commands up in, as `locate` would ("": the agent's)


@dataclass
class ShutdownRequest(Request):
    """Stop the agent itself (after `stop --all`)."""

    op: ClassVar[str] = "shutdown"


REQUESTS: Dict[str, Type[Request]] = {
    cls.op: cls for cls in (ConnectRequest, RunRequest, AttachRequest, ReleaseRequest, StatusRequest,
                            StopRequest, ShutdownRequest, FilesRequest)
}


# --- replies --------------------------------------------------------------------------------


@dataclass
class Reply:
    kind: ClassVar[str] = ""


@dataclass
class Connected(Reply):
    kind: ClassVar[str] = "connected"
    pid: int = 0
    created: bool = False
    client: int = 0
    clients: int = 0


@dataclass
class SessionEnd(Reply):
    """The last line of a connect: why the session ended; `restart` when the
    agent is going but the server lives on (connect again). Field order is
    part of the protocol: connect's shell waiter matches this line as text."""

    kind: ClassVar[str] = "end"
    failed: bool = False
    restart: bool = False
    message: str = ""


@dataclass
class HandingOver(Reply):
    """The agent is older than the caller: it hands its servers over and
    exits; the caller starts the next agent once `pid` is gone."""

    kind: ClassVar[str] = "handing-over"
    pid: int = 0


@dataclass
class Started(Reply):
    kind: ClassVar[str] = "started"
    pid: int = 0
    created: bool = False
    name: str = ""


@dataclass
class Attached(Reply):
    kind: ClassVar[str] = "attached"
    pid: int = 0
    name: str = ""
    root: str = ""
    method: str = ""
    initialized: bool = False
    ms: float = 0.0


@dataclass
class Released(Reply):
    kind: ClassVar[str] = "released"
    pid: int = 0


@dataclass
class Stopped(Reply):
    kind: ClassVar[str] = "stopped"
    stopped: List[int] = field(default_factory=list)


@dataclass
class Status(Reply):
    """The agent (pid, version, build, home, started, rss_kb) and its
    instances, each as `Instance.describe` gives it; the editors' file
    channels (`FileService.describe`)."""

    kind: ClassVar[str] = "status"
    agent: Dict[str, Any] = field(default_factory=dict)
    instances: List[Dict[str, Any]] = field(default_factory=list)
    files: Dict[str, Any] = field(default_factory=dict)


@dataclass
class Done(Reply):
    kind: ClassVar[str] = "done"


@dataclass
class Failure(Reply):
    """Any request refused or failed: the CLI's exit code and the words."""

    kind: ClassVar[str] = "error"
    code: int = 1
    message: str = ""


REPLIES: Dict[str, Type[Reply]] = {
    cls.kind: cls for cls in (Connected, SessionEnd, HandingOver, Started, Attached, Released, Stopped,
                              Status, Done, Failure)
}
Record = Union[Request, Reply]
R = TypeVar("R", bound=Reply)


# --- encoding and decoding --------------------------------------------------------------------


def encode(record: Record) -> bytes:
    """One line: `{"v":2,"from":{...},"op":...,fields}` or `{"reply":...,fields}`.
    Compact separators and field order are fixed (the shell waiter reads SessionEnd)."""
    if isinstance(record, Request):
        head: Dict[str, Any] = {"v": PROTOCOL, "from": _me(), "op": record.op}
    else:
        head = {"reply": record.kind}
    head.update(asdict(record))
    return json.dumps(head, separators=(",", ":")).encode("utf-8") + b"\n"


def _me() -> Dict[str, str]:
    from remote_lsp import __version__
    from remote_lsp.version import digest

    return {"version": __version__, "build": digest()}


def compare_client(obj: Any) -> int:
    """Who is newer: < 0 the client that sent `obj` is older than this code,
    0 the same build, > 0 newer (a newer protocol, release, or another build
    of this release: the build that is being started now wins)."""
    from remote_lsp.version import release_key

    theirs = obj.get("v") if isinstance(obj, dict) else None
    if not isinstance(theirs, int) or theirs < PROTOCOL:
        return -1
    if theirs > PROTOCOL:
        return 1
    sender = obj.get("from") if isinstance(obj.get("from"), dict) else {}
    me = _me()
    ours, their_release = release_key(me["version"]), release_key(str(sender.get("version", "")))
    if their_release != ours:
        return 1 if their_release > ours else -1
    return 0 if sender.get("build") == me["build"] else 1


def decode_request(obj: Any) -> Request:
    """A request from one decoded line (of this protocol version: see
    compare_client); RemoteLspError (usage) for anything ill-typed."""
    if not isinstance(obj, dict):
        raise RemoteLspError("control request is not a JSON object", USAGE)
    if obj.get("v") != PROTOCOL:
        raise VersionMismatch(obj)
    cls = REQUESTS.get(obj.get("op"))  # type: ignore[arg-type]
    if cls is None:
        raise RemoteLspError("unknown control request %r" % (obj.get("op"),), USAGE)
    return _build(cls, obj)


def decode_reply(obj: Any, expected: Optional[Type[R]] = None) -> R:
    """The reply a caller waits for (None: any reply); a Failure is raised as
    the error it carries, anything else unexpected is an error too."""
    if not isinstance(obj, dict):
        raise RemoteLspError("the agent sent a reply that is not a JSON object")
    if "error" in obj and "reply" not in obj:  # how remote-lsp 0.1 refused
        err = obj["error"] if isinstance(obj["error"], dict) else {}
        raise RemoteLspError(str(err.get("message", "agent error")), int(err.get("code", 1)))
    if "reply" not in obj:
        raise RemoteLspError("the agent running is from remote-lsp 0.1, which cannot hand its servers over: "
                             "stop it with that version's `remote-lsp stop --agent` (its servers stop too)",
                             REFUSED)
    cls = REPLIES.get(obj.get("reply"))  # type: ignore[arg-type]
    if cls is Failure:
        failure = _build(Failure, obj)
        raise RemoteLspError(failure.message, failure.code)
    if cls is None or (expected is not None and cls is not expected):
        raise RemoteLspError("the agent answered %r where %r was expected"
                             % (obj.get("reply"), expected.kind if expected else "a reply"))
    return _build(cls, obj)


class VersionMismatch(Refused):
    """A client older than this agent: it is refused, naming both."""

    def __init__(self, obj: Any) -> None:
        me = _me()
        v = obj.get("v") if isinstance(obj, dict) else None
        sender = obj.get("from") if isinstance(obj, dict) and isinstance(obj.get("from"), dict) else {}
        if isinstance(v, int):
            theirs = "remote-lsp %s (build %s, control protocol %d)" % (
                sender.get("version", "?"), sender.get("build", "?"), v)
        else:
            theirs = "remote-lsp 0.1 (no control protocol version)"
        super().__init__(
            "this client is %s, older than the agent, remote-lsp %s (build %s, control protocol %d); "
            "use the newer remote-lsp for this client too" % (theirs, me["version"], me["build"], PROTOCOL))


def _build(cls: Any, obj: Dict[str, Any]) -> Any:
    return from_dict(cls, obj, "control %s" % (getattr(cls, "op", "") or cls.kind))


def from_dict(cls: Any, obj: Dict[str, Any], what: str) -> Any:
    """A record (a dataclass) from a decoded JSON object: each field present
    checked against its type (RemoteLspError, usage, if one is wrong), the
    rest their defaults, unknown keys ignored."""
    values = {}
    for f in fields(cls):
        if f.name not in obj:
            continue
        value = obj[f.name]
        if not _fits(value, f.type):
            raise RemoteLspError("%s: %s has the wrong type (%r)" % (what, f.name, value), USAGE)
        values[f.name] = float(value) if f.type in (float, Optional[float]) and value is not None else value
    return cls(**values)


def _fits(value: Any, hint: Any) -> bool:
    origin = getattr(hint, "__origin__", None)
    args = getattr(hint, "__args__", ())
    if origin is Union:
        return any(_fits(value, a) for a in args)
    if hint is type(None):
        return value is None
    if hint is Any:
        return True
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin in (list, List):
        return isinstance(value, list) and all(_fits(v, args[0]) for v in value)
    if origin in (dict, Dict):
        return isinstance(value, dict) and all(_fits(k, args[0]) and _fits(v, args[1])
                                               for k, v in value.items())
    return isinstance(value, hint)


# --- the reader and the writer ------------------------------------------------------------------


def send(sock: socket.socket, record: Record, fds: Optional[List[int]] = None) -> None:
    """Write one record (blocking socket), with `fds` attached to its first byte."""
    data = encode(record)
    if fds:
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())]
        sent = sock.sendmsg([data], anc)
        data = data[sent:]
    if data:
        sock.sendall(data)


# The agent's side below imports asyncio when called: `connect` on a host
# starts on every session, and asyncio alone would add 50 ms to it.


async def send_async(sock: socket.socket, record: Record) -> None:
    """The same from the agent's event loop; a peer that went away is no error."""
    import asyncio

    try:
        await asyncio.get_running_loop().sock_sendall(sock, encode(record))
    except OSError:
        pass


class _LineReader:
    """Reads exactly one line, and any fds sent with it. With fds wanted it
    reads whole chunks (a request's sender waits for the reply, unless its
    session follows on the connection: that goes in `rest`); without, it
    peeks first so a later line (connect's SessionEnd) stays in the socket
    for whoever reads next."""

    def __init__(self, max_fds: int) -> None:
        self.max_fds = max_fds
        self.buf = b""
        self.rest = b""  # read past the line
        self.fds: List[int] = []

    def step(self, sock: socket.socket) -> Optional[Any]:
        """One read; the decoded line once complete, else None. EOFError at
        end of input (fds received so far are closed)."""
        if self.max_fds:
            data, anc, _flags, _addr = sock.recvmsg(65536, socket.CMSG_SPACE(self.max_fds * _FD_BYTES))
            self.fds.extend(_fds_from(anc))
        else:
            peek = sock.recv(65536, socket.MSG_PEEK)
            nl = peek.find(b"\n")
            data = sock.recv(nl + 1 if nl >= 0 else len(peek))
        if not data:
            self.close_fds()
            raise EOFError
        self.buf += data
        if len(self.buf) > MAX_LINE:
            self.close_fds()
            raise RemoteLspError("control line longer than %d bytes" % MAX_LINE, USAGE)
        nl = self.buf.find(b"\n")
        if nl < 0:
            return None
        self.rest = self.buf[nl + 1:]
        try:
            return json.loads(self.buf[:nl])
        except ValueError:
            self.close_fds()
            raise RemoteLspError("control line is not JSON", USAGE) from None

    def close_fds(self) -> None:
        import os

        for fd in self.fds:
            os.close(fd)
        self.fds = []


def recv(sock: socket.socket) -> Optional[Any]:
    """The next line from a blocking socket, decoded; None at end of input."""
    reader = _LineReader(0)
    try:
        while True:
            line = reader.step(sock)
            if line is not None:
                return line
    except EOFError:
        return None


async def recv_async(sock: socket.socket, timeout: float) -> Tuple[Optional[Any], List[int], bytes]:
    """The agent's side: one request line, the fds that came with it and what
    was read past the line, from a non-blocking socket. (None, [], b"") at end
    of input. (Python 3.8 has no loop.sock_recvmsg, hence the readiness wait.)"""
    from remote_lsp.wire.fdio import wait_readable

    reader = _LineReader(MAX_FDS)
    while True:
        await wait_readable(sock.fileno(), timeout)
        try:
            line = reader.step(sock)
        except BlockingIOError:
            continue
        except EOFError:
            return None, [], b""
        except BaseException:
            reader.close_fds()
            raise
        if line is not None:
            return line, reader.fds, reader.rest


def peer_credentials(sock: socket.socket) -> Tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end of a Unix socket."""
    if not sys.platform.startswith("linux"):
        raise RemoteLspError("the agent runs on Linux only (it checks its peers with SO_PEERCRED)")
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", raw)
    return pid, uid, gid


def _fds_from(ancillary: List[Tuple[int, int, bytes]]) -> List[int]:
    fds: List[int] = []
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(data) - len(data) % _FD_BYTES
            fds.extend(array.array("i", data[:usable]))
    return fds

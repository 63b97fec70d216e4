"""The agent's control protocol over its Unix socket.

A client sends one JSON line (a request with an "op"), optionally with file
descriptors attached (SCM_RIGHTS); the agent answers with JSON lines. For
`connect` the client passes its own stdin and stdout, so the editor's bytes
flow straight into the agent with no relay process in the path; the socket then
stays open only as a lifeline and carries a final line when the session ends.
"""

import array
import json
import os
import socket
import struct
from typing import Any, Dict, List, Optional, Tuple

MAX_LINE = 1 << 20
_FD_BYTES = array.array("i").itemsize


def peer_credentials(sock: socket.socket) -> Tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end of a Unix socket."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", raw)
    return pid, uid, gid


def encode_line(obj: Dict[str, Any]) -> bytes:
    # Compact separators: connect's shell waiter matches the session's end
    # line ({"end":"...","failed":true}) in exactly this form.
    return json.dumps(obj, separators=(",", ":")).encode("utf-8") + b"\n"


def send_line(sock: socket.socket, obj: Dict[str, Any], fds: Optional[List[int]] = None) -> None:
    data = encode_line(obj)
    if fds:
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())]
        sent = sock.sendmsg([data], anc)
        data = data[sent:]
    if data:
        sock.sendall(data)


def recv_line(sock: socket.socket, max_fds: int = 0) -> Tuple[Optional[Dict[str, Any]], List[int]]:
    """Read one line (blocking socket). Returns (None, []) at EOF."""
    buf = b""
    fds: List[int] = []
    while not buf.endswith(b"\n"):
        if max_fds and not fds:
            data, anc, _flags, _addr = sock.recvmsg(4096, socket.CMSG_SPACE(max_fds * _FD_BYTES))
            fds.extend(_fds_from(anc))
        else:
            data = sock.recv(4096)
        if not data:
            for fd in fds:
                os.close(fd)
            return None, []
        buf += data
        if len(buf) > MAX_LINE:
            raise ValueError("control line too long")
        if b"\n" in buf[:-1]:
            raise ValueError("one request per connection")
    return json.loads(buf), fds


def _fds_from(ancillary: List[Tuple[int, int, bytes]]) -> List[int]:
    fds: List[int] = []
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(data) - len(data) % _FD_BYTES
            fds.extend(array.array("i", data[:usable]))
    return fds

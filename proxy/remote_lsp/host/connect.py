"""`remote-lsp connect`: the stdio bridge an editor runs as its server command.

It hands its own stdin and stdout to the agent (SCM_RIGHTS) and then only
waits, as a small exec'd waiter: the editor's bytes go straight to the
agent, with no copy in between. It exits when the agent ends the session (the
editor closed stdin or sent `exit`), and the agent drops the session if this
process is killed.
"""

import fcntl
import json
import os
import stat
import sys
from typing import Any, Dict, List, Tuple

from remote_lsp.host import daemon
from remote_lsp.wire import control
from remote_lsp.wire.errors import AGENT_GONE, FAILED, OK, UsageError
from remote_lsp.wire.options import ConnectOptions
from remote_lsp.wire.paths import StatePaths


def _check_stdio() -> None:
    for fd, name in ((0, "stdin"), (1, "stdout")):
        try:
            mode = os.fstat(fd).st_mode
        except OSError:
            raise UsageError("connect needs an open %s" % name) from None
        if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)):
            raise UsageError("connect speaks LSP on %s, which must be a pipe, socket or "
                             "terminal (not a regular file)" % name)


def connect(argv: List[str], opts: ConnectOptions, link: bool = False, where: str = "") -> int:
    """`link`: the bridge of a remote editor runs us, and the session survives
    its connection (the bridge's first frame says which). `where`: this host as
    the editor names it, for the messages it gets; the options' protocol is the
    scheme of its names for files here (scp://WHERE//path), file:// without a link."""
    _check_stdio()
    request = control.ConnectRequest.of(opts, argv, cwd=os.getcwd(), env=dict(os.environ), link=link,
                                        where=where)
    if not link:
        request.protocol = ""
    sock, editor_out, reply = _hand_over(request)
    if os.environ.get("REMOTE_LSP_VERBOSE"):
        sys.stderr.write("remote-lsp: connected to %s (pid %d), %d client(s)\n"
                         % (" ".join(argv), reply.pid, reply.clients))
    _become_waiter(sock, editor_out, StatePaths.default(), last_word=not link)
    return FAILED  # not reached


def files_channel(heartbeat: float, grace: float, where: str, request_timeout: float) -> int:
    """`remote-lsp files --link`: a bridge's channel for the files here, a
    linked session of the agent's file service, on our stdin and stdout."""
    _check_stdio()
    sock, editor_out, _ = _hand_over(control.FilesRequest(heartbeat=heartbeat, grace=grace, where=where,
                                                          request_timeout=request_timeout,
                                                          search_path=os.environ.get("PATH", "")))
    _become_waiter(sock, editor_out, StatePaths.default(), last_word=False)
    return FAILED  # not reached


def _hand_over(request: control.Request) -> Tuple[Any, int, control.Connected]:
    """Give the agent our stdin and stdout for the session `request` asks for:
    the control socket, a copy of stdout kept for a last word, the reply."""
    sock, reply = daemon.request(request, control.Connected, autostart=True, fds=[0, 1])
    # The agent holds the editor's pipes now. Ours go (stdin must not keep
    # the editor's writes alive), but one copy of stdout stays for a last
    # word should the agent die: the editor sees end-of-file when we exit.
    editor_out = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    return sock, editor_out, reply


# From here on this process only waits for the session to end, and an editor
# session keeps it for its whole life: so it becomes a shell (0.5 MB, against
# 4.6 MB for even a bare Python). fd 3 is the control socket: the agent sends
# one line when the session ends, and end-of-file without it means the agent
# died. fd 4 is the editor's stdout, for a last word then. Exit codes
# (wire/errors.py, written into the script): OK a normal end, FAILED a failed
# session, AGENT_GONE the agent went away and the server lives on, so
# connecting again finds it. The failure text is the message of the agent's
# SessionEnd line, taken out by its fixed framing (control.encode); printf's %b
# turns its JSON \n, \t and \\ back into what they were (a quote keeps its
# JSON backslash).
WAITER_SHELL = "/bin/sh"
_WAITER_SCRIPT = r"""
trap 'exit OK' TERM INT HUP
if ! IFS= read -r line <&3; then
  printf '%s' "$1" >&4
  printf '%s\n' "$2" >&2
  exit AGENT_GONE
fi
case $line in
  '{"reply":"end","failed":true,"restart":'*)
    text=${line#'{"reply":"end","failed":true,"restart":'}
    code=FAILED
    case $text in true,*) code=AGENT_GONE;; esac
    text=${text#*,'"message":"'}
    printf '%b\n' "${text%'"}'}" >&2
    exit $code;;
esac
""".replace("AGENT_GONE", str(AGENT_GONE)).replace("FAILED", str(FAILED)).replace("OK", str(OK))


def _become_waiter(sock: Any, editor_out: int, paths: StatePaths, last_word: bool) -> None:
    """exec the waiter, the control socket on its fd 3 and the editor's stdout on 4.
    `last_word`: tell the editor if the agent dies (a bridge finds out by itself)."""
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (sock.fileno(), editor_out)]
    for target, fd in zip((3, 4), high):
        os.dup2(fd, target)  # inheritable, unlike everything else we hold
        os.close(fd)
    note = _agent_died_note(paths)
    body = json.dumps(note)  # ASCII, so its length in characters is its length in bytes
    frame = "Content-Length: %d\r\n\r\n%s" % (len(body), body) if last_word else ""
    text = note["params"]["message"]
    os.execv(WAITER_SHELL, [WAITER_SHELL, "-c", _WAITER_SCRIPT, "remote-lsp", frame, text])


def _agent_died_note(paths: StatePaths) -> Dict[str, Any]:
    """What the editor is told if the agent goes away without ending the
    session: its pending requests will never be answered."""
    text = ("remote-lsp: the agent ended unexpectedly; requests in flight are lost. The language server "
            "runs on: connect again and a new agent takes it over (log: %s)" % paths.log)
    return {"jsonrpc": "2.0", "method": "window/showMessage", "params": {"type": 1, "message": text}}

"""Running remote-lsp on a host: bootstrap, upload on first use, run.

The host-side zipapp lives at CACHE/bin/remote-lsp-HASH.pyz (CACHE is
$REMOTE_LSP_CACHE, else ~/.cache/remote-lsp). A small POSIX sh script runs
it, or says it is missing (exit 75) so we upload it (to a temp file, then
rename; unpacked beside it, so bytecode gets cached) and try again. Every
argument is quoted for the remote shell: nothing the user typed is ever
parsed by it.
"""

import asyncio
import shlex
import sys
from typing import Callable, List, Optional, Tuple

from remote_lsp import version
from remote_lsp.editor import bundle
from remote_lsp.editor.transport import RemoteProcess, Transport, needs_prompt, refused
from remote_lsp.wire.errors import FATAL_SSH, TransportError

MISSING = 75
NO_PYTHON = 127

READY = b"remote-lsp: ready\n"  # printed by the bootstrap before a stream starts

BOOTSTRAP = r"""
h=$1; shift
d=${REMOTE_LSP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/remote-lsp}/bin
f=$d/remote-lsp-$h.pyz
command -v python3 >/dev/null 2>&1 || { echo "remote-lsp: python3 not found" >&2; exit 127; }
if [ "${1-}" = --upload ]; then
  umask 077 && mkdir -p "$d" || exit 1
  t=$(mktemp "$d/.upload.XXXXXX") || exit 1
  if cat >"$t" && mv -f "$t" "$f"; then exec python3 -S "$f" --install; fi
  rm -f "$t"; exit 1
fi
[ -d "$d/remote-lsp-$h" ] || exit 75
py=python3
[ -r "$d/remote-lsp-$h.python" ] && read -r py <"$d/remote-lsp-$h.python"
[ -x "$py" ] || py=python3
if [ "${1-}" = --ready ]; then shift; echo "remote-lsp: ready"; fi
exec "$py" -S "$d/remote-lsp-$h" "$@"
"""


def command_line(args: List[str]) -> str:
    return " ".join(shlex.quote(a) for a in ["sh", "-c", BOOTSTRAP, "remote-lsp", version.digest(), *args])


async def run_capture(transport: Transport, args: List[str],
                      stdin: Optional[bytes] = None) -> Tuple[int, bytes, str]:
    """Run a command on the host to completion: (exit code, stdout, stderr)."""
    out: List[bytes] = []
    rc, err = await _run(transport, args, out.append, stdin)
    return rc, b"".join(out), err


async def _run(transport: Transport, args: List[str], on_data: Callable[[bytes], Optional[bool]],
               stdin: Optional[bytes] = None) -> Tuple[int, str]:
    """`on_data` returns False to stop: the remote command is ended."""
    proc = await transport.exec(command_line(args))
    done = asyncio.get_running_loop().create_future()

    def data(chunk: bytes) -> None:
        if on_data(chunk) is False:
            proc.kill()

    proc.start(data, lambda: done.done() or done.set_result(None))
    if stdin:
        proc.write(stdin)
    proc.write_eof()
    await done
    rc = await proc.wait()
    return rc, proc.stderr()


async def stream(transport: Transport, args: List[str],
                 on_data: Callable[[bytes], Optional[bool]]) -> Tuple[int, str]:
    """`call`, its output handed on as it comes (exit code, stderr); `on_data`
    returns False to end it."""
    rc, err = await _run(transport, args, on_data)
    if rc == MISSING:
        await upload(transport)
        rc, err = await _run(transport, args, on_data)
    check_failure(transport, rc, err)
    return rc, err


def check_failure(transport: Transport, rc: int, err: str) -> None:
    host = transport.host.text
    if rc == NO_PYTHON and "python3 not found" in err:
        raise TransportError("python3 (3.8 or newer) is not installed on %s; remote-lsp needs "
                             "only that there" % host)
    if transport.ssh_failure is not None and rc == transport.ssh_failure:
        if needs_prompt(err):
            raise TransportError(refused(host, err, transport.name), fatal=True)
        raise TransportError("ssh %s: %s" % (host, err.strip() or "connection failed"),
                             fatal=any(words in err for words in FATAL_SSH))


async def upload(transport: Transport) -> None:
    _, data = bundle.build()
    rc, _, err = await run_capture(transport, ["--upload"], data)
    if rc != 0:
        check_failure(transport, rc, err)
        raise TransportError("uploading remote-lsp to %s failed: %s" % (transport.host.text, err.strip()))


async def call(transport: Transport, args: List[str],
               stdin: Optional[bytes] = None) -> Tuple[int, bytes, str]:
    """Run a subcommand on the host, installing this version first if needed."""
    rc, out, err = await run_capture(transport, args, stdin)
    if rc == MISSING:
        await upload(transport)
        rc, out, err = await run_capture(transport, args, stdin)
    check_failure(transport, rc, err)
    return rc, out, err


async def run_subcommand(transport: Transport, args: List[str], stdin: Optional[bytes] = None) -> int:
    """`remote-lsp --host H SUB ...`: the remote answer, printed as it is."""
    rc, out, err = await call(transport, args, stdin)
    sys.stdout.buffer.write(out)
    sys.stdout.flush()
    sys.stderr.write(err)
    return rc


__all__ = ["READY", "RemoteProcess", "call", "command_line", "run_subcommand", "stream", "upload"]

"""`remote-lsp doctor`: what an editor's health check wants to know about
this host, in one call: Python, remote-lsp, the agent, ptrace, and whether
each server command given actually runs.

"Runs" means it answers an LSP `initialize`: the command is started in an
empty directory with no project, sent `initialize`, then `shutdown` and
`exit`, and killed if it lingers. A name found in PATH is not enough: a
rustup proxy whose component is not installed is found, and exits at once
with "error: Unknown binary 'rust-analyzer' in official toolchain ...";
`--version` is no test either, since some servers (pyright-langserver) have
none. The probes run side by side, each within the timeout.
"""

import json
import os
import select
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from remote_lsp.host.logs import last_words
from remote_lsp.wire import framing, jsonrpc
from remote_lsp.wire.errors import UsageError

OK, BROKEN, SILENT, MISSING = "ok", "broken", "silent", "missing"


def parse_command(text: str) -> List[str]:
    """A server command as given: a JSON array of strings, or a command line
    (split as a POSIX shell would split it, though no shell ever runs it)."""
    if text.lstrip().startswith("["):
        try:
            argv = json.loads(text)
        except ValueError as exc:
            raise UsageError("doctor: %r is not a JSON array: %s" % (text, exc)) from None
        if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
            raise UsageError("doctor: %r must be an array of strings" % text)
    else:
        try:
            argv = shlex.split(text)
        except ValueError as exc:
            raise UsageError("doctor: cannot split %r: %s" % (text, exc)) from None
    if not argv or not argv[0]:
        raise UsageError("doctor: an empty server command")
    return argv


def probe_all(servers: List[Any], timeout: float) -> List[Dict[str, Any]]:
    """Probe each (name, argv) at once; the results in the order given."""
    results: List[Dict[str, Any]] = [{} for _ in servers]

    def run(i: int, name: str, argv: List[str]) -> None:
        results[i] = probe(name, argv, timeout)

    threads = [threading.Thread(target=run, args=(i, name, argv), daemon=True)
               for i, (name, argv) in enumerate(servers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 10)
    return results


def probe(name: str, argv: List[str], timeout: float) -> Dict[str, Any]:
    out: Dict[str, Any] = {"name": name, "argv": argv, "path": None, "state": MISSING, "detail": "",
                           "version": None, "code": None, "stderr": [], "ms": None}
    exe = shutil.which(argv[0])
    if exe is None:
        out["detail"] = "%s is not in PATH (%s)" % (argv[0], os.environ.get("PATH", ""))
        return out
    out["path"] = exe
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="remote-lsp-doctor-") as tmp:
        errpath = Path(tmp) / "stderr"
        work = Path(tmp) / "project"
        work.mkdir()
        try:
            with open(str(errpath), "wb") as err:
                proc = subprocess.Popen([exe] + argv[1:], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=err, cwd=str(work), start_new_session=True, close_fds=True)
        except OSError as exc:
            out.update(state=BROKEN, detail="%s cannot be run: %s" % (exe, exc.strerror or exc))
            return out
        try:
            answer = _ask_initialize(proc, timeout)
        finally:
            code = _finish(proc, answer is not None)
        out["ms"] = round((time.monotonic() - started) * 1000)
        out["stderr"] = last_words(errpath)
    if answer is not None:
        result = answer.get("result")
        info = result.get("serverInfo") if isinstance(result, dict) else None
        if isinstance(info, dict) and isinstance(info.get("name"), str):
            out["version"] = ("%s %s" % (info["name"], info.get("version") or "")).strip()
        out.update(state=OK, detail="answers initialize" if "result" in answer
                   else "runs (it refused an initialize with no project: %s)"
                   % (answer.get("error") or {}).get("message"))
        return out
    out["code"] = code
    if code is None:
        out.update(state=SILENT, detail="%s did not answer initialize within %g s" % (exe, timeout))
    else:
        how = "was killed by signal %d" % -code if code < 0 else "exited with code %d" % code
        out.update(state=BROKEN, detail="%s %s before it answered initialize" % (exe, how))
    return out


def _ask_initialize(proc: subprocess.Popen, timeout: float) -> Optional[Dict[str, Any]]:
    """The server's answer to initialize; None if it exits or stays silent."""
    assert proc.stdin is not None and proc.stdout is not None
    request = jsonrpc.request(1, "initialize", {
        "processId": os.getpid(), "rootUri": None, "rootPath": None, "workspaceFolders": None,
        "clientInfo": {"name": "remote-lsp doctor"}, "capabilities": {}})
    try:
        proc.stdin.write(framing.encode(jsonrpc.encode(request)))
        proc.stdin.flush()
    except OSError:
        return None  # it is gone already: its exit code tells
    parser = framing.FrameParser(strict=False)
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            return None
        data = os.read(fd, 65536)
        if not data:
            return None
        try:
            bodies = parser.feed(data)
        except framing.FramingError:
            return None
        for body in bodies:
            try:
                msg = jsonrpc.decode(body)
            except ValueError:
                continue
            if msg.get("id") == 1 and "method" not in msg:
                return msg


def _finish(proc: subprocess.Popen, answered: bool) -> Optional[int]:
    """Ask it to go (shutdown, exit), then make sure it does; its exit code,
    None if it was still running when asked (it did not exit by itself)."""
    assert proc.stdin is not None and proc.stdout is not None
    try:
        if not answered:  # its stdout closed, or it is silent: a moment to exit by itself
            return proc.wait(0.5)
    except subprocess.TimeoutExpired:
        pass
    finally:
        proc.stdout.close()
    try:
        proc.stdin.write(framing.encode(jsonrpc.encode(jsonrpc.request(2, "shutdown"))))
        proc.stdin.write(framing.encode(jsonrpc.encode(jsonrpc.notification("exit"))))
        proc.stdin.close()
    except OSError:
        pass
    try:
        proc.wait(2)
    except subprocess.TimeoutExpired:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except OSError:
                pass
            try:
                proc.wait(2)
                break
            except subprocess.TimeoutExpired:
                continue
    return None

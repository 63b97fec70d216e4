"""What the editor sees while a remote session starts: LSP work-done progress.

The first use of a host takes a while (the host side uploaded, its agent
started, the server launched), and an editor waiting on `initialize` shows
nothing meanwhile. The editor's `initialize` may carry a `workDoneToken`
(Neovim 0.11 sends '1'), and LSP lets a server report `$/progress` on that
token while it initializes: the bridge does, from `connect` itself, so any
client that shows LSP progress (Neovim's `LspProgress`, fidget.nvim, a
statusline) shows "remote-lsp: installing on HOST", then "starting SERVER",
until the initialize result arrives. Without a token nothing is sent.
"""

from typing import Any, Callable, List, Optional

from remote_lsp.wire import jsonrpc

TITLE = "remote-lsp"


class StartProgress:
    """One begin, reports as the phases change, one end; each at most once."""

    def __init__(self, tell: Callable[[Any], None], host: str, server: str) -> None:
        self._notify = tell
        self.host = host
        self.server = server
        self.token: Any = None
        self.text = "connecting to %s" % host
        self.ended = False

    def begin(self, params: Any) -> None:
        """The editor's initialize: begin on its token, in the phase we are in."""
        token = params.get("workDoneToken") if isinstance(params, dict) else None
        if self.token is not None or self.ended or not jsonrpc.valid_id(token):
            return
        self.token = token
        self._send({"kind": "begin", "title": TITLE, "message": self.text, "cancellable": False})

    def installing(self) -> None:
        self._phase("installing on %s" % self.host)

    def starting(self) -> None:
        self._phase("starting %s" % self.server)

    def end(self, message: Optional[str] = None) -> None:
        """The initialize result came (or the session failed): done."""
        if self.token is not None and not self.ended:
            value = {"kind": "end"}
            if message:
                value["message"] = message
            self._send(value)
        self.ended = True

    def _phase(self, text: str) -> None:
        self.text = text
        if self.token is not None and not self.ended:
            self._send({"kind": "report", "message": text})

    def _send(self, value: Any) -> None:
        self._notify(jsonrpc.notification("$/progress", {"token": self.token, "value": value}))


def server_label(remote_args: List[str]) -> str:
    """The server as the user knows it, from the host side's `connect` arguments:
    its --name, else its command's name, else the pid it joins."""
    args, command = (remote_args[:remote_args.index("--")], remote_args[remote_args.index("--") + 1:]) \
        if "--" in remote_args else (remote_args, [])
    for flag in ("--name", "--pid"):
        if flag in args[:-1]:
            value = args[args.index(flag) + 1]
            return value if flag == "--name" else "the server with pid %s" % value
    if command:
        return command[0].rsplit("/", 1)[-1]
    return "the server"

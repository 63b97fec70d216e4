"""Errors that reach the user, each with the CLI exit code of the contract.

The exit codes are defined here alone: connect's shell waiter (host/connect.py)
is written with them, and the Neovim plugin's lua/remote-lsp/exit.lua holds
the same numbers (tests/test_contracts.py checks that they agree).
"""

import errno
from typing import Dict

OK = 0
FAILED = 1  # anything else: a server that cannot start, a session that failed
USAGE = 2
NO_SUCH_PROCESS = 3
REFUSED = 4
ATTACH_FAILED = 5  # attach failed and was rolled back: the process goes on as before
TRANSPORT = 6  # the host could not be reached, or the session not started there
AGENT_GONE = 7  # connect: the agent went away (died, or handed over to a newer one); connect again

EXIT_CODES: Dict[str, int] = {
    "OK": OK, "FAILED": FAILED, "USAGE": USAGE, "NO_SUCH_PROCESS": NO_SUCH_PROCESS, "REFUSED": REFUSED,
    "ATTACH_FAILED": ATTACH_FAILED, "TRANSPORT": TRANSPORT, "AGENT_GONE": AGENT_GONE,
}
PREFIX = "remote-lsp: "  # how the CLI's errors start on stderr


class RemoteLspError(Exception):
    """An error with a message for the user and an exit code."""

    code = FAILED

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        if code:
            self.code = code

    @property
    def message(self) -> str:
        return str(self)

    def to_json(self) -> dict:
        return {"error": {"code": self.code, "message": self.message}}


class UsageError(RemoteLspError):
    code = USAGE


class NoSuchProcess(RemoteLspError):
    code = NO_SUCH_PROCESS


class Refused(RemoteLspError):
    code = REFUSED


class TransportError(RemoteLspError):
    """The host could not be reached or the session not started there.
    `fatal`: trying again cannot help (a host key refused, authentication
    refused); anything else may be a network's passing trouble."""

    code = TRANSPORT

    def __init__(self, message: str, fatal: bool = False) -> None:
        super().__init__(message)
        self.fatal = fatal


# What ssh says when retrying cannot help.
FATAL_SSH = ("Host key verification failed", "IDENTIFICATION HAS CHANGED", "Permission denied",
             "No more authentication methods", "Too many authentication failures")


def describe_os_error(exc: OSError, where: object = None) -> str:
    """`OSError` in words a user can act on, naming the file (or `where`)."""
    text = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        text = "no space left on the device"
    name = exc.filename or where
    return "%s: %s" % (name, text) if name else text


def describe_state_error(exc: OSError, where: object = None) -> str:
    """The same, for the agent's state directory: says how to move it."""
    text = describe_os_error(exc, where)
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        text += " (the state directory must be writable; set REMOTE_LSP_HOME to move it)"
    return text

"""Errors that reach the user, each with the CLI exit code of the contract."""

OK = 0
USAGE = 2
NO_SUCH_PROCESS = 3
REFUSED = 4
ATTACH_FAILED = 5
TRANSPORT = 6
FAILED = 1  # anything else: a server that cannot start, an agent that died


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
    code = TRANSPORT

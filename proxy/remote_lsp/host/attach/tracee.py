"""What the takeover needs from a stopped process, whichever method stops it."""

from remote_lsp.wire.errors import ATTACH_FAILED, RemoteLspError


class AttachError(RemoteLspError):
    """An attach step failed; `code` 3, 4 (refused) or 5 (failed, rolled back)."""

    code = ATTACH_FAILED


class Tracee:
    """A process with every thread stopped, able to run syscalls for us."""

    method = ""
    pid = 0

    def stop(self) -> None:
        raise NotImplementedError

    def syscall(self, name: str, *args: int) -> int:
        """Run syscall `name` in the target; the raw result (-errno on failure)."""
        raise NotImplementedError

    def write_memory(self, addr: int, data: bytes) -> None:
        raise NotImplementedError

    def detach(self) -> None:
        """Put the registers back and let every thread go on."""
        raise NotImplementedError

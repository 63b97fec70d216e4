"""The files on this host as an editor elsewhere reads and writes them.

Plain operations on paths, no I/O but the file system's: the file service
(service.py) runs them for the editor's channel, and `cat`, `stat` and
`put` run them for scripts. Bytes are bytes: nothing here decodes text, so
line endings, encodings and a missing final newline round-trip unchanged.

Every answer carries the file's *version* (size, mtime, content hash). A
write names the version it expects and is refused when the file differs
(content or existence), unless forced: nothing is overwritten silently. A
write is atomic: a temporary file in the same directory, fsync, rename, with
the mode and owner kept; a symlink's target is written and the link kept; a
file with other hard links is written in place, as editors do, since a rename
would split it from them.
"""

import errno
import hashlib
import os
import stat
import tempfile
from typing import Any, Dict, List, Optional, Tuple

# Error codes of a file operation, as the editor's channel names them.
CONFLICT, DENIED, NODIR, NOSPACE, ISDIR, FAILED = "conflict", "denied", "nodir", "nospace", "isdir", "failed"
_CODES = {
    errno.EACCES: DENIED, errno.EPERM: DENIED, errno.EROFS: DENIED,
    errno.ENOENT: NODIR, errno.ENOTDIR: NODIR,
    errno.ENOSPC: NOSPACE, errno.EDQUOT: NOSPACE, errno.EFBIG: NOSPACE,
    errno.EISDIR: ISDIR,
}
# The largest file served: it travels whole, in base64, in one message of at most 64 MB
# (framing.DEFAULT_MAX_FRAME) with room to spare.
MAX_FILE = 40 * 1024 * 1024
# The user's umask, for a file the editor creates: read once, at start (the
# agent narrows it for a moment when it makes its socket).
_UMASK = os.umask(0o022)
os.umask(_UMASK)
_WORDS = {DENIED: "permission denied", NODIR: "no such directory", NOSPACE: "no space left on the host",
          ISDIR: "is a directory"}


class FileError(Exception):
    """An operation on `path` failed, in one line; `current` is the file's
    version now when the failure is a conflict."""

    def __init__(self, code: str, path: str, message: str, current: Optional[str] = None) -> None:
        super().__init__(message)
        self.code = code
        self.path = path
        self.message = message
        self.current = current

    def to_json(self) -> Dict[str, Any]:
        return {"code": self.code, "message": self.message}


def from_os_error(exc: OSError, path: str, doing: str) -> FileError:
    code = _CODES.get(exc.errno or 0, FAILED)
    words = _WORDS.get(code) or exc.strerror or str(exc)
    return FileError(code, path, "cannot %s %s: %s" % (doing, path, words))


def resolve(path: str) -> str:
    """A path as the editor names it: absolute, or relative to the home directory."""
    if not isinstance(path, str) or not path or "\0" in path:
        raise FileError(FAILED, str(path), "not a path: %r" % (path,))
    return path if path.startswith("/") else os.path.join(os.path.expanduser("~"), path)


def version_of(st: os.stat_result, data: bytes) -> str:
    return "%d:%d:%s" % (st.st_size, st.st_mtime_ns, hashlib.sha256(data).hexdigest()[:32])


def same_content(a: Optional[str], b: Optional[str]) -> bool:
    """Two versions name the same bytes (a touch alone changes no content)."""
    if a is None or b is None:
        return a is b
    return a.rsplit(":", 1)[-1] == b.rsplit(":", 1)[-1]


def _kind(mode: int) -> str:
    return "directory" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "other"


def _writable(path: str, exists: bool) -> bool:
    return os.access(path if exists else (os.path.dirname(path) or "/"), os.W_OK)


def _entry(path: str) -> Dict[str, Any]:
    """What the editor needs to know of a path, its version left out (it
    costs a read of the file, which read() does anyway)."""
    full = resolve(path)
    try:
        st = os.stat(full)
    except FileNotFoundError:
        return {"path": path, "exists": False, "type": None, "writable": _writable(full, False),
                "mode": None, "version": None}
    except OSError as exc:
        raise from_os_error(exc, path, "read") from None
    return {"path": path, "exists": True, "type": _kind(st.st_mode), "writable": _writable(full, True),
            "mode": stat.S_IMODE(st.st_mode), "version": None}


def stat_entry(path: str) -> Dict[str, Any]:
    entry = _entry(path)
    if entry["type"] == "file":
        entry["version"] = _read(resolve(path), path)[1]
    return entry


def read(path: str) -> Dict[str, Any]:
    """A file with its bytes, a directory with its entries, or a missing one."""
    entry = _entry(path)
    full = resolve(path)
    if entry["type"] == "file":
        entry["data"], entry["version"] = _read(full, path)
    elif entry["type"] == "directory":
        entry["entries"] = listing(full, path)
    return entry


def _read(full: str, path: str) -> Tuple[bytes, str]:
    """A regular file's bytes and version. Opened without blocking and checked
    before it is read: a FIFO or a device would stall the service (one thread
    serves every editor), a huge file would not fit in one message."""
    try:
        fd = os.open(full, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise from_os_error(exc, path, "read") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileError(FAILED, path, "cannot read %s: not a regular file" % path)
        if st.st_size > MAX_FILE:
            raise FileError(FAILED, path, "cannot read %s: %d MB, more than the %d MB a file may have here"
                            % (path, st.st_size >> 20, MAX_FILE >> 20))
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read()
    except OSError as exc:
        raise from_os_error(exc, path, "read") from None
    finally:
        os.close(fd)
    return data, version_of(st, data)


def listing(full: str, path: str) -> List[Dict[str, Any]]:
    """A directory's entries, sorted by name; a symlink has its target's type."""
    out = []
    try:
        with os.scandir(full) as it:
            for e in it:
                item: Dict[str, Any] = {"name": e.name}
                try:
                    item["type"] = "directory" if e.is_dir() else "file" if e.is_file() else "other"
                except OSError:
                    item["type"] = "other"
                if e.is_symlink():
                    item["link"] = True
                out.append(item)
    except OSError as exc:
        raise from_os_error(exc, path, "list") from None
    out.sort(key=lambda item: item["name"])
    return out


def current_version(path: str, held: Optional[str] = None) -> Optional[str]:
    """The file's version now; None if there is none. `held`: a version the
    caller has, returned as it is when the file's size and mtime are its own
    (the file is not read and hashed again for nothing)."""
    full = resolve(path)
    if held is not None:
        try:
            st = os.stat(full)
        except OSError:
            return None
        if held.startswith("%d:%d:" % (st.st_size, st.st_mtime_ns)):
            return held
    try:
        return _read(full, path)[1]
    except FileError as exc:
        if exc.code == NODIR:
            return None
        raise


def write(path: str, data: bytes, expect: Optional[str], force: bool = False) -> str:
    """Write `data` to `path` if the file is still what the editor last saw
    (`expect`: its version then, None for no file), or `force`. Its new version."""
    full = resolve(path)
    if os.path.islink(full):
        full = os.path.realpath(full)  # the target is written; the link stays
    if not force:
        now = current_version(path)
        if not same_content(now, expect):
            what = "was created" if expect is None else "was deleted" if now is None else "has changed"
            raise FileError(CONFLICT, path, "%s %s since it was read" % (path, what), now)
    try:
        st: Optional[os.stat_result] = os.stat(full)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise from_os_error(exc, path, "write") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise FileError(ISDIR, path, "cannot write %s: is a directory" % path)
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise FileError(FAILED, path, "cannot write %s: not a regular file" % path)
    if len(data) > MAX_FILE:
        raise FileError(FAILED, path, "cannot write %s: more than %d MB" % (path, MAX_FILE >> 20))
    try:
        if st is not None and (st.st_nlink > 1 or st.st_uid != os.geteuid()):
            _write_in_place(full, data)
        else:
            try:
                _write_atomic(full, data, st)
            except OSError as exc:
                # No temporary file beside it (a directory we may not write, a name too long for
                # one more suffix): a file we may write is written in place, as editors do.
                if st is None or exc.errno not in (errno.EACCES, errno.EPERM, errno.ENAMETOOLONG):
                    raise
                _write_in_place(full, data)
        with open(full, "rb") as f:
            return version_of(os.fstat(f.fileno()), data)
    except OSError as exc:
        raise from_os_error(exc, path, "write") from None


def _write_in_place(full: str, data: bytes) -> None:
    """For a file with other hard links, or owned by someone else: keep the
    inode. The room is taken first (no disk or quota running out half-way),
    then the bytes go over the old ones and the rest is cut; should a write
    fail all the same, the old bytes are put back."""
    fd = os.open(full, os.O_RDWR | os.O_CLOEXEC)
    try:
        old = os.read(fd, os.fstat(fd).st_size + 1)
        if len(data) > len(old):
            try:
                os.posix_fallocate(fd, 0, len(data))
            except OSError as exc:
                if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # a file system without it
                    raise
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            _write_all(fd, data)
            os.ftruncate(fd, len(data))
            os.fsync(fd)
        except OSError:
            os.lseek(fd, 0, os.SEEK_SET)
            _write_all(fd, old)
            os.ftruncate(fd, len(old))
            raise
    finally:
        os.close(fd)


def _write_atomic(full: str, data: bytes, st: Optional[os.stat_result]) -> None:
    """A temporary file beside the target, renamed over it: a reader sees the
    old bytes or the new, never half of them."""
    directory, name = os.path.split(full)
    fd, temp = tempfile.mkstemp(prefix=".%s." % name, suffix=".remote-lsp", dir=directory or "/")
    try:
        _write_all(fd, data)
        if st is not None:
            os.fchmod(fd, stat.S_IMODE(st.st_mode))
            if st.st_gid != os.getegid():
                try:
                    os.fchown(fd, -1, st.st_gid)
                except OSError:
                    pass  # a group we are not in: the file takes ours, as any editor's save would
        else:
            os.fchmod(fd, 0o666 & ~_UMASK)
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.rename(temp, full)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
    _sync_directory(directory or "/")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _sync_directory(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

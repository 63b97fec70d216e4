"""The files on this host as an editor elsewhere reads and writes them.

Plain operations on paths, no I/O but the file system's: the file service
(service.py) runs them for the editor's channel, and `cat`, `stat` and
`put` run them for scripts. Bytes are bytes: nothing here decodes text, so
line endings, encodings and a missing final newline round-trip unchanged.

Every answer carries the file's *version* (size, mtime, content hash). A
write names the version it expects and is refused when the file differs
(content or existence), unless forced: nothing is overwritten silently. The
check is made again immediately before the file is replaced, so a change
made while the new bytes were written is refused too; bytes equal to the
file's are no conflict (a save whose answer was lost, made again). A write
is atomic: a temporary file in the same directory (`is_temporary`), fsync,
rename, with group, extended attributes (POSIX ACLs, capabilities) and mode
(set-ID bits included) kept; a symlink's target is written and the link
kept. A file with other hard links, another owner's, or one whose attributes
could not be kept on a new file is written in place, as editors do, its old
bytes (and the new) kept in the journal until the write is whole. The journal (the state
directory's `writes/`) records every write in progress: a writer killed at
any moment leaves nothing the next agent does not clean up (`recover`).
"""

import ctypes
import errno
import hashlib
import json
import logging
import os
import random
import re
import shutil
import stat
from typing import Any, Callable, Dict, List, Optional, Tuple

from remote_lsp.host import procs

log = logging.getLogger("remote_lsp.files")

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
# The names one answer lists at most (a directory's entries, a search's results without a
# partialResultToken), as encoded: the rest left out and the answer says so (`truncated`).
MAX_LISTED = 8 * 1024 * 1024
ENTRY_COST = 48  # what an entry costs beside its name: keys, type, punctuation
_dumps = json.JSONEncoder(ensure_ascii=False).encode
# The user's umask, for a file the editor creates: read once, at start (the
# agent narrows it for a moment when it makes its socket).
_UMASK = os.umask(0o022)
os.umask(_UMASK)
_WORDS = {DENIED: "permission denied", NODIR: "no such directory", NOSPACE: "no space left on the host",
          ISDIR: "is a directory"}
_KINDS = {stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a character device",
          stat.S_IFBLK: "a block device", stat.S_IFDIR: "a directory"}

# A write's temporary file: `.NAME.PID.RANDOM.remote-lsp` beside its target (older agents
# wrote `.NAME.RANDOM.remote-lsp`). Defined here only: listings, finders and watchers skip it.
TEMPORARY_SUFFIX = ".remote-lsp"
_TEMPORARY = re.compile(r"\A\..+\.[a-z0-9_]{8}\.remote-lsp\Z")
TEMPORARY_GLOB = "!.*.????????.remote-lsp"  # the same, as ripgrep's glob of what to leave out
_LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789_"
_journal: Optional[str] = None  # the directory of writes in progress (keep_journal)


def is_temporary(name: str) -> bool:
    """Is `name` (a path or a file name) a write's temporary file, there for a moment?"""
    return bool(_TEMPORARY.match(os.path.basename(name)))


def _random() -> str:
    return "".join(random.choice(_LETTERS) for _ in range(8))


def temporary_name(name: str) -> str:
    return ".%s.%d.%s%s" % (name, os.getpid(), _random(), TEMPORARY_SUFFIX)


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
    filename = exc.filename if isinstance(exc.filename, str) else None
    words = _WORDS.get(code) or exc.strerror or str(exc)
    if filename and is_temporary(filename) and os.path.isdir(os.path.dirname(filename)):
        # The directory is there: say what it refused, in its own words.
        code = FAILED if code == NODIR else code
        words = "cannot create a file in %s (%s)" % (os.path.dirname(filename), exc.strerror or exc)
    return FileError(code, path, "cannot %s %s: %s" % (doing, path, words))


def _not_regular(path: str, mode: int, doing: str) -> FileError:
    kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
    if stat.S_ISDIR(mode):
        return FileError(ISDIR, path, "%s is a directory" % path)
    return FileError(FAILED, path, "%s is %s: only regular files are %s" % (path, kind, doing))


def resolve(path: str) -> str:
    """A path as the editor names it: absolute, or relative to the home directory."""
    if not isinstance(path, str) or not path or "\0" in path:
        raise FileError(FAILED, str(path), "not a path: %r" % (path,))
    return path if path.startswith("/") else os.path.join(os.path.expanduser("~"), path)


def locate(path: str, markers: List[str], commands: List[str],
           search: Optional[str] = None) -> Dict[str, Any]:
    """Where PATH's project is and which server commands there are: walk up
    from PATH to the nearest directory holding a marker (else PATH's
    directory; null if that does not exist: a new file's, with no project
    above it), and look up each command in `search` (a PATH; None: ours)."""
    path = os.path.realpath(path)
    start = path if os.path.isdir(path) else os.path.dirname(path)
    root = None
    here = start
    while markers:
        if any(os.path.exists(os.path.join(here, m)) for m in markers):
            root = here
            break
        parent = os.path.dirname(here)
        if parent == here:
            break
        here = parent
    if root is None and os.path.isdir(start):
        root = start
        found = False
    else:
        found = root is not None
    return {"path": path, "root": root, "marker_found": found, "dir_exists": os.path.isdir(start),
            "commands": {c: shutil.which(c, path=search) for c in commands}}


def version_of(st: os.stat_result, data: bytes) -> str:
    return "%d:%d:%s" % (st.st_size, st.st_mtime_ns, _digest(data))


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


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
        entry["data"], entry["version"], _ = _read(full, path)
    elif entry["type"] == "directory":
        entry["entries"], count = listing(full, path)
        if count > len(entry["entries"]):
            entry["truncated"], entry["count"] = True, count
    return entry


_Identity = Tuple[int, int, int, int, int]


def _identity(st: os.stat_result) -> _Identity:
    """What changes whenever a file's bytes may have: compared in microseconds, no reading."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _read(full: str, path: str) -> Tuple[bytes, str, _Identity]:
    """A regular file's bytes, version and identity. Opened without blocking and checked
    before it is read: a FIFO or a device would stall the service (one thread
    serves every editor), a huge file would not fit in one message."""
    try:
        fd = os.open(full, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise from_os_error(exc, path, "read") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _not_regular(path, st.st_mode, "read")
        if st.st_size > MAX_FILE:
            raise FileError(FAILED, path, "cannot read %s: %d MB, more than the %d MB a file may have here"
                            % (path, st.st_size >> 20, MAX_FILE >> 20))
        data = _read_fd(fd)
    except OSError as exc:
        raise from_os_error(exc, path, "read") from None
    finally:
        os.close(fd)
    return data, version_of(st, data), _identity(st)


def _read_fd(fd: int) -> bytes:
    with os.fdopen(fd, "rb", closefd=False) as f:
        return f.read()


def encoded_size(text: str) -> int:
    """The bytes `text` takes in a message (JSON, UTF-8)."""
    return len(_dumps(text).encode("utf-8", "surrogatepass"))


def listing(full: str, path: str) -> Tuple[List[Dict[str, Any]], int]:
    """A directory's entries, sorted by name; a symlink has its target's type;
    a write's temporary file is not shown. Those past MAX_LISTED are left out;
    with them, how many there are."""
    out = []
    try:
        with os.scandir(full) as it:
            for e in it:
                if is_temporary(e.name):
                    continue
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
    used = 0
    for i, item in enumerate(out):
        used += ENTRY_COST + encoded_size(item["name"])
        if used > MAX_LISTED:
            return out[:i], len(out)
    return out, len(out)


def current_version(path: str) -> Optional[str]:
    """The file's version now, read and hashed (a same-size write within one
    timestamp tick changes neither size nor mtime); None if there is none."""
    return _now(resolve(path), path)[0]


def _now(full: str, path: str) -> Tuple[Optional[str], Optional[_Identity]]:
    """The file's version and identity now; (None, None) if there is no file."""
    try:
        _, version, identity = _read(full, path)
    except FileError as exc:
        if exc.code == NODIR:
            return None, None
        raise
    return version, identity


def _conflict(path: str, expect: Optional[str], now: Optional[str]) -> FileError:
    what = "was created" if expect is None else "was deleted" if now is None else "has changed"
    return FileError(CONFLICT, path, "%s %s since it was read" % (path, what), now)


def write(path: str, data: bytes, expect: Optional[str], force: bool = False, parents: bool = False) -> str:
    """Write `data` to `path` if the file is still what the editor last saw
    (`expect`: its version then, None for no file), or `force`; `parents`:
    make the missing directories first. Its new version."""
    full = resolve(path)
    if os.path.islink(full):
        full = os.path.realpath(full)  # the target is written; the link stays
    if len(data) > MAX_FILE:
        raise FileError(FAILED, path, "cannot write %s: more than %d MB" % (path, MAX_FILE >> 20))
    try:
        st: Optional[os.stat_result] = os.stat(full)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise from_os_error(exc, path, "write") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise _not_regular(path, st.st_mode, "written")
    if st is None and parents:
        try:
            os.makedirs(os.path.dirname(full), exist_ok=True)
        except OSError as exc:
            raise from_os_error(exc, path, "make the directories of") from None
    now, seen = _now(full, path)
    if now is not None and now.endswith(":" + _digest(data)):
        return now  # the host has exactly these bytes already (a save made again, its answer lost)
    if not force and not same_content(now, expect):
        raise _conflict(path, expect, now)

    def check() -> None:
        """Immediately before the file is replaced: is it still the one checked?"""
        nonlocal seen
        if force:
            return
        for _ in range(3):
            if _identity_now(full) == seen:
                return
            again, seen = _now(full, path)  # touched, or changed: its bytes say which
            if not same_content(again, expect):
                raise _conflict(path, expect, again)
        raise FileError(CONFLICT, path, "%s is being changed on the host: not written" % path)

    journal = _Journal(full)
    try:
        if st is not None and (st.st_nlink > 1 or st.st_uid != os.geteuid()):
            _write_in_place(full, data, check, journal)
        else:
            try:
                _write_atomic(full, data, st, check, journal, force)
            except _InPlace as why:
                log.info("%s is written in place: a new file would not keep %s", full, why)
                _write_in_place(full, data, check, journal)
            except OSError as exc:
                # No temporary file beside it (a directory we may not write, a name too long for
                # one more suffix): a file we may write is written in place, as editors do.
                if st is None or exc.errno not in (errno.EACCES, errno.EPERM, errno.ENAMETOOLONG):
                    raise
                _write_in_place(full, data, check, journal)
        with open(full, "rb") as f:
            return version_of(os.fstat(f.fileno()), data)
    except OSError as exc:
        raise from_os_error(exc, path, "write") from None
    finally:
        journal.done()


def _identity_now(full: str) -> Optional[_Identity]:
    try:
        return _identity(os.stat(full))
    except FileNotFoundError:
        return None


class _InPlace(Exception):
    """What a new file would not keep (a group, an attribute, a set-ID bit): written in place."""


def _write_in_place(full: str, data: bytes, check: Callable[[], None], journal: "_Journal") -> None:
    """For a file with other hard links, or owned by someone else: keep the
    inode. Its old bytes go to the journal first (a kill mid-write: the next
    agent puts them back); the room is taken (no disk or quota running out
    half-way), then the bytes go over the old ones and the rest is cut;
    should a write fail all the same, the old bytes are put back."""
    fd = os.open(full, os.O_RDWR | os.O_CLOEXEC)
    try:
        old = _read_fd(fd)
        journal.backup(fd, old, data)
        check()
        try:
            if len(data) > len(old):
                try:
                    os.posix_fallocate(fd, 0, len(data))
                except OSError as exc:
                    if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # a file system without it
                        raise  # having grown the file by the room it did take (ext4): cut back below
            _overwrite(fd, data)
        except OSError:
            try:
                _overwrite(fd, old)
            except OSError:
                journal.keep()
            raise
    finally:
        os.close(fd)


def _overwrite(fd: int, data: bytes) -> None:
    os.lseek(fd, 0, os.SEEK_SET)
    _write_all(fd, data)
    os.ftruncate(fd, len(data))
    os.fsync(fd)


def _write_atomic(full: str, data: bytes, st: Optional[os.stat_result], check: Callable[[], None],
                  journal: "_Journal", force: bool) -> None:
    """A temporary file beside the target, renamed over it: a reader sees the
    old bytes or the new, never half of them. A new file is linked, not
    renamed over: one made meanwhile is never replaced."""
    directory, name = os.path.split(full)
    temp = os.path.join(directory or "/", temporary_name(name))
    journal.note(temp=temp)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        _write_all(fd, data)
        if st is not None:
            _keep_metadata(full, fd, st)
        else:
            os.fchmod(fd, 0o666 & ~_UMASK)
        os.fsync(fd)
        os.close(fd)
        fd = -1
        check()
        if st is None and not force:
            try:
                _rename_new(temp, full)
            except FileExistsError:
                check()  # made meanwhile: a conflict
                raise
        else:
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


def _rename_new(temp: str, full: str) -> None:
    """`temp` renamed to `full`, which must not exist (renameat2 RENAME_NOREPLACE; where
    the system or the file system has none, a hard link, then the temporary name removed)."""
    rename = _renameat2()
    if rename is not None:
        if rename(_AT_FDCWD, os.fsencode(temp), _AT_FDCWD, os.fsencode(full), _RENAME_NOREPLACE) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise OSError(err, os.strerror(err), full)
    try:
        os.link(temp, full)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        if os.path.lexists(full):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), full) from None
        os.rename(temp, full)  # neither: the window is the check's, microseconds
    else:
        os.unlink(temp)


_AT_FDCWD, _RENAME_NOREPLACE = -100, 1
_libc: List[Any] = []


def _renameat2() -> Any:
    if not _libc:
        try:
            _libc.append(getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None))
        except (OSError, AttributeError):
            _libc.append(None)
    return _libc[0]


def _keep_metadata(full: str, fd: int, st: os.stat_result) -> None:
    """What the file is besides its bytes, onto the new one: its group, then its
    extended attributes (POSIX ACLs are two, `security.capability` one; a change
    of owner clears capabilities), then its mode (set-ID bits, which a change of
    owner clears too). What cannot be kept raises _InPlace."""
    if st.st_gid != os.fstat(fd).st_gid:
        try:
            os.fchown(fd, -1, st.st_gid)
        except OSError:
            raise _InPlace("its group (%d)" % st.st_gid) from None
    names = _xattrs(full)
    for name in names:
        try:
            os.setxattr(fd, name, os.getxattr(full, name))
        except OSError as exc:
            if exc.errno == errno.ENODATA or name == "security.selinux":
                continue  # removed meanwhile; a label the policy gives the new file
            raise _InPlace("its attribute %s (%s)" % (name, exc.strerror)) from None
    inherited = "system.posix_acl_access"  # from the directory's default ACL
    if inherited not in names and inherited in _xattrs(fd):
        os.removexattr(fd, inherited)
    mode = stat.S_IMODE(st.st_mode)
    os.fchmod(fd, mode)
    if stat.S_IMODE(os.fstat(fd).st_mode) != mode:
        raise _InPlace("its mode %04o" % mode)


def _xattrs(target: Any) -> List[str]:
    try:
        return os.listxattr(target)
    except OSError:  # a file system without them
        return []


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


# --- the journal of writes in progress ---------------------------------------------------------


def keep_journal(directory: str) -> None:
    """Record writes in progress in `directory` (private, made if missing)."""
    global _journal
    os.makedirs(directory, mode=0o700, exist_ok=True)
    _journal = directory


def _journal_file(path: str) -> Any:
    """A file of the journal, written anew; the journal made again if it was removed."""
    try:
        return open(path, "wb")
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        return open(path, "wb")


def _own_start() -> int:
    """This process's start (names it with its pid in the journal); read once."""
    global _started
    if _started is None:
        _started = procs.start_ticks(os.getpid()) or 0
    return _started


_started: Optional[int] = None


class _Journal:
    """One write in progress, as `PID.START.RANDOM.json` (and `.old`: a file's old
    bytes while it is written in place) in the journal: what a writer killed
    mid-way leaves, the next agent finds (recover)."""

    def __init__(self, target: str) -> None:
        self.base = ""
        self._record: Dict[str, Any] = {"target": target}
        self._kept = False
        if _journal is not None:
            self.base = os.path.join(_journal, "%d.%d.%s" % (os.getpid(), _own_start(), _random()))

    def note(self, **fields: Any) -> None:
        if not self.base:
            return
        self._record.update(fields)
        try:  # written before what it names is made: a record cut short names nothing yet
            with _journal_file(self.base + ".json") as f:
                f.write(json.dumps(self._record).encode())
        except OSError as exc:
            log.warning("cannot record a write in progress in %s: %s", _journal, exc)

    def backup(self, fd: int, old: bytes, new: bytes) -> None:
        """Keep `old` (the file's bytes, open as `fd`) until the write is whole. Refused
        before any change when it cannot be kept."""
        if not self.base:
            return
        try:
            with _journal_file(self.base + ".old") as f:
                f.write(old)
            with _journal_file(self.base + ".new") as f:  # to tell a write cut short from a later edit
                f.write(new)
        except OSError as exc:
            target = self._record["target"]
            raise FileError(FAILED, target, "cannot write %s in place: cannot keep its old bytes in %s "
                            "meanwhile (%s)" % (target, _journal, exc.strerror or exc)) from None
        st = os.fstat(fd)
        self.note(backup=self.base + ".old", old=_digest(old), new=_digest(new), inode=[st.st_dev, st.st_ino],
                  written=self.base + ".new")

    def keep(self) -> None:
        """The old bytes could not be put back: the backup stays, named in the log."""
        self._kept = True
        log.warning("%s was left half-written; its old bytes are in %s", self._record["target"],
                    self.base + ".old")

    def done(self) -> None:
        if self.base and not self._kept:
            for suffix in (".json", ".old", ".new"):
                try:
                    os.unlink(self.base + suffix)
                except FileNotFoundError:
                    pass


def recover() -> List[str]:
    """Clean up after the writers that died mid-write (an earlier agent, a `put`),
    as recorded in the journal: their temporary files removed (by their exact name,
    ours), a file they cut short in place given its old bytes back. One line each."""
    if _journal is None:
        return []
    writes: Dict[str, List[str]] = {}
    try:
        names = os.listdir(_journal)
    except OSError:
        return []
    for name in names:
        writes.setdefault(".".join(name.split(".")[:3]), []).append(name)
    lines = []
    for base, files in writes.items():
        try:
            pid, start = (int(x) for x in base.split(".")[:2])
        except ValueError:
            continue
        if pid == os.getpid() or (procs.start_ticks(pid) == start and start):
            continue  # still writing
        keep = False
        record = None
        if base + ".json" in files:
            try:
                with open(os.path.join(_journal, base + ".json")) as f:
                    record = json.load(f)
            except (OSError, ValueError):
                record = None
        if isinstance(record, dict):
            keep = _undo(record, lines)
        if not keep:
            for name in files:
                try:
                    os.unlink(os.path.join(_journal, name))
                except OSError:
                    pass
    return lines


def _undo(record: Dict[str, Any], lines: List[str]) -> bool:
    """Undo what one dead write left; True: its backup is to be kept."""
    temp, target, backup = record.get("temp"), record.get("target"), record.get("backup")
    if isinstance(temp, str) and is_temporary(temp):
        try:
            if os.lstat(temp).st_uid == os.geteuid():
                os.unlink(temp)
                lines.append("removed %s, left by a write cut short" % temp)
        except OSError:
            pass
    if not isinstance(backup, str) or not isinstance(target, str):
        return False
    try:
        with open(target, "rb") as f:
            st = os.fstat(f.fileno())
            now = _digest(f.read())
        if now in (record.get("old"), record.get("new")):
            return False  # wholly old or wholly new
        if record.get("inode") != [st.st_dev, st.st_ino]:  # replaced since: someone else's file now
            lines.append("%s was replaced after a write to it was cut short: its old bytes are in %s"
                         % (target, backup))
            return True
        with open(backup, "rb") as f:
            old = f.read()
        written = record.get("written")
        if isinstance(written, str):
            with open(written, "rb") as f:
                new = f.read()
            with open(target, "rb") as f:
                if not _cut_short(f.read(), old, new):  # edited since, by someone else: theirs stays
                    lines.append("%s was changed after a write to it was cut short: its old bytes are in %s"
                                 % (target, backup))
                    return True
        fd = os.open(target, os.O_RDWR | os.O_CLOEXEC)
        try:
            _overwrite(fd, old)
        finally:
            os.close(fd)
    except OSError as exc:
        lines.append("%s was cut short by a write that did not finish and cannot be restored (%s): its old "
                     "bytes are in %s" % (target, exc.strerror or exc, backup))
        return True
    lines.append("%s was cut short by a write that did not finish: its old bytes are back" % target)
    return False


def _cut_short(now: bytes, old: bytes, new: bytes) -> bool:
    """Is `now` what a write in place of `new` over `old` leaves when cut short: the
    new bytes up to some point, then the old (with the zeros of the room taken, all
    or part of it, or none where the file grew as it was written)?"""
    room = max(len(old), len(new))
    if not len(old) <= len(now) <= room:
        return False
    k = _common_prefix(now, new)
    return now[k:] == (old + b"\0" * (room - len(old)))[k:len(now)]


def _common_prefix(a: bytes, b: bytes) -> int:
    """How many bytes `a` and `b` begin with alike (compared a block at a time)."""
    n, k, step = min(len(a), len(b)), 0, 1 << 16
    while k < n and a[k:k + step] == b[k:k + step]:
        k += step
    while k < n and a[k] == b[k]:
        k += 1
    return min(k, n)

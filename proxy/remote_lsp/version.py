"""What this build is: the release, and the host bundle's content digest.

The host bundle is this package's entry files plus `wire/` and `host/`, chosen
by folder. Its digest names it on hosts (a new build lands beside the old one)
and in `status`, so two builds of one release can be told apart. Both sides
compute it from the same files, so the editor and the agent agree on it.
"""

import os
import re
from typing import Any, List, Optional, Tuple

from remote_lsp import __version__

PACKAGE = os.path.dirname(os.path.abspath(__file__))
# The package's own entry files, then the folders that make the host side.
HOST_ENTRY = ("__init__.py", "__main__.py", "cli.py", "version.py")
HOST_FOLDERS = ("wire", "host")

# The zipapp's top-level __main__.py. The version check comes first, before
# any of our code is parsed by an interpreter that may be too old for it.
LAUNCHER = b"""import sys
if sys.version_info < (3, 8):
    sys.exit("remote-lsp needs Python 3.8 or newer on this host, found %s" % sys.version.split()[0])
if sys.argv[1:2] == ["--install"]:
    # Unpack beside the zipapp, so Python can cache bytecode: a zipapp is
    # compiled again on every start. Atomic: temp dir, then rename.
    import os, shutil, tempfile, zipfile
    target = sys.argv[0][:-len(".pyz")]
    tmp = tempfile.mkdtemp(dir=os.path.dirname(target), prefix=".install.")
    zipfile.ZipFile(sys.argv[0]).extractall(tmp)
    try:
        os.rename(tmp, target)
    except OSError:
        shutil.rmtree(tmp)  # another connect installed it first
    # The interpreter itself, so later runs skip any shim (pyenv, asdf) in PATH.
    with open(target + ".python.tmp", "w") as f:
        f.write(sys.executable + "\\n")
    os.rename(target + ".python.tmp", target + ".python")
    sys.exit(0)
from remote_lsp.cli import main
sys.exit(main())
"""

_digest: Optional[str] = None


def host_files() -> List[Tuple[str, bytes]]:
    """(name in the bundle, content) of every host-side file, in a fixed order."""
    out = [("__main__.py", LAUNCHER)]
    for name in HOST_ENTRY:
        out.append(("remote_lsp/" + name, _read(os.path.join(PACKAGE, name))))
    for folder in HOST_FOLDERS:
        for top, dirs, files in os.walk(os.path.join(PACKAGE, folder)):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(f for f in files if f.endswith(".py")):
                rel = os.path.relpath(os.path.join(top, name), PACKAGE)
                out.append(("remote_lsp/" + rel.replace(os.sep, "/"), _read(os.path.join(top, name))))
    return out


def digest() -> str:
    """A hash of exactly what goes into the host bundle. Cheap (no
    compression), as every remote command needs it; free on a host, where the
    installed bundle's directory is named by it."""
    global _digest
    installed = re.match(r"remote-lsp-([0-9a-f]{16})$", os.path.basename(os.path.dirname(PACKAGE)))
    if _digest is None and installed:
        _digest = installed.group(1)
    if _digest is None:
        h = _sha256()
        for name, data in host_files():
            h.update(b"%s\0%d\0" % (name.encode(), len(data)))
            h.update(data)
        _digest = h.hexdigest()[:16]
    return _digest


def _sha256() -> Any:
    """sha256 from the interpreter's own module where it has one: hashlib would
    load OpenSSL (3.5 MB) into the agent, which needs nothing else of it."""
    for name in ("_sha2", "_sha256"):  # Python 3.12+, then 3.8-3.11
        try:
            return __import__(name).sha256()
        except (ImportError, AttributeError):
            continue
    import hashlib

    return hashlib.sha256()


def describe() -> str:
    return "remote-lsp %s (build %s)" % (__version__, digest())


def release_key(version: str) -> Tuple[int, ...]:
    """'0.2.0' -> (0, 2, 0), for ordering releases; anything unparsable is oldest."""
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        return ()


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()

"""The host-side code as one zipapp, named by its content hash.

Named by a hash of the files that go into it, and built from them
deterministically (fixed order and timestamps), so the same code always has
the same name: a host that has it already is never sent it again, and a new
version lands beside the old one.
"""

import hashlib
import os
from typing import List, Optional, Tuple

PACKAGE = os.path.dirname(os.path.abspath(__file__))
# Editor-side parts never run on the host.
_EDITOR_ONLY = {"transport", "bridge.py", "bundle.py", "remote.py", "uri.py", "hosts.py"}
_MAIN = b"""import sys
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
_EPOCH = (2020, 1, 1, 0, 0, 0)
_digest: Optional[str] = None


def _files() -> List[Tuple[str, bytes]]:
    out = [("__main__.py", _MAIN)]
    for top, dirs, files in os.walk(PACKAGE):
        rel = os.path.relpath(top, PACKAGE)
        dirs[:] = sorted(d for d in dirs if d not in _EDITOR_ONLY and d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py") and not (rel == "." and name in _EDITOR_ONLY):
                with open(os.path.join(top, name), "rb") as f:
                    out.append(("remote_lsp/" + os.path.normpath(os.path.join(rel, name)), f.read()))
    return out


def digest() -> str:
    """The name of this version: a hash of exactly what goes into the zipapp.
    Cheap (no compression), as every remote command needs it."""
    global _digest
    if _digest is None:
        h = hashlib.sha256()
        for name, data in _files():
            h.update(b"%s\0%d\0" % (name.encode(), len(data)))
            h.update(data)
        _digest = h.hexdigest()[:16]
    return _digest


def build() -> Tuple[str, bytes]:
    """(digest, zipapp bytes), built only when a host needs an upload."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in _files():
            info = zipfile.ZipInfo(name, _EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return digest(), b"#!/usr/bin/env python3\n" + buf.getvalue()

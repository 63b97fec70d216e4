"""The host-side code as one zipapp, named by its content hash.

Built from this package's own files, deterministically (fixed order and
timestamps), so the same code always has the same name: a host that has it
already is never sent it again, and a new version lands beside the old one.
"""

import hashlib
import io
import zipfile
from pathlib import Path
from typing import Optional, Tuple

PACKAGE = Path(__file__).resolve().parent
# Editor-side parts never run on the host.
_EDITOR_ONLY = {"transport", "bridge.py", "bundle.py", "remote.py", "uri.py", "hosts.py"}
_MAIN = b"""import sys
if sys.version_info < (3, 8):
    sys.exit("remote-lsp needs Python 3.8 or newer on this host, found %s" % sys.version.split()[0])
from remote_lsp.cli import main
sys.exit(main())
"""
_EPOCH = (2020, 1, 1, 0, 0, 0)
_cached: Optional[Tuple[str, bytes]] = None


def _files():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] not in _EDITOR_ONLY and "__pycache__" not in rel.parts:
            yield "remote_lsp/" + rel.as_posix(), path.read_bytes()


def build() -> Tuple[str, bytes]:
    """(hash, zipapp bytes) for the code as it is now."""
    global _cached
    if _cached is None:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in [("__main__.py", _MAIN), *_files()]:
                info = zipfile.ZipInfo(name, _EPOCH)
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, data)
        data = b"#!/usr/bin/env python3\n" + buf.getvalue()
        _cached = (hashlib.sha256(data).hexdigest()[:16], data)
    return _cached

"""The host side as one zipapp, named by its content digest.

What goes in is chosen by folder (`version.host_files`: the entry files, `wire/`
and `host/`), and the archive is built deterministically (fixed order and
timestamps), so the same code always has the same name: a host that has it is
never sent it again, and a new build lands beside the old one.
"""

import io
import zipfile
from typing import Tuple

from remote_lsp.version import digest, host_files

_EPOCH = (2020, 1, 1, 0, 0, 0)


def build() -> Tuple[str, bytes]:
    """(digest, zipapp bytes), built only when a host needs an upload."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in host_files():
            info = zipfile.ZipInfo(name, _EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return digest(), b"#!/usr/bin/env python3\n" + buf.getvalue()

"""URI translation between the editor's `PROTOCOL://HOST//path` and the
server's `file:///path`, in both directions.

The editor's names are those of netrw (`scp://`, `rsync://`, `sftp://`) and
oil.nvim (`oil-ssh://`), which agree: the host, one slash, then the path as
the transfer program takes it after `host:`. So `scp://HOST//srv/a.py` is the
absolute /srv/a.py, and `scp://HOST/src/a.py` is src/a.py under the login's
home: a name relative to a home this side does not know is left as it is
(oil.nvim never makes one: it resolves every path before naming a buffer).
`HOST` is exactly as the editor wrote it: `user@host`, `host:port` included.

Every JSON string is looked at, including URIs inside markdown and command
arguments, except document text (didOpen and didChange text, edits' newText,
completion insertText), which is the user's code and is never touched.
Paths are percent-encoded in file URIs and plain in the editor's ones, as
netrw and oil.nvim name their buffers, so spaces and non-ASCII survive the
round trip.
"""

import re
from typing import Any, Callable, Dict
from urllib.parse import quote, unquote

from remote_lsp.cli import PROTOCOLS

# Keys whose string values are document content, never rewritten.
_TEXT_KEYS = frozenset({"text", "newText", "insertText"})
# Where an embedded URI ends: white space, quotes, brackets, markdown.
_END = r"""[^\s"'<>()\[\]`]*"""


class UriMapper:
    def __init__(self, protocol: str, host: str) -> None:
        if protocol not in PROTOCOLS:
            raise ValueError("unknown protocol %r (known: %s)" % (protocol, ", ".join(PROTOCOLS)))
        self.editor_prefix = "%s://%s/" % (protocol, host)
        self._editor_marker = self.editor_prefix.encode()
        self._editor_re = re.compile(re.escape(self.editor_prefix) + "(/" + _END + ")")
        self._file_re = re.compile(r"file://(/" + _END + ")")

    # --- single URIs ---------------------------------------------------------------------

    def to_server(self, uri: str) -> str:
        if not uri.startswith(self.editor_prefix + "/"):
            return uri  # another host's, or relative to the home directory there
        path, frag = _split_fragment(uri[len(self.editor_prefix):])
        # Encoded as most servers encode paths themselves (RFC 3986 unreserved and /).
        return "file://" + quote(unquote(path), safe="/") + frag

    def to_editor(self, uri: str) -> str:
        if not uri.startswith("file:///"):
            return uri
        path, frag = _split_fragment(uri[len("file://"):])
        return self.editor_prefix + unquote(path) + frag

    def path_of(self, editor_uri_or_path: str) -> str:
        """A remote root given as an editor's URI or a plain path, as a path."""
        if editor_uri_or_path.startswith(self.editor_prefix + "/"):
            return unquote(_split_fragment(editor_uri_or_path[len(self.editor_prefix):])[0])
        return editor_uri_or_path

    # --- whole messages --------------------------------------------------------------------

    def needs_server_rewrite(self, body: bytes) -> bool:
        return b"file:" in body

    def needs_editor_rewrite(self, body: bytes) -> bool:
        return self._editor_marker in body or b":\\/\\/" in body

    def message_to_server(self, msg: Dict[str, Any]) -> Any:
        return _walk(msg, self._rewrite_to_server)

    def message_to_editor(self, msg: Dict[str, Any]) -> Any:
        return _walk(msg, self._rewrite_to_editor)

    def _rewrite_to_server(self, s: str) -> str:
        if s.startswith(self.editor_prefix + "/"):
            return self.to_server(s)  # a whole URI may hold spaces
        if self.editor_prefix in s:
            return self._editor_re.sub(lambda m: self.to_server(m.group(0)), s)
        return s

    def _rewrite_to_editor(self, s: str) -> str:
        if "file://" not in s:
            return s
        if s.startswith("file:///"):
            return self.to_editor(s)
        return self._file_re.sub(lambda m: self.to_editor(m.group(0)), s)


def _split_fragment(rest: str):
    i = rest.find("#")
    return (rest, "") if i < 0 else (rest[:i], rest[i:])


def _walk(value: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [_walk(v, fn) for v in value]
    if isinstance(value, dict):
        return {(fn(k) if "://" in k else k): (v if k in _TEXT_KEYS else _walk(v, fn))
                for k, v in value.items()}
    return value

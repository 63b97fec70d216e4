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

import json
import re
from typing import Any, Callable, Dict, Optional
from urllib.parse import quote, unquote

from remote_lsp.wire import jsonrpc
from remote_lsp.wire.errors import UsageError

# How editors name remote buffers: `connect --protocol` (netrw's scp, rsync and
# sftp; oil.nvim's oil-ssh).
PROTOCOLS = ("scp", "rsync", "sftp", "oil-ssh")
# Keys whose string values are document content, never rewritten.
_TEXT_KEYS = frozenset({"text", "newText", "insertText"})
# Where an embedded URI ends: white space, quotes, brackets, markdown.
_END = r"""[^\s"'<>()\[\]`]*"""
# The same in a frame's raw bytes (JSON), where a backslash starts an escape.
_FILE_BYTES = re.compile(rb"""file://(/[^\s"'<>()\[\]`\\]*)""")
# Members holding document text: their strings are never translated.
_TEXT_KEYS_BYTES = (b'"text"', b'"newText"', b'"insertText"')
_CACHE_MAX = 65536


def check_protocol(protocol: str) -> None:
    """`connect --protocol`, checked on both sides before anything starts."""
    if protocol not in PROTOCOLS:
        raise UsageError("connect: --protocol must be one of %s, not %r" % (", ".join(PROTOCOLS), protocol))


class UriMapper:
    def __init__(self, protocol: str, host: str) -> None:
        if protocol not in PROTOCOLS:
            raise ValueError("unknown protocol %r (known: %s)" % (protocol, ", ".join(PROTOCOLS)))
        self.editor_prefix = "%s://%s/" % (protocol, host)
        self._editor_marker = self.editor_prefix.encode()
        self._editor_re = re.compile(re.escape(self.editor_prefix) + "(/" + _END + ")")
        self._file_re = re.compile(r"file://(/" + _END + ")")
        self._cache: Dict[bytes, bytes] = {}  # file URI -> its editor name, as JSON string bytes
        self._editor_slash = (self.editor_prefix + "/").encode()

    # --- single URIs ---------------------------------------------------------------------

    def to_server(self, uri: str) -> str:
        if not uri.startswith(self.editor_prefix + "/"):
            return uri  # another host's, or relative to the home directory there
        path, frag = _split_fragment(uri[len(self.editor_prefix):])
        # The editor's name is the path as it is (a literal `%20` in it is a
        # directory's name, not a space), encoded as most servers encode paths
        # themselves (RFC 3986 unreserved and /).
        return "file://" + quote(path, safe="/") + frag

    def to_editor(self, uri: str) -> str:
        if not uri.startswith("file:///"):
            return uri
        path, frag = _split_fragment(uri[len("file://"):])
        return self.editor_prefix + unquote(path) + frag

    def path_of(self, editor_uri_or_path: str) -> str:
        """A remote root given as an editor's URI or a plain path, as a path."""
        if editor_uri_or_path.startswith(self.editor_prefix + "/"):
            return _split_fragment(editor_uri_or_path[len(self.editor_prefix):])[0]
        return editor_uri_or_path

    # --- whole messages --------------------------------------------------------------------

    def body_to_editor(self, body: bytes, msg: Optional[Dict[str, Any]] = None) -> bytes:
        """A server frame's body in the editor's names. The common case (no
        document text in it, no escapes in its URIs) is translated on its bytes,
        without decoding: the largest answers (references, symbols) are
        exactly such lists of URIs. Anything else is walked: `msg` when the
        caller has the body decoded already (the same message), else the body
        decoded here."""
        if b"file:" not in body:
            return body
        if not _has_text_member(body) and b"\\/" not in body:
            if b"%" not in body:
                # Nothing to decode in any path: a file URI's editor name is the
                # same bytes behind another prefix.
                return body.replace(b"file:///", self._editor_slash)
            fast = self._bytes_to_editor(body)
            if fast is not None:
                return fast
        if msg is not None:
            try:
                return jsonrpc.encode(self.message_to_editor(msg))
            except TypeError:
                pass  # a key that is no string (the body has it as one): walk the body decoded
        try:
            return jsonrpc.encode(self.message_to_editor(json.loads(body)))
        except ValueError:
            return body

    def _bytes_to_editor(self, body: bytes) -> Optional[bytes]:
        cache = self._cache
        unsure = False

        def swap(m: "re.Match[bytes]") -> bytes:
            nonlocal unsure
            end = m.end()
            follows = body[end:end + 1]
            if follows == b"\\" or (follows == b" " and body[m.start() - 1:m.start()] == b'"'):
                unsure = True  # an escape, or a string that may go on: decode instead
                return m.group(0)
            uri = m.group(0)
            out = cache.get(uri)
            if out is None:
                text = self.to_editor(uri.decode("utf-8", "surrogateescape"))
                out = json.dumps(text, ensure_ascii=False)[1:-1].encode("utf-8", "surrogateescape")
                if len(cache) < _CACHE_MAX:
                    cache[uri] = out
            return out

        out = _FILE_BYTES.sub(swap, body)
        return None if unsure else out

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


def _has_text_member(body: bytes) -> bool:
    """Does a member of document text appear in this JSON? (Plain finds: on
    a large answer they cost a fraction of one regular-expression pass.)"""
    for key in _TEXT_KEYS_BYTES:
        at = body.find(key)
        while at >= 0:
            rest = body[at + len(key):at + len(key) + 8].lstrip()
            if rest.startswith(b":"):
                return True
            at = body.find(key, at + 1)
    return False


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
    if isinstance(value, tuple):  # (a message built on this side may hold one: JSON's array)
        return [_walk(v, fn) for v in value]
    return value

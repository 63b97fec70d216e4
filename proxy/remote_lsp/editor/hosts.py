"""Host specs: `alias`, `host`, `user@host`, `user@host:port`, `[v6addr]:port`.

A host reaches ssh only as one argv element, never through a shell; still,
anything that is not a plausible host name is refused up front, so a
metacharacter can never turn into a command (ssh expands %h in ProxyCommand)
or an option (a leading dash).
"""

import re
from typing import NamedTuple, Optional

from remote_lsp.wire.errors import UsageError

_NAME = re.compile(r"\A[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?\Z")
_USER = re.compile(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")
_V6 = re.compile(r"\A[0-9A-Fa-f:.]+\Z")


class HostSpec(NamedTuple):
    text: str  # as the user wrote it; also the authority in scp:// URIs
    host: str
    user: Optional[str]
    port: Optional[int]

    @property
    def destination(self) -> str:
        return "%s@%s" % (self.user, self.host) if self.user else self.host


MAX_HOST = 300  # a 253-byte DNS name, a user and a port


def parse_host(text: str) -> HostSpec:
    def bad(why: str) -> UsageError:
        return UsageError("invalid host %r: %s" % (text, why))

    if not text:
        raise bad("empty")
    if len(text) > MAX_HOST:
        raise bad("longer than %d characters" % MAX_HOST)
    rest, user = text, None
    if "@" in rest:
        user, rest = rest.rsplit("@", 1)
        if not _USER.match(user):
            raise bad("user names may hold letters, digits, '.', '_' and '-'")
    port: Optional[int] = None
    if rest.startswith("["):
        host, sep, tail = rest[1:].partition("]")
        if not sep or not _V6.match(host):
            raise bad("expected [IPv6-address]")
        if tail:
            if not tail.startswith(":"):
                raise bad("expected :port after ]")
            port = _port(tail[1:], bad)
    else:
        host, sep, tail = rest.partition(":")
        if sep:
            port = _port(tail, bad)
        if not _NAME.match(host):
            raise bad("host names may hold letters, digits, '.', '_' and '-'")
    return HostSpec(text, host, user, port)


def _port(text: str, bad) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise bad("port must be a number from 1 to 65535")
    return int(text)

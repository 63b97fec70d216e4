"""JSON-RPC 2.0 message helpers: building, encoding and classifying messages.

Kept apart from framing (bytes) and from the mux (routing). The one clever bit
is `response_id_prefix`: most servers write responses as
`{"jsonrpc":"2.0","id":N,"result":...}`, so the id of a large response can be
swapped in place without decoding and re-encoding megabytes of JSON.
"""

import json
import re
from typing import Any, Dict, Optional, Tuple, Union

Id = Union[int, str]
Message = Dict[str, Any]

# Error codes from the LSP specification.
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_NOT_INITIALIZED = -32002
REQUEST_CANCELLED = -32800
REQUEST_FAILED = -32803  # LSP: a valid request that failed (its answer too large to deliver)

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def encode(msg: Message) -> bytes:
    return _dumps(msg).encode("utf-8")


def decode(body: bytes) -> Message:
    """Parse one body; ValueError for anything that is not a JSON-RPC object."""
    msg = json.loads(body)
    if not isinstance(msg, dict):
        raise ValueError("message is not a JSON object")
    return msg


def shape_problem(msg: Message) -> Optional[str]:
    """What makes `msg` no request, notification or response; None if fine.
    Types only: what the members mean is the receiver's business."""
    method = msg.get("method", _ABSENT)
    if method is not _ABSENT and not isinstance(method, str):
        return "method must be a string"
    rid = msg.get("id", _ABSENT)
    if rid is not _ABSENT and not valid_id(rid) and not (method is _ABSENT and rid is None):
        return "id must be an integer or a string"
    if method is _ABSENT and rid is _ABSENT:
        return "a message needs a method or an id"
    params = msg.get("params")
    if params is not None and not isinstance(params, (dict, list)):
        return "params must be an object or an array"
    return None


def valid_id(value: Any) -> bool:
    """The one check of a request id: an integer or a string (JSON's true is no id)."""
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def id_or_none(value: Any) -> Optional[Id]:
    """`value` if it is a valid id, else None."""
    return value if valid_id(value) else None


_ABSENT = object()


def request(id_: Id, method: str, params: Any = None) -> Message:
    msg: Message = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        msg["params"] = params
    return msg


def notification(method: str, params: Any = None) -> Message:
    msg: Message = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        msg["params"] = params
    return msg


def response(id_: Optional[Id], result: Any) -> Message:
    return {"jsonrpc": "2.0", "id": id_, "result": result}


def error(id_: Optional[Id], code: int, message: str) -> Message:
    return {"jsonrpc": "2.0", "id": id_, "error": {"code": code, "message": message}}


def show_message(text: str, type_: int = 1) -> Message:
    """window/showMessage; type 1 is Error, 2 Warning, 3 Info."""
    return notification("window/showMessage", {"type": type_, "message": text})


def is_response(msg: Message) -> bool:
    return "method" not in msg and "id" in msg


# `{` then an optional "jsonrpc" member, then "id", then "result" or "error":
# anchored at the start, so the id found is certainly the top-level one.
_RESPONSE_HEAD = re.compile(
    rb'\A\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"id"\s*:\s*(-?\d+)\s*,\s*"(?:result|error)"\s*:'
)


# `{`, an optional "jsonrpc" member, an optional id, then "method": a request
# or a notification (the members are certainly the top-level ones), no response.
_REQUEST_HEAD = re.compile(
    rb'\A\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?(?:"id"\s*:\s*(?:-?\d+|"[^"\\]*")\s*,\s*)?"method"\s*:'
)


def is_request_prefix(body: bytes) -> bool:
    """Does `body` say by its first members that it is a request or a
    notification (so no response)? False when they do not say."""
    return _REQUEST_HEAD.match(body) is not None


def response_id_prefix(body: bytes) -> Optional[Tuple[int, int, int]]:
    """For a response whose integer id leads the object: (id, start, end) of
    the id's bytes, so the caller can splice another id in. None otherwise."""
    match = _RESPONSE_HEAD.match(body)
    if match is None:
        return None
    return int(match.group(1)), match.start(1), match.end(1)


# A response's last members: `"id": N` then the object's end (one brace: no nested object's).
_RESPONSE_TAIL = re.compile(rb'[,{]\s*"id"\s*:\s*(-?\d+)\s*\}\s*\Z')


def response_id_of_ends(head: bytes, tail: bytes) -> Optional[int]:
    """The integer id of a response known only by its first and last bytes (a
    body too large to hold): from its leading members, else its trailing ones.
    None for a request or a notification, or when neither end says."""
    found = response_id_prefix(head)
    if found is not None:
        return found[0]
    if is_request_prefix(head) or b'"method"' in head:
        return None
    match = _RESPONSE_TAIL.search(tail)
    return int(match.group(1)) if match else None


def splice_id(body: bytes, start: int, end: int, new_id: Id) -> bytes:
    # An int id (nearly all) is its digits: no trip through the JSON encoder on every answer.
    text = b"%d" % new_id if type(new_id) is int else _dumps(new_id).encode("utf-8")
    return b"".join((body[:start], text, memoryview(body)[end:]))  # one copy

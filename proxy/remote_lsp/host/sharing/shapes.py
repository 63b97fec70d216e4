"""The shapes LSP 3.17 gives the messages the mux interprets.

The mux reads the params of a few methods itself (initialize, the document
sync family, cancellation, progress tokens, the server's registrations). Each
is checked here before the mux acts on it or forwards it, so an ill-typed
message from one client never reaches the server everyone shares, and the
mux's own bookkeeping never meets a value of the wrong type. Each check
returns None when the message is fine, else what is wrong with it, in words.
"""

from typing import Any, Callable, Dict, Optional

Check = Callable[[Any], Optional[str]]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _uint(value: Any) -> bool:
    return _is_int(value) and value >= 0


def is_id(value: Any) -> bool:
    """A request id or a progress token: an integer or a string."""
    return _is_int(value) or isinstance(value, str)


def _position(value: Any) -> bool:
    return isinstance(value, dict) and _uint(value.get("line")) and _uint(value.get("character"))


def _range(value: Any) -> bool:
    return isinstance(value, dict) and _position(value.get("start")) and _position(value.get("end"))


def _doc(params: Any, *, version: bool = False, item: bool = False) -> Optional[str]:
    if not isinstance(params, dict):
        return "params must be an object"
    doc = params.get("textDocument")
    if not isinstance(doc, dict):
        return "textDocument must be an object"
    if not isinstance(doc.get("uri"), str):
        return "textDocument.uri must be a string"
    if item:
        if not isinstance(doc.get("text"), str):
            return "textDocument.text must be a string"
        if not isinstance(doc.get("languageId"), str):
            return "textDocument.languageId must be a string"
        if not _is_int(doc.get("version")):
            return "textDocument.version must be an integer"
    if version and not _is_int(doc.get("version")):
        return "textDocument.version must be an integer"
    return None


def _did_open(params: Any) -> Optional[str]:
    return _doc(params, item=True)


def _did_change(params: Any) -> Optional[str]:
    problem = _doc(params, version=True)
    if problem:
        return problem
    changes = params.get("contentChanges")
    if not isinstance(changes, list):
        return "contentChanges must be an array"
    for change in changes:
        if not isinstance(change, dict) or not isinstance(change.get("text"), str):
            return "each content change needs a string text"
        if "range" in change and not _range(change["range"]):
            return "a content change's range must be a Range"
    return None


def _text_document(params: Any) -> Optional[str]:
    return _doc(params)


def _cancel(params: Any) -> Optional[str]:
    if not isinstance(params, dict) or not is_id(params.get("id")):
        return "params.id must be an integer or a string"
    return None


def _initialize(params: Any) -> Optional[str]:
    if not isinstance(params, dict):
        return "params must be an object"
    for key in ("capabilities", "clientInfo"):
        if key in params and not isinstance(params[key], dict):
            return "%s must be an object" % key
    folders = params.get("workspaceFolders")
    if folders is not None and not (isinstance(folders, list) and all(
            isinstance(f, dict) and isinstance(f.get("uri"), str) for f in folders)):
        return "workspaceFolders must be an array of {uri, name}"
    for key in ("rootUri", "rootPath"):
        if params.get(key) is not None and not isinstance(params[key], str):
            return "%s must be a string or null" % key
    return None


# Client -> server messages the mux reads (requests are checked the same way).
CLIENT: Dict[str, Check] = {
    "initialize": _initialize,
    "textDocument/didOpen": _did_open,
    "textDocument/didChange": _did_change,
    "textDocument/didClose": _text_document,
    "textDocument/didSave": _text_document,
    "textDocument/willSave": _text_document,
    "$/cancelRequest": _cancel,
}


def client_problem(method: str, params: Any) -> Optional[str]:
    """What is wrong with a client message's params, for the methods the mux reads;
    progress tokens of any request too."""
    check = CLIENT.get(method)
    if check is not None:
        return check(params)
    if isinstance(params, dict):
        for key in ("workDoneToken", "partialResultToken"):
            if key in params and params[key] is not None and not is_id(params[key]):
                return "%s must be an integer or a string" % key
    return None


def response_problem(msg: Dict[str, Any]) -> Optional[str]:
    """A client's answer to a server request: a result, or a proper error."""
    if "error" in msg:
        err = msg["error"]
        if not (isinstance(err, dict) and _is_int(err.get("code")) and isinstance(err.get("message"), str)):
            return "error must be {code: integer, message: string}"
    elif "result" not in msg:
        return "a response needs a result or an error"
    return None


def _registrations(params: Any) -> Optional[str]:
    regs = params.get("registrations") if isinstance(params, dict) else None
    if not isinstance(regs, list) or not all(
            isinstance(r, dict) and isinstance(r.get("id"), str) and isinstance(r.get("method"), str)
            for r in regs):
        return "registrations must be an array of {id, method}"
    return None


def _unregistrations(params: Any) -> Optional[str]:
    # The spec's field name really is misspelt "unregisterations".
    regs = params.get("unregisterations", params.get("unregistrations")) if isinstance(params, dict) else None
    if not isinstance(regs, list) or not all(isinstance(r, dict) and isinstance(r.get("id"), str)
                                             for r in regs):
        return "unregisterations must be an array of {id, method}"
    return None


def _token(params: Any) -> Optional[str]:
    if not isinstance(params, dict) or not is_id(params.get("token")):
        return "params.token must be an integer or a string"
    return None


def _configuration(params: Any) -> Optional[str]:
    if not isinstance(params, dict) or not isinstance(params.get("items"), list):
        return "params.items must be an array"
    return None


def _diagnostics(params: Any) -> Optional[str]:
    if not isinstance(params, dict) or not isinstance(params.get("uri"), str):
        return "params.uri must be a string"
    if params.get("version") is not None and not _is_int(params["version"]):
        return "params.version must be an integer"
    return None


# Server -> client messages the mux reads.
SERVER: Dict[str, Check] = {
    "client/registerCapability": _registrations,
    "client/unregisterCapability": _unregistrations,
    "window/workDoneProgress/create": _token,
    "$/progress": _token,
    "$/cancelRequest": _cancel,
    "workspace/configuration": _configuration,
    "textDocument/publishDiagnostics": _diagnostics,
}


def server_problem(method: str, params: Any) -> Optional[str]:
    check = SERVER.get(method)
    return check(params) if check is not None else None

"""The sharing contract (ARCHITECTURE.md), point by point, against the mux in process.

Exact: every message each side was sent is in a list. Point 8 (the idle
policy) belongs to the instance and is tested end to end in test_sharing.py,
as is the wiring of everything here through the real agent.
"""

import os

from remote_lsp.wire import jsonrpc

from tests.support.muxharness import Harness

DOC = {"uri": "file:///w/a.py", "languageId": "python", "version": 1, "text": "a = 1\n"}


def insert(uri, version, line, ch, text):
    return {"textDocument": {"uri": uri, "version": version},
            "contentChanges": [{"range": {"start": {"line": line, "character": ch},
                                          "end": {"line": line, "character": ch}}, "text": text}]}


# --- 1: initialize once, for everyone --------------------------------------------

def test_1_first_initialize_goes_to_the_server_with_agent_pid_and_utf16():
    h = Harness()
    a = h.client()
    a.request(7, "initialize", {"processId": 4242, "capabilities": {"general": {"positionEncodings":
                                                                                ["utf-8", "utf-16"]}}})
    sent = h.last_request("initialize")
    assert sent["params"]["processId"] == os.getpid()
    assert sent["params"]["capabilities"]["general"]["positionEncodings"] == ["utf-16"]
    assert a.responses(7) == []  # waits for the server
    h.answer("initialize", {"capabilities": {"hoverProvider": True}})
    assert a.responses(7)[0]["result"] == {"capabilities": {"hoverProvider": True}}


def test_1_later_clients_get_the_cached_result_and_initialized_goes_once():
    h = Harness()
    a = h.ready_client()
    b = h.client()
    b.request("b-init", "initialize", {"processId": 1, "capabilities": {}})
    assert b.responses("b-init")[0]["result"]["capabilities"]["hoverProvider"] is True
    b.notify("initialized", {})
    assert len(h.server_got("initialize")) == 1
    assert len(h.server_got("initialized")) == 1
    assert a.closed is None


def test_1_clients_initializing_together_share_one_server_initialize():
    h = Harness()
    a, b = h.client(), h.client()
    a.request(1, "initialize", {"capabilities": {}})
    b.request(1, "initialize", {"capabilities": {}})
    assert len(h.server_got("initialize")) == 1
    h.answer("initialize", {"capabilities": {}})
    assert a.responses(1) and b.responses(1)


# --- 2: shutdown and exit end one client ------------------------------------------

def test_2_shutdown_is_answered_by_the_mux_and_exit_ends_that_client_only():
    h = Harness()
    a, b = h.ready_client(), h.ready_client()
    a.request("s", "shutdown")
    assert a.responses("s") == [{"jsonrpc": "2.0", "id": "s", "result": None}]
    a.notify("exit")
    assert a.closed == "exit" and b.closed is None
    assert not h.server_got("shutdown") and not h.server_got("exit")


# --- 3: ids and cancellation -----------------------------------------------------------

def test_3_ids_are_rewritten_and_restored_per_client():
    h = Harness()
    a, b = h.ready_client(), h.ready_client()
    a.request(5, "textDocument/hover", {"position": {"line": 0, "character": 0}})
    b.request(5, "textDocument/hover", {"position": {"line": 1, "character": 0}})
    sa, sb = [m["id"] for m in h.server_got("textDocument/hover")]
    assert sa != sb
    h.server_sends(jsonrpc.response(sb, "for b"))
    h.server_sends(jsonrpc.response(sa, "for a"))
    assert [m["result"] for m in a.responses(5)] == ["for a"]
    assert [m["result"] for m in b.responses(5)] == ["for b"]


def test_3_cancel_is_translated_to_the_server_id():
    h = Harness()
    a, b = h.ready_client(), h.ready_client()
    a.request(9, "test/slow")
    b.request(9, "test/slow")
    sa = h.server_got("test/slow")[0]["id"]
    a.notify("$/cancelRequest", {"id": 9})
    assert [m["params"] for m in h.server_got("$/cancelRequest")] == [{"id": sa}]


def test_3_a_client_leaving_has_its_requests_cancelled_and_late_replies_dropped():
    h = Harness()
    a, b = h.ready_client(), h.ready_client()
    a.request(1, "test/slow")
    sid = h.server_got("test/slow")[0]["id"]
    a.close("gone")
    assert [m["params"] for m in h.server_got("$/cancelRequest")] == [{"id": sid}]
    before = len(b.got)
    h.server_sends(jsonrpc.response(sid, "late"))
    assert len(b.got) == before and not a.responses(1)


# --- 4: requests from the server --------------------------------------------------------

def test_4_progress_create_refresh_and_registrations_are_answered_and_broadcast():
    h = Harness()
    a, b = h.ready_client(), h.ready_client()
    for sid, method, params in (
            (101, "window/workDoneProgress/create", {"token": "t"}),
            (102, "workspace/semanticTokens/refresh", None),
            (103, "client/registerCapability", {"registrations": [
                {"id": "r1", "method": "workspace/didChangeWatchedFiles"}]})):
        h.server_sends(jsonrpc.request(sid, method, params))
        assert h.to_server[-1] == {"jsonrpc": "2.0", "id": sid, "result": None}
        for c in (a, b):
            assert c.received(method)[-1].get("params") == params


def test_4_registrations_are_replayed_to_a_late_joiner_and_unregistrations_remembered():
    h = Harness()
    h.ready_client()
    watch = "workspace/didChangeWatchedFiles"
    regs = [{"id": "r1", "method": watch}, {"id": "r2", "method": watch}]
    h.server_sends(jsonrpc.request(1, "client/registerCapability", {"registrations": regs}))
    h.server_sends(jsonrpc.request(2, "client/unregisterCapability",
                                   {"unregisterations": [{"id": "r1", "method": watch}]}))
    late = h.ready_client()
    assert [m["params"] for m in late.received("client/registerCapability")] == [{"registrations": regs[1:]}]


def test_4_routed_requests_go_to_the_client_waiting_and_its_answer_goes_back():
    h = Harness()
    a, b = h.ready_client(), h.ready_client()
    b.request("cmd", "workspace/executeCommand", {"command": "fix"})
    h.server_sends(jsonrpc.request("srv-1", "workspace/applyEdit", {"edit": {}}))
    assert not a.received("workspace/applyEdit")
    (asked,) = b.received("workspace/applyEdit")
    b.send(jsonrpc.response(asked["id"], {"applied": True}))
    assert h.to_server[-1] == {"jsonrpc": "2.0", "id": "srv-1", "result": {"applied": True}}


def test_4_with_no_client_the_mux_answers_with_a_default():
    h = Harness(init_result={"capabilities": {}})
    h.server_sends(jsonrpc.request(1, "workspace/configuration", {"items": [{}, {}]}))
    assert h.to_server[-1] == {"jsonrpc": "2.0", "id": 1, "result": [None, None]}
    h.server_sends(jsonrpc.request(2, "window/showDocument", {"uri": "file:///w/a.py"}))
    assert h.to_server[-1]["result"] == {"success": False}
    h.server_sends(jsonrpc.request(3, "custom/ask", {}))
    assert h.to_server[-1]["error"]["code"] == jsonrpc.METHOD_NOT_FOUND


def test_4_a_client_leaving_with_a_server_request_gets_it_answered_by_default():
    h = Harness()
    a = h.ready_client()
    h.server_sends(jsonrpc.request(8, "workspace/configuration", {"items": [{}]}))
    assert a.received("workspace/configuration")
    a.close("gone")
    assert h.to_server[-1] == {"jsonrpc": "2.0", "id": 8, "result": [None]}


def test_4_workspace_folders_are_answered_by_the_mux():
    h = Harness(root_uri="file:///w/proj")
    a = h.ready_client()
    h.server_sends(jsonrpc.request(4, "workspace/workspaceFolders"))
    assert h.to_server[-1]["result"] == [{"uri": "file:///w/proj", "name": "proj"}]
    assert not a.received("workspace/workspaceFolders")


# --- 5: notifications to everyone ---------------------------------------------------------

def test_5_diagnostics_progress_and_messages_reach_every_ready_client():
    h = Harness()
    a, b = h.ready_client(), h.ready_client()
    pending = h.client()  # not initialized: it gets nothing yet
    h.server_sends(jsonrpc.request(1, "window/workDoneProgress/create", {"token": 3}))
    for method, params in (("textDocument/publishDiagnostics", {"uri": "file:///w/a.py", "diagnostics": []}),
                           ("$/progress", {"token": 3, "value": {"kind": "begin", "title": "x"}}),
                           ("window/logMessage", {"type": 3, "message": "hi"}),
                           ("window/showMessage", {"type": 3, "message": "hi"})):
        h.server_sends(jsonrpc.notification(method, params))
        for c in (a, b):
            assert c.received(method)[-1]["params"] == params
    assert pending.got == []


def test_5_progress_for_a_clients_own_token_goes_to_that_client_only():
    h = Harness()
    a, b = h.ready_client(), h.ready_client()
    a.request(1, "workspace/symbol", {"query": "", "workDoneToken": "mine"})
    h.server_sends(jsonrpc.notification("$/progress", {"token": "mine", "value": {"kind": "begin"}}))
    assert a.received("$/progress") and not b.received("$/progress")


# --- 6: documents -----------------------------------------------------------------------------

def test_6_documents_are_reference_counted_and_closed_with_their_last_client():
    h = Harness()
    a, b = h.ready_client(), h.ready_client()
    a.notify("textDocument/didOpen", {"textDocument": DOC})
    b.notify("textDocument/didOpen", {"textDocument": DOC})
    assert len(h.server_got("textDocument/didOpen")) == 1
    a.close("gone")
    assert not h.server_got("textDocument/didClose")
    b.notify("textDocument/didClose", {"textDocument": {"uri": DOC["uri"]}})
    assert len(h.server_got("textDocument/didClose")) == 1


def test_6_the_server_holds_the_last_editors_text_with_rising_versions():
    h = Harness()
    a, b = h.ready_client(), h.ready_client()
    a.notify("textDocument/didOpen", {"textDocument": DOC})
    b.notify("textDocument/didOpen", {"textDocument": DOC})
    a.notify("textDocument/didChange", insert(DOC["uri"], 2, 0, 0, "# a\n"))
    b.notify("textDocument/didChange", insert(DOC["uri"], 2, 0, 0, "# b\n"))  # b never saw a's line
    changes = h.server_got("textDocument/didChange")
    assert changes[-1]["params"]["contentChanges"] == [{"text": "# b\na = 1\n"}]  # full resync
    versions = [c["params"]["textDocument"]["version"] for c in changes]
    assert versions == sorted(set(versions))


# --- 7: one client's mistakes stay its own; a gone server answers everyone -----------------------

def test_7_ill_typed_messages_never_reach_the_server():
    h = Harness()
    a, b = h.ready_client(), h.ready_client()
    before = list(h.to_server)
    a.notify("textDocument/didChange", {"textDocument": None, "contentChanges": []})
    a.notify("textDocument/didOpen", {"textDocument": {"uri": 5}})
    a.request("x", "initialize", {"capabilities": "all"})
    a.request("y", "textDocument/hover", {"workDoneToken": {"no": 1}})
    a.notify("$/cancelRequest", {"id": [1]})
    assert h.to_server == before
    assert a.responses("x")[0]["error"]["code"] == jsonrpc.INVALID_PARAMS
    assert a.responses("y")[0]["error"]["code"] == jsonrpc.INVALID_PARAMS
    logged = [m["params"]["message"] for m in a.received("window/logMessage")]
    assert len(logged) == 3 and "textDocument must be an object" in logged[0]
    assert a.closed is None and b.closed is None and not b.received("window/logMessage")


def test_7_a_gone_server_answers_every_pending_request_with_the_reason():
    h = Harness()
    a, b = h.ready_client(), h.ready_client()
    a.request(1, "test/slow")
    b.request(2, "test/slow")
    h.mux.fail_pending("remote-lsp: server was killed by SIGKILL")
    for c, rid in ((a, 1), (b, 2)):
        assert "SIGKILL" in c.responses(rid)[0]["error"]["message"]


# --- 9: the server's own requests keep their ids both ways -------------------------------------------

def test_9_the_servers_cancel_reaches_the_client_with_the_id_it_saw():
    h = Harness()
    a, b = h.ready_client(), h.ready_client()
    a.request("cmd", "workspace/executeCommand", {"command": "x"})
    h.server_sends(jsonrpc.request("srv-7", "window/showMessageRequest", {"type": 3, "message": "ok?"}))
    (asked,) = a.received("window/showMessageRequest")
    h.server_sends(jsonrpc.notification("$/cancelRequest", {"id": "srv-7"}))
    assert a.received("$/cancelRequest") == [jsonrpc.notification("$/cancelRequest", {"id": asked["id"]})]
    assert not b.received("$/cancelRequest")
    # The client's answer to a cancelled request still reaches the server under its id.
    a.send(jsonrpc.error(asked["id"], jsonrpc.REQUEST_CANCELLED, "cancelled"))
    assert h.to_server[-1]["id"] == "srv-7"


# --- 11: each client served in the form it declared ---

TOOL_CAPS = {}  # an AI tool's minimal capabilities: no markdown, no snippets, no registration, no progress
MARKDOWN_HOVER = {"contents": {"kind": "markdown",
                               "value": "```python\ngreet(name)\n```\n\nSay \\_hello\\_."}}


def test_11_the_server_is_initialized_for_every_client_whoever_comes_first():
    h = Harness()
    h.ready_client(caps=TOOL_CAPS)
    caps = h.last_request("initialize")["params"]["capabilities"]
    assert caps["textDocument"]["hover"]["contentFormat"][0] == "markdown"
    assert caps["textDocument"]["completion"]["completionItem"]["snippetSupport"] is True
    assert caps["window"]["workDoneProgress"] is True


def test_11_markdown_and_snippets_are_made_plain_for_a_client_without_them():
    h = Harness()
    rich, tool = h.ready_client(), h.ready_client(caps=TOOL_CAPS)
    for c in (rich, tool):
        c.request("h", "textDocument/hover", {})
        h.answer("textDocument/hover", MARKDOWN_HOVER)
    assert rich.responses("h")[0]["result"] == MARKDOWN_HOVER
    plain_hover = {"kind": "plaintext", "value": "greet(name)\n\nSay _hello_."}
    assert tool.responses("h")[0]["result"]["contents"] == plain_hover
    item = {"label": "greet", "insertTextFormat": 2, "insertText": "greet(${1:name}, ${2|a,b|})$0",
            "documentation": {"kind": "markdown", "value": "**Say** hello"}}
    for c in (rich, tool):
        c.request("c", "textDocument/completion", {})
        h.answer("textDocument/completion", {"isIncomplete": False, "items": [dict(item)]})
    assert rich.responses("c")[0]["result"]["items"][0] == item
    plain = tool.responses("c")[0]["result"]["items"][0]
    assert plain["insertText"] == "greet(name, a)" and plain["insertTextFormat"] == 1
    assert plain["documentation"] == {"kind": "plaintext", "value": "**Say** hello"}


def test_11_registrations_and_progress_only_to_clients_that_take_them():
    h = Harness()
    rich, tool = h.ready_client(), h.ready_client(caps=TOOL_CAPS)
    reg = {"registrations": [{"id": "w", "method": "workspace/didChangeWatchedFiles"}]}
    h.server_sends(jsonrpc.request(1, "client/registerCapability", reg))
    h.server_sends(jsonrpc.request(2, "window/workDoneProgress/create", {"token": "idx"}))
    begin = {"token": "idx", "value": {"kind": "begin", "title": "x"}}
    h.server_sends(jsonrpc.notification("$/progress", begin))
    for method in ("client/registerCapability", "window/workDoneProgress/create", "$/progress"):
        assert rich.received(method) and not tool.received(method), method
    assert h.ready_client(caps=TOOL_CAPS).received("client/registerCapability") == []  # no replay either


# --- 13-17: each client answered on its own text, in its own form ---

URI = DOC["uri"]
AT_0 = {"textDocument": {"uri": URI}, "position": {"line": 0, "character": 0}}
PULL_CAPS = {"textDocument": {"diagnostic": {}}}  # a client taking diagnostics by pull (OpenCode declares it)
DIAG = {"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 1}}, "message": "x"}


def opened(h, *clients, text=DOC["text"]):
    for c in clients:
        c.notify("textDocument/didOpen", {"textDocument": dict(DOC, text=text)})


def publish(h, version, message):
    h.server_sends(jsonrpc.notification("textDocument/publishDiagnostics", {
        "uri": URI, "version": version, "diagnostics": [dict(DIAG, message=message)]}))


def shown(c):
    """The messages of the diagnostics a client was last sent, with their version."""
    last = c.received("textDocument/publishDiagnostics")
    if not last:
        return None
    p = last[-1]["params"]
    return p.get("version"), [d["message"] for d in p["diagnostics"]]


def server_version(h):
    versions = [m["params"]["textDocument"]["version"]
                for m in h.to_server if m.get("method") in ("textDocument/didOpen", "textDocument/didChange")]
    return versions[-1]


def server_text(h):
    text = None
    for m in h.to_server:
        if m.get("method") == "textDocument/didOpen":
            text = m["params"]["textDocument"]["text"]
        elif m.get("method") == "textDocument/didChange":
            for ch in m["params"]["contentChanges"]:
                assert "range" not in ch, "the test edits in full only"
                text = ch["text"]
    return text


def full(version, text):
    return {"textDocument": {"uri": URI, "version": version}, "contentChanges": [{"text": text}]}


def test_13_a_late_opener_gets_the_diagnostics_of_its_text_at_once():
    h = Harness()
    a, b = h.ready_client(), h.ready_client()
    opened(h, a)
    publish(h, 1, "on disk text")
    opened(h, b)  # same text, seconds later: the server is told nothing, b is shown them at once
    assert len(h.server_got("textDocument/didOpen")) == 1 and not h.server_got("textDocument/didChange")
    assert shown(b) == (1, ["on disk text"])


def test_13_a_late_opener_with_another_text_gets_fresh_diagnostics_and_the_editor_keeps_its_text():
    h = Harness()
    a, b = h.ready_client(), h.ready_client()
    opened(h, a)
    a.notify("textDocument/didChange", full(2, "edited = 1\n"))
    publish(h, server_version(h), "on a's edit")
    opened(h, b)  # b has the file as on disk
    assert server_text(h) == DOC["text"]  # lent to b, for its diagnostics
    publish(h, server_version(h), "on disk text")
    assert shown(b) == (1, ["on disk text"])
    assert shown(a) == (2, ["on a's edit"])  # a was shown nothing computed on b's text
    assert server_text(h) == "edited = 1\n"  # and the document is back to a's text


def test_14_a_request_is_answered_on_the_requesters_text_and_costs_nothing_when_texts_agree():
    h = Harness()
    a, b = h.ready_client(), h.ready_client()
    opened(h, a, b)
    before = len(h.to_server)
    b.request("h", "textDocument/hover", AT_0)
    assert h.to_server[before:] == [h.last_request("textDocument/hover")]  # agreeing texts: the request only
    h.answer("textDocument/hover", {"contents": "b"})
    a.notify("textDocument/didChange", full(2, "edited = 1\n"))
    b.request("h2", "textDocument/hover", AT_0)
    assert server_text(h) == DOC["text"]  # b's text went first, in full
    assert h.to_server[-1]["method"] == "textDocument/hover"
    h.answer("textDocument/hover", {"contents": "on b's text"})
    assert b.responses("h2")[0]["result"] == {"contents": "on b's text"}
    assert server_text(h) == "edited = 1\n"  # answered: back to the editor's text
    versions = [m["params"]["textDocument"]["version"] for m in h.server_got("textDocument/didChange")]
    assert versions == sorted(set(versions))


def test_14_a_request_needing_another_text_waits_for_those_in_flight():
    h = Harness()
    a, b = h.ready_client(), h.ready_client()
    opened(h, a, b)
    a.notify("textDocument/didChange", full(2, "edited = 1\n"))
    a.request("ha", "textDocument/definition", AT_0)
    b.request("hb", "textDocument/hover", AT_0)
    assert not h.server_got("textDocument/hover")  # a's is computed on a's text first
    assert server_text(h) == "edited = 1\n"
    b.notify("$/cancelRequest", {"id": "hb"})
    assert b.responses("hb")[0]["error"]["code"] == jsonrpc.REQUEST_CANCELLED
    b.request("hb2", "textDocument/semanticTokens/full", {"textDocument": {"uri": URI}})
    h.answer("textDocument/definition", [])
    assert server_text(h) == DOC["text"] and h.to_server[-1]["method"] == "textDocument/semanticTokens/full"
    h.answer("textDocument/semanticTokens/full", {"resultId": "1", "data": []})
    assert b.responses("hb2")[0]["result"] == {"resultId": "1", "data": []}
    assert server_text(h) == "edited = 1\n"


def test_15_diagnostics_go_only_to_clients_holding_the_text_they_were_computed_on():
    h = Harness()
    a, b, c = h.ready_client(), h.ready_client(), h.ready_client()
    opened(h, a, b)
    publish(h, 1, "on disk text")
    a.notify("textDocument/didChange", full(5, "edited = 1\n"))
    publish(h, server_version(h), "on a's edit")
    assert shown(a) == (5, ["on a's edit"])
    assert shown(b) == (1, ["on disk text"])  # b keeps the valid ones of its text
    assert shown(c) == (None, ["on disk text"])  # c has no copy open: it has the file as on disk
    publish(h, 1, "late, on the disk text")  # an old version's, but the server may have read a's edit since
    assert shown(a) == (5, ["on a's edit"]) and shown(b) == (1, ["on disk text"])


def published(h, version, message):
    """As pylsp publishes: no version when it has none, else the one it held when it began."""
    params = {"uri": URI, "diagnostics": [dict(DIAG, message=message)]}
    if version is not None:
        params["version"] = version
    h.server_sends(jsonrpc.notification("textDocument/publishDiagnostics", params))


def test_15_diagnostics_published_around_a_lend_reach_no_client_with_another_text():
    """pylsp takes the version as it begins and reads the text as it goes: what it
    publishes while the text is lent, or just after, may be computed on either text."""
    h = Harness()
    a, b = h.ready_client(), h.ready_client()
    opened(h, a, b)
    published(h, 1, "on disk text")
    a.notify("textDocument/didChange", full(2, "edited = 1\n"))  # unsaved
    published(h, 2, "on a's edit")
    b.request("h", "textDocument/hover", AT_0)
    lent = server_version(h)
    assert server_text(h) == DOC["text"]
    published(h, 2, "a's version, read on b's text")
    published(h, None, "no version, read on a's text")
    assert shown(a) == (2, ["on a's edit"]) and shown(b) == (1, ["on disk text"])
    h.answer("textDocument/hover", {"contents": "on b's text"})
    assert server_text(h) == "edited = 1\n"
    published(h, lent, "b's version, read on a's text")
    published(h, None, "no version, read on b's text")
    assert shown(a) == (2, ["on a's edit"]) and shown(b) == (1, ["on disk text"])
    published(h, server_version(h), "on a's edit, again")  # the server publishes for a's text again
    assert shown(a) == (2, ["on a's edit, again"]) and shown(b) == (1, ["on disk text"])


def test_15_a_server_publishing_without_versions_is_asked_again_when_it_may_have_read_another_text():
    h = Harness()
    a, b = h.ready_client(), h.ready_client()
    opened(h, a)
    a.notify("textDocument/didChange", full(2, "edited = 1\n"))
    published(h, None, "on a's edit")
    assert shown(a) == (None, ["on a's edit"])
    opened(h, b)  # the file as on disk: lent to b for its diagnostics
    assert server_text(h) == DOC["text"]
    published(h, None, "begun on a's text")  # the server's text is b's, but it may have begun on a's
    assert not b.received("textDocument/publishDiagnostics") and shown(a) == (None, ["on a's edit"])
    assert server_text(h) == DOC["text"]  # b's text again, whole: the server computes on it once more
    published(h, None, "on disk text")
    assert shown(b) == (None, ["on disk text"]) and shown(a) == (None, ["on a's edit"])
    assert server_text(h) == "edited = 1\n"  # back to the editor's text
    a.notify("textDocument/didChange", full(3, "edited = 2\n"))
    asked = len(h.server_got("textDocument/didChange"))
    published(h, None, "begun on b's text or a's")
    assert shown(a) == (None, ["on a's edit"]) and len(h.server_got("textDocument/didChange")) == asked + 1
    published(h, None, "on a's text")
    assert shown(a) == (None, ["on a's text"])
    a.notify("textDocument/didChange", full(4, "edited = 3\n"))
    a.notify("textDocument/didChange", full(5, "edited = 4\n"))
    published(h, None, "typed on")  # stale by a's own edits only: a is shown them, as without the mux
    assert shown(a) == (None, ["typed on"]) and shown(b) == (None, ["on disk text"])


def test_16_an_opener_with_the_disk_text_does_not_take_the_document_from_the_editor():
    h = Harness()
    a, b = h.ready_client(), h.ready_client()
    opened(h, a)
    a.notify("textDocument/didChange", full(2, "edited = 1\n"))
    publish(h, server_version(h), "on a's edit")
    opened(h, b)
    publish(h, server_version(h), "on disk text")
    b.request("h", "textDocument/hover", AT_0)
    h.answer("textDocument/hover", None)
    assert server_text(h) == "edited = 1\n"
    assert shown(a) == (2, ["on a's edit"])
    # c opens and closes before the server has computed on its text: back to a's.
    c = h.ready_client()
    opened(h, c, text="c = 3\n")
    assert server_text(h) == "c = 3\n"
    c.notify("textDocument/didClose", {"textDocument": {"uri": URI}})
    assert server_text(h) == "edited = 1\n"
    publish(h, server_version(h) - 1, "on c's text")
    assert shown(a) == (2, ["on a's edit"]) and shown(b) == (1, ["on disk text"])


def test_17_a_push_only_client_of_a_pull_only_server_gets_diagnostics_pushed():
    h = Harness()
    opencode = h.client()
    opencode.request("i", "initialize", {"capabilities": PULL_CAPS})
    h.answer("initialize", {"capabilities": {"textDocumentSync": 1, "diagnosticProvider": {
        "interFileDependencies": True, "workspaceDiagnostics": False}}})
    eglot = h.ready_client(caps={})
    opened(h, opencode, eglot)
    pulled = h.last_request("textDocument/diagnostic")  # on eglot's behalf
    assert not opencode.received("textDocument/publishDiagnostics")
    h.server_sends(jsonrpc.response(pulled["id"], {"kind": "full", "resultId": "r1", "items": [DIAG]}))
    assert shown(eglot) == (1, ["x"]) and not opencode.received("textDocument/publishDiagnostics")
    eglot.notify("textDocument/didChange", full(2, "b = 2\n"))
    h.server_sends(jsonrpc.response(h.last_request("textDocument/diagnostic")["id"],
                                    {"kind": "full", "items": []}))
    assert shown(eglot) == (2, [])
    late = h.ready_client(caps={})
    opened(h, late, text="b = 2\n")  # the same text as eglot's: what was pulled, at once
    assert shown(late) == (1, [])


def test_17_a_pulling_client_of_a_pushing_server_is_answered_from_what_it_pushed():
    h = Harness()
    eglot, opencode = h.ready_client(caps={}), h.ready_client(caps=PULL_CAPS)
    opened(h, eglot, opencode)
    opencode.request("p0", "textDocument/diagnostic", {"textDocument": {"uri": URI}})
    assert h.server_got("textDocument/diagnostic")  # nothing pushed yet: the server answers if it can
    h.answer("textDocument/diagnostic", {"kind": "full", "items": []})
    publish(h, 1, "pushed")
    opencode.request("p", "textDocument/diagnostic", {"textDocument": {"uri": URI}})
    (report,) = [m["result"] for m in opencode.responses("p")]
    assert report["kind"] == "full" and [d["message"] for d in report["items"]] == ["pushed"]
    assert len(h.server_got("textDocument/diagnostic")) == 1
    opencode.request("p2", "textDocument/diagnostic",
                     {"textDocument": {"uri": URI}, "previousResultId": report["resultId"]})
    assert opencode.responses("p2")[0]["result"] == {"kind": "unchanged", "resultId": report["resultId"]}
    eglot.notify("textDocument/didChange", full(2, "edited = 1\n"))
    publish(h, server_version(h), "on eglot's edit")
    opencode.notify("textDocument/didChange", full(2, "mine = 1\n"))
    opencode.request("p3", "textDocument/diagnostic", {"textDocument": {"uri": URI}})
    assert not opencode.responses("p3") and server_text(h) == "mine = 1\n"
    publish(h, server_version(h), "on opencode's edit")
    (report,) = [m["result"] for m in opencode.responses("p3")]
    assert [d["message"] for d in report["items"]] == ["on opencode's edit"]
    assert shown(eglot) == (2, ["on eglot's edit"])


def test_17_pull_registered_dynamically_is_done_for_clients_that_cannot_take_the_registration():
    h = Harness()
    dynamic = h.ready_client(caps={"textDocument": {"diagnostic": {"dynamicRegistration": True}}})
    static_only = h.ready_client(caps=PULL_CAPS)  # declares pull, takes no registration of it
    opened(h, dynamic, static_only)
    assert not h.server_got("textDocument/diagnostic")  # the server pushes, so far
    reg = {"registrations": [{"id": "d", "method": "textDocument/diagnostic", "registerOptions": {}}]}
    h.server_sends(jsonrpc.request("r", "client/registerCapability", reg))
    registered = "client/registerCapability"
    assert dynamic.received(registered) and not static_only.received(registered)
    pulled = h.last_request("textDocument/diagnostic")  # for the one that will never pull
    h.server_sends(jsonrpc.response(pulled["id"], {"kind": "full", "items": [DIAG]}))
    assert shown(static_only) == (1, ["x"]) and not dynamic.received("textDocument/publishDiagnostics")


def test_plain_snippets_and_markdown():
    from remote_lsp.host.sharing.adapt import plain_markdown, plain_snippet

    assert plain_snippet("for ${1:i} in ${2:range(${3:n})}:\n\t$0") == "for i in range(n):\n\t"
    assert plain_snippet(r"cost \$5 ${1}${TM_FILENAME:file} \}") == "cost $5 file }"
    assert plain_markdown("~~~\ncode\n~~~\nA \\*star\\*") == "code\nA *star*"


# --- watched files, served on the host (DESIGN.md "Watching on the host") -----------------

WATCH_REG = {"id": "w1", "method": "workspace/didChangeWatchedFiles",
             "registerOptions": {"watchers": [{"globPattern": "**/*.py"}]}}


def watching_harness():
    h = Harness()
    served = []
    h.mux.on_watch = lambda reg_id, options: served.append((reg_id, options))
    return h, served


def test_watch_every_server_is_offered_watched_files_whatever_its_clients_declared():
    h, _ = watching_harness()
    h.ready_client(caps={})
    caps = h.server_got("initialize")[0]["params"]["capabilities"]
    assert caps["workspace"]["didChangeWatchedFiles"] == {"dynamicRegistration": True,
                                                          "relativePatternSupport": True}


def test_watch_registrations_go_to_the_host_and_other_ones_to_the_clients():
    h, served = watching_harness()
    editor = h.ready_client()
    other = {"id": "c1", "method": "workspace/didChangeConfiguration"}
    h.mux.clients[editor.id].form.caps["workspace"]["didChangeConfiguration"] = {"dynamicRegistration": True}
    h.server_sends(jsonrpc.request(5, "client/registerCapability", {"registrations": [WATCH_REG, other]}))
    assert served == [("w1", WATCH_REG["registerOptions"])]
    assert [r["result"] for r in h.to_server if r.get("id") == 5] == [None]  # answered at once
    sent = editor.received("client/registerCapability")
    assert [r["id"] for m in sent for r in m["params"]["registrations"]] == ["c1"]
    assert set(h.mux.registrations) == {"w1", "c1"}  # recorded for a successor agent all the same
    second = {"registrations": [dict(WATCH_REG, id="w2")]}
    h.server_sends(jsonrpc.request(6, "client/registerCapability", second))
    assert len(editor.received("client/registerCapability")) == 1  # nothing of it for any client


def test_watch_a_clients_own_notifications_are_dropped_only_while_the_host_watches():
    h, served = watching_harness()
    editor = h.ready_client()
    change = {"changes": [{"uri": "file:///w/a.py", "type": 2}]}
    editor.notify("workspace/didChangeWatchedFiles", change)
    assert len(h.server_got("workspace/didChangeWatchedFiles")) == 1  # nobody watches yet: it goes on
    h.server_sends(jsonrpc.request(5, "client/registerCapability", {"registrations": [WATCH_REG]}))
    editor.notify("workspace/didChangeWatchedFiles", change)
    assert len(h.server_got("workspace/didChangeWatchedFiles")) == 1  # the host sends it already
    h.server_sends(jsonrpc.request(6, "client/unregisterCapability", {
        "unregisterations": [{"id": "w1", "method": "workspace/didChangeWatchedFiles"}]}))
    assert served[-1] == ("w1", None)
    assert editor.received("client/unregisterCapability") == []
    editor.notify("workspace/didChangeWatchedFiles", change)
    assert len(h.server_got("workspace/didChangeWatchedFiles")) == 2


def test_watch_registrations_an_earlier_agent_recorded_are_served_again():
    h, served = watching_harness()
    h.mux.restore({"capabilities": {}}, True, {"w1": WATCH_REG, "c1": {"id": "c1", "method": "x/y"}})
    h.mux.replay_watching()
    assert served == [("w1", WATCH_REG["registerOptions"])]
    late = h.ready_client()  # declares watched files: without the host it would be replayed w1
    assert late.received("client/registerCapability") == []


def test_14_a_request_waiting_for_its_text_is_answered_when_its_document_closes():
    h = Harness()
    a, b = h.ready_client(), h.ready_client()
    uri = "file:///w/a.py"

    def opened(text):
        return {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}}

    a.notify("textDocument/didOpen", opened("a = 1\n"))
    b.notify("textDocument/didOpen", opened("b = 2\n"))  # another text: b's requests wait for a's
    pos = {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 0}}
    a.request(1, "textDocument/hover", pos)
    b.request(2, "textDocument/hover", pos)
    b.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    (answer,) = b.responses(2)
    assert answer["error"]["code"] == jsonrpc.REQUEST_CANCELLED
    h.answer("textDocument/hover", {"contents": "x"})
    assert a.responses(1)

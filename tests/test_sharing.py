"""The sharing contract, point by point, through the real agent and `connect`.

The server is the scripted one, which reports exactly what reached it.
"""

import json
import os
import signal

from tests.conftest import pid_alive, wait_for
from tests.support.lspclient import EDITOR_CAPABILITIES, NO_REPLY, LspError

SLOW = {"seconds": 60}


def start(agent, scripted, project, n=2, **kw):
    argv, env, _ = scripted
    clients = []
    for i in range(n):
        c = agent.client(argv, str(project), *kw.get("opts", ()), name="c%d" % i, env=env)
        c.initialize(str(project))
        clients.append(c)
    return clients


def test_initialize_once_with_agent_pid_and_utf16(agent, scripted, project):
    _a, b = start(agent, scripted, project)
    st = b.server_state()
    assert st["initialize_calls"] == 1 and st["initialized"] == 1
    params = st["initialize_params"]
    assert params["processId"] == agent.agent_pid()  # not the first editor's pid
    assert params["capabilities"]["general"]["positionEncodings"] == ["utf-16"]
    status = agent.status()
    assert [len(i["clients"]) for i in status["instances"]] == [2]


def test_late_joiner_gets_cached_result_at_once(agent, scripted, project):
    argv, env, _ = scripted
    (a,) = start(agent, scripted, project, n=1)
    b = agent.client(argv, str(project), name="late", env=env)
    result = b.request("initialize", {"processId": None, "rootUri": project.as_uri(),
                                      "capabilities": {}})
    assert result["serverInfo"] == {"name": "scripted", "version": "1"}
    assert a.server_state()["initialize_calls"] == 1


def test_one_clients_shutdown_and_exit_leave_the_server_for_others(agent, scripted, project):
    a, b = start(agent, scripted, project)
    pid = a.server_state()["pid"]
    assert a.close() == 0  # shutdown + exit: the connect process ends cleanly
    st = b.server_state()
    assert st["pid"] == pid and st["shutdown"] == 0
    assert "exit" not in st["notifications"]


def test_cancel_ids_are_rewritten_per_client(agent, scripted, project):
    a, b = start(agent, scripted, project)
    # Both clients use request id 77; only a's must be cancelled.
    a.send({"jsonrpc": "2.0", "id": 77, "method": "test/slow", "params": SLOW})
    b.send({"jsonrpc": "2.0", "id": 77, "method": "test/slow", "params": SLOW})
    wait_for(lambda: all(c["pending_requests"] == 1 for c in agent.status()["instances"][0]["clients"]),
             what="both slow requests to be in flight")
    a.notify("$/cancelRequest", {"id": 77})
    assert a.wait_response(77)["error"]["code"] == -32800
    st = b.server_state()
    assert len(st["cancelled"]) == 1  # b's twin request is still running
    b.notify("$/cancelRequest", {"id": 77})
    assert b.wait_response(77)["error"]["code"] == -32800


def test_client_killed_its_requests_cancelled_and_documents_closed(agent, scripted, project):
    a, b = start(agent, scripted, project)
    uri = a.open(str(project / "a.py"))
    b.open(str(project / "b.py"))
    a.request_async("test/slow", SLOW)
    wait_for(lambda: any(c["pending_requests"] for c in agent.status()["instances"][0]["clients"]),
             what="the slow request to be in flight")
    a.proc.send_signal(signal.SIGKILL)
    wait_for(lambda: len(agent.status()["instances"][0]["clients"]) == 1, what="a to be dropped")
    st = b.server_state()
    assert len(st["cancelled"]) == 1
    assert st["closed"] == [uri]
    assert list(st["docs"]) == [(project / "b.py").as_uri()]


def test_apply_edit_and_configuration_go_to_the_client_that_asked(agent, scripted, project):
    a, b = start(agent, scripted, project)
    a.handlers["workspace/applyEdit"] = lambda p: {"applied": True, "by": "a"}
    b.handlers["workspace/applyEdit"] = lambda p: {"applied": True, "by": "b"}
    b.handlers["workspace/configuration"] = lambda p: [{"from": "b"}]
    edit = {"method": "workspace/applyEdit", "params": {"edit": {"changes": {}}}}
    assert b.request("test/ask", edit) == {"applied": True, "by": "b"}
    assert a.request("test/ask", edit) == {"applied": True, "by": "a"}
    conf = {"method": "workspace/configuration", "params": {"items": [{"section": "x"}]}}
    assert b.request("test/ask", conf) == [{"from": "b"}]
    assert [r["method"] for r in a.server_requests] == ["workspace/applyEdit"]


def test_no_client_left_gets_a_default_answer(agent, scripted, project):
    argv, env, _state_file = scripted
    (a,) = start(agent, scripted, project, n=1, opts=("--idle-timeout", "never"))
    never = []
    a.handlers["workspace/configuration"] = lambda p: never.append(p) or NO_REPLY
    a.request_async("test/ask", {"method": "workspace/configuration",
                                 "params": {"items": [{"section": "a"}, {"section": "b"}]}})
    wait_for(lambda: never, what="the configuration request to reach a")
    a.proc.kill()
    b = agent.client(argv, str(project), name="b", env=env)
    b.initialize(str(project))
    answers = wait_for(lambda: b.server_state()["answers"], what="the mux's default answer")
    assert answers == [{"method": "workspace/configuration", "answer": [None, None]}]


def test_registrations_and_progress_reach_every_client_and_late_joiners(agent, scripted, project):
    argv, env, _ = scripted
    # (watched files are not one of them: the agent watches for the server, see test_watch_servers.py)
    caps = dict(EDITOR_CAPABILITIES, textDocument=dict(EDITOR_CAPABILITIES["textDocument"], synchronization={
        "dynamicRegistration": True, "didSave": True}))
    a = agent.client(argv, str(project), name="c0", env=env)
    a.initialize(str(project), capabilities=caps)
    reg = {"registrations": [{"id": "r1", "method": "textDocument/didSave",
                              "registerOptions": {"includeText": False}}]}
    # The mux answers the server at once (null), without waiting on a client.
    assert a.request("test/serverRequest", {"method": "client/registerCapability",
                                            "params": reg}) is None
    assert a.server_requests[-1]["params"] == reg
    b = agent.client(argv, str(project), name="late", env=env)
    b.initialize(str(project), capabilities=caps)
    wait_for(lambda: b.server_requests, what="the replayed registration")
    assert b.server_requests[0]["method"] == "client/registerCapability"
    assert b.server_requests[0]["params"] == reg
    diag = {"uri": (project / "a.py").as_uri(), "diagnostics": [{"message": "boom", "range": {
        "start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 1}}}]}
    a.notify("test/publish", {"method": "textDocument/publishDiagnostics", "params": diag})
    for c in (a, b):
        got = c.wait_notification("textDocument/publishDiagnostics")
        assert got["diagnostics"][0]["message"] == "boom"


def test_document_edited_in_two_clients_stays_the_last_editors_text(agent, scripted, project):
    a, b = start(agent, scripted, project)
    path = str(project / "a.py")
    text = (project / "a.py").read_text()
    uri = a.open(path, text)
    b.open(path, text)

    def edit(c, version, line, ch, new):
        c.notify("textDocument/didChange", {
            "textDocument": {"uri": uri, "version": version},
            "contentChanges": [{"range": {"start": {"line": line, "character": ch},
                                          "end": {"line": line, "character": ch}}, "text": new}]})

    edit(a, 2, 0, 0, "# from a\n")
    edit(b, 2, 0, 0, "# from b\n")  # b's view never had a's line
    assert b.server_state()["docs"][uri]["text"] == "# from b\n" + text
    edit(a, 3, 1, 0, "x = 1\n")
    st = a.server_state()
    assert st["docs"][uri]["text"] == "# from a\nx = 1\n" + text
    versions = [ch["textDocument"]["version"] for ch in st["changes"]]
    assert versions == sorted(set(versions)), versions


def test_garbage_and_oversized_frames_drop_only_that_client(agent, scripted, project):
    a, b, c = start(agent, scripted, project, n=3)
    a.send_raw(b"this is not LSP\r\n\r\n")
    a.wait_closed()
    assert a.proc.wait(10) == 1  # connect reports that its client was dropped
    shown = a.notifications[-1]
    assert shown["method"] == "window/showMessage" and "malformed" in shown["params"]["message"]
    b.send_raw(b"Content-Length: 999999999999\r\n\r\n")
    b.wait_closed()
    assert "byte limit" in b.notifications[-1]["params"]["message"]
    assert c.hover((project / "a.py").as_uri(), 0, 0)["contents"]["value"].startswith("hover from")
    assert len(agent.status()["instances"][0]["clients"]) == 1


def test_server_crash_tells_every_client_and_next_connect_starts_fresh(agent, scripted, project):
    argv, env, _ = scripted
    a, b = start(agent, scripted, project)
    old = a.server_state()["pid"]
    a.request_async("test/crash", {"code": 3})
    for c in (a, b):
        c.wait_closed()
        msg = [n for n in c.notifications if n["method"] == "window/showMessage"][-1]["params"]
        assert msg["type"] == 1 and "exited with code 3" in msg["message"]
    fresh = agent.client(argv, str(project), name="fresh", env=env)
    fresh.initialize(str(project))
    assert fresh.server_state()["pid"] != old


def test_idle_policy_stops_with_shutdown_and_exit(agent, scripted, project):
    _argv, _env, state_file = scripted
    (a,) = start(agent, scripted, project, n=1, opts=("--idle-timeout", "0.2"))
    pid = a.server_state()["pid"]
    a.close()
    wait_for(lambda: not agent.status()["instances"], what="the idle instance to stop")
    wait_for(lambda: state_file.exists() and not pid_alive(pid), what="the server to exit")
    st = json.loads(state_file.read_text())
    assert st["shutdown"] == 1 and st["exit_code"] == 0  # graceful, not a signal


def test_stop_is_graceful_and_unknown_pid_is_refused(agent, scripted, project):
    _argv, _env, state_file = scripted
    (a,) = start(agent, scripted, project, n=1)
    pid = a.server_state()["pid"]
    assert agent.cli("stop", str(pid)).stdout.strip() == "stopped %d" % pid
    a.wait_closed()
    st = json.loads(wait_for(lambda: state_file.exists() and state_file.read_text()))
    assert st["shutdown"] == 1 and st["exit_code"] == 0
    proc = agent.cli("stop", "999999", "--json", check=False)
    assert proc.returncode == 3
    assert json.loads(proc.stdout)["error"]["code"] == 3


def test_connect_exits_when_its_client_closes_stdin(agent, scripted, project):
    (a,) = start(agent, scripted, project, n=1)
    a.proc.stdin.close()
    assert a.proc.wait(10) == 0
    wait_for(lambda: not agent.status()["instances"][0]["clients"], what="the client to go")


def test_run_then_share_by_pid(agent, scripted, project):
    argv, env, _ = scripted
    pid = int(agent.cli("run", "--root", str(project), "--", *argv).stdout)
    c = agent.client([], str(project), "--pid", str(pid), name="by-pid", env=env)
    c.initialize(str(project))
    assert c.server_state()["pid"] == pid
    proc = agent.cli("connect", "--pid", "1", check=False)
    assert proc.returncode == 3
    assert "no language server with pid 1 is managed" in proc.stderr


def test_requests_before_initialize_are_refused(agent, scripted, project):
    argv, env, _ = scripted
    c = agent.client(argv, str(project), name="eager", env=env)
    try:
        c.request("textDocument/hover", {})
    except LspError as exc:
        assert exc.error["code"] == -32002
    else:
        raise AssertionError("request before initialize was accepted")


def test_missing_server_command_is_a_clear_error(agent, project):
    c = agent.client(["no-such-language-server"], str(project), name="bad")
    assert c.proc.wait(30) == 1
    assert "no-such-language-server: command not found" in c.stderr
    assert os.path.exists(agent.home)


def test_workspace_folders_answered_by_the_mux(agent, scripted, project):
    (a,) = start(agent, scripted, project, n=1)
    folders = a.request("test/serverRequest", {"method": "workspace/workspaceFolders"})
    assert folders == [{"uri": project.as_uri(), "name": project.name}]
    assert not [r for r in a.server_requests if r["method"] == "workspace/workspaceFolders"]


def test_progress_create_goes_to_every_client_with_its_reports(agent, scripted, project):
    a, b = start(agent, scripted, project)
    assert a.request("test/serverRequest", {"method": "window/workDoneProgress/create",
                                            "params": {"token": "index"}}) is None
    report = {"token": "index", "value": {"kind": "begin", "title": "Indexing"}}
    a.notify("test/publish", {"method": "$/progress", "params": report})
    for c in (a, b):
        wait_for(lambda c=c: any(r["method"] == "window/workDoneProgress/create" for r in c.server_requests),
                 what="the progress token at %s" % c.name)
        assert c.wait_notification("$/progress")["value"]["title"] == "Indexing"


def test_an_ill_typed_notification_never_reaches_the_shared_server(agent, scripted, project):
    # The scripted server, like many real ones, falls over on a didChange
    # whose textDocument is null: the mux must keep it from ever seeing one.
    a, b = start(agent, scripted, project)
    pid = b.server_state()["pid"]
    uri = b.open(str(project / "a.py"))
    a.notify("textDocument/didChange", {"textDocument": None, "contentChanges": []})
    logged = a.wait_notification("window/logMessage")
    assert "refused textDocument/didChange: textDocument must be an object" in logged["message"]
    st = b.server_state()
    assert st["pid"] == pid and "textDocument/didChange" not in st["notifications"]
    assert b.hover(uri, 0, 0)["contents"]["value"].startswith("hover from")
    assert a.server_state()["pid"] == pid  # the client that erred is still served

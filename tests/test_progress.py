"""The progress the bridge shows while a remote session starts, in process."""

from remote_lsp.editor.progress import StartProgress


def test_progress_goes_on_the_editors_token_as_begin_reports_and_one_end():
    sent = []
    progress = StartProgress(sent.append, "h", "pylsp")
    progress.begin({"workDoneToken": "1"})
    progress.installing()
    progress.starting()
    progress.end()
    progress.end()  # once only
    assert [m["method"] for m in sent] == ["$/progress"] * 4
    assert {m["params"]["token"] for m in sent} == {"1"}
    values = [m["params"]["value"] for m in sent]
    assert [v["kind"] for v in values] == ["begin", "report", "report", "end"]
    assert values[0] == {"kind": "begin", "title": "remote-lsp", "message": "connecting to h",
                         "cancellable": False}
    assert [v["message"] for v in values[1:3]] == ["installing on h", "starting pylsp"]


def test_no_token_no_progress():
    sent = []
    progress = StartProgress(sent.append, "h", "pylsp")
    progress.begin({})
    progress.starting()
    progress.end()
    assert sent == []

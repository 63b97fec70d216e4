"""The registry record, in process: typed and versioned, written and read
back the same, an older format still read, an ill-typed one skipped."""

import json
import logging

from remote_lsp.host.sharing.registry import FORMAT, InstanceRecord, Registry

# A record as remote-lsp 0.2 wrote it (format 1: untyped, no `isolation`).
FORMAT_1 = {
    "entry": "ab12", "argv": ["/usr/bin/pylsp"], "root": "/p", "name": "pylsp", "pid": 4242,
    "start_ticks": 99, "started": 1700000000, "adopted": False, "attached": None,
    "fifos": ["/s/fifos/ab12.in", "/s/fifos/ab12.out"], "idle_timeout": None, "generation": 1, "owed": 0,
    "log": "/s/logs/pylsp.log", "init_result": {"capabilities": {"hoverProvider": True}},
    "initialized_sent": True, "registrations": {}, "documents": [{"uri": "file:///p/a.py", "version": 3}],
    "server_requests": [[4294967297, {"result": None}]], "format": 1,
}


def test_an_older_record_still_reads(tmp_path):
    (tmp_path / "ab12.json").write_text(json.dumps(FORMAT_1))
    ((entry, record),) = Registry(tmp_path).load_all()
    assert entry == "ab12" and isinstance(record, InstanceRecord)
    assert (record.pid, record.argv, record.idle_timeout, record.isolation) == (
        4242, ["/usr/bin/pylsp"], None, "")
    assert record.started == 1700000000.0 and isinstance(record.started, float)
    assert record.documents == [{"uri": "file:///p/a.py", "version": 3}]
    assert record.server_requests == [[4294967297, {"result": None}]]


def test_a_record_reads_back_as_it_was_written(tmp_path):
    record = InstanceRecord(entry="cd34", argv=["ra"], root="/q", name="ra", pid=7, start_ticks=8,
                            started=1.5, fifos=["/a.in", "/a.out"], idle_timeout=600.0, isolation="x1",
                            owed=12)
    Registry(tmp_path).save("cd34", record)
    assert json.loads((tmp_path / "cd34.json").read_text())["format"] == FORMAT
    assert Registry(tmp_path).load_all() == [("cd34", record)]


def test_an_ill_typed_or_newer_record_is_skipped_and_removed(tmp_path, caplog):
    (tmp_path / "bad.json").write_text(json.dumps(dict(FORMAT_1, pid="4242")))
    (tmp_path / "new.json").write_text(json.dumps(dict(FORMAT_1, format=FORMAT + 1)))
    with caplog.at_level(logging.WARNING):
        assert Registry(tmp_path).load_all() == []
    assert "pid has the wrong type" in caplog.text and "not a registry record of format" in caplog.text
    assert list(tmp_path.iterdir()) == []

"""The files on a host as an editor reads and writes them: the operations
(host/files/disk.py) on a real file system, and the editor's channel to the agent's
file service over the real sshd, both transports, across a cut."""

import asyncio
import base64
import json
import os
import socket
import stat
import sys

import pytest
from remote_lsp.host.files import disk
from remote_lsp.host.files.service import FileService
from remote_lsp.host.session import Session
from remote_lsp.wire import framing

from tests.conftest import PROXY
from tests.support.filechannel import b64, channel
from tests.support.lspclient import LspError
from tests.support.outage import hold, outage
from tests.support.samples import SAMPLES
from tests.support.sessions import wait_link

# --- the operations ----------------------------------------------------------------------


def test_bytes_round_trip_unchanged(tmp_path):
    for name, data in SAMPLES.items():
        path = str(tmp_path / name)
        disk.write(path, data, None)
        entry = disk.read(path)
        assert entry["data"] == data and entry["type"] == "file" and entry["writable"]
        assert entry["version"] == disk.stat_entry(path)["version"]


def test_a_write_is_refused_over_a_change_made_meanwhile_unless_forced(tmp_path):
    path = tmp_path / "main.py"
    path.write_bytes(b"print('mine')\n")
    seen = disk.read(str(path))["version"]
    path.write_bytes(b"print('theirs')\n")  # someone else, on the host
    with pytest.raises(disk.FileError) as refused:
        disk.write(str(path), b"print('mine, edited')\n", seen)
    assert refused.value.code == disk.CONFLICT and "has changed since it was read" in refused.value.message
    assert path.read_bytes() == b"print('theirs')\n"  # nothing overwritten
    assert refused.value.current == disk.stat_entry(str(path))["version"]
    disk.write(str(path), b"print('mine, edited')\n", seen, force=True)  # :w!
    assert path.read_bytes() == b"print('mine, edited')\n"


def test_a_touch_is_no_conflict_and_a_file_created_meanwhile_is(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"same\n")
    seen = disk.read(str(path))["version"]
    os.utime(path, ns=(1, 1))  # the bytes are what the editor read
    new = disk.write(str(path), b"next\n", seen)
    assert path.read_bytes() == b"next\n" and new == disk.stat_entry(str(path))["version"]
    (tmp_path / "new.txt").write_bytes(b"created on the host\n")
    with pytest.raises(disk.FileError) as refused:
        disk.write(str(tmp_path / "new.txt"), b"from the editor\n", None)  # the editor saw no file
    assert refused.value.code == disk.CONFLICT and "was created" in refused.value.message


def test_a_save_keeps_mode_symlink_and_hard_links_and_leaves_no_temporary_file(tmp_path):
    plain = tmp_path / "tool.sh"
    plain.write_bytes(b"#!/bin/sh\n")
    plain.chmod(0o750)
    inode = plain.stat().st_ino
    disk.write(str(plain), b"#!/bin/sh\necho hi\n", disk.read(str(plain))["version"])
    assert stat.S_IMODE(plain.stat().st_mode) == 0o750
    assert plain.stat().st_ino != inode  # replaced whole, by a rename: never half-written

    target = tmp_path / "real.py"
    target.write_bytes(b"a = 1\n")
    link = tmp_path / "link.py"
    link.symlink_to(target)
    disk.write(str(link), b"a = 2\n", disk.read(str(link))["version"])
    assert link.is_symlink() and target.read_bytes() == b"a = 2\n"

    first = tmp_path / "first"
    first.write_bytes(b"shared\n")
    second = tmp_path / "second"
    os.link(first, second)
    disk.write(str(first), b"both see this\n", disk.read(str(first))["version"])
    assert second.read_bytes() == b"both see this\n" and first.stat().st_ino == second.stat().st_ino

    new = tmp_path / "made.txt"
    disk.write(str(new), b"new\n", None)
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(new.stat().st_mode) == 0o666 & ~mask
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".remote-lsp")]


def test_errors_name_the_path_and_change_nothing(tmp_path):
    missing = str(tmp_path / "no" / "such" / "dir" / "f.txt")
    entry = disk.read(missing)
    assert entry["exists"] is False and entry["writable"] is False and entry["version"] is None
    with pytest.raises(disk.FileError) as failed:
        disk.write(missing, b"x", None)
    assert failed.value.code == disk.NODIR and missing in failed.value.message
    assert not (tmp_path / "no").exists()
    with pytest.raises(disk.FileError) as failed:
        disk.write(str(tmp_path), b"x", None, force=True)
    assert failed.value.code == disk.ISDIR


def test_a_save_in_place_that_fails_keeps_the_old_bytes(tmp_path):
    """A file with another hard link is written in place; the file-size limit
    (as a quota would) stops the write: refused, and the file is as it was."""
    import subprocess

    path = tmp_path / "linked.txt"
    path.write_bytes(b"OLD" * 4000)
    os.link(path, tmp_path / "other-name.txt")
    script = (
        "import resource, signal, sys\n"
        "from remote_lsp.host.files import disk\n"
        "seen = disk.current_version(sys.argv[1])\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (8000, resource.RLIM_INFINITY))\n"
        "try:\n"
        "    disk.write(sys.argv[1], b'NEW' * 5000, seen)\n"
        "except disk.FileError as exc:\n"
        "    print(exc.code)\n")
    out = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(PROXY.parent)), timeout=30)
    assert out.stdout.strip() == "nospace", out.stderr
    assert path.read_bytes() == b"OLD" * 4000


def test_a_fifo_or_a_bad_batch_is_refused_at_once_and_changes_nothing(tmp_path):
    from remote_lsp.host.files import service as fileservice

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert disk.read(str(fifo))["type"] == "other"  # and no data: the editor says it is no file
    for attempt in (lambda: disk.current_version(str(fifo)),
                    lambda: disk.write(str(fifo), b"x", None, force=True)):
        with pytest.raises(disk.FileError) as refused:  # at once: a reader would block forever
            attempt()
        assert "%s is a FIFO: only regular files are" % fifo in refused.value.message
    a = tmp_path / "a.txt"
    a.write_bytes(b"a")
    with pytest.raises(TypeError):
        fileservice._write_all([{"path": str(a), "data": b64(b"A2"), "expect": disk.current_version(str(a))},
                                {"path": str(a), "data": 5}])
    assert a.read_bytes() == b"a"


def test_a_directory_reads_as_its_listing(tmp_path):
    (tmp_path / "b.py").write_text("")
    (tmp_path / "a dir").mkdir()
    (tmp_path / "l").symlink_to(tmp_path / "a dir")
    entry = disk.read(str(tmp_path))
    assert entry["type"] == "directory"
    assert entry["entries"] == [{"name": "a dir", "type": "directory"},
                                {"name": "b.py", "type": "file"},
                                {"name": "l", "type": "directory", "link": True}]


def serve(requests, timeout=30.0):
    """The agent's file service in process, its channel a real session on a socket pair:
    the answers to `requests` ((method, params), ids from 1), each as its body in bytes,
    with the notifications sent before the last answer."""
    async def run():
        service = FileService(None)
        session = Session(1, service.message, lambda s, r: None)
        ours, theirs = socket.socketpair()
        session.open(os.dup(ours.fileno()), os.dup(ours.fileno()))
        ours.close()
        service.opened(session)
        theirs.setblocking(False)
        loop = asyncio.get_running_loop()
        for rid, (method, params) in enumerate(requests, 1):
            body = json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params}).encode()
            await loop.sock_sendall(theirs, framing.encode(body))
        parser, answers, notes = framing.FrameParser(), {}, []
        try:
            while len(answers) < len(requests):
                data = await asyncio.wait_for(loop.sock_recv(theirs, 1 << 16), timeout)
                assert data, "the service closed the channel"
                for body in parser.feed(data):
                    msg = json.loads(body)
                    if "id" in msg:
                        answers[msg["id"]] = body
                    else:
                        notes.append(msg)
        finally:
            theirs.close()
            session.close("done")
            service.close()
        return [answers[rid] for rid in range(1, len(requests) + 1)], notes

    return asyncio.run(run())


def test_a_directory_too_large_for_one_message_lists_its_first_entries_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(disk, "MAX_LISTED", 4000)  # instead of a directory of millions of names
    big, small = tmp_path / "big", tmp_path / "small"
    big.mkdir()
    small.mkdir()
    names = ["file-%04d.txt" % i for i in range(300)]
    for name in names:
        (big / name).write_text("")
    (small / "a.py").write_text("")
    (listed, read, few), _ = serve([("files/list", {"path": str(big)}), ("files/read", {"paths": [str(big)]}),
                                    ("files/list", {"path": str(small)})])
    entry = json.loads(listed)["result"]
    assert entry["truncated"] is True and entry["count"] == 300
    kept = [e["name"] for e in entry["entries"]]
    assert 0 < len(kept) < 300 and kept == names[:len(kept)]  # the first, in order
    assert len(listed) < 4000 + 1000  # the entries within the budget, the rest of the entry besides
    (as_read,) = json.loads(read)["result"]["files"]
    assert as_read["truncated"] is True and as_read["entries"] == entry["entries"] and len(read) < 5000
    small_entry = json.loads(few)["result"]
    assert small_entry["entries"] == [{"name": "a.py", "type": "file"}] and "truncated" not in small_entry


def test_cat_stat_and_put_for_scripts(tmp_path):
    import subprocess

    path = tmp_path / "caf\u00e9 notes.txt"
    path.write_bytes(b"one\r\n")

    def cli(*args, data=None):
        return subprocess.run([sys.executable, str(PROXY), *args], input=data, capture_output=True)

    assert cli("cat", str(path)).stdout == b"one\r\n"
    seen = json.loads(cli("stat", str(path)).stdout)["version"]
    put = cli("put", "--if-unchanged-since", seen, str(path), data=b"two\r\n")
    assert put.returncode == 0 and path.read_bytes() == b"two\r\n"
    again = cli("put", "--if-unchanged-since", seen, str(path), data=b"three\r\n")
    assert again.returncode == 4 and b"has changed since it was read" in again.stderr
    assert path.read_bytes() == b"two\r\n"


# --- the editor's channel over SSH ---------------------------------------------------------


@pytest.mark.parametrize("transport", ["openssh", "paramiko"])
def test_the_channel_reads_and_writes_many_files_in_one_request(remote, tmp_path, transport):
    root = tmp_path / "proj \u00e9t\u00e9"
    root.mkdir()
    for name, data in SAMPLES.items():
        (root / name).write_bytes(data)
    c = channel(remote, transport)
    paths = [str(root / name) for name in SAMPLES] + [str(root / "new.py")]
    got = c.request("files/read", {"paths": paths})["files"]
    assert [base64.b64decode(e["data"]) for e in got[:-1]] == list(SAMPLES.values())
    assert got[-1]["exists"] is False and got[-1]["writable"] is True
    edits = [{"path": e["path"], "data": b64(base64.b64decode(e["data"]) + b"!"), "expect": e["version"]}
             for e in got[:-1]]
    edits.append({"path": str(root / "new.py"), "data": b64(b"new\n"), "expect": None})
    written = c.request("files/write", {"files": edits})["files"]
    assert all(w["ok"] for w in written), written
    assert [(root / name).read_bytes() for name in SAMPLES] == [d + b"!" for d in SAMPLES.values()]
    assert (root / "new.py").read_bytes() == b"new\n"

    # Someone changes one on the host: that write is refused, the others go.
    (root / "crlf.txt").write_bytes(b"theirs\r\n")
    again = c.request("files/write", {"files": [
        {"path": w["path"], "data": b64(b"mine\n"), "expect": w["version"]} for w in written[:2]]})["files"]
    assert again[0]["ok"] is False and again[0]["error"]["code"] == "conflict"
    assert again[1]["ok"] is True
    assert (root / "crlf.txt").read_bytes() == b"theirs\r\n"


def test_the_channel_survives_a_cut_and_a_save_during_it_fails_cleanly(remote, sshd, tmp_path):
    path = tmp_path / "a.py"
    path.write_bytes(b"a = 1\n")
    c = channel(remote, "openssh", "--request-timeout", "2")
    seen = c.request("files/read", {"paths": [str(path)]})["files"][0]["version"]
    save = {"files": [{"path": str(path), "data": b64(b"a = 2\n"), "expect": seen}]}
    with outage(sshd):
        wait_link(c, "down")
        with pytest.raises(LspError) as failed:
            c.request("files/write", save, timeout=30)
        assert "unreachable" in str(failed.value)
        hold(1)
    assert path.read_bytes() == b"a = 1\n"  # nothing half-done
    wait_link(c, "up")
    (w,) = c.request("files/write", save)["files"]
    assert w["ok"] and path.read_bytes() == b"a = 2\n"


def test_the_agent_shows_the_channel_and_cat_and_put_work_over_ssh(remote, tmp_path):
    path = tmp_path / "x.txt"
    path.write_bytes(b"host\n")
    c = channel(remote)
    c.request("files/watch", {"files": {str(path): None}})
    status = json.loads(remote.cli("status", "--json").stdout)
    assert status["files"]["channels"] == 1 and status["files"]["watched"] == 1
    assert "files: 1 editor channel, 1 open file watched in 1 directory\n" in remote.cli("status").stdout
    assert remote.cli("cat", str(path)).stdout == "host\n"
    seen = json.loads(remote.cli("stat", str(path)).stdout)["version"]
    import subprocess

    argv = [sys.executable, str(PROXY), "--host", remote.alias, "put", "--if-unchanged-since", seen,
            str(path)]
    put = subprocess.run(argv, input=b"editor\n", env=remote.env, capture_output=True, timeout=60)
    assert put.returncode == 0, put.stderr
    assert path.read_bytes() == b"editor\n"


def test_files_watch_answers_what_changed_since_the_versions_given(remote, tmp_path):
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_bytes(b"a\n")
    b.write_bytes(b"b\n")
    c = channel(remote)
    va, vb = (e["version"] for e in c.request("files/read", {"paths": [str(a), str(b)]})["files"])
    b.write_bytes(b"b changed\n")
    changes = c.request("files/watch", {"files": {str(a): va, str(b): vb, str(tmp_path / "gone.py"): "1:1:x"}}
                        )["changes"]
    assert sorted((ch["path"], ch["kind"]) for ch in changes) == [
        (str(b), "changed"), (str(tmp_path / "gone.py"), "deleted")]


def test_a_second_channel_goes_straight_to_the_agent(remote, tmp_path):
    """The first channel's welcome names the agent's socket: the next one (a
    second Neovim, or one after the first ended) starts nothing on the host."""
    path = tmp_path / "a.txt"
    path.write_bytes(b"hello\n")
    first = channel(remote)
    assert first.request("files/stat", {"path": str(path)})["type"] == "file"
    one = sorted(remote.leftovers())  # the first channel's ssh session and its waiting `files`
    assert one
    second = channel(remote)
    (entry,) = second.request("files/read", {"paths": [str(path)]})["files"]
    assert base64.b64decode(entry["data"]) == b"hello\n"
    assert sorted(remote.leftovers()) == one
    assert json.loads(remote.cli("status", "--json").stdout)["files"]["channels"] == 2


def test_changes_on_the_host_are_told_and_the_channels_own_writes_are_not(remote, tmp_path):
    path = tmp_path / "watched file.py"
    path.write_bytes(b"one\n")
    c = channel(remote)
    (entry,) = c.request("files/read", {"paths": [str(path)]})["files"]
    assert c.request("files/watch", {"files": {str(path): entry["version"]}})["changes"] == []
    (w,) = c.request("files/write", {"files": [{"path": str(path), "data": b64(b"two\n"),
                                                "expect": entry["version"]}]})["files"]
    assert w["ok"]
    path.write_bytes(b"three, from someone else\n")  # on the host
    told = c.wait_notification("files/changed", timeout=10)["changes"]
    assert [(ch["path"], ch["kind"]) for ch in told] == [(str(path), "changed")]
    # Our own write was not told back: the only news is the other change.
    assert len([n for n in c.notifications if n["method"] == "files/changed"]) == 1
    path.unlink()
    told = c.wait_notification("files/changed", lambda p: p["changes"][0]["kind"] == "deleted", timeout=10)
    assert told["changes"] == [{"path": str(path), "kind": "deleted", "version": None}]


def test_a_watch_naming_no_version_is_refused_and_changes_nothing_for_anyone(remote, tmp_path):
    path = tmp_path / "shared.py"
    path.write_bytes(b"one\n")
    theirs, bad = channel(remote), channel(remote)
    (entry,) = theirs.request("files/read", {"paths": [str(path)]})["files"]
    assert theirs.request("files/watch", {"files": {str(path): entry["version"]}})["changes"] == []
    with pytest.raises(LspError) as refused:
        bad.request("files/watch", {"files": {str(path): 5}})
    assert refused.value.error["code"] == -32602 and "version" in str(refused.value)
    assert json.loads(remote.cli("status", "--json").stdout)["files"]["watched"] == 1
    path.write_bytes(b"two, from someone else\n")  # on the host: the other channel is still told
    told = theirs.wait_notification("files/changed", timeout=10)["changes"]
    assert [(ch["path"], ch["kind"]) for ch in told] == [(str(path), "changed")]


def test_files_locate_answers_as_the_locate_command_and_refuses_bad_params(remote, tmp_path):
    """A buffer's project root and its server commands, on the channel already up,
    the same answer as `remote-lsp locate`; bad params refused, nothing answered."""
    (tmp_path / "proj" / "src").mkdir(parents=True)
    (tmp_path / "proj" / "pyproject.toml").write_text("")
    path = str(tmp_path / "proj" / "src" / "new.py")
    c = channel(remote)
    asked = {"path": path, "markers": ["setup.py", "pyproject.toml"], "commands": ["sh", "no-such-server"]}
    found = c.request("files/locate", asked)
    assert found["root"] == str(tmp_path / "proj") and found["marker_found"] and found["dir_exists"]
    assert found["commands"]["sh"] and found["commands"]["no-such-server"] is None
    cli = remote.cli("locate", path, "--marker", "setup.py", "--marker", "pyproject.toml",
                     "--command", "sh", "--command", "no-such-server")
    assert json.loads(cli.stdout) == found
    for bad in ({"path": path, "markers": "pyproject.toml", "commands": []},
                {"path": path, "markers": [""], "commands": []},
                {"path": path, "markers": [], "commands": [3]},
                {"markers": [], "commands": []}):
        with pytest.raises(LspError) as refused:
            c.request("files/locate", bad)
        assert refused.value.error["code"] == -32602
    assert c.request("files/locate", {"path": str(tmp_path / "gone" / "a.py")})["root"] is None


def test_a_file_reached_through_a_symlinked_directory_is_watched_where_it_is(remote, tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    path = real / "m.py"
    path.write_bytes(b"one\n")
    name = str(tmp_path / "link" / "m.py")
    c = channel(remote)
    (entry,) = c.request("files/read", {"paths": [name]})["files"]
    c.request("files/watch", {"files": {name: entry["version"]}})
    path.write_bytes(b"two\n")
    told = c.wait_notification("files/changed", timeout=10)["changes"]
    assert [(ch["path"], ch["kind"]) for ch in told] == [(name, "changed")]


def test_a_directory_removed_and_made_again_is_followed(remote, tmp_path):
    """`rm -rf gen && make`: the open file's removal is told, and its return."""
    import shutil

    gen = tmp_path / "gen"
    gen.mkdir()
    path = gen / "out.py"
    path.write_bytes(b"generated = 1\n")
    c = channel(remote)
    (entry,) = c.request("files/read", {"paths": [str(path)]})["files"]
    c.request("files/watch", {"files": {str(path): entry["version"]}})
    shutil.rmtree(gen)
    told = c.wait_notification("files/changed", timeout=10)["changes"]
    assert told == [{"path": str(path), "kind": "deleted", "version": None}]
    gen.mkdir()
    path.write_bytes(b"generated = 2\n")
    told = c.wait_notification("files/changed", lambda p: p["changes"][0]["kind"] == "created", timeout=10)
    assert [(ch["path"], ch["kind"]) for ch in told["changes"]] == [(str(path), "created")]


def test_a_same_size_write_in_the_same_timestamp_tick_as_a_save_is_told(remote, tmp_path):
    """Timestamps move in coarse steps: a write of the same size right after a
    save can leave size and mtime as the save left them. Its bytes say it changed."""
    path = tmp_path / "m.py"
    path.write_bytes(b"one\n")
    c = channel(remote)
    (entry,) = c.request("files/read", {"paths": [str(path)]})["files"]
    c.request("files/watch", {"files": {str(path): entry["version"]}})
    (w,) = c.request("files/write", {"files": [{"path": str(path), "data": b64(b"two\n"),
                                                "expect": entry["version"]}]})["files"]
    mtime = int(w["version"].split(":")[1])
    path.write_bytes(b"TWO\n")  # on the host, within the save's timestamp tick
    os.utime(path, ns=(mtime, mtime))
    # Told, pushed or (whichever comes first) in the answer to the editor's files/watch after its save.
    changes = c.request("files/watch", {"files": {str(path): w["version"]}})["changes"]
    told = [ch for n in c.notifications if n["method"] == "files/changed" for ch in n["params"]["changes"]]
    assert [(ch["path"], ch["kind"]) for ch in changes + told] == [(str(path), "changed")]
    assert (changes + told)[0]["version"].startswith("4:%d:" % mtime)


def test_an_open_file_two_levels_below_a_directory_made_again_or_moved_away_is_followed(remote, tmp_path):
    """`rm -rf build && make` writing build/gen/out.py: told deleted, then
    created; a directory above it moved out of the project: told deleted."""
    import shutil

    gen = tmp_path / "proj" / "build" / "gen"
    gen.mkdir(parents=True)
    path = gen / "out.py"
    path.write_bytes(b"generated = 1\n")
    c = channel(remote)
    (entry,) = c.request("files/read", {"paths": [str(path)]})["files"]
    c.request("files/watch", {"files": {str(path): entry["version"]}})
    shutil.rmtree(tmp_path / "proj" / "build")
    told = c.wait_notification("files/changed", timeout=10)["changes"]
    assert told == [{"path": str(path), "kind": "deleted", "version": None}]
    gen.mkdir(parents=True)
    path.write_bytes(b"generated = 2\n")
    told = c.wait_notification("files/changed", lambda p: p["changes"][0]["kind"] == "created", timeout=10)
    assert [(ch["path"], ch["kind"]) for ch in told["changes"]] == [(str(path), "created")]
    (tmp_path / "proj" / "build").rename(tmp_path / "moved-out")
    told = c.wait_notification("files/changed", lambda p: p["changes"][0]["kind"] == "deleted"
                               and len([n for n in c.notifications if n["method"] == "files/changed"]) == 3,
                               timeout=10)
    assert told["changes"] == [{"path": str(path), "kind": "deleted", "version": None}]
@pytest.fixture
def freezable(tmp_path):
    """A small ext4 file system of its own (a loop mount), to be frozen with
    fsfreeze as a hung NFS server or a snapshot holds one; always thawed and
    unmounted after."""
    import shutil
    import subprocess

    if os.geteuid() != 0 or not shutil.which("fsfreeze") or not shutil.which("mkfs.ext4"):
        pytest.skip("needs root, fsfreeze and mkfs.ext4 for a loop mount")
    image, mount = tmp_path / "fs.img", tmp_path / "frozen"
    mount.mkdir()
    with open(image, "wb") as f:
        f.truncate(32 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True)
    if subprocess.run(["mount", "-o", "loop", str(image), str(mount)]).returncode != 0:
        pytest.skip("loop mounts are not permitted here")
    try:
        yield mount
    finally:
        subprocess.run(["fsfreeze", "-u", str(mount)], capture_output=True)
        subprocess.run(["umount", "-l", str(mount)], check=True)


def test_a_frozen_file_system_holds_only_the_requests_on_it(remote, tmp_path, freezable):
    import subprocess

    hung, other = freezable / "hung.txt", tmp_path / "other.txt"
    hung.write_bytes(b"one\n")
    other.write_bytes(b"one\n")
    c = channel(remote)
    read = c.request("files/read", {"paths": [str(hung), str(other)]})["files"]
    seen = {e["path"]: e["version"] for e in read}
    subprocess.run(["fsfreeze", "-f", str(freezable)], check=True)
    try:
        stuck = c.request_async("files/write", {"files": [{"path": str(hung), "data": b64(b"two\n"),
                                                          "expect": seen[str(hung)]}]})
        # Another file system's reads and writes are answered while that write waits.
        (w,) = c.request("files/write", {"files": [{"path": str(other), "data": b64(b"two\n"),
                                                    "expect": seen[str(other)]}]})["files"]
        assert w["ok"] and other.read_bytes() == b"two\n"
        (e,) = c.request("files/read", {"paths": [str(other)]})["files"]
        assert base64.b64decode(e["data"]) == b"two\n"
        assert c.request("files/stat", {"path": str(tmp_path)})["type"] == "directory"
        assert not c._responses[stuck].qsize()  # still waiting on the frozen file system
        # A read of the file being written comes after the write: past the bound, it is answered so.
        with pytest.raises(LspError) as hung_read:
            c.request("files/read", {"paths": [str(hung)]})
        assert "did not answer within" in str(hung_read.value) and str(hung) in str(hung_read.value)
    finally:
        subprocess.run(["fsfreeze", "-u", str(freezable)], check=True)
    # Thawed: the write that waited is done, and said so.
    (w,) = c.wait_response(stuck)["result"]["files"]
    assert w["ok"] and hung.read_bytes() == b"two\n"


def test_a_read_on_a_hung_file_system_is_answered_at_the_channel_s_own_request_bound(remote, freezable):
    """The editor's bound (host_timeout, the channel's --request-timeout) is the host's too:
    the read is answered so when it passes, not at the default's 10 s."""
    import subprocess

    hung = freezable / "hung.txt"
    hung.write_bytes(b"one\n")
    c = channel(remote, "openssh", "--request-timeout", "3")
    (seen,) = c.request("files/read", {"paths": [str(hung)]})["files"]
    subprocess.run(["fsfreeze", "-f", str(freezable)], check=True)
    try:
        stuck = c.request_async("files/write", {"files": [{"path": str(hung), "data": b64(b"two\n"),
                                                          "expect": seen["version"]}]})
        with pytest.raises(LspError) as hung_read:
            c.request("files/read", {"paths": [str(hung)]})
        assert "did not answer within 3 s" in str(hung_read.value)
    finally:
        subprocess.run(["fsfreeze", "-u", str(freezable)], check=True)
    (w,) = c.wait_response(stuck)["result"]["files"]
    assert w["ok"] and hung.read_bytes() == b"two\n"


def test_files_too_large_together_for_one_message_are_answered_in_turns(remote, tmp_path):
    """Three 25 MB files asked at once (a reload, a workspace edit) would make a
    105 MB answer, over a frame's limit: the host answers what fits and names
    the rest, the channel goes on."""
    from remote_lsp.host.files.service import MAX_BATCH
    from remote_lsp.wire.framing import DEFAULT_MAX_FRAME

    paths = []
    for n in range(3):
        path = tmp_path / ("big%d.txt" % n)
        path.write_bytes(bytes([65 + n]) * (25 << 20))
        paths.append(str(path))
    c = channel(remote)
    got, asked, answers = [], paths, []
    while asked:
        rid = c.request_async("files/read", {"paths": asked})
        answer = c.wait_response(rid, timeout=60)["result"]
        answers.append(answer)
        assert len(json.dumps(answer)) < DEFAULT_MAX_FRAME
        got += answer["files"]
        asked = answer.get("more", [])
    assert len(answers) > 1 and [e["path"] for e in got] == paths
    assert [base64.b64decode(e["data"]) for e in got] == [bytes([65 + n]) * (25 << 20) for n in range(3)]
    assert all(len(a["files"]) == 1 or sum(len(e["data"]) for e in a["files"]) <= MAX_BATCH for a in answers)
    # The channel goes on: a save is answered at once.
    (w,) = c.request("files/write", {"files": [{"path": paths[0], "data": b64(b"small\n"),
                                                "expect": got[0]["version"]}]})["files"]
    assert w["ok"]


def test_a_message_over_the_frame_limit_from_the_editor_ends_its_channel_once(remote, tmp_path):
    from remote_lsp.wire.framing import DEFAULT_MAX_FRAME, encode

    path = tmp_path / "a.txt"
    path.write_bytes(b"a\n")
    c = channel(remote)
    assert c.request("files/stat", {"path": str(path)})["type"] == "file"
    waiting = c.request_async("files/read", {"paths": [str(path)]})
    c.send_raw(encode(json.dumps({"jsonrpc": "2.0", "id": 99, "method": "files/read",
                                  "params": {"paths": [str(path)]}}).encode())
               + b"Content-Length: %d\r\n\r\n" % (DEFAULT_MAX_FRAME + 1) + b"x" * (1 << 20))
    try:
        c.send_raw(b"x" * (4 << 20))  # more of it: still one message
    except BrokenPipeError:
        pass  # the channel had ended already
    assert c.proc.wait(30) == 1
    c.wait_closed()
    told = [n for n in c.notifications if n["method"] == "window/showMessage"]
    assert len(told) == 1 and "cannot be taken" in told[0]["params"]["message"], told
    assert c.wait_response(waiting, timeout=1)  # answered: its result, or the error if it came with it
    assert "cannot be taken" in c.wait_response(99, timeout=1)["error"]["message"]  # came with it: not done
    assert "cannot be taken" in c.stderr
    # The next channel works.
    assert channel(remote).request("files/stat", {"path": str(path)})["type"] == "file"


def test_the_agent_gives_its_memory_back_after_large_transfers(remote, tmp_path):
    """30-40 MB reads and writes leave no whole-file copies behind: once the channels are closed
    the agent is back within 20 MB of its size before them."""
    from remote_lsp.host.procs import rss_kb

    from tests.conftest import wait_for

    small = tmp_path / "small.txt"
    small.write_bytes(b"small\n")
    first = channel(remote)
    first.request("files/read", {"paths": [str(small)]})
    agent = int((remote.sshd.remote_state / "agent.pid").read_text())
    first.close()
    wait_for(lambda: json.loads(remote.cli("status", "--json").stdout)["files"]["channels"] == 0, 30,
             "the channel to close")
    idle = rss_kb(agent)
    paths = [tmp_path / ("large%d.bin" % i) for i in range(2)]
    for i, path in enumerate(paths):
        path.write_bytes(os.urandom(1 << 20) * (30 + 10 * i))
    for _ in range(2):
        c = channel(remote)
        for path in paths:
            (e,) = c.request("files/read", {"paths": [str(path)]}, timeout=60)["files"]
            data = b64(base64.b64decode(e["data"])[::-1])
            (w,) = c.request("files/write", {"files": [{"path": str(path), "data": data,
                                                        "expect": e["version"]}]}, timeout=60)["files"]
            assert w["ok"], w
        c.close()
    wait_for(lambda: json.loads(remote.cli("status", "--json").stdout)["files"]["channels"] == 0, 30,
             "the channels to close")
    try:
        wait_for(lambda: rss_kb(agent) < idle + (20 << 10), 30, "the agent's memory back")
    except TimeoutError:
        raise AssertionError("agent RSS: %d kB idle, %d kB after" % (idle, rss_kb(agent))) from None


def test_a_file_system_hung_in_a_real_path_holds_only_the_requests_on_it(tmp_path, monkeypatch):
    """A real path or a directory check asked of a hung file system (a dead NFS mount: its
    lstat never returns) is asked on the request's own thread: another channel's requests on
    another file system are answered meanwhile. In-process: a hung lstat is made by making
    os.path.realpath and os.path.isdir wait on that mount's paths (fsfreeze holds neither)."""
    import asyncio
    import queue
    import threading

    from remote_lsp.host.files.service import FileService
    from remote_lsp.host.session import Session

    hung, other = tmp_path / "nfs", tmp_path / "local"
    hung.mkdir()
    other.mkdir()
    (hung / "a.txt").write_bytes(b"one\n")
    (hung / "c.txt").write_bytes(b"one\n")
    (other / "b.txt").write_bytes(b"two\n")
    entered, thawed = threading.Event(), threading.Event()
    real_realpath, real_isdir = os.path.realpath, os.path.isdir

    def waits(fn):
        def call(path, *args, **kwargs):
            if str(path).startswith(str(hung)):
                entered.set()
                thawed.wait(30)
            return fn(path, *args, **kwargs)
        return call

    monkeypatch.setattr(os.path, "realpath", waits(real_realpath))
    monkeypatch.setattr(os.path, "isdir", waits(real_isdir))

    class Channel(Session):
        def __init__(self):
            super().__init__(0, lambda s, m: None, lambda s, why: None)
            self.answers = queue.Queue()

        def send(self, msg):
            self.answers.put(msg)

    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    service = FileService(None)

    async def channels():
        return Channel(), Channel()

    stuck, free = asyncio.run_coroutine_threadsafe(channels(), loop).result(10)
    for ch in (stuck, free):
        loop.call_soon_threadsafe(service.opened, ch, 0.0)

    def ask(ch, rid, method, params):
        loop.call_soon_threadsafe(service.message, ch, {"jsonrpc": "2.0", "id": rid, "method": method,
                                                        "params": params})

    try:
        for rid, (method, params) in enumerate([
                ("files/watch", {"files": {str(hung / "a.txt"): None}}),
                ("files/read", {"paths": [str(hung / "c.txt")]}),
                ("search/files", {"root": str(hung)}),
                ("search/grep", {"root": str(hung), "pattern": "one"})]):
            entered.clear()
            ask(stuck, rid, method, params)
            assert entered.wait(10), method
            # Meanwhile another channel on another file system is answered.
            ask(free, rid, "files/read", {"paths": [str(other / "b.txt")]})
            (entry,) = free.answers.get(timeout=10)["result"]["files"]
            assert base64.b64decode(entry["data"]) == b"two\n"
            assert stuck.answers.empty()
        thawed.set()
        answers = {}
        while len(answers) < 4:
            msg = stuck.answers.get(timeout=10)
            if "id" in msg:
                answers[msg["id"]] = msg
        assert answers[0]["result"]["changes"][0]["kind"] == "created"
        assert base64.b64decode(answers[1]["result"]["files"][0]["data"]) == b"one\n"
        assert answers[2]["result"]["total"] == 2
        assert answers[3]["result"]["truncated"] is False
    finally:
        thawed.set()
        loop.call_soon_threadsafe(service.close)
        loop.call_soon_threadsafe(loop.stop)

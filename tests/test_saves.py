"""A save is exact and loses nobody's work (host/files/disk.py): a change made
while a save is written is refused, a writer killed at any moment leaves the
file wholly old or wholly new and no temporary file once the next agent has
started, what a file is besides its bytes is kept, a batch is checked whole,
and errors say what happened. Faults are real: a writer process held at one
system call by strace and killed there by its pid."""

import base64
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from remote_lsp.host.files import disk
from remote_lsp.host.files import service as fileservice

from tests.conftest import PROXY, wait_for

WRITER = (
    "import os, sys\n"
    "from remote_lsp.host.files import disk\n"
    "journal, path, size, byte, expect = sys.argv[1:6]\n"
    "if journal != '-':\n"
    "    disk.keep_journal(journal)\n"
    "print(os.getpid(), flush=True)\n"
    "try:\n"
    "    print(disk.write(path, byte.encode() * int(size), None if expect == '-' else expect))\n"
    "except disk.FileError as exc:\n"
    "    print(exc.code, exc.message)\n")


def held_writer(syscall: str, journal, path: Path, data: bytes, expect, hold="30s") -> subprocess.Popen:
    """A writer of `data` (one byte repeated) held by strace at its first `syscall` for `hold`."""
    assert len(set(data)) == 1
    argv = ["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=" + syscall,
            "-e", "inject=%s:delay_enter=%s:when=1" % (syscall, hold),
            sys.executable, "-c", WRITER, str(journal or "-"), str(path), str(len(data)), chr(data[0]),
            expect or "-"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(PROXY.parent)))
    proc.writer_pid = int(proc.stdout.readline())  # type: ignore[attr-defined]
    return proc


def temporaries(directory: Path):
    return sorted(p.name for p in directory.iterdir() if disk.is_temporary(p.name))


def start_agent(home: Path) -> str:
    """An agent started on `home`, stopped once it listens; what `status` said."""
    env = dict(os.environ, REMOTE_LSP_HOME=str(home), PYTHONPATH=str(PROXY.parent))
    agent = subprocess.Popen([sys.executable, str(PROXY), "agent", "--foreground"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        log = home / "agent.log"
        wait_for(lambda: log.exists() and "listening on" in log.read_text(), what="the agent listening")
        return subprocess.run([sys.executable, str(PROXY), "status"], env=env, capture_output=True, text=True,
                              timeout=60, check=True).stdout
    finally:
        agent.terminate()
        agent.wait(timeout=30)


def cut_short_in_place(tmp_path, old: bytes, new: bytes):
    """A file with another hard link (so written in place), its writer killed by pid
    once the new bytes are over the old: (state directory, path)."""
    home = tmp_path / "state"
    path = tmp_path / "linked.py"
    path.write_bytes(old)
    os.link(path, tmp_path / "other-name.py")
    writer = held_writer("ftruncate", home / "writes", path, new, disk.current_version(str(path)))
    wait_for(lambda: path.read_bytes()[:1] == new[:1], what="the new bytes over the old")
    os.kill(writer.writer_pid, signal.SIGKILL)
    writer.kill()  # strace, which would wait out its delay
    writer.wait(timeout=30)
    return home, path


def test_a_change_made_while_the_save_is_written_is_refused(tmp_path):
    path = tmp_path / "main.py"
    path.write_bytes(b"old\n" * 1000)
    seen = disk.current_version(str(path))
    # Held with its temporary file written, not yet renamed:
    writer = held_writer("fsync", None, path, b"m" * 100000, seen, "2s")
    wait_for(lambda: any((tmp_path / t).stat().st_size == 100000 for t in temporaries(tmp_path)),
             what="the temporary file written")
    path.write_bytes(b"theirs\n" * 1000)  # someone on the host, in the save's window
    out, _ = writer.communicate(timeout=60)
    assert out.startswith("conflict ") and "has changed since it was read" in out
    assert path.read_bytes() == b"theirs\n" * 1000  # their change kept
    assert temporaries(tmp_path) == []


def test_a_writer_killed_mid_write_in_place_leaves_the_old_bytes_once_the_agent_starts(tmp_path):
    """A file with another hard link is written in place; the writer is killed
    when the new bytes are over the old ones but the rest is not yet cut (new
    lines followed by old ones): the next agent puts the old bytes back."""
    old = b"o" * 50000
    home, path = cut_short_in_place(tmp_path, old, b"n" * 20000)
    assert path.read_bytes() == b"n" * 20000 + b"o" * 30000  # half-written, as the kill left it
    log = start_agent(home)
    assert path.read_bytes() == old and (tmp_path / "other-name.py").read_bytes() == old
    assert "at start: %s was cut short by a write that did not finish: its old bytes are back" % path in log
    assert os.listdir(home / "writes") == []


def test_a_writer_killed_before_its_rename_leaves_no_temporary_file_once_the_agent_starts(tmp_path):
    home = tmp_path / "state"
    project = tmp_path / "proj"
    project.mkdir()
    path = project / "main.py"
    path.write_bytes(b"old\n")
    stranger = project / ".notes.txt.4242.abcdefgh.remote-lsp"  # the pattern, but no write of ours
    stranger.write_bytes(b"someone's\n")
    writer = held_writer("rename", home / "writes", path, b"n" * 1000, disk.current_version(str(path)))
    wait_for(lambda: len(temporaries(project)) == 2, what="the temporary file")
    os.kill(writer.writer_pid, signal.SIGKILL)
    writer.kill()  # strace, which would wait out its delay
    writer.wait(timeout=30)
    assert path.read_bytes() == b"old\n"  # wholly old
    assert [e["name"] for e in disk.read(str(project))["entries"]] == ["main.py"]  # never listed
    log = start_agent(home)
    assert temporaries(project) == [stranger.name]  # ours removed, by its exact name; nothing else
    assert "at start: removed %s/.main.py." % project in log and "left by a write cut short" in log
    assert os.listdir(home / "writes") == []


def test_a_save_whose_answer_was_lost_succeeds_when_made_again(tmp_path):
    path = tmp_path / "a.py"
    path.write_bytes(b"a = 1\n")
    seen = disk.current_version(str(path))
    first = disk.write(str(path), b"a = 2\n", seen)
    # The answer never reached the editor: it saves the same bytes again, with the version it had.
    assert disk.write(str(path), b"a = 2\n", seen) == first
    with pytest.raises(disk.FileError) as refused:
        disk.write(str(path), b"a = 3\n", seen)  # other bytes: still a conflict
    assert refused.value.code == disk.CONFLICT and path.read_bytes() == b"a = 2\n"
    new = str(tmp_path / "new.py")
    assert disk.write(new, b"x\n", None) == disk.write(new, b"x\n", None)


def getfacl(path: Path) -> str:
    return subprocess.run(["getfacl", "-cp", str(path)], capture_output=True, text=True, check=True).stdout


def test_a_save_keeps_acls_extended_attributes_capabilities_and_set_id_bits(tmp_path):
    acl = tmp_path / "shared.txt"
    acl.write_bytes(b"one\n")
    subprocess.run(["setfacl", "-m", "u:nobody:rw,g::r,m::r", str(acl)], check=True)
    subprocess.run(["setfattr", "-n", "user.origin", "-v", "kept", str(acl)], check=True)
    before = getfacl(acl)
    tool = tmp_path / "tool"
    tool.write_bytes(b"#!/bin/sh\n")
    os.chown(tool, 0, 65534)  # another group
    os.chmod(tool, 0o6755)
    subprocess.run(["setcap", "cap_net_bind_service=ep", str(tool)], check=True)
    for path in (acl, tool):
        ino = path.stat().st_ino
        disk.write(str(path), b"two\n", disk.current_version(str(path)))
        assert path.stat().st_ino != ino and path.read_bytes() == b"two\n"  # still a new file, renamed
    assert getfacl(acl) == before  # the mask is the mask: the group gained nothing
    assert os.getxattr(acl, "user.origin") == b"kept"
    assert stat.S_IMODE(tool.stat().st_mode) == 0o6755 and tool.stat().st_gid == 65534
    caps = subprocess.run(["getcap", str(tool)], capture_output=True, text=True, check=True).stdout
    assert "cap_net_bind_service=ep" in caps
    assert temporaries(tmp_path) == []


@pytest.fixture
def open_dir():
    """A directory anyone may write in (a test's tmp_path is reachable by root only)."""
    path = Path(tempfile.mkdtemp(prefix="rl-saves-", dir="/tmp"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_a_group_a_new_file_cannot_have_is_kept_by_writing_in_place(open_dir):
    """A user's own file of a group they are not in: a new file could not have
    that group, so it is written in place, group and set-group-ID bit kept."""
    tmp_path = open_dir
    path = tmp_path / "theirs.sh"
    path.write_bytes(b"one\n")
    os.chown(path, 65534, 0)
    os.chmod(path, 0o2775)
    seen = disk.current_version(str(path))
    ino = path.stat().st_ino
    script = ("import sys\nfrom remote_lsp.host.files import disk\n"
              "print(disk.write(sys.argv[1], b'two\\n', sys.argv[2]))\n")
    out = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
                          script, str(path), seen], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, PYTHONPATH=str(PROXY.parent)))
    assert out.returncode == 0, out.stderr
    st = path.stat()
    assert path.read_bytes() == b"two\n" and st.st_ino == ino and st.st_gid == 0
    assert temporaries(tmp_path) == []


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_a_batch_is_checked_whole_before_anything_is_written(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_bytes(b"a\n")
    b.write_bytes(b"b\n")
    va, vb = disk.current_version(str(a)), disk.current_version(str(b))
    good = [{"path": str(a), "data": b64(b"A\n"), "expect": va},
            {"path": str(b), "data": b64(b"B\n"), "expect": vb}]
    for bad, words in ((good + [{"path": str(a), "data": "not base64!", "expect": va}], "not base64"),
                       ([good[0], {"path": None, "data": b64(b"x"), "expect": None}], "path must be"),
                       ([good[0], dict(good[1], force="no")], "force must be true or false"),
                       ([good[0], dict(good[1], parents=1)], "parents must be true or false")):
        with pytest.raises((TypeError, ValueError)) as refused:
            fileservice._write_all(bad)
        assert words in str(refused.value)
        assert a.read_bytes() == b"a\n" and b.read_bytes() == b"b\n"
    b.write_bytes(b"theirs\n")
    (ok, stale) = fileservice._write_all([good[0], dict(good[1], force=False)])
    assert ok["ok"] and not stale["ok"] and stale["error"]["code"] == "conflict"
    assert b.read_bytes() == b"theirs\n"


def test_errors_say_what_happened(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(disk.FileError) as refused:
        disk.write(str(fifo), b"x", None, force=True)
    assert refused.value.message == "%s is a FIFO: only regular files are written" % fifo
    with pytest.raises(disk.FileError) as refused:
        disk.write(str(tmp_path), b"x", None)
    assert refused.value.code == disk.ISDIR and refused.value.message == "%s is a directory" % tmp_path
    release = "/proc/sys/kernel/osrelease"
    with pytest.raises(disk.FileError) as refused:
        disk.write(release, b"9.9\n", disk.current_version(release))
    assert "no such directory" not in refused.value.message
    assert "cannot create a file in /proc/sys/kernel (No such file or directory)" in refused.value.message


def test_a_write_can_make_the_missing_directories(tmp_path):
    path = tmp_path / "new" / "deep" / "f.py"
    with pytest.raises(disk.FileError) as refused:
        disk.write(str(path), b"x\n", None)
    assert refused.value.code == disk.NODIR and not (tmp_path / "new").exists()
    disk.write(str(path), b"x\n", None, parents=True)
    assert path.read_bytes() == b"x\n"
    other = tmp_path / "new" / "other" / "g.py"  # as the editor's channel asks (`:w ++p`)
    (written,) = fileservice._write_all([{"path": str(other), "data": b64(b"y\n"), "expect": None,
                                          "parents": True}])
    assert written["ok"] and other.read_bytes() == b"y\n"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o777 & ~mask


def test_a_writer_killed_after_its_rename_before_it_answered_can_save_the_same_bytes_again(tmp_path):
    """Killed once the file is renamed (held at the directory's fsync, after the
    rename): the editor never heard; saving the same bytes again succeeds."""
    home = tmp_path / "state"
    path = tmp_path / "main.py"
    path.write_bytes(b"old\n")
    seen = disk.current_version(str(path))
    argv = ["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=fsync",
            "-e", "inject=fsync:delay_enter=30s:when=2", sys.executable, "-c", WRITER, str(home / "writes"),
            str(path), "1000", "n", seen]
    writer = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ, PYTHONPATH=str(PROXY.parent)))
    pid = int(writer.stdout.readline())
    wait_for(lambda: path.read_bytes() == b"n" * 1000, what="the rename")
    os.kill(pid, signal.SIGKILL)
    writer.kill()
    writer.wait(timeout=30)
    assert writer.stdout.read() == ""  # no answer
    assert disk.write(str(path), b"n" * 1000, seen) == disk.current_version(str(path))
    start_agent(home)
    assert path.read_bytes() == b"n" * 1000 and temporaries(tmp_path) == []


def test_a_file_made_on_the_host_while_a_new_one_is_saved_is_never_replaced(tmp_path):
    path = tmp_path / "new.py"
    writer = held_writer("fsync", None, path, b"m" * 1000, None, "2s")
    wait_for(lambda: temporaries(tmp_path), what="the temporary file")
    path.write_bytes(b"made on the host\n")
    out, _ = writer.communicate(timeout=60)
    assert out.startswith("conflict ") and "was created since it was read" in out
    assert path.read_bytes() == b"made on the host\n" and temporaries(tmp_path) == []


def test_a_file_replaced_after_a_write_in_place_was_cut_short_is_left_and_its_old_bytes_named(tmp_path):
    home, path = cut_short_in_place(tmp_path, b"o" * 5000, b"n" * 2000)
    path.unlink()
    path.write_bytes(b"someone's new file\n")  # made by someone else before the next agent started
    said = start_agent(home)
    assert path.read_bytes() == b"someone's new file\n"  # theirs, untouched
    (backup,) = [p for p in os.listdir(home / "writes") if p.endswith(".old")]
    assert "%s was replaced after a write to it was cut short: its old bytes are in %s" % (
        path, home / "writes" / backup) in said
    assert (home / "writes" / backup).read_bytes() == b"o" * 5000


def test_a_file_edited_in_place_after_a_write_to_it_was_cut_short_is_left_and_its_old_bytes_named(tmp_path):
    """The next agent starts only later: meanwhile someone edited the file in place
    (its first line, its length kept). Theirs is not taken for a write cut short."""
    home, path = cut_short_in_place(tmp_path, b"o" * 5000, b"n" * 2000)
    theirs = b"version = 2\n" + path.read_bytes()[12:]
    with open(path, "r+b") as f:  # in place, as an editor saves a file with another hard link
        f.write(theirs[:12])
    said = start_agent(home)
    assert path.read_bytes() == theirs  # theirs, untouched
    (backup,) = [p for p in os.listdir(home / "writes") if p.endswith(".old")]
    assert "%s was changed after a write to it was cut short: its old bytes are in %s" % (
        path, home / "writes" / backup) in said
    assert (home / "writes" / backup).read_bytes() == b"o" * 5000


@pytest.fixture
def nearly_full_ext4():
    """A small ext4 of our own (a loop device), nearly full: its fallocate takes what
    room there is before it fails, and grows the file by that much (tmpfs takes none)."""
    if os.getuid() != 0 or not shutil.which("mkfs.ext4"):
        pytest.skip("an ext4 of our own needs root and mkfs.ext4")
    base = Path(tempfile.mkdtemp(prefix="rl-ext4-", dir="/tmp"))
    image, mount = base / "image", base / "fs"
    mount.mkdir()
    with open(image, "wb") as f:
        f.truncate(8 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True, capture_output=True)
    done = subprocess.run(["mount", "-o", "loop", str(image), str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        shutil.rmtree(base)
        pytest.skip("cannot mount an ext4 image here: %s" % done.stderr.strip())
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)
        shutil.rmtree(base)


def test_a_write_in_place_refused_for_room_leaves_the_file_as_it_was(nearly_full_ext4):
    """Written in place (another hard link), larger than the room left: refused, and the
    file keeps its bytes and its size (no zeros from the room taken before it ran out)."""
    path = nearly_full_ext4 / "linked.py"
    old = b"x = 1\n" * 1000
    path.write_bytes(old)
    os.link(path, nearly_full_ext4 / "other-name.py")
    vfs = os.statvfs(nearly_full_ext4)
    (nearly_full_ext4 / "filler").write_bytes(b"f" * (vfs.f_bavail * vfs.f_frsize - (200 << 10)))
    with pytest.raises(disk.FileError) as refused:
        disk.write(str(path), b"y = 2\n" * 400000, disk.current_version(str(path)))
    assert refused.value.code == disk.NOSPACE
    assert path.read_bytes() == old and (nearly_full_ext4 / "other-name.py").read_bytes() == old


def test_a_journal_removed_while_the_agent_runs_is_made_again(tmp_path):
    journal = tmp_path / "state" / "writes"
    path = tmp_path / "linked.txt"
    path.write_bytes(b"old\n")
    os.link(path, tmp_path / "other.txt")
    script = ("import shutil, sys\nfrom remote_lsp.host.files import disk\n"
              "disk.keep_journal(sys.argv[1])\nshutil.rmtree(sys.argv[1])\n"
              "print(disk.write(sys.argv[2], b'new\\n', disk.current_version(sys.argv[2])))\n")
    out = subprocess.run([sys.executable, "-c", script, str(journal), str(path)], capture_output=True,
                         text=True, timeout=60, env=dict(os.environ, PYTHONPATH=str(PROXY.parent)))
    assert out.returncode == 0, out.stderr
    assert path.read_bytes() == b"new\n" and os.listdir(journal) == []


@pytest.mark.parametrize("held_at", ["rename", "fsync"])
def test_the_agent_killed_mid_save_leaves_the_file_whole_and_the_save_made_again_succeeds(remote, tmp_path,
                                                                                         held_at):
    """Over the editor's channel: the agent is held (strace attached to it by pid)
    at the save's rename, or after it at the directory's fsync, and killed there.
    The file is wholly old or wholly new, the next agent removes the temporary
    file, and the same save made again succeeds, whatever the file holds."""
    from tests.support.filechannel import b64, channel

    path = tmp_path / "main.py"
    path.write_bytes(b"old\n")
    c = channel(remote)
    (entry,) = c.request("files/read", {"paths": [str(path)]})["files"]
    pid = int((remote.sshd.remote_state / "agent.pid").read_text())
    # The agent serves no language server here: its first rename is the save's, its
    # second fsync the one of the directory after it.
    inject = "inject=%s:delay_enter=60s:when=%d" % (held_at, 1 if held_at == "rename" else 2)
    tracer = subprocess.Popen(["strace", "-f", "-qq", "-o", "/dev/null", "-p", str(pid),
                               "-e", "trace=" + held_at, "-e", inject])
    try:
        wait_for(lambda: all("TracerPid:\t0" not in (t / "status").read_text()
                             for t in Path("/proc/%d/task" % pid).iterdir()), what="strace attached")
        save = {"files": [{"path": str(path), "data": b64(b"new\n"), "expect": entry["version"]}]}
        rid = c.request_async("files/write", save)
        if held_at == "rename":
            wait_for(lambda: [t for t in temporaries(tmp_path) if (tmp_path / t).read_bytes() == b"new\n"],
                     what="the temporary file written")
        else:
            wait_for(lambda: path.read_bytes() == b"new\n", what="the rename")
        os.kill(pid, signal.SIGKILL)
    finally:
        tracer.kill()
        tracer.wait(timeout=30)
    assert path.read_bytes() == (b"old\n" if held_at == "rename" else b"new\n")  # wholly one or the other
    answer = c.wait_response(rid, timeout=60)
    assert "error" in answer  # the editor never heard "written"
    # The channel comes back through the next agent, which removes the temporary file;
    # the save made again goes.
    wait_for(lambda: not temporaries(tmp_path), 60, "the next agent's clean-up")
    (w,) = wait_for(lambda: _try(lambda: c.request("files/write", save)["files"]), 60, "the next agent")
    assert w["ok"] and path.read_bytes() == b"new\n"
    if held_at == "rename":
        assert "left by a write cut short" in (remote.sshd.remote_state / "agent.log").read_text()


def _try(fn):
    try:
        return fn()
    except Exception:
        return None

"""The host's file watcher and LSP globs, in process, on real directories.

The watcher runs on a real event loop with real inotify (or, forced, the
polling fallback); each test waits for the changes it expects with a deadline.
"""

import asyncio
import errno
import logging
import os
import time
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
from remote_lsp.host.watching import globs, watcher
from remote_lsp.host.watching import inotify as ino
from remote_lsp.host.watching.watcher import CHANGED, CREATED, DELETED, Watcher

from tests.support.waiting import until

Change = Tuple[str, int]


# --- globs (LSP 3.17) -------------------------------------------------------------------

@pytest.mark.parametrize("pattern,path,hit", [
    ("**/*.py", "a.py", True), ("**/*.py", "x/y/a.py", True), ("**/*.py", "a.pyc", False),
    ("*.py", "a.py", True), ("*.py", "x/a.py", False), ("*", "a/b", False),
    ("**/*.{py,pyi}", "p/m.pyi", True), ("**/*.{py,pyi}", "p/m.pyx", False),
    ("{src/**,lib}/*.rs", "src/a/b.rs", True), ("{src/**,lib}/*.rs", "lib/b.rs", True),
    ("{src/**,lib}/*.rs", "lib/x/b.rs", False), ("{a,{b,c}}.toml", "c.toml", True),
    ("example.[0-9]", "example.5", True), ("example.[0-9]", "example.a", False),
    ("example.[!0-9]", "example.a", True), ("example.[!0-9]", "example.5", False),
    ("?.txt", "a.txt", True), ("?.txt", "ab.txt", False), ("?.txt", "/.txt", False),
    ("src/**", "src/a/b", True), ("**", "any/thing", True), ("a/**/b", "a/b", True),
    ("a/**/b", "a/x/y/b", True), ("a.b+c", "a.b+c", True), ("a.b+c", "aXb+c", False),
    ("ruff.toml", "ruff.toml", True), ("ruff.toml", "sub/ruff.toml", False),
])
def test_glob_matches_as_the_spec_says(pattern, path, hit):
    assert globs.Glob(pattern).match(path) is hit


@pytest.mark.parametrize("pattern,directory,inside", [
    ("**/*.py", "node_modules", True), ("*.py", "sub", False), ("ruff.toml", "sub", False),
    ("src/**/*.rs", "src", True), ("src/**/*.rs", "src/x/y", True), ("src/**/*.rs", "lib", False),
    ("{src,lib}/*.rs", "lib", True), ("{src,lib}/*.rs", "lib/x", False), ("**", "a/b/c", True),
])
def test_glob_knows_which_directories_it_can_match_inside(pattern, directory, inside):
    assert globs.Glob(pattern).could_contain(directory) is inside


@pytest.mark.parametrize("bad", ["", "{a,b", None, "x[z-a]",
                                 "{" * 3 + "a,b,c,d,e}" * 3 + "{a,b,c,d,e,f,g,h,i}" * 3])
def test_bad_globs_are_refused_clearly(bad):
    with pytest.raises(globs.GlobError):
        globs.Glob(bad)


def test_watchers_relative_patterns_plain_patterns_and_kinds():
    found, problems = globs.parse_watchers({"watchers": [
        {"globPattern": "**/*.py"},
        {"globPattern": {"baseUri": {"uri": "file:///w/sub", "name": "sub"}, "pattern": "*.toml"}, "kind": 4},
        {"globPattern": {"baseUri": "file:///elsewhere", "pattern": "x/[ab].json"}, "kind": 3},
        {"globPattern": "/abs/root/**/*.rs"},
        {"globPattern": "{unclosed"}, {"kind": 1},
    ]}, ["/w", "/v"])
    assert len(problems) == 2 and "unclosed" in problems[0]
    assert [(w.base, w.glob.pattern, w.kind) for w in found] == [
        ("/w", "**/*.py", 7), ("/v", "**/*.py", 7), ("/w/sub", "*.toml", 4),
        ("/elsewhere", "x/[ab].json", 3), ("/abs/root", "**/*.rs", 7)]
    toml, json_ = found[2], found[3]
    assert toml.matches("/w/sub/a.toml", DELETED) and not toml.matches("/w/sub/a.toml", CHANGED)
    assert not toml.matches("/w/sub/x/a.toml", DELETED) and not toml.matches("/w/a.toml", DELETED)
    assert json_.matches("/elsewhere/x/a.json", CREATED) and json_.matches("/elsewhere/x/b.json", CHANGED)
    assert not json_.matches("/elsewhere/x/b.json", DELETED)
    assert toml.wants_dir("/w") and toml.wants_dir("/w/sub") and not toml.wants_dir("/w/sub/deeper")


# --- the watcher ----------------------------------------------------------------------------

class Collector:
    """What one subscription delivered, batch by batch."""

    def __init__(self) -> None:
        self.batches: List[List[Change]] = []

    def __call__(self, batch: List[Change]) -> None:
        self.batches.append(batch)

    @property
    def changes(self) -> List[Change]:
        return [c for b in self.batches for c in b]

    def state(self) -> Dict[str, int]:
        out: Dict[str, int] = {}
        for path, kind in self.changes:
            out[path] = kind
        return out


async def quiet(seconds: float = 0.5) -> None:
    """Long enough for any batch still coming to arrive (after the expected one did)."""
    await asyncio.sleep(seconds)


def run(coro):
    return asyncio.get_event_loop_policy().new_event_loop().run_until_complete(coro)


@pytest.fixture(params=["inotify", "polling"])
def mode(request, monkeypatch):
    if request.param == "polling":
        monkeypatch.setenv("REMOTE_LSP_NO_INOTIFY", "1")
    return request.param


def test_files_created_changed_deleted_and_new_directories(tmp_path: Path, mode):
    async def go():
        (tmp_path / "a").mkdir()
        (tmp_path / "a" / "old.py").write_text("1")
        w = Watcher(asyncio.get_running_loop())
        got = Collector()
        sub = w.subscribe(str(tmp_path), got)
        assert sub.mode == mode and sub.directories == 2
        assert ("polled every" in sub.problem) is (mode == "polling")
        (tmp_path / "a" / "new.py").write_text("1")
        (tmp_path / "a" / "old.py").write_text("2")
        (tmp_path / "x" / "y").mkdir(parents=True)  # files in it may come before its watch does
        (tmp_path / "x" / "y" / "deep.py").write_text("1")
        expected = {str(tmp_path / "a" / "new.py"): CREATED, str(tmp_path / "a" / "old.py"): CHANGED,
                    str(tmp_path / "x"): CREATED, str(tmp_path / "x" / "y"): CREATED,
                    str(tmp_path / "x" / "y" / "deep.py"): CREATED}
        await until(lambda: got.state() == expected, "the first changes")
        assert sub.directories == 4
        got.batches.clear()
        (tmp_path / "x" / "y" / "deep.py").unlink()
        (tmp_path / "x" / "y" / "later.py").write_text("1")  # the new directory is watched now
        await until(lambda: got.state() == {str(tmp_path / "x" / "y" / "deep.py"): DELETED,
                                            str(tmp_path / "x" / "y" / "later.py"): CREATED}, "later ones")
        await quiet()
        paths = [p for p, _ in got.changes]
        assert len(paths) == len(set(paths))  # each once
        sub.close()
        assert w.describe()["directories"] == 0
        w.close()
    run(go())


def test_an_atomic_save_is_a_change_of_the_target_and_a_come_and_gone_file_is_nothing(tmp_path: Path):
    async def go():
        target = tmp_path / "main.py"
        target.write_text("old")
        w = Watcher(asyncio.get_running_loop())
        got = Collector()
        w.subscribe(str(tmp_path), got)
        tmp = tmp_path / ".main.py.swp"
        tmp.write_text("new")
        os.rename(str(tmp), str(target))
        (tmp_path / "flash").write_text("")
        (tmp_path / "flash").unlink()
        await until(lambda: got.changes, "the save")
        await quiet()
        assert got.changes == [(str(target), CHANGED)]
        w.close()
    run(go())


def test_a_burst_of_5000_files_comes_in_a_few_batches_each_file_once(tmp_path: Path, mode):
    async def go():
        w = Watcher(asyncio.get_running_loop())
        got = Collector()
        w.subscribe(str(tmp_path), got)
        names = set()
        for d in range(50):
            sub = tmp_path / ("pkg%d" % d)
            sub.mkdir()
            for i in range(100):
                (sub / ("m%d.py" % i)).write_text("x = %d\n" % i)
                names.add(str(sub / ("m%d.py" % i)))
            await asyncio.sleep(0)  # a checkout is written while the loop runs
        await until(lambda: names <= set(got.state()), "5,000 files", 30)
        await quiet()
        files = [p for p, _ in got.changes if p.endswith(".py")]
        assert len(files) == 5000 and set(files) == names  # each once
        assert all(k == CREATED for p, k in got.changes)
        assert len(got.batches) <= 40, len(got.batches)
        w.close()
    run(go())


def test_a_file_its_writer_holds_open_across_flushes_in_a_new_directory_is_told_once_created(
        tmp_path: Path, monkeypatch):
    """A checkout's writer opened files in a directory before the directory's watch began:
    the walk finds one empty, one written, one written as its watch began (the event
    read after the listing), all still open; batches go meanwhile."""
    monkeypatch.setattr(watcher, "HOLD", 60.0)  # the writer's pause, however long, is within it
    listing, new, opened = Watcher._entries, tmp_path / "pkg", {}

    def written_as_watched(self, node):
        late = opened.get("late")
        if node.path == str(new) and late is not None and not late.tell():
            late.write("z = 3\n")
            late.flush()  # its IN_MODIFY queued before the listing sees it written
        return listing(self, node)
    monkeypatch.setattr(Watcher, "_entries", written_as_watched)

    async def go():
        w = Watcher(asyncio.get_running_loop())
        got = Collector()
        w.subscribe(str(tmp_path), got)
        new.mkdir()
        empty = open(str(new / "empty.py"), "w")  # opened (created, truncated): not written yet
        written = open(str(new / "written.py"), "w")
        written.write("x = 1\n")
        written.flush()  # written: not closed yet
        late = opened["late"] = open(str(new / "late.py"), "w")
        await until(lambda: str(new / "written.py") in got.state(), "the new directory walked")
        (tmp_path / "marker.py").write_text("")
        await until(lambda: str(tmp_path / "marker.py") in got.state(), "a later batch")
        assert str(new / "empty.py") not in got.state()  # held: its writer has not written it
        empty.write("y = 2\n")
        empty.close()
        written.close()
        late.close()
        await until(lambda: str(new / "empty.py") in got.state(), "the file once written")
        await quiet()
        kinds = {p: [k for q, k in got.changes if q == p] for p, _ in got.changes}
        assert kinds == {str(new): [CREATED], str(new / "empty.py"): [CREATED],
                         str(new / "written.py"): [CREATED], str(new / "late.py"): [CREATED],
                         str(tmp_path / "marker.py"): [CREATED]}
        w.close()
    run(go())


def test_a_kernel_queue_overflow_is_rescanned_and_what_changed_reported(tmp_path: Path, caplog):
    queued = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())

    async def go():
        (tmp_path / "keep.py").write_text("1")
        (tmp_path / "edit.py").write_text("1")
        (tmp_path / "drop.py").write_text("1")
        for name in ("keep.py", "edit.py"):  # written long ago: what was written since is what changed
            os.utime(str(tmp_path / name), (time.time() - 60, time.time() - 60))
        w = Watcher(asyncio.get_running_loop())
        got = Collector()
        w.subscribe(str(tmp_path), got)
        # Written without letting the loop read: more events than the kernel queues.
        (tmp_path / "edit.py").write_text("2")
        (tmp_path / "drop.py").unlink()
        count = queued // 2 + 2000  # create and close_write each
        for i in range(count):
            (tmp_path / ("n%d" % i)).write_text("")
        (tmp_path / "sub").mkdir()
        (tmp_path / "sub" / "inner.py").write_text("1")
        await until(lambda: str(tmp_path / "sub" / "inner.py") in got.state(), "the rescan", 30)
        await quiet()
        state = got.state()
        assert sum(1 for p in state if "/n" in p) == count
        assert state[str(tmp_path / "edit.py")] == CHANGED
        assert state[str(tmp_path / "drop.py")] == DELETED
        assert str(tmp_path / "keep.py") not in state
        w.close()
    with caplog.at_level(logging.WARNING, logger="remote_lsp.watcher"):
        run(go())
    assert "overflowed" in caplog.text


def test_the_watch_limit_makes_only_that_part_poll_with_one_clear_line(tmp_path: Path, monkeypatch, caplog):
    real_add = ino.Inotify.add
    added = []

    def limited(self, path, mask=ino.DIR_MASK):
        if len(added) >= 2:  # the kernel's answer once fs.inotify.max_user_watches is reached
            raise OSError(errno.ENOSPC, "No space left on device", path)
        added.append(path)
        return real_add(self, path, mask)

    monkeypatch.setattr(ino.Inotify, "add", limited)

    async def go():
        for d in ("a", "b", "c"):
            (tmp_path / d).mkdir()
        w = Watcher(asyncio.get_running_loop())
        got = Collector()
        sub = w.subscribe(str(tmp_path), got)
        assert sub.mode == "inotify+polling" and sub.directories == 4
        assert "fs.inotify.max_user_watches" in sub.problem and "\n" not in sub.problem
        for d in ("a", "b", "c"):
            (tmp_path / d / "f.py").write_text("1")
        await until(lambda: len(got.state()) == 3, "changes in watched and polled directories")
        w.close()
    with caplog.at_level(logging.WARNING, logger="remote_lsp.watcher"):
        run(go())
    assert caplog.text.count("watch limit is reached") == 1


def test_subscriptions_share_watches_non_recursive_and_skipped_directories(tmp_path: Path):
    async def go():
        (tmp_path / "deep").mkdir()
        (tmp_path / "node_modules").mkdir()
        w = Watcher(asyncio.get_running_loop())
        everything, top, pruned = Collector(), Collector(), Collector()
        a = w.subscribe(str(tmp_path), everything)
        b = w.subscribe(str(tmp_path), top, recursive=False)
        c = w.subscribe(str(tmp_path), pruned, skip=lambda p: p.endswith("node_modules"))
        assert (a.directories, b.directories, c.directories) == (3, 1, 2)
        assert w.describe()["inotify"] == 3  # one watch per directory, however many subscribers
        (tmp_path / "top.py").write_text("")
        (tmp_path / "deep" / "d.py").write_text("")
        (tmp_path / "node_modules" / "n.js").write_text("")
        await until(lambda: len(everything.state()) == 3, "every change")
        await quiet()
        assert set(top.state()) == {str(tmp_path / "top.py")}
        assert set(pruned.state()) == {str(tmp_path / "top.py"), str(tmp_path / "deep" / "d.py")}
        a.close()
        assert w.describe()["inotify"] == 2
        (tmp_path / "deep" / "e.py").write_text("")
        await until(lambda: str(tmp_path / "deep" / "e.py") in pruned.state(), "a change after a close")
        b.close()
        c.close()
        assert w.describe()["inotify"] == 0
        w.close()
    run(go())


def test_a_large_tree_is_walked_a_chunk_per_turn_so_the_agent_never_stalls(tmp_path: Path):
    from remote_lsp.host.watching.watcher import WALK_CHUNK

    total = WALK_CHUNK * 4
    for d in range(total - 1):
        (tmp_path / ("d%d" % (d % 20)) / ("p%d" % d)).mkdir(parents=True, exist_ok=True)
    count = sum(1 for p in tmp_path.rglob("*") if p.is_dir()) + 1

    async def go():
        w = Watcher(asyncio.get_running_loop())
        got = Collector()
        turns = []
        sub = w.subscribe(str(tmp_path), got)
        assert sub.directories == WALK_CHUNK and w.walking  # the rest on later turns
        while w.walking:
            turns.append(sub.directories)
            await asyncio.sleep(0)  # other work runs in between
        assert sub.directories == count and len(turns) >= 3
        (tmp_path / "d7" / "p7" / "late.py").write_text("")
        await until(lambda: str(tmp_path / "d7" / "p7" / "late.py") in got.state(), "a change deep down")
        w.close()
    run(go())


def test_a_server_registering_more_widens_the_watch_without_a_gap_or_a_double(tmp_path: Path):
    from remote_lsp.host.watching.serverwatch import ServerWatch

    inner = tmp_path / "proj"
    (inner / "pkg").mkdir(parents=True)

    async def go():
        w = Watcher(asyncio.get_running_loop())
        sent: List[Dict[str, object]] = []
        sw = ServerWatch("server", sent.extend)
        sw.start(w)
        sw.register("a", {"watchers": [{"globPattern": "*.toml"}]}, [str(inner)])
        assert sw.describe()["directories"] == 1  # nothing below can match *.toml
        sw.register("b", {"watchers": [{"globPattern": "**/*.py"}]}, [str(inner)])
        assert sw.describe()["directories"] == 2  # the same base, walked again
        outer = {"baseUri": tmp_path.as_uri(), "pattern": "**/*.md"}
        sw.register("c", {"watchers": [{"globPattern": outer}]}, [str(inner)])  # a base around the first
        (inner / "pkg" / "m.py").write_text("")
        (inner / "ruff.toml").write_text("")
        (tmp_path / "notes.md").write_text("")
        (inner / "pkg" / "skip.txt").write_text("")
        names = {(inner / "pkg" / "m.py").as_uri(), (inner / "ruff.toml").as_uri(),
                 (tmp_path / "notes.md").as_uri()}
        await until(lambda: {e["uri"] for e in sent} == names, "the three changes")
        await quiet()
        assert sorted(e["uri"] for e in sent) == sorted(names)  # each once
        assert sw.describe()["directories"] == 3 and len(sw.describe()["patterns"]) == 3
        sw.unregister("c")
        sw.unregister("b")
        sw.unregister("a")
        await until(lambda: w.describe()["directories"] == 0, "every watch let go")
        w.close()
    run(go())


def test_a_directory_reached_through_a_symlink_is_watched_and_named_through_it(tmp_path: Path):
    (tmp_path / "real" / "inside").mkdir(parents=True)
    (tmp_path / "real" / "loop").symlink_to(tmp_path / "real")  # never followed below the top
    (tmp_path / "link").symlink_to(tmp_path / "real")

    async def go():
        w = Watcher(asyncio.get_running_loop())
        got = Collector()
        sub = w.subscribe(str(tmp_path / "link"), got)
        assert sub.directories == 2 and sub.mode == "inotify"
        (tmp_path / "real" / "inside" / "f.py").write_text("")
        named = str(tmp_path / "link" / "inside" / "f.py")
        await until(lambda: got.state() == {named: CREATED}, "the change")
        w.close()
    run(go())


def test_a_followed_directory_removed_moved_and_made_again_at_any_level_is_followed(tmp_path: Path):
    """`rm -rf build && make` writing build/gen/out.py, and a directory above
    moved out of the project: the removal is told, and what comes back."""
    import shutil

    proj = tmp_path / "proj"
    gen = proj / "build" / "gen"
    gen.mkdir(parents=True)

    async def go():
        w = Watcher(asyncio.get_running_loop())
        got = Collector()
        sub = w.subscribe(str(gen), got, recursive=False, follow=True)
        assert sub.directories == 1  # the directories on the way to it are not counted
        (gen / "out.py").write_text("1\n")
        (proj / "beside.txt").write_text("not under gen\n")
        await until(lambda: str(gen / "out.py") in got.state(), "the file written")
        shutil.rmtree(proj / "build")
        await until(lambda: got.state().get(str(gen / "out.py")) == DELETED, "the file removed")
        await until(lambda: "was removed" in w.describe()["problem"], "the problem named")
        assert str(gen) in w.describe()["problem"] and str(gen) in sub.problem
        gen.mkdir(parents=True)
        (gen / "out.py").write_text("2\n")
        await until(lambda: got.state().get(str(gen / "out.py")) in (CREATED, CHANGED), "the file made again")
        assert w.describe()["problem"] == "" and sub.directories == 1
        got.batches.clear()
        (proj / "build").rename(tmp_path / "elsewhere")  # moved out, two levels above the file's directory
        await until(lambda: got.state().get(str(proj / "build")) == DELETED, "the move told")
        await quiet()
        assert all(p == str(gen / "out.py") or str(gen).startswith(p) for p, _ in got.changes)
        assert str(proj / "beside.txt") not in got.state()
        sub.close()
        await until(lambda: w.describe()["directories"] == 0, "every watch let go")
        w.close()
    run(go())


def test_a_servers_root_removed_and_made_again_is_watched_again_and_said_meanwhile(tmp_path: Path):
    """`rm -rf proj && git clone ...`: the server hears of the new files;
    meanwhile its watch names the missing root as its problem."""
    import shutil

    from remote_lsp.host.watching.serverwatch import ServerWatch

    root = tmp_path / "proj"
    (root / "pkg").mkdir(parents=True)

    async def go():
        w = Watcher(asyncio.get_running_loop())
        sent: List[Dict[str, object]] = []
        sw = ServerWatch("server", sent.extend)
        sw.start(w)
        sw.register("a", {"watchers": [{"globPattern": "**/*.py"}]}, [str(root)])
        assert sw.describe()["directories"] == 2 and sw.describe()["problem"] == ""
        shutil.rmtree(root)
        await until(lambda: sw.describe()["problem"] != "", "the problem named")
        assert sw.describe()["problem"] == "%s was removed: watched again once it is made" % root
        from remote_lsp.host.commands import _watch_line  # `doctor`, and so :checkhealth, say it too

        assert "%s was removed" % root in _watch_line(8192, w.describe())
        (root / "pkg").mkdir(parents=True)
        (root / "pkg" / "m.py").write_text("")
        (root / "a.py").write_text("")
        names = {(root / "pkg" / "m.py").as_uri(), (root / "a.py").as_uri()}
        await until(lambda: names <= {e["uri"] for e in sent}, "the new files at the server")
        assert sw.describe()["problem"] == "" and sw.describe()["directories"] == 2
        (root / "pkg" / "n.py").write_text("")
        await until(lambda: (root / "pkg" / "n.py").as_uri() in {e["uri"] for e in sent}, "one more")
        sw.close()
        w.close()
    run(go())


def test_temporary_files_of_saves_are_never_told(tmp_path: Path):
    from remote_lsp.host.files import disk

    async def go():
        w = Watcher(asyncio.get_running_loop())
        got = Collector()
        w.subscribe(str(tmp_path), got)
        temp = tmp_path / ".a.py.123.abcdefgh.remote-lsp"
        temp.write_text("x\n")
        (tmp_path / "b.py").write_text("")
        await until(lambda: str(tmp_path / "b.py") in got.state(), "the other file")
        await quiet()
        assert disk.is_temporary(temp.name) and str(temp) not in got.state()
        w.close()
    run(go())

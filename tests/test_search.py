"""Search in a remote project (host/search/): `find` lists what `rg --files`
lists and `grep` finds what `rg --vimgrep` finds on the same tree, with each
engine (ripgrep, git grep, our own); the editor's channel streams both, keeps
its file list current, refuses a bad pattern and ends a replaced search at
once; `--host HOST find | grep` name files as the editor does."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from remote_lsp.host.files import disk
from remote_lsp.wire.framing import encode

from tests.conftest import PROXY
from tests.support.filechannel import channel
from tests.support.lspclient import LspError
from tests.support.waiting import wait_for
from tests.test_files import serve

ENGINES = ("rg", "git", "builtin")


def tree(root: Path) -> Path:
    """A git project with everything the rules are about: nested ignore files,
    whitelists, anchored patterns, .ignore over .gitignore, info/exclude, hidden
    files, binary files, symlinks, odd names, CRLF, several matches on a line."""
    root.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    files = {
        ".gitignore": "*.log\nbuild/\n/top-only.txt\n!keep.log\nsub/**/gen_*\n# a comment\n\\#hash.txt\n"
                      "lib/**/cache\n*.[oa]\nlogs/\n!build/kept.txt\ntrailing.txt   \n",
        ".ignore": "secret*.txt\n!.github/\n",
        ".rgignore": "rgonly.txt\n",
        "rgonly.txt": "needle rg\n", "trailing.txt": "needle trailing\n",
        "lib/cache/f.txt": "needle cache\n", "lib/x/y/cache/f.txt": "needle deep cache\n",
        "lib/x/keep.txt": "needle\n",
        "x.o": "needle object\n", "y.a": "needle archive\n", "z.b": "needle other\n",
        "data/logs": "needle a file named logs\n", "data2/logs/x.txt": "needle in logs\n",
        "build/kept.txt": "needle not re-included\n",
        ".github/workflows/ci.yml": "needle: workflow\n",
        "vendor/lib/.gitignore": "*.gen\n", "vendor/lib/n.log": "needle nested repo log\n",
        "vendor/lib/m.gen": "needle generated in nested repo\n", "vendor/lib/.git/HEAD": "ref: x\n",
        "a.py": "needle = 1\nx = needle(needle)  # Needle\n",
        "b.txt": "no match here\nNEEDLE shouts\nneedles and pins\n",
        "keep.log": "needle kept\n", "x.log": "needle ignored\n", "top-only.txt": "needle top\n",
        "secret1.txt": "needle secret\n", "#hash.txt": "needle hash\n", "excluded.txt": "needle excluded\n",
        "build/out.txt": "needle built\n",
        "sub/top-only.txt": "needle anchored elsewhere\n",
        "sub/deep/gen_a.py": "needle generated\n", "sub/deep/z.py": "def f():\n    return 'needle'\n",
        "sub/.gitignore": "*.tmp\n!important.tmp\n/anch.txt\n",
        "sub/anch.txt": "needle anchored\n", "sub/deep/anch.txt": "needle not anchored here\n",
        "sub/a.tmp": "needle tmp\n", "sub/important.tmp": "needle important\n",
        "nested/.ignore": "!x.log\n", "nested/x.log": "needle whitelisted\n",
        ".hidden.py": "needle hidden\n", ".hdir/x.py": "needle in hidden dir\n",
        "spaced name.txt": "a needle in a name with spaces\n",
        "unicod\u00e9.txt": "caf\u00e9 needle \u00e9l\u00e8ve needle\n",
        "crlf.txt": "needle crlf\r\nsecond\r\n",
        "words.txt": "needle_x xneedle needle-y (needle)\n",
        "mixed.md": "Needle at start\n  indented needle\n",
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (root / ".git" / "info" / "exclude").write_text("excluded.txt\n")
    (root / "bin.dat").write_bytes(b"needle\0binary\n")
    (root / "late-binary.dat").write_bytes(b"needle\n" + b"x" * 70000 + b"\0needle\n")
    (root / "link.py").symlink_to(root / "a.py")
    (root / TEMPORARY).write_text("needle of a save in progress\n")
    subprocess.run(["git", "-C", str(root), "add", "-f", "a.py", "b.txt", "x.log"], check=True)
    return root


def isolated_env(tmp_path: Path) -> dict:
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "xdg"), HOME=str(tmp_path / "home"))
    env.pop("RIPGREP_CONFIG_PATH", None)
    return env


def cli(env, *args):
    return subprocess.run([sys.executable, str(PROXY), *args], env=env, capture_output=True, timeout=120)


TEMPORARY = ".a.py.k3j4h5g6.remote-lsp"  # a save in progress: the one file rg lists and we do not


def rg_files(root: Path, env, *flags):
    out = subprocess.run(["rg", "--files", "--no-config", *flags, "."], cwd=root, env=env,
                         capture_output=True)
    return sorted(line[2:] for line in out.stdout.decode().split("\n") if line and TEMPORARY not in line)


def rg_vimgrep(root: Path, env, *flags):
    """ripgrep's answer, smart case (our default); its warning about a binary file is no match."""
    case = [] if {"-i", "-s"} & set(flags) else ["--smart-case"]
    out = subprocess.run(["rg", "--vimgrep", "--no-config", *case, *flags, "."], cwd=root, env=env,
                         capture_output=True)
    return out.returncode, sorted(line[2:] for line in out.stdout.decode().split("\n")
                                  if line and TEMPORARY not in line and ": WARNING: " not in line)


FIND_FLAGS = [(), ("--hidden",), ("--no-ignore",), ("--hidden", "--no-ignore")]
GREP_CASES = [
    ("needle",), ("Needle",), ("-i", "needle"), ("-s", "needle"), ("-w", "needle"), ("-F", "(needle)"),
    ("ne+dle\\b",), ("^needle",), ("needle$",), ("-g", "*.py", "needle"), ("-g", "!*.txt", "needle"),
    ("-g", "*.log", "needle"), ("--hidden", "needle"), ("--no-ignore", "needle"), ("caf\u00e9",),
    ("nothing-matches-this",),
]


def _isolated(monkeypatch, tmp_path):
    """This process as the CLI runs: no global git excludes, no ripgrep config."""
    for name, value in isolated_env(tmp_path).items():
        if os.environ.get(name) != value:
            monkeypatch.setenv(name, value)
    monkeypatch.delenv("RIPGREP_CONFIG_PATH", raising=False)


@pytest.mark.parametrize("engine", ["rg", "builtin"])
def test_find_lists_what_rg_files_lists(tmp_path, monkeypatch, engine):
    from remote_lsp.host.search import grep

    root = tree(tmp_path / "proj")
    env = isolated_env(tmp_path)
    _isolated(monkeypatch, tmp_path)
    for flags in FIND_FLAGS:
        names = sorted(grep.files(str(root), "--hidden" in flags, "--no-ignore" in flags, grep.Job(), engine))
        assert names == rg_files(root, env, *flags), flags
    # Hidden, ignored, binary and odd names are all in the tree: the rules were exercised.
    assert "sub/important.tmp" in names and "bin.dat" in names and ".hidden.py" in names
    got = cli(env, "find", "--engine", engine, "--root", str(root))  # the command line: absolute names
    assert got.returncode == 0, got.stderr
    assert sorted(got.stdout.decode().split("\n")[:-1]) == [str(root / n) for n in rg_files(root, env)]


def _query(flags, pattern):
    from remote_lsp.host.search import grep

    globs = tuple(flags[i + 1] for i, f in enumerate(flags) if f == "-g")
    case = "insensitive" if "-i" in flags else "sensitive" if "-s" in flags else "smart"
    return grep.Query(pattern, "-F" in flags, case, "-w" in flags, globs, "--hidden" in flags,
                      "--no-ignore" in flags)


@pytest.mark.parametrize("engine", ENGINES)
def test_grep_finds_what_rg_vimgrep_finds_with_each_engine(tmp_path, monkeypatch, engine):
    from remote_lsp.host.search import grep

    root = tree(tmp_path / "proj")
    env = isolated_env(tmp_path)
    _isolated(monkeypatch, tmp_path)
    for case in GREP_CASES:
        *flags, pattern = case
        rc, want = rg_vimgrep(root, env, *flags, "-e", pattern)
        found = grep.search(str(root), _query(flags, pattern), grep.Job(), engine)
        got = sorted("%s:%d:%d:%s" % m for m in found)
        assert got == want, case
    assert rc == 1 and got == []  # the last case matches nothing
    # The command line: absolute names, exit 0 found and 1 none, as ripgrep.
    printed = cli(env, "grep", "--engine", engine, "--root", str(root), "-w", "needle")
    assert [line[len(str(root)) + 1:] for line in sorted(printed.stdout.decode().split("\n")[:-1])] \
        == rg_vimgrep(root, env, "-w", "-e", "needle")[1] and printed.returncode == 0
    assert cli(env, "grep", "--engine", engine, "--root", str(root), "nothing-matches-this").returncode == 1


def test_bad_input_is_exit_2_and_says_why(tmp_path):
    env = isolated_env(tmp_path)
    for args, words in ((("find", "--protocol", "rsync"), b"needs --host"),
                        (("grep",), b"give one pattern"),
                        (("grep", "x", "--root", str(tmp_path / "nowhere")), b"is not a directory"),
                        (("grep", "x", "--engine", "grepper"), b"no search engine 'grepper'"),
                        (("grep", "x", "--max-count", "0"), b"must be 1 or more")):
        got = cli(env, *args)
        assert got.returncode == 2 and words in got.stderr and got.stdout == b"", (args, got.stderr)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_bad_pattern_is_exit_2_with_the_reason(tmp_path, engine):
    root = tree(tmp_path / "proj")
    got = cli(isolated_env(tmp_path), "grep", "--engine", engine, "--root", str(root), "needle(")
    assert got.returncode == 2 and got.stdout == b""
    assert b"bad pattern 'needle('" in got.stderr and b"\n" == got.stderr[-1:], got.stderr
    lines = cli(isolated_env(tmp_path), "grep", "--engine", engine, "--root", str(root), "needle\nx")
    assert (lines.returncode, lines.stdout) == (2, b"")  # a newline in a pattern: refused by every engine


def test_without_ripgrep_git_grep_then_the_builtin_search(tmp_path):
    """A host whose PATH has no rg: git grep in a work tree, our own outside one."""
    root = tree(tmp_path / "proj")
    bare = tmp_path / "bin"
    bare.mkdir()
    (bare / "git").symlink_to(shutil.which("git"))
    env = dict(isolated_env(tmp_path), PATH=str(bare))
    sys.path.insert(0, str(PROXY.parent))
    from remote_lsp.host.search import grep

    old = os.environ["PATH"]
    os.environ["PATH"] = str(bare)
    try:
        assert grep.choose(str(root)) == "git"
        plain = tmp_path / "plain"
        plain.mkdir()
        assert grep.choose(str(plain)) == "builtin"
    finally:
        os.environ["PATH"] = old
    _, want = rg_vimgrep(root, isolated_env(tmp_path), "-e", "needle")
    got = cli(env, "grep", "--root", str(root), "needle")
    assert sorted(line[len(str(root)) + 1:] for line in got.stdout.decode().split("\n") if line) == want


# --- the editor's channel ------------------------------------------------------------------


def _collect(c, rid, key, timeout=60):
    msg = c.wait_response(rid, timeout)
    streamed = [item for n in c.notifications if n["method"] == "$/progress"
                and n["params"]["token"] == "t%d" % rid for item in n["params"]["value"][key]]
    return msg, streamed


def test_the_channel_finds_files_streams_them_and_follows_changes(remote, tmp_path):
    root = tree(tmp_path / "proj")
    for i in range(3000):  # enough for several batches
        (root / "many" / ("d%02d" % (i % 30))).mkdir(parents=True, exist_ok=True)
        (root / "many" / ("d%02d" % (i % 30)) / ("f%04d.txt" % i)).write_text("x\n")
    (root / "many" / "d00" / "x").mkdir()
    (root / "many" / "d00" / "x" / "d1f9.txt").write_text("")
    c = channel(remote)
    rid = c.request_async("search/files", {"root": str(root), "partialResultToken": "t1"})
    assert rid == 1
    msg, streamed = _collect(c, rid, "files")
    result = msg["result"]
    assert streamed, "names stream before the answer"
    assert sorted(streamed + result["files"]) == rg_files(root, remote.env)
    assert result["total"] == len(streamed) + len(result["files"]) and result["truncated"] is False

    for params, flags in (({"hidden": True}, ("--hidden",)), ({"ignored": True}, ("--no-ignore",)),
                          ({"hidden": True, "ignored": True}, ("--hidden", "--no-ignore"))):
        listed = c.request("search/files", dict(params, root=str(root)))["files"]
        assert sorted(listed) == rg_files(root, remote.env, *flags), flags
    few = c.request("search/files", {"root": str(root), "query": "SUBz", "limit": 5})
    assert few == {"files": ["sub/deep/z.py"], "total": 1, "truncated": False}
    capped = c.request("search/files", {"root": str(root), "query": "D1F9", "limit": 5})
    fuzzy = [n for n in rg_files(root, remote.env) if re.search("d.*1.*f.*9", n, re.IGNORECASE)]
    assert len(capped["files"]) == 5 and capped["total"] == len(fuzzy) > 5 and capped["truncated"] is True
    assert set(capped["files"]) < set(fuzzy)
    best = c.request("search/files", {"root": str(root), "query": "D1F9", "limit": 3})["files"]
    assert best[0] == "many/d00/x/d1f9.txt"  # the query in the name comes first, whatever the walk's order

    def names():
        return set(c.request("search/files", {"root": str(root)})["files"])

    (root / "new dir" / "deeper").mkdir(parents=True)
    (root / "new dir" / "deeper" / "made.py").write_text("")
    (root / "sub" / "deep" / "z.py").unlink()
    (root / "sub" / "deep" / "scratch.tmp").write_text("")  # ignored by sub/.gitignore
    wait_for(lambda: "new dir/deeper/made.py" in names() and "sub/deep/z.py" not in names(), 10,
             "the changes")
    assert "sub/deep/scratch.tmp" not in names()
    (root / "new dir" / "deeper" / "later.py").write_text("")  # the new directories are watched too
    wait_for(lambda: "new dir/deeper/later.py" in names(), 10, "a file in the new directory")
    with (root / ".gitignore").open("a") as f:
        f.write("many/\n")
    wait_for(lambda: not any(n.startswith("many/") for n in names()), 10, "the new ignore rule")
    assert sorted(names()) == rg_files(root, remote.env)


def test_the_channel_greps_streams_caps_and_refuses_a_bad_pattern(remote, tmp_path):
    root = tree(tmp_path / "proj")
    c = channel(remote)
    c.request("files/stat", {"path": str(root)})  # the channel is up: the ids below are ours
    rid = c.request_async("search/grep", {"root": str(root), "pattern": "needle", "partialResultToken": "t2"})
    msg, streamed = _collect(c, rid, "matches")
    result = msg["result"]
    assert result["engine"] == "rg" and result["truncated"] is False
    got = sorted("%(path)s:%(line)d:%(column)d:%(text)s" % m for m in streamed + result["matches"])
    assert got == rg_vimgrep(root, remote.env, "-e", "needle")[1]

    capped = c.request("search/grep", {"root": str(root), "pattern": "needle", "limit": 3})
    assert len(capped["matches"]) == 3 and capped["truncated"] is True
    with pytest.raises(LspError) as bad:
        c.request("search/grep", {"root": str(root), "pattern": "needle("})
    assert bad.value.error["code"] == -32602 and "bad pattern 'needle(': unclosed group" in str(bad.value)
    with pytest.raises(LspError) as nodir:
        c.request("search/grep", {"root": str(root / "nope"), "pattern": "x"})
    assert nodir.value.error["code"] == -32602 and "is not a directory" in str(nodir.value)


def test_an_answer_holding_every_result_stops_at_its_budget_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(disk, "MAX_LISTED", 4000)  # instead of millions of names
    root = tmp_path / "proj"
    root.mkdir()
    names = sorted("needle-%04d.txt" % i for i in range(300))
    for name in names:
        (root / name).write_text("a needle here\n")
    (found, grepped, streamed), notes = serve([
        ("search/files", {"root": str(root), "parallel": True}),
        ("search/grep", {"root": str(root), "pattern": "needle"}),
        ("search/files", {"root": str(root), "partialResultToken": "t"})])
    files = json.loads(found)["result"]
    assert files["truncated"] is True and files["total"] == 300 and 0 < len(files["files"]) < 300
    assert set(files["files"]) < set(names) and len(found) < 4000 + 500
    matches = json.loads(grepped)["result"]
    assert matches["truncated"] is True and 0 < len(matches["matches"]) < 300 and len(grepped) < 4000 + 500
    # Streamed, the results go in batches: none is left out.
    every = json.loads(streamed)["result"]
    batches = [f for n in notes if n["method"] == "$/progress" for f in n["params"]["value"]["files"]]
    assert every["truncated"] is False and sorted(batches + every["files"]) == names


SLOW = "\\b(\\w+\\s){7}\\w{5}\\b"  # Unicode word boundaries: ripgrep's slow engine, seconds on this file


def slow_file(path: Path) -> None:
    words = ["\u03b1\u03b2\u03b3\u03b4", "\u00e9\u00e8\u00ea\u00eb", "\u0436\u0437\u0438\u0439", "abcd"]
    chunk = "".join(" ".join(words[(i * 7 + j) % 4] for j in range(8)) + "\n" for i in range(1000))
    path.write_text(chunk * 1000, encoding="utf-8")  # 65 MB: ripgrep takes seconds, with no match


def searching(root: Path):
    """The search processes (rg, git) running in `root` on this machine."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink("/proc/%s/cwd" % pid) == str(root) and \
                    Path("/proc/%s/comm" % pid).read_text().strip() in ("rg", "git"):
                out.append(int(pid))
        except OSError:
            continue
    return out


def test_status_shows_the_file_lists_kept(remote, tmp_path):
    root = tree(tmp_path / "proj")
    c = channel(remote)
    c.request("search/files", {"root": str(root)})
    searched = json.loads(remote.cli("status", "--json").stdout)["files"]["search"]
    assert searched["indexes"] == [{"root": str(root), "hidden": False, "ignored": False,
                                    "files": len(rg_files(root, remote.env))}]
    assert "search: %d files listed in %s\n" % (len(rg_files(root, remote.env)), root) \
        in remote.cli("status").stdout


def test_a_new_query_or_a_cancel_ends_the_search_on_the_host_at_once(remote, tmp_path):
    root = tree(tmp_path / "proj")
    slow_file(root / "big.txt")
    c = channel(remote)
    c.request("files/stat", {"path": str(root)})
    # Live grep: one query per keystroke, each replacing the one before.
    ids = [c.request_async("search/grep", {"root": str(root), "pattern": SLOW + "x" * i}) for i in range(5)]
    last = c.request_async("search/grep", {"root": str(root), "pattern": "needle", "limit": 2})
    for rid in ids:
        answer = c.wait_response(rid, 30)
        assert answer.get("error", {}).get("code") == -32800, answer
    assert c.wait_response(last, 30)["result"]["truncated"] is True
    assert searching(root) == []

    # A cancel, and a search of the other kind that goes on meanwhile.
    rid = c.request_async("search/grep", {"root": str(root), "pattern": SLOW, "partialResultToken": "slow"})
    wait_for(lambda: searching(root) != [], 10, "ripgrep to run")
    assert "sub/deep/z.py" in c.request("search/files", {"root": str(root), "query": "z.py"})["files"]
    (read,) = c.request("files/read", {"paths": [str(root / "a.py")]})["files"]  # the file service goes on
    assert read["exists"] and searching(root) != []
    c.notify("$/cancelRequest", {"id": rid})
    wait_for(lambda: searching(root) == [], 1.5, "its end")  # killed at once, not left to end by itself
    assert c.wait_response(rid, 30)["error"]["code"] == -32800
    # How long each went on after its cancel, as the agent measured it.
    assert len(json.loads(remote.cli("status", "--json").stdout)["files"]["search"]["stopped_ms"]) == 6
    # A search on its own (parallel) is not ended by the next one.
    both = [c.request_async("search/grep", {"root": str(root), "pattern": p, "parallel": True})
            for p in ("needle", "shouts")]
    assert [len(c.wait_response(rid, 30)["result"]["matches"]) for rid in both][1] == 1


def test_find_and_grep_on_a_host_name_files_as_the_editor_does(remote, tmp_path):
    root = tree(tmp_path / "proj")
    odd = root / "it's $HOME.txt"
    odd.write_text("say \"it's $HOME\" here\n")
    found = remote.cli("find", "--root", str(root)).stdout.split("\n")
    prefix = "scp://%s/%s/" % (remote.alias, root)
    assert sorted(n[len(prefix):] for n in found if n) == rg_files(root, remote.env)
    assert all(n.startswith(prefix) for n in found if n)
    rsync = remote.cli("find", "--root", "rsync://%s/%s" % (remote.alias, root), "--protocol", "rsync",
                       transport="paramiko")
    assert "rsync://%s/%s" % (remote.alias, odd) in rsync.stdout.split("\n")

    got = remote.cli("grep", "-F", "it's $HOME", "--root", str(root))
    assert got.stdout == "scp://%s/%s:1:6:say \"it's $HOME\" here\n" % (remote.alias, odd)
    assert remote.cli("grep", "--root", str(root), "--regexp=-nothing-", check=False).returncode == 1
    assert remote.cli("grep", "--root", str(root), "--", "-nothing-", check=False).returncode == 1
    bad = remote.cli("grep", "--root", str(root), "needle(", check=False)
    assert bad.returncode == 2 and "bad pattern 'needle(': unclosed group" in bad.stderr
    capped = remote.cli("grep", "--root", str(root), "--max-count", "2", "-g", "*.py", "needle")
    lines = capped.stdout.split("\n")
    assert len(lines) == 3 and lines[2] == "" and all(".py:" in line for line in lines[:2])


@pytest.mark.parametrize("engine", ENGINES)
def test_a_long_line_is_cut_around_its_match_and_its_column_counts_bytes(tmp_path, engine):
    root = tmp_path / "proj"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    line = "\u00e9" * 1000 + "x" * 500 + "needle" + "y" * 3000
    (root / "minified.js").write_text(line + "\n", encoding="utf-8")
    got = cli(isolated_env(tmp_path), "grep", "--engine", engine, "--root", str(root), "needle")
    name, number, column, text = got.stdout.decode().rstrip("\n").split(":", 3)
    assert (name, number, column) == (str(root / "minified.js"), "1", str(2000 + 500 + 1))
    assert len(text) == 500 and "x" * 100 + "needle" in text and text in line


@pytest.fixture
def host_without_rg(tmp_path):
    """A host whose PATH has everything of /usr/bin but ripgrep: its own sshd."""
    from tests.conftest import Remote
    from tests.support.sshd import Sshd

    if not Path("/usr/sbin/sshd").exists():
        pytest.skip("openssh-server is not installed (.ci/run installs it)")
    bare = tmp_path / "usr-bin-without-rg"
    bare.mkdir()
    for name in os.listdir("/usr/bin"):
        if name != "rg":
            (bare / name).symlink_to(Path("/usr/bin") / name)
    base = Path(tempfile.mkdtemp(prefix="rl-ssh-norg-", dir="/tmp"))
    server = Sshd(base, os.pathsep.join([str(Path(sys.executable).parent), str(bare)])).start()
    remote = Remote(server, tmp_path)
    try:
        yield remote
    finally:
        remote.cleanup()
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.system  # an sshd of its own
def test_a_host_without_ripgrep_answers_with_git_grep_then_its_own_search(host_without_rg, tmp_path):
    root = tree(tmp_path / "proj")
    plain = tmp_path / "plain"  # no git work tree
    shutil.copytree(root, plain, symlinks=True, ignore=shutil.ignore_patterns(".git"))
    c = channel(host_without_rg)
    for where, engine in ((root, "git"), (plain, "builtin")):
        answer = c.request("search/grep", {"root": str(where), "pattern": "needle"})
        assert answer["engine"] == engine and answer["truncated"] is False
        got = sorted("%(path)s:%(line)d:%(column)d:%(text)s" % m for m in answer["matches"])
        assert got == rg_vimgrep(where, host_without_rg.env, "-e", "needle")[1], engine
    with pytest.raises(LspError) as bad:
        c.request("search/grep", {"root": str(plain), "pattern": "needle("})
    assert "bad pattern 'needle('" in str(bad.value)


def test_a_large_file_is_searched_a_chunk_at_a_time_with_the_same_matches(tmp_path):
    """The built-in search reads 8 MB at a time: lines across the chunks, the last one with no newline."""
    root = tmp_path / "proj"
    root.mkdir()
    lines = ["filler text number %06d%s" % (i, " needle" if i % 99991 == 0 else "") for i in range(400000)]
    (root / "large.log").write_text("\n".join(lines) + "\nneedle at the end, no newline")
    env = isolated_env(tmp_path)
    _, want = rg_vimgrep(root, env, "-e", "needle")
    got = cli(env, "grep", "--engine", "builtin", "--root", str(root), "needle")
    assert sorted(line[len(str(root)) + 1:] for line in got.stdout.decode().split("\n") if line) == want
    assert len(want) == 6 and "large.log:400001:1:needle at the end, no newline" in want


def test_a_cancel_naming_no_request_id_changes_nothing_and_what_follows_it_is_answered(remote, tmp_path):
    c = channel(remote)
    c.request("files/stat", {"path": str(tmp_path)})  # the channel is up
    frames = [{"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": [1]}},
              {"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": {"n": 1}}},
              {"jsonrpc": "2.0", "id": 77, "method": "files/stat", "params": {"path": str(tmp_path)}}]
    c.send_raw(b"".join(encode(json.dumps(f).encode()) for f in frames))  # one write: read at once
    assert c.wait_response(77, 30)["result"]["type"] == "directory"


def test_a_reader_that_stops_early_ends_the_search_quietly(tmp_path):
    """`remote-lsp grep x | head -1`: exit 0, nothing on stderr, as ripgrep."""
    root = tmp_path / "proj"
    root.mkdir()
    (root / "many.txt").write_text("needle\n" * 200000)
    for what in (["grep", "needle"], ["find"]):
        proc = subprocess.Popen([sys.executable, str(PROXY), *what, "--root", str(root)],
                                env=isolated_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout.readline().startswith(str(root / "many.txt").encode())
        proc.stdout.close()
        assert proc.wait(60) == 0 and proc.stderr.read() == b"", what


def test_a_reader_that_stops_early_ends_the_search_on_the_host(remote, tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    slow_file(root / "big.txt")
    (root / "early.txt").write_text("abcd\n" * 1000)
    argv = [sys.executable, str(PROXY), "--host", remote.alias, "grep", "--root", str(root), "-s", "abcd"]
    proc = subprocess.Popen(argv, env=remote.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline().startswith(("scp://%s/%s/" % (remote.alias, root)).encode())
    proc.stdout.close()
    assert proc.wait(60) == 0 and proc.stderr.read() == b""
    wait_for(lambda: searching(root) == [], 10, "the search on the host to end")

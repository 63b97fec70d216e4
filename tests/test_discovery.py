"""`list` and `processes` read the process table through psutil where it is
importable (an editor's machine, macOS too) and through /proc on a host (the
standard library only): both give the same rows."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import BIOME, PROXY, pid_alive, pids_with, wait_for


def _list(agent, *args, clean=False):
    # -S -I: no site-packages, so no psutil, as on a host.
    python = [sys.executable, "-S", "-I"] if clean else [sys.executable]
    proc = subprocess.run(python + [str(PROXY), *args], env=agent.env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_psutil_and_proc_give_the_same_rows(agent, project):
    import psutil  # noqa: F401  (the venv has it: otherwise both runs would read /proc)

    server = subprocess.Popen(["pylsp"], cwd=str(project), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        wait_for(lambda: [r for r in _list(agent, "list", "--json") if r["pid"] == server.pid], 30,
                 "pylsp to be listed")
        keys = ("pid", "name", "argv", "root", "user", "uid", "stdin", "stdout", "managed", "clients")
        rows = {}
        for clean in (False, True):
            (row,) = [r for r in _list(agent, "list", "--json", clean=clean) if r["pid"] == server.pid]
            rows[clean] = row
            assert row["name"] == "pylsp" and row["root"] == str(project) and row["stdin"] == "pipe"
            assert row["rss_kb"] > 1000
        assert {k: rows[False][k] for k in keys} == {k: rows[True][k] for k in keys}
        assert abs(rows[False]["started"] - rows[True]["started"]) < 2
        for clean in (False, True):
            matched = _list(agent, "processes", "pyl[s]p", "--json", clean=clean)
            assert server.pid in [r["pid"] for r in matched]
            assert all("pylsp" in " ".join(r["argv"]) for r in matched)
    finally:
        server.kill()
        server.wait()


# --- which processes are language servers ------------------------------------------------------

SERVERS = [
    # Known names, also behind an interpreter.
    (["pylsp"], "pylsp"), (["python3", "-m", "pylsp", "-v"], "pylsp"),
    (["node", "--max-old-space-size=4096", "/n/.bin/pyright-langserver", "--stdio"], "pyright"),
    (["java", "-Xmx2g", "-jar", "/opt/kls/kotlin-language-server.jar"], "kotlin_language_server"),
    # Multi-purpose binaries with their server subcommand.
    (["/v/bin/ruff", "server", "--preview"], "ruff"), (["deno", "lsp"], "denols"),
    (["gleam", "lsp"], "gleam"),
    (["node", "/p/node_modules/.bin/biome", "lsp-proxy"], "biome"),
    (["/p/node_modules/@biomejs/cli-linux-x64/biome", "lsp-proxy"], "biome"),
    (["tinymist", "lsp"], "tinymist"), (["tinymist"], "tinymist"), (["oxlint", "--lsp"], "oxlint"),
    (["dart", "language-server", "--protocol=lsp"], "dartls"), (["buf", "beta", "lsp"], "buf_ls"),
    (["gopls", "-remote=auto"], "gopls"), (["taplo", "lsp", "stdio"], "taplo"), (["ty", "server"], "ty"),
    # What the arguments say: a name, a first argument, a flag.
    (["typos-lsp"], "typos-lsp"), (["/usr/bin/efm-langserver"], "efm-langserver"),
    (["neocmakelsp"], "neocmakelsp"),
    (["node", "/g/bin/tailwindcss-language-server", "--stdio"], "tailwindcss-language-server"),
    (["vale-ls"], "vale-ls"), (["/opt/elixir-ls/language_server.sh"], "language_server"),
    (["phpactor", "language-server"], "phpactor"), (["steep", "langserver"], "steep"),
    (["uiua", "lsp"], "uiua"),
    (["rubocop", "--lsp"], "rubocop"), (["tflint", "--langserver"], "tflint"),
    (["node", "/srv/out/server.js", "--stdio"], "server"),
    (["lean-language-server", "--stdio", "--", "-M", "4096"], "lean-language-server"),
]
ORDINARY = [
    ["bash"], ["-bash"], ["/bin/sh", "-c", "pyright-langserver --stdio"], ["sleep", "300"], ["sleep", "lsp"],
    ["nvim", "lsp"], ["nvim", "--headless", "--embed"], ["vim", "lsp.lua"], ["emacs", "-nw", "lsp"],
    ["make", "lsp"], ["make", "-C", "build", "lsp"], ["just", "lsp"], ["npm", "run", "lsp"],
    ["cargo", "build"],
    ["git", "checkout", "lsp"], ["python3", "-m", "pytest", "-k", "lsp"], ["pytest", "tests/test_lsp.py"],
    ["python3", "-m", "http.server"], ["python3", "-c", "import sys; sys.argv.append('--stdio')"],
    ["ruff", "check", "."], ["ruff", "format", "--stdin-filename", "a.py"], ["deno", "run", "main.ts"],
    ["biome", "__run_server", "--watcher-kind=recommended", "--stop-on-disconnect"], ["biome", "check", "."],
    ["gopls", "check", "a.go"], ["tinymist", "compile", "a.typ"], ["taplo", "fmt"],
    ["lspci", "-v"], ["tmux", "new-session", "-d", "-s", "x", "ruff server"],
    ["sudo", "pylsp-fake", "--stdio"],
    ["mcp-server-git", "--stdio"], ["node", "/x/mcp/dist/index.js", "--stdio"],
    ["npx", "-y", "@modelcontextprotocol/server-filesystem", "--stdio"],
    ["python3", "/r/proxy/proxy.py", "connect", "--root", "/p", "--", "pyright-langserver", "--stdio"],
]


def _proc(argv, comm=""):
    from remote_lsp.host import procs

    ids = procs.Ids(0, 0, 0)
    return procs.Proc(4194000, argv, comm or os.path.basename(argv[0])[:15], ids, ids, 0, "S")


@pytest.mark.parametrize("argv,name", SERVERS, ids=[" ".join(a[-2:]) for a, _ in SERVERS])
def test_language_servers_are_recognised(argv, name, tmp_path):
    from remote_lsp.host import procs

    assert procs.server_kind(_proc(argv), str(tmp_path)) == name


@pytest.mark.parametrize("argv", ORDINARY, ids=[" ".join(a) for a in ORDINARY])
def test_ordinary_processes_are_not(argv, tmp_path):
    from remote_lsp.host import procs

    assert procs.server_kind(_proc(argv), str(tmp_path)) is None


def test_a_first_argument_that_names_a_file_is_no_subcommand(tmp_path):
    from remote_lsp.host import procs

    assert procs.server_kind(_proc(["uiua", "lsp"]), str(tmp_path)) == "uiua"
    (tmp_path / "lsp").mkdir()  # `foo lsp` here works on lsp/
    assert procs.server_kind(_proc(["uiua", "lsp"]), str(tmp_path)) is None


RUFF = os.path.join(os.path.dirname(sys.executable), "ruff")
def test_modern_servers_are_listed_and_ordinary_processes_are_not(agent, project, biome_env):
    from remote_lsp.host import procs

    (project / "lsp").mkdir()  # `nvim lsp` edits a directory here
    started = []

    def start(argv, env=None):
        p = subprocess.Popen(argv, cwd=str(project), env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
        started.append(p)
        return p.pid

    try:
        ruff = start([RUFF, "server"])
        wrapper = start([str(BIOME), "lsp-proxy"], env=biome_env)  # npm's Node script, which runs the binary
        nvim = os.path.join(os.path.dirname(sys.executable), "nvim")
        ordinary = [start(["bash"]), start(["sleep", "300"]),
                    start([nvim, "--headless", "-n", "-u", "NONE", "-i", "NONE", "lsp"])]
        (biome,) = wait_for(lambda: [c.pid for c in procs.children(wrapper)
                                     if c.argv[1:] == ["lsp-proxy"]], 30, "biome's binary to start")
        for clean in (False, True):  # psutil, then /proc
            daemon = pids_with(biome_env["HOME"])  # `biome __run_server --log-path=$HOME/...`, once started
            ours = {ruff, wrapper, biome, *ordinary, *daemon}
            rows = [r for r in _list(agent, "list", "--json", clean=clean) if r["pid"] in ours]
            # Only the servers: not the shell, sleep, the editor, biome's Node wrapper or its daemon.
            assert sorted((r["pid"], r["name"]) for r in rows) == sorted([(ruff, "ruff"), (biome, "biome")])
            assert all(r["stdin"] == "pipe" and r["root"] == str(project) for r in rows)
            assert all(pid_alive(pid) for pid in ordinary)  # they were there to be left out
    finally:
        for p in started:
            p.kill()
            p.wait()

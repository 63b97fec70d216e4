"""Processes on this host, read from /proc: who they are, what their stdio is,
and whether they look like language servers.

This is what attach relies on (uid and gid triples, start time, fds), so it
needs nothing but /proc; listings may use psutil instead (discovery.py).
"""

import os
import re
import time
from typing import List, NamedTuple, Optional

# Executable names of language servers, as seen in argv[0] (or argv[1] behind
# an interpreter such as python or node).
KNOWN_SERVERS = {
    "rust-analyzer": "rust_analyzer", "clangd": "clangd", "pylsp": "pylsp", "pyls": "pylsp",
    "pyright-langserver": "pyright", "basedpyright-langserver": "basedpyright",
    "typescript-language-server": "ts_ls", "vscode-json-language-server": "jsonls",
    "vscode-html-language-server": "html", "vscode-css-language-server": "cssls",
    "gopls": "gopls", "lua-language-server": "lua_ls", "jdtls": "jdtls", "zls": "zls",
    "bash-language-server": "bashls", "yaml-language-server": "yamlls", "ruff-lsp": "ruff_lsp",
    "jedi-language-server": "jedi_language_server", "solargraph": "solargraph",
    "haskell-language-server": "hls", "haskell-language-server-wrapper": "hls",
    "metals": "metals", "ocamllsp": "ocamllsp", "elixir-ls": "elixirls", "texlab": "texlab",
    "marksman": "marksman", "taplo": "taplo", "terraform-ls": "terraformls", "ccls": "ccls",
    "omnisharp": "omnisharp", "kotlin-language-server": "kotlin_language_server",
    "intelephense": "intelephense", "dockerfile-language-server-nodejs": "dockerls", "nil": "nil_ls",
    "erlang_ls": "erlangls", "svelteserver": "svelte", "vue-language-server": "volar",
}
_INTERPRETERS = re.compile(r"^(python[0-9.]*|node|nodejs|bun|deno|ruby|java|perl|sh|bash)$")
CLK_TCK = os.sysconf("SC_CLK_TCK")


class Ids(NamedTuple):
    real: int
    effective: int
    saved: int


class Proc(NamedTuple):
    pid: int
    argv: List[str]
    comm: str
    uids: Ids
    gids: Ids
    start_ticks: int  # since boot: with the pid, names a process uniquely
    state: str


def read_proc(pid: int) -> Optional[Proc]:
    """A snapshot of one process, or None if it does not exist (or is gone)."""
    base = "/proc/%d" % pid
    try:
        with open(base + "/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
        with open(base + "/status") as f:
            status = f.read()
        with open(base + "/cmdline", "rb") as f:
            argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except (FileNotFoundError, ProcessLookupError):
        return None
    comm = stat[stat.index("(") + 1:stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2:].split()
    return Proc(pid, argv, comm, _ids(status, "Uid"), _ids(status, "Gid"), int(fields[19]), fields[0])


def _ids(status: str, key: str) -> Ids:
    m = re.search(r"^%s:\s+(\d+)\s+(\d+)\s+(\d+)" % key, status, re.M)
    assert m is not None
    return Ids(int(m.group(1)), int(m.group(2)), int(m.group(3)))


def all_pids() -> List[int]:
    return sorted(int(d) for d in os.listdir("/proc") if d.isdigit())


def server_kind(p: Proc) -> Optional[str]:
    """The language server this process is, by name, or None."""
    names = [os.path.basename(a) for a in p.argv[:3]] + [p.comm]
    for i, name in enumerate(names):
        if name in KNOWN_SERVERS:
            # Behind an interpreter only as its script (argv[1] or argv[2]).
            if i == 0 or i == len(names) - 1 or _INTERPRETERS.match(names[0]):
                return KNOWN_SERVERS[name]
    return None


def fd_target(pid: int, fd: int) -> str:
    try:
        return os.readlink("/proc/%d/fd/%d" % (pid, fd))
    except OSError:
        return ""


def fd_kind(target: str, our_fifos: str = "") -> str:
    """What an fd is: tty, pipe, socket, fifo (ours), file, or unknown."""
    if not target:
        return "unknown"
    if our_fifos and target.startswith(our_fifos):
        return "agent-fifo"
    if target.startswith("pipe:"):
        return "pipe"
    if target.startswith("socket:"):
        return "socket"
    if target.startswith("/dev/pts/") or target.startswith("/dev/tty"):
        return "tty"
    if target == "/dev/null":
        return "null"
    return "file"


def boot_time() -> float:
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("btime "):
                return float(line.split()[1])
    return time.time()


def cwd(pid: int) -> str:
    """Its working directory: the likely project root."""
    try:
        return os.readlink("/proc/%d/cwd" % pid)
    except OSError:
        return ""


def rss_kb(pid: int) -> int:
    try:
        with open("/proc/%d/statm" % pid) as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, ValueError, IndexError):
        return 0

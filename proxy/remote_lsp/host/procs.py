"""Processes on this host, read from /proc: who they are, what their stdio is,
and whether they look like language servers.

This is what attach relies on (uid and gid triples, start time, fds), so it
needs nothing but /proc; listings may use psutil instead (discovery.py).
"""

import os
import re
import time
from typing import List, NamedTuple, Optional, Tuple

# Executable names of language servers, as seen in argv[0] (or argv[1] behind
# an interpreter such as python or node).
KNOWN_SERVERS = {
    "rust-analyzer": "rust_analyzer", "clangd": "clangd", "pylsp": "pylsp", "pyls": "pylsp",
    "pyright-langserver": "pyright", "basedpyright-langserver": "basedpyright",
    "typescript-language-server": "ts_ls", "vscode-json-language-server": "jsonls",
    "vscode-html-language-server": "html", "vscode-css-language-server": "cssls",
    "lua-language-server": "lua_ls", "jdtls": "jdtls", "zls": "zls", "ccls": "ccls", "nixd": "nixd",
    "bash-language-server": "bashls", "yaml-language-server": "yamlls", "ruff-lsp": "ruff_lsp",
    "jedi-language-server": "jedi_language_server", "solargraph": "solargraph",
    "haskell-language-server": "hls", "haskell-language-server-wrapper": "hls",
    "metals": "metals", "ocamllsp": "ocamllsp", "elixir-ls": "elixirls", "texlab": "texlab",
    "omnisharp": "omnisharp", "kotlin-language-server": "kotlin_language_server",
    "intelephense": "intelephense", "dockerfile-language-server-nodejs": "dockerls", "nil": "nil_ls",
    "erlang_ls": "erlangls", "svelteserver": "svelte", "vue-language-server": "volar",
    "csharp-ls": "csharp_ls", "serve-d": "serve_d", "vtsls": "vtsls", "astro-ls": "astro",
    "emmylua_ls": "emmylua_ls", "vhdl_ls": "vhdl_ls",
}
# Multi-purpose binaries whose language server is one of their subcommands,
# run as their own documentation says: binary -> {leading arguments: name},
# where () is the binary with options only (`gopls`, `gopls -remote=auto`, but
# not `gopls check`). `biome __run_server` (the daemon behind `biome
# lsp-proxy`) and `ruff check` are not servers on stdio, so they are not here.
SUBCOMMANDS = {
    "gopls": {(): "gopls", ("serve",): "gopls"}, "tinymist": {(): "tinymist", ("lsp",): "tinymist"},
    "marksman": {(): "marksman", ("server",): "marksman"}, "terraform-ls": {("serve",): "terraformls"},
    "deno": {("lsp",): "denols"}, "ruff": {("server",): "ruff"}, "ty": {("server",): "ty"},
    "biome": {("lsp-proxy",): "biome"}, "rome": {("lsp-proxy",): "rome"},
    "gleam": {("lsp",): "gleam"}, "oxlint": {("--lsp",): "oxlint"},
    "dart": {("language-server",): "dartls"}, "taplo": {("lsp",): "taplo"},
    "tofu-ls": {("serve",): "tofu_ls"}, "zk": {("lsp",): "zk"}, "pyrefly": {("lsp",): "pyrefly"},
    "ast-grep": {("lsp",): "ast_grep"}, "sg": {("lsp",): "ast_grep"}, "dprint": {("lsp",): "dprint"},
    "templ": {("lsp",): "templ"}, "superhtml": {("lsp",): "superhtml"}, "flow": {("lsp",): "flow"},
    "buf": {("beta", "lsp"): "buf_ls", ("lsp", "serve"): "buf_ls"}, "cue": {("lsp",): "cue"},
    "helm_ls": {("serve",): "helm_ls"}, "elp": {("server",): "elp"}, "zuban": {("server",): "zuban"},
    "codeql": {("execute", "language-server"): "codeqlls"}, "srb": {("tc", "--lsp"): "sorbet"},
    "tilt": {("lsp", "start"): "tilt_ls"}, "nu": {("--lsp",): "nushell"},
    "fish-lsp": {("start",): "fish_lsp"}, "luau-lsp": {("lsp",): "luau_lsp"},
}
_INTERPRETERS = re.compile(r"^(python[0-9.]*|node|nodejs|bun|deno|ruby|java|perl|sh|bash)$")
# Interpreter options that take the next argument as their value (the script comes after them).
_VALUE_OPTIONS = frozenset({"-X", "-W", "-r", "--require", "--import", "--loader", "--experimental-loader",
                            "-cp", "-classpath", "--class-path", "-I"})
# What an argument vector says of a server that no table knows: its program's
# name (a word of it: `typos-lsp`, `efm-langserver`, `tailwindcss-language-server`),
# its first argument (`phpactor language-server`, `steep langserver`), or a flag.
_SERVER_WORD = re.compile(r"(^|[-_.])(lsp|lang[-_]?server|language[-_]?server)($|[-_.])|lsp$|[-_]ls$")
_SERVER_SUBCOMMANDS = frozenset({"lsp", "lsp-proxy", "langserver", "language-server", "languageserver"})
_SERVER_FLAGS = frozenset({"--stdio", "--lsp", "--language-server", "--langserver", "--lsp-server"})
# Programs that take a target, a file or another command as their first
# argument, where `lsp` names that and not a subcommand of theirs: `make lsp`,
# `nvim lsp`, `git lsp`, `sudo ... --stdio`. They never run a language server
# themselves (the one they start is a process of its own, found on its own).
_NOT_SERVERS = frozenset({
    "make", "gmake", "bmake", "ninja", "just", "task", "mage", "rake", "cargo", "go", "npm", "npx", "pnpm",
    "yarn", "mvn", "gradle", "bazel", "git", "vi", "vim", "nvim", "view", "emacs", "emacsclient", "nano",
    "less", "more", "cat", "tail", "head", "man", "sudo", "doas", "env", "nohup", "timeout", "nice",
    "exec", "xargs", "watch", "strace", "gdb", "tmux", "screen", "ssh", "sleep", "pytest", "py.test",
})
# Servers for other protocols that happen to share the flags: the Model Context Protocol's.
_OTHER_PROTOCOL = re.compile(r"(^|[-_@/.])mcp($|[-_/.])|modelcontextprotocol")
# Directories of installed packages: a server working in one is in its own
# installation, not in a project.
_INSTALLATION = frozenset({"node_modules", "site-packages", "dist-packages"})
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
    ppid: int = 0


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
    return Proc(pid, argv, comm, _ids(status, "Uid"), _ids(status, "Gid"), int(fields[19]), fields[0],
                int(fields[1]))


def start_ticks(pid: int) -> Optional[int]:
    """When `pid` started (clock ticks since boot), from its stat alone; None if it is gone (or a zombie)."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            line = f.read()
        fields = line[line.rindex(b")") + 2:].split()
        return None if fields[0] in (b"Z", b"X") else int(fields[19])
    except (OSError, ValueError, IndexError):
        return None


def _ids(status: str, key: str) -> Ids:
    m = re.search(r"^%s:\s+(\d+)\s+(\d+)\s+(\d+)" % key, status, re.M)
    assert m is not None
    return Ids(int(m.group(1)), int(m.group(2)), int(m.group(3)))


def all_pids() -> List[int]:
    return sorted(int(d) for d in os.listdir("/proc") if d.isdigit())


def server_kind(p: Proc, workdir: Optional[str] = None) -> Optional[str]:
    """The language server this process is, or None: by its name (KNOWN_SERVERS),
    as a multi-purpose binary running its server (SUBCOMMANDS), or by what its
    arguments say (a name, first argument or flag of a language server).
    `workdir` is its working directory, read from /proc when not given."""
    program, args = _program(p.argv)
    exe = _name(p.argv[0]) if p.argv else ""
    for name in (exe, program, p.comm):
        if name in KNOWN_SERVERS:
            return KNOWN_SERVERS[name]
    for name, rest in ((exe, p.argv[1:]), (program, args)):
        kind = _subcommand(name, rest)
        if kind is not None:
            return kind
    if program is None or program in _NOT_SERVERS or exe in _NOT_SERVERS:
        return None
    if any(_OTHER_PROTOCOL.search(a) for a in p.argv):
        return None
    if _SERVER_WORD.search(program):
        return program
    if args and args[0] in _SERVER_SUBCOMMANDS and not _is_path(args[0], p.pid, workdir):
        return program
    if any(a in _SERVER_FLAGS for a in _options(args)):
        return program
    return None


def goes_by(p: Proc, name: str, kind: str) -> bool:
    """Is `name` (what an editor calls a server) this process, which server_kind
    found to be `kind`? The server's own name, or its program's (a name of the
    user's own for it, as its binary is called)."""
    program, _ = _program(p.argv)
    return name in (kind, program, _name(p.argv[0]) if p.argv else None, p.comm)


def _name(path: str) -> str:
    """A program's name from its path, without a script's or archive's extension."""
    base = os.path.basename(path)
    root, ext = os.path.splitext(base)
    return root if ext in (".js", ".cjs", ".mjs", ".py", ".jar", ".sh", ".rb", ".exe") else base


def _program(argv: List[str]) -> Tuple[Optional[str], List[str]]:
    """The program an argument vector runs and its arguments: argv[0], or the
    script or module behind an interpreter. None for inline code (`-c`, `-e`)
    or an interpreter with no script."""
    if not argv:
        return None, []
    if not _INTERPRETERS.match(os.path.basename(argv[0])):
        return _name(argv[0]), argv[1:]
    i = 1
    while i < len(argv):
        a = argv[i]
        if a in ("-c", "-e", "--eval", "-p", "--print"):
            return None, []
        if a == "-m" and i + 1 < len(argv):
            return argv[i + 1], argv[i + 2:]
        if a == "-jar" and i + 1 < len(argv):
            return _name(argv[i + 1]), argv[i + 2:]
        if not a.startswith("-") or a == "-":
            return _name(a), argv[i + 1:]
        i += 2 if a in _VALUE_OPTIONS else 1
    return None, []


def _subcommand(name: Optional[str], args: List[str]) -> Optional[str]:
    for lead, kind in SUBCOMMANDS.get(name or "", {}).items():
        if (not lead and all(a.startswith("-") for a in args)) or (lead and tuple(args[:len(lead)]) == lead):
            return kind
    return None


def _options(args: List[str]) -> List[str]:
    """The arguments up to `--`: after it they are another program's."""
    return args[:args.index("--")] if "--" in args else args


def _is_path(arg: str, pid: int, workdir: Optional[str]) -> bool:
    """`foo lsp` in a directory holding lsp/ works on it: a file is no subcommand."""
    where = workdir if workdir is not None else cwd(pid)
    return bool(where) and os.path.lexists(os.path.join(where, arg))


def children(pid: int) -> List[Proc]:
    """The processes whose parent is pid."""
    out = []
    for child in all_pids():
        p = read_proc(child)
        if p is not None and p.ppid == pid:
            out.append(p)
    return out


def wrapped_server(p: Proc, kind: str) -> Optional[Proc]:
    """The child that is the server p only waits for: the same server, reading
    the same stdin (npm's `biome` is a Node script that runs the binary so).
    Such a wrapper is not the server: its stdio is the child's too."""
    stdin = fd_target(p.pid, 0)
    for child in children(p.pid):
        if stdin and fd_target(child.pid, 0) == stdin and server_kind(child) == kind:
            return child
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


def environ(pid: int, key: str) -> Optional[str]:
    """One variable of a process's environment (as it was started), or None."""
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            data = f.read()
    except OSError:
        return None
    prefix = key.encode() + b"="
    for item in data.split(b"\0"):
        if item.startswith(prefix):
            return item[len(prefix):].decode(errors="replace")
    return None


def server_root(pid: int, workdir: str) -> str:
    """The project a server started by hand works on: its working directory,
    unless that is inside the server's own installation (pyright changes into
    node_modules/pyright/dist): then the directory it was started from (PWD in
    its environment), up to the nearest project marker there."""
    if not _installed(workdir):
        return workdir
    started = environ(pid, "PWD")
    if started and os.path.isdir(started) and not _installed(started):
        from remote_lsp.host.sharing.workspace import by_markers

        return by_markers(started)
    return workdir


def _installed(path: str) -> bool:
    return bool(path) and not _INSTALLATION.isdisjoint(path.split(os.sep))


def rss_kb(pid: int) -> int:
    try:
        with open("/proc/%d/statm" % pid) as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, ValueError, IndexError):
        return 0

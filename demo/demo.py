#!/usr/bin/env python3
"""`make demo`: one pylsp process shared by two editors, end to end.

Starts two LSP clients through `remote-lsp connect -- pylsp` on a small
project, shows both getting hover and diagnostics from ONE pylsp process,
prints what `remote-lsp status` says, stops pylsp reading (SIGSTOP) and shows
the agent answering all the same, kills the agent and shows pylsp living on
for the next client, then attaches by PID and goes over SSH (searching the
project there from the command line and from Neovim), and cleans up after
itself. It uses a private agent home, so it never touches a
real agent of yours.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "proxy"), str(REPO)]

from tests.support.lspclient import LspClient, hover_text  # noqa: E402
from tests.support.proc import waiting_for_input  # noqa: E402

PROXY = [sys.executable, str(REPO / "proxy" / "proxy.py")]
SOURCE = '''import os


def greet(name: str) -> str:
    """Say hello to NAME."""
    return "hello " + name


print(greet("world"))
print(undefined_name)
'''


def step(text: str) -> None:
    print("\n==> " + text, flush=True)


def tmux(work: Path, *args: str, check: bool = False) -> subprocess.CompletedProcess:
    """tmux on a server of the demo's own (its socket in the demo's directory): a
    session of the same name in your tmux, or in another demo running meanwhile,
    is never matched, and so never killed."""
    return subprocess.run(["tmux", "-S", str(work / "tmux.sock")] + list(args), capture_output=True,
                          text=True, check=check)


def remote_lsp(*args: str) -> str:
    return subprocess.run(PROXY + list(args), check=True, capture_output=True, text=True).stdout


def pids_of(name: str, under: Path) -> list:
    """The processes named name working in a directory under under (servers run in their root):
    the demo's own, not those others run on this machine meanwhile."""
    out = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True).stdout
    mine = []
    for pid in out.split():
        try:
            cwd = os.readlink("/proc/%s/cwd" % pid)
        except OSError:  # gone, or not ours to read
            continue
        if cwd == str(under) or cwd.startswith(str(under) + "/"):
            mine.append(int(pid))
    return sorted(mine)


def main() -> int:
    if shutil.which("pylsp") is None:
        sys.exit("pylsp is not installed: run `make install` (or `pip install python-lsp-server`)")
    work = Path(tempfile.mkdtemp(prefix="rl-demo-"))
    os.environ["REMOTE_LSP_HOME"] = str(work / "state")
    project = work / "project"
    project.mkdir()
    (project / "hello.py").write_text(SOURCE)
    clients = []
    try:
        step("project %s, agent state in %s" % (project, work / "state"))
        before = pids_of("pylsp", work)
        for name in ("editor-1", "editor-2"):
            argv = PROXY + ["connect", "--root", str(project), "--", "pylsp"]
            print("$ remote-lsp " + " ".join(argv[2:]))
            client = LspClient(argv, cwd=str(project), name=name)
            clients.append(client)
            client.initialize(str(project))
            print("   %s: initialized" % name)

        step("both open hello.py and ask for hover on greet(...) at line 9")
        for client in clients:
            uri = client.open(str(project / "hello.py"))
            text = hover_text(client.hover(uri, 8, 7)).strip().splitlines()
            print("   %s hover: %s" % (client.name, " | ".join(t for t in text if t.strip())))

        step("both receive diagnostics")
        for client in clients:
            diags = client.wait_notification(
                "textDocument/publishDiagnostics", lambda p: bool(p["diagnostics"]), timeout=60)
            for d in diags["diagnostics"]:
                print("   %s line %d: %s" % (client.name, d["range"]["start"]["line"] + 1, d["message"]))

        step("remote-lsp status")
        print(remote_lsp("status"))
        status = json.loads(remote_lsp("status", "--json"))
        (inst,) = status["instances"]
        started = [p for p in pids_of("pylsp", work) if p not in before]
        print("   ONE pylsp process: pid %d, shared by %d clients (pylsp processes started: %s)"
              % (inst["pid"], len(inst["clients"]), started))
        if started != [inst["pid"]] or len(inst["clients"]) != 2:
            print("demo FAILED: expected one shared pylsp")
            return 1

        step("editor-1 leaves (shutdown + exit); editor-2 still gets hover")
        clients[0].close()
        uri = (project / "hello.py").as_uri()
        print("   editor-2 hover: %s" % hover_text(clients[1].hover(uri, 3, 5)).strip().splitlines()[1])
        if stalled_server(project, clients[1], inst["pid"]) != 0:
            return 1
        if survive_the_agent(project, clients, inst["pid"]) != 0:
            return 1

        step("clean up: stop the server and the agent")
        print("   " + remote_lsp("stop", "--agent").strip())
        if attach_by_pid(project) != 0 or over_ssh(work, project) != 0:
            return 1
        leftover = [p for p in pids_of("pylsp", work) if p not in before]
        print("\n   pylsp processes left behind: %s" % (leftover or "none"))
        return 1 if leftover else 0
    finally:
        for client in clients:
            if client.proc.poll() is None:
                client.proc.kill()
        subprocess.run(PROXY + ["stop", "--agent"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def stalled_server(project: Path, client, server: int) -> int:
    """pylsp stopped (SIGSTOP) while the editor sends it more than its pipe holds: the frames wait in
    the agent, which answers all along; once pylsp runs again every frame reaches it."""
    step("pylsp (pid %d) stops reading (SIGSTOP), and editor-2 opens eight 256 KB files meanwhile." % server)
    texts = {(project / ("big%d.py" % i)).as_uri(): "# %d %s\n" % (i, "x" * 256 * 1024) for i in range(8)}
    os.kill(server, signal.SIGSTOP)
    sending = threading.Thread(target=lambda: [client.open_uri(u, t) for u, t in texts.items()], daemon=True)
    try:
        sending.start()
        deadline = time.monotonic() + 15
        while not json.loads(remote_lsp("status", "--json"))["instances"][0]["backlog"]:
            if time.monotonic() > deadline:
                print("demo FAILED: nothing waited for the stopped server")
                return 1
            time.sleep(0.05)
        started = time.monotonic()
        (inst,) = json.loads(remote_lsp("status", "--json"))["instances"]
        print("   remote-lsp status answered in %.0f ms (the whole command), with %d bytes waiting in the "
              "agent for pylsp." % ((time.monotonic() - started) * 1000, inst["backlog"]))
    finally:
        os.kill(server, signal.SIGCONT)
    started = time.monotonic()
    text = hover_text(client.hover((project / "hello.py").as_uri(), 8, 7)).strip().splitlines()
    sending.join(10)
    print("   pylsp runs again (SIGCONT) and reads every message; hover answered in %.0f ms: %s"
          % ((time.monotonic() - started) * 1000, " | ".join(t for t in text if t.strip())))
    for u in texts:
        client.notify("textDocument/didClose", {"textDocument": {"uri": u}})
    return 0


def survive_the_agent(project: Path, clients: list, server: int) -> int:
    """SIGKILL the agent: pylsp lives on, and the next connect reaches it, warm."""
    agent = json.loads(remote_lsp("status", "--json"))["agent"]["pid"]
    step("the agent (pid %d) is killed with SIGKILL; pylsp (pid %d) lives on" % (agent, server))
    os.kill(agent, signal.SIGKILL)
    clients[1].wait_closed(15)
    # The whole message, wrapped: cut at a width it would stop mid-sentence.
    print(textwrap.fill(clients[1].stderr.strip(), 100, break_on_hyphens=False, subsequent_indent="      ",
                        initial_indent="   editor-2's connect exits %d: " % clients[1].proc.wait(10)))
    print("   pylsp pid %d alive: %s" % (server, os.path.exists("/proc/%d" % server)))
    step("editor-3 connects: a new agent takes pylsp over from the registry")
    argv = PROXY + ["connect", "--root", str(project), "--", "pylsp"]
    started = time.monotonic()
    editor = LspClient(argv, cwd=str(project), name="editor-3")
    clients.append(editor)
    editor.initialize(str(project))
    uri = editor.open(str(project / "hello.py"))
    text = hover_text(editor.hover(uri, 8, 7)).strip().splitlines()
    print("   editor-3 hover after %.0f ms: %s" % ((time.monotonic() - started) * 1000,
                                                 " | ".join(t for t in text if t.strip())))
    status = json.loads(remote_lsp("status", "--json"))
    (inst,) = status["instances"]
    print("   agent pid %d (was %d), pylsp pid %d (was %d), taken over %d time(s)"
          % (status["agent"]["pid"], agent, inst["pid"], server, inst["generation"]))
    editor.close()
    if inst["pid"] != server:
        print("demo FAILED: pylsp did not survive its agent")
        return 1
    return 0


def attach_by_pid(project: Path) -> int:
    """A pylsp started by hand in tmux: attach to it by pid, use it, give it back."""
    if shutil.which("tmux") is None:
        print("\n(skipping attach by PID: tmux is not installed; .ci/run installs it)")
        return 0
    work, session = project.parent, "remote-lsp-demo"
    pylsp = shutil.which("pylsp") or "pylsp"
    step("a user starts pylsp by hand in tmux: tmux new-session -d -s %s %s" % (session, pylsp))
    tmux(work, "new-session", "-d", "-s", session, "-c", str(project), pylsp, check=True)
    client = None
    try:
        pid = int(tmux(work, "list-panes", "-t", "=%s:" % session, "-F", "#{pane_pid}", check=True).stdout)
        deadline = time.monotonic() + 30
        while not waiting_for_input(pid):  # wait until it sits reading its terminal
            if time.monotonic() > deadline:
                print("demo FAILED: pylsp in tmux did not start")
                return 1
            time.sleep(0.05)
        print("   pid %d, stdin %s" % (pid, os.readlink("/proc/%d/fd/0" % pid)))
        step("remote-lsp list")
        print(remote_lsp("list"))
        step("remote-lsp attach %d" % pid)
        print("   " + remote_lsp("attach", str(pid), "--root", str(project)).strip())
        print("   its stdin is now %s" % os.readlink("/proc/%d/fd/0" % pid))
        client = LspClient(PROXY + ["connect", "--pid", str(pid)], cwd=str(project), name="editor-3")
        client.initialize(str(project))
        uri = client.open(str(project / "hello.py"))
        print("   hover through it: %s" % hover_text(client.hover(uri, 8, 7)).strip().splitlines()[1])
        step("remote-lsp release %d" % pid)
        print("   " + remote_lsp("release", str(pid)).strip())
        dead = tmux(work, "list-panes", "-t", "=%s:" % session, "-F", "#{pane_dead}").stdout.strip()
        print("   back on %s; tmux pane still alive: %s" % (os.readlink("/proc/%d/fd/0" % pid),
                                                          "yes" if dead == "0" else "NO"))
        return 0 if dead == "0" else 1
    finally:
        if client is not None and client.proc.poll() is None:
            client.proc.kill()
        subprocess.run(PROXY + ["stop", "--agent"], capture_output=True)
        tmux(work, "kill-session", "-t", "=" + session)


def in_neovim(work: Path, project: Path, sshd, env: dict) -> int:
    """Neovim on a scp:// file of the demo host: the server attaches, hover works.
    In a real terminal (tmux) when there is one to use, else --headless."""
    from tests.support.neovim import INIT, nvim_path
    from tests.support.sshd import ALIAS

    nvim = nvim_path()
    if nvim is None:
        print("\n(skipping Neovim: `make install` provides nvim)")
        return 0
    import pynvim

    cfg = str(sshd.home / ".ssh" / "config")
    env = dict(env, REMOTE_LSP_SSH_CONFIG=cfg)
    init = work / "init.lua"
    init.write_text(INIT % {"repo": str(REPO), "scp": "scp -q -F " + cfg,
                            "setup": "{ python = %r }" % sys.executable, "postlude": ""})
    uri = "scp://%s/%s" % (ALIAS, project / "hello.py")
    headless = "--headless" in sys.argv or shutil.which("tmux") is None
    step("Neovim on %s%s" % (uri, " (headless)" if headless else " in a terminal (tmux)"))
    session = "remote-lsp-demo-nvim"
    sock = str(work / "nvim.sock")
    if headless:
        argv = ["env", "-i"] + ["%s=%s" % kv for kv in env.items()] + [
            nvim, "--embed", "--headless", "-n", "-i", "NONE", "-u", str(init), uri]
        n = pynvim.attach("child", argv=argv)
    else:
        command = " ".join(["env"] + ["%s=%s" % (k, _quote(v)) for k, v in env.items()] + [
            nvim, "-n", "-i", "NONE", "--listen", sock, "-u", str(init), uri])
        tmux(work, "new-session", "-d", "-s", session, "-x", "100", "-y", "24", command, check=True)
        deadline = time.monotonic() + 15
        while not listening(sock):  # the socket's file is there before Neovim listens on it
            if time.monotonic() > deadline:
                print("demo FAILED: Neovim did not start")
                return 1
            time.sleep(0.05)
        n = pynvim.attach("socket", path=sock)
    try:
        deadline = time.monotonic() + 60
        name = None
        while not name:
            name = n.exec_lua("local c = vim.lsp.get_clients({ bufnr = 0 })[1]; "
                              "return c and c.initialized and c.name")
            if time.monotonic() > deadline:
                print("demo FAILED: no language server attached")
                return 1
            time.sleep(0.1)
        print("   client %s attached to the buffer (the server runs on %s)" % (name, ALIAS))
        n.command("call cursor(9, 8)")
        n.exec_lua("vim.lsp.buf.hover()")
        deadline = time.monotonic() + 30
        while not n.exec_lua("for _, w in ipairs(vim.api.nvim_list_wins()) do "
                             "if vim.api.nvim_win_get_config(w).relative ~= '' then return true end end"):
            if time.monotonic() > deadline:
                print("demo FAILED: no hover window")
                return 1
            time.sleep(0.1)
        if headless:
            float_text = n.exec_lua(
                "for _, w in ipairs(vim.api.nvim_list_wins()) do "
                "if vim.api.nvim_win_get_config(w).relative ~= '' then "
                "return vim.api.nvim_buf_get_lines(vim.api.nvim_win_get_buf(w), 0, -1, false) end end")
            print("   hover window:\n      " + "\n      ".join(float_text))
        else:
            n.command("redraw")
            screen = tmux(work, "capture-pane", "-p", "-t", "=%s:" % session).stdout.rstrip()
            print("   the terminal, with K's hover window on greet():\n")
            print("\n".join("   | " + line for line in screen.splitlines()))
        return 0
    finally:
        try:
            n.command("qall!")
        except Exception:  # Neovim exits under us
            pass
        if not headless:
            tmux(work, "kill-session", "-t", "=" + session)


def listening(path: str) -> bool:
    with socket.socket(socket.AF_UNIX) as sock:
        try:
            sock.connect(path)
        except OSError:
            return False
    return True


def _quote(value: str) -> str:
    import shlex

    return shlex.quote(value)


def over_ssh(work: Path, project: Path) -> int:
    """The same shared server, on a host reached over SSH, with scp:// URIs."""
    from tests.support.sshd import ALIAS, Sshd

    if not Path("/usr/sbin/sshd").exists():
        print("\n(skipping the SSH part: openssh-server is not installed; .ci/run installs it)")
        return 0
    step("a private sshd on 127.0.0.1 (temporary host key, client key, known_hosts, alias %s)" % ALIAS)
    path = os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"])
    sshd = Sshd(work / "ssh", path)
    (work / "ssh").mkdir()
    sshd.start()
    env = sshd.client_env(work / "editor-state")
    clients = []
    try:
        uri = "scp://%s/%s" % (ALIAS, project / "hello.py")
        for transport, name in (("openssh", "ssh-openssh"), ("paramiko", "ssh-paramiko"),
                                ("openssh", "ssh-openssh-2")):
            argv = PROXY + ["--host", ALIAS, "--transport", transport, "connect", "--root", str(project),
                            "--", "pylsp"]
            print("$ remote-lsp " + " ".join(argv[2:]))
            started = time.monotonic()
            client = LspClient(argv, env=env, name=name)
            clients.append(client)
            client.initialize(str(project))
            took = (time.monotonic() - started) * 1000
            print("   %s: initialized in %.0f ms%s" % (name, took, {
                "ssh-openssh": " (first use: upload, agent, pylsp started)",
                "ssh-openssh-2": " (straight to the agent's socket, forwarded by the shared ssh connection: "
                                 "nothing started on the host)"}.get(name, "")))
            client.open_uri(uri, SOURCE)
        step("hover and go-to-definition through SSH, with scp:// URIs")
        for client in clients:
            text = hover_text(client.hover(uri, 8, 7)).strip().splitlines()
            (loc,) = client.request("textDocument/definition", {
                "textDocument": {"uri": uri}, "position": {"line": 8, "character": 7}})
            print("   %s: hover %r, definition %s line %d" % (
                client.name, text[1], loc["uri"], loc["range"]["start"]["line"] + 1))
        step("remote-lsp --host %s status" % ALIAS)
        out = subprocess.run(PROXY + ["--host", ALIAS, "status", "--json"], env=env, check=True,
                             capture_output=True, text=True).stdout
        (inst,) = json.loads(out)["instances"]
        print("   ONE pylsp on the host: pid %d, shared by %d clients over SSH" % (
            inst["pid"], len(inst["clients"])))
        if search_over_ssh(project, env) != 0 or cut_and_resume(sshd, clients[0], uri) != 0:
            return 1
        for client in clients:
            client.close()
        if in_neovim(work, project, sshd, env) != 0 or files_in_neovim(work, project, sshd, env) != 0:
            return 1
        step("clean up over SSH: remote-lsp --host %s stop --agent" % ALIAS)
        out = subprocess.run(PROXY + ["--host", ALIAS, "stop", "--agent"], env=env, check=True,
                             capture_output=True, text=True).stdout
        print("   " + out.strip())
        return 0 if len(inst["clients"]) == len(clients) else 1
    finally:
        for client in clients:
            if client.proc.poll() is None:
                client.proc.kill()
        sshd.stop()
        subprocess.run(["pkill", "-f", "ControlPath=%s" % (work / "editor-state")], capture_output=True)


def search_over_ssh(project: Path, env: dict) -> int:
    """find and grep run on the host by the agent: remote names, one a line, as ripgrep lists them."""
    from tests.support.sshd import ALIAS

    (project / "pkg").mkdir()
    (project / "pkg" / "__init__.py").write_text("")
    (project / "pkg" / "welcome.py").write_text("from hello import greet\n\nprint(greet('ssh'))\n")
    (project / "build").mkdir()
    (project / "build" / "generated.py").write_text("greet = None\n")
    (project / ".ignore").write_text("build/\n")
    base = PROXY + ["--host", ALIAS]
    step("The agent lists the project's files on the host as ripgrep would, leaving out build/ (in .ignore):"
         "\n$ remote-lsp --host %s find --root %s | head" % (ALIAS, project))
    find = subprocess.Popen(base + ["find", "--root", str(project)], env=env, stdout=subprocess.PIPE)
    head = subprocess.run(["head"], stdin=find.stdout, capture_output=True, text=True)
    find.stdout.close()
    find.wait(30)
    print("\n".join("   " + line for line in head.stdout.splitlines()))
    step("It searches their text on the host, as ripgrep's --vimgrep prints it:"
         "\n$ remote-lsp --host %s grep greet --root %s" % (ALIAS, project))
    started = time.monotonic()
    grep = subprocess.run(base + ["grep", "greet", "--root", str(project)], env=env, capture_output=True,
                          text=True)
    print("\n".join("   " + line for line in grep.stdout.splitlines()))
    took = (time.monotonic() - started) * 1000
    print("   It exits %d (found), as ripgrep does, after %.0f ms." % (grep.returncode, took))
    if grep.returncode != 0 or "generated.py" in head.stdout + grep.stdout or "welcome.py" not in grep.stdout:
        print("demo FAILED: find or grep did not list what ripgrep would")
        return 1
    return 0


def files_in_neovim(work: Path, project: Path, sshd, env) -> int:
    """Remote files through the agent: open and save with no scp, a change on the
    host shown in the buffer, a save over someone else's change refused."""
    from tests.support.neovim import Neovim, nvim_path
    from tests.support.sshd import ALIAS

    if nvim_path() is None:
        return 0
    cfg = str(sshd.home / ".ssh" / "config")
    n = Neovim(work, dict(env, REMOTE_LSP_SSH_CONFIG=cfg), "{ python = %r }" % sys.executable,
               "scp -q -F " + cfg)
    path = project / "notes.txt"
    path.write_bytes(b"written on the host\r\n")
    name = "scp://%s/%s" % (ALIAS, path)
    lines = "return vim.api.nvim_buf_get_lines(0, 0, -1, false)"
    try:
        step("Neovim opens %s through the agent's file channel (no scp for each open or save)" % name)
        timed_edit = "local t = vim.uv.hrtime(); vim.cmd.edit(...); return (vim.uv.hrtime() - t) / 1e6"
        took = n.lua(timed_edit, name)
        ff = n.lua("return vim.bo.fileformat")
        print("   opened in %.0f ms (the channel starting with it): %s, fileformat=%s"
              % (took, n.lua(lines), ff))
        (project / "other.txt").write_text("another file\n")
        took = n.lua(timed_edit, "scp://%s/%s" % (ALIAS, project / "other.txt"))
        print("   the next file opened in %.0f ms (one round trip)" % took)
        n.nvim.command("buffer " + name)
        n.nvim.command("normal! Goa line typed in Neovim")
        took = n.lua("local t = vim.uv.hrtime(); vim.cmd.write(); return (vim.uv.hrtime() - t) / 1e6")
        print("   :w in %.0f ms; on the host: %r (CRLF kept)" % (took, path.read_bytes()))

        step("someone else changes notes.txt on the host: the buffer, unmodified, reloads by itself")
        path.write_bytes(path.read_bytes() + b"added on the host by a colleague\r\n")
        n.wait("return #vim.api.nvim_buf_get_lines(0, 0, -1, false) == 3", "the buffer to reload", 30)
        print("   the buffer now: %s" % n.lua(lines))

        step("you type; meanwhile the file changes on the host again; your :w is refused, nothing is lost")
        n.nvim.command("normal! Goyour unsaved line")
        path.write_bytes(path.read_bytes() + b"a build wrote this\r\n")
        n.wait("for _, m in ipairs(_G.messages) do if m.msg:find('W12') then return m.msg end end",
               "the warning", 30)
        start = len(n.messages())
        try:
            n.nvim.command("write")
        except Exception:  # Neovim reports the refusal as an error too
            pass
        refused = [m["msg"] for m in n.messages()[start:]]
        print("   " + (refused[-1] if refused else "(no message)"))
        if b"your unsaved line" in path.read_bytes() or not n.lua("return vim.bo.modified"):
            print("demo FAILED: a save overwrote a change made on the host")
            return 1
        print("   on the host, untouched: %r; the buffer keeps your line (modified)" % path.read_bytes())
        n.nvim.command("write!")
        print("   :w! overwrites on purpose: %r" % path.read_bytes())

        step(":RemoteLspGrep greet searches the project on the host and fills the quickfix list.")
        n.lua("_G.grepped = false; vim.api.nvim_create_autocmd('QuickFixCmdPost', { pattern = 'grep', "
              "once = true, callback = function() _G.grepped = true end })")
        started = time.monotonic()
        n.nvim.command("RemoteLspGrep! greet")
        n.wait("return _G.grepped", "the quickfix list", 30)
        took = (time.monotonic() - started) * 1000
        items = n.lua("return vim.tbl_map(function(i) return ('%s:%d: %s'):format("
                      "vim.api.nvim_buf_get_name(i.bufnr), i.lnum, i.text) end, vim.fn.getqflist())")
        print("   %d match(es) in %.0f ms:\n%s" % (len(items), took, "\n".join("      " + i for i in items)))
        n.nvim.command("cfirst")
        print("   :cfirst opens %s at line %d, read through the agent"
              % (n.lua("return vim.api.nvim_buf_get_name(0)"), n.lua("return vim.fn.line('.')")))
        return 0 if items else 1
    finally:
        n.close()


def cut_and_resume(sshd, client, uri: str) -> int:
    """The link cut as a network does (the session's sshd processes killed, the
    host unreachable for 5 s), a function typed meanwhile; the session resumes
    and hover sees what was typed."""
    from tests.support.outage import hold, outage

    step("the link is cut and the host unreachable for 5 s; the editor types meanwhile")
    added = '\n\ndef typed_offline() -> str:\n    """Written while the link was down."""\n    return ""\n'
    lines = SOURCE.count("\n")
    with outage(sshd):
        client.wait_notification("$/remote-lsp/link", lambda p: p.get("state") == "down", timeout=30)
        print("   the bridge noticed: link down; connect still running: %s" % (client.proc.poll() is None))
        client.notify("textDocument/didChange", {
            "textDocument": {"uri": uri, "version": 2},
            "contentChanges": [{"range": {"start": {"line": lines, "character": 0},
                                          "end": {"line": lines, "character": 0}},
                                "text": added + "\ntyped_offline()\n"}]})
        hold(5)
    started = time.monotonic()
    text = hover_text(client.hover(uri, lines + added.count("\n") + 1, 2)).strip().splitlines()
    up = [n["params"] for n in client.notifications if n["method"] == "$/remote-lsp/link"][-1]
    print("   link back (%s after %.1f s); hover on the new function %.0f ms after the host returned: %s"
          % (up["state"], up.get("after", 0), (time.monotonic() - started) * 1000,
             " | ".join(t for t in text if t.strip())))
    if "Written while the link was down" not in " ".join(text):
        print("demo FAILED: the edit typed during the outage did not reach the server")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Fixtures: a private agent home per test, and helpers to start clients.

Every test gets its own REMOTE_LSP_HOME, so its agent is its own; teardown
stops the agent and checks that nothing it started is left running.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence

import pytest

REPO = Path(__file__).resolve().parent.parent
PROXY = REPO / "proxy" / "proxy.py"
SCRIPTED = REPO / "tests" / "support" / "scripted_server.py"
BIOME = REPO / ".venv" / "npm" / "node_modules" / ".bin" / "biome"  # `make install` installs it
sys.path.insert(0, str(REPO / "proxy"))

from tests.support.lspclient import LspClient  # noqa: E402
from tests.support.proc import pid_alive, waiting_for_input  # noqa: E402
from tests.support.waiting import wait_for  # noqa: E402  (tests take it from here too)

# A test that uses one of these runs real processes around a real agent (an sshd, Neovim, tmux):
# marked `system`. `make check` runs the rest, the fast loop (unit, contract and in-process tests).
# A test that starts such a process itself says so: @pytest.mark.system (held to it below).
SYSTEM_FIXTURES = frozenset({"agent", "sshd", "remote", "tmux", "intruder", "biome_env", "editor", "neovim",
                             "small_disk"})
SYSTEM_PROGRAMS = frozenset({"nvim", "sshd", "tmux"})


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SYSTEM_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.system)


@pytest.fixture(autouse=True)
def _fast_tests_start_no_system_program(request, monkeypatch):
    """A test not marked `system` that starts Neovim, an sshd or tmux fails, so that
    the fast loop stays fast and the mark stays complete."""
    if request.node.get_closest_marker("system") is not None:
        return
    popen_init = subprocess.Popen.__init__

    def checked(self, args, *rest, **kw):
        argv = [args] if isinstance(args, (str, bytes, os.PathLike)) else list(args)
        program = os.path.basename(os.fsdecode(argv[0])).split()[0] if argv else ""
        if program in SYSTEM_PROGRAMS:
            raise AssertionError("this test starts %s: mark it @pytest.mark.system" % program)
        popen_init(self, args, *rest, **kw)

    monkeypatch.setattr(subprocess.Popen, "__init__", checked)


class Agent:
    """One test's agent home and the commands that talk to it."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env: Dict[str, str] = dict(os.environ)
        self.env["REMOTE_LSP_HOME"] = str(home)
        self.env["PYTHONPATH"] = os.pathsep.join([str(REPO / "proxy"), str(REPO)])
        self.clients: List[LspClient] = []

    def cli(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, str(PROXY), *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError("remote-lsp %s failed (%d): %s" % (
                " ".join(args), proc.returncode, proc.stderr))
        return proc

    def status(self) -> dict:
        import json

        return json.loads(self.cli("status", "--json").stdout)

    def connect_argv(self, server: List[str], root: str, *opts: str) -> List[str]:
        return [sys.executable, str(PROXY), "connect", "--root", root, *opts, "--", *server]

    def client(self, server: List[str], root: str, *opts: str, name: str = "client",
               env: Optional[Dict[str, str]] = None) -> LspClient:
        c = LspClient(self.connect_argv(server, root, *opts), cwd=root,
                      env=dict(self.env, **(env or {})), name=name)
        self.clients.append(c)
        return c

    def agent_pid(self) -> int:
        try:
            return int((self.home / "agent.pid").read_text())
        except (OSError, ValueError):
            return 0

    def stop(self) -> None:
        for c in self.clients:
            if c.proc.poll() is None:
                c.proc.kill()
                c.proc.wait()
        pid = self.agent_pid()
        if pid and pid_alive(pid):
            self.cli("stop", "--agent", check=False, timeout=60)
            try:
                wait_for(lambda: not pid_alive(pid), 20, "the agent to exit")
            except TimeoutError:
                os.kill(pid, signal.SIGKILL)
                raise


@pytest.fixture
def agent() -> Iterator[Agent]:
    # Short path: Unix socket paths are limited to 108 bytes.
    home = Path(tempfile.mkdtemp(prefix="rl-", dir="/tmp"))
    a = Agent(home / "state")
    try:
        yield a
    finally:
        a.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "a.py").write_text(
        'import os\n\n\ndef greet(name: str) -> str:\n    """Say hello to NAME."""\n'
        '    return "hello " + name\n\n\nprint(greet("x"))\nundefined_name\n')
    (root / "b.py").write_text("from a import greet\n\ngreet('b')\n")
    return root


@pytest.fixture
def scripted(tmp_path: Path):
    """The scripted server's argv, and where it leaves its state when it exits."""
    state = tmp_path / "server-state.json"
    return [sys.executable, str(SCRIPTED)], {"SCRIPTED_STATE_FILE": str(state)}, state


class Remote:
    """The editor side of an SSH setup: its HOME, its own state, its commands."""

    def __init__(self, sshd, base: Path) -> None:
        from tests.support.sshd import ALIAS

        self.sshd = sshd
        self.alias = ALIAS
        self.local_state = base / "local-state"
        self.env = sshd.client_env(self.local_state)
        self.env["PYTHONPATH"] = os.pathsep.join([str(REPO / "proxy"), str(REPO)])
        self.clients: List[LspClient] = []
        self.hosts = {ALIAS}  # each spelling of the host has its own shared connection

    def cli(self, *args: str, transport: str = "openssh", check: bool = True,
            timeout: float = 60) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, str(PROXY), "--host", self.alias, "--transport", transport,
                               *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError("remote-lsp --host %s failed (%d): %s" % (
                " ".join(args), proc.returncode, proc.stderr))
        return proc

    def connect_argv(self, server: List[str], root: str, transport: str = "openssh",
                     host: str = "", opts: Sequence[str] = ()) -> List[str]:
        return [sys.executable, str(PROXY), "--host", host or self.alias, "--transport", transport,
                "connect", "--root", root, *opts, "--", *server]

    def client(self, server: List[str], root: str, transport: str = "openssh",
               name: str = "remote-client", host: str = "", opts: Sequence[str] = ()) -> LspClient:
        c = LspClient(self.connect_argv(server, root, transport, host, opts), env=self.env, name=name)
        self.clients.append(c)
        self.hosts.add(host or self.alias)
        return c

    def uri(self, path: Path) -> str:
        return "scp://%s/%s" % (self.alias, path)

    def leftovers(self) -> List[str]:
        """ssh session processes (not the shared master) and host-side connects,
        also once they wait as a shell."""
        out = subprocess.run(["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True).stdout
        found = []
        for line in out.splitlines()[1:]:
            pid, _, args = line.strip().partition(" ")
            mine = str(self.sshd.home) in args  # this sshd's config: not another test run's
            if "ssh " in args and mine and " -M" not in args and "-O " not in args:
                found.append(line)
            if str(self.sshd.remote_cache) in args and " connect " in args:
                found.append(line)
            if "read -r line <&3" in args and _environ_has(int(pid), str(self.sshd.remote_state)):
                found.append(line)
        return found

    def cleanup(self) -> None:
        for c in self.clients:
            if c.proc.poll() is None:
                c.proc.kill()
                c.proc.wait()
        self.sshd.stop_agent()
        # End the shared connections this test's editor side started.
        from remote_lsp.editor.hosts import parse_host
        from remote_lsp.editor.transport.openssh import OpenSSH

        saved = os.environ.get("HOME")
        os.environ["HOME"] = self.env["HOME"]
        try:
            if self.local_state.exists():
                for host in self.hosts:
                    OpenSSH(parse_host(host), self.local_state).stop_master()
        finally:
            os.environ["HOME"] = saved or ""


def _environ_has(pid: int, text: str) -> bool:
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            return text.encode() in f.read()
    except OSError:
        return False


@pytest.fixture(scope="session")
def sshd():
    from tests.support.sshd import Sshd

    if not Path("/usr/sbin/sshd").exists():
        pytest.skip("openssh-server is not installed (.ci/run installs it)")
    base = Path(tempfile.mkdtemp(prefix="rl-ssh-", dir="/tmp"))
    path = os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"])
    server = Sshd(base, path).start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, "report_" + report.when, report)


@pytest.fixture
def remote(sshd, tmp_path, request):
    sshd.write_known_hosts(sshd.host_pub)
    r = Remote(sshd, tmp_path)
    try:
        yield r
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:  # what the host side saw, for the failure's report
            log = sshd.remote_state / "agent.log"
            tail = log.read_text()[-6000:] if log.exists() else "none"
            print("--- host agent log (last lines) ---\n" + tail)
        r.cleanup()


@pytest.fixture
def editor(remote, tmp_path):
    """Open Neovims against the test host (`setup`: the plugin's options); all closed afterwards."""
    from tests.support.neovim import Neovim

    env = dict(remote.env, REMOTE_LSP_SSH_CONFIG=str(remote.sshd.home / ".ssh" / "config"))
    scp = "scp -q -F %s" % env["REMOTE_LSP_SSH_CONFIG"]
    opened = []

    def make(setup="{ python = %r }" % sys.executable, prelude="", postlude=""):
        n = Neovim(tmp_path, env, setup, scp, prelude=prelude, postlude=postlude)
        opened.append(n)
        return n

    yield make
    for n in opened:
        n.close()


class Tmux:
    """A server started on a terminal, exactly as a user would in tmux; on a tmux
    server of this test run's own, so a session of the same name elsewhere (the
    user's, another run's meanwhile) is never matched, killed or listed."""

    SOCKET = os.path.join(tempfile.gettempdir(), "rlsp-tmux-%d" % os.getpid())

    def __init__(self, name: str) -> None:
        self.name = name

    def run(self, *args: str, check: bool = False) -> "subprocess.CompletedProcess[str]":
        return subprocess.run(["tmux", "-S", self.SOCKET] + list(args), capture_output=True, text=True,
                              check=check)

    def open(self, argv: List[str], cwd: str) -> int:
        """argv on a terminal of its own (whether or not it reads it): its pid."""
        import shlex

        self.stop()
        self.run("new-session", "-d", "-s", self.name, "-x", "200", "-y", "50", "-c", cwd,
                 " ".join(shlex.quote(a) for a in argv), check=True)
        return int(self.pane("#{pane_pid}"))

    def start(self, argv: List[str], cwd: str) -> int:
        pid = self.open(argv, cwd)
        # Ready once it sits blocked reading its terminal.
        wait_for(lambda: waiting_for_input(pid), 30, "the server to wait on its terminal")
        return pid

    def pane(self, fmt: str) -> str:
        return self.run("list-panes", "-t", "=%s:" % self.name, "-F", fmt, check=True).stdout.strip()

    def stop(self) -> None:
        self.run("kill-session", "-t", "=" + self.name)


@pytest.fixture
def tmux(request):
    t = Tmux("rlsp-%s" % request.node.name[:40].replace("[", "-").replace("]", "").replace(".", "-"))
    try:
        yield t
    finally:
        t.stop()
        t.run("kill-server")  # and any other session this test opened
        try:
            os.unlink(Tmux.SOCKET)
        except OSError:
            pass


THROWAWAY = "rlsp-intruder"


@pytest.fixture
def intruder():
    import pwd

    if os.getuid() != 0:
        pytest.skip("creating a throwaway user needs root")
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", THROWAWAY],
                   capture_output=True)
    yield pwd.getpwnam(THROWAWAY)
    subprocess.run(["userdel", THROWAWAY], capture_output=True)


@pytest.fixture
def biome_env():
    """Biome's daemon (`biome __run_server`, which `biome lsp-proxy` starts and
    which outlives it) kept to this test: its socket and logs under a HOME of
    its own (a short path: a Unix socket's is at most 108 bytes), stopped at
    the end."""
    if not BIOME.exists():
        pytest.skip("biome is installed by `make install`")
    home = tempfile.mkdtemp(prefix="rl-biome-", dir="/tmp")
    env = dict(os.environ, HOME=home, XDG_CACHE_HOME=home + "/cache", TMPDIR=home)
    try:
        yield env
    finally:
        subprocess.run([str(BIOME), "stop"], env=env, capture_output=True, timeout=30)
        wait_for(lambda: not pids_with(home), 15, "biome's daemon to stop")
        shutil.rmtree(home, ignore_errors=True)


def pids_with(text):
    """Processes whose command line holds text."""
    from remote_lsp.host import procs

    found = []
    for pid in procs.all_pids():
        p = procs.read_proc(pid)
        if p is not None and text in " ".join(p.argv):
            found.append(pid)
    return found

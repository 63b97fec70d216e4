"""The system `ssh`: the user's whole ssh config works (aliases, ProxyJump,
Match, certificates, agents).

One shared connection per host: a master (`ssh -fNM`) started on first use,
with its ControlPath in our own directory, that later sessions ride on. The
master is a process of its own, so ending one session (or killing its ssh)
never takes the others down; it exits by itself after ControlPersist.

ssh runs in BatchMode: it never asks anything. A host that wants a password
or a second factor can still be used through a master the user opened
themselves, with a ControlMaster and ControlPath in their own ssh config:
when ours is not up and theirs is (`ssh -O check`), sessions ride theirs, and
we never stop it.

Once a session has named the agent's socket on the host, later connections
go straight to it through a socket our master forwards there (`ssh -O
forward`): no ssh process, no shell, no Python started on the host, so a new
or resumed session costs a round trip instead of a process start at each end.
"""

import asyncio
import ctypes
import fcntl
import hashlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, List, Optional

from remote_lsp.editor.transport import (
    CONNECT_TIMEOUT,
    ChannelProcess,
    OnData,
    OnEof,
    RemoteProcess,
    Transport,
    needs_prompt,
    refused,
    ssh_config_path,
)
from remote_lsp.editor.transport.stream import SocketStream
from remote_lsp.wire.errors import FATAL_SSH, TransportError
from remote_lsp.wire.fdio import FdChannel
from remote_lsp.wire.paths import ensure_private_dir

CONTROL_PERSIST = 600


def _die_with_parent() -> None:
    """In the ssh child: get SIGTERM if the proxy dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _control_dir(state_dir: Path) -> Path:
    """Where the shared-connection sockets live. Unix socket paths hold 107
    bytes, and ssh adds a temporary suffix while binding: a deep state
    directory falls back to a private one under /tmp."""
    preferred = state_dir / "ssh"
    if len(str(preferred)) <= 64:
        return preferred
    return Path(tempfile.gettempdir()) / ("remote-lsp-ssh-%d" % os.getuid())


def _unix_connection(path: Path) -> Optional[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
        return sock
    except OSError:
        sock.close()
        return None


def _remove_if_stale(path: Path) -> None:
    """Remove a socket nothing listens on: left by a master that died
    uncleanly (SIGKILL, the OOM killer). A master started over it would find
    its ControlPath taken, run as a plain connection in the background for
    ever, and every later call would do the same. Called under the host's
    lock, so no master of ours can be starting on it."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except ConnectionRefusedError:
        try:
            path.unlink()
        except OSError:
            pass
    except OSError:
        pass
    finally:
        sock.close()


class OpenSSHProcess(ChannelProcess):
    def __init__(self, proc: subprocess.Popen, errf: IO[bytes]) -> None:
        self.proc = proc
        self._errf = errf
        self._channel: Optional[FdChannel] = None
        self._err_text: Optional[str] = None

    def start(self, on_data: OnData, on_eof: OnEof) -> None:
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self._channel = FdChannel(os.dup(self.proc.stdout.fileno()), os.dup(self.proc.stdin.fileno()),
                                on_data, lambda exc: on_eof())
        self.proc.stdout.close()
        self.proc.stdin.close()

    async def wait(self) -> int:
        loop = asyncio.get_running_loop()
        rc = await loop.run_in_executor(None, self.proc.wait)
        self._err_text = self.stderr()
        self._errf.close()
        return rc

    def stderr(self) -> str:
        if self._err_text is not None:
            return self._err_text
        try:
            return os.pread(self._errf.fileno(), 1 << 16, 0).decode(errors="replace")
        except (OSError, ValueError):
            return ""

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()


class OpenSSH(Transport):
    name = "openssh"
    ssh_failure = 255

    def __init__(self, host, state_dir) -> None:
        super().__init__(host, state_dir)
        self.dir = ensure_private_dir(_control_dir(state_dir))
        # One master per (host as written, ssh config): our own short name,
        # since ssh's %C (40 characters) overflows socket paths in deep homes.
        key = "%s\0%s" % (host.text, ssh_config_path())
        self._tag = hashlib.sha256(key.encode()).hexdigest()[:12]
        self.users_master = False  # riding the user's own master (their ControlPath), not ours
        self._starting: Optional[subprocess.Popen] = None  # our master, while it connects
        self._aborted = False

    def base_argv(self, ours: bool = True) -> List[str]:
        """ssh with our options; `ours`: on our own shared connection, else on
        the ControlPath of the user's config."""
        argv = ["ssh", "-T", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                "-o", "ConnectTimeout=%d" % CONNECT_TIMEOUT, "-o", "ServerAliveInterval=15",
                "-o", "ServerAliveCountMax=3"]
        if ours:
            argv += ["-o", "ControlPath=%s/%s" % (self.dir, self._tag)]
        config = ssh_config_path()
        if config.exists():
            argv += ["-F", str(config)]
        if self.host.port:
            argv += ["-p", str(self.host.port)]
        return argv

    def _stderr_file(self) -> IO[bytes]:
        """Where an ssh process's stderr goes: a file with no name (it is gone
        with its last descriptor), so none is ever left behind."""
        return tempfile.TemporaryFile(dir=str(self.dir))

    def _ensure_master(self) -> None:
        """Start the shared connection unless one is up. Serialised per host
        (a lock file), so concurrent first connects make one master, and a
        stale socket is replaced by one caller only."""
        if self._master_up():
            self.users_master = False
            return
        with open(self.dir / ("%s.lock" % self._tag), "w") as lock:
            self._hold(lock)
            if self._master_up():
                self.users_master = False
                return
            self.users_master = self._users_master_up()
            if self.users_master:
                return
            _remove_if_stale(self.dir / self._tag)
            with self._stderr_file() as errf:
                # -f: returns once authenticated, the master going on in the background.
                self._starting = subprocess.Popen(
                    self.base_argv() + ["-f", "-N", "-M", "-o", "ControlPersist=%d" % CONTROL_PERSIST,
                                        self.host.destination],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errf,
                    start_new_session=True)
                if self._aborted:
                    self._starting.kill()
                try:
                    rc = self._starting.wait()
                finally:
                    self._starting = None
                errf.seek(0)
                message = errf.read().decode(errors="replace").strip()
            if rc != 0:
                if needs_prompt(message):
                    raise TransportError(refused(self.host.text, message, self.name), fatal=True)
                raise TransportError("ssh %s: %s" % (self.host.text, message or "exit code %d" % rc),
                                     fatal=any(words in message for words in FATAL_SSH))

    def _hold(self, lock: IO[str]) -> None:
        """The host's lock (another process may hold it while its master
        connects), unless this attempt is given up meanwhile."""
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if self._aborted:
                    raise TransportError("ssh %s: given up" % self.host.text) from None
                time.sleep(0.05)

    def _master_up(self) -> bool:
        """Is a master listening on our control socket? (No ssh process needed.)"""
        probe = _unix_connection(self.dir / self._tag)
        if probe is None:
            return False
        probe.close()
        return True

    def _users_master_up(self) -> bool:
        """Has the user opened a master of their own for this host (a
        ControlPath in their ssh config, with a master listening on it)?"""
        try:
            return subprocess.run(self.base_argv(ours=False) + ["-O", "check", self.host.destination],
                                  stdin=subprocess.DEVNULL, capture_output=True, timeout=CONNECT_TIMEOUT
                                  ).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False

    async def exec(self, command: str) -> RemoteProcess:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._ensure_master)
        errf = self._stderr_file()
        try:
            proc = subprocess.Popen(
                self.base_argv(ours=not self.users_master) + ["-o", "ControlMaster=no", self.host.destination,
                                                               command],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errf,
                preexec_fn=_die_with_parent)
        except BaseException:
            errf.close()
            raise
        return OpenSSHProcess(proc, errf)

    async def stream(self, path: str) -> Optional[RemoteProcess]:
        sock = await asyncio.get_running_loop().run_in_executor(None, self._forwarded, path)
        return SocketStream(sock) if sock is not None else None

    def _forwarded(self, remote: str) -> Optional[socket.socket]:
        """A connection to the socket `remote` on the host, through the socket
        our master forwards to it (asked for on first use); None without our
        own master, or for a path an `-L` cannot carry."""
        self._ensure_master()
        local = self.dir / ("%s-%s.fwd" % (self._tag, hashlib.sha256(remote.encode()).hexdigest()[:8]))
        if self.users_master or ":" in remote + str(local) or len(str(local)) > 100:
            return None
        sock = _unix_connection(local)
        if sock is not None:
            return sock
        with open(self.dir / ("%s.lock" % self._tag), "w") as lock:
            self._hold(lock)
            sock = _unix_connection(local)
            if sock is not None:
                return sock
            try:
                local.unlink()  # left by a master that is gone
            except OSError:
                pass
            try:
                done = subprocess.run(self.base_argv() + ["-O", "forward", "-L", "%s:%s" % (local, remote),
                                                          self.host.destination],
                                      stdin=subprocess.DEVNULL, capture_output=True, timeout=CONNECT_TIMEOUT)
            except (OSError, subprocess.TimeoutExpired):
                return None
            return _unix_connection(local) if done.returncode == 0 else None

    def _agent_note(self) -> Path:
        return self.dir / ("%s.agent" % self._tag)

    def known_agent(self) -> Optional[str]:
        try:
            return self._agent_note().read_text().strip() or None
        except OSError:
            return None

    def remember_agent(self, path: str) -> None:
        if path == self.known_agent():
            return
        note = self._agent_note()
        temp = note.with_name(note.name + ".%d" % os.getpid())
        try:
            temp.write_text(path + "\n")
            os.replace(temp, note)
        except OSError:
            pass  # a cache: the next session finds the agent the long way

    def reset(self) -> None:
        self.stop_master()

    def abort(self) -> None:
        self._aborted = True
        starting = self._starting
        if starting is not None and starting.poll() is None:
            starting.kill()  # still connecting: nothing of it runs on

    def stop_master(self) -> None:
        subprocess.run(self.base_argv() + ["-O", "exit", self.host.destination],
                       stdin=subprocess.DEVNULL, capture_output=True)

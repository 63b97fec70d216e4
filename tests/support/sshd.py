"""A private OpenSSH server on 127.0.0.1 for tests and the demo.

Everything is temporary: host key, client key, authorized_keys, known_hosts
and an ssh config with the alias `rlsp-test`, under a HOME of its own. The
host side gets its own REMOTE_LSP_HOME and REMOTE_LSP_CACHE through SetEnv,
so it never meets a real agent.
"""

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Dict, Optional

from tests.support.proc import child_pids, pid_alive

ALIAS = "rlsp-test"
SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


class Sshd:
    def __init__(self, base: Path, remote_path: str) -> None:
        self.base = base
        self.port = free_port()
        self.home = base / "home"  # the editor side's HOME
        self.remote_state = base / "remote-state"
        self.remote_cache = base / "remote-cache"
        self.known_hosts = base / "known_hosts"
        self.host_pub = ""
        self.proc: Optional[subprocess.Popen] = None
        self.remote_path = remote_path

    def start(self) -> "Sshd":
        b = self.base
        (self.home / ".ssh").mkdir(parents=True, mode=0o700)
        self.host_pub = keygen(b / "host_key")
        (b / "authorized_keys").write_text(keygen(b / "client_key") + "\n")
        self.write_known_hosts(self.host_pub)
        (self.home / ".ssh" / "config").write_text(
            "Host %s\n  HostName 127.0.0.1\n  Port %d\n  User root\n  IdentityFile %s\n"
            "  IdentitiesOnly yes\n  UserKnownHostsFile %s\n"
            # For user@127.0.0.1:PORT, written out without the alias.
            "Host 127.0.0.1\n  IdentityFile %s\n  IdentitiesOnly yes\n  UserKnownHostsFile %s\n"
            % (ALIAS, self.port, b / "client_key", self.known_hosts, b / "client_key", self.known_hosts))
        config = b / "sshd_config"
        config.write_text("\n".join([
            "Port %d" % self.port, "ListenAddress 127.0.0.1", "HostKey %s" % (b / "host_key"),
            "PidFile %s" % (b / "sshd.pid"), "AuthorizedKeysFile %s" % (b / "authorized_keys"),
            "StrictModes no", "UsePAM no", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password", "MaxSessions 50", "MaxStartups 50",
            "SetEnv REMOTE_LSP_HOME=%s REMOTE_LSP_CACHE=%s PATH=%s"
            % (self.remote_state, self.remote_cache, self.remote_path),
            "Subsystem sftp internal-sftp",  # scp speaks SFTP since OpenSSH 9 (netrw uses scp)
            "LogLevel ERROR", ""]))
        Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)],
                                     stderr=open(b / "sshd.log", "wb"))
        self._wait_ready()
        return self

    def stop_listening(self) -> None:
        """The host gone: its sessions killed, the listener stopped (connections refused)."""
        sessions = self.session_pids()
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait(10)
        for pid in sessions:
            try:
                os.kill(pid, 9)
            except OSError:
                pass

    def listen_again(self) -> None:
        """The host back (after stop_listening): the same sshd, listening once more."""
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.base / "sshd_config")],
                                     stderr=open(self.base / "sshd.log", "ab"))
        self._wait_ready()

    def write_known_hosts(self, pub: str) -> None:
        self.known_hosts.write_text("[127.0.0.1]:%d %s\n" % (self.port, " ".join(pub.split()[:2])))

    def _wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(4).startswith(b"SSH-"):
                        return
            except OSError:
                pass
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError("sshd exited: %s" % (self.base / "sshd.log").read_text())
            if time.monotonic() > deadline:
                raise TimeoutError("sshd did not start listening")
            time.sleep(0.02)

    def client_env(self, local_state: Path) -> Dict[str, str]:
        env = dict(os.environ)
        env.update(HOME=str(self.home), REMOTE_LSP_HOME=str(local_state))
        env.pop("SSH_AUTH_SOCK", None)
        return env

    def session_pids(self):
        """The per-connection sshd processes (children of the listener)."""
        if self.proc is None:
            return []
        return child_pids(self.proc.pid)

    def stop(self) -> None:
        self.stop_agent()
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)

    def stop_agent(self) -> None:
        """Stop the host side's agent (it stops its servers gracefully) and wait for it."""
        pidfile = self.remote_state / "agent.pid"
        try:
            pid = int(pidfile.read_text())
            os.kill(pid, 15)
        except (OSError, ValueError):
            return
        deadline = time.monotonic() + 20
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)

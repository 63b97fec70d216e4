"""Pure-Python SSH with paramiko, for machines without an ssh binary.

Reads the ssh config (Host, HostName, User, Port, IdentityFile,
UserKnownHostsFile, ProxyCommand, ProxyJump), uses the ssh agent and the
user's keys, and checks host keys against known_hosts: an unknown or changed
key is refused with a message saying which. It never prompts: paramiko itself
would answer a second factor (keyboard-interactive after a key) by printing
the host's prompt to our stdout and reading our stdin, which are the editor's
LSP stream; our Transport refuses instead, and the message names the fixes.
"""

import asyncio
import getpass
import logging
import os
import queue
import threading
from typing import Any, List, Optional

import paramiko

from remote_lsp.editor.hosts import HostSpec, parse_host
from remote_lsp.editor.transport import (
    CONNECT_TIMEOUT,
    HANDSHAKE_TIMEOUT,
    OnData,
    OnEof,
    RemoteProcess,
    Transport,
    refused,
    ssh_config_path,
)
from remote_lsp.wire.errors import TransportError

# paramiko's own log lines (tracebacks of a connection reset while a host is
# down) are not for the editor's log: what matters is reported as our errors.
logging.getLogger("paramiko").addHandler(logging.NullHandler())
logging.getLogger("paramiko").propagate = False


EXIT_TIMEOUT = 10.0  # seconds an ended channel gets to report its exit status


class _NeverPrompting(paramiko.Transport):
    """A Transport that refuses to ask the user anything."""

    def auth_interactive_dumb(self, username: str, handler: Any = None, submethods: str = "") -> List[str]:
        raise paramiko.AuthenticationException("the host asks for a second factor (keyboard-interactive)")


class ParamikoProcess(RemoteProcess):
    """paramiko is blocking: a reader thread hands data to the event loop, and
    a writer thread sends what the loop queues, so a peer that stops reading
    (a stalled link) never blocks the loop: heartbeats go on and notice it."""

    def __init__(self, chan: paramiko.Channel) -> None:
        self.chan = chan
        self._stderr: List[bytes] = []
        self._out: queue.Queue[Optional[bytes]] = queue.Queue()
        threading.Thread(target=self._send, daemon=True).start()

    def start(self, on_data: OnData, on_eof: OnEof) -> None:
        loop = asyncio.get_running_loop()

        def pump() -> None:
            while True:
                try:
                    data = self.chan.recv(256 * 1024)
                except (OSError, EOFError, paramiko.SSHException):
                    data = b""
                if not data:
                    loop.call_soon_threadsafe(on_eof)
                    return
                loop.call_soon_threadsafe(on_data, data)

        def pump_stderr() -> None:
            while True:
                try:
                    data = self.chan.recv_stderr(65536)
                except (OSError, EOFError, paramiko.SSHException):
                    return
                if not data:
                    return
                self._stderr.append(data)

        threading.Thread(target=pump, daemon=True).start()
        threading.Thread(target=pump_stderr, daemon=True).start()

    def _send(self) -> None:
        while True:
            data = self._out.get()
            try:
                if data is None:
                    self.chan.shutdown_write()
                    return
                self.chan.sendall(data)
            except (OSError, EOFError, paramiko.SSHException):
                return  # the reader sees the end and reports it

    def write(self, data: bytes) -> None:
        self._out.put(data)

    def write_eof(self) -> None:
        self._out.put(None)

    async def wait(self) -> int:
        """Its exit status; 255 if none comes (a connection that died with it)."""
        loop = asyncio.get_running_loop()
        # Bounded: a wait on a dead connection must not hold an executor thread forever.
        if not await loop.run_in_executor(None, self.chan.status_event.wait, EXIT_TIMEOUT):
            self.chan.close()
            return 255
        rc = self.chan.exit_status
        return 255 if rc == -1 else rc

    def stderr(self) -> str:
        return b"".join(self._stderr).decode(errors="replace")

    def kill(self) -> None:
        self.chan.close()


class ParamikoSSH(Transport):
    name = "paramiko"
    ssh_failure = 255

    def __init__(self, host: HostSpec, state_dir, jump_depth: int = 0) -> None:
        super().__init__(host, state_dir)
        self._client: Optional[paramiko.SSHClient] = None
        self._jump: Optional[ParamikoSSH] = None
        self._jump_depth = jump_depth

    def _options(self) -> Any:
        config = paramiko.SSHConfig()
        path = ssh_config_path()
        if path.exists():
            config = paramiko.SSHConfig.from_path(str(path))
        return config.lookup(self.host.host)

    def connect(self) -> paramiko.SSHClient:
        if self._client is not None:
            transport = self._client.get_transport()
            if transport is not None and transport.is_active():
                return self._client
            self.close()  # the connection died (a network cut): a new one
        opts = self._options()
        hostname = opts.get("hostname", self.host.host)
        port = self.host.port or int(opts.get("port", 22))
        user = self.host.user or opts.get("user") or getpass.getuser()
        client = paramiko.SSHClient()
        client.load_system_host_keys()
        for known in opts.get("userknownhostsfile", "~/.ssh/known_hosts").split():
            known = os.path.expanduser(known)
            if os.path.exists(known):
                client.load_host_keys(known)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        where = "%s (%s port %d)" % (self.host.text, hostname, port)
        keys = [os.path.expanduser(k) for k in opts.get("identityfile", [])]
        # As ssh does, a key file that is not there is passed over (paramiko would
        # raise a bare FileNotFoundError), and named if the host then refuses.
        missing = "".join("no such identity: %s: No such file or directory\n" % k
                          for k in keys if not os.path.exists(k))
        keys = [k for k in keys if os.path.exists(k)]
        try:
            client.connect(
                hostname, port=port, username=user, sock=self._sock(opts, hostname, port),
                key_filename=keys or None,
                timeout=CONNECT_TIMEOUT, banner_timeout=HANDSHAKE_TIMEOUT, auth_timeout=HANDSHAKE_TIMEOUT,
                allow_agent=True, look_for_keys=opts.get("identitiesonly", "no") != "yes",
                transport_factory=_NeverPrompting)
        except paramiko.BadHostKeyException:
            raise TransportError("host key for %s has CHANGED: refusing to connect (someone may be "
                                 "intercepting; fix known_hosts if the change is expected)" % where,
                                 fatal=True) from None
        except paramiko.AuthenticationException as exc:
            # A connection that died during authentication is no refusal: try again later.
            if "transport shut down or saw EOF" in str(exc):
                raise TransportError("ssh %s: the connection ended during authentication" % where) from None
            said = "authentication failed at %s port %d: %s" % (hostname, port,
                                                                 str(exc).rstrip(".") or type(exc).__name__)
            raise TransportError(refused(self.host.text, missing + said, self.name), fatal=True) from None
        except paramiko.SSHException as exc:
            if missing and "No authentication methods available" in str(exc):
                raise TransportError(refused(self.host.text, missing + str(exc), self.name),
                                     fatal=True) from None
            if "not found in known_hosts" in str(exc):
                raise TransportError("host key for %s is unknown: refusing to connect (add it to "
                                     "known_hosts first, e.g. by connecting once with ssh)" % where,
                                     fatal=True) from None
            raise TransportError("ssh %s: %s" % (where, exc)) from None
        except (OSError, EOFError) as exc:
            raise TransportError("cannot reach %s: %s" % (where, exc)) from None
        self._client = client
        return client

    def _sock(self, opts: Any, hostname: str, port: int) -> Any:
        if opts.get("proxycommand") and opts["proxycommand"].lower() != "none":
            return paramiko.ProxyCommand(opts["proxycommand"])
        jump = opts.get("proxyjump")
        if jump and jump.lower() != "none":
            if self._jump_depth > 4:
                raise TransportError("ProxyJump chain too long for %s" % self.host.text)
            self._jump = ParamikoSSH(parse_host(jump.split(",")[0]), self.state_dir, self._jump_depth + 1)
            transport = self._jump.connect().get_transport()
            assert transport is not None
            return transport.open_channel("direct-tcpip", (hostname, port), ("127.0.0.1", 0))
        return None

    async def exec(self, command: str) -> RemoteProcess:
        loop = asyncio.get_running_loop()
        client = await loop.run_in_executor(None, self.connect)
        transport = client.get_transport()
        assert transport is not None
        try:
            chan = transport.open_session(timeout=CONNECT_TIMEOUT)
            chan.exec_command(command)
        except (OSError, paramiko.SSHException) as exc:
            raise TransportError("ssh %s: %s" % (self.host.text, exc)) from None
        return ParamikoProcess(chan)

    def reset(self) -> None:
        self.close()

    def close(self) -> None:
        client, jump, self._client, self._jump = self._client, self._jump, None, None
        if client is not None:
            client.close()
        if jump is not None:
            jump.close()

"""Over SSH, against the fair baseline: the same scripted server run through a
plain pipe on the same sshd (`ssh HOST SERVER` for openssh, one paramiko
channel for paramiko), side by side in one run. A private sshd on 127.0.0.1,
so the figures are what remote-lsp adds to SSH, not a network."""

import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import time
import timeit
from pathlib import Path
from typing import Dict, List

from bench.wire import BIG, LOCATIONS, PROXY, RELAY, REPO, SERVER, Row, Wire, latencies, row, spread, timed

SSH_ROUND_TRIPS = 1000
LARGE_RUNS = 9
CONNECTS = 7
CUTS = 10
REFUSED_OUTAGE = 8.0
REFUSED_RUNS = 3
CPU_ROUND_TRIPS = 3000


def rows(work: Path) -> List[Row]:
    from remote_lsp.editor.hosts import parse_host
    from remote_lsp.editor.transport.openssh import OpenSSH

    from tests.support.sshd import ALIAS, Sshd

    if not Path("/usr/sbin/sshd").exists():
        return [row("ssh", "-", "skipped: no sshd (apt install openssh-server)", "-", True)]
    (work / "ssh").mkdir()
    path = os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"])
    sshd = Sshd(work / "ssh", path).start()
    env = sshd.client_env(work / "editor-state")
    env["REMOTE_LSP_SSH_CONFIG"] = str(sshd.home / ".ssh" / "config")
    # This machine's environment sets PYTHONDONTWRITEBYTECODE; a user's does not,
    # and without cached bytecode every start compiles the proxy again.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    root = str(work)
    server_line = " ".join(shlex.quote(a) for a in SERVER)
    relayed_line = " ".join(shlex.quote(a) for a in RELAY + SERVER)

    def bridge(transport: str) -> List[str]:
        return PROXY + ["--host", ALIAS, "--transport", transport, "connect", "--root", root, "--"] + SERVER

    out: List[Row] = []
    saved = {k: os.environ.get(k) for k in ("HOME", "REMOTE_LSP_SSH_CONFIG")}
    os.environ.update(HOME=env["HOME"], REMOTE_LSP_SSH_CONFIG=env["REMOTE_LSP_SSH_CONFIG"])
    try:
        t = time.perf_counter()
        keeper = Wire(bridge("openssh"), root, env)  # uploads, starts the agent and the server
        first = time.perf_counter() - t
        ssh = OpenSSH(parse_host(ALIAS), work / "editor-state")
        pipes = {
            "openssh": Wire(ssh.base_argv() + ["-o", "ControlMaster=no", ALIAS, server_line], root, env),
            "paramiko": Wire([sys.executable, str(REPO / "bench" / "paramiko_pipe.py"), ALIAS, server_line],
                             root, env),
        }
        # A later session over openssh: straight to the agent's socket, which the first one's welcome named.
        vias = {"openssh": keeper, "openssh direct": Wire(bridge("openssh"), root, env),
                "paramiko": Wire(bridge("paramiko"), root, env)}
        paths: Dict[str, Wire] = {}
        for transport in ("openssh", "paramiko"):
            paths["pipe " + transport] = pipes[transport]
        for via in vias:
            paths["via " + via] = vias[via]
        # The floor of any design with a process of ours at each end of ssh.
        relays = Wire(RELAY + ssh.base_argv() + ["-o", "ControlMaster=no", ALIAS, relayed_line], root, env)
        paths["relays"] = relays
        lat = latencies(paths, SSH_ROUND_TRIPS)
        locs = timed(paths, "test/locations", {"count": LOCATIONS, "root": root}, LARGE_RUNS)
        big = timed(paths, "test/big", {"bytes": BIG}, LARGE_RUNS)
        out += _relay_rows(lat, locs, big)
        out += _cpu_rows(relays, vias["openssh direct"], sshd)
        for transport, via, label in (("openssh", "openssh", "openssh"),
                                      ("openssh", "openssh direct", "openssh, straight to the agent"),
                                      ("paramiko", "paramiko", "paramiko")):
            pipe, via = "pipe " + transport, "via " + via
            added = (statistics.median(lat[via]) - statistics.median(lat[pipe])) * 1e6
            out.append(row("ssh %s: small request" % label, spread(lat[pipe], 1e6, "us"),
                           "%s, +%.0f us" % (spread(lat[via], 1e6, "us"), added), "added <= 300 us",
                           added <= 300))
            ratio = statistics.median(locs[via]) / statistics.median(locs[pipe])
            out.append(row("ssh %s: %d-location answer" % (label, LOCATIONS),
                           spread(locs[pipe], 1000, "ms"),
                           "%s, %.2fx" % (spread(locs[via], 1000, "ms"), ratio), "<= 1.25x", ratio <= 1.25))
            share = statistics.median(big[pipe]) / statistics.median(big[via])
            pipe_mbs, via_mbs = (BIG / statistics.median(big[k]) / 1e6 for k in (pipe, via))
            out.append(row("ssh %s: 4 MB answer" % label, "%.0f MB/s" % pipe_mbs,
                           "%.0f MB/s (%.0f%%)" % (via_mbs, 100 * share), ">= 80% of the pipe", share >= 0.8))
        for wire in list(pipes.values()) + [vias["openssh direct"], vias["paramiko"], relays]:
            wire.close()
        out += _connect_rows(ssh, env, root, bridge, ALIAS)
        out.append(row("ssh first-ever connect (upload, agent, server)", "-", "%.0f ms" % (first * 1000),
                       "reported", True))
        out += _resume_rows(sshd, keeper)
        out += _refused_rows(sshd, keeper)
        out.append(_link_cost_row(statistics.median(lat["via openssh"])))
        keeper.close()
        subprocess.run(PROXY + ["--host", ALIAS, "stop", "--agent"], env=env, capture_output=True)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        sshd.stop()
        subprocess.run(["pkill", "-f", "ControlPath=%s" % (work / "editor-state")], capture_output=True)
    return out


def _relay_rows(lat: Dict[str, List[float]], locs: Dict[str, List[float]],
                big: Dict[str, List[float]]) -> List[Row]:
    """A bare Python relay on each side of the openssh pipe: what two processes
    in the path cost before they do any work."""
    pipe = "pipe openssh"
    med = statistics.median
    goal = "floor of two relays"
    return [
        row("ssh openssh: small request added, two python relays", "-",
            "+%.0f us" % ((med(lat["relays"]) - med(lat[pipe])) * 1e6), goal, True),
        row("ssh openssh: %d-location answer, two python relays" % LOCATIONS, "-",
            "%.2fx" % (med(locs["relays"]) / med(locs[pipe])), goal, True),
        row("ssh openssh: 4 MB answer, two python relays", "-",
            "%.0f%% of the pipe" % (100 * med(big[pipe]) / med(big["relays"])), goal, True),
    ]


def _cpu_rows(relays: Wire, direct: Wire, sshd) -> List[Row]:
    """The CPU each process of ours spends per small round trip (from /proc),
    against a bare relay's in the same place: on this path the latency is
    the sum of the steps, so this says whose work it is."""
    agent = int((sshd.remote_state / "agent.pid").read_text())
    host_relay = next(pid for pid, args in _processes() if args.startswith(" ".join(RELAY + SERVER)))
    out = []
    for label, wire, who in (("two python relays", relays, (("editor side", relays.proc.pid),
                                                             ("host side", host_relay))),
                             ("remote-lsp, straight to the agent", direct, (("bridge", direct.proc.pid),
                                                                            ("agent", agent)))):
        before = [_cpu_seconds(pid) for _, pid in who]
        for _ in range(CPU_ROUND_TRIPS):
            wire.call("test/echo", {"x": 1})
        used = [(_cpu_seconds(pid) - b) / CPU_ROUND_TRIPS * 1e6 for (_, pid), b in zip(who, before)]
        out.append(row("ssh openssh: CPU per small round trip, %s" % label, "-",
                       ", ".join("%s %.0f us" % (name, u) for (name, _), u in zip(who, used)), "reported",
                       True))
    return out


def _processes():
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as f:
                    yield int(entry), f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue


def _cpu_seconds(pid: int) -> float:
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _connect_rows(ssh, env, root, bridge, alias) -> List[Row]:
    """Connect to initialize with the agent and the server up, against what
    any command costs: `ssh HOST true` (openssh), the handshake (paramiko)."""
    def median_of(fn) -> List[float]:
        times = []
        for _ in range(CONNECTS):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return times

    plain = median_of(lambda: subprocess.run(
        ["ssh", "-F", env["REMOTE_LSP_SSH_CONFIG"], "-o", "BatchMode=yes", alias, "true"], env=env,
        stdin=subprocess.DEVNULL, check=True))
    hand = median_of(lambda: subprocess.run(
        [sys.executable, "-c", _HANDSHAKE % (str(REPO / "proxy"), alias)], env=env, check=True))
    out = []
    for transport, base, name in (("openssh", plain, "ssh HOST true"), ("paramiko", hand, "handshake")):
        times = median_of(lambda t=transport: Wire(bridge(t), root, env).close())
        goal = statistics.median(base) + 0.150
        out.append(row("ssh %s: connect -> initialize, server up" % transport,
                       "%s: %s" % (name, spread(base, 1000, "ms")), spread(times, 1000, "ms"),
                       "<= %.0f ms (+150)" % (goal * 1000), statistics.median(times) <= goal))
    return out


_HANDSHAKE = """import sys; sys.path.insert(0, %r)
from pathlib import Path
from remote_lsp.editor.hosts import parse_host
from remote_lsp.editor.transport.paramiko_ssh import ParamikoSSH
c = ParamikoSSH(parse_host(%r), Path("/tmp")).connect()
chan = c.get_transport().open_session(); chan.exec_command("true"); chan.recv_exit_status(); c.close()
"""


def _resume_rows(sshd, wire: Wire) -> List[Row]:
    """The link cut (the session's sshd processes killed, the listener stopped
    for a moment), then back: from its return to the first answered request."""
    times = []
    for _ in range(CUTS):
        listener = sshd.proc.pid
        os.kill(listener, signal.SIGSTOP)
        for pid in sshd.session_pids():
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)  # the outage's own length, not a wait for anything
        os.kill(listener, signal.SIGCONT)
        t = time.perf_counter()
        wire.call("test/echo", {"back": True})
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    return [row("ssh openssh: link back -> first answer (%d cuts)" % CUTS, "-", spread(times, 1000, "ms"),
                "<= 2000 ms", med <= 2.0)]


def _refused_rows(sshd, wire: Wire) -> List[Row]:
    """The host gone for REFUSED_OUTAGE s (connections refused: the bridge's
    attempts fail at once and it waits between them), then back: from its return
    to the link seen back (the bridge's `up`), nothing asked meanwhile."""
    times = []
    for _ in range(REFUSED_RUNS):
        sshd.stop_listening()
        time.sleep(REFUSED_OUTAGE)  # the outage's own length, not a wait for anything
        wire.backlog.clear()
        sshd.listen_again()
        t = time.perf_counter()
        _link_up(wire)
        times.append(time.perf_counter() - t)
    name = "ssh openssh: host back after %g s away -> link up (%d runs)" % (REFUSED_OUTAGE, REFUSED_RUNS)
    return [row(name, "-", spread(times, 1000, "ms"), "<= 2000 ms", max(times) <= 2.0)]


def _link_up(wire: Wire) -> None:
    """Read until the bridge says the link is up (`$/remote-lsp/link`)."""
    assert wire.proc.stdout is not None
    while True:
        for body in wire.backlog:
            msg = json.loads(body)
            if msg.get("method") == "$/remote-lsp/link" and msg["params"]["state"] in ("up", "new-session"):
                wire.backlog.clear()
                return
        data = os.read(wire.proc.stdout.fileno(), 1 << 20)
        if not data:
            raise EOFError("the bridge exited")
        wire.backlog += wire.parser.feed(data)


def _link_cost_row(round_trip: float) -> Row:
    """What numbering and acknowledging costs per frame, against a round trip."""
    from remote_lsp.wire.link import Link

    link = Link()
    frame = b"Content-Length: 90\r\n\r\n" + b"x" * 90
    n = 100000
    per = timeit.timeit(lambda: (link.numbered(frame), link.took(), link.confirmed(link.sent)), number=n) / n
    return row("link: numbering + ack per frame", "-", "%.2f us" % (per * 1e6),
               "nothing measurable (%.2f%% of a round trip)" % (100 * per / round_trip),
               per < round_trip / 100)

"""Soak: many clients hammering one shared server while some are killed.

Each client slot sends its share of requests through `remote-lsp connect`,
a window of them in flight at a time, with its own document open. A killer
SIGKILLs random clients, and the agent itself, as the run progresses; a
killed slot reconnects and carries on (after an agent kill, every slot does:
the next agent takes the server over). Checked at the end:
- every request of a client that was not killed got exactly one response,
  carrying its own payload, and no request was left hanging;
- the server is the one the run started with: none was lost;
- the server holds exactly the documents of the clients still connected;
- agent and server resident memory, after warm-up and at the end.

`make soak` runs the full size (8 x 5,000); the test suite a short one.
"""

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional

REPO = Path(__file__).resolve().parent.parent.parent
sys.path[:0] = [str(REPO / "proxy"), str(REPO)]

from remote_lsp.host.procs import rss_kb  # noqa: E402

from tests.support.lspclient import LspClient  # noqa: E402

PROXY = REPO / "proxy" / "proxy.py"
SERVER = [sys.executable, str(REPO / "tests" / "support" / "scripted_server.py")]
WINDOW = 8  # requests in flight per client


class Slot:
    """One client position: a connection at a time, reconnected when killed."""

    def __init__(self, run: "Soak", index: int) -> None:
        self.run = run
        self.index = index
        self.done = 0  # requests answered across all of this slot's connections
        self.lock = threading.Lock()  # `done` against the killer's choice
        self.generation = 0
        self.client: Optional[LspClient] = None
        self.doomed: Optional[LspClient] = None  # the connection the killer chose
        self.agent_epoch = 0  # agent kills so far when this connection started
        self.uri = ""
        self.killed = 0
        self.checked = 0  # requests of surviving connections verified
        self.problems: List[str] = []

    def connect(self) -> None:
        self.generation += 1
        self.agent_epoch = self.run.agent_epoch
        self.client = LspClient(
            [sys.executable, str(PROXY), "connect", "--root", self.run.root, "--"] + SERVER,
            cwd=self.run.root, env=self.run.env, name="soak-%d.%d" % (self.index, self.generation))
        self.client.initialize(self.run.root)
        self.uri = Path(self.run.root, "slot%d-gen%d.py" % (self.index, self.generation)).as_uri()
        self.client.open_uri(self.uri, "x = %d\n" % self.index)

    def go(self) -> None:
        try:
            while self.done < self.run.requests:
                try:
                    self.connect()
                except (ConnectionError, OSError):
                    if not self._excused(self.client):
                        raise
                    self.killed += 1  # killed while connecting: try again
                    continue
                while self.done < self.run.requests and self._batch():
                    pass  # until done, or killed: then a new connection carries on
        except Exception as exc:  # reported, not swallowed: the run fails on it
            self.problems.append("slot %d: %r" % (self.index, exc))

    def _batch(self) -> bool:
        """WINDOW requests in flight, each answered once with its payload;
        False if this connection was killed meanwhile."""
        client = self.client
        assert client is not None
        n = min(WINDOW, self.run.requests - self.done)
        sent = []
        try:
            for i in range(n):
                payload = {"slot": self.index, "n": self.done + i}
                sent.append((client.request_async("test/echo", payload), payload))
            for rid, payload in sent:
                answer = client.wait_response(rid, 30)
                if answer.get("result") != payload:
                    self.problems.append("slot %d: %r answered with %r" % (self.index, payload, answer))
        except (ConnectionError, OSError):
            if not self._excused(client):
                raise  # a connection the killer never touched: a real failure
            self.killed += 1
            return False
        with self.lock:
            self.done += n
        self.run.progress(n)
        return True

    def _excused(self, client: Optional[LspClient]) -> bool:
        """Its connection ended because the killer killed it, or the agent."""
        return client is not None and (self.doomed is client or self.agent_epoch != self.run.agent_epoch)

    def reconnect_if_gone(self) -> None:
        """After the run: a connection the agent's death ended comes back, as an
        editor's would (so the document check counts it)."""
        if self.client is not None and self.client.proc.poll() is not None:
            self.connect()

    def killable(self) -> bool:
        """At least one more batch to come (decisive with `lock` held): a kill is
        then always noticed, and answered by a reconnect. A slot on its last
        batch may already have all its answers, and would end on a dead
        connection that still counts as a live client."""
        return self.done + WINDOW < self.run.requests

    def verify_survivor(self) -> None:
        """No request of the live connection was answered twice, or unasked."""
        client = self.client
        assert client is not None
        for rid, q in client._responses.items():
            if not q.empty():
                self.problems.append("slot %d: request %s answered more than once" % (self.index, rid))
        self.checked = len(client._responses)


class Soak:
    def __init__(self, clients: int, requests: int, kills: int, seed: int, agent_kills: int = 0) -> None:
        self.clients = clients
        self.requests = requests
        self.kills = kills
        self.agent_kills = agent_kills
        self.agent_epoch = 0
        self.random = random.Random(seed)
        self.base = Path(tempfile.mkdtemp(prefix="rl-soak-", dir="/tmp"))
        self.root = str(self.base / "proj")
        os.mkdir(self.root)
        self.env = dict(os.environ, REMOTE_LSP_HOME=str(self.base / "state"),
                        PYTHONPATH=os.pathsep.join([str(REPO / "proxy"), str(REPO)]))
        self.slots = [Slot(self, i) for i in range(clients)]
        self._cond = threading.Condition()
        self._total = 0
        self.memory: Dict[str, Any] = {}
        self.agent_killed = 0

    def progress(self, n: int) -> None:
        with self._cond:
            self._total += n
            self._cond.notify_all()

    def _wait_total(self, target: int) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._total >= target or self._finished(), 300)

    def _finished(self) -> bool:
        return all(s.done >= self.requests for s in self.slots)

    def _killer(self) -> None:
        """SIGKILL a random live client, or the agent, at evenly spread points of the run."""
        total = self.clients * self.requests
        events = ["client"] * self.kills + ["agent"] * self.agent_kills
        self.random.shuffle(events)
        for k, event in enumerate(events):
            if not self._wait_total(total * (k + 1) // (len(events) + 1)) or self._finished():
                return
            if event == "agent":
                self._kill_agent()
                continue
            candidates = [s for s in self.slots if s.killable()]
            if not candidates:
                return
            slot = self.random.choice(candidates)
            with slot.lock:
                victim = slot.client
                if slot.killable() and victim is not None and victim.proc.returncode is None:
                    slot.doomed = victim
                    victim.proc.send_signal(signal.SIGKILL)

    def _kill_agent(self) -> None:
        pid = int((self.base / "state" / "agent.pid").read_text())
        self.agent_epoch += 1  # before the kill: every connection it ends is excused
        os.kill(pid, signal.SIGKILL)
        self.agent_killed += 1

    def _sample(self, label: str) -> None:
        agent = int((self.base / "state" / "agent.pid").read_text())
        server = self.server_state()["pid"]
        self.memory[label] = {"agent_kb": rss_kb(agent), "server_kb": rss_kb(server), "server_pid": server}

    def server_state(self) -> Dict[str, Any]:
        live = next(s.client for s in self.slots if s.client is not None and s.client.proc.poll() is None)
        return live.server_state()

    def run(self) -> Dict[str, Any]:
        try:
            threads = [threading.Thread(target=s.go) for s in self.slots]
            for t in threads:
                t.start()
            warm = self.clients * self.requests // 10
            self._wait_total(warm)
            self._sample("after warm-up")
            killer = threading.Thread(target=self._killer)
            killer.start()
            for t in threads:
                t.join()
            killer.join()
            for s in self.slots:
                s.verify_survivor()
                s.reconnect_if_gone()
            self._sample("at the end")
            docs = set(self.server_state()["docs"])
            live = {s.uri for s in self.slots}
            problems = [p for s in self.slots for p in s.problems]
            if docs != live:
                problems.append("documents open at the server %s, clients connected %s"
                                % (sorted(docs - live), sorted(live - docs)))
            servers = {m["server_pid"] for m in self.memory.values()}
            if len(servers) != 1:
                problems.append("the server changed during the run: %s" % sorted(servers))
            return {
                "clients": self.clients, "requests_each": self.requests,
                "answered": sum(s.done for s in self.slots),
                "kills": sum(s.killed for s in self.slots), "agent_kills": self.agent_killed,
                "reconnects": sum(s.generation - 1 for s in self.slots),
                "survivor_requests_checked": sum(s.checked for s in self.slots),
                "documents_at_server": len(docs), "memory": self.memory, "problems": problems,
            }
        finally:
            self.close()

    def close(self) -> None:
        for s in self.slots:
            if s.client is not None and s.client.proc.poll() is None:
                s.client.proc.kill()
                s.client.proc.wait()
        subprocess.run([sys.executable, str(PROXY), "stop", "--agent"], env=self.env,
                       capture_output=True, timeout=60)
        import shutil

        shutil.rmtree(self.base, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--kills", type=int, default=12)
    ap.add_argument("--agent-kills", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    report = Soak(args.clients, args.requests, args.kills, args.seed, args.agent_kills).run()
    print(json.dumps(report, indent=2))
    return 1 if report["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())

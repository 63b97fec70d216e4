"""The gdb method: gdb, in batch-free interactive mode, driving raw syscalls.

gdb only stops the process, sets registers and steps one instruction (the
syscall instruction), exactly as the ptrace method does. It never uses
`call`: inferior function calls fail on CPUs with AMX state ("Couldn't write
extended state status") and can kill the target. Symbols and debuginfod are
off, so attaching is quick even to a large binary.
"""

import os
import platform
import re
import select
import shutil
import subprocess
import time
from typing import Dict, Optional

from remote_lsp.host.attach.tracee import AttachError, Tracee
from remote_lsp.wire.errors import REFUSED

_DONE = "@@remote-lsp-done@@"
_SAVED = ("rip", "rax", "rdi", "rsi", "rdx", "r10", "r8", "r9", "rcx", "r11", "orig_rax", "eflags")


class GdbTracee(Tracee):
    method = "gdb"

    def __init__(self, pid: int, deadline: float) -> None:
        if platform.machine() not in ("x86_64", "amd64"):
            raise AttachError("the gdb method drives x86_64 registers; this host is %s"
                              % platform.machine(), code=REFUSED)
        from remote_lsp.host.attach import arch_x86_64

        self.arch = arch_x86_64
        self.pid = pid
        self.deadline = deadline
        gdb = shutil.which("gdb")
        if gdb is None:
            raise AttachError("gdb is not installed on this host: use --method ptrace", code=REFUSED)
        self.proc = subprocess.Popen(
            [gdb, "-nx", "-q", "--readnever", "--interpreter=console"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True)
        self._saved: Dict[str, int] = {}
        self._gadget: Optional[int] = None
        self._attached = False

    def _run(self, *commands: str) -> str:
        """Send commands; return what gdb printed for them."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        script = "".join(c + "\n" for c in commands) + "echo %s\\n\n" % _DONE
        self.proc.stdin.write(script.encode())
        self.proc.stdin.flush()
        fd = self.proc.stdout.fileno()
        buf = b""
        while _DONE.encode() not in buf:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise AttachError("gdb timed out")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise AttachError("gdb exited: %s" % buf.decode(errors="replace")[-500:])
                buf += chunk
        return buf.decode(errors="replace").split(_DONE)[0]

    def stop(self) -> None:
        self._run("set prompt", "set pagination off", "set confirm off", "set width 0", "set height 0",
                  "set debuginfod enabled off", "set auto-solib-add off", "set auto-load off")
        text = self._run("attach %d" % self.pid)
        if "ptrace: Operation not permitted" in text:
            from remote_lsp.host.attach.ptrace import ptrace_denied

            raise AttachError(ptrace_denied(self.pid), code=REFUSED)
        if not re.search(r"Attaching to (process|program)", text) or "No such process" in text:
            raise AttachError("gdb could not attach to %d: %s" % (self.pid, text.strip()[-300:]))
        self._attached = True
        out = self._run('printf "=regs %s\\n", %s' % (
            " ".join(["%lu"] * len(_SAVED)), ", ".join("$" + r for r in _SAVED)))
        m = re.search(r"=regs ([\d ]+)", out)
        if m is None:
            raise AttachError("gdb did not show the registers: %s" % out.strip()[-300:])
        self._saved = dict(zip(_SAVED, (int(v) for v in m.group(1).split())))

    def _find_gadget(self) -> int:
        here = self._saved["rip"] - 2
        if self._bytes(here, 2) == self.arch.SYSCALL_INSN:
            return here
        with open("/proc/%d/maps" % self.pid) as f:
            maps = sorted(f.read().splitlines(), key=lambda line: 0 if "libc" in line else 1)
        for line in maps:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) r-xp", line)
            if m:
                found = self._run("find /b /1 0x%s, 0x%s, 0x0f, 0x05" % (m.group(1), m.group(2)))
                hit = re.search(r"^(0x[0-9a-f]+)", found, re.M)
                if hit:
                    return int(hit.group(1), 16)
        raise AttachError("no syscall instruction found in process %d" % self.pid)

    def _bytes(self, addr: int, n: int) -> bytes:
        text = self._run("x/%dxb %d" % (n, addr))
        return bytes(int(h, 16) for h in re.findall(r"0x([0-9a-f]{2})\b", text.split(":", 1)[-1])[:n])

    def syscall(self, name: str, *args: int) -> int:
        if self._gadget is None:
            self._gadget = self._find_gadget()
        sets = ["set $rip = %d" % self._gadget, "set $orig_rax = -1",
                "set $rax = %d" % self.arch.NR[name]]
        for reg, value in zip(("rdi", "rsi", "rdx", "r10", "r8", "r9"), args):
            sets.append("set $%s = %d" % (reg, value))
        out = self._run(*sets, "stepi", 'printf "=%ld\\n", $rax')
        m = re.search(r"^=(-?\d+)$", out, re.M)
        if m is None:
            raise AttachError("gdb did not run %s: %s" % (name, out.strip()[-300:]))
        return int(m.group(1))

    def write_memory(self, addr: int, data: bytes) -> None:
        for i in range(0, len(data), 64):
            chunk = data[i:i + 64]
            values = ", ".join(map(str, chunk))
            self._run("set {unsigned char[%d]} %d = {%s}" % (len(chunk), addr + i, values))

    def detach(self) -> None:
        try:
            if self._attached and self._saved:
                # Back to where the thread was; an interrupted syscall is set up
                # to run again (gdb clears orig_rax whenever the pc is written).
                regs = self.arch.Regs()
                for name, value in self._saved.items():
                    setattr(regs, name, value)
                resume = self.arch.resume_state(regs)
                sets = ["set $%s = %d" % (r, getattr(resume, r)) for r in _SAVED if r != "orig_rax"]
                self._run(*sets, "set $orig_rax = -1", "detach")
        finally:
            try:
                self._run("quit")
            except AttachError:
                pass
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()

"""The ptrace method: pure Python (ctypes), no gdb needed.

Every thread is stopped (PTRACE_SEIZE + PTRACE_INTERRUPT), one thread runs
the syscalls we inject: its registers are pointed at a syscall instruction
already in the process, it is run to the syscall's exit stop, and the result
read back. The thread's own registers are restored at the last syscall-exit
stop, backed up to its interrupted syscall if it was in one, so a read that
was blocked on the old stdin simply starts again on the new one.
"""

import ctypes
import errno
import os
import platform
import re
import time
from typing import Dict, List, Optional

from remote_lsp.host.attach.tracee import AttachError, Tracee
from remote_lsp.wire.errors import REFUSED

_libc = ctypes.CDLL(None, use_errno=True)
_libc.ptrace.restype = ctypes.c_long
_libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]

PTRACE_GETREGS, PTRACE_SETREGS = 12, 13
PTRACE_GETREGSET, PTRACE_SETREGSET = 0x4204, 0x4205
PTRACE_DETACH, PTRACE_SYSCALL = 17, 24
PTRACE_SEIZE, PTRACE_INTERRUPT = 0x4206, 0x4207
PTRACE_O_TRACESYSGOOD = 1
WALL = 0x40000000  # __WALL: wait for threads too


def arch():
    machine = platform.machine()
    if machine in ("x86_64", "amd64"):
        from remote_lsp.host.attach import arch_x86_64

        return arch_x86_64
    if machine in ("aarch64", "arm64"):
        from remote_lsp.host.attach import arch_aarch64  # untested: see that module

        return arch_aarch64
    return None


class _IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


def _ptrace(request: int, tid: int, addr: int = 0, data: int = 0) -> int:
    ctypes.set_errno(0)
    res = _libc.ptrace(request, tid, ctypes.c_void_p(addr), ctypes.c_void_p(data))
    err = ctypes.get_errno()
    if res == -1 and err:
        raise OSError(err, "ptrace(%d, %d): %s" % (request, tid, os.strerror(err)))
    return res


class PtraceTracee(Tracee):
    method = "ptrace"

    def __init__(self, pid: int, deadline: float) -> None:
        self.arch = arch()
        if self.arch is None:
            raise AttachError("the ptrace method supports x86_64 (and, untested, aarch64); this "
                              "host is %s" % platform.machine(), code=REFUSED)
        self.pid = pid
        self.deadline = deadline
        self.threads: List[int] = []
        self.tid = pid
        self._saved = None
        self._mem: Optional[int] = None
        self._injected = False  # once true, the thread sits at syscall-exit stops

    # --- stopping and starting -----------------------------------------------------------

    def stop(self) -> None:
        """Seize and stop every thread (threads may come and go meanwhile)."""
        seen: Dict[int, bool] = {}
        while True:
            tids = [int(t) for t in os.listdir("/proc/%d/task" % self.pid)]
            new = [t for t in tids if t not in seen]
            if not new:
                break
            for tid in new:
                try:
                    _ptrace(PTRACE_SEIZE, tid, 0, PTRACE_O_TRACESYSGOOD)
                    _ptrace(PTRACE_INTERRUPT, tid)
                    seen[tid] = True
                except OSError as exc:
                    if exc.errno == errno.ESRCH:
                        seen[tid] = False  # the thread just exited
                        continue
                    if exc.errno == errno.EPERM:
                        raise AttachError(ptrace_denied(self.pid), code=REFUSED) from None
                    raise
        self.threads = [t for t, ok in seen.items() if ok]
        for tid in self.threads:
            self._wait(tid)
        self.tid = self.pid if self.pid in self.threads else self.threads[0]
        self._saved = self._get_regs()

    def _wait(self, tid: int) -> int:
        """Wait for `tid` to stop, within the deadline."""
        while True:
            got, status = os.waitpid(tid, os.WNOHANG | WALL)
            if got == tid:
                if os.WIFEXITED(status) or os.WIFSIGNALED(status):
                    raise AttachError("process %d exited during the attach" % self.pid)
                return status
            if time.monotonic() > self.deadline:
                raise AttachError("timed out waiting for thread %d to stop" % tid)
            time.sleep(0.0005)

    def _get_regs(self):
        regs = self.arch.Regs()
        if hasattr(self.arch, "REGSET"):
            iov = _IoVec(ctypes.addressof(regs), ctypes.sizeof(regs))
            _ptrace(PTRACE_GETREGSET, self.tid, self.arch.REGSET, ctypes.addressof(iov))
        else:
            _ptrace(PTRACE_GETREGS, self.tid, 0, ctypes.addressof(regs))
        return regs

    def _set_regs(self, regs) -> None:
        if hasattr(self.arch, "REGSET"):
            iov = _IoVec(ctypes.addressof(regs), ctypes.sizeof(regs))
            _ptrace(PTRACE_SETREGSET, self.tid, self.arch.REGSET, ctypes.addressof(iov))
        else:
            _ptrace(PTRACE_SETREGS, self.tid, 0, ctypes.addressof(regs))

    # --- syscalls in the target -------------------------------------------------------------

    def syscall(self, name: str, *args: int) -> int:
        gadget = self._gadget()
        regs = self.arch.Regs.from_buffer_copy(self._saved)
        self.arch.prepare_call(regs, gadget, self.arch.NR[name], args)
        self._set_regs(regs)
        self._injected = True
        for _stop in ("entry", "exit"):
            _ptrace(PTRACE_SYSCALL, self.tid)
            status = self._wait(self.tid)
            if not (os.WIFSTOPPED(status) and os.WSTOPSIG(status) == (0x80 | 5)):
                raise AttachError("unexpected stop (status %#x) during %s" % (status, name))
        return self.arch.result(self._get_regs())

    _gadget_addr: Optional[int] = None

    def _gadget(self) -> int:
        """The address of a syscall instruction in the target's own code."""
        if self._gadget_addr is None:
            insn = self.arch.SYSCALL_INSN
            pc = self.arch.pc(self._saved)
            # Just after one (x86_64, in a syscall), or on one (aarch64, rewound).
            for here in (pc - len(insn), pc):
                if self.read_memory(here, len(insn)) == insn:
                    self._gadget_addr = here
                    break
            else:
                self._gadget_addr = self._scan_for(insn)
        return self._gadget_addr

    def _scan_for(self, insn: bytes) -> int:
        with open("/proc/%d/maps" % self.pid) as f:
            maps = f.read().splitlines()
        # libc first, the vdso last: both are in nearly every process.
        maps.sort(key=lambda line: (0 if "libc" in line else 2 if "[vdso]" in line else 1))
        for line in maps:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) r-xp", line)
            if not m:
                continue
            start, end = int(m.group(1), 16), int(m.group(2), 16)
            for off in range(start, end, 1 << 20):
                try:
                    chunk = self.read_memory(off, min(1 << 20, end - off) + len(insn) - 1)
                except OSError:
                    break
                i = chunk.find(insn)
                if i >= 0:
                    return off + i
        raise AttachError("no syscall instruction found in process %d" % self.pid)

    def _memfd(self) -> int:
        if self._mem is None:
            self._mem = os.open("/proc/%d/mem" % self.pid, os.O_RDWR)
        return self._mem

    def read_memory(self, addr: int, size: int) -> bytes:
        return os.pread(self._memfd(), size, addr)

    def write_memory(self, addr: int, data: bytes) -> None:
        if os.pwrite(self._memfd(), data, addr) != len(data):
            raise AttachError("short write into process %d" % self.pid)

    # --- letting go -----------------------------------------------------------------------

    def detach(self) -> None:
        """Restore the injecting thread (at a syscall-exit stop) and let all go."""
        try:
            if self._saved is not None:
                # Still at the interrupt stop, the kernel restarts an interrupted
                # syscall itself; at a syscall-exit stop, we must.
                self._set_regs(self.arch.resume_state(self._saved) if self._injected else self._saved)
        finally:
            for tid in self.threads:
                try:
                    _ptrace(PTRACE_DETACH, tid)
                except OSError:
                    pass
            if self._mem is not None:
                os.close(self._mem)
                self._mem = None


def ptrace_denied(pid: int) -> str:
    scope = yama_scope()
    text = "ptrace of process %d is not permitted" % pid
    if scope is not None and scope >= 1:
        text += (" (Yama kernel.yama.ptrace_scope = %d%s)" % (
            scope, ": only descendants may be traced" if scope == 1 else
            ": only CAP_SYS_PTRACE may trace" if scope == 2 else ": ptrace is disabled"))
    return text + (". Fixes: start the server shareable from the beginning with `remote-lsp run -- "
                   "CMD` (or let the editor start it through `remote-lsp connect`); or allow "
                   "tracing (`sudo sysctl kernel.yama.ptrace_scope=0`, or give python "
                   "CAP_SYS_PTRACE); or use --method gdb where gdb is permitted.")


def yama_scope() -> Optional[int]:
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            return int(f.read())
    except (OSError, ValueError):
        return None

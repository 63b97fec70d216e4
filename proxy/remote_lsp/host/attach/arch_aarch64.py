"""aarch64: registers, syscall numbers, and how a syscall is made and restarted.

NOT TESTED: no aarch64 machine was available. It follows the same design as
x86_64; the differences are noted where they matter.
"""

import ctypes

NAME = "aarch64"
SYSCALL_INSN = b"\x01\x00\x00\xd4"  # svc #0
REGSET = 1  # NT_PRSTATUS, read with PTRACE_GETREGSET (there is no PTRACE_GETREGS)


class Regs(ctypes.Structure):
    """struct user_pt_regs (asm/ptrace.h)."""

    _fields_ = [("regs", ctypes.c_ulonglong * 31), ("sp", ctypes.c_ulonglong),
                ("pc", ctypes.c_ulonglong), ("pstate", ctypes.c_ulonglong)]


# The generic syscall table (asm-generic/unistd.h).
NR = {"close": 57, "mmap": 222, "munmap": 215, "fcntl": 25, "openat": 56, "dup3": 24,
      "epoll_ctl": 21, "restart_syscall": 128}
EPOLL_EVENT_FORMAT = "<I4xQ"  # not packed on aarch64: 16 bytes


def pc(regs: Regs) -> int:
    return regs.pc


def prepare_call(regs: Regs, gadget: int, nr: int, args) -> None:
    regs.pc = gadget
    regs.regs[8] = nr
    for i, value in enumerate(args):
        regs.regs[i] = value & ((1 << 64) - 1)


def result(regs: Regs) -> int:
    value = regs.regs[0]
    return value - (1 << 64) if value >= 1 << 63 else value


def resume_state(saved: Regs) -> Regs:
    """Unlike x86_64, arm64 rewinds an interrupted syscall (pc back to the svc,
    x0 back to its first argument) before the thread reaches its ptrace stop,
    and forgets it: the saved registers already re-run it."""
    return Regs.from_buffer_copy(saved)

"""x86_64: registers, syscall numbers, and how a syscall is made and restarted."""

import ctypes

NAME = "x86_64"
SYSCALL_INSN = b"\x0f\x05"  # syscall


class Regs(ctypes.Structure):
    """struct user_regs_struct (sys/user.h)."""

    _fields_ = [(n, ctypes.c_ulonglong) for n in (
        "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx", "rdx",
        "rsi", "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base", "gs_base", "ds",
        "es", "fs", "gs")]


NR = {"close": 3, "mmap": 9, "munmap": 11, "fcntl": 72, "openat": 257, "dup3": 292,
      "epoll_ctl": 233, "restart_syscall": 219}
EPOLL_EVENT_FORMAT = "<IQ"  # struct epoll_event is packed on x86_64


def pc(regs: Regs) -> int:
    return regs.rip


def prepare_call(regs: Regs, gadget: int, nr: int, args) -> None:
    """Set up `regs` to run syscall `nr` at the syscall instruction at `gadget`."""
    regs.rip = gadget
    regs.rax = nr
    regs.orig_rax = (1 << 64) - 1  # -1: no syscall in progress, so nothing is "restarted"
    for name, value in zip(("rdi", "rsi", "rdx", "r10", "r8", "r9"), args):
        setattr(regs, name, value & ((1 << 64) - 1))


def result(regs: Regs) -> int:
    value = regs.rax
    return value - (1 << 64) if value >= 1 << 63 else value


# The kernel's restart codes: a syscall interrupted by our stop reports one of
# these, and is to be run again when the thread goes on.
_RESTART = {512, 513, 514}  # ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND
_RESTART_BLOCK = 516


def resume_state(saved: Regs) -> Regs:
    """The registers to leave the thread with, at a syscall-exit stop: if it
    was inside an interrupted syscall, back up to the syscall instruction so
    that it runs again (now on the new fds), as the kernel would have."""
    regs = Regs.from_buffer_copy(saved)
    err = -result(saved)
    if saved.orig_rax < 1 << 63 and (err in _RESTART or err == _RESTART_BLOCK):
        regs.rax = NR["restart_syscall"] if err == _RESTART_BLOCK else saved.orig_rax
        regs.rip = saved.rip - len(SYSCALL_INSN)
    return regs

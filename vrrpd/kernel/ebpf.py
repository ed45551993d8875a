"""eBPF socket filters built in Python: an assembler, the bpf() calls, and the VRRP "repeat swallower".

Owns: encoding eBPF instructions (`struct bpf_insn`, <linux/bpf.h>), the few bpf(2) commands a socket filter
with a map needs (BPF_MAP_CREATE for an array, BPF_PROG_LOAD with the verifier's log in the error,
BPF_MAP_LOOKUP_ELEM / BPF_MAP_UPDATE_ELEM), SO_ATTACH_BPF, and `Swallower`: one socket's program and its
map, which the kernel uses to drop the routine repeats of the masters our backups follow (issue 17).

Must not: decide which VRIDs are routine (the caller arms and disarms them from the router states), decode
VRRP (the program knows only the header's offsets, as `kernel.bpf`'s doorbell), or read the socket.

The program, per datagram on the main VRRP receive socket, keyed by its VRID (byte 1 of the VRRP header):
the map entry (an array of 256, index = VRID) says whether the VRID is *armed* and, if so, what a routine
repeat looks like — the same fields as `bpf.Steady`: the source address, the length (the whole IPv4
datagram, or the IPv6 payload) and the first two words of the VRRP header (version/type, VRID, priority,
count; auth type/interval, checksum: the checksum covers the rest of the message). A datagram that matches
its armed entry is counted (`count`, an atomic add), its arrival stored (`last_ns`, `bpf_ktime_get_ns()`:
CLOCK_MONOTONIC, the clock of `time.monotonic()` and of the asyncio loop) and dropped — never queued, no
wake-up. Everything else passes: unarmed VRIDs, priority 0, another priority, source, length, interval or
address list, anything too short to hold the compared fields (checked before each load: a legacy packet load
past the end would end the program with 0, i.e. a silent drop).

The map is created BPF_F_MMAPABLE and mapped into the process: reading an entry's `last_ns` and `count`, and
arming or disarming it, are memory accesses, not system calls. Stores are ordered so the program never
matches against a half-written entry: arming writes the fields while the entry is disarmed, then the armed
word; disarming writes the armed word alone. The program stores `last_ns` before it adds to `count`, and
`Swallower.read` loads `count` first; a `last_ns` older than the `count` read with it (possible on a weakly
ordered CPU) only makes a Master_Down_Timer fire a little sooner and read again, never a false takeover.

Privilege: BPF_PROG_LOAD and BPF_MAP_CREATE need CAP_BPF (or CAP_SYS_ADMIN) while
kernel.unprivileged_bpf_disabled is set (the default on current distributions). Without it, `Swallower.open`
raises `Unavailable` and the caller keeps reading every repeat (the lazy drain and the classic doorbell).
"""

from __future__ import annotations

import ctypes
import errno
import functools
import mmap
import os
import platform
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from vrrpd.kernel.bpf import SKF_NET_OFF, Steady

# <linux/bpf_common.h>, <linux/bpf.h>: classes, sizes, modes, ALU/JMP operations, sources.
BPF_LD: Final = 0x00
BPF_LDX: Final = 0x01
BPF_ST: Final = 0x02
BPF_STX: Final = 0x03
BPF_ALU: Final = 0x04
BPF_JMP: Final = 0x05
BPF_ALU64: Final = 0x07
BPF_W: Final = 0x00
BPF_H: Final = 0x08
BPF_B: Final = 0x10
BPF_DW: Final = 0x18
BPF_IMM: Final = 0x00
BPF_ABS: Final = 0x20
BPF_IND: Final = 0x40
BPF_MEM: Final = 0x60
BPF_ATOMIC: Final = 0xC0
BPF_ADD: Final = 0x00
BPF_AND: Final = 0x50
BPF_LSH: Final = 0x60
BPF_MOV: Final = 0xB0
BPF_JA: Final = 0x00
BPF_JEQ: Final = 0x10
BPF_JGT: Final = 0x20
BPF_JNE: Final = 0x50
BPF_JLT: Final = 0xA0
BPF_CALL: Final = 0x80
BPF_EXIT: Final = 0x90
BPF_K: Final = 0x00
BPF_X: Final = 0x08
BPF_PSEUDO_MAP_FD: Final = 1

# bpf(2) commands, map and program types, flags, helpers.
BPF_MAP_CREATE: Final = 0
BPF_MAP_LOOKUP_ELEM: Final = 1
BPF_MAP_UPDATE_ELEM: Final = 2
BPF_PROG_LOAD: Final = 5
BPF_MAP_TYPE_ARRAY: Final = 2
BPF_PROG_TYPE_SOCKET_FILTER: Final = 1
BPF_F_MMAPABLE: Final = 1 << 10
BPF_ANY: Final = 0
FUNC_MAP_LOOKUP_ELEM: Final = 1
FUNC_KTIME_GET_NS: Final = 5
SO_ATTACH_BPF: Final = 50  # <asm-generic/socket.h>
SO_DETACH_BPF: Final = 27  # = SO_DETACH_FILTER

_SYSCALL_BPF: Final = {
    "x86_64": 321,
    "aarch64": 280,
    "armv7l": 386,
    "i686": 357,
    "ppc64le": 361,
    "s390x": 351,
}
_INSN: Final = struct.Struct("<BBhi")  # struct bpf_insn: code, dst_reg:4 | src_reg:4, off, imm
_LOG_SIZE: Final = 1 << 16
_LICENSE: Final = b"Apache-2.0\0"  # the project's; only GPL-only helpers would care, and none is used

R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 = range(11)


@dataclass(frozen=True, slots=True)
class Insn:
    """One `struct bpf_insn` (a 64-bit immediate load is two of them)."""

    code: int
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0

    def pack(self) -> bytes:
        imm = self.imm if self.imm < 1 << 31 else self.imm - (1 << 32)
        return _INSN.pack(self.code, (self.src << 4) | self.dst, self.off, imm)


def encode(program: Sequence[Insn]) -> bytes:
    """The array of `struct bpf_insn` the kernel reads."""
    return b"".join(insn.pack() for insn in program)


class Assembler:
    """eBPF with forward labels: append instructions, `label` a position, `assemble` resolves the jumps."""

    def __init__(self) -> None:
        self._code: list[Insn | tuple[int, int, int, int, str]] = []  # a jump: code, dst, src, imm, label
        self._labels: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._code)

    def label(self, name: str) -> None:
        if name in self._labels:
            raise ValueError(f"label {name!r} defined twice")
        self._labels[name] = len(self._code)

    def mov(self, dst: int, src: int) -> None:
        """dst = src (64-bit)."""
        self._code.append(Insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src))

    def mov_imm(self, dst: int, imm: int, wide: bool = True) -> None:
        """dst = imm (sign-extended to 64 bits; `wide=False`: the 32-bit move, zero-extended)."""
        self._code.append(Insn((BPF_ALU64 if wide else BPF_ALU) | BPF_MOV | BPF_K, dst, imm=imm))

    def alu_imm(self, op: int, dst: int, imm: int) -> None:
        """dst op= imm (64-bit)."""
        self._code.append(Insn(BPF_ALU64 | op | BPF_K, dst, imm=imm))

    def ld_map_fd(self, dst: int, fd: int) -> None:
        """dst = the map whose descriptor is `fd` (the kernel substitutes its address)."""
        self._code.append(Insn(BPF_LD | BPF_DW | BPF_IMM, dst, BPF_PSEUDO_MAP_FD, imm=fd))
        self._code.append(Insn(0))

    def ld_abs(self, size: int, offset: int) -> None:
        """r0 = the packet's word, half-word or byte at `offset`, in host order (R6 must hold the context;
        past the end the program ends returning 0). Clobbers r1-r5."""
        self._code.append(Insn(BPF_LD | size | BPF_ABS, imm=offset))

    def ld_ind(self, size: int, src: int, offset: int) -> None:
        """r0 = the packet's word, half-word or byte at `src` + `offset`, as `ld_abs`."""
        self._code.append(Insn(BPF_LD | size | BPF_IND, src=src, imm=offset))

    def ldx(self, size: int, dst: int, src: int, off: int) -> None:
        """dst = *(size *)(src + off)."""
        self._code.append(Insn(BPF_LDX | size | BPF_MEM, dst, src, off))

    def stx(self, size: int, dst: int, off: int, src: int) -> None:
        """*(size *)(dst + off) = src."""
        self._code.append(Insn(BPF_STX | size | BPF_MEM, dst, src, off))

    def atomic_add(self, size: int, dst: int, off: int, src: int) -> None:
        """*(size *)(dst + off) += src, atomically."""
        self._code.append(Insn(BPF_STX | size | BPF_ATOMIC, dst, src, off, BPF_ADD))

    def call(self, helper: int) -> None:
        self._code.append(Insn(BPF_JMP | BPF_CALL, imm=helper))

    def exit(self) -> None:
        self._code.append(Insn(BPF_JMP | BPF_EXIT))

    def jump_imm(self, op: int, dst: int, imm: int, label: str) -> None:
        """If dst `op` imm, go to `label`."""
        self._code.append((BPF_JMP | op | BPF_K, dst, 0, imm, label))

    def jump_reg(self, op: int, dst: int, src: int, label: str) -> None:
        """If dst `op` src, go to `label`."""
        self._code.append((BPF_JMP | op | BPF_X, dst, src, 0, label))

    def assemble(self) -> tuple[Insn, ...]:
        out: list[Insn] = []
        for pc, item in enumerate(self._code):
            if isinstance(item, Insn):
                out.append(item)
                continue
            code, dst, src, imm, label = item
            if label not in self._labels:
                raise ValueError(f"label {label!r} is not defined")
            out.append(Insn(code, dst, src, self._labels[label] - pc - 1, imm))
        return tuple(out)


# --- bpf(2) -------------------------------------------------------------------------------------------


class Unavailable(OSError):
    """The kernel refused a bpf() call (no CAP_BPF, an old kernel, the verifier); str() says which."""


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _bpf(cmd: int, attr: ctypes.Array[ctypes.c_char]) -> int:
    """bpf(cmd, attr, sizeof attr); raises Unavailable with the errno."""
    number = _SYSCALL_BPF.get(platform.machine())
    if number is None:
        raise Unavailable(errno.ENOSYS, f"bpf(): no system call number known for {platform.machine()}")
    ret: int = _libc().syscall(ctypes.c_long(number), ctypes.c_int(cmd), attr, ctypes.c_uint(len(attr)))
    if ret < 0:
        err = ctypes.get_errno()
        raise Unavailable(err, f"bpf({cmd}): {os.strerror(err)}")
    return ret


def _attr(fmt: str, *values: object) -> ctypes.Array[ctypes.c_char]:
    """A zeroed 128-byte union bpf_attr starting with `values` (later fields stay 0: the kernel checks)."""
    attr = ctypes.create_string_buffer(128)
    struct.pack_into(fmt, attr, 0, *values)
    return attr


def map_create(key_size: int, value_size: int, max_entries: int, flags: int = 0, name: bytes = b"") -> int:
    """BPF_MAP_CREATE of an array; its descriptor (the caller closes it)."""
    fmt = (
        "=IIIIIII16s"  # map_type, key_size, value_size, max_entries, map_flags, inner_map_fd, numa_node, name
    )
    return _bpf(
        BPF_MAP_CREATE,
        _attr(fmt, BPF_MAP_TYPE_ARRAY, key_size, value_size, max_entries, flags, 0, 0, name[:15]),
    )


def prog_load(program: Sequence[Insn] | bytes, name: bytes = b"") -> int:
    """BPF_PROG_LOAD of a socket filter; its descriptor. Unavailable carries the verifier's log on refusal."""
    raw = program if isinstance(program, bytes) else encode(program)
    insns = ctypes.create_string_buffer(raw, len(raw))
    license = ctypes.create_string_buffer(_LICENSE, len(_LICENSE))
    log = ctypes.create_string_buffer(_LOG_SIZE)
    # prog_type, insn_cnt, insns, license, log_level, log_size, log_buf, kern_version, prog_flags, prog_name
    fmt = "=IIQQIIQII16s"
    values = (BPF_PROG_TYPE_SOCKET_FILTER, len(raw) // 8, ctypes.addressof(insns), ctypes.addressof(license))
    try:
        return _bpf(BPF_PROG_LOAD, _attr(fmt, *values, 0, 0, 0, 0, 0, name[:15]))
    except Unavailable as exc:
        if exc.errno not in (errno.EACCES, errno.EINVAL):
            raise
    # Refused by the verifier: load again with its log, for the message.
    try:
        return _bpf(BPF_PROG_LOAD, _attr(fmt, *values, 1, _LOG_SIZE, ctypes.addressof(log), 0, 0, name[:15]))
    except Unavailable as exc:
        text = log.value.decode(errors="replace").strip().splitlines()
        raise Unavailable(exc.errno, f"{exc.strerror}; verifier: {' | '.join(text[-6:])}") from None


def map_lookup(fd: int, key: int, value_size: int) -> bytes:
    """BPF_MAP_LOOKUP_ELEM of an array map with u32 keys."""
    k = ctypes.create_string_buffer(struct.pack("=I", key), 4)
    v = ctypes.create_string_buffer(value_size)
    _bpf(BPF_MAP_LOOKUP_ELEM, _attr("=I4xQQQ", fd, ctypes.addressof(k), ctypes.addressof(v), 0))
    return v.raw


def map_update(fd: int, key: int, value: bytes) -> None:
    """BPF_MAP_UPDATE_ELEM (BPF_ANY) of an array map with u32 keys."""
    k = ctypes.create_string_buffer(struct.pack("=I", key), 4)
    v = ctypes.create_string_buffer(value, len(value))
    _bpf(BPF_MAP_UPDATE_ELEM, _attr("=I4xQQQ", fd, ctypes.addressof(k), ctypes.addressof(v), BPF_ANY))


def attach(sock: socket.socket, prog_fd: int) -> None:
    """SO_ATTACH_BPF: run the loaded program on every datagram `sock` would queue (replacing any filter)."""
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_BPF, prog_fd)


# --- the repeat swallower ---------------------------------------------------------------------------------

# One map value: u32 armed, u32 length, u32 source[4], u32 word0, u32 word1, u64 last_ns, u64 count. The
# u32 fields hold the packet's big-endian words as numbers (what a legacy packet load yields).
VALUE: Final = struct.Struct("=II4IIIQQ")
_ARMED, _LENGTH, _SOURCE, _WORDS, _LAST_NS, _COUNT = 0, 4, 8, 24, 32, 40
ENTRIES: Final = 256  # VRIDs 0-255 (0 is never armed)
_IPV4_MIN: Final = 20 + 8  # an IPv4 header without options and the VRRP header


def program(family: int, map_fd: int) -> tuple[Insn, ...]:
    """The swallower's program for a raw socket of `family` (AF_INET: the filter sees the IPv4 header at
    offset 0; AF_INET6: the VRRP header, the IPv6 header reachable at SKF_NET_OFF); see the module docstring.

    Registers: r6 the context (legacy packet loads need it there), r7 the length, r8 the IPv4 header's length,
    r9 the map value.
    """
    if family not in (socket.AF_INET, socket.AF_INET6):
        raise ValueError(f"address family {family}: not IPv4 or IPv6")
    v6 = family == socket.AF_INET6
    a = Assembler()
    a.mov(R6, R1)
    a.ldx(BPF_W, R7, R6, 0)  # struct __sk_buff: len first
    if v6:
        a.jump_imm(BPF_JLT, R7, 8, "pass")
        a.ld_abs(BPF_B, 1)  # the VRID
    else:
        a.jump_imm(BPF_JLT, R7, _IPV4_MIN, "pass")
        a.ld_abs(BPF_B, 0)
        a.alu_imm(BPF_AND, R0, 0x0F)
        a.alu_imm(BPF_LSH, R0, 2)
        a.mov(R8, R0)  # the IPv4 header's length (options move the VRRP header)
        a.mov(R1, R8)
        a.alu_imm(BPF_ADD, R1, 8)
        a.jump_reg(BPF_JGT, R1, R7, "pass")
        a.ld_ind(BPF_B, R8, 1)  # the VRID
    a.stx(BPF_W, R10, -4, R0)
    a.ld_map_fd(R1, map_fd)
    a.mov(R2, R10)
    a.alu_imm(BPF_ADD, R2, -4)
    a.call(FUNC_MAP_LOOKUP_ELEM)
    a.jump_imm(BPF_JEQ, R0, 0, "pass")
    a.mov(R9, R0)
    a.ldx(BPF_W, R1, R9, _ARMED)
    a.jump_imm(BPF_JEQ, R1, 0, "pass")
    a.ldx(BPF_W, R1, R9, _LENGTH)
    a.jump_reg(BPF_JNE, R1, R7, "pass")
    loads: list[tuple[int | None, int, int]] = []  # (index register or None, packet offset, value offset)
    if v6:
        loads += [(None, SKF_NET_OFF + 8 + 4 * i, _SOURCE + 4 * i) for i in range(4)]
        loads += [(None, 0, _WORDS), (None, 4, _WORDS + 4)]
    else:
        loads += [(None, 12, _SOURCE), (R8, 0, _WORDS), (R8, 4, _WORDS + 4)]
    for index, offset, at in loads:
        if index is None:
            a.ld_abs(BPF_W, offset)
        else:
            a.ld_ind(BPF_W, index, offset)
        a.ldx(BPF_W, R1, R9, at)
        a.jump_reg(BPF_JNE, R0, R1, "pass")
    # A routine repeat: when (CLOCK_MONOTONIC), then how many; dropped.
    a.call(FUNC_KTIME_GET_NS)
    a.stx(BPF_DW, R9, _LAST_NS, R0)
    a.mov_imm(R1, 1)
    a.atomic_add(BPF_DW, R9, _COUNT, R1)
    a.mov_imm(R0, 0)
    a.exit()
    a.label("pass")
    a.mov_imm(R0, -1, wide=False)  # keep 0xffffffff bytes: all of it
    a.exit()
    return a.assemble()


class Swallower:
    """One socket's swallowing program and its map (mapped into the process); see the module docstring."""

    def __init__(self, family: int, map_fd: int, prog_fd: int, view: mmap.mmap) -> None:
        self.family = family
        self._map_fd = map_fd
        self._prog_fd = prog_fd
        self._mmap = view
        self._u32 = memoryview(view).cast("I")
        self._u64 = memoryview(view).cast("Q")

    @classmethod
    def open(cls, family: int) -> Swallower:
        """Create the map and load the program for a socket of `family` (AF_INET or AF_INET6).

        Raises Unavailable: no CAP_BPF (EPERM), an old kernel (EINVAL: no mmapable arrays before 5.5), the
        verifier's refusal (with its log).
        """
        map_fd = map_create(4, VALUE.size, ENTRIES, BPF_F_MMAPABLE, b"vrrpd_repeats")
        try:
            prog_fd = prog_load(program(family, map_fd), b"vrrpd_repeats")
            try:
                size = -(-VALUE.size * ENTRIES // mmap.PAGESIZE) * mmap.PAGESIZE
                view = mmap.mmap(map_fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            except BaseException:
                os.close(prog_fd)
                raise
        except BaseException:
            os.close(map_fd)
            raise
        return cls(family, map_fd, prog_fd, view)

    def attach(self, sock: socket.socket) -> None:
        """Run the program on `sock` (the main VRRP receive socket of the family)."""
        attach(sock, self._prog_fd)

    def arm(self, vrid: int, steady: Steady) -> None:
        """Swallow `vrid`'s datagrams that look like `steady` from now on (`last_ns` and `count` go on)."""
        base = vrid * VALUE.size
        u32 = self._u32
        u32[(base + _ARMED) // 4] = 0  # never a half-written armed entry: fields while disarmed, then armed
        u32[(base + _LENGTH) // 4] = steady.length
        source = steady.source.ljust(16, b"\0")
        for i, (word,) in enumerate(struct.iter_unpack("!I", source)):
            u32[(base + _SOURCE) // 4 + i] = word
        u32[(base + _WORDS) // 4] = steady.words[0]
        u32[(base + _WORDS) // 4 + 1] = steady.words[1]
        u32[(base + _ARMED) // 4] = 1

    def disarm(self, vrid: int) -> None:
        """Let every datagram of `vrid` through from now on."""
        self._u32[vrid * VALUE.size // 4] = 0

    def armed(self, vrid: int) -> bool:
        return bool(self._u32[vrid * VALUE.size // 4])

    def read(self, vrid: int) -> tuple[int, int]:
        """(count, last_ns): how many datagrams of `vrid` were swallowed so far, the last one's arrival
        (CLOCK_MONOTONIC nanoseconds). Count first: the program stores `last_ns` before adding to it."""
        base = vrid * VALUE.size // 8
        count = self._u64[base + _COUNT // 8]
        return count, self._u64[base + _LAST_NS // 8]

    def close(self) -> None:
        self._u32.release()
        self._u64.release()
        self._mmap.close()
        os.close(self._prog_fd)
        os.close(self._map_fd)

    def __repr__(self) -> str:
        return f"Swallower(family={self.family}, map_fd={self._map_fd})"

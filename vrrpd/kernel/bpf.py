"""Classic BPF socket filters built in Python, and the VRRP "doorbell" program.

Owns: a small assembler for classic BPF (`struct sock_filter`, <linux/filter.h>: loads, jumps with labels,
returns), attaching and detaching a program on a socket (SO_ATTACH_FILTER / SO_DETACH_FILTER), and
`doorbell_program`: the filter of a second raw protocol-112 socket that lets through only the adverts that
need a prompt reaction, so that the routine repeats of a steady master never wake the process while the
main socket is read lazily, once per period.

Must not: decide which VRIDs are steady (the caller says, from the router states), decode VRRP (the program
knows only the header's offsets), or read the sockets.

The doorbell's verdict per advert, by its VRID (RFC 3768 §5.1 / RFC 5798 §5.1: byte 1 of the VRRP header):

* a VRID with a `Steady` state (a backup following a master): routine — filtered out — only when it is the
  same advert again: the same source address, the same length, and the same first two words of the VRRP
  header (version/type, VRID, priority, count; auth type/interval, checksum). The checksum covers the whole
  message (v2) and the pseudo-header (v3, RFC 5798 §5.2.8), so any other content change shows there at the
  cost of two loads; the changes a ones-complement sum cannot see (16-bit words permuted) are still read,
  by the lazy drain, which compares whole datagrams. Anything else passes: priority 0, a new priority, source
  or address list — whatever the §6.4 rules may react to at once.
* a VRID listed without a steady state (we are master of it, or a backup that has not accepted an advert
  yet, or in INIT/FAULT): everything passes.
* any other VRID (not configured here): passes when `foreign_urgent` (the default), else is routine.
* a datagram too short to hold the loaded fields: the kernel's classic BPF ends the program with 0
  (routine); the lazy drain still reads it from the main socket and drops it as truncated.

A routine verdict only delays an advert until the next drain of the main socket, never loses it: the main
socket receives everything. So the program may over-approximate "urgent" (extra wake-ups), never the reverse.

What is compared, and why only that: the length and the first two header words catch every change the
§6.4 rules react to (priority, including 0; the address count; the interval; with the checksum, the
addresses and the authentication data); the source catches another router sending the same advert (a v2
checksum does not cover it). The IPv4 TTL, identification and destination are not compared: a repeat with
a wrong TTL is dropped by §7.1 in the lazy drain, with no hurry.

Size: a compared VRID costs `INSNS_PER_VRID_V4` (11) or `INSNS_PER_VRID_V6` (17) instructions, so every
IPv4 VRID fits in BPF_MAXINSNS (4096) and 240 IPv6 ones; the VRIDs beyond the budget are made urgent
(their adverts wake the process, as without a doorbell), the highest VRIDs first. The kernel also charges
the converted program to the socket's option memory (net.core.optmem_max): see `attach`.
"""

from __future__ import annotations

import ctypes
import functools
import socket
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

# <linux/bpf_common.h>: instruction classes, sizes, modes, operations, sources.
BPF_LD: Final = 0x00
BPF_LDX: Final = 0x01
BPF_ST: Final = 0x02
BPF_JMP: Final = 0x05
BPF_RET: Final = 0x06
BPF_W: Final = 0x00
BPF_H: Final = 0x08
BPF_B: Final = 0x10
BPF_IMM: Final = 0x00
BPF_ABS: Final = 0x20
BPF_IND: Final = 0x40
BPF_MEM: Final = 0x60
BPF_LEN: Final = 0x80
BPF_MSH: Final = 0xA0
BPF_JA: Final = 0x00
BPF_JEQ: Final = 0x10
BPF_JGT: Final = 0x20
BPF_JGE: Final = 0x30
BPF_JSET: Final = 0x40
BPF_K: Final = 0x00
BPF_X: Final = 0x08
BPF_A: Final = 0x10  # BPF_RET | BPF_A: return the accumulator

BPF_MAXINSNS: Final = 4096  # <linux/bpf_common.h>: the kernel refuses longer classic programs (EINVAL)
SKF_NET_OFF: Final = (
    -0x100000
)  # <linux/filter.h>: absolute loads from here are relative to the network header
_JUMP_MAX: Final = 255  # jt/jf are 8-bit forward offsets

# <asm-generic/socket.h>
SO_ATTACH_FILTER: Final = 26
SO_DETACH_FILTER: Final = 27

PASS: Final = 0xFFFFFFFF  # "keep this many bytes": the whole datagram
DROP: Final = 0

# The VRRP header (RFC 3768 §5.1, RFC 5798 §5.1): the VRID is byte 1, the header 8 bytes.
_VRID_OFFSET: Final = 1
_HEADER_WORDS: Final = (0, 4)
_IPV4_SOURCE: Final = 12  # RFC 791 §3.1
_IPV6_SOURCE: Final = 8  # RFC 8200 §3
_IPV6_HEADER: Final = 40

_SOCK_FILTER: Final = struct.Struct("=HBBI")  # struct sock_filter: code, jt, jf, k
_SOCK_FPROG: Final = struct.Struct("@HP")  # struct sock_fprog: len, filter pointer (native alignment)


@dataclass(frozen=True, slots=True)
class Insn:
    """One `struct sock_filter`: opcode, jump-if-true and jump-if-false offsets, constant."""

    code: int
    jt: int = 0
    jf: int = 0
    k: int = 0

    def pack(self) -> bytes:
        return _SOCK_FILTER.pack(self.code, self.jt, self.jf, self.k & 0xFFFFFFFF)


@dataclass(frozen=True, slots=True)
class _Jump:
    """A conditional jump whose targets are labels (None: the next instruction)."""

    code: int
    k: int
    true: str | None
    false: str | None


class Assembler:
    """Classic BPF with labels: append instructions, `label` a position, `assemble` resolves the jumps.

    Conditional jumps only go forward, at most 255 instructions (ValueError otherwise: our bug).
    """

    def __init__(self) -> None:
        self._code: list[Insn | _Jump] = []
        self._labels: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._code)

    def label(self, name: str) -> None:
        if name in self._labels:
            raise ValueError(f"label {name!r} defined twice")
        self._labels[name] = len(self._code)

    def ld_abs(self, size: int, offset: int) -> None:
        """A = the word, half-word or byte at `offset` (network byte order)."""
        self._code.append(Insn(BPF_LD | size | BPF_ABS, k=offset))

    def ld_ind(self, size: int, offset: int) -> None:
        """A = the word, half-word or byte at X + `offset`."""
        self._code.append(Insn(BPF_LD | size | BPF_IND, k=offset))

    def ld_mem(self, slot: int) -> None:
        """A = M[slot], the scratch memory (16 words)."""
        self._code.append(Insn(BPF_LD | BPF_W | BPF_MEM, k=slot))

    def st(self, slot: int) -> None:
        """M[slot] = A."""
        self._code.append(Insn(BPF_ST, k=slot))

    def ld_len(self) -> None:
        """A = the datagram's length as the filter sees it."""
        self._code.append(Insn(BPF_LD | BPF_W | BPF_LEN))

    def ldx_msh(self, offset: int) -> None:
        """X = 4 * (byte at `offset` & 0xf): an IPv4 header's length."""
        self._code.append(Insn(BPF_LDX | BPF_B | BPF_MSH, k=offset))

    def jump(self, op: int, k: int, true: str | None, false: str | None) -> None:
        """If A `op` k go to `true`, else to `false` (None: fall through)."""
        self._code.append(_Jump(BPF_JMP | op | BPF_K, k, true, false))

    def ret(self, k: int) -> None:
        self._code.append(Insn(BPF_RET | BPF_K, k=k))

    def assemble(self) -> tuple[Insn, ...]:
        out: list[Insn] = []
        for pc, item in enumerate(self._code):
            if isinstance(item, Insn):
                out.append(item)
            else:
                out.append(Insn(item.code, self._offset(pc, item.true), self._offset(pc, item.false), item.k))
        return tuple(out)

    def _offset(self, pc: int, label: str | None) -> int:
        if label is None:
            return 0
        offset = self._labels[label] - pc - 1
        if not 0 <= offset <= _JUMP_MAX:
            raise ValueError(f"jump to {label!r} from {pc} is {offset} instructions away")
        return offset


def encode(program: Sequence[Insn]) -> bytes:
    """The array of `struct sock_filter` the kernel reads."""
    return b"".join(insn.pack() for insn in program)


def length(program: bytes) -> int:
    """How many instructions an encoded program has."""
    return len(program) // _SOCK_FILTER.size


def attach(sock: socket.socket, program: bytes | Sequence[Insn]) -> None:
    """Attach `program` (encoded, or instructions) to `sock`, replacing any filter in one step: each
    datagram meets the old program or the new one.

    Raises OSError: EINVAL if the kernel's checker refuses the program (empty, too long, a jump out of it,
    not ending in a return); ENOMEM if the socket's option memory (net.core.optmem_max) cannot hold it —
    while it replaces a filter, both are charged for a moment (`detach` first then needs only one).
    """
    raw = program if isinstance(program, bytes) else encode(program)
    # The kernel copies the instructions during the call: the buffer must live until it returns.
    insns = ctypes.create_string_buffer(raw, len(raw))
    prog = _SOCK_FPROG.pack(length(raw), ctypes.addressof(insns))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, prog)
    del insns  # only now may it go


def detach(sock: socket.socket) -> None:
    """Remove the socket's filter (ENOENT if it has none)."""
    sock.setsockopt(socket.SOL_SOCKET, SO_DETACH_FILTER, 0)


PASS_ALL: Final = Insn(BPF_RET | BPF_K, k=PASS).pack()
DROP_ALL: Final = Insn(BPF_RET | BPF_K, k=DROP).pack()


# --- the doorbell ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Steady:
    """What a routine repeat on one VRID looks like: its sender, its length as the filter sees it (the whole
    IPv4 datagram, or the IPv6 payload), and the first two words of its VRRP header."""

    source: bytes  # 4 or 16 bytes
    length: int
    words: tuple[int, int]

    @classmethod
    def of(cls, datagram: bytes) -> Steady:
        """The steady state an accepted datagram sets, in the receive path's form: an IPv4 datagram with its
        header, or the 40-byte IPv6 header the IPv6 socket rebuilds followed by the VRRP message.

        Raises ValueError if it is too short to be an advert (our caller passes accepted adverts only).
        """
        if datagram[:1] and datagram[0] >> 4 == 6:
            source, message, length = datagram[8:24], datagram[_IPV6_HEADER:], len(datagram) - _IPV6_HEADER
        else:
            ihl = (datagram[0] & 0x0F) * 4 if datagram else 0
            source, message, length = datagram[_IPV4_SOURCE : _IPV4_SOURCE + 4], datagram[ihl:], len(datagram)
        if len(message) < 8 or len(source) not in (4, 16):
            raise ValueError(f"not an advert: {datagram.hex()}")
        w0, w1 = struct.unpack_from("!II", message)
        return cls(source, length, (w0, w1))


INSNS_PER_VRID_V4: Final = 11
INSNS_PER_VRID_V6: Final = 17
_PREAMBLE_V4: Final = 10  # M[] filled from the datagram (len, source, two header words), A = VRID
_PREAMBLE_V6: Final = 15
_URGENT_VRID: Final = 2  # jeq + ret, for a VRID without a steady state when foreign VRIDs are routine


def compared_capacity(family: int) -> int:
    """How many steady VRIDs one program can compare (beyond that they are made urgent)."""
    v6 = family == socket.AF_INET6
    return (BPF_MAXINSNS - _preamble_size(v6) - 1) // (INSNS_PER_VRID_V6 if v6 else INSNS_PER_VRID_V4)


def doorbell_program(
    family: int, vrids: Mapping[int, Steady | None], *, foreign_urgent: bool = True
) -> bytes:
    """The filter for a doorbell socket of `family` (AF_INET or AF_INET6), encoded for `attach`; see the
    module docstring. At most BPF_MAXINSNS instructions whatever the input.

    `vrids` maps each VRID configured on the interface to the steady state of its repeats, or None when
    every advert for it is urgent.

    The compared fields are loaded from the datagram once, into the scratch memory M[], and each VRID's
    block compares M[] with constants: a packet load is one classic instruction but several once the kernel
    converts it, and the kernel charges the converted program to the socket's option memory (optmem_max).
    Each block is position-independent and cached, so a rebuild after one state change mostly joins bytes.
    """
    if family not in (socket.AF_INET, socket.AF_INET6):
        raise ValueError(f"address family {family}: not IPv4 or IPv6")
    v6 = family == socket.AF_INET6
    per = INSNS_PER_VRID_V6 if v6 else INSNS_PER_VRID_V4
    steady = sorted((vrid, s) for vrid, s in vrids.items() if s is not None)
    urgent = [vrid for vrid, s in vrids.items() if s is None]
    # Over budget: the highest steady VRIDs become urgent (an urgent VRID costs _URGENT_VRID instructions,
    # or none when foreign VRIDs pass anyway).
    listed = 0 if foreign_urgent else _URGENT_VRID
    while _preamble_size(v6) + len(steady) * per + len(urgent) * listed + 1 > BPF_MAXINSNS:
        vrid, _ = steady.pop()
        urgent.append(vrid)

    parts: list[bytes] = []
    if steady:
        parts.append(_preamble(v6))
    elif not foreign_urgent:
        parts.append(_vrid_only(v6))
    parts.extend(_compare(vrid, state, v6) for vrid, state in steady)
    if not foreign_urgent:
        parts.extend(_listed_urgent(vrid) for vrid in sorted(urgent))
    parts.append(PASS_ALL if foreign_urgent else DROP_ALL)
    program = b"".join(parts)
    assert length(program) <= BPF_MAXINSNS
    return program


def _preamble_size(v6: bool) -> int:
    return _PREAMBLE_V6 if v6 else _PREAMBLE_V4


@functools.cache
def _preamble(v6: bool) -> bytes:
    """M[0] = length, M[1..] = the source's words, then the header's two words; A = the VRID."""
    asm = Assembler()
    asm.ld_len()
    asm.st(0)
    if v6:
        fields = [SKF_NET_OFF + _IPV6_SOURCE + 4 * i for i in range(4)] + list(_HEADER_WORDS)
        for slot, offset in enumerate(fields, start=1):
            asm.ld_abs(BPF_W, offset)
            asm.st(slot)
    else:
        asm.ldx_msh(0)  # X = the IPv4 header's length (IHL): options move the VRRP header
        asm.ld_abs(BPF_W, _IPV4_SOURCE)
        asm.st(1)
        for slot, offset in enumerate(_HEADER_WORDS, start=2):
            asm.ld_ind(BPF_W, offset)
            asm.st(slot)
    code = encode(asm.assemble()) + _vrid_load(v6)
    assert length(code) == _preamble_size(v6)
    return code


def _vrid_load(v6: bool) -> bytes:
    """A = the VRID (X must hold the IPv4 header's length)."""
    if v6:  # the payload starts with the VRRP header
        return Insn(BPF_LD | BPF_B | BPF_ABS, k=_VRID_OFFSET).pack()
    return Insn(BPF_LD | BPF_B | BPF_IND, k=_VRID_OFFSET).pack()


@functools.cache
def _vrid_only(v6: bool) -> bytes:
    """A = the VRID, nothing else loaded (no VRID is compared)."""
    if v6:
        return _vrid_load(v6)
    return Insn(BPF_LDX | BPF_B | BPF_MSH, k=0).pack() + _vrid_load(v6)


@functools.lru_cache(maxsize=1024)
def _compare(vrid: int, state: Steady, v6: bool) -> bytes:
    """On entry A is the VRID: not `vrid` → the next block; else routine only if every field matches."""
    if len(state.source) != (16 if v6 else 4):
        raise ValueError(f"VRID {vrid}: a {len(state.source)}-byte source in an IPv{6 if v6 else 4} program")
    expected = [state.length, *(w for (w,) in struct.iter_unpack("!I", state.source)), *state.words]
    asm = Assembler()
    asm.jump(BPF_JEQ, vrid, None, "next")
    for slot, value in enumerate(expected):
        asm.ld_mem(slot)
        asm.jump(BPF_JEQ, value, None, "urgent")
    asm.ret(DROP)
    asm.label("urgent")
    asm.ret(PASS)
    asm.label("next")
    assert len(asm) == (INSNS_PER_VRID_V6 if v6 else INSNS_PER_VRID_V4)
    return encode(asm.assemble())


@functools.cache
def _listed_urgent(vrid: int) -> bytes:
    asm = Assembler()
    asm.jump(BPF_JEQ, vrid, None, "next")
    asm.ret(PASS)
    asm.label("next")
    return encode(asm.assemble())

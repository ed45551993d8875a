"""A classic BPF interpreter: the test oracle for the programs `vrrpd.kernel.bpf` builds.

Written from the kernel's documentation (Documentation/networking/filter.rst, <linux/filter.h>) and
independent of the code under test: it reads raw `struct sock_filter` bytes and knows the opcodes by their
numbers. Semantics as the kernel's: A and X are 32-bit, loads are big-endian, a load outside the datagram
ends the program with 0, division by zero returns 0, jumps are relative to the next instruction. Absolute
loads at SKF_NET_OFF (-0x100000) and beyond read `network` (the datagram from its network header), as
the kernel's negative-offset helper does for sockets that see only the payload (raw IPv6).
"""

from __future__ import annotations

import struct

SKF_NET_OFF = -0x100000
SKF_LL_OFF = -0x200000
MAXINSNS = 4096
_INSN = struct.Struct("=HBBI")
_MASK = 0xFFFFFFFF


class ProgramError(ValueError):
    """The program is one the kernel's checker (bpf_check_classic) would refuse."""


def decode(raw: bytes) -> list[tuple[int, int, int, int]]:
    if not raw or len(raw) % _INSN.size:
        raise ProgramError(f"{len(raw)} bytes is not a whole number of instructions")
    return [_INSN.unpack_from(raw, i) for i in range(0, len(raw), _INSN.size)]


def check(prog: list[tuple[int, int, int, int]]) -> None:
    """What bpf_check_classic checks: length, jumps inside the program, scratch slots, a final return."""
    if not 1 <= len(prog) <= MAXINSNS:
        raise ProgramError(f"{len(prog)} instructions")
    for pc, (code, jt, jf, k) in enumerate(prog):
        cls = code & 0x07
        if cls == 0x05:  # JMP
            op = code & 0xF0
            targets = [pc + 1 + k] if op == 0x00 else [pc + 1 + jt, pc + 1 + jf]
            if any(t >= len(prog) for t in targets):
                raise ProgramError(f"jump out of the program at {pc}")
        if (cls in (0x02, 0x03) or code in (0x60, 0x61)) and k >= 16:  # ST/STX, LD/LDX MEM
            raise ProgramError(f"scratch slot {k} at {pc}")
    if prog[-1][0] & 0x07 != 0x06:
        raise ProgramError("the last instruction is not a return")


def _load(data: bytes, network: bytes, offset: int, size: int) -> int | None:
    if offset >= 0:
        buf = data
    elif SKF_NET_OFF <= offset < 0 and offset < SKF_NET_OFF + len(network):
        buf, offset = network, offset - SKF_NET_OFF
    else:
        return None
    if offset + size > len(buf):
        return None
    return int.from_bytes(buf[offset : offset + size], "big")


def _alu(op: int, a: int, operand: int) -> int:
    results = {
        0x00: lambda: a + operand,
        0x10: lambda: a - operand,
        0x20: lambda: a * operand,
        0x30: lambda: a // operand,
        0x40: lambda: a | operand,
        0x50: lambda: a & operand,
        0x60: lambda: a << (operand & 31),
        0x70: lambda: a >> (operand & 31),
        0x80: lambda: -a,
        0x90: lambda: a % operand,
        0xA0: lambda: a ^ operand,
    }
    return results[op]() & _MASK


def run(raw: bytes, data: bytes, network: bytes | None = None) -> int:
    """Run the program on a datagram; the return value (how many bytes to keep; 0: drop)."""
    prog = decode(raw)
    check(prog)
    net = data if network is None else network
    a = x = 0
    mem = [0] * 16
    pc = 0
    sizes = {0x00: 4, 0x08: 2, 0x10: 1}
    while True:
        code, jt, jf, k = prog[pc]
        pc += 1
        cls = code & 0x07
        if cls == 0x00:  # LD
            mode, size = code & 0xE0, sizes[code & 0x18]
            if mode == 0x00:
                a = k
            elif mode in (0x20, 0x40):  # ABS, IND
                offset = k if k < 0x80000000 else k - (1 << 32)
                value = _load(data, net, offset + (x if mode == 0x40 else 0), size)
                if value is None:
                    return 0
                a = value
            elif mode == 0x60:
                a = mem[k]
            elif mode == 0x80:
                a = len(data)
            else:
                raise ProgramError(f"LD mode {mode:#x}")
        elif cls == 0x01:  # LDX
            mode = code & 0xE0
            if mode == 0x00:
                x = k
            elif mode == 0x60:
                x = mem[k]
            elif mode == 0x80:
                x = len(data)
            elif mode == 0xA0:  # MSH: 4 * (P[k] & 0xf)
                value = _load(data, net, k, 1)
                if value is None:
                    return 0
                x = 4 * (value & 0x0F)
            else:
                raise ProgramError(f"LDX mode {mode:#x}")
        elif cls == 0x02:
            mem[k] = a
        elif cls == 0x03:
            mem[k] = x
        elif cls == 0x04:  # ALU
            op, operand = code & 0xF0, (x if code & 0x08 else k)
            if op in (0x30, 0x90) and operand == 0:
                return 0
            a = _alu(op, a, operand)
        elif cls == 0x05:  # JMP
            op, operand = code & 0xF0, (x if code & 0x08 else k)
            if op == 0x00:
                pc += k
                continue
            taken = {
                0x10: a == operand,
                0x20: a > operand,
                0x30: a >= operand,
                0x40: bool(a & operand),
            }[op]
            pc += jt if taken else jf
        elif cls == 0x06:  # RET
            return a if code & 0x18 == 0x10 else k
        elif code & 0xF8 == 0x00:  # MISC: TAX
            x = a
        else:  # MISC: TXA
            a = x

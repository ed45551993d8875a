"""The eBPF assembler, the bpf() calls and the repeat swallower's program, without namespaces.

Instruction bytes are checked against <linux/bpf.h>'s encoding by hand; the kernel's verifier then judges the
programs (when this process may load them: CAP_BPF). A refused bpf() call must surface as `Unavailable` with
the reason, which is what the daemon falls back on. Real datagrams on real raw sockets are in
tests/kernel/test_bpf_netns.py.
"""

from __future__ import annotations

import errno
import socket

import pytest

from vrrpd.kernel import ebpf
from vrrpd.kernel.bpf import SKF_NET_OFF, Steady
from vrrpd.kernel.ebpf import R0, R1, R2, R6, R8, R9, R10, Assembler, Insn


def _one(build: str, *args: int) -> bytes:
    a = Assembler()
    getattr(a, build)(*args)
    return ebpf.encode(a.assemble())


@pytest.mark.parametrize(
    ("build", "args", "expected"),
    [
        ("mov", (R6, R1), "bf16000000000000"),  # BPF_ALU64|BPF_MOV|BPF_X, dst 6, src 1
        ("mov_imm", (R0, 0), "b700000000000000"),
        ("alu_imm", (ebpf.BPF_ADD, R2, -4), "07020000fcffffff"),
        ("alu_imm", (ebpf.BPF_AND, R0, 0x0F), "570000000f000000"),
        ("alu_imm", (ebpf.BPF_LSH, R0, 2), "6700000002000000"),
        ("ld_abs", (ebpf.BPF_B, 1), "3000000001000000"),
        ("ld_abs", (ebpf.BPF_W, SKF_NET_OFF + 8), "200000000800f0ff"),  # the IPv6 source, -0x100000 + 8
        ("ld_ind", (ebpf.BPF_W, R8, 4), "4080000004000000"),
        ("ldx", (ebpf.BPF_W, R1, R9, 4), "6191040000000000"),
        ("stx", (ebpf.BPF_W, R10, -4, R0), "630afcff00000000"),
        ("stx", (ebpf.BPF_DW, R9, 32, R0), "7b09200000000000"),
        ("atomic_add", (ebpf.BPF_DW, R9, 40, R1), "db19280000000000"),  # BPF_STX|BPF_ATOMIC|BPF_DW, BPF_ADD
        ("call", (ebpf.FUNC_KTIME_GET_NS,), "8500000005000000"),
        ("exit", (), "9500000000000000"),
        ("ld_map_fd", (R1, 7), "1811000007000000" + "0000000000000000"),  # two slots, src = BPF_PSEUDO_MAP_FD
    ],
)
def test_instruction_bytes(build: str, args: tuple[int, ...], expected: str) -> None:
    assert _one(build, *args).hex() == expected


def test_32_bit_move_of_minus_one_keeps_the_whole_datagram() -> None:
    a = Assembler()
    a.mov_imm(R0, -1, wide=False)
    assert ebpf.encode(a.assemble()).hex() == "b4000000ffffffff"  # BPF_ALU|BPF_MOV|BPF_K: 0xffffffff


def test_jumps_resolve_forward_labels() -> None:
    a = Assembler()
    a.jump_imm(ebpf.BPF_JEQ, R0, 0, "out")  # 0
    a.jump_reg(ebpf.BPF_JNE, R0, R1, "out")  # 1
    a.mov_imm(R0, 1)  # 2
    a.label("out")
    a.exit()  # 3
    code = a.assemble()
    assert code[0] == Insn(ebpf.BPF_JMP | ebpf.BPF_JEQ | ebpf.BPF_K, R0, 0, 2, 0)
    assert code[1] == Insn(ebpf.BPF_JMP | ebpf.BPF_JNE | ebpf.BPF_X, R0, R1, 1, 0)
    assert ebpf.encode(code[:1]).hex() == "1500020000000000"
    assert ebpf.encode(code[1:2]).hex() == "5d10010000000000"


def test_an_undefined_or_repeated_label_is_our_bug() -> None:
    a = Assembler()
    a.jump_imm(ebpf.BPF_JEQ, R0, 0, "nowhere")
    with pytest.raises(ValueError, match="nowhere"):
        a.assemble()
    a.label("x")
    with pytest.raises(ValueError, match="twice"):
        a.label("x")


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6])
def test_the_program_embeds_its_map_and_ends_in_exits(family: int) -> None:
    code = ebpf.program(family, 9)
    maps = [i for i in code if i.code == ebpf.BPF_LD | ebpf.BPF_DW | ebpf.BPF_IMM]
    assert [(m.src, m.imm) for m in maps] == [(ebpf.BPF_PSEUDO_MAP_FD, 9)]
    assert code[-1] == Insn(ebpf.BPF_JMP | ebpf.BPF_EXIT)
    assert code[0] == Insn(ebpf.BPF_ALU64 | ebpf.BPF_MOV | ebpf.BPF_X, R6, R1)  # legacy loads need ctx in r6
    # Every jump lands inside the program.
    for pc, insn in enumerate(code):
        if insn.code & 0x07 == ebpf.BPF_JMP and insn.code & 0xF0 not in (ebpf.BPF_CALL, ebpf.BPF_EXIT):
            assert 0 <= pc + 1 + insn.off < len(code)
    with pytest.raises(ValueError):
        ebpf.program(socket.AF_PACKET, 9)


def test_a_refused_bpf_call_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without CAP_BPF (unprivileged_bpf_disabled) the kernel answers EPERM: `Unavailable`, for the caller's
    fallback to the lazy drain and the doorbell."""

    def refuse(cmd: int, attr: object) -> int:
        raise ebpf.Unavailable(errno.EPERM, f"bpf({cmd}): Operation not permitted")

    monkeypatch.setattr(ebpf, "_bpf", refuse)
    with pytest.raises(ebpf.Unavailable) as info:
        ebpf.Swallower.open(socket.AF_INET)
    assert info.value.errno == errno.EPERM
    assert "not permitted" in str(info.value)


def test_the_verifiers_log_is_in_the_error() -> None:
    a = Assembler()
    a.exit()  # r0 never written: the verifier refuses
    try:
        ebpf.prog_load(a.assemble())
    except ebpf.Unavailable as exc:
        if exc.errno == errno.EPERM:
            pytest.skip("no CAP_BPF here")
        assert "verifier" in str(exc) and "R0" in str(exc)
    else:
        pytest.fail("the verifier accepted a program that never sets r0")


def _swallower(family: int) -> ebpf.Swallower:
    try:
        return ebpf.Swallower.open(family)
    except ebpf.Unavailable as exc:
        pytest.skip(f"eBPF unavailable here: {exc}")


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6])
def test_the_map_entries_arm_and_disarm_in_place(family: int) -> None:
    """The kernel's verifier accepts both programs; arming through the mapping is what BPF_MAP_LOOKUP_ELEM
    reads back."""
    sw = _swallower(family)
    try:
        source = bytes([192, 0, 2, 11]) if family == socket.AF_INET else bytes(15) + b"\x11"
        sw.arm(51, Steady(source, 40, (0x21336401, 0x0001ABCD)))
        raw = ebpf.map_lookup(sw._map_fd, 51, ebpf.VALUE.size)
        armed, length, *rest = ebpf.VALUE.unpack(raw)
        assert (armed, length, rest[4:6], rest[6:]) == (1, 40, [0x21336401, 0x0001ABCD], [0, 0])
        assert rest[0] == int.from_bytes(source[:4], "big")
        assert sw.armed(51) and not sw.armed(52)
        sw.disarm(51)
        assert ebpf.VALUE.unpack(ebpf.map_lookup(sw._map_fd, 51, ebpf.VALUE.size))[0] == 0
        ebpf.map_update(sw._map_fd, 52, ebpf.VALUE.pack(0, 0, 0, 0, 0, 0, 0, 0, 123, 4))
        assert sw.read(52) == (4, 123)
        with socket.socket(family, socket.SOCK_DGRAM) as sock:  # SO_ATTACH_BPF takes it on any socket
            sw.attach(sock)
    finally:
        sw.close()

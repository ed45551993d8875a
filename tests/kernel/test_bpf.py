"""The classic BPF assembler and the doorbell program, without namespaces.

Two independent judges: tests/support/cbpf.py (a classic BPF interpreter written from the kernel's
documentation) runs every program against a plain-Python statement of which adverts are urgent, and the
kernel's own checker accepts the programs on an ordinary UDP socket (SO_ATTACH_FILTER needs no privilege).
The real raw sockets with injected adverts are in tests/kernel/test_bpf_netns.py.
"""

from __future__ import annotations

import errno
import socket
import struct
from collections.abc import Iterator, Mapping
from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import cbpf
from vrrpd.kernel import bpf
from vrrpd.kernel.bpf import Steady
from vrrpd.protocol.packet import Advertisement, encode

V4, V6 = socket.AF_INET, socket.AF_INET6
PEER4 = IPv4Address("192.0.2.11")
PEER6 = IPv6Address("fe80::11")
GROUP6 = IPv6Address("ff02::12")


def ipv4(payload: bytes, src: IPv4Address = PEER4, options: bytes = b"", ttl: int = 255) -> bytes:
    """An IPv4 datagram as a raw socket hands it over (header, options, payload)."""
    ihl = 5 + len(options) // 4
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x40 | ihl,
        0xC0,
        4 * ihl + len(payload),
        1,
        0,
        ttl,
        112,
        0,
        src.packed,
        bytes([224, 0, 0, 18]),
    )
    return header + options + payload


def ipv6(payload: bytes, src: IPv6Address = PEER6) -> bytes:
    """The receive path's IPv6 form: the rebuilt 40-byte header, then the VRRP message."""
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), 112, 255, src.packed, GROUP6.packed) + payload


def advert(
    vrid: int = 51, priority: int = 100, version: int = 2, advert_int: int = 1, vip: int = 100
) -> bytes:
    """An encoded advert with a valid checksum (IPv6: over the pseudo-header from PEER6 to ff02::12)."""
    if version == 3:
        six = Advertisement(vrid, priority, (IPv6Address(f"2001:db8::{vip}"),), advert_int=100, version=3)
        return encode(six, source=PEER6, destination=GROUP6)
    return encode(Advertisement(vrid, priority, (IPv4Address(f"192.0.2.{vip}"),), advert_int=advert_int))


def verdict(program: bytes, datagram: bytes) -> bool:
    """True: the program passes the datagram (urgent). Run on the interpreter as the socket would."""
    if datagram[0] >> 4 == 6:
        return cbpf.run(program, datagram[40:], network=datagram) != 0
    return cbpf.run(program, datagram) != 0


def urgent(datagram: bytes, vrids: Mapping[int, Steady | None], foreign_urgent: bool = True) -> bool:
    """The specification, in plain Python, for a datagram with at least a whole VRRP header."""
    vrid = (datagram[40:] if datagram[0] >> 4 == 6 else datagram[(datagram[0] & 0x0F) * 4 :])[1]
    if vrid not in vrids:
        return foreign_urgent
    expected = vrids[vrid]
    return expected is None or Steady.of(datagram) != expected


# --- the assembler ---------------------------------------------------------------------------------------


def test_labels_resolve_to_forward_offsets() -> None:
    asm = bpf.Assembler()
    asm.ld_len()
    asm.jump(bpf.BPF_JEQ, 7, "yes", None)
    asm.ret(0)
    asm.label("yes")
    asm.ret(1)
    assert asm.assemble() == (
        bpf.Insn(0x80),
        bpf.Insn(0x15, jt=1, jf=0, k=7),
        bpf.Insn(0x06, k=0),
        bpf.Insn(0x06, k=1),
    )
    assert cbpf.run(bpf.encode(asm.assemble()), bytes(7)) == 1
    assert cbpf.run(bpf.encode(asm.assemble()), bytes(8)) == 0


def test_a_jump_beyond_255_or_backwards_is_our_bug() -> None:
    asm = bpf.Assembler()
    asm.jump(bpf.BPF_JEQ, 0, "far", None)
    for _ in range(256):
        asm.ret(0)
    asm.label("far")
    asm.ret(1)
    with pytest.raises(ValueError, match="256 instructions away"):
        asm.assemble()
    back = bpf.Assembler()
    back.label("top")
    back.jump(bpf.BPF_JEQ, 0, "top", None)
    with pytest.raises(ValueError):
        back.assemble()
    with pytest.raises(ValueError, match="twice"):
        back.label("top")


def test_negative_offsets_are_packed_as_the_kernel_reads_them() -> None:
    assert bpf.Insn(0x20, k=bpf.SKF_NET_OFF + 8).pack() == struct.pack("=HBBI", 0x20, 0, 0, 0xFFF00008)


# --- the doorbell program against the specification -----------------------------------------------------


def test_steady_of_reads_source_length_and_header_words() -> None:
    msg = advert(priority=100)
    s4 = Steady.of(ipv4(msg))
    assert (s4.source, s4.length, s4.words) == (PEER4.packed, 20 + len(msg), struct.unpack("!II", msg[:8]))
    msg6 = advert(version=3)
    s6 = Steady.of(ipv6(msg6))
    assert (s6.source, s6.length, s6.words) == (PEER6.packed, len(msg6), struct.unpack("!II", msg6[:8]))
    with pytest.raises(ValueError):
        Steady.of(ipv4(msg[:7]))


@pytest.mark.parametrize("family", [V4, V6])
def test_each_kind_of_urgent_advert_passes_and_the_repeat_does_not(family: int) -> None:
    version = 3 if family == V6 else 2
    wrap = ipv6 if family == V6 else ipv4
    steady_msg = advert(51, 100, version)
    steady = wrap(steady_msg)
    other_src = (
        ipv6(steady_msg, IPv6Address("fe80::12"))
        if family == V6
        else ipv4(steady_msg, IPv4Address("192.0.2.12"))
    )
    cases = {
        "repeat": (steady, False),
        "priority 0": (wrap(advert(51, 0, version)), True),
        "other priority": (wrap(advert(51, 101, version)), True),
        "other source": (other_src, True),
        "other address list (checksum)": (wrap(advert(51, 100, version, vip=101)), True),
        "longer": (wrap(steady_msg + bytes(4)), True),
        "vrid we are master of": (wrap(advert(52, 100, version)), True),
        "unknown vrid": (wrap(advert(53, 100, version)), True),
    }
    vrids: dict[int, Steady | None] = {51: Steady.of(steady), 52: None}
    program = bpf.doorbell_program(family, vrids)
    for name, (datagram, expected) in cases.items():
        assert verdict(program, datagram) is expected, name
        assert urgent(datagram, vrids) is expected, name  # the specification agrees with the table
    quiet = bpf.doorbell_program(family, vrids, foreign_urgent=False)
    assert verdict(quiet, cases["unknown vrid"][0]) is False
    assert verdict(quiet, cases["vrid we are master of"][0]) is True
    assert verdict(quiet, cases["priority 0"][0]) is True


def test_ipv4_options_move_the_vrrp_header() -> None:
    msg = advert(51, 100)
    vrids: dict[int, Steady | None] = {51: Steady.of(ipv4(msg, options=bytes([1, 1, 1, 0])))}
    program = bpf.doorbell_program(V4, vrids)
    assert verdict(program, ipv4(msg, options=bytes([1, 1, 1, 0]))) is False
    assert verdict(program, ipv4(advert(51, 0), options=bytes([1, 1, 1, 0]))) is True
    # TTL, identification and destination are not compared: §7.1 drops a wrong TTL in the lazy drain.
    assert verdict(program, ipv4(msg, options=bytes([1, 1, 1, 0]), ttl=64)) is False


def test_a_truncated_advert_is_left_to_the_lazy_drain() -> None:
    vrids: dict[int, Steady | None] = {51: Steady.of(ipv4(advert(51)))}
    assert verdict(bpf.doorbell_program(V4, vrids), ipv4(advert(51)[:6])) is False
    # Nothing to compare: nothing is loaded, everything passes.
    assert verdict(bpf.doorbell_program(V4, {51: None}), ipv4(b"\x21")) is True


def _datagrams(family: int) -> st.SearchStrategy[bytes]:
    """Adverts that differ from each other in one field or several: VRID, priority, source, content."""
    vrid = st.sampled_from([1, 2, 51, 255])
    priority = st.sampled_from([0, 100, 101, 255])
    vip = st.sampled_from([100, 101])
    if family == V6:
        src6 = st.sampled_from([PEER6, IPv6Address("fe80::12"), IPv6Address("2001:db8::11")])

        @st.composite
        def build6(draw: st.DrawFn) -> bytes:
            msg = advert(draw(vrid), draw(priority), 3, vip=draw(vip))
            return ipv6(msg + draw(st.sampled_from([b"", bytes(4)])), draw(src6))

        return build6()
    src4 = st.sampled_from([PEER4, IPv4Address("192.0.2.12"), IPv4Address("198.51.100.11")])

    @st.composite
    def build4(draw: st.DrawFn) -> bytes:
        msg = advert(draw(vrid), draw(priority), advert_int=draw(st.sampled_from([1, 2])), vip=draw(vip))
        options = draw(st.sampled_from([b"", bytes([1, 1, 1, 0])]))
        return ipv4(msg, draw(src4), options=options)

    return build4()


@pytest.mark.parametrize("family", [V4, V6])
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_the_program_is_the_specification(family: int, data: st.DataObject) -> None:
    """Any steady states, any adverts: the interpreter's verdict is the plain-Python one."""
    datagrams = _datagrams(family)
    seen = data.draw(st.lists(datagrams, min_size=0, max_size=4))
    vrids: dict[int, Steady | None] = {}
    for d in seen:
        steady = Steady.of(d)
        vrid = d[41] if family == V6 else d[(d[0] & 0x0F) * 4 + 1]
        vrids[vrid] = data.draw(st.sampled_from([steady, None]))
    foreign_urgent = data.draw(st.booleans())
    program = bpf.doorbell_program(family, vrids, foreign_urgent=foreign_urgent)
    for d in [*seen, *data.draw(st.lists(datagrams, min_size=1, max_size=6))]:
        assert verdict(program, d) is urgent(d, vrids, foreign_urgent)


# --- size ----------------------------------------------------------------------------------------------


def _all_steady(family: int) -> Iterator[tuple[int, Steady]]:
    wrap, version = (ipv6, 3) if family == V6 else (ipv4, 2)
    for vrid in range(1, 256):
        yield vrid, Steady.of(wrap(advert(vrid, 100, version)))


@pytest.mark.parametrize(("family", "per"), [(V4, bpf.INSNS_PER_VRID_V4), (V6, bpf.INSNS_PER_VRID_V6)])
def test_instructions_per_vrid(family: int, per: int) -> None:
    steady = dict(_all_steady(family))
    one = bpf.doorbell_program(family, {1: steady[1]})
    two = bpf.doorbell_program(family, {1: steady[1], 2: steady[2]})
    assert bpf.length(two) - bpf.length(one) == per
    assert bpf.doorbell_program(family, {}) == bpf.PASS_ALL  # nothing steady: `ret` everything


@pytest.mark.parametrize("family", [V4, V6])
@pytest.mark.parametrize("foreign_urgent", [True, False])
def test_every_vrid_steady_stays_within_the_kernel_limit(family: int, foreign_urgent: bool) -> None:
    """255 steady VRIDs: IPv4 compares them all; IPv6 compares as many as fit and makes the rest urgent."""
    steady = dict(_all_steady(family))
    program = bpf.doorbell_program(family, steady, foreign_urgent=foreign_urgent)
    assert bpf.length(program) <= bpf.BPF_MAXINSNS
    capacity = bpf.compared_capacity(family)
    wrap, version = (ipv6, 3) if family == V6 else (ipv4, 2)
    compared = [v for v in steady if not verdict(program, wrap(advert(v, 100, version)))]
    if family == V4:
        assert capacity >= 255 and compared == list(range(1, 256))
    else:
        assert len(compared) >= capacity - 2  # urgent VRIDs listed (foreign routine) take a little room
        assert compared == list(range(1, len(compared) + 1))  # the highest VRIDs were made urgent
        assert len(compared) < 255
    for vrid in steady:  # whatever was left out of the comparison is urgent, never routine
        assert verdict(program, wrap(advert(vrid, 0, version))) is True


# --- the kernel -------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", [V4, V6])
def test_the_kernel_accepts_the_largest_program_and_its_replacement(family: int) -> None:
    """Replacing a filter charges both to the socket's option memory for a moment (optmem_max)."""
    steady = dict(_all_steady(family))
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        bpf.attach(sock, bpf.doorbell_program(family, steady))
        bpf.attach(sock, bpf.doorbell_program(family, steady))
        bpf.attach(sock, bpf.doorbell_program(family, {}))
        bpf.detach(sock)
        with pytest.raises(OSError) as info:
            bpf.detach(sock)
        assert info.value.errno == errno.ENOENT


def test_the_kernel_refuses_what_the_limit_says() -> None:
    """The bound the builder keeps to is the kernel's: one instruction more is refused."""
    too_long = bpf.Insn(bpf.BPF_LD | bpf.BPF_W | bpf.BPF_LEN).pack() * bpf.BPF_MAXINSNS + bpf.PASS_ALL
    with socket.socket(V4, socket.SOCK_DGRAM) as sock, pytest.raises(OSError) as info:
        bpf.attach(sock, too_long)
    assert info.value.errno == errno.EINVAL
    with pytest.raises(cbpf.ProgramError):
        cbpf.check(cbpf.decode(too_long))

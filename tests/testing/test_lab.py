"""The namespace lab works: reachability, link cuts, partitions, addresses, capture, teardown."""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import time

import pytest

from vrrpd.testing import lab as lab_module
from vrrpd.testing import plugin
from vrrpd.testing.icmp import checksum
from vrrpd.testing.lab import Lab, LabError, unavailable_reason
from vrrpd.testing.plugin import LabFactory
from vrrpd.testing.sniff import ArpEvent, IcmpEvent, VrrpEvent, parse_frame

pytestmark = pytest.mark.netns

# Bound here as well as by the suite's `-p vrrpd.testing.plugin`, so this module also documents the
# plain-import way of using the fixture.
vrrp_lab = plugin.vrrp_lab

PREFIX = "vl"  # our own runs; other engineers' labs use other prefixes
VIP = "192.0.2.100"
_REASON = unavailable_reason()
needs_lab = pytest.mark.skipif(_REASON is not None, reason=_REASON or "")
_made: list[str] = []  # every namespace this module's labs created, checked at the end

_SEND_FRAME = textwrap.dedent("""
    import socket, sys
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((sys.argv[1], 0))
    s.send(bytes.fromhex(sys.argv[2]))
""")


@pytest.fixture
def lab(vrrp_lab: LabFactory) -> Lab:
    made = vrrp_lab(nodes=2, prefix=PREFIX)
    _made.extend(made.namespaces)
    return made


def _netns() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10, check=True)
    return {line.split()[0] for line in out.stdout.splitlines() if line.strip()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def _ether(dst: bytes, src: bytes, ethertype: int, body: bytes) -> bytes:
    return dst + src + struct.pack("!H", ethertype) + body


def _garp(mac: str, ip: str) -> bytes:
    addr = socket.inet_aton(ip)
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + _mac(mac) + addr + bytes(6) + addr
    return _ether(b"\xff" * 6, _mac(mac), 0x0806, arp)


def _vrrp_frame(mac: str, src: str, vrid: int, prio: int, vips: list[str]) -> bytes:
    body = struct.pack("!BBBBBBH", 0x21, vrid, prio, len(vips), 0, 1, 0)
    body += b"".join(socket.inet_aton(v) for v in vips) + bytes(8)
    body = body[:6] + struct.pack("!H", checksum(body)) + body[8:]
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 0, 0, 255, 112, 0,
        socket.inet_aton(src), socket.inet_aton("224.0.0.18"),
    )  # fmt: skip
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return _ether(bytes.fromhex("01005e000012"), _mac(mac), 0x0800, ip + body)


def _send_frame(lab: Lab, node: str, frame: bytes) -> None:
    lab.run(node, [sys.executable, "-c", _SEND_FRAME, "eth0", frame.hex()])


def test_members_reach_each_other_and_the_client(lab: Lab) -> None:
    assert lab.ip("n1") == "192.0.2.11"
    assert lab.ip("n2") == "192.0.2.12"
    assert lab.ip("cl") == "192.0.2.200"
    assert lab.ping(lab.ip("n1"))
    assert lab.ping(lab.ip("n2"))
    assert lab.ping(lab.ip("n2"), src="n1")
    assert lab.ping(lab.ip("cl"), src="n2")
    assert lab.client_arp(lab.ip("n1")) == lab.node_mac("n1")
    lab.flush_client_arp()
    assert lab.client_arp(lab.ip("n1")) is None
    assert not lab.ping("192.0.2.99", timeout=0.2)


def test_cut_link_drops_carrier_and_restore_brings_it_back(lab: Lab) -> None:
    lab.cut_link("n1")
    assert "NO-CARRIER" in lab.run("n1", ["ip", "link", "show", "eth0"]).stdout
    assert not lab.has_carrier("n1")
    assert not lab.ping(lab.ip("n1"), timeout=0.2)
    lab.restore_link("n1")
    assert "NO-CARRIER" not in lab.run("n1", ["ip", "link", "show", "eth0"]).stdout
    assert lab.has_carrier("n1")
    assert lab.ping(lab.ip("n1"), count=5)


def test_partition_keeps_carrier_but_isolates(lab: Lab) -> None:
    lab.partition("n2")
    assert lab.has_carrier("n2")
    assert "NO-CARRIER" not in lab.run("n2", ["ip", "link", "show", "eth0"]).stdout
    assert not lab.ping(lab.ip("n2"), timeout=0.2)
    assert not lab.ping(lab.ip("n1"), src="n2", timeout=0.2)
    assert lab.ping(lab.ip("n1"))  # the rest of the segment is untouched
    lab.heal("n2")
    assert lab.ping(lab.ip("n2"), count=5)


def test_holders_follow_an_address(lab: Lab) -> None:
    assert lab.holders(VIP) == []
    lab.run("n2", ["ip", "addr", "add", f"{VIP}/24", "dev", "eth0"])
    assert lab.holders(VIP) == ["n2"]
    assert f"{VIP}/24" in lab.addresses("n2")
    assert lab.addresses("n1") == ["192.0.2.11/24"]
    lab.run("n2", ["ip", "addr", "del", f"{VIP}/24", "dev", "eth0"])
    assert lab.holders(VIP) == []


def test_capture_sees_garp_vrrp_and_echo_with_kernel_times(lab: Lab) -> None:
    mac1 = lab.node_mac("n1")
    cap = lab.capture()
    before = time.time()
    _send_frame(lab, "n1", _garp(mac1, VIP))
    _send_frame(lab, "n1", _vrrp_frame(mac1, lab.ip("n1"), vrid=51, prio=150, vips=[VIP]))
    assert lab.ping(lab.ip("n2"))
    assert cap.wait_for(lambda e: isinstance(e, IcmpEvent) and not e.is_request) is not None
    events = cap.stop()
    after = time.time()

    assert [e.time for e in events] == sorted(e.time for e in events)
    assert all(before - 0.5 <= e.time <= after for e in events)
    garps = [e for e in events if isinstance(e, ArpEvent) and e.gratuitous]
    assert len(garps) == 1
    assert (garps[0].sender_mac, garps[0].sender_ip, garps[0].op) == (mac1, VIP, 1)
    (adv,) = [e for e in events if isinstance(e, VrrpEvent)]
    assert (adv.vrid, adv.priority, adv.advert_int, adv.addresses) == (51, 150, 1, (VIP,))
    assert (adv.src_ip, adv.dst_ip, adv.ttl, adv.src_mac) == (lab.ip("n1"), "224.0.0.18", 255, mac1)
    echoes = [e for e in events if isinstance(e, IcmpEvent)]
    assert [(e.src, e.dst, e.is_request) for e in echoes] == [
        ("192.0.2.200", "192.0.2.12", True),
        ("192.0.2.12", "192.0.2.200", False),
    ]
    assert echoes[0].id == echoes[1].id and echoes[0].seq == echoes[1].seq
    assert cap.stop() == events  # stopping twice is harmless


def test_spawned_process_logs_signals_and_exit_code(lab: Lab) -> None:
    proc = lab.spawn("n1", ["sh", "-c", "echo started in $(ip -br addr show eth0); exec sleep 30"])
    deadline = time.monotonic() + 5
    while "started" not in proc.log_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "192.0.2.11/24" in proc.log_text()
    assert proc.poll() is None and _alive(proc.pid)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(5) == -signal.SIGTERM
    assert lab.run("n1", ["false"], check=False).returncode == 1
    with pytest.raises(LabError, match="rc=1"):
        lab.run("n1", ["false"])


@needs_lab
def test_teardown_removes_everything_even_when_the_body_raises() -> None:
    lab = Lab(nodes=2, prefix=PREFIX)
    with pytest.raises(RuntimeError, match="boom"), lab:
        names = set(lab.namespaces)
        _made.extend(names)
        assert names <= _netns()
        proc = lab.spawn("n2", ["sleep", "30"])
        raise RuntimeError("boom")
    assert not names & _netns()
    assert proc.poll() is not None and not _alive(proc.pid)
    assert lab.teardown_errors == []
    lab.close()  # idempotent


def test_two_labs_side_by_side_do_not_collide(vrrp_lab: LabFactory) -> None:
    a = vrrp_lab(nodes=1, prefix=PREFIX)
    b = vrrp_lab(nodes=1, prefix=PREFIX)
    _made.extend(a.namespaces + b.namespaces)
    assert not set(a.namespaces) & set(b.namespaces)
    assert a.ip("n1") == b.ip("n1")
    a.run("n1", ["ip", "addr", "add", f"{VIP}/24", "dev", "eth0"])
    assert (a.holders(VIP), b.holders(VIP)) == (["n1"], [])
    cap = b.capture()
    assert a.ping(a.ip("n1"))
    a.partition("n1")
    assert not a.ping(a.ip("n1"), timeout=0.2)
    assert b.ping(b.ip("n1"))
    assert [(e.src, e.dst) for e in cap.stop() if isinstance(e, IcmpEvent)] == [
        ("192.0.2.200", "192.0.2.11"),
        ("192.0.2.11", "192.0.2.200"),
    ]


@needs_lab
def test_sigterm_tears_the_lab_down() -> None:
    script = textwrap.dedent(f"""
        import json, time
        from vrrpd.testing.lab import Lab
        lab = Lab(nodes=1, prefix={PREFIX!r}).start()
        proc = lab.spawn("n1", ["sleep", "30"])
        print(json.dumps({{"ns": lab.namespaces, "pid": proc.pid}}), flush=True)
        time.sleep(30)
    """)
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert child.stdout is not None
        info = json.loads(child.stdout.readline())  # bounded: the child exits within 30 s
        assert set(info["ns"]) <= _netns()
        child.send_signal(signal.SIGTERM)
        assert child.wait(15) == -signal.SIGTERM
        assert not set(info["ns"]) & _netns()
        assert not _alive(info["pid"])
    finally:
        child.kill()
        child.wait(5)


def test_errors_are_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(LabError, match="documentation nets"):
        Lab(subnet="10.0.0.0/24")
    with pytest.raises(LabError, match="1 to 32"):
        Lab(nodes=0)
    lab = Lab(prefix=PREFIX)
    with pytest.raises(LabError, match="unknown lab member"):
        lab.ns("n9")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(LabError, match="the lab needs root: network namespaces"):
        lab.start()


@pytest.mark.parametrize("frame", [b"", b"\x00" * 13, b"\xff" * 14 + b"\x08\x00", bytes(60)])
def test_parser_ignores_junk(frame: bytes) -> None:
    assert parse_frame(frame, 0.0) is None


def test_zz_no_lab_namespace_left_behind() -> None:
    # Runs last in this module (file order): every lab made above must be gone.
    assert not set(_made) & _netns()


# What a new namespace copies from a router host (net.core.devconf_inherit_init_net=0 copies the host's IPv4
# settings); a test cannot change the host's own, so the lab's namespaces are given them on creation.
_FORWARDING_HOST = (
    "echo 1 > /proc/sys/net/ipv4/ip_forward;"
    " for c in all default; do echo 2 > /proc/sys/net/ipv4/conf/$c/rp_filter;"
    " echo 1 > /proc/sys/net/ipv4/conf/$c/accept_local; echo 1 > /proc/sys/net/ipv4/conf/$c/arp_accept;"
    " echo 1 > /proc/sys/net/ipv4/conf/$c/promote_secondaries;"
    " echo 1 > /proc/sys/net/ipv6/conf/$c/forwarding; done"
)


def test_lab_namespaces_are_sealed_on_a_forwarding_host(
    vrrp_lab: LabFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: on a host with ip_forward=1 the backup forwarded the client's packets for the VIP to the
    # master, so "a backup answers nothing" (test_wire_conformance_netns) failed there and passed here.
    real_run = lab_module._run

    def inheriting_run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        proc = real_run(argv, **kwargs)  # type: ignore[arg-type]
        if list(argv[:3]) == ["ip", "netns", "add"]:
            real_run(["ip", "netns", "exec", argv[3], "sh", "-c", _FORWARDING_HOST])
        return proc

    monkeypatch.setattr(lab_module, "_run", inheriting_run)
    lab = vrrp_lab(nodes=2)
    monkeypatch.undo()
    for member in lab.members:
        script = "".join(f'echo "{k}=$(cat /proc/sys/{k})";' for k in lab_module.SEALED_SYSCTLS)
        got = dict(ln.split("=", 1) for ln in lab.run(member, ["sh", "-c", script]).stdout.splitlines())
        assert got == lab_module.SEALED_SYSCTLS, member
    # The symptom itself: n1 holds the VIP, the client is pointed at n2 (a backup) for it.
    vip = "192.0.2.100"
    lab.run("n1", ["ip", "addr", "add", f"{vip}/24", "dev", "eth0"])
    lab.run(
        "cl", ["ip", "neigh", "replace", vip, "lladdr", lab.node_mac("n2"), "dev", "eth0", "nud", "permanent"]
    )
    assert not lab.ping(vip, count=2, timeout=0.5), "n2 forwarded the client's packet to the master"
    lab.run(
        "cl", ["ip", "neigh", "replace", vip, "lladdr", lab.node_mac("n1"), "dev", "eth0", "nud", "permanent"]
    )
    assert lab.ping(vip, count=2, timeout=0.5)  # the path itself works

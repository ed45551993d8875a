"""Helpers for the robustness tests and campaigns: hostile frames, sockets inside lab namespaces, a holder
probe cheap enough to sample every 100 ms, and a daemon's resource figures.

* `netns_call` runs a function with the calling thread switched into a lab namespace (setns on a helper
  thread: the test process itself never leaves its own namespace). A socket made there stays there.
* `Injector` is an AF_PACKET socket on a lab member's eth0 (normally the client): `send` one frame,
  `flood` pre-built frames at a bounded rate for a bounded time. Nothing it sends leaves the lab.
* `vrrp_frame` crafts an Ethernet/IPv4/VRRP frame with scapy (a test-only dependency), every field
  settable, so each RFC 3768 §7.1 violation is one keyword.
* `HolderProbe` dumps IPv4 addresses over rtnetlink in each node's namespace (~100 µs, no subprocess).
* `proc_figures` reads /proc: CPU seconds (utime + stime), VmRSS, open descriptors, threads.
* `drop_totals` / `drop_lines` read the daemon's rate-limited `packet_dropped` / `advert_dropped` lines.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any, TypeVar

from vrrpd.testing.lab import Lab

T = TypeVar("T")

CLONE_NEWNET = 0x40000000
VRRP_GROUP_MAC = "01:00:5e:00:00:12"
CLIENT_MAC = "02:00:00:00:00:c8"  # the lab gives the client this address
THREAD_TIMEOUT = 10.0

_libc = ctypes.CDLL(None, use_errno=True)


def netns_call(ns: str, fn: Callable[[], T]) -> T:
    """Run `fn()` on a helper thread that has joined the named network namespace; return its result."""
    box: list[Any] = []

    def run() -> None:
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        target = os.open(f"/run/netns/{ns}", os.O_RDONLY | os.O_CLOEXEC)
        try:
            if _libc.setns(target, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns({ns}): {os.strerror(err)}")
            try:
                box.append(fn())
            finally:
                _libc.setns(own, CLONE_NEWNET)  # the thread ends anyway; be tidy
        except BaseException as exc:  # handed to the caller's thread below
            box.append(exc)
        finally:
            os.close(own)
            os.close(target)

    thread = threading.Thread(target=run, name=f"netns-{ns}", daemon=True)
    thread.start()
    thread.join(THREAD_TIMEOUT)
    if not box:
        raise TimeoutError(f"netns_call({ns}) did not finish in {THREAD_TIMEOUT}s")
    if isinstance(box[0], BaseException):
        raise box[0]
    result: T = box[0]
    return result


# ---------------------------------------------------------------------------------------------------------
# Frames


def vrrp_frame(
    src: str,
    *,
    dst: str = "224.0.0.18",
    dst_mac: str = VRRP_GROUP_MAC,
    src_mac: str = CLIENT_MAC,
    ttl: int = 255,
    vrid: int = 51,
    priority: int = 254,
    addresses: Sequence[str] = ("192.0.2.100",),
    advert_int: int = 1,
    auth_type: int = 0,
    password: bytes = b"",
    version: int = 2,
    vrrp_type: int = 1,
    bad_checksum: bool = False,
    vrrp_bytes: int | None = None,
) -> bytes:
    """One Ethernet frame carrying a VRRP advert, every field chosen by the caller.

    Defaults are a well-formed priority-254 advert for VRID 51 from `src`: whatever the caller breaks,
    the advert would otherwise outrank any master, so accepting it by mistake shows as a takeover.
    `vrrp_bytes` cuts the VRRP message to that many bytes (the IP header's length says so too: a
    truncated advert, not a lying IP header, which the kernel drops before we see it).
    """
    from scapy.layers.inet import IP
    from scapy.layers.l2 import Ether
    from scapy.layers.vrrp import VRRP

    auth = password.ljust(8, b"\x00")[:8]
    vrrp = VRRP(
        version=version,
        type=vrrp_type,
        vrid=vrid,
        priority=priority,
        authtype=auth_type,
        adv=advert_int,
        addrlist=list(addresses),
        auth1=int.from_bytes(auth[:4], "big"),
        auth2=int.from_bytes(auth[4:], "big"),
    )
    payload = bytes(vrrp)
    if bad_checksum:
        payload = payload[:6] + struct.pack("!H", struct.unpack("!H", payload[6:8])[0] ^ 0x5A5A) + payload[8:]
    if vrrp_bytes is not None:
        payload = payload[:vrrp_bytes]
    ip = IP(src=src, dst=dst, ttl=ttl, proto=112, tos=0xC0)
    return bytes(Ether(src=src_mac, dst=dst_mac, type=0x0800) / ip / payload)


def vrrp3_frame(
    src: str,
    *,
    vrid: int = 51,
    priority: int = 254,
    addresses: Sequence[str] = ("192.0.2.100",),
    centiseconds: int = 100,
) -> bytes:
    """A well-formed VRRPv3 (RFC 5798) advert: what a v3 router on the segment sends a v2-only router."""
    from scapy.layers.inet import IP
    from scapy.layers.l2 import Ether
    from scapy.layers.vrrp import VRRPv3

    v3 = VRRPv3(vrid=vrid, priority=priority, adv=centiseconds, addrlist=list(addresses))
    ip = IP(src=src, dst="224.0.0.18", ttl=255, proto=112, tos=0xC0)
    return bytes(Ether(src=CLIENT_MAC, dst=VRRP_GROUP_MAC, type=0x0800) / ip / v3)


def ip_frame(src: str, payload: bytes, *, dst: str = "224.0.0.18", dst_mac: str = VRRP_GROUP_MAC) -> bytes:
    """Any payload as IPv4 protocol 112, TTL 255: random garbage that reaches the daemon's decoder."""
    from scapy.layers.inet import IP
    from scapy.layers.l2 import Ether

    return bytes(Ether(src=CLIENT_MAC, dst=dst_mac) / IP(src=src, dst=dst, ttl=255, proto=112) / payload)


# ---------------------------------------------------------------------------------------------------------
# Sending


@dataclass(frozen=True)
class FloodResult:
    sent: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


class Injector:
    """Raw Ethernet frames out of a lab member's interface (the client by default)."""

    def __init__(self, lab: Lab, member: str = "cl", iface: str = "eth0") -> None:
        def make() -> socket.socket:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)  # proto 0: send only, never queue
            sock.bind((iface, 0))
            return sock

        self._sock = netns_call(lab.ns(member), make)

    def send(self, frame: bytes, count: int = 1, gap: float = 0.0) -> None:
        for i in range(count):
            self._sock.send(frame)
            if gap and i + 1 < count:
                time.sleep(gap)

    def flood(self, frames: Sequence[bytes], rate: float, seconds: float) -> FloodResult:
        """Send `frames` round-robin at `rate` per second for `seconds` (at most rate × seconds frames).

        Paced in batches of 1/200 s; if the sender falls behind it does not catch up in a burst, and it
        stops at `seconds` + 1 whatever happened.
        """
        total = int(rate * seconds)
        batch = max(1, int(rate / 200))
        start = time.monotonic()
        sent = 0
        while sent < total:
            now = time.monotonic()
            if now - start > seconds + 1.0:
                break
            due = start + sent / rate
            if now < due:
                time.sleep(due - now)
            for i in range(min(batch, total - sent)):
                try:
                    self._sock.send(frames[(sent + i) % len(frames)])
                except BlockingIOError:  # the veth queue is full: that frame is simply not sent
                    continue
            sent += min(batch, total - sent)
        return FloodResult(sent, time.monotonic() - start)

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Injector:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------------------
# Who holds an address: rtnetlink dumps, one socket per node namespace

_NLMSG = struct.Struct("=IHHII")
_IFADDRMSG = struct.Struct("=BBBBI")
_RTATTR = struct.Struct("=HH")
RTM_NEWADDR, RTM_GETADDR = 20, 22
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
IFA_ADDRESS, IFA_LOCAL = 1, 2


class HolderProbe:
    """`holders(ip)` like `Lab.holders`, at ~100 µs per node instead of one `ip` process per node."""

    def __init__(self, lab: Lab, nodes: Iterable[str] | None = None) -> None:
        self.nodes = list(nodes if nodes is not None else lab.nodes)
        self._socks: dict[str, socket.socket] = {}
        self._seq = 0
        self._lock = threading.Lock()  # the sampler thread and the test share the sockets
        for node in self.nodes:
            self._socks[node] = netns_call(lab.ns(node), self._open)

    @staticmethod
    def _open() -> socket.socket:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        sock.settimeout(2.0)
        sock.bind((0, 0))
        return sock

    def addresses(self, node: str) -> set[str]:
        """Every IPv4 address configured in the node's namespace (any interface, loopback included)."""
        with self._lock:
            for _ in range(3):  # a dump interrupted by a concurrent change is asked again
                try:
                    return self._dump(node)
                except InterruptedError:
                    continue
            return self._dump(node)

    def _dump(self, node: str) -> set[str]:
        sock = self._socks.get(node)
        if sock is None:
            raise OSError(f"{node}: the probe is closed")
        self._seq += 1
        body = _IFADDRMSG.pack(socket.AF_INET, 0, 0, 0, 0)
        sock.send(
            _NLMSG.pack(_NLMSG.size + len(body), RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, self._seq, 0) + body
        )
        found: set[str] = set()
        while True:
            data = sock.recv(65536)
            off = 0
            while off + _NLMSG.size <= len(data):
                length, kind, _flags, seq, _pid = _NLMSG.unpack_from(data, off)
                if length < _NLMSG.size:
                    return found
                if seq == self._seq:
                    if kind == NLMSG_DONE:
                        return found
                    if kind == NLMSG_ERROR:
                        (code,) = struct.unpack_from("=i", data, off + _NLMSG.size)
                        if -code == errno.EINTR:
                            raise InterruptedError(f"address dump in {node} interrupted")
                        raise OSError(-code, f"netlink address dump failed in {node}: {os.strerror(-code)}")
                    if kind == RTM_NEWADDR:
                        found |= self._parse(data[off + _NLMSG.size : off + length])
                off += (length + 3) & ~3

    @staticmethod
    def _parse(msg: bytes) -> set[str]:
        attrs: dict[int, bytes] = {}
        off = _IFADDRMSG.size
        while off + _RTATTR.size <= len(msg):
            length, kind = _RTATTR.unpack_from(msg, off)
            if length < _RTATTR.size:
                break
            attrs[kind] = msg[off + _RTATTR.size : off + length]
            off += (length + 3) & ~3
        raw = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
        return {str(IPv4Address(raw))} if raw and len(raw) == 4 else set()

    def holders(self, ip: str) -> list[str]:
        return [n for n in self.nodes if ip in self.addresses(n)]

    def close(self) -> None:
        with self._lock:
            for sock in self._socks.values():
                sock.close()
            self._socks.clear()


class HolderSampler:
    """Samples `HolderProbe.holders(vip)` every `period` seconds on a thread: (monotonic time, holders)."""

    def __init__(self, probe: HolderProbe, vip: str, period: float = 0.1) -> None:
        self.probe, self.vip, self.period = probe, vip, period
        self.samples: list[tuple[float, tuple[str, ...]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="holder-sampler", daemon=True)
        self.errors = 0

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                self.samples.append((time.monotonic(), tuple(self.probe.holders(self.vip))))
            except OSError:  # a node namespace being rebuilt, or the probe closed: count it, keep going
                self.errors += 1
                if not self.probe._socks:
                    return
            next_at += self.period
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def start(self) -> HolderSampler:
        self._thread.start()
        return self

    def stop(self) -> list[tuple[float, tuple[str, ...]]]:
        self._stop.set()
        self._thread.join(5.0)
        return self.samples

    def since(self, t: float) -> list[tuple[str, ...]]:
        return [h for at, h in list(self.samples) if at >= t]


# ---------------------------------------------------------------------------------------------------------
# Daemon figures and logs


@dataclass(frozen=True)
class ProcFigures:
    cpu_seconds: float  # utime + stime
    rss_kb: int
    fds: int
    threads: int


def proc_figures(pid: int) -> ProcFigures:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": state is field 0
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    rss = int(status["VmRSS"].split()[0])
    threads = int(status["Threads"].strip())
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return ProcFigures(cpu, rss, fds, threads)


def daemon_status(socket_path: str | Path) -> dict[str, Any] | None:
    """`vrrpd status --json` over the control socket, or None if the daemon does not answer it (yet)."""
    try:
        from vrrpd.ops.control import ControlError, request
    except ImportError:  # the control socket has not landed in this tree
        return None
    try:
        result = request(socket_path, "status", timeout=3.0)
    except (ControlError, OSError):
        return None
    return result if isinstance(result, dict) else None


def status_drops(status: dict[str, Any]) -> Counter[str]:
    """Every drop counter in a status document, interface-level and instance-level, by reason."""
    totals: Counter[str] = Counter()
    for iface in status.get("interfaces", []):
        totals.update({str(k): int(v) for k, v in iface.get("drops", {}).items()})
    for inst in status.get("instances", []):
        totals.update({str(k): int(v) for k, v in inst.get("counters", {}).get("drops", {}).items()})
    return totals


DROP_EVENTS = ("packet_dropped", "advert_dropped")


def drop_lines(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e.get("event") in DROP_EVENTS]


def drop_reason(line: dict[str, Any]) -> str:
    """The reason of a drop line: its `reason` field, else the part of its rate-limit key after ':'."""
    reason = line.get("reason")
    if isinstance(reason, str):
        return reason
    key = str(line.get("key", ""))
    return key.split(":", 1)[1] if ":" in key else key


def drop_totals(events: Iterable[dict[str, Any]]) -> Counter[str]:
    """Drops per reason as the rate-limited lines account for them.

    A line that reports a hit carries the packet's fields (interface / source) and stands for that hit
    plus `suppressed` earlier ones; a summary line (a flush) carries only `suppressed`.
    """
    totals: Counter[str] = Counter()
    for line in drop_lines(events):
        hit = 1 if ("interface" in line or "source" in line or "instance" in line) else 0
        totals[drop_reason(line)] += hit + int(line.get("suppressed", 0))
    return totals


# ---------------------------------------------------------------------------------------------------------
# Judging a run of holder samples


@dataclass(frozen=True)
class Stretch:
    """A run of consecutive samples without exactly one holder."""

    start: float
    seconds: float  # from the first bad sample to the first good one after it (or the last sample)
    holders: int  # 0, or the largest number of holders seen in the run


def bad_stretches(samples: Sequence[tuple[float, tuple[str, ...]]]) -> list[Stretch]:
    """Every maximal run of samples with zero or several holders, and how long it lasted."""
    out: list[Stretch] = []
    start: float | None = None
    worst = 0
    for at, holders in samples:
        if len(holders) == 1:
            if start is not None:
                out.append(Stretch(start, at - start, worst))
                start = None
            continue
        if start is None:
            start, worst = at, len(holders)
        elif holders:
            worst = max(worst, len(holders))
    if start is not None and samples:
        out.append(Stretch(start, samples[-1][0] - start, worst))
    return out


def wait_single(
    probe: HolderProbe, vip: str, node: str | None, timeout: float, *, other_than: str | None = None
) -> float | None:
    """Seconds until `node` (or any node but `other_than`) is the only holder of `vip`, or None."""
    t0 = time.monotonic()
    while True:
        holders = probe.holders(vip)
        if len(holders) == 1 and (node is None or holders[0] == node) and holders[0] != other_than:
            return time.monotonic() - t0
        if time.monotonic() - t0 >= timeout:
            return None
        time.sleep(0.02)


# ---------------------------------------------------------------------------------------------------------
# Lab faults the Lab class does not offer


def delete_interface(lab: Lab, node: str) -> None:
    """`ip link del eth0` in the node: the veth pair goes, with every address on it."""
    lab.run(node, ["ip", "link", "del", "eth0"])


def recreate_interface(lab: Lab, node: str) -> None:
    """Build the node's eth0 again as the lab did (same MAC, port and address): a new ifindex."""
    index = lab.nodes.index(node) + 1
    sw = lab.ns(lab.switch)
    lab.run(node, ["ip", "link", "add", "eth0", "address", f"02:00:00:00:00:{index:02x}", "type", "veth",
                   "peer", "name", f"p{index}", "netns", sw])  # fmt: skip
    lab.run(lab.switch, ["ip", "link", "set", f"p{index}", "master", "br0", "up"])
    lab.run(node, ["ip", "addr", "add", f"{lab.ip(node)}/{lab.subnet.prefixlen}", "dev", "eth0"])
    lab.run(node, ["ip", "link", "set", "eth0", "up"])


def namespace_commands(lab: Lab, member: str) -> list[str]:
    """The command line of every process in a member's namespace (to find leftovers)."""
    out = []
    for pid in lab.run(member, ["ip", "netns", "pids", lab.ns(member)], check=False).stdout.split():
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        out.append(raw.replace(b"\x00", b" ").decode(errors="replace").strip())
    return out


# ---------------------------------------------------------------------------------------------------------
# `python -m tests.support.hostile [fault options] -- <vrrpd arguments>`: the real daemon with a fault
# injected at
# one of its boundaries, for the namespace tests and the soak.


def _refuse_vip_adds(count: int) -> None:
    """The kernel refuses the next `count` VIP adds with EPERM, at the batch boundary the daemon uses."""
    from vrrpd.kernel import netlink

    original = netlink.Netlink.add_addresses
    left = [count]

    async def refusing(
        self: netlink.Netlink, ifindex: int, addrs: Sequence[Any], options: Any = None
    ) -> dict[Any, int]:
        refused = {a: errno.EPERM for a in addrs[: left[0]]}
        left[0] -= len(refused)
        rest = [a for a in addrs if a not in refused]
        return refused | (await original(self, ifindex, rest, options) if rest else {})

    netlink.Netlink.add_addresses = refusing  # type: ignore[method-assign]


def _refuse_vip_adds_while(flag: str) -> None:
    """The kernel refuses every VIP add with EPERM while the file `flag` exists (CAP_NET_ADMIN lost)."""
    from vrrpd.kernel import netlink

    original = netlink.Netlink.add_addresses

    async def refusing(
        self: netlink.Netlink, ifindex: int, addrs: Sequence[Any], options: Any = None
    ) -> dict[Any, int]:
        if os.path.exists(flag):  # noqa: ASYNC240 - one stat() per VIP batch, in a test fault injector
            return dict.fromkeys(addrs, errno.EPERM)
        return await original(self, ifindex, addrs, options)

    netlink.Netlink.add_addresses = refusing  # type: ignore[method-assign]


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m tests.support.hostile", description="vrrpd with an injected fault"
    )
    parser.add_argument(
        "--refuse-vip-add", type=int, default=0, metavar="N", help="fail the first N VIP adds"
    )
    parser.add_argument("--refuse-vip-add-while", metavar="FILE", help="fail every VIP add while FILE exists")
    parser.add_argument("vrrpd_args", nargs=argparse.REMAINDER, help="-- then the vrrpd command line")
    args = parser.parse_args(argv)
    if args.refuse_vip_add:
        _refuse_vip_adds(args.refuse_vip_add)
    if args.refuse_vip_add_while:
        _refuse_vip_adds_while(args.refuse_vip_add_while)
    from vrrpd.cli.main import main as vrrpd_main

    rest = args.vrrpd_args[1:] if args.vrrpd_args[:1] == ["--"] else args.vrrpd_args
    if not rest:
        parser.error("no vrrpd arguments")
    return vrrpd_main(list(rest))


if __name__ == "__main__":
    import sys

    sys.exit(main())

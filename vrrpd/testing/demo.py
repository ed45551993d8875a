"""`vrrpd lab`: the namespace demo — election, a client reaching the VIP, a link cut, the failover timeline.

Builds a 3-node lab plus a client (`vrrpd.testing.Lab`), runs a real `vrrpd run` in each node, lets them
elect, cuts the master's link and prints, in milliseconds from the old master's last advertisement, what
the wire showed: the new master's first advert, its first gratuitous ARP, the first echo reply the client
got through the VIP. Everything is torn down at the end, also on error or Ctrl-C.

Also `python -m vrrpd.testing.demo pinger DST SECONDS INTERVAL`: the client-side echo sender the demo runs (it
only sends; the capture on the bridge sees the replies).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vrrpd.protocol.fsm import master_down_interval
from vrrpd.testing.icmp import echo_request
from vrrpd.testing.lab import Lab, LabError, Process
from vrrpd.testing.sniff import ArpEvent, Event, IcmpEvent, VrrpEvent

VIP = "192.0.2.100"
VRID = 51
PRIORITIES = (150, 100, 50)
ELECTION_TIMEOUT = 15.0


@dataclass(frozen=True)
class Timeline:
    """Failover milestones, seconds since the old master's last advert (None: not seen)."""

    old_master: str
    new_master: str
    last_old_advert: float
    first_new_advert: float | None
    first_garp: float | None
    first_reply: float | None


def node_config(lab: Lab, node: str, priority: int) -> str:
    """The TOML config the demo gives one node."""
    return f"""\
[global]
router_id = "{node}"
control_socket = "{lab.log_dir}/{node}.sock"

[[vrrp_instance]]
name = "VI_demo"
interface = "eth0"
virtual_router_id = {VRID}
priority = {priority}
advert_int = 1
virtual_ipaddress = ["{VIP}/24"]
garp_master_delay = 0
"""


def start_daemons(lab: Lab, priorities: Sequence[int]) -> dict[str, Process]:
    """Write each node's config and start `vrrpd run` in it (JSON logs into the lab's log dir)."""
    procs = {}
    for node, prio in zip(lab.nodes, priorities, strict=True):
        path = Path(lab.log_dir) / f"{node}.toml"
        path.write_text(node_config(lab, node, prio))
        procs[node] = lab.spawn(
            node,
            [sys.executable, "-m", "vrrpd", "run", "--config", str(path)],
            env={"VRRPD_LOG_FORMAT": "json"},
            log_path=Path(lab.log_dir) / f"{node}-vrrpd.log",
        )
    return procs


def wait_single_holder(lab: Lab, vip: str, timeout: float, exclude: str | None = None) -> str:
    """Poll until exactly one node (other than `exclude`) holds `vip`; bounded by `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        holders = [h for h in lab.holders(vip) if h != exclude]
        if len(holders) == 1:
            return holders[0]
        time.sleep(0.05)
    raise LabError(f"no single holder of {vip} after {timeout:g}s (holders: {lab.holders(vip)})")


def timeline(events: Sequence[Event], lab: Lab, old: str, new: str, vip: str) -> Timeline:
    """Reduce a capture to the failover milestones."""
    old_ip, new_ip, new_mac = lab.ip(old), lab.ip(new), lab.node_mac(new)
    adverts = [e for e in events if isinstance(e, VrrpEvent) and e.vrid == VRID]
    first_new = next((e.time for e in adverts if e.src_ip == new_ip), None)
    before = [e.time for e in adverts if e.src_ip == old_ip and (first_new is None or e.time < first_new)]
    if not before:
        raise LabError("the capture holds no advert of the old master before the failover")
    t0 = before[-1]
    garp = next(
        (
            e.time
            for e in events
            if isinstance(e, ArpEvent) and e.gratuitous and e.sender_ip == vip and e.sender_mac == new_mac
        ),
        None,
    )
    after = first_new or t0
    reply = next(
        (
            e.time
            for e in events
            if isinstance(e, IcmpEvent) and e.type == 0 and e.src == vip and e.time > after
        ),
        None,
    )

    def rel(t: float | None) -> float | None:
        return None if t is None else t - t0

    return Timeline(old, new, 0.0, rel(first_new), rel(garp), rel(reply))


def _ms(value: float | None) -> str:
    return "not seen" if value is None else f"{value * 1000:9.1f} ms"


def main(nodes: int = 3) -> int:
    """Run the demo; return 0 when the failover happened as the protocol says."""
    if not 2 <= nodes <= len(PRIORITIES):
        print(f"vrrpd lab: --nodes must be 2..{len(PRIORITIES)}", file=sys.stderr)
        return 2
    try:
        with Lab(nodes=nodes, prefix="vrrpdemo") as lab:
            return _demo(lab, PRIORITIES[:nodes])
    except LabError as exc:
        print(f"vrrpd lab: {exc}", file=sys.stderr)
        return 1


def _demo(lab: Lab, priorities: Sequence[int]) -> int:
    print(f"lab: {len(lab.nodes)} nodes + client on {lab.subnet} (namespaces {lab.prefix}-{lab.id}-*)")
    for node, prio in zip(lab.nodes, priorities, strict=True):
        print(f"  {node}  {lab.ip(node):<13} mac {lab.node_mac(node)}  priority {prio}")
    procs = start_daemons(lab, priorities)
    started = time.monotonic()
    master = wait_single_holder(lab, VIP, ELECTION_TIMEOUT)
    print(f"election: {master} holds {VIP} after {time.monotonic() - started:.2f}s (VRID {VRID})")
    reachable = lab.ping(VIP, count=3, timeout=1.0)
    print(f"client: ping {VIP} -> {'reply' if reachable else 'NO REPLY'}; ARP {lab.client_arp(VIP)}")

    capture = lab.capture()
    pinger = lab.spawn(
        lab.client, [sys.executable, "-m", "vrrpd.testing.demo", "pinger", VIP, "8", "0.01"]
    )  # sends only; replies are seen on the bridge
    time.sleep(1.5)  # at least one regular advert of the master in the capture
    print(f"cut: {master}'s link (carrier lost)")
    lab.cut_link(master)
    new = wait_single_holder(lab, VIP, ELECTION_TIMEOUT, exclude=master)
    time.sleep(1.0)  # let the GARPs and a few echo replies reach the capture
    pinger.kill()
    events = capture.stop()
    prio = priorities[lab.nodes.index(new)]
    bound = master_down_interval(1, prio)
    tl = timeline(events, lab, master, new, VIP)
    mdi = f"Master_Down_Interval at priority {prio}: {bound * 1e3:.1f} ms"
    print(f"failover timeline ({master} -> {new}; {mdi})")
    print(f"  last advert of old master {master}   {_ms(tl.last_old_advert)}")
    print(f"  first advert of new master {new}  {_ms(tl.first_new_advert)}")
    print(f"  first gratuitous ARP for {VIP}  {_ms(tl.first_garp)}")
    print(f"  first echo reply to the client   {_ms(tl.first_reply)}")
    arp = lab.client_arp(VIP)
    print(
        f"client ARP for {VIP}: {arp} ({'new master' if arp == lab.node_mac(new) else 'NOT the new master'})"
    )
    for proc in procs.values():
        proc.terminate()
    for proc in procs.values():
        proc.wait(timeout=5)
    ok = (
        tl.first_new_advert is not None
        and tl.first_new_advert <= bound + 0.05
        and tl.first_reply is not None
        and arp == lab.node_mac(new)
    )
    print("result:", "OK" if ok else "UNEXPECTED (see the logs above)")
    print(f"logs: {lab.log_dir} (removed with the lab)" if ok else f"logs kept in {lab.log_dir}")
    return 0 if ok else 1


def pinger(dst: str, seconds: float, interval: float) -> None:
    """Send ICMP echo requests to `dst` every `interval` seconds for `seconds` (bounded)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    ident = os.getpid() & 0xFFFF
    end = time.monotonic() + seconds
    seq = 0
    while time.monotonic() < end and seq < 65535:
        seq += 1
        with contextlib.suppress(OSError):  # no ARP answer yet: the next one tries again
            sock.sendto(echo_request(ident, seq), (dst, 0))
        time.sleep(interval)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "pinger":
        pinger(sys.argv[2], float(sys.argv[3]), float(sys.argv[4]))
    else:
        print("usage: python -m vrrpd.testing.demo pinger DST SECONDS INTERVAL", file=sys.stderr)
        sys.exit(2)

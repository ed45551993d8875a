"""What every scenario needs from a lab beyond `vrrpd.testing.Lab`: bounded waits, VIP counting, a pinger."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

from vrrpd.testing.lab import Lab, LabError, Process, wait_until

# Benchmark labs are named <prefix>-<id>-*: $VRRPD_LAB_PREFIX on a shared machine, else "vbe".
LAB_PREFIX = os.environ.get("VRRPD_LAB_PREFIX", "vbe")


def wait_for(predicate: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    """Poll until `predicate` is true or `timeout` seconds pass (at most timeout/step polls)."""
    return wait_until(predicate, timeout, step)


def single_holder(lab: Lab, ip: str) -> str | None:
    holders = lab.holders(ip)
    return holders[0] if len(holders) == 1 else None


def wait_holder(lab: Lab, ip: str, timeout: float, expected: str | None = None) -> str | None:
    """The one node holding `ip` (and `expected`, when given) once that is so; None on timeout."""
    found: list[str] = []

    def ok() -> bool:
        holder = single_holder(lab, ip)
        if holder is not None and expected in (None, holder):
            found.append(holder)
            return True
        return False

    return found[-1] if wait_for(ok, timeout) else None


def count_addresses(lab: Lab, node: str, dev: str | None = "eth0") -> int:
    """IPv4 addresses on the node's `dev` (None: every interface but lo), its own included, via one
    `ip -o addr` run."""
    out = subprocess.run(
        ["ip", "-n", lab.ns(node), "-4", "-o", "addr", "show", *(["dev", dev] if dev else [])],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    ).stdout
    return sum(1 for line in out.splitlines() if " inet " in line and line.split()[1] != "lo")


# Extra segments use the RFC 2544 benchmarking block: 198.18.K.0/24 for segment K (ethK on each node).


def segment_ip(k: int, node_index: int) -> str:
    """The address of node n<node_index> on segment k ≥ 1 (eth<k>), as on eth0: host 10 + index."""
    return f"198.18.{k}.{10 + node_index}"


def add_segments(lab: Lab, count: int) -> list[str]:
    """Give every node `count` more Ethernet segments, eth1..eth<count>, each on its own bridge br<k> in
    the switch namespace (the lab's eth0/br0 stays segment 0); returns the interface names, eth0 first.

    Like the lab's own links, each veth is created inside the node's namespace with its peer put straight
    into the switch's: nothing touches the host's namespace, and the lab's teardown deletes it all.
    """
    sw = lab.ns(lab.switch)

    def ip(ns: str, *args: str) -> None:
        proc = subprocess.run(
            ["ip", "-n", ns, *args], capture_output=True, text=True, timeout=10, check=False
        )
        if proc.returncode != 0:
            raise LabError(f"ip -n {ns} {' '.join(args)}: {proc.stderr.strip()}")

    for k in range(1, count + 1):
        ip(
            sw,
            "link",
            "add",
            f"br{k}",
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
            "mcast_snooping",
            "0",
        )
        ip(sw, "link", "set", f"br{k}", "up")
        for index, node in enumerate(lab.nodes, start=1):
            ns, port = lab.ns(node), f"p{index}s{k}"
            ip(ns, "link", "add", f"eth{k}", "type", "veth", "peer", "name", port, "netns", sw)
            ip(sw, "link", "set", port, "master", f"br{k}", "up")
            ip(ns, "addr", "add", f"{segment_ip(k, index)}/24", "dev", f"eth{k}")
            ip(ns, "link", "set", f"eth{k}", "up")
    return [f"eth{k}" for k in range(count + 1)]


def start_pinger(lab: Lab, dst: str, seconds: float, interval: float) -> Process:
    """Echo requests from the client every `interval` s for `seconds` (the lab demo's send-only pinger).

    Only requests are sent by it; the bridge capture sees the replies, with kernel timestamps.
    """
    argv = [sys.executable, "-m", "vrrpd.testing.demo", "pinger", dst, str(seconds), str(interval)]
    return lab.spawn(lab.client, argv)

"""What every scenario needs from a lab beyond `vrrpd.testing.Lab`: bounded waits, VIP counting, a pinger."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

from vrrpd.testing.lab import Lab, Process, wait_until

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


def count_addresses(lab: Lab, node: str) -> int:
    """IPv4 addresses on the node's eth0 (its own included), via one `ip -o addr` run."""
    out = subprocess.run(
        ["ip", "-n", lab.ns(node), "-4", "-o", "addr", "show", "dev", "eth0"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    ).stdout
    return sum(1 for line in out.splitlines() if " inet " in line)


def start_pinger(lab: Lab, dst: str, seconds: float, interval: float) -> Process:
    """Echo requests from the client every `interval` s for `seconds` (the lab demo's send-only pinger).

    Only requests are sent by it; the bridge capture sees the replies, with kernel timestamps.
    """
    argv = [sys.executable, "-m", "vrrpd.testing.demo", "pinger", dst, str(seconds), str(interval)]
    return lab.spawn(lab.client, argv)

"""Bulk VIPs: from becoming master until every VIP is installed and announced.

A lone node (priority 100) elects itself after Master_Down_Interval; "becoming master" is its first advert
on the wire. "Announced" is read from the bridge capture (the last VIP's first gratuitous ARP, and the
last GARP of the burst); "installed" from `ip -o addr` polled in a loop (each poll's end time: an upper
bound, late by at most one poll period, which is reported).

VRRPv2 carries at most 255 addresses in an advert (the Count IP Addrs field is one byte), so 1,000 VIPs
can only be spread over instances (4 × 250), or carried outside the adverts (`virtual_ipaddress_excluded`,
both implementations: 1 × 255 + 745). The VIPs are /32s from the RFC 2544 benchmarking block
(198.19.0.0/16), so exactly 1,000 fit.
"""

from __future__ import annotations

import dataclasses
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from benchmarks import daemons
from benchmarks.daemons import Impl, Instance
from benchmarks.labtools import LAB_PREFIX, count_addresses, wait_for
from vrrpd.testing.lab import Capture, Lab, LabError
from vrrpd.testing.sniff import ArpEvent, Event, VrrpEvent

MAX_ADVERTISED = 255
POLL_TIMEOUT = 20.0


@dataclass(frozen=True)
class Case:
    impl: Impl
    instances: int
    per_instance: int  # VIPs carried in each instance's adverts
    excluded: int = 0  # extra VIPs in instance 1 outside the adverts (virtual_ipaddress_excluded)

    @property
    def total(self) -> int:
        return self.instances * self.per_instance + self.excluded

    @property
    def label(self) -> str:
        shape = (
            f"{self.instances} × {self.per_instance}" if self.instances > 1 else f"1 × {self.per_instance}"
        )
        return shape + (f" + {self.excluded} excluded" if self.excluded else "")


CASES = (
    Case("vrrpd", 1, 255),
    Case("keepalived", 1, 255),
    Case("vrrpd", 4, 250),
    Case("keepalived", 4, 250),
    Case("vrrpd", 1, 255, excluded=745),
    Case("keepalived", 1, 255, excluded=745),
)


@dataclass(frozen=True)
class BulkRun:
    case: Case
    all_garped: float | None  # first advert → the last VIP's first GARP
    last_garp: float | None  # first advert → the last GARP of the burst
    garped_vips: int  # VIPs that got at least one GARP
    installed: float | None  # first advert → the first poll that saw every VIP (upper bound)
    poll_period: float | None  # median duration of one poll: the resolution of `installed`
    left_behind: int = 0  # VIPs still installed 5 s after SIGTERM (the harness then deletes them)


def pool() -> list[str]:
    """/32 VIPs from 198.19.0.0/16 (RFC 2544), none ending in .0 or .255: 2,032 of them."""
    return [f"198.19.{hi}.{lo}/32" for hi in range(8) for lo in range(1, 255)]


def _instances(case: Case, addresses: Sequence[str]) -> list[Instance]:
    out = []
    for index in range(case.instances):
        chunk = tuple(addresses[index * case.per_instance : (index + 1) * case.per_instance])
        extra = tuple(addresses[case.instances * case.per_instance : case.total]) if index == 0 else ()
        out.append(Instance(f"VI_{index + 1}", 71 + index, 100, chunk, excluded=extra))
    return out


class _Poller(threading.Thread):
    """Counts the node's addresses in a loop until `target` are there (bounded by POLL_TIMEOUT)."""

    def __init__(self, lab: Lab, node: str, target: int) -> None:
        super().__init__(daemon=True)
        self.lab, self.node, self.target = lab, node, target
        self.polls: list[tuple[float, float, int]] = []  # (start, end, count)

    def run(self) -> None:
        deadline = time.monotonic() + POLL_TIMEOUT
        while time.monotonic() < deadline:
            start = time.time()
            count = count_addresses(self.lab, self.node)
            self.polls.append((start, time.time(), count))
            if count >= self.target:
                return


def run(cases: Sequence[Case], repeats: int) -> list[BulkRun]:
    """Each case `repeats` times in one one-node lab."""
    out: list[BulkRun] = []
    with Lab(nodes=1, prefix=LAB_PREFIX) as lab:
        addresses = pool()
        capture = lab.capture()
        windows: list[tuple[Case, float, float, list[tuple[float, float, int]], list[Instance], int]] = []
        for case in cases:
            if case.total > len(addresses):
                raise LabError(f"{case.label}: the VIP pool has only {len(addresses)} addresses")
            for rep in range(repeats):
                instances = _instances(case, addresses)
                poller = _Poller(lab, "n1", case.total + 1)
                poller.start()
                daemon = daemons.start(lab, case.impl, "n1", instances, tag=f"-bulk{len(windows)}-{rep}")
                poller.join(POLL_TIMEOUT + 5.0)
                # Stop only once every VIP was announced (or 15 s passed): a daemon still installing must
                # not be cut short by the harness.
                wanted = {v.split("/")[0] for v in addresses[: case.total]}
                wait_for(_all_garped(capture, wanted, daemon.spawned_at), timeout=15.0, step=0.25)
                time.sleep(0.5)  # the rest of the burst
                daemon.stop()
                wait_for(lambda: count_addresses(lab, "n1") == 1, timeout=5.0, step=0.1)
                left = count_addresses(lab, "n1") - 1
                if left:
                    _delete(lab, "n1", addresses[: case.total])
                windows.append((case, daemon.spawned_at, time.time(), poller.polls, instances, left))
        events = capture.stop()
        own = lab.ip("n1")
    for case, t0, t1, polls, instances, left in windows:
        run = _reduce(case, [e for e in events if t0 <= e.time <= t1], own, polls, instances)
        out.append(dataclasses.replace(run, left_behind=left))
    return out


def _all_garped(capture: Capture, wanted: set[str], since: float) -> Callable[[], bool]:
    def done() -> bool:
        seen = {
            e.sender_ip
            for e in capture.events()
            if isinstance(e, ArpEvent) and e.gratuitous and e.time >= since and e.sender_ip in wanted
        }
        return seen == wanted

    return done


def _delete(lab: Lab, node: str, vips: Sequence[str]) -> None:
    """Remove VIPs a daemon left behind, in one `ip -batch` run (errors for absent ones are ignored)."""
    script = "".join(f"addr del {v} dev eth0\n" for v in vips)
    subprocess.run(
        ["ip", "-n", lab.ns(node), "-force", "-batch", "-"],
        input=script,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _reduce(
    case: Case,
    events: Sequence[Event],
    own: str,
    polls: Sequence[tuple[float, float, int]],
    instances: Sequence[Instance],
) -> BulkRun:
    vrids = {i.vrid for i in instances}
    first = next(
        (e.time for e in events if isinstance(e, VrrpEvent) and e.src_ip == own and e.vrid in vrids), None
    )
    if first is None:
        return BulkRun(case, None, None, 0, None, None)
    wanted = {v.split("/")[0] for i in instances for v in (*i.vips, *i.excluded)}
    first_garp: dict[str, float] = {}
    last = None
    for e in events:
        if isinstance(e, ArpEvent) and e.gratuitous and e.sender_ip in wanted and e.time >= first - 0.05:
            first_garp.setdefault(e.sender_ip, e.time)
            last = e.time
    complete = next((end for _s, end, count in polls if count >= case.total + 1), None)
    durations = sorted(end - start for start, end, _c in polls)
    return BulkRun(
        case,
        max(first_garp.values()) - first if len(first_garp) == len(wanted) else None,
        None if last is None else last - first,
        len(first_garp),
        None if complete is None else complete - first,
        durations[len(durations) // 2] if durations else None,
    )

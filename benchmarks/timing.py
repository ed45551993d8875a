"""Advertisement timing: how regular each implementation's master is at advert_int 1.

One lab, both masters at once so they share the machine's noise: vrrpd alone in VRID 61 on n1, keepalived
alone in VRID 62 on n2 (each elects itself after Master_Down_Interval). The bridge capture gives every
advert's kernel timestamp; each gap between consecutive adverts is compared with the 1 s interval.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

from benchmarks import daemons
from benchmarks.daemons import Impl, Instance
from benchmarks.labtools import LAB_PREFIX, wait_for
from vrrpd.testing.lab import Lab, LabError
from vrrpd.testing.sniff import VrrpEvent

VRIDS: dict[Impl, int] = {"vrrpd": 61, "keepalived": 62}


@dataclass(frozen=True)
class AdvertTiming:
    impl: Impl
    gaps: tuple[float, ...]  # seconds between consecutive adverts of the master


def run(seconds: float) -> list[AdvertTiming]:
    """Both masters together for `seconds` of steady state; returns each one's inter-advert gaps."""
    with Lab(nodes=2, prefix=LAB_PREFIX) as lab:
        capture = lab.capture()
        nodes = dict(zip(daemons.IMPLS, lab.nodes, strict=True))
        running = [
            daemons.start(
                lab, impl, node, [Instance(f"VI_{impl}", VRIDS[impl], 100, (f"198.51.100.{VRIDS[impl]}/32",))]
            )
            for impl, node in nodes.items()
        ]
        if not wait_for(lambda: all(d.count_state("MASTER") for d in running), timeout=20.0, step=0.1):
            raise LabError("a timing master did not come up")
        time.sleep(1.5)  # past the transition: only steady-state periods are measured
        start = time.time()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:  # bounded: one check per second
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
            if any(d.process.poll() is not None for d in running):
                raise LabError("a daemon exited during the timing run")
        end = time.time()
        for d in running:
            d.stop()
        events = capture.stop()
    out = []
    for impl, node in nodes.items():
        times = [
            e.time
            for e in events
            if isinstance(e, VrrpEvent)
            and e.vrid == VRIDS[impl]
            and e.src_ip == lab.ip(node)
            and start <= e.time <= end
        ]
        out.append(AdvertTiming(impl, tuple(b - a for a, b in itertools.pairwise(times))))
    return out

"""Status and metrics are built from the read-only view alone (`vrrpd.ops.view`), not from the runtime.

Plain records stand in for the daemon, an instance, an interface, a checker and the FIFO: if status or
metrics reached for anything the view does not declare, these tests (and mypy, which checks that the
fakes and the real `Daemon` both satisfy `DaemonView`) would fail.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv6Address
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.support.fakes import STATUS_CONFIG, instance_config
from vrrpd.config import Config, InstanceConfig, parse_config
from vrrpd.ops.metrics import make_registry, routes
from vrrpd.ops.status import render, snapshot
from vrrpd.ops.view import ConflictsView, Counters, DaemonView, LastTransition, ProbeView, ReloadStats
from vrrpd.protocol.conflicts import Conflict
from vrrpd.protocol.fsm import Fault, State
from vrrpd.protocol.packet import IPAddress

SRC = IPv4Address("192.0.2.11")
FAULTED = LastTransition("BACKUP", "FAULT", "fault", 1.7e9)


@dataclass
class Probe:
    last_result: bool | None = False
    last_detail: str = "connection refused"
    last_run: float | None = 90.0
    target: str = ""


@dataclass
class NoConflicts:
    detected: Mapping[str, int] = field(default_factory=dict)

    def active(self) -> Sequence[Conflict]:
        return []


@dataclass
class FakeInstance:
    config: InstanceConfig
    name: str = "VI_1"
    primary: IPv4Address = SRC
    state: State = State.FAULT
    priority: int = 100
    master: IPAddress | None = None
    faults: Set[Fault] = frozenset({Fault.CHECK})
    checker: ProbeView | None = field(default_factory=Probe)
    health: bool | None = False
    vips_held: tuple[IPv4Interface, ...] = ()
    last_transition: LastTransition | None = field(default_factory=lambda: FAULTED)
    counters: Counters = field(default_factory=Counters)
    conflicts: ConflictsView = field(default_factory=NoConflicts)


@dataclass
class FakeInterface:
    name: str = "eth0"
    ifindex: int = 2
    up: bool = True
    src: IPv4Address = SRC
    src6: IPv6Address | None = None
    drops: Mapping[str, int] = field(default_factory=lambda: {"unknown_vrid": 3})

    def tally(self) -> None:
        pass


@dataclass
class FakeDaemon:
    config: Config
    instances: Sequence[FakeInstance]
    interfaces: Mapping[str, FakeInterface]
    started_at: float = 1.7e9
    ready: bool = True
    fifo: None = None
    reloads: ReloadStats = field(default_factory=ReloadStats)

    def dead_tasks(self) -> list[str]:
        return ["recv-eth0"]


def daemon() -> FakeDaemon:
    cfg = instance_config(priority=100, check={"tcp_port": 80, "weight": 0})
    counters = Counters(adverts_received=7)
    counters.drops["auth_mismatch"] += 2
    return FakeDaemon(
        parse_config(STATUS_CONFIG, "/etc/vrrpd/vrrpd.toml", env={}),
        [FakeInstance(cfg, counters=counters)],
        {"eth0": FakeInterface()},
    )


def test_status_is_built_from_the_view() -> None:
    view: DaemonView = daemon()

    async def in_a_loop() -> dict[str, Any]:  # the document counts the loop's tasks
        return snapshot(view, loop_now=100.0)

    doc = asyncio.run(in_a_loop())
    (inst,) = doc["instances"]
    assert inst["state"] == "FAULT" and inst["faults"] == ["check_failed"]
    assert inst["check"]["up"] is False and inst["check"]["last_detail"] == "connection refused"
    assert inst["check"]["target"] == "192.0.2.11:80"  # the instance's primary address by default
    assert inst["counters"]["drops"] == {"auth_mismatch": 2} and inst["counters"]["adverts_received"] == 7
    assert doc["interfaces"] == [
        {
            "name": "eth0",
            "ifindex": 2,
            "up": True,
            "source": "192.0.2.11",
            "source6": None,
            "drops": {"unknown_vrid": 3},
        }
    ]
    assert "VI_1: fault: check_failed" in render(doc)


def test_status_shows_the_address_the_checker_really_probes() -> None:
    # An IPv6 instance's default TCP target is chosen by the daemon (the interface's IPv4 address, else
    # its link-local one with the scope): status shows the checker's own target, not a guess.
    view = daemon()
    view.instances[0].checker = Probe(target="[fe80::11%eth0]:80")

    async def in_a_loop() -> dict[str, Any]:
        return snapshot(view, loop_now=100.0)

    (inst,) = asyncio.run(in_a_loop())["instances"]
    assert inst["check"]["target"] == "[fe80::11%eth0]:80"


def test_metrics_and_probes_are_built_from_the_view() -> None:
    view = daemon()
    pages = routes(view, make_registry(view))
    status, _type, body = pages["/metrics"]()
    text = (body if isinstance(body, bytes) else b"".join(body)).decode()  # sent in chunks as made
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    lab = tuple(sorted((("vrrp_instance", "VI_1"), ("interface", "eth0"), ("vrid", "51"))))
    assert status == 200
    assert samples[("vrrpd_instance_state", tuple(sorted((*lab, ("state", "FAULT")))))] == 1
    assert samples[("vrrpd_instance_check_up", lab)] == 0
    assert samples[("vrrpd_interface_drops_total", (("interface", "eth0"), ("reason", "unknown_vrid")))] == 3
    assert pages["/healthz"]()[0] == 503 and b"recv-eth0" in pages["/healthz"]()[2]
    assert pages["/readyz"]()[2] == b"ready: VI_1 FAULT (check_failed)\n"  # the body names the faults


def test_ops_does_not_load_the_runtime() -> None:
    code = (
        "import sys, vrrpd.ops.status, vrrpd.ops.metrics, vrrpd.ops.view\n"
        "print(sorted(m for m in sys.modules if m.startswith('vrrpd.runtime')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"

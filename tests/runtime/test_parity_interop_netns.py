"""keepalived parity (issue 14) on a real segment, with keepalived 2.2.7 on the other node.

Each test runs the same configuration on both nodes — vrrpd on n1, keepalived on n2 — and moves the
master back and forth (vrrpd higher, SIGTERM, vrrpd back):

* virtual routes and rules are present on the master only, whichever implementation is master;
* an instance without virtual addresses (cloud failover) elects across implementations — keepalived
  accepts vrrpd's count-0 adverts and stays backup — and each node's notify program is called with the
  same arguments keepalived gives its own.

Every wait is bounded; the lab is torn down after each test (`vrrp_lab`), daemons stopped first.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemons import toml_value, wait_for
from tests.support.keepalived import Cluster, packet_complaints, two_node_cluster
from vrrpd.testing.lab import Lab
from vrrpd.testing.plugin import LabFactory

pytestmark = [pytest.mark.netns, pytest.mark.interop]

VIP = "192.0.2.100"
ROUTES: list[tuple[str, dict[str, Any]]] = [
    # keepalived syntax, and the same route as vrrpd writes it
    (
        "198.51.100.0/24 via 192.0.2.1 dev eth0 src 192.0.2.100",
        {"to": "198.51.100.0/24", "via": "192.0.2.1", "dev": "eth0", "src": VIP},
    ),
    ("blackhole 203.0.113.0/24", {"to": "203.0.113.0/24", "type": "blackhole"}),
    (
        "198.51.100.0/24 via 192.0.2.1 dev eth0 table 100",
        {"to": "198.51.100.0/24", "via": "192.0.2.1", "dev": "eth0", "table": 100},
    ),
]
RULES: list[tuple[str, dict[str, Any]]] = [
    ("from 192.0.2.100 table 100 priority 100", {"from": VIP, "table": 100, "priority": 100})
]


@pytest.fixture
def cluster(vrrp_lab: LabFactory) -> Iterator[Cluster]:
    with two_node_cluster(vrrp_lab, [VIP]) as c:
        yield c


def vrrpd_text(lab: Lab, node: str, keys: dict[str, Any], tables: dict[str, list[dict[str, Any]]]) -> str:
    head = ["[global]", f'router_id = "{node}"', f'control_socket = "{lab.log_dir}/{node}-parity.sock"', ""]
    body = ["[[vrrp_instance]]", *(f"{k} = {toml_value(v)}" for k, v in keys.items())]
    for name, entries in tables.items():
        for entry in entries:
            body += ["", f"[[vrrp_instance.{name}]]"]
            body += [f"{k} = {toml_value(v)}" for k, v in entry.items()]
    return "\n".join([*head, *body]) + "\n"


def keepalived_text(node: str, lines: list[str]) -> str:
    return "\n".join(["global_defs {", f"    router_id {node}", "}", *lines, ""])


# ---------------------------------------------------------------------------------------------------
# virtual_routes / virtual_rules


def routing_of(lab: Lab, node: str) -> list[str]:
    """This node's virtual routes and rules as `ip` prints them (only ours: TEST-NET and priority 100),
    without the `proto keepalived` mark both implementations put on them."""
    routes = lab.run(node, ["ip", "-4", "route", "show", "table", "all"]).stdout.splitlines()
    rules = lab.run(node, ["ip", "-4", "rule", "show"]).stdout.splitlines()
    ours = [r for r in routes if "198.51.100." in r or "203.0.113." in r] + [
        r for r in rules if r.startswith("100:")
    ]
    return sorted(" ".join(r.replace(" proto keepalived", "").split(" ")).strip() for r in ours)


EXPECTED = sorted(
    [
        "198.51.100.0/24 via 192.0.2.1 dev eth0 src 192.0.2.100",
        "blackhole 203.0.113.0/24",
        "198.51.100.0/24 via 192.0.2.1 dev eth0 table 100",
        "100:\tfrom 192.0.2.100 lookup 100",
    ]
)


def test_virtual_routes_and_rules_are_on_the_master_only_either_way(cluster: Cluster) -> None:
    lab = cluster.lab
    keys = {"name": "VI_R", "interface": "eth0", "virtual_router_id": 71, "garp_master_delay": 0}
    toml = vrrpd_text(
        lab,
        "n1",
        keys | {"priority": 150, "virtual_ipaddress": [f"{VIP}/24"]},
        {"virtual_routes": [r for _, r in ROUTES], "virtual_rules": [r for _, r in RULES]},
    )
    conf = keepalived_text(
        "n2",
        [
            "vrrp_instance VI_R {",
            "    state BACKUP",
            "    interface eth0",
            "    virtual_router_id 71",
            "    priority 100",
            "    advert_int 1",
            "    garp_master_delay 0",
            "    virtual_ipaddress {",
            f"        {VIP}/24",
            "    }",
            "    virtual_routes {",
            *(f"        {line}" for line, _ in ROUTES),
            "    }",
            "    virtual_rules {",
            *(f"        {line}" for line, _ in RULES),
            "    }",
            "}",
        ],
    )

    def only(master: str, backup: str, timeout: float) -> bool:
        return wait_for(
            lambda: (
                routing_of(lab, master) == EXPECTED
                and routing_of(lab, backup) == []
                and lab.holders(VIP) == [master]
            ),
            timeout,
        )

    ours = cluster.vrrpd("n1", text=toml)
    assert only("n1", "n2", 15.0), (routing_of(lab, "n1"), routing_of(lab, "n2"))
    theirs = cluster.keepalived("n2", text=conf)  # started once vrrpd is master: no start-up race
    cluster.wait_running(theirs)
    assert not wait_for(lambda: routing_of(lab, "n2") != [], 4.5), routing_of(lab, "n2")
    assert routing_of(lab, "n1") == EXPECTED

    ours.send_signal(signal.SIGTERM)  # vrrpd takes its routes away; keepalived installs its own
    assert ours.wait(timeout=15.0) == 0
    assert only("n2", "n1", 10.0), (routing_of(lab, "n1"), routing_of(lab, "n2"))

    back = cluster.vrrpd("n1", text=toml)  # preempts: keepalived removes its routes, vrrpd adds them
    assert only("n1", "n2", 15.0), (routing_of(lab, "n1"), routing_of(lab, "n2"))
    assert back.poll() is None and theirs.poll() is None


# ---------------------------------------------------------------------------------------------------
# An instance without VIPs


def notify_script(lab: Lab, node: str) -> tuple[Path, Path]:
    out = Path(lab.log_dir) / f"notify-{node}.out"
    script = Path(lab.log_dir) / f"notify-{node}.sh"
    script.write_text(f'#!/bin/sh\necho "$@" >> {out}\n')
    script.chmod(0o755)
    return script, out


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_an_instance_without_vips_elects_with_keepalived_and_calls_notify(cluster: Cluster) -> None:
    lab = cluster.lab
    ours_script, ours_out = notify_script(lab, "n1")
    theirs_script, theirs_out = notify_script(lab, "n2")
    keys = {"name": "VI_C", "interface": "eth0", "virtual_router_id": 72, "garp_master_delay": 0}
    toml = vrrpd_text(lab, "n1", keys | {"priority": 150, "notify": str(ours_script)}, {})
    conf = keepalived_text(
        "n2",
        [
            "vrrp_instance VI_C {",
            "    state BACKUP",
            "    interface eth0",
            "    virtual_router_id 72",
            "    priority 100",
            "    advert_int 1",
            f'    notify "{theirs_script}"',
            "}",
        ],
    )
    ours = cluster.vrrpd("n1", text=toml)
    assert wait_for(
        lambda: lines(ours_out) == ["INSTANCE VI_C BACKUP 150", "INSTANCE VI_C MASTER 150"], 15.0
    ), lines(ours_out)
    theirs = cluster.keepalived("n2", text=conf)  # started once vrrpd is master: no start-up race
    assert wait_for(lambda: lines(theirs_out) == ["INSTANCE VI_C BACKUP 100"], 5.0), lines(theirs_out)
    # keepalived accepts the count-0 adverts: it stays backup past its Master_Down_Interval (3.6 s).
    assert not wait_for(lambda: len(lines(theirs_out)) > 1, timeout=4.5), lines(theirs_out)
    assert packet_complaints(theirs) == []
    assert cluster.status(ours)["instances"][0]["state"] == "MASTER"

    ours.send_signal(signal.SIGTERM)  # priority 0: keepalived takes over after Skew_Time
    assert ours.wait(timeout=15.0) == 0
    assert lines(ours_out)[-1] == "INSTANCE VI_C STOP 150"
    assert wait_for(lambda: lines(theirs_out)[-1:] == ["INSTANCE VI_C MASTER 100"], 5.0), lines(theirs_out)

    cluster.vrrpd("n1", text=toml)  # back with the higher priority: it preempts keepalived
    assert wait_for(lambda: lines(theirs_out)[-1:] == ["INSTANCE VI_C BACKUP 100"], 15.0), lines(theirs_out)
    assert wait_for(lambda: lines(ours_out)[-1:] == ["INSTANCE VI_C MASTER 150"], 5.0), lines(ours_out)
    assert theirs.poll() is None
    assert lab.holders(VIP) == []  # nothing was installed anywhere

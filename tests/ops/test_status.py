"""The status document (schema v1), its human rendering, and how `vrrpd status` finds the socket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest

from tests.support.fakes import STATUS_CONFIG, FakeTransport, instance_config
from vrrpd.config import parse_config
from vrrpd.ops.status import SCHEMA_VERSION, encoded, render, snapshot, socket_path
from vrrpd.protocol.packet import VRRP_MULTICAST, Advertisement, Received
from vrrpd.runtime.daemon import Daemon
from vrrpd.runtime.instance import Instance

CONFIG = STATUS_CONFIG

INSTANCE_KEYS = {
    "name",
    "interface",
    "vrid",
    "family",
    "source",
    "state",
    "priority",
    "master",
    "advert_int",
    "vips",
    "vips_held",
    "vips_excluded",
    "faults",
    "check",
    "last_transition",
    "counters",
    "conflicts",
}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("VRRPD_CONTROL_SOCKET", "VRRPD_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    yield


def document() -> dict[str, Any]:
    """A snapshot of a daemon with one owner instance that saw a foreign cluster's advert."""
    return documents()[0]


def documents(count: int = 1) -> tuple[dict[str, Any], str]:
    """`document()` with `count` instances, and the daemon's encoded answer of the same moment."""

    async def main() -> tuple[dict[str, Any], str]:
        loop = asyncio.get_running_loop()
        daemon = Daemon(parse_config(CONFIG, "/etc/vrrpd/vrrpd.toml", env={}))
        for n in range(count):
            config = instance_config(name=f"VI_{n + 1}", virtual_router_id=51 + n)
            inst = Instance(config, IPv4Address("192.0.2.11"), FakeTransport(), lambda *a: None, loop)
            daemon.instances.append(inst)
            inst.start()
            await inst.drain(1.0)
        foreign = Advertisement(51, 100, (IPv4Address("192.0.2.150"),))
        daemon.instances[0].receive(Received(foreign, IPv4Address("192.0.2.21"), VRRP_MULTICAST, 255))
        await daemon.instances[0].drain(1.0)
        now = loop.time()
        doc, text = snapshot(daemon, now), "".join(encoded(daemon, now).pieces)
        for inst in daemon.instances:
            await inst.stop(1.0)
        return doc, text

    return asyncio.run(main())


def test_schema_v1_document() -> None:
    doc = json.loads(json.dumps(document()))  # JSON all the way down
    assert doc["schema_version"] == SCHEMA_VERSION == 1
    assert doc["daemon"]["router_id"] == "node-a" and doc["daemon"]["config"] == "/etc/vrrpd/vrrpd.toml"
    assert doc["daemon"]["reloads"] == {
        "succeeded": 0,
        "failed": 0,
        "last_at": None,
        "last_ok": None,
        "last_error": None,
        "last_changes": {},
    }
    (inst,) = doc["instances"]
    assert set(inst) == INSTANCE_KEYS
    assert inst["state"] == "MASTER" and inst["priority"] == {"base": 255, "effective": 255}
    assert inst["vips_held"] == ["192.0.2.100/24"]
    assert inst["last_transition"]["to"] == "MASTER" and inst["last_transition"]["at"].endswith("Z")
    assert inst["counters"]["drops"] == {"address_mismatch": 1}
    assert inst["counters"]["conflicts_detected"] == {"vip_mismatch": 1}
    (conflict,) = inst["conflicts"]
    assert conflict["kind"] == "vip_mismatch" and conflict["source"] == "192.0.2.21"
    assert set(conflict) == {"kind", "source", "detail", "first_seen", "last_seen", "adverts"}


def test_the_encoded_answer_is_the_snapshot_as_compact_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("vrrpd.ops.status.time.time", lambda: 1_800_000_000.25)  # both read it once
    for count in (1, 3):
        doc, text = documents(count)
        assert text == json.dumps(doc, separators=(",", ":"))
        assert [i["name"] for i in doc["instances"]] == [f"VI_{n + 1}" for n in range(count)]


def test_human_rendering() -> None:
    text = render(document())
    lines = text.splitlines()
    assert (
        lines[0].startswith("vrrpd ")
        and "on node-a" in lines[0]
        and "config /etc/vrrpd/vrrpd.toml" in lines[0]
    )
    header = lines[2].split()
    assert header[:5] == ["INSTANCE", "IFACE", "VRID", "STATE", "PRIO"]
    row = lines[3]
    assert row.startswith("VI_1") and "MASTER" in row and "INIT->MASTER address_owner" in row
    assert "VI_1: CONFLICT vip_mismatch from 192.0.2.21" in text
    assert "VI_1: drops: address_mismatch 1" in text


def test_socket_is_found_in_the_documented_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "vrrpd.toml"
    conf.write_text(CONFIG.replace('"eth0"', '"lo"'))
    assert socket_path("/x.sock", str(conf)) == "/x.sock"
    assert socket_path(None, str(conf)) == "/run/vrrpd/a.sock"
    assert socket_path(None, None) == "/run/vrrpd/vrrpd.sock" or Path("/etc/vrrpd/vrrpd.toml").exists()
    monkeypatch.setenv("VRRPD_CONFIG", str(conf))
    assert socket_path(None, None) == "/run/vrrpd/a.sock"  # the default configuration's socket
    monkeypatch.setenv("VRRPD_CONTROL_SOCKET", "/env.sock")
    assert socket_path(None, None) == "/env.sock"
    assert socket_path(None, str(conf)) == "/env.sock"  # the environment wins over the file, as in `run`


def test_a_broken_config_still_names_its_socket(tmp_path: Path) -> None:
    from vrrpd.config import ConfigError

    conf = tmp_path / "vrrpd.toml"
    conf.write_text(CONFIG.replace("virtual_router_id = 51", "virtual_router_id = 300"))
    assert socket_path(None, str(conf)) == "/run/vrrpd/a.sock"  # reload reaches the daemon, which refuses
    conf.write_text("[global\n")
    with pytest.raises(ConfigError, match="TOML syntax error"):
        socket_path(None, str(conf))  # not even the socket can be told: the CLI's one-line error

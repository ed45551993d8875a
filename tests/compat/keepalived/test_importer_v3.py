"""`vrrpd import-keepalived` on VRRPv3 configurations: keepalived's version rules (global vrrp_version,
instance version, native_ipv6, IPv6 addresses make v3), its interval rounding per version, one address
family per instance, and no_accept (RFC 5798 Accept_Mode off)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.compat.keepalived.test_keepalived_conf import conv, instances, lost


def instance(body: str, tmp_path: Path, global_defs: str = "") -> dict[str, Any]:
    text = f"global_defs {{\n{global_defs}\n}}\n" if global_defs else ""
    text += "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n" + body + "\n}\n"
    found = instances(conv(text, tmp_path))
    assert len(found) == 1
    return found[0]


V4 = "    virtual_ipaddress {\n        192.0.2.100/24\n    }"
V6 = "    virtual_ipaddress {\n        2001:db8::100/64\n    }"


def test_v2_by_default(tmp_path: Path) -> None:
    assert instance(V4, tmp_path)["version"] == 2


def test_global_vrrp_version_3(tmp_path: Path) -> None:
    assert instance(V4, tmp_path, "    vrrp_version 3")["version"] == 3


def test_instance_version_wins(tmp_path: Path) -> None:
    assert instance(V4 + "\n    version 2", tmp_path, "    vrrp_version 3")["version"] == 2


def test_ipv6_instance_is_v3_whatever_the_version_says(tmp_path: Path) -> None:
    inst = instance(V6 + "\n    version 2", tmp_path)
    assert (inst["version"], inst["virtual_ipaddress"]) == (3, ["2001:db8::100/64"])


def test_native_ipv6_is_v3(tmp_path: Path) -> None:
    assert instance(V6 + "\n    native_ipv6", tmp_path)["version"] == 3


@pytest.mark.parametrize(
    ("written", "converted"), [("0.1", 0.1), ("0.005", 0.01), ("0.016", 0.02), ("50", 40.95), ("2", 2)]
)
def test_v3_interval_rounded_as_keepalived(written: str, converted: float, tmp_path: Path) -> None:
    inst = instance(V4 + f"\n    version 3\n    advert_int {written}", tmp_path)
    assert inst["advert_int"] == converted


def test_v2_interval_still_whole_seconds(tmp_path: Path) -> None:
    assert instance(V4 + "\n    advert_int 0.5", tmp_path)["advert_int"] == 1


def test_the_first_address_sets_the_family(tmp_path: Path) -> None:
    body = "    virtual_ipaddress {\n        2001:db8::100/64\n        192.0.2.100/24\n    }"
    text = "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n" + body + "\n}\n"
    c = conv(text, tmp_path)
    assert instances(c)[0]["virtual_ipaddress"] == ["2001:db8::100/64"]
    # keepalived ignores it: a note, not a loss.
    assert lost(c) == []
    assert any(f.keyword == "192.0.2.100/24" and "one address family" in str(f) for f in c.findings)


def test_ipv6_unicast_peers(tmp_path: Path) -> None:
    inst = instance(V6 + "\n    unicast_peer {\n        fe80::2\n    }", tmp_path)
    assert inst["unicast_peer"] == ["fe80::2"]


def test_no_accept_is_accept_false(tmp_path: Path) -> None:
    assert instance(V4 + "\n    version 3\n    no_accept", tmp_path)["accept"] is False
    assert instance(V4 + "\n    version 3\n    accept", tmp_path)["accept"] is True


def test_one_vrid_for_an_ipv4_and_an_ipv6_instance_converts_both(tmp_path: Path) -> None:
    """keepalived runs an IPv4 and an IPv6 instance with one VRID on one interface (RFC 5798 §1)."""
    text = "".join(
        f"vrrp_instance {name} {{\n    interface eth0\n    virtual_router_id 51\n    version 3\n{body}\n}}\n"
        for name, body in (("VI_4", V4), ("VI_6", V6))
    )
    found = instances(conv(text, tmp_path))
    assert [(i["name"], i["virtual_router_id"], i["virtual_ipaddress"]) for i in found] == [
        ("VI_4", 51, ["192.0.2.100/24"]),
        ("VI_6", 51, ["2001:db8::100/64"]),
    ]

"""`vrrpd.kernel.vmac`: the virtual MAC of RFC 3768 §7.3, and the configuration rules of use_vmac."""

from __future__ import annotations

from ipaddress import IPv6Address

import pytest

from vrrpd.config import ConfigError, parse_config
from vrrpd.kernel.vmac import eui64_link_local, virtual_mac


def test_virtual_mac_is_rfc_3768_7_3() -> None:
    assert virtual_mac(1) == "00:00:5e:00:01:01"
    assert virtual_mac(51) == "00:00:5e:00:01:33"
    assert virtual_mac(255) == "00:00:5e:00:01:ff"
    assert len({virtual_mac(v) for v in range(1, 256)}) == 255
    for bad in (0, 256):
        with pytest.raises(ValueError, match="out of range"):
            virtual_mac(bad)


def test_ipv6_virtual_mac_is_rfc_5798_7_3() -> None:
    assert virtual_mac(1, 6) == "00:00:5e:00:02:01"
    assert virtual_mac(74, 6) == "00:00:5e:00:02:4a"
    assert virtual_mac(51, 4) == virtual_mac(51)  # IPv4 keeps RFC 3768's
    assert not {virtual_mac(v, 6) for v in range(1, 256)} & {virtual_mac(v) for v in range(1, 256)}


def test_eui64_link_local_is_what_slaac_derives_from_the_mac() -> None:
    # RFC 4291 Appendix A: the universal/local bit flipped, ff:fe in the middle.
    assert eui64_link_local("02:00:00:00:00:0b") == IPv6Address("fe80::ff:fe00:b")
    assert eui64_link_local("52:54:00:12:34:56") == IPv6Address("fe80::5054:ff:fe12:3456")


def instance(extra: str, vrid: int = 51, name: str = "VI_1") -> str:
    return (
        f'[[vrrp_instance]]\nname = "{name}"\ninterface = "eth0"\nvirtual_router_id = {vrid}\n'
        f'virtual_ipaddress = ["192.0.2.{vrid}"]\n{extra}\n'
    )


def test_use_vmac_names_its_interface_after_the_vrid_unless_told() -> None:
    config = parse_config(
        instance("use_vmac = true") + instance('use_vmac = true\nvmac_interface = "vip0"', 52, "VI_2"),
        "t",
        env={},
    )
    assert [i.vmac_name for i in config.vrrp_instance] == ["vrrp.51", "vip0"]
    assert parse_config(instance(""), "t", env={}).vrrp_instance[0].vmac_name is None


def v6_instance(extra: str, vrid: int = 51, name: str = "VI_6") -> str:
    return (
        f'[[vrrp_instance]]\nname = "{name}"\ninterface = "eth0"\nvirtual_router_id = {vrid}\n'
        f'version = 3\nvirtual_ipaddress = ["2001:db8::{vrid}"]\n{extra}\n'
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # keepalived's vrrp_complete_instance: IPv6 tries vrrp6.VRID after vrrp.VRID, then vrrp1, vrrp2, …
        (instance("use_vmac = true") + v6_instance("use_vmac = true"), ["vrrp.51", "vrrp6.51"]),
        (v6_instance("use_vmac = true") + instance("use_vmac = true"), ["vrrp.51", "vrrp1.51"]),
        (
            instance('use_vmac = true\nvmac_interface = "vrrp.51"')
            + v6_instance('use_vmac = true\nvmac_interface = "vrrp6.51"')
            + v6_instance("use_vmac = true", name="VI_7")
            .replace('interface = "eth0"', 'interface = "eth1"')
            .replace("2001:db8::51", "2001:db8::61"),
            ["vrrp.51", "vrrp6.51", "vrrp1.51"],
        ),
        (
            instance('use_vmac = true\nvmac_interface = "vrrp.51"', 52, "VI_2") + instance("use_vmac = true"),
            ["vrrp.51", "vrrp1.51"],
        ),
    ],
)
def test_default_vmac_names_follow_keepalived_when_the_first_is_taken(text: str, expected: list[str]) -> None:
    config = parse_config(text, "t", env={})
    assert [i.vmac_name for i in config.vrrp_instance] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (instance("vmac_xmit_base = true"), "vmac_xmit_base = true: applies only with use_vmac = true"),
        (instance('vmac_interface = "vip0"'), 'vmac_interface = "vip0": applies only with use_vmac = true'),
        (instance('use_vmac = true\nvmac_interface = "eth0"'), "must differ from interface"),
        (
            instance('use_vmac = true\nunicast_peer = ["192.0.2.12"]'),
            "vmac_xmit_base = false: must be true with unicast_peer",
        ),
        (
            instance('use_vmac = true\nvmac_interface = "vip0"')
            + instance('use_vmac = true\nvmac_interface = "vip0"', 52, "VI_2"),
            "is already",
        ),
    ],
)
def test_bad_vmac_settings_are_refused_in_one_line(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config(text, "t", env={})
    assert expected in str(exc.value)
    assert "\n" not in str(exc.value)

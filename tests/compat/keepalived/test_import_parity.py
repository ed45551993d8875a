"""`vrrpd import-keepalived` for the parity keywords of issue 14: virtual_routes, virtual_rules, and
instances without virtual addresses.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from tests.compat.keepalived.test_keepalived_conf import conv, instances, lost, notes

ROUTES = """
    vrrp_instance VI_1 {
        interface eth0
        virtual_router_id 51
        virtual_ipaddress {
            192.0.2.100/24
        }
        virtual_routes {
            198.51.100.0/24 via 192.0.2.1 dev eth0 metric 5
            src 192.0.2.100 to 203.0.113.0/24 via 192.0.2.1 table 100 no_track
            blackhole 203.0.113.128/25
            default via 192.0.2.254 table main
            198.51.100.7/24 via 192.0.2.1
            198.51.100.0/25 via 192.0.2.1 mtu 1400
        }
        virtual_rules {
            from 192.0.2.100 table 100 priority 100
            to 198.51.100.0/24 lookup 200 fwmark 0x10 iif eth0
            from all to 203.0.113.9 type prohibit preference 7
            from 192.0.2.101 uidrange 1-2 table 5
        }
    }
"""


def test_routes_and_rules_convert_word_by_word(tmp_path: Path) -> None:
    c = conv(ROUTES, tmp_path)
    (got,) = instances(c)
    assert got["virtual_routes"] == [
        {"to": "198.51.100.0/24", "via": "192.0.2.1", "dev": "eth0", "metric": 5, "type": "unicast"},
        {"to": "203.0.113.0/24", "via": "192.0.2.1", "src": "192.0.2.100", "table": 100, "type": "unicast"},
        {"to": "203.0.113.128/25", "type": "blackhole"},
        {"to": "0.0.0.0/0", "via": "192.0.2.254", "table": 254, "type": "unicast"},
    ]
    assert got["virtual_rules"] == [
        {"from": "192.0.2.100/32", "priority": 100, "table": 100, "type": "table"},
        {"to": "198.51.100.0/24", "iif": "eth0", "fwmark": 16, "table": 200, "type": "table"},
        {"to": "203.0.113.9/32", "priority": 7, "type": "prohibit"},
    ]
    # What keepalived would install but vrrpd cannot: each line reported, with its line number.
    assert lost(c) == [
        (13, 'virtual_routes = "198.51.100.7/24"'),  # host bits set: vrrpd's schema refuses it
        (14, "198.51.100.0/25 via 192.0.2.1 mtu 1400"),
        (20, "from 192.0.2.101 uidrange 1-2 table 5"),
    ]
    assert "host bits set" in c.lost[0].message
    assert "mtu 1400" in c.lost[1].message


def test_an_instance_without_addresses_converts_with_a_note(tmp_path: Path) -> None:
    text = """
        vrrp_instance cloud {
            interface eth0
            virtual_router_id 51
            notify /bin/true
        }
    """
    c = conv(text, tmp_path)
    assert c.complete
    (got,) = instances(c)
    assert got["virtual_ipaddress"] == [] and got["notify"] == ["/bin/true"]  # a command
    assert (2, "vrrp_instance cloud") in notes(c)


def test_an_instance_whose_addresses_are_all_refused_is_not_converted(tmp_path: Path) -> None:
    text = """
        vrrp_instance VI_1 {
            interface eth0
            virtual_router_id 51
            virtual_ipaddress {
                192.0.2.255/24
            }
        }
    """
    c = conv(text, tmp_path)  # its only VIP is its prefix's broadcast address, which vrrpd refuses
    assert not c.toml or "[[vrrp_instance]]" not in c.toml
    assert (2, "vrrp_instance VI_1") in lost(c)


def test_use_vmac_converts_and_unicast_gets_xmit_base_as_keepalived_sets_it(tmp_path: Path) -> None:
    text = """
        vrrp_instance VI_1 {
            interface eth0
            virtual_router_id 51
            use_vmac vip51
            unicast_peer {
                192.0.2.12
            }
            virtual_ipaddress {
                192.0.2.100/24
            }
        }
        vrrp_instance VI_2 {
            interface eth0
            virtual_router_id 52
            vmac_xmit_base
            virtual_ipaddress {
                192.0.2.101/24
            }
        }
    """
    c = conv(text, tmp_path)
    assert c.complete
    first, second = instances(c)
    assert (first["use_vmac"], first["vmac_interface"], first["vmac_xmit_base"]) == (True, "vip51", True)
    assert (second["use_vmac"], second["vmac_xmit_base"]) == (False, False)
    assert notes(c) == [(5, "use_vmac"), (16, "vmac_xmit_base")]


def test_a_sync_group_converts_over_the_converted_instances(tmp_path: Path) -> None:
    text = """
        vrrp_sync_group VG_1 {
            group {
                VI_1
                VI_2
                VI_9
            }
            notify_master "/bin/echo master"
            notify /bin/true
            sync_group_tracking_weight
        }
        vrrp_instance VI_1 {
            interface eth0
            virtual_router_id 51
            virtual_ipaddress {
                192.0.2.100/24
            }
        }
        vrrp_instance VI_2 {
            interface eth0
            virtual_router_id 52
            virtual_ipaddress {
                192.0.2.101/24
            }
        }
    """
    c = conv(text, tmp_path)
    assert c.complete, [str(f) for f in c.lost]
    assert (6, "VI_9") in notes(c)  # keepalived ignores a member that does not exist, and says so
    assert "[[vrrp_sync_group]]" in c.toml
    config = tomllib.loads(c.toml)
    assert config["vrrp_sync_group"] == [
        {
            "name": "VG_1",
            "group": ["VI_1", "VI_2"],
            "notify_master": "/bin/echo master",
            "notify": "/bin/true",
            "tracking_weight": True,
        }
    ]


def test_a_vrrpv3_instance_without_addresses_is_not_converted_as_keepalived_rejects_it(
    tmp_path: Path,
) -> None:
    text = """
        vrrp_instance VI_1 {
            interface eth0
            version 3
            virtual_router_id 51
        }
        vrrp_instance VI_2 {
            interface eth0
            virtual_router_id 52
        }
    """
    c = conv(text, tmp_path)
    assert [i["name"] for i in instances(c)] == ["VI_2"]
    assert c.complete  # keepalived rejects VI_1 too: a note, not a loss
    assert any(f.keyword == "vrrp_instance VI_1" and "not converted" in f.message for f in c.findings)

"""keepalived's per-VIP words (vrrp_ipaddress.c, alloc_ipaddress) carried over by the importer: dev, label,
scope, brd and no_track become a table entry; what keepalived itself drops or ignores is said so."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from vrrpd.compat.keepalived.importer import Conversion, convert
from vrrpd.config import parse_config, to_dict


def conv(vip_lines: str, tmp_path: Path, interface: str = "eth0") -> Conversion:
    text = f"""
    vrrp_instance VI_1 {{
        interface {interface}
        virtual_router_id 51
        virtual_ipaddress {{
{textwrap.indent(textwrap.dedent(vip_lines).strip(), " " * 12)}
        }}
    }}
    """
    path = tmp_path / "keepalived.conf"
    path.write_text(textwrap.dedent(text))
    return convert(path, "node")


def vips(c: Conversion) -> list[Any]:
    assert c.toml, [str(f) for f in c.findings]
    loaded = parse_config(c.toml, "<converted>", env={}, check_files=False)
    return list(to_dict(loaded)["vrrp_instance"][0].get("virtual_ipaddress", []))


def findings(c: Conversion) -> list[tuple[str, str]]:
    return [(f.level, f.keyword) for f in c.findings if f.keyword not in ("state",)]


def test_every_supported_option_is_carried_over(tmp_path: Path) -> None:
    c = conv(
        """
        192.0.2.10/24 dev eth1 label eth1:vip scope link brd 192.0.2.255 no_track
        192.0.2.11/24 broadcast + dev eth0
        192.0.2.12/24 brd - scope 254
        192.0.2.13 scope global
        """,
        tmp_path,
    )
    assert c.complete, [str(f) for f in c.findings]
    assert vips(c) == [
        {
            "address": "192.0.2.10/24",
            "dev": "eth1",
            "label": "eth1:vip",
            "scope": "link",
            "brd": "192.0.2.255",
            "no_track": True,
        },
        # "+" / "-": keepalived computes the broadcast from the prefix; dev eth0 is the instance's own.
        {"address": "192.0.2.11/24", "brd": "192.0.2.255"},
        {"address": "192.0.2.12/24", "brd": "192.0.2.0", "scope": "host"},
        "192.0.2.13/32",  # scope global is the default
    ]


@pytest.mark.parametrize(
    ("line", "keyword"),
    [
        ("192.0.2.10/24 dev", "192.0.2.10/24 dev"),  # no value: "No dev parameter specified"
        ("192.0.2.10/24 dev eth1 dev eth2", "192.0.2.10/24 dev eth1 dev eth2"),
        ("192.0.2.10/24 label a-label-too-long", "192.0.2.10/24 label a-label-too-long"),
        ("192.0.2.10/24 brd x.y", "192.0.2.10/24 brd x.y"),
    ],
)
def test_what_keepalived_drops_is_dropped_with_a_note(line: str, keyword: str, tmp_path: Path) -> None:
    c = conv(f"192.0.2.100/24\n{line}", tmp_path)
    assert c.complete
    assert ("note", keyword) in findings(c)
    assert vips(c) == ["192.0.2.100/24"]


def test_what_keepalived_ignores_is_ignored_with_a_note(tmp_path: Path) -> None:
    c = conv("192.0.2.10/32 brd + frobnicate", tmp_path)
    assert c.complete
    assert ("note", "192.0.2.10/32 brd +") in findings(c)  # prefix too long for a broadcast
    assert ("note", "192.0.2.10/32 frobnicate") in findings(c)  # an unknown word
    assert vips(c) == ["192.0.2.10/32"]


def test_ipv6_label_and_scope_are_ignored_as_keepalived_does(tmp_path: Path) -> None:
    c = conv("2001:db8::10/64 dev eth1 label eth1:6 scope link", tmp_path)
    assert c.complete
    assert {k for level, k in findings(c) if level == "note"} >= {
        "2001:db8::10/64 label eth1:6",
        "2001:db8::10/64 scope link",
    }
    assert vips(c) == [{"address": "2001:db8::10/64", "dev": "eth1"}]


@pytest.mark.parametrize(
    "option", ["peer 192.0.2.1", "preferred_lft 0", "home", "-nodad", "noprefixroute", "scope 17"]
)
def test_options_vrrpd_lacks_are_not_carried_over(option: str, tmp_path: Path) -> None:
    c = conv(f"192.0.2.10/32 {option}", tmp_path)
    assert ("not carried over", f"192.0.2.10/32 {option}") in findings(c)
    assert vips(c) == ["192.0.2.10/32"]


def test_an_instance_without_interface_takes_its_vips_dev(tmp_path: Path) -> None:
    path = tmp_path / "keepalived.conf"
    path.write_text(
        textwrap.dedent(
            """
            vrrp_instance VI_1 {
                virtual_router_id 51
                unicast_peer {
                    192.0.2.2
                }
                virtual_ipaddress {
                    192.0.2.10/24 dev eth1 label eth1:1
                }
            }
            """
        )
    )
    c = convert(path, "node")
    data = to_dict(parse_config(c.toml or "", "<converted>", env={}, check_files=False))
    (inst,) = data["vrrp_instance"]
    assert inst["interface"] == "eth1"
    assert inst["virtual_ipaddress"] == [{"address": "192.0.2.10/24", "label": "eth1:1"}]

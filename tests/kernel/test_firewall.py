"""The nftables table (`vrrpd.kernel.firewall`): the script it feeds to nft, and its errors. No nft is run
here;
tests/kernel/test_firewall_netns.py runs the real one inside a namespace."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest

from vrrpd.kernel import firewall


def test_table_name_is_an_unquoted_nft_identifier() -> None:
    assert firewall.table_name("ipf-ha-geo-cache") == "vrrpd_ipf_ha_geo_cache"
    assert firewall.table_name("OpenShift-IPFailover") == "vrrpd_OpenShift_IPFailover"
    assert firewall.table_name("a.b") == "vrrpd_a_b"


def test_ruleset_replaces_the_table_atomically_and_accepts_vrrp_only() -> None:
    text = firewall.ruleset("vrrpd_x")
    lines = [line.strip() for line in text.splitlines()]
    # add-then-delete makes the replacement idempotent; all in one transaction (one nft -f run).
    assert lines[:3] == ["add table inet vrrpd_x", "delete table inet vrrpd_x", "table inet vrrpd_x {"]
    assert "type filter hook input priority 0; policy accept;" in lines
    assert "ip daddr 224.0.0.18 ip protocol 112 accept" in lines
    assert sum("accept" in line and "ip " in line for line in lines) == 1


def test_ruleset_with_unicast_peers() -> None:
    peers = [IPv4Address("192.0.2.13"), IPv4Address("192.0.2.12"), IPv4Address("192.0.2.12")]
    text = firewall.ruleset("vrrpd_x", peers)
    assert "ip saddr { 192.0.2.12, 192.0.2.13 } ip protocol 112 accept" in text


def test_missing_nft_is_one_clear_line() -> None:
    with pytest.raises(firewall.FirewallError) as info:
        firewall.install("vrrpd_x", nft=("/nonexistent/nft",))
    text = str(info.value)
    assert "\n" not in text
    assert "command not found" in text and "nftables" in text and "OPENSHIFT_HA_NFTABLES_RULE" in text


def test_nft_refusal_is_reported_with_its_first_line() -> None:
    # `false` stands in for an nft that refuses: exit 1, nothing on stderr.
    with pytest.raises(firewall.FirewallError, match="could not add table inet vrrpd_x: exit status 1"):
        firewall.install("vrrpd_x", nft=("false",))
    assert firewall.is_installed("vrrpd_x", nft=("false",)) is False
    assert firewall.remove("vrrpd_x", nft=("false",)) is False


def test_accept_mode_table_of_an_instance() -> None:
    assert firewall.accept_filter_table("web-1") == "vrrpd_noaccept_web_1"


def test_accept_mode_ruleset_drops_packets_to_the_vips_only() -> None:
    # RFC 5798 §6.4.3 with Accept_Mode off; IPv6 NS/NA "MUST NOT be dropped" (§6.1) and come first.
    vips: list[IPv4Address | IPv6Address] = [
        IPv4Address("192.0.2.101"),
        IPv6Address("2001:db8::1"),
        IPv4Address("192.0.2.100"),
    ]
    lines = [line.strip() for line in firewall.accept_mode_ruleset("vrrpd_noaccept_x", vips).splitlines()]
    assert lines[:3] == [
        "add table inet vrrpd_noaccept_x",
        "delete table inet vrrpd_noaccept_x",
        "table inet vrrpd_noaccept_x {",
    ]
    rules = [line for line in lines if line.endswith(("accept", "drop")) and "policy" not in line]
    assert rules == [
        "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept",
        "ip daddr { 192.0.2.100, 192.0.2.101 } drop",
        "ip6 daddr { 2001:db8::1 } drop",
    ]


def test_accept_mode_ruleset_for_ipv4_only_has_no_ipv6_rule() -> None:
    text = firewall.accept_mode_ruleset("t", [IPv4Address("192.0.2.100")])
    assert "icmpv6" not in text and "ip6" not in text
    assert "ip daddr { 192.0.2.100 } drop" in text

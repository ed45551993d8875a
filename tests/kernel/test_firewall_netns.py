"""The nftables table for real, inside one lab namespace (never the host's ruleset): installed once however
often it is installed, and removed exactly — another table next to it is left alone."""

from __future__ import annotations

import shutil
from ipaddress import IPv4Address

import pytest

from vrrpd.kernel import firewall
from vrrpd.testing.lab import Lab
from vrrpd.testing.plugin import LabFactory

pytestmark = pytest.mark.netns


@pytest.fixture
def lab(vrrp_lab: LabFactory) -> Lab:
    if shutil.which("nft") is None:
        pytest.skip("nft is not installed (Debian package nftables; scripts/install-system-deps)")
    return vrrp_lab(nodes=1, prefix="vos")


def test_install_is_idempotent_and_remove_is_exact(lab: Lab) -> None:
    nft = ("ip", "netns", "exec", lab.ns("n1"), "nft")

    def ruleset() -> str:
        return lab.run("n1", ["nft", "list", "ruleset"]).stdout

    lab.run("n1", ["nft", "add", "table", "inet", "someone_else"])
    table = firewall.table_name("ipf-ha-geo-cache")
    assert not firewall.is_installed(table, nft)
    firewall.install(table, nft=nft)
    firewall.install(table, nft=nft)  # a restarted pod after SIGKILL: replaced, not doubled
    text = ruleset()
    assert text.count(f"table inet {table}") == 1
    assert text.count("ip daddr 224.0.0.18 ip protocol vrrp accept") == 1
    # New peers replace the old rules wholesale.
    firewall.install(table, [IPv4Address("192.0.2.12"), IPv4Address("192.0.2.13")], nft=nft)
    text = ruleset()
    assert "ip saddr { 192.0.2.12, 192.0.2.13 } ip protocol vrrp accept" in text
    assert text.count("ip daddr 224.0.0.18") == 1
    assert firewall.remove(table, nft) is True
    assert firewall.remove(table, nft) is False
    assert not firewall.is_installed(table, nft)
    assert "table inet someone_else" in ruleset()

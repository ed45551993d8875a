"""A VIP's options in the batched RTM_NEWADDR (`encode_addr_request`), read back by pyroute2's own decoder:
keepalived's netlink_ipaddress sends ifa_scope, IFA_BROADCAST and IFA_LABEL; a removal carries none."""

from __future__ import annotations

import socket
from ipaddress import IPv4Address, IPv4Interface, IPv6Interface
from typing import Any

import pytest
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg

from vrrpd.kernel.rtnl import RTM_DELADDR, RTM_NEWADDR, AddrOptions, encode_addr_request


def parse(data: bytes) -> Any:
    msg = ifaddrmsg(data)
    msg.decode()
    return msg


@pytest.mark.parametrize("label", ["e", "eth1:vip", "fifteen-chars-x"])
def test_label_scope_and_broadcast_are_in_the_request(label: str) -> None:
    addr = IPv4Interface("192.0.2.10/24")
    options = AddrOptions(label=label, scope="link", brd=IPv4Address("192.0.2.255"))
    data = encode_addr_request(RTM_NEWADDR, 5, 7, addr, options)
    assert len(data) % 4 == 0  # every attribute padded to 4 bytes
    msg = parse(data)
    assert msg["header"]["length"] == len(data)
    assert (msg["family"], msg["prefixlen"], msg["index"], msg["scope"]) == (socket.AF_INET, 24, 7, 253)
    assert msg.get("IFA_LOCAL") == msg.get("IFA_ADDRESS") == "192.0.2.10"
    assert msg.get("IFA_BROADCAST") == "192.0.2.255"
    assert msg.get("IFA_LABEL") == label


def test_without_options_the_request_is_unchanged() -> None:
    addr = IPv4Interface("192.0.2.10/24")
    plain = encode_addr_request(RTM_NEWADDR, 5, 7, addr)
    assert encode_addr_request(RTM_NEWADDR, 5, 7, addr, AddrOptions()) == plain
    assert [name for name, _ in parse(plain)["attrs"]] == ["IFA_LOCAL", "IFA_ADDRESS"]
    assert parse(plain)["scope"] == 0


def test_a_removal_carries_no_options() -> None:
    addr = IPv4Interface("192.0.2.10/24")
    options = AddrOptions(label="eth1:vip", scope="host", brd=IPv4Address("192.0.2.255"))
    msg = parse(encode_addr_request(RTM_DELADDR, 6, 7, addr, options))
    assert [name for name, _ in msg["attrs"]] == ["IFA_LOCAL", "IFA_ADDRESS"]
    assert msg["scope"] == 0


def test_ipv6_ignores_ipv4_only_options() -> None:
    addr = IPv6Interface("2001:db8::10/64")
    assert encode_addr_request(RTM_NEWADDR, 5, 7, addr, AddrOptions(label="x", scope="link")) == (
        encode_addr_request(RTM_NEWADDR, 5, 7, addr)
    )

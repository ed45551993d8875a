"""A virtual router without addresses (keepalived's cloud-failover instances), in virtual time.

keepalived 2.2 runs a VRRPv2 instance without VIPs (it warns "No VIP specified; at least one is
sensible"): its adverts carry a Count IP Addrs of 0, a peer configured the same accepts them, and a peer
configured with addresses drops them (§7.1's address-list check) — both sides are tested here.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface

from vrrpd.protocol.fsm import AddVips, Dropped, RemoveVips, Router, RouterConfig, SendAdvert, SendGarp, State
from vrrpd.protocol.packet import (
    VRRP_MULTICAST,
    VRRP_TTL,
    Advertisement,
    DropReason,
    Received,
    decode_ipv4,
    encode,
)

ME = IPv4Address("192.0.2.10")
PEER = IPv4Address("192.0.2.20")


def router(vips: tuple[IPv4Interface, ...] = ()) -> Router:
    return Router(RouterConfig(vrid=51, priority=100, primary_address=ME, vips=vips, garp_master_delay=0))


def from_peer(priority: int, addresses: tuple[IPv4Address, ...] = ()) -> Received:
    advert = Advertisement(vrid=51, priority=priority, addresses=addresses, advert_int=1)
    return Received(advert=advert, source=PEER, destination=VRRP_MULTICAST, ttl=VRRP_TTL)


def test_the_master_advertises_a_count_of_zero_and_installs_nothing() -> None:
    r = router()
    r.start(0.0)
    actions = r.on_timer(r.master_down_interval)
    assert r.state is State.MASTER
    advert = next(a.advert for a in actions if isinstance(a, SendAdvert))
    assert advert.addresses == ()
    payload = encode(advert)
    assert payload[3] == 0  # Count IP Addrs
    assert len(payload) == 8 + 8  # header and authentication data, no address
    assert AddVips((), routes=True) in actions
    assert SendGarp((), 5) in actions
    assert RemoveVips((), routes=True) in r.shutdown(10.0)


def test_a_zero_count_advert_is_accepted_by_a_router_without_addresses() -> None:
    r = router()
    r.start(0.0)
    assert r.receive(0.5, from_peer(150)) == []
    assert r.master_address == PEER  # it holds the Master_Down_Timer off: the peer is the master


def test_a_zero_count_advert_is_dropped_by_a_router_with_addresses_and_vice_versa() -> None:
    with_vip = router((IPv4Interface("192.0.2.100/24"),))
    with_vip.start(0.0)
    (drop,) = with_vip.receive(0.5, from_peer(150))
    assert isinstance(drop, Dropped) and drop.reason is DropReason.ADDRESS_MISMATCH
    without = router()
    without.start(0.0)
    (drop,) = without.receive(0.5, from_peer(150, (IPv4Address("192.0.2.100"),)))
    assert isinstance(drop, Dropped) and drop.reason is DropReason.ADDRESS_MISMATCH


def test_a_zero_count_advert_decodes() -> None:
    advert = Advertisement(vrid=51, priority=100, addresses=(), advert_int=1)
    header = bytes([0x45, 0xC0, 0, 36, 0, 0, 0, 0, 255, 112, 0, 0, *PEER.packed, *VRRP_MULTICAST.packed])
    received = decode_ipv4(header + encode(advert))
    assert isinstance(received, Received)
    assert received.advert.addresses == ()

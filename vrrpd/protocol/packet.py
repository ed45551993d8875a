"""VRRP advertisement codec — VRRPv2 (RFC 3768 §5) and VRRPv3 (RFC 5798 §5) — and the receive checks of §7.1.

Sans-I/O: bytes in, values out. No sockets, no clock, no logging. A peer's bad bytes never raise out of the
decoders; they come back as a `DropReason`. Local misuse (encoding VRID 300, a 9-byte password, a v3 advert
without the addresses its checksum covers) raises `ValueError` — that is our bug, not the peer's.

One `Advertisement` type for both versions; `version` selects the layout:

* v2 (RFC 3768 §5.1): 8-byte header with Auth Type and an 8-bit Adver Int in seconds, IPv4 addresses,
  8 bytes of authentication data; the checksum covers the VRRP message only.
* v3 (RFC 5798 §5.1): 8-byte header whose second word is 4 reserved bits and a 12-bit Max Adver Int in
  centiseconds, then IPv4 *or* IPv6 addresses, no authentication; the checksum also covers the IPv4 or IPv6
  pseudo-header (§5.2.8), so encoding and verifying need the packet's source and destination addresses.

The decoders take what the kernel hands over:

* `decode_ipv4(datagram)`: a raw AF_INET socket delivers the IPv4 header with the message, so TTL, source
  and destination come from the datagram. The version nibble picks v2 or v3.
* `decode_ipv6(payload, source=, destination=, hop_limit=)`: a raw AF_INET6 socket delivers the VRRP message
  alone; the caller takes the source from recvmsg's address, the destination from IPV6_PKTINFO and the hop
  limit from IPV6_HOPLIMIT ancillary data. Only v3 exists over IPv6.

The checks that need the local virtual router's configuration (VRID, version, authentication, interval,
address list, own address) are in `validate_advert`, so the state machine and the daemon share one definition.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address

VRRP_VERSION = 2  # the version an `Advertisement` has unless told otherwise
VRRP_VERSION_3 = 3
VRRP_TYPE_ADVERTISEMENT = 1
VRRP_PROTOCOL = 112  # IANA protocol number (RFC 3768 §5.2.4, RFC 5798 §5.1.1.4 / §5.1.2.4)
VRRP_MULTICAST = IPv4Address("224.0.0.18")  # RFC 3768 §5.2.2, RFC 5798 §5.1.1.2
VRRP_MULTICAST_V6 = IPv6Address("ff02::12")  # RFC 5798 §5.1.2.2
VRRP_TTL = 255  # RFC 3768 §5.2.3 / RFC 5798 §5.1.1.3 (TTL) and §5.1.2.3 (Hop Limit)
PRIORITY_OWNER = 255  # §5.3.4 / RFC 5798 §5.2.4
PRIORITY_STOP = 0  # §5.3.4: the master is leaving
AUTH_NONE = 0  # §5.3.6
AUTH_PASS = 1  # RFC 2338 §5.3.6.1, keepalived `auth_type PASS` (removed from RFC 3768, still in the field)
AUTH_AH = 2  # RFC 2338 §5.3.6.3, keepalived `auth_type AH`: the message behind an IPsec AH (`protocol.ah`)
AH_PROTOCOL = 51  # IANA protocol number of the IPsec Authentication Header (RFC 2402)
AUTH_DATA_LEN = 8
MAX_ADDRESSES = 255  # the Count IP Addrs field is one byte
MAX_ADVER_INT_V3 = 0x0FFF  # RFC 5798 §5.2.7: a 12-bit field, in centiseconds (40.95 s)
CENTISECONDS = 100  # per second: the unit of the v3 interval

IPAddress = IPv4Address | IPv6Address

_HEADER = struct.Struct("!BBBBBBH")  # version|type, vrid, priority, count, auth type, adver int, checksum
_HEADER_V3 = struct.Struct("!BBBBHH")  # version|type, vrid, priority, count, rsvd|max adver int, checksum
_IPV4_MIN_HEADER = 20
# The pseudo-headers the v3 checksum covers (RFC 5798 §5.2.8): IPv4 as in RFC 768/793 (source,
# destination, zero, protocol, length); IPv6 as in RFC 2460 §8.1 (source, destination, 32-bit length,
# 3 zeros, next header).
_PSEUDO_V4 = struct.Struct("!4s4sBBH")
_PSEUDO_V6 = struct.Struct("!16s16sI3xB")


class DropReason(enum.Enum):
    """Why a received packet was discarded (RFC 3768 / RFC 5798 §7.1). The peer's fault, never ours."""

    NOT_IPV4 = "not_ipv4"
    NOT_VRRP = "not_vrrp"  # IP protocol is not 112
    BAD_IP_HEADER = "bad_ip_header"
    TTL_NOT_255 = "ttl_not_255"
    HOP_LIMIT_NOT_255 = "hop_limit_not_255"  # RFC 5798 §5.1.2.3, §7.1 (IPv6)
    SOURCE_NOT_LINK_LOCAL = "source_not_link_local"  # RFC 5798 §5.1.2.1 (IPv6 multicast adverts)
    TRUNCATED = "truncated"  # shorter than the header or the address count says
    LENGTH_MISMATCH = "length_mismatch"  # IP total length disagrees with what arrived
    BAD_VERSION = "bad_version"  # neither 2 nor 3, or not the version this virtual router runs
    BAD_TYPE = "bad_type"
    BAD_CHECKSUM = "bad_checksum"
    UNKNOWN_VRID = "unknown_vrid"
    WRONG_FAMILY = "wrong_family"  # an IPv4 advert for an IPv6 virtual router, or the reverse
    AUTH_TYPE_MISMATCH = "auth_type_mismatch"
    AUTH_MISMATCH = "auth_mismatch"
    INTERVAL_MISMATCH = "interval_mismatch"
    BAD_INTERVAL = "bad_interval"  # a v3 Max Adver Int of 0: nobody can advertise every 0 s
    ADDRESS_MISMATCH = "address_mismatch"
    OWN_PACKET = "own_packet"  # our own advert looped back
    NOT_A_PEER = "not_a_peer"  # unicast mode: the source is not a configured peer
    BAD_DESTINATION = "bad_destination"  # multicast mode: not sent to the VRRP group
    # auth_type AH (RFC 2338 §5.3.6.3, keepalived's rules; `protocol.ah`):
    AH_NOT_VRRP = "ah_not_vrrp"  # an AH whose next header is not 112: IPsec traffic that is not ours
    AH_BAD_HEADER = "ah_bad_header"  # an AH whose length is not HMAC-MD5-96's
    AH_BAD_ICV = "ah_bad_icv"  # the HMAC-MD5-96 does not match: another password, or a forgery
    AH_BAD_SPI = "ah_bad_spi"  # the SPI is not the source address (keepalived's convention)
    AH_REPLAY = "ah_replay"  # a sequence number not above the router's counter (anti-replay)


@dataclass(frozen=True, slots=True)
class Advertisement:
    """One VRRP advertisement (RFC 3768 §5.1 for version 2, RFC 5798 §5.1 for version 3).

    `advert_int` is the field as on the wire: whole seconds in v2, centiseconds in v3 (see `centiseconds`).
    `addresses` are all IPv4 or, in v3 only, all IPv6. A v3 advert has no authentication: `auth_type` and
    `auth_data` keep their defaults. `checksum` is filled in by `encode` when zero.
    """

    vrid: int
    priority: int
    addresses: tuple[IPAddress, ...]
    advert_int: int = 1
    auth_type: int = AUTH_NONE
    auth_data: bytes = field(default=bytes(AUTH_DATA_LEN))
    version: int = VRRP_VERSION
    type: int = VRRP_TYPE_ADVERTISEMENT
    checksum: int = 0

    @property
    def centiseconds(self) -> int:
        """The advertisement interval in centiseconds, whatever the version (v2 counts whole seconds)."""
        return self.advert_int if self.version == VRRP_VERSION_3 else self.advert_int * CENTISECONDS


@dataclass(frozen=True, slots=True)
class Received:
    """An advertisement as received, with the IP fields §7.1 checks. `ttl` is the IPv4 TTL or the IPv6 Hop
    Limit; `source` and `destination` are of one family. `ah`: it came behind an IPsec AH whose ICV, SPI
    and sequence number `protocol.ah` verified (auth type 2)."""

    advert: Advertisement
    source: IPAddress
    destination: IPAddress
    ttl: int
    ah: bool = False


def internet_checksum(data: bytes) -> int:
    """16-bit one's complement of the one's complement sum (RFC 1071), as §5.3.8 requires."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return int(~total & 0xFFFF)


def pseudo_header(source: IPAddress, destination: IPAddress, length: int) -> bytes:
    """The pseudo-header a VRRPv3 checksum covers (RFC 5798 §5.2.8) for a `length`-byte message."""
    if source.version != destination.version:
        raise ValueError(f"source {source} and destination {destination} are of different families")
    if source.version == 4:
        return _PSEUDO_V4.pack(source.packed, destination.packed, 0, VRRP_PROTOCOL, length)
    return _PSEUDO_V6.pack(source.packed, destination.packed, length, VRRP_PROTOCOL)


def multicast_group(family: int) -> IPAddress:
    """The VRRP group of an address family: 224.0.0.18 for 4, ff02::12 for 6."""
    return VRRP_MULTICAST if family == 4 else VRRP_MULTICAST_V6


def pad_password(password: str | bytes) -> bytes:
    """The 8-byte auth data of RFC 2338's simple text password: zero-padded, at most 8 bytes."""
    raw = password.encode("ascii") if isinstance(password, str) else password
    if len(raw) > AUTH_DATA_LEN:
        raise ValueError(f"password longer than {AUTH_DATA_LEN} bytes")
    return raw.ljust(AUTH_DATA_LEN, b"\x00")


def encode(
    advert: Advertisement, *, source: IPAddress | None = None, destination: IPAddress | None = None
) -> bytes:
    """Encode the VRRP message (no IP header: the kernel builds it). Raises ValueError on misuse.

    A version 3 advert's checksum covers the IP pseudo-header (RFC 5798 §5.2.8): pass the `source` the
    kernel will send from and the `destination` (the VRRP group, or the unicast peer). They may be left out
    only when `advert.checksum` is already set (re-encoding a decoded advert). Version 2 ignores them.
    Any other version number is encoded in the v2 layout (tests use that to forge foreign packets).
    """
    _check_range("vrid", advert.vrid, 1, 255)
    _check_range("priority", advert.priority, 0, 255)
    _check_range("version", advert.version, 0, 15)
    _check_range("type", advert.type, 0, 15)
    _check_range("checksum", advert.checksum, 0, 0xFFFF)
    if len(advert.addresses) > MAX_ADDRESSES:
        raise ValueError(f"at most {MAX_ADDRESSES} addresses fit in one advertisement")
    if advert.version == VRRP_VERSION_3:
        return _encode_v3(advert, source, destination)
    _check_range("advert_int", advert.advert_int, 0, 255)
    _check_range("auth_type", advert.auth_type, 0, 255)
    if len(advert.auth_data) != AUTH_DATA_LEN:
        raise ValueError(f"auth_data must be exactly {AUTH_DATA_LEN} bytes")
    if any(a.version != 4 for a in advert.addresses):
        raise ValueError("a VRRPv2 advertisement carries IPv4 addresses only (RFC 3768 §5.3.9)")
    body = b"".join(a.packed for a in advert.addresses) + advert.auth_data
    header = _HEADER.pack(
        (advert.version << 4) | advert.type,
        advert.vrid,
        advert.priority,
        len(advert.addresses),
        advert.auth_type,
        advert.advert_int,
        0,
    )
    checksum = advert.checksum or internet_checksum(header + body)
    return header[:6] + struct.pack("!H", checksum) + body


def _encode_v3(advert: Advertisement, source: IPAddress | None, destination: IPAddress | None) -> bytes:
    # RFC 5798 §5.2.7: 12 bits of centiseconds. Zero is representable but never sent by us (a master
    # advertising every 0 s makes no sense); the config refuses it, decoding tolerates it.
    _check_range("advert_int", advert.advert_int, 0, MAX_ADVER_INT_V3)
    if advert.auth_type != AUTH_NONE or advert.auth_data != bytes(AUTH_DATA_LEN):
        raise ValueError("a VRRPv3 advertisement has no authentication (RFC 5798 §9)")
    families = {a.version for a in advert.addresses}
    if len(families) > 1:
        # §5.2.9: "IPv4 and IPv6 MUST NOT both be carried in one IPvX Address field".
        raise ValueError("a VRRPv3 advertisement carries IPv4 or IPv6 addresses, not both (RFC 5798 §5.2.9)")
    if source is not None and families and source.version not in families:
        raise ValueError(f"source {source} is not of the advertised addresses' family")
    body = b"".join(a.packed for a in advert.addresses)
    # §5.2.6: the reserved bits are sent as zero.
    header = _HEADER_V3.pack(
        (advert.version << 4) | advert.type,
        advert.vrid,
        advert.priority,
        len(advert.addresses),
        advert.advert_int,
        0,
    )
    checksum = advert.checksum
    if not checksum:
        if source is None or destination is None:
            raise ValueError("a VRRPv3 checksum covers the IP pseudo-header: pass source and destination")
        message = header + body
        checksum = internet_checksum(pseudo_header(source, destination, len(message)) + message)
    return header[:6] + struct.pack("!H", checksum) + body


def decode_vrrp(data: bytes) -> Advertisement | DropReason:
    """Decode a bare VRRPv2 message, applying the version/type/length/checksum checks of §7.1.

    Trailing bytes beyond Count IP Addrs + auth data are a length mismatch: §7.1 asks that "the
    packet length is greater than or equal to the VRRP header", and keepalived rejects extra bytes too.
    A v3 message is BAD_VERSION here: its checksum cannot be verified without the IP addresses — use
    `decode_vrrp3`, or `decode_ipv4` / `decode_ipv6`, which pick the version themselves.
    """
    # Version and type first: a VRRPv3 advert (no auth data, so shorter) is a version mismatch, not a
    # truncated v2 packet — the operator needs to hear "a v3 router is on this segment".
    if not data:
        return DropReason.TRUNCATED
    if data[0] >> 4 != VRRP_VERSION:
        return DropReason.BAD_VERSION
    if data[0] & 0x0F != VRRP_TYPE_ADVERTISEMENT:
        return DropReason.BAD_TYPE
    if len(data) < _HEADER.size + AUTH_DATA_LEN:
        return DropReason.TRUNCATED
    _, vrid, priority, count, auth_type, advert_int, checksum = _HEADER.unpack_from(data)
    expected = _HEADER.size + 4 * count + AUTH_DATA_LEN
    if len(data) < expected:
        return DropReason.TRUNCATED
    if len(data) > expected:
        return DropReason.LENGTH_MISMATCH
    if internet_checksum(data) != 0:
        return DropReason.BAD_CHECKSUM
    if vrid == 0:  # VRID 0 is not a valid virtual router (§5.3.3: 1-255)
        return DropReason.UNKNOWN_VRID
    off = _HEADER.size
    addresses = tuple(IPv4Address(data[off + 4 * i : off + 4 * i + 4]) for i in range(count))
    return Advertisement(
        vrid=vrid,
        priority=priority,
        addresses=addresses,
        advert_int=advert_int,
        auth_type=auth_type,
        auth_data=bytes(data[expected - AUTH_DATA_LEN : expected]),
        checksum=checksum,
    )


def decode_vrrp3(data: bytes, *, source: IPAddress, destination: IPAddress) -> Advertisement | DropReason:
    """Decode a bare VRRPv3 message sent from `source` to `destination` (RFC 5798 §5.1, §7.1 checks).

    The addresses' family is the packet's: 4 bytes each over IPv4, 16 over IPv6. Like v2, the message must
    be exactly as long as its address count says (§7.1: "MUST verify that the received packet contains the
    complete VRRP packet").
    """
    if not data:
        return DropReason.TRUNCATED
    # §7.1: "MUST verify that the VRRP version is 3".
    if data[0] >> 4 != VRRP_VERSION_3:
        return DropReason.BAD_VERSION
    # §5.2.2: "A packet with unknown type MUST be discarded".
    if data[0] & 0x0F != VRRP_TYPE_ADVERTISEMENT:
        return DropReason.BAD_TYPE
    if len(data) < _HEADER_V3.size:
        return DropReason.TRUNCATED
    _, vrid, priority, count, rsvd_int, checksum = _HEADER_V3.unpack_from(data)
    size = 4 if source.version == 4 else 16
    expected = _HEADER_V3.size + size * count
    if len(data) < expected:
        return DropReason.TRUNCATED
    if len(data) > expected:
        return DropReason.LENGTH_MISMATCH
    # §7.1: "MUST verify the VRRP checksum" — over the pseudo-header (§5.2.8).
    if internet_checksum(pseudo_header(source, destination, len(data)) + data) != 0 and not (
        source.version == 4
        and destination != VRRP_MULTICAST
        and internet_checksum(pseudo_header(source, VRRP_MULTICAST, len(data)) + data) == 0
    ):
        # Deviation (keepalived interop): keepalived before 2.0.? computed the pseudo-header of a unicast
        # IPv4 advert with 224.0.0.18 as its destination, and still does with `old_unicast_checksum`;
        # keepalived 2.2.7 accepts either form on receipt, and so do we. We send the RFC form.
        return DropReason.BAD_CHECKSUM
    if vrid == 0:  # §5.2.3: VRID 1-255
        return DropReason.UNKNOWN_VRID
    off = _HEADER_V3.size
    address = IPv4Address if size == 4 else IPv6Address
    addresses = tuple(address(data[off + size * i : off + size * (i + 1)]) for i in range(count))
    return Advertisement(
        vrid=vrid,
        priority=priority,
        addresses=addresses,
        # §5.2.6: the 4 reserved bits are "ignored on reception".
        advert_int=rsvd_int & MAX_ADVER_INT_V3,
        version=VRRP_VERSION_3,
        checksum=checksum,
    )


def decode_ipv4(datagram: bytes) -> Received | DropReason:
    """Decode an IPv4 datagram as a raw socket delivers it (header included) and check §7.1's IP rules.

    VRRPv2 or VRRPv3, by the message's version nibble; whether that is the version the virtual router runs
    is `validate_advert`'s question. The destination is not judged here (unicast mode legitimately receives
    adverts at our own address); `validate_advert` does that with the router's configuration. TTL is judged
    for multicast only.
    """
    if len(datagram) < _IPV4_MIN_HEADER:
        return DropReason.TRUNCATED
    if datagram[0] >> 4 != 4:
        return DropReason.NOT_IPV4
    ihl = (datagram[0] & 0x0F) * 4
    if ihl < _IPV4_MIN_HEADER or len(datagram) < ihl:
        return DropReason.BAD_IP_HEADER
    (total_length,) = struct.unpack_from("!H", datagram, 2)
    if total_length != len(datagram):
        return DropReason.LENGTH_MISMATCH
    ttl, protocol = datagram[8], datagram[9]
    # Protocol 51 here is a datagram `protocol.ah.open_ah` verified and stripped of its AH (a raw socket
    # for 112 never delivers it; an unverified AH datagram has the AH where the VRRP header should be).
    if protocol not in (VRRP_PROTOCOL, AH_PROTOCOL):
        return DropReason.NOT_VRRP
    destination = IPv4Address(datagram[16:20])
    # §7.1: TTL 255 proves the sender is on our link. It binds multicast adverts; unicast adverts
    # (keepalived's unicast_peer, outside RFC 3768) may cross a router, and `validate_advert` accepts them
    # only from a configured peer — the same rule keepalived applies.
    if ttl != VRRP_TTL and destination == VRRP_MULTICAST:
        return DropReason.TTL_NOT_255
    source = IPv4Address(datagram[12:16])
    payload = datagram[ihl:]
    if payload and payload[0] >> 4 == VRRP_VERSION_3:
        decoded = decode_vrrp3(payload, source=source, destination=destination)
    else:
        decoded = decode_vrrp(payload)
    if isinstance(decoded, DropReason):
        return decoded
    return Received(
        advert=decoded, source=source, destination=destination, ttl=ttl, ah=protocol == AH_PROTOCOL
    )


def decode_ipv6(
    payload: bytes, *, source: IPv6Address, destination: IPv6Address, hop_limit: int
) -> Received | DropReason:
    """Decode a VRRPv3 message as a raw AF_INET6 socket delivers it: without the IPv6 header.

    The caller passes what the kernel reports beside the payload: `source` (recvmsg's address),
    `destination` (IPV6_PKTINFO) and `hop_limit` (IPV6_HOPLIMIT). Like `decode_ipv4`, the destination is
    not judged here, and the hop limit and the link-local source bind multicast adverts only (a unicast
    peer may be a global address, reached through a router).
    """
    if destination == VRRP_MULTICAST_V6:
        # §5.1.2.3 / §7.1: "If the received packet is an IPv6 packet, it MUST verify that the IPv6 Hop
        # Limit is 255."
        if hop_limit != VRRP_TTL:
            return DropReason.HOP_LIMIT_NOT_255
        # §5.1.2.1: the source "is the IPv6 link-local address of the interface the packet is being sent
        # from" — an advert from any other address did not come from a VRRP router on this link.
        if not source.is_link_local:
            return DropReason.SOURCE_NOT_LINK_LOCAL
    decoded = decode_vrrp3(payload, source=source, destination=destination)
    if isinstance(decoded, DropReason):
        return decoded
    return Received(advert=decoded, source=source, destination=destination, ttl=hop_limit)


def decode_key(datagram: bytes) -> bytes:
    """The bytes of an IPv4 datagram that `decode_ipv4`'s result depends on: equal keys, equal results.

    Leaves out the TOS, Identification, fragment and header checksum fields, which decoding does not
    read: the kernel numbers every datagram it sends, so a master's repeated advert differs from the
    previous one only there.
    """
    return datagram[:1] + datagram[2:4] + datagram[8:10] + datagram[12:]


class DecodeCache:
    """`decode_ipv4` / `decode_ipv6` that remember: a datagram with the key of a recent advert for one of
    the given VRIDs gets that advert's `Received` back — the very same object.

    The steady state of VRRP is a master repeating one advert every interval, so nearly every datagram a
    backup reads is such a repeat; and handing `fsm.Router.receive` the same object lets it reuse its
    §7.1 verdict too. Only VRIDs the caller runs are remembered (another cluster's adverts on a shared
    segment would only push ours out), and at most 2 per VRID plus 16: past that, everything is forgotten
    and decoded afresh, so a flood of distinct adverts costs time, never memory.
    """

    def __init__(self) -> None:
        self._known: dict[bytes, Received] = {}

    def decode(self, datagram: bytes, vrids: Collection[int]) -> Received | DropReason:
        """`decode_ipv4(datagram)`; an equal result, the same object, for a repeat (see the class)."""
        key = decode_key(datagram)
        known = self._known.get(key)
        if known is not None:
            return known
        return self._remember(key, decode_ipv4(datagram), vrids)

    def decode_ipv6(
        self,
        payload: bytes,
        vrids: Collection[int],
        *,
        source: IPv6Address,
        destination: IPv6Address,
        hop_limit: int,
    ) -> Received | DropReason:
        """`decode_ipv6(...)`; an equal result, the same object, for a repeat (see the class)."""
        # Everything the result depends on; the 16-byte addresses and the hop limit make it a different
        # length from any IPv4 key of the same payload only by accident, so it is tagged as well.
        key = b"6" + source.packed + destination.packed + bytes((hop_limit,)) + payload
        known = self._known.get(key)
        if known is not None:
            return known
        decoded = decode_ipv6(payload, source=source, destination=destination, hop_limit=hop_limit)
        return self._remember(key, decoded, vrids)

    def _remember(
        self, key: bytes, decoded: Received | DropReason, vrids: Collection[int]
    ) -> Received | DropReason:
        if isinstance(decoded, Received) and decoded.advert.vrid in vrids:
            if len(self._known) >= 2 * len(vrids) + 16:
                self._known.clear()
            self._known[key] = decoded
        return decoded


def validate_advert(
    received: Received,
    *,
    vrid: int,
    advert_int: int,
    addresses: Sequence[IPAddress],
    own_addresses: Sequence[IPAddress],
    auth_type: int = AUTH_NONE,
    auth_data: bytes = bytes(AUTH_DATA_LEN),
    unicast_peers: Sequence[IPAddress] = (),
    version: int = VRRP_VERSION,
    family: int = 4,
) -> DropReason | None:
    """The §7.1 checks that need the local virtual router's configuration; None means accept.

    `version` and `family` are the virtual router's; `advert_int` is its configured interval as in the
    advert field (seconds for v2; unused for v3). Order follows §7.1. In v2 the address-list check is
    RFC 3768's MAY-verify, done as a MUST-drop unless the sender is the address owner (priority 255), as
    §7.1 then requires. In v3 neither the interval nor the address list drops an advert (see
    `address_mismatch`).
    """
    adv = received.advert
    if received.source.version != family:
        # RFC 5798 §5.2.9 / §1: an IPv4 and an IPv6 virtual router with the same VRID are different
        # virtual routers; one's adverts say nothing about the other.
        return DropReason.WRONG_FAMILY
    # RFC 3768 §7.1 "MUST verify that the VRRP version is 2"; RFC 5798 §7.1 "... is 3".
    if adv.version != version:
        return DropReason.BAD_VERSION
    if received.source in own_addresses:
        return DropReason.OWN_PACKET
    if unicast_peers:
        if received.source not in unicast_peers:
            return DropReason.NOT_A_PEER
    elif received.destination != multicast_group(family):
        return DropReason.BAD_DESTINATION
    if adv.vrid != vrid:
        return DropReason.UNKNOWN_VRID
    if version == VRRP_VERSION_3:
        # RFC 5798 has no authentication and no interval check: a backup learns the master's interval
        # (§6.4.2 Master_Adver_Interval). The address list is only a misconfiguration to report.
        if adv.advert_int == 0:
            # Learning 0 would make Master_Down_Interval 0 (Skew_Time scales with it too): a backup would
            # declare the master down at once. No implementation can be configured to send it.
            return DropReason.BAD_INTERVAL
        return None
    # keepalived: "Received AH header but auth type not AH" / "No AH header but auth type is AH" are an
    # auth type mismatch as well; an Auth Type 2 field without a verified AH proves nothing.
    if adv.auth_type != auth_type or received.ah != (auth_type == AUTH_AH):
        return DropReason.AUTH_TYPE_MISMATCH
    # §5.3.6: with auth type 0 the auth data is ignored on receipt.
    if auth_type == AUTH_PASS and adv.auth_data != auth_data:
        return DropReason.AUTH_MISMATCH
    if adv.advert_int != advert_int:
        return DropReason.INTERVAL_MISMATCH
    if adv.priority != PRIORITY_OWNER and address_mismatch(adv, addresses):
        return DropReason.ADDRESS_MISMATCH
    return None


def address_mismatch(advert: Advertisement, addresses: Sequence[IPAddress]) -> bool:
    """Whether the advert's address list differs from `addresses` (a multiset: order does not matter).

    RFC 5798 §7.1: "MAY verify that 'Count IPvX Addrs' and the list of IPvX address(es) match the IPvX
    Address(es) configured for the VRID. If the above check fails, the receiver SHOULD log the event" —
    in v3 a report, not a drop (RFC 3768 dropped).
    """
    if len(advert.addresses) != len(addresses):
        return True
    try:
        return sorted(advert.addresses) != sorted(addresses)
    except TypeError:  # IPv4 and IPv6 do not compare: different families, different lists
        return True


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ValueError(f"{name}={value} out of range {low}..{high}")

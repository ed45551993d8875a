"""VRRPv2 advertisement codec (RFC 3768 §5) and the packet-level receive checks of §7.1.

Sans-I/O: bytes in, values out. No sockets, no clock, no logging. A peer's bad bytes never raise out of
`decode_vrrp` / `decode_ipv4`; they come back as a `DropReason`. Local misuse (encoding VRID 300, a 9-byte
password) raises `ValueError` — that is our bug, not the peer's.

The checks that need the local virtual router's configuration (VRID, authentication, interval, address
list, own address) are in `check_advert`, so the state machine and the daemon share one definition.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address

VRRP_VERSION = 2
VRRP_TYPE_ADVERTISEMENT = 1
VRRP_PROTOCOL = 112  # IANA protocol number (§5.2.4)
VRRP_MULTICAST = IPv4Address("224.0.0.18")  # §5.2.2
VRRP_TTL = 255  # §5.2.3 / §7.1
PRIORITY_OWNER = 255  # §5.3.4
PRIORITY_STOP = 0  # §5.3.4: the master is leaving
AUTH_NONE = 0  # §5.3.6
AUTH_PASS = 1  # RFC 2338 §5.3.6.1, keepalived `auth_type PASS` (removed from RFC 3768, still in the field)
AUTH_DATA_LEN = 8
MAX_ADDRESSES = 255  # the Count IP Addrs field is one byte

_HEADER = struct.Struct("!BBBBBBH")  # version|type, vrid, priority, count, auth type, adver int, checksum
_IPV4_MIN_HEADER = 20


class DropReason(enum.Enum):
    """Why a received packet was discarded (RFC 3768 §7.1). The peer's fault, never ours."""

    NOT_IPV4 = "not_ipv4"
    NOT_VRRP = "not_vrrp"  # IP protocol is not 112
    BAD_IP_HEADER = "bad_ip_header"
    TTL_NOT_255 = "ttl_not_255"
    TRUNCATED = "truncated"  # shorter than the header or the address count says
    LENGTH_MISMATCH = "length_mismatch"  # IP total length disagrees with what arrived
    BAD_VERSION = "bad_version"
    BAD_TYPE = "bad_type"
    BAD_CHECKSUM = "bad_checksum"
    UNKNOWN_VRID = "unknown_vrid"
    AUTH_TYPE_MISMATCH = "auth_type_mismatch"
    AUTH_MISMATCH = "auth_mismatch"
    INTERVAL_MISMATCH = "interval_mismatch"
    ADDRESS_MISMATCH = "address_mismatch"
    OWN_PACKET = "own_packet"  # our own advert looped back
    NOT_A_PEER = "not_a_peer"  # unicast mode: the source is not a configured peer
    BAD_DESTINATION = "bad_destination"  # multicast mode: not sent to 224.0.0.18


@dataclass(frozen=True, slots=True)
class Advertisement:
    """One VRRPv2 advertisement (RFC 3768 §5.1). `checksum` is filled in by `encode` when zero."""

    vrid: int
    priority: int
    addresses: tuple[IPv4Address, ...]
    adver_int: int = 1
    auth_type: int = AUTH_NONE
    auth_data: bytes = field(default=bytes(AUTH_DATA_LEN))
    version: int = VRRP_VERSION
    type: int = VRRP_TYPE_ADVERTISEMENT
    checksum: int = 0


@dataclass(frozen=True, slots=True)
class Received:
    """An advertisement decoded from an IPv4 datagram, with the IP fields §7.1 checks."""

    advert: Advertisement
    source: IPv4Address
    destination: IPv4Address
    ttl: int


def internet_checksum(data: bytes) -> int:
    """16-bit one's complement of the one's complement sum (RFC 1071), as §5.3.8 requires."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return int(~total & 0xFFFF)


def pad_password(password: str | bytes) -> bytes:
    """The 8-byte auth data of RFC 2338's simple text password: zero-padded, at most 8 bytes."""
    raw = password.encode("ascii") if isinstance(password, str) else password
    if len(raw) > AUTH_DATA_LEN:
        raise ValueError(f"password longer than {AUTH_DATA_LEN} bytes")
    return raw.ljust(AUTH_DATA_LEN, b"\x00")


def encode(advert: Advertisement) -> bytes:
    """Encode the VRRP message (no IP header: the kernel builds it). Raises ValueError on misuse."""
    _check_range("vrid", advert.vrid, 1, 255)
    _check_range("priority", advert.priority, 0, 255)
    _check_range("adver_int", advert.adver_int, 0, 255)
    _check_range("auth_type", advert.auth_type, 0, 255)
    _check_range("version", advert.version, 0, 15)
    _check_range("type", advert.type, 0, 15)
    _check_range("checksum", advert.checksum, 0, 0xFFFF)
    if len(advert.addresses) > MAX_ADDRESSES:
        raise ValueError(f"at most {MAX_ADDRESSES} addresses fit in one advertisement")
    if len(advert.auth_data) != AUTH_DATA_LEN:
        raise ValueError(f"auth_data must be exactly {AUTH_DATA_LEN} bytes")
    body = b"".join(a.packed for a in advert.addresses) + advert.auth_data
    header = _HEADER.pack(
        (advert.version << 4) | advert.type,
        advert.vrid,
        advert.priority,
        len(advert.addresses),
        advert.auth_type,
        advert.adver_int,
        0,
    )
    checksum = advert.checksum or internet_checksum(header + body)
    return header[:6] + struct.pack("!H", checksum) + body


def decode_vrrp(data: bytes) -> Advertisement | DropReason:
    """Decode a bare VRRP message, applying the version/type/length/checksum checks of §7.1.

    Trailing bytes beyond Count IP Addrs + auth data are a length mismatch: §7.1 asks that "the
    packet length is greater than or equal to the VRRP header", and keepalived rejects extra bytes too.
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
    _, vrid, priority, count, auth_type, adver_int, checksum = _HEADER.unpack_from(data)
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
        adver_int=adver_int,
        auth_type=auth_type,
        auth_data=bytes(data[expected - AUTH_DATA_LEN : expected]),
        checksum=checksum,
    )


def decode_ipv4(datagram: bytes) -> Received | DropReason:
    """Decode an IPv4 datagram as a raw socket delivers it (header included) and check §7.1's IP rules.

    The destination is not judged here (unicast mode legitimately receives adverts at our own address);
    `check_advert` does that with the router's configuration. TTL is judged for multicast only.
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
    if protocol != VRRP_PROTOCOL:
        return DropReason.NOT_VRRP
    destination = IPv4Address(datagram[16:20])
    # §7.1: TTL 255 proves the sender is on our link. It binds multicast adverts; unicast adverts
    # (keepalived's unicast_peer, outside RFC 3768) may cross a router, and `check_advert` accepts them
    # only from a configured peer — the same rule keepalived applies.
    if ttl != VRRP_TTL and destination == VRRP_MULTICAST:
        return DropReason.TTL_NOT_255
    decoded = decode_vrrp(datagram[ihl:])
    if isinstance(decoded, DropReason):
        return decoded
    return Received(
        advert=decoded,
        source=IPv4Address(datagram[12:16]),
        destination=destination,
        ttl=ttl,
    )


def decode_key(datagram: bytes) -> bytes:
    """The bytes of an IPv4 datagram that `decode_ipv4`'s result depends on: equal keys, equal results.

    Leaves out the TOS, Identification, fragment and header checksum fields, which decoding does not
    read: the kernel numbers every datagram it sends, so a master's repeated advert differs from the
    previous one only there.
    """
    return datagram[:1] + datagram[2:4] + datagram[8:10] + datagram[12:]


class DecodeCache:
    """`decode_ipv4` that remembers: a datagram with the `decode_key` of a recent advert for one of the
    given VRIDs gets that advert's `Received` back — the very same object.

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
        decoded = decode_ipv4(datagram)
        if isinstance(decoded, Received) and decoded.advert.vrid in vrids:
            if len(self._known) >= 2 * len(vrids) + 16:
                self._known.clear()
            self._known[key] = decoded
        return decoded


def check_advert(
    received: Received,
    *,
    vrid: int,
    adver_int: int,
    addresses: Sequence[IPv4Address],
    own_addresses: Sequence[IPv4Address],
    auth_type: int = AUTH_NONE,
    auth_data: bytes = bytes(AUTH_DATA_LEN),
    unicast_peers: Sequence[IPv4Address] = (),
) -> DropReason | None:
    """The §7.1 checks that need the local virtual router's configuration; None means accept.

    Order follows §7.1. The address-list check is the RFC's MAY-verify, done as a MUST-drop unless the
    sender is the address owner (priority 255), exactly as §7.1 then requires.
    """
    adv = received.advert
    if received.source in own_addresses:
        return DropReason.OWN_PACKET
    if unicast_peers:
        if received.source not in unicast_peers:
            return DropReason.NOT_A_PEER
    elif received.destination != VRRP_MULTICAST:
        return DropReason.BAD_DESTINATION
    if adv.vrid != vrid:
        return DropReason.UNKNOWN_VRID
    if adv.auth_type != auth_type:
        return DropReason.AUTH_TYPE_MISMATCH
    # §5.3.6: with auth type 0 the auth data is ignored on receipt.
    if auth_type == AUTH_PASS and adv.auth_data != auth_data:
        return DropReason.AUTH_MISMATCH
    if adv.adver_int != adver_int:
        return DropReason.INTERVAL_MISMATCH
    if adv.priority != PRIORITY_OWNER and sorted(adv.addresses) != sorted(addresses):
        return DropReason.ADDRESS_MISMATCH
    return None


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ValueError(f"{name}={value} out of range {low}..{high}")

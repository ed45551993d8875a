"""VRRPv2 adverts inside an IPsec Authentication Header (keepalived's `auth_type AH`): bytes in, bytes out.

Sans-I/O, standard library only: no sockets, no clock, no logging. A peer's bad bytes never raise; they come
back as a `DropReason`. Built to interoperate with keepalived 2.2.7 (vrrp.c `vrrp_build_ipsecah`,
`vrrp_update_pkt`, `vrrp_in_chk_ipsecah`), whose choices are the standard here; checked against its own
packets (tests/data/ah/keepalived-2.2.7.txt).

RFC 2338 §5.3.6.3 (auth type 2, "IP Authentication Header") puts the VRRP message behind an RFC 2402 AH
with HMAC-MD5-96 (RFC 2403). There is no key exchange: keepalived fixes the rest.

* The IPv4 header carries protocol 51; the 24-byte AH follows it (next header 112, payload length 4 —
  RFC 2402 §2.2: 32-bit words minus 2 — reserved 0, SPI, sequence number, 12-byte ICV); then the VRRPv2
  message, whose Auth Type field is 2 and whose 8 bytes of authentication data are zero. Its checksum is the
  ordinary VRRPv2 one (the message alone).
* The key is the password zero-padded to 8 bytes (keepalived's `auth_data[8]`; it truncates a longer one).
* The ICV is HMAC-MD5 over the IPv4 header with TOS, fragment offset/flags and header checksum zeroed
  (RFC 2402 §3.3.3.1.1.1's mutable fields; the TTL too — but keepalived zeroes the TTL only in unicast mode,
  so a multicast advert's ICV covers TTL 255), then the AH with its ICV zeroed, then the VRRP message;
  truncated to 96 bits. The Identification field is covered: the sender must choose it (IP_HDRINCL, never
  0, which the kernel would replace).
* The SPI is the sender's IPv4 source address, as is (keepalived: "based on unique information such as its
  IP address", draft-paridaens-xcast-sec-framework); a receiver drops an advert whose SPI is not its source.
* Sequence numbers (`SequenceCounter`): one counter per virtual router, shared by what it sends and what it
  accepts — keepalived's `ipsecah_counter` and its rules, including the resynchronisation that lets a
  restarted master (counting from 1 again) win back its backups.
"""

from __future__ import annotations

import hmac
import struct
from dataclasses import dataclass
from ipaddress import IPv4Address

from vrrpd.protocol.packet import (
    AH_PROTOCOL,
    AUTH_AH,
    VRRP_PROTOCOL,
    VRRP_TTL,
    DropReason,
    internet_checksum,
)

__all__ = ["AH_PROTOCOL", "AUTH_AH"]  # re-exported: the constants live in `packet`, which decodes protocol 51
KEY_LEN = 8  # keepalived's auth_data[8]: the password zero-padded (or truncated) to 8 bytes
ICV_LEN = 12  # HMAC-MD5-96 (RFC 2403 §2): the digest truncated to 96 bits
AH_LEN = 12 + ICV_LEN  # next header, payload len, reserved, SPI, sequence, ICV
AH_PAYLOAD_LEN = AH_LEN // 4 - 2  # RFC 2402 §2.2: the AH's length in 32-bit words, minus 2 (= 4)
TOS = 0xC0  # keepalived's IP header TOS: DSCP CS6, network control
SEQ_MAX = 0xFFFFFFFD  # keepalived: past this the counter "cycles" (it stops counting; see SequenceCounter)

_IPV4_MIN_HEADER = 20
_AH_HEADER = struct.Struct("!BBHII")  # next header, payload len, reserved, SPI, sequence number
_IPV4_HEADER = struct.Struct("!BBHHHBBH4s4s")


def ah_key(password: str | bytes) -> bytes:
    """The HMAC key of a password: its first 8 bytes, zero-padded (keepalived's `auth_data`)."""
    raw = password.encode("ascii") if isinstance(password, str) else password
    return raw[:KEY_LEN].ljust(KEY_LEN, b"\x00")


def icv(masked: bytes, key: bytes) -> bytes:
    """HMAC-MD5-96 (RFC 2403) of the ICV input (`masked`: mutable fields and ICV already zeroed)."""
    return hmac.digest(key, masked, "md5")[:ICV_LEN]


def _masked(datagram: bytes | bytearray, ihl: int, unicast: bool) -> bytes:
    """The bytes the ICV covers: TOS, flags/fragment offset and header checksum zeroed, the TTL as well in
    unicast mode only (keepalived's choice), and the ICV itself zeroed."""
    m = bytearray(datagram)
    m[1] = 0  # TOS
    m[6:8] = b"\x00\x00"  # flags and fragment offset
    m[10:12] = b"\x00\x00"  # header checksum
    if unicast:
        m[8] = 0  # TTL: keepalived zeroes it only when sending to unicast peers (it may be routed)
    m[ihl + 12 : ihl + AH_LEN] = bytes(ICV_LEN)
    return bytes(m)


def wrap(
    vrrp: bytes,
    *,
    source: IPv4Address,
    destination: IPv4Address,
    key: bytes,
    seq: int,
    ident: int,
    unicast: bool = False,
    ttl: int = VRRP_TTL,
) -> bytes:
    """The whole IPv4 datagram of one AH-protected VRRPv2 message, for a raw socket with IP_HDRINCL.

    `vrrp` is the encoded VRRPv2 message (Auth Type 2, zero auth data); `seq` the sequence number
    (`SequenceCounter.next`), `ident` the IP Identification (1..65535: the ICV covers it, and the kernel
    replaces a 0). `unicast` selects keepalived's unicast ICV (TTL zeroed): it must match the receiver's
    mode. The header checksum is filled in (the kernel recomputes it anyway). Raises ValueError on misuse.
    """
    if len(key) != KEY_LEN:
        raise ValueError(f"the AH key is exactly {KEY_LEN} bytes (see ah_key)")
    if not 0 <= seq <= 0xFFFFFFFF:
        raise ValueError(f"sequence number {seq} out of range")
    if not 1 <= ident <= 0xFFFF:
        raise ValueError(f"IP identification {ident} out of range 1..65535")
    total = _IPV4_MIN_HEADER + AH_LEN + len(vrrp)
    header = _IPV4_HEADER.pack(
        0x45, TOS, total, ident, 0, ttl, AH_PROTOCOL, 0, source.packed, destination.packed
    )
    # RFC 2402 §2: next header is VRRP; the SPI is the source address (keepalived's choice, see module doc).
    ah = _AH_HEADER.pack(VRRP_PROTOCOL, AH_PAYLOAD_LEN, 0, int(source), seq) + bytes(ICV_LEN)
    datagram = bytearray(header + ah + vrrp)
    datagram[10:12] = struct.pack("!H", internet_checksum(header))
    datagram[_IPV4_MIN_HEADER + 12 : _IPV4_MIN_HEADER + AH_LEN] = icv(
        _masked(datagram, _IPV4_MIN_HEADER, unicast), key
    )
    return bytes(datagram)


@dataclass(frozen=True, slots=True)
class Opened:
    """An AH datagram whose ICV and SPI checked out: `datagram` is it without the AH, ready for
    `packet.decode_ipv4` (see `open_ah`), `seq` its sequence number (not yet judged for replay)."""

    datagram: bytes
    seq: int


def vrid_of(datagram: bytes) -> int | None:
    """The VRID byte of the VRRP message behind the AH, unverified (which router's key to try); None if
    the datagram is too short to hold one."""
    if len(datagram) < _IPV4_MIN_HEADER:
        return None
    at = (datagram[0] & 0x0F) * 4 + AH_LEN + 1
    return datagram[at] if len(datagram) > at else None


def admission_key(datagram: bytes) -> bytes:
    """Source address and VRID byte, unparsed: `admission.SenderAdmission`'s key for an AH datagram."""
    ihl = (datagram[0] & 0x0F) * 4 if datagram else 0
    return datagram[12:16] + datagram[ihl + AH_LEN + 1 : ihl + AH_LEN + 2]


def open_ah(datagram: bytes, key: bytes, *, unicast: bool = False) -> Opened | DropReason:
    """Check an IPv4 datagram of protocol 51 as keepalived's `vrrp_in_chk_ipsecah` does, without the
    replay check (that needs the router's `SequenceCounter`).

    Order as keepalived: the header's shape, next header 112 (an AH for another protocol is not ours),
    the ICV (until it matches, no field can be trusted), then the SPI. `unicast` is the receiving router's
    mode (keepalived zeroes the TTL in the ICV input by its own configuration).

    The datagram handed back has the AH removed, the total length reduced by its 24 bytes and the
    protocol byte left at 51. `packet.decode_ipv4` takes protocol 51 as "authenticated by AH" (its
    `Received.ah`): a raw protocol-112 socket never delivers that byte, and an AH datagram that was not
    opened here still has the AH where the VRRP version nibble is expected, so it fails decoding.
    """
    if len(datagram) < _IPV4_MIN_HEADER:
        return DropReason.TRUNCATED
    if datagram[0] >> 4 != 4:
        return DropReason.NOT_IPV4
    ihl = (datagram[0] & 0x0F) * 4
    if ihl < _IPV4_MIN_HEADER:
        return DropReason.BAD_IP_HEADER
    if datagram[9] != AH_PROTOCOL:
        return DropReason.NOT_VRRP
    (total,) = struct.unpack_from("!H", datagram, 2)
    if total != len(datagram):
        return DropReason.LENGTH_MISMATCH
    if len(datagram) < ihl + AH_LEN:
        return DropReason.TRUNCATED
    next_header, payload_len, _reserved, spi, seq = _AH_HEADER.unpack_from(datagram, ihl)
    if next_header != VRRP_PROTOCOL:
        # keepalived: "an AH header for some other protocol - ignore packet".
        return DropReason.AH_NOT_VRRP
    if payload_len != AH_PAYLOAD_LEN:
        # Another algorithm's ICV length: not HMAC-MD5-96, so it cannot be one of ours.
        return DropReason.AH_BAD_HEADER
    got = datagram[ihl + 12 : ihl + AH_LEN]
    if not hmac.compare_digest(got, icv(_masked(datagram, ihl, unicast), key)):
        # keepalived: "invalid IPSEC HMAC-MD5 value. Due to fields mutation or bad password !"
        return DropReason.AH_BAD_ICV
    if spi != int.from_bytes(datagram[12:16], "big"):
        return DropReason.AH_BAD_SPI
    header = bytearray(datagram[:ihl])
    header[2:4] = struct.pack("!H", total - AH_LEN)
    return Opened(bytes(header) + datagram[ihl + AH_LEN :], seq)


@dataclass(slots=True)
class SequenceCounter:
    """One virtual router's AH sequence number, shared by its sent and accepted adverts (keepalived's
    `ipsecah_counter`; vrrp.c). Not RFC 2402's per-SA window: keepalived's rules, for interoperability.

    * Sending (`next`): +1 before each advert, so a fresh router's first advert carries 1. Past 0xFFFFFFFD
      the counter stops and `cycle` is set (keepalived: 2^32 seconds are over 136 years of adverts).
    * Receiving (`accept`): an advert is a replay unless its number is above the counter, which then
      takes it. So after a restart (counting from 1 again) a node's adverts are dropped by peers that heard
      higher numbers, until the numbers meet again:
    * a master hearing a lower-priority advert (`lower_priority_heard`) jumps past it ("Syncing seq_num"),
      so its next advert is accepted by that router — which is how a restarted master takes over again.
    * `became_master` restarts from 0 after a cycle; a backup hearing its master clears the cycle.
    """

    seq: int = 0
    cycle: bool = False

    def next(self) -> int:
        """The sequence number of the next advert to send (keepalived `vrrp_update_pkt`)."""
        if self.seq > SEQ_MAX:
            self.cycle = True
        else:
            self.seq += 1
        return self.seq

    def accept(self, seq: int, *, backup: bool = False) -> bool:
        """Anti-replay (keepalived `vrrp_in_chk_ipsecah`): True, and the counter takes `seq`, when it is
        above the counter; False for a replay. `backup`: the router is a backup (a fresh number from the
        master clears `cycle`)."""
        if seq <= self.seq:
            return False
        self.seq = seq
        if backup:
            self.cycle = False
        return True

    def lower_priority_heard(self, seq: int) -> None:
        """A master accepted a lower-priority advert numbered `seq`: continue past it (keepalived
        `vrrp_state_master_rx`), so the next advert we send is above that router's counter."""
        self.seq = (seq + 1) & 0xFFFFFFFF
        self.cycle = False

    def higher_priority_heard(self) -> None:
        """A master accepted a higher-priority advert and steps down (keepalived clears `cycle`)."""
        self.cycle = False

    def became_master(self) -> None:
        """The router became MASTER: after a cycle, count from 0 again (keepalived
        `vrrp_state_goto_master`: "we reset the anti-replay")."""
        if self.cycle:
            self.cycle = False
            self.seq = 0


def verify(
    datagram: bytes, key: bytes, counter: SequenceCounter, *, unicast: bool = False, backup: bool = False
) -> Opened | DropReason:
    """`open_ah`, then the replay check against `counter` (which takes the number when it passes)."""
    opened = open_ah(datagram, key, unicast=unicast)
    if isinstance(opened, DropReason):
        return opened
    if not counter.accept(opened.seq, backup=backup):
        # keepalived: "sequence number %u already processed. Packet dropped."
        return DropReason.AH_REPLAY
    return opened


@dataclass(slots=True)
class Identification:
    """The IP Identification of our AH adverts: the ICV covers it, so we choose it (keepalived counts per
    virtual router from 1, skipping 0, which the kernel would replace)."""

    value: int = 0

    def next(self) -> int:
        """The next Identification, 1..65535."""
        self.value = self.value % 0xFFFF + 1
        return self.value

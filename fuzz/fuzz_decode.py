"""Fuzzing campaign for the codec (`vrrpd.protocol.packet`): decode_vrrp, decode_ipv4 and validate_advert.

Not run in CI (tests/protocol/test_packet_fuzz.py is the CI-sized version). Every input is judged by `judge`,
which
raises `InvariantError` when the codec breaks a promise:

* a peer's bytes never raise: the decoders return an `Advertisement` / `Received` or a `DropReason`;
* `decode_vrrp` accepts exactly what RFC 3768 §7.1 accepts, restated independently here (version 2,
  type 1, length = 16 + 4 × count, the one's complement sum of the words a non-zero multiple of 0xffff,
  VRID ≠ 0), and `decode_ipv4` exactly what the IP rules accept (IPv4, 20 ≤ IHL ≤ length, total length =
  bytes received, protocol 112, TTL 255 if sent to 224.0.0.18, then the VRRP rules on the payload — RFC
  3768's for version 2, RFC 5798's for version 3: length = 8 + 4 × count, the sum verifying with the IPv4
  pseudo-header);
* whatever decodes re-encodes to exactly the bytes it came from;
* `validate_advert` on a decoded datagram returns what the §7.1 configuration checks, restated here, return,
  and the order of the address list never changes the verdict.

Inputs: random bytes, random IPv4-looking bytes, encoded advertisements of random fields, and those
mutated (bit flips, byte rewrites to boundary values, truncation, extension, insertion, deletion,
duplication, splicing), with the checksum recomputed half the time so that mutations reach the rules
behind it, under IPv4 headers that are right but for at most one field.

    .venv/bin/python fuzz/fuzz_decode.py --inputs 1000000             # plain `random`, seeded
    .venv/bin/python fuzz/fuzz_decode.py --inputs 10000000 --seed 7
    .venv/bin/python fuzz/fuzz_decode.py --atheris --inputs 1000000   # coverage-guided (libFuzzer)

Prints inputs, seconds, inputs/s and a histogram of outcomes; exits 1 on any broken invariant (the input
is printed in hex, and with the seed the run reproduces). See docs/fuzzing.md.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import os
import random
import struct
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from ipaddress import IPv4Address

from vrrpd.protocol import packet
from vrrpd.protocol.packet import (
    AUTH_AH,
    AUTH_DATA_LEN,
    AUTH_NONE,
    AUTH_PASS,
    PRIORITY_OWNER,
    VRRP_MULTICAST,
    Advertisement,
    DropReason,
    IPAddress,
    Received,
    decode_ipv4,
    decode_vrrp,
    encode,
    internet_checksum,
    validate_advert,
)

HEADER_AND_AUTH = 8 + AUTH_DATA_LEN
PROGRESS_EVERY = 1_000_000
MAX_FAILURES_SHOWN = 5
ME, PEER = IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2")
VIPS = tuple(IPv4Address(f"192.0.2.{i}") for i in range(100, 104))
BOUNDARY_BYTES = (0x00, 0x01, 0x02, 0x03, 0x0F, 0x10, 0x21, 0x31, 0x45, 0x70, 0x7F, 0x80, 0xFE, 0xFF)


class InvariantError(AssertionError):
    """The codec broke one of its promises for this input."""


# ---------------------------------------------------------------------------------------------------------
# Independent oracles and the judge


def ones_complement_ok(data: bytes) -> bool:
    """Checksum verification without folding: the 16-bit words sum to a non-zero multiple of 0xffff."""
    padded = data + b"\x00" * (len(data) % 2)
    total = int(sum(struct.unpack(f"!{len(padded) // 2}H", padded)))
    return total != 0 and total % 0xFFFF == 0


def vrrp_acceptable(data: bytes) -> bool:
    return (
        len(data) >= HEADER_AND_AUTH
        and data[0] == 0x21
        and len(data) == HEADER_AND_AUTH + 4 * data[3]
        and ones_complement_ok(data)
        and data[1] != 0
    )


def sent_as(message: bytes) -> bytes:
    """A decodable message as we would encode it: a v3 message's reserved bits are sent as zero (RFC 5798
    §5.2.6, "ignored on reception"); everything else is kept, the checksum included."""
    if message[:1] == b"\x31":
        return message[:4] + bytes([message[4] & 0x0F]) + message[5:]
    return message


def vrrp3_acceptable(data: bytes, src: bytes, dst: bytes) -> bool:
    """RFC 5798 §7.1 over IPv4: version 3, type 1, length = 8 + 4 × count, VRID ≠ 0, and the sum verifying
    with the pseudo-header (source, destination, 0, 112, length) — or, sent to a unicast address, with
    224.0.0.18 as its destination (keepalived's old unicast checksum, accepted on receipt)."""

    def pseudo(to: bytes) -> bytes:
        return src + to + bytes([0, 112]) + len(data).to_bytes(2, "big")

    return (
        len(data) >= 8
        and data[0] == 0x31
        and len(data) == 8 + 4 * data[3]
        and (
            ones_complement_ok(pseudo(dst) + data)
            or (dst != VRRP_MULTICAST.packed and ones_complement_ok(pseudo(VRRP_MULTICAST.packed) + data))
        )
        and data[1] != 0
    )


def ipv4_acceptable(data: bytes) -> bool:
    ihl = (data[0] & 0x0F) * 4 if data else 0
    return (
        len(data) >= 20
        and data[0] >> 4 == 4
        and 20 <= ihl <= len(data)
        and int.from_bytes(data[2:4], "big") == len(data)
        and (data[8] == 255 or data[16:20] != VRRP_MULTICAST.packed)  # TTL binds multicast adverts only
        # 112, or 51: a datagram `protocol.ah.open_ah` verified and stripped of its AH (Received.ah)
        and data[9] in (112, 51)
        and (vrrp_acceptable(data[ihl:]) or vrrp3_acceptable(data[ihl:], data[12:16], data[16:20]))
    )


@dataclasses.dataclass(frozen=True)
class Config:
    """The local virtual router's side of §7.1, as `validate_advert` takes it."""

    vrid: int
    advert_int: int
    addresses: tuple[IPAddress, ...]
    own_addresses: tuple[IPAddress, ...]
    auth_type: int
    auth_data: bytes
    unicast_peers: tuple[IPAddress, ...]

    def validate(self, rx: Received) -> DropReason | None:
        return validate_advert(
            rx,
            vrid=self.vrid,
            advert_int=self.advert_int,
            addresses=self.addresses,
            own_addresses=self.own_addresses,
            auth_type=self.auth_type,
            auth_data=self.auth_data,
            unicast_peers=self.unicast_peers,
            version=2,
        )

    def expected(self, rx: Received) -> DropReason | None:
        """§7.1's configuration checks restated, in the RFC's order."""
        adv = rx.advert
        checks = (
            (rx.source.version != 4, DropReason.WRONG_FAMILY),
            (adv.version != 2, DropReason.BAD_VERSION),  # a v2 router; decode_ipv4 also decodes v3
            (rx.source in self.own_addresses, DropReason.OWN_PACKET),
            (bool(self.unicast_peers) and rx.source not in self.unicast_peers, DropReason.NOT_A_PEER),
            (not self.unicast_peers and rx.destination != VRRP_MULTICAST, DropReason.BAD_DESTINATION),
            (adv.vrid != self.vrid, DropReason.UNKNOWN_VRID),
            # Auth type 2 (RFC 2338 §5.3.6.3) only behind an AH that `protocol.ah` verified (`rx.ah`).
            (
                adv.auth_type != self.auth_type or rx.ah != (self.auth_type == AUTH_AH),
                DropReason.AUTH_TYPE_MISMATCH,
            ),
            (adv.auth_type == AUTH_PASS and adv.auth_data != self.auth_data, DropReason.AUTH_MISMATCH),
            (adv.advert_int != self.advert_int, DropReason.INTERVAL_MISMATCH),
            (
                adv.priority != PRIORITY_OWNER
                and collections.Counter(adv.addresses) != collections.Counter(self.addresses),
                DropReason.ADDRESS_MISMATCH,
            ),
        )
        return next((reason for failed, reason in checks if failed), None)


def _label(result: object) -> str:
    return result.value if isinstance(result, DropReason) else "decoded"


def judge_vrrp(data: bytes) -> str:
    result = decode_vrrp(data)
    if not isinstance(result, Advertisement | DropReason):
        raise InvariantError(f"decode_vrrp returned {result!r}")
    if isinstance(result, Advertisement) != vrrp_acceptable(data):
        raise InvariantError(f"decode_vrrp returned {result!r}; the §7.1 restatement disagrees")
    if isinstance(result, Advertisement) and encode(result) != data:
        raise InvariantError(f"{result!r} re-encodes to {encode(result).hex()}")
    return "vrrp " + _label(result)


def judge_ipv4(data: bytes, config: Config | None) -> list[str]:
    result = decode_ipv4(data)
    if not isinstance(result, Received | DropReason):
        raise InvariantError(f"decode_ipv4 returned {result!r}")
    if isinstance(result, Received) != ipv4_acceptable(data):
        raise InvariantError(f"decode_ipv4 returned {result!r}; the §7.1 restatement disagrees")
    outcomes = ["ipv4 " + _label(result)]
    if isinstance(result, DropReason):
        return outcomes
    ihl = (data[0] & 0x0F) * 4
    if (result.source.packed, result.destination.packed, result.ttl) != (data[12:16], data[16:20], data[8]):
        raise InvariantError(f"IP fields wrong in {result!r}")
    wire = encode(result.advert, source=result.source, destination=result.destination)
    if wire != sent_as(data[ihl:]):
        raise InvariantError(f"{result.advert!r} re-encodes to {wire.hex()}")
    if config is not None:
        verdict = config.validate(result)
        if verdict != config.expected(result):
            raise InvariantError(
                f"validate_advert: {verdict}, expected {config.expected(result)} for {config}"
            )
        addresses = result.advert.addresses
        for reorder in (addresses[::-1], addresses[1:] + addresses[:1]):
            moved = dataclasses.replace(result, advert=dataclasses.replace(result.advert, addresses=reorder))
            if config.validate(moved) != verdict:
                raise InvariantError("validate_advert depends on the order of the address list")
        outcomes.append("validate_advert " + ("accept" if verdict is None else verdict.value))
    return outcomes


# ---------------------------------------------------------------------------------------------------------
# Input generation (plain random, seeded)


def fix_checksum(data: bytes) -> bytes:
    if len(data) < 8:
        return data
    zeroed = data[:6] + b"\x00\x00" + data[8:]
    return zeroed[:6] + struct.pack("!H", internet_checksum(zeroed)) + zeroed[8:]


def random_length(rng: random.Random, limit: int) -> int:
    """Mostly around real advertisement sizes, sometimes anything up to `limit`."""
    return rng.randrange(64) if rng.random() < 0.8 else rng.randrange(limit + 1)


def random_advert(rng: random.Random) -> Advertisement:
    if rng.random() < 0.7:  # the configured VIPs, in any order, sometimes repeated
        addresses = tuple(rng.choices(VIPS, k=rng.randrange(5)))
    else:
        count = rng.randrange(5) if rng.random() < 0.8 else rng.randrange(256)
        addresses = tuple(IPv4Address(rng.getrandbits(32)) for _ in range(count))
    auth_type, auth_data = rng.choice(
        [
            (AUTH_NONE, bytes(AUTH_DATA_LEN)),
            (AUTH_PASS, b"secret\x00\x00"),
            (AUTH_PASS, b"Secret\x00\x00"),
            (rng.randrange(256), rng.randbytes(AUTH_DATA_LEN)),
        ]
    )
    return Advertisement(
        vrid=rng.choice((1, 51, 255, rng.randrange(1, 256))),
        priority=rng.choice((0, 100, 254, PRIORITY_OWNER, rng.randrange(256))),
        addresses=addresses,
        advert_int=rng.choice((1, 3, rng.randrange(256))),
        auth_type=auth_type,
        auth_data=auth_data,
    )


def mutate(rng: random.Random, data: bytes, donor: bytes) -> bytes:
    """1-4 edits: flip, rewrite to a boundary value, truncate, extend, insert, delete, duplicate, splice."""
    buf = bytearray(data)
    for _ in range(rng.randrange(1, 5)):
        # Half the edits land in the 8-byte VRRP header (or the IP header), where the rules live.
        at = rng.randrange(min(len(buf), 8 if rng.random() < 0.5 else len(buf))) if buf else 0
        op = rng.randrange(8)
        if op == 0 and buf:
            buf[at] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:
            buf[at] = rng.choice(BOUNDARY_BYTES) if rng.random() < 0.5 else rng.randrange(256)
        elif op == 2:
            del buf[rng.randrange(len(buf) + 1) :]
        elif op == 3:
            buf += rng.randbytes(rng.randrange(1, 13))
        elif op == 4:
            buf[at:at] = rng.randbytes(rng.randrange(1, 9))
        elif op == 5 and buf:
            del buf[at : at + rng.randrange(1, 9)]
        elif op == 6 and buf:
            buf[at:at] = buf[at : at + rng.choice((2, 4, 8))]
        elif op == 7:
            cut = rng.randrange(len(donor) + 1)
            buf = buf[:at] + bytearray(donor[cut:])
    return bytes(buf)


def ip_header(rng: random.Random, payload_len: int) -> bytes:
    """A correct IPv4 header for the payload but for at most one field (version, IHL, length, TTL, proto)."""
    options = rng.choice((b"", b"", b"", bytes.fromhex("94040000"), rng.randbytes(4 * rng.randrange(11))))
    fields = {"version": 4, "ihl": 5 + len(options) // 4, "length": 20 + len(options) + payload_len}
    fields |= {"ttl": 255, "proto": 112}
    broken = rng.choice((None, None, "version", "ihl", "length", "ttl", "proto"))
    if broken is not None:
        top = {"version": 15, "ihl": 15, "length": 0xFFFF}.get(broken, 255)
        fields[broken] = rng.randrange(top + 1)
    src = rng.choice((ME, PEER, PEER, IPv4Address(rng.getrandbits(32))))
    dst = rng.choice((VRRP_MULTICAST, VRRP_MULTICAST, ME, IPv4Address(rng.getrandbits(32))))
    first = (fields["version"] << 4) | fields["ihl"]
    fixed = struct.pack(
        "!BBHHHBBH4s4s",
        first,
        0xC0,
        fields["length"],
        0,
        0,
        fields["ttl"],
        fields["proto"],
        0,
        src.packed,
        dst.packed,
    )
    return fixed + options


def random_config(rng: random.Random, adv: Advertisement, src: IPAddress) -> Config:
    """Agree with the advert field by field 4 times in 5, so every verdict (and acceptance) occurs."""

    def agree() -> bool:
        return rng.random() < 0.8

    return Config(
        vrid=adv.vrid if agree() else rng.randrange(1, 256),
        advert_int=adv.advert_int if agree() else rng.randrange(256),
        addresses=adv.addresses
        if agree()
        else (adv.addresses[::-1] if agree() else VIPS[: rng.randrange(5)]),
        own_addresses=() if agree() else rng.choice(((src,), (ME,))),
        auth_type=adv.auth_type if agree() else rng.choice((AUTH_NONE, AUTH_PASS)),
        auth_data=adv.auth_data if agree() else rng.choice((bytes(AUTH_DATA_LEN), b"secret\x00\x00")),
        unicast_peers=() if agree() else rng.choice(((src,), (PEER,), (ME, src))),
    )


Case = tuple[str, bytes, Config | None]


def generate(rng: random.Random) -> Case:
    """One input: which decoder, the bytes, and (for datagrams) a local configuration for validate_advert."""
    kind = rng.randrange(10)
    if kind == 0:
        return "vrrp", rng.randbytes(random_length(rng, 1100)), None
    if kind == 1:
        return "ipv4", rng.randbytes(random_length(rng, 1100)), None
    if kind == 2:
        return "ipv4", b"\x45" + rng.randbytes(random_length(rng, 200)), None
    adv = random_advert(rng)
    wire = encode(adv)
    if rng.random() < (0.75 if kind <= 5 else 0.4):
        wire = mutate(rng, wire, encode(random_advert(rng)))
        if rng.random() < 0.5:
            wire = fix_checksum(wire)
    if kind <= 5:
        return "vrrp", wire, None
    datagram = ip_header(rng, len(wire)) + wire
    if kind == 9:
        datagram = mutate(rng, datagram, wire)
    src = IPv4Address(datagram[12:16]) if len(datagram) >= 16 else PEER
    return "ipv4", datagram, random_config(rng, adv, src)


# ---------------------------------------------------------------------------------------------------------
# Campaigns


@dataclasses.dataclass
class Stats:
    inputs: int = 0
    outcomes: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    failures: list[str] = dataclasses.field(default_factory=list)

    def run(self, case: Case) -> None:
        target, data, config = case
        self.inputs += 1
        try:
            self.outcomes.update([judge_vrrp(data)] if target == "vrrp" else judge_ipv4(data, config))
        except Exception:
            self.outcomes["FAILURE"] += 1
            if len(self.failures) < MAX_FAILURES_SHOWN:
                self.failures.append(
                    f"{target} input {data.hex()}\nconfig {config}\n{traceback.format_exc()}"
                )
            raise


def report(stats: Stats, seconds: float, engine: str) -> str:
    rate = stats.inputs / seconds if seconds > 0 else 0.0
    lines = [f"engine {engine}: {stats.inputs:,} inputs in {seconds:.1f} s = {rate:,.0f} inputs/s"]
    width = max((len(k) for k in stats.outcomes), default=0)
    for outcome, count in sorted(stats.outcomes.items()):
        lines.append(f"  {outcome:<{width}}  {count:>10,}  {100 * count / max(stats.inputs, 1):6.2f}%")
    return "\n".join(lines)


def random_campaign(inputs: int, seed: int) -> Stats:
    rng = random.Random(seed)
    stats = Stats()
    started = time.monotonic()
    for i in range(inputs):
        try:
            stats.run(generate(rng))
        except Exception:  # noqa: S112 - recorded in stats; the campaign goes on and exits 1 at the end
            continue
        if (i + 1) % PROGRESS_EVERY == 0 and i + 1 < inputs:
            print(report(stats, time.monotonic() - started, "random"), file=sys.stderr, flush=True)
    return stats


def atheris_target_case(data: bytes) -> Case:
    """Read one libFuzzer input: a selector byte, then the bytes for the decoder.

    Selector bit 0 picks decode_ipv4 (else decode_vrrp). Bits 1-3 repair, before decoding, the fields a
    byte-level mutator rarely gets right together: bit 3 sets Count IP Addrs from the length (cutting
    any odd tail), bit 2 the IP total length, bit 1 the VRRP checksum. The rest seed the local
    configuration given to validate_advert.
    """
    selector, body = (data[0], data[1:]) if data else (0, b"")
    ipv4 = bool(selector & 1)
    ihl = (body[0] & 0x0F) * 4 if ipv4 and body else 0
    vrrp = body[ihl:]
    if selector & 8 and len(vrrp) >= HEADER_AND_AUTH:
        count = min((len(vrrp) - HEADER_AND_AUTH) // 4, 255)
        vrrp = vrrp[:3] + bytes([count]) + vrrp[4 : HEADER_AND_AUTH + 4 * count]
    if selector & 2:
        vrrp = fix_checksum(vrrp)
    body = body[:ihl] + vrrp
    if ipv4 and selector & 4 and len(body) >= 4:
        body = body[:2] + struct.pack("!H", len(body) & 0xFFFF) + body[4:]
    config = None
    if ipv4:
        rx = decode_ipv4(body)
        if isinstance(rx, Received):
            config = random_config(random.Random(selector >> 4), rx.advert, rx.source)
    return ("ipv4" if ipv4 else "vrrp"), body, config


def atheris_campaign(inputs: int, seed: int, corpus: str | None) -> None:
    """Coverage-guided: libFuzzer mutates raw bytes (see `atheris_target_case`). Does not return."""
    import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]  # noqa: PLC0415 - optional

    # Only the code under test: instrumenting the harness too would slow every run for no feedback.
    for func in (decode_vrrp, decode_ipv4, validate_advert, internet_checksum, packet.encode):
        atheris.instrument_func(func)
    stats = Stats()
    started = time.monotonic()

    def target(data: bytes) -> None:
        stats.run(atheris_target_case(data))  # an exception here is libFuzzer's crash (exit non-zero)
        if stats.inputs % PROGRESS_EVERY == 0 or stats.inputs == inputs:
            # libFuzzer ends the process with exit() once -runs is reached, so the report is printed here.
            print(report(stats, time.monotonic() - started, "atheris"), flush=True)

    if corpus is None:
        corpus = tempfile.mkdtemp(prefix="vrrpd-fuzz-decode-")
    os.makedirs(corpus, exist_ok=True)
    if not os.listdir(corpus):
        # Seed with adverts and datagrams from the random generator: from 1-byte inputs libFuzzer would
        # spend a long time before its first verifying checksum.
        rng = random.Random(seed)
        for i in range(64):
            which, data, _ = generate(rng)
            with open(os.path.join(corpus, f"seed-{i:03d}"), "wb") as f:
                f.write(bytes([int(which == "ipv4")]) + data)
    atheris.Setup([sys.argv[0], f"-runs={inputs}", f"-seed={seed}", "-max_len=1200", corpus], target)
    atheris.Fuzz()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--inputs", type=int, default=1_000_000, help="inputs to try (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--atheris", action="store_true", help="coverage-guided with atheris (pip install atheris)"
    )
    parser.add_argument(
        "--corpus", default=None, help="--atheris: corpus directory (default: a new temp dir)"
    )
    args = parser.parse_args(argv)
    if args.atheris:
        atheris_campaign(args.inputs, args.seed, args.corpus)
        return 0  # not reached: libFuzzer exits (non-zero on a crash)
    started = time.monotonic()
    stats = random_campaign(args.inputs, args.seed)
    print(report(stats, time.monotonic() - started, f"random (seed {args.seed})"), flush=True)
    for failure in stats.failures:
        print(failure, file=sys.stderr)
    return 1 if stats.outcomes["FAILURE"] else 0


if __name__ == "__main__":
    sys.exit(main())

"""One ``OPENSHIFT_HA_*`` value at a time, read as the ipfailover image reads it.

The image's bash (``lib/utils.sh``, ``lib/config-generators.sh`` in openshift/images) deletes characters,
splits at some separators and not others, and does arithmetic in which ``010`` is octal. Each parser
here returns vrrpd's reading only when it is also the image's; otherwise it raises `ValueError` whose
message says what the image (or its keepalived) did instead, so that a migrating cluster never comes
up different without being told. The caller names the variable. Pure functions, no host access.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import AddressValueError, IPv4Address, IPv6Address

__all__ = [
    "MAX_PREEMPT_DELAY",
    "MAX_SECONDS",
    "VIP",
    "Preemption",
    "bash_count",
    "check_interval",
    "image_vips",
    "ipv4",
    "parse_peers",
    "parse_preemption",
    "parse_virtual_ips",
    "scrub",
]

MAX_SECONDS = 3600
# keepalived's TIMER_MAX_SEC: a larger preempt_delay is "not valid" and becomes 0 (preempt at once).
MAX_PREEMPT_DELAY = 1000
# What the image keeps of a VIP list before splitting it: sed 's/[^0-9a-fA-F:\.,-]//g'.
_IMAGE_DELETES = re.compile(r"[^0-9a-fA-F:.,-]")
# The image's validate_ipv4 shape (then each octet <= 255).
_IMAGE_IPV4 = re.compile(r"^([0-2]?[0-9]{1,2}\.){3}[0-2]?[0-9]{1,2}$")
_DIGITS = re.compile(r"^[0-9]+$")
# What the image's bc reads as a hexadecimal number (ibase=16): upper-case digits only.
_BC_HEX = re.compile(r"^[0-9A-F]{1,4}$")

VIP = IPv4Address | IPv6Address


def scrub(name: str) -> str:
    """The image's ``scrub``: keep letters, digits, '-' and '_', then '-' becomes '_'."""
    return re.sub(r"[^A-Za-z0-9_-]", "", name).replace("-", "_")


def ipv4(text: str) -> IPv4Address:
    """A dotted-quad IPv4 address as keepalived's inet_pton reads it (no leading zeros)."""
    if ":" in text:
        raise ValueError(f"{text!r}: IPv6 is not supported yet (VRRPv3)")
    try:
        return IPv4Address(text)
    except AddressValueError:
        raise ValueError(f"{text!r} is not an IPv4 address") from None


def _unicast_problem(address: VIP) -> str | None:
    if address.is_multicast or address.is_unspecified or address.is_loopback:
        return f"{address} is not a unicast address"
    if address == IPv4Address("255.255.255.255"):
        return f"{address} is the broadcast address"
    return None


# ---------------------------------------------------------------------------------------------
# VIP lists


def image_vips(text: str) -> list[str]:
    """The addresses the image's ``expand_ip_ranges`` writes for ``text`` (IPv4 entries only).

    Used to tell the operator what the image made of a value vrrpd refuses: it deletes every
    character but hex digits, ':', '.', ',' and '-', splits at commas, keeps only the last octet of
    a range's end and lets ``seq`` count (nothing for a reversed range, past 255 otherwise).
    """
    vips: list[str] = []
    for entry in _IMAGE_DELETES.sub("", text).split(","):
        if not entry:
            continue
        start, _, end = entry.partition("-")
        end = end.split("-")[0]
        if not _IMAGE_IPV4.match(start) or any(int(o) > 255 for o in start.split(".")):
            continue  # neither IPv4 nor (for this reader) anything else: the image skips it
        if not end:
            vips.append(start)
            continue
        base, first = start.rsplit(".", 1)
        last = end.rsplit(".", 1)[-1]
        if not _DIGITS.match(last):
            continue
        vips += [f"{base}.{n}" for n in range(int(first), int(last) + 1)]
    return vips


def _image_said(text: str) -> str:
    made = image_vips(text)
    if not made:
        return "the image wrote no VIP at all"
    shown = ", ".join(made) if len(made) <= 4 else f"{made[0]} ... {made[-1]} ({len(made)} VIPs)"
    return f"the image read {shown}"


def parse_virtual_ips(text: str) -> tuple[VIP, ...]:
    """Expand ``OPENSHIFT_HA_VIRTUAL_IPS``; a ValueError says what differs from the image's reading (the
    caller adds what is allowed)."""
    vips: list[VIP] = []
    seen: set[VIP] = set()
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue  # "a,,b" and a trailing comma: the image skips empty entries too
        if any(c.isspace() for c in entry):
            raise ValueError(
                f"{entry!r}: spaces between entries: the image deletes spaces ({_image_said(text)}); "
                "separate entries with commas"
            )
        if "/" in entry:
            raise ValueError(
                f"{entry!r}: a prefix length: each VIP is a /32 and the image deletes the '/' "
                f"({_image_said(text)})"
            )
        deleted = sorted(set(_IMAGE_DELETES.findall(entry)))
        if deleted:
            said = "" if ":" in entry else f" ({_image_said(text)})"
            raise ValueError(f"{entry!r}: the image deletes {''.join(deleted)!r}{said}")
        for address in _entry(entry, text):
            problem = _unicast_problem(address)
            if problem is not None:
                raise ValueError(f"{entry!r}: {problem}")
            if address in seen:
                raise ValueError(f"{address} is listed twice (the image made two instances hold it)")
            seen.add(address)
            vips.append(address)
    if not vips:
        raise ValueError("no address given")
    return tuple(vips)


def _entry(entry: str, text: str) -> list[VIP]:
    start_text, dash, end_text = entry.partition("-")
    if ":" in start_text:
        return list(_ipv6_entry(entry, start_text, dash, end_text))
    if _IMAGE_IPV4.match(start_text) and "0" in [o[:1] for o in start_text.split(".") if len(o) > 1]:
        raise ValueError(f"{entry!r}: a leading zero; the image wrote it and keepalived skipped it")
    start = ipv4(start_text)
    if not dash:
        return [start]
    octets = str(start).split(".")
    if _DIGITS.match(end_text):
        end_octet = end_text
    else:
        try:
            end = ipv4(end_text)
        except ValueError:
            raise ValueError(
                f"{entry!r}: the range end must be a last octet (0..255) or an IPv4 address "
                f"({_image_said(text)})"
            ) from None
        if str(end).split(".")[:3] != octets[:3]:
            raise ValueError(
                f"{entry!r}: a range may only vary the last octet; the image kept only the end's last "
                f"octet ({'.'.join(octets[:3])}.{octets[3]}-{str(end).split('.')[3]})"
            )
        end_octet = str(end).split(".")[3]
    if len(end_octet) > 1 and end_octet.startswith("0"):
        raise ValueError(f"{entry!r}: a leading zero in the range end; write {int(end_octet)}")
    first, last = int(octets[3]), int(end_octet)
    if last < first:
        raise ValueError(f"{entry!r}: a reversed range; the image dropped it (seq counts nothing)")
    if last > 255:
        raise ValueError(
            f"{entry!r}: the range end must be at most 255; the image wrote "
            f"{'.'.join(octets[:3])}.256 and beyond, which keepalived skipped"
        )
    return [IPv4Address(".".join([*octets[:3], str(octet)])) for octet in range(first, last + 1)]


def _ipv6_entry(entry: str, start_text: str, dash: str, end_text: str) -> list[IPv6Address]:
    """The image's ``expand_ipv6_range``: the last group of the start and the end are hexadecimal numbers
    read by ``bc`` (upper-case digits only), the addresses written with upper-case digits."""
    try:
        start = IPv6Address(start_text)
    except AddressValueError:
        raise ValueError(f"{entry!r}: {start_text!r} is not an IPv6 address") from None
    if not dash:
        return [start]
    base, _, last = start_text.rpartition(":")
    if not _BC_HEX.match(last) or not _BC_HEX.match(end_text):
        raise ValueError(
            f"{entry!r}: an IPv6 range counts its last group in hexadecimal with bc, which reads only "
            "digits and upper-case A-F (lower case was 0 or an error): write e.g. 2001:db8::1A-1F"
        )
    first, stop = int(last, 16), int(end_text, 16)
    if stop < first:
        raise ValueError(f"{entry!r}: a reversed range; the image dropped it (seq counts nothing)")
    return [IPv6Address(f"{base}:{n:X}") for n in range(first, stop + 1)]


def parse_peers(text: str, allowed: str) -> tuple[IPv4Address, ...]:
    """A comma-separated address list (the image splits ``OPENSHIFT_HA_UNICAST_PEERS`` at commas only)."""
    peers: list[IPv4Address] = []
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        if any(c.isspace() for c in entry):
            raise ValueError(
                f"{entry!r}: spaces between addresses: the image splits at commas only and keepalived "
                f"took the first address of {entry!r}; must be {allowed}"
            )
        try:
            peer = ipv4(entry)
        except ValueError as exc:
            raise ValueError(f"{exc}; must be {allowed}") from None
        problem = _unicast_problem(peer)
        if problem is not None:
            raise ValueError(f"{problem}; must be {allowed}")
        if peer in peers:
            raise ValueError(f"{peer} is listed twice; must be {allowed}")
        peers.append(peer)
    return tuple(peers)


# ---------------------------------------------------------------------------------------------
# Numbers


def bash_count(text: str, low: int, high: int) -> int:
    """An integer the image uses in bash arithmetic, where ``010`` is octal 8 and ``08`` an error."""
    value = text.strip()
    if not _DIGITS.match(value):
        raise ValueError("not a whole number")
    if len(value) > 1 and value.startswith("0"):
        if all(c in "01234567" for c in value):
            raise ValueError(f"a leading zero: bash reads {value} as octal {int(value, 8)}")
        raise ValueError(f"a leading zero: bash reads {value} as octal, and fails on it")
    number = int(value)
    if not low <= number <= high:
        raise ValueError(f"out of range {low}..{high}")
    return number


@dataclass(frozen=True)
class Interval:
    """A check interval as keepalived read the image's ``interval`` line, and why if it differs."""

    seconds: float
    note: str | None = None


def check_interval(text: str) -> Interval:
    """keepalived reads a vrrp_script interval as whole seconds: 0 becomes 1, and a value that is not a
    whole number is ignored (its default, 1 s, applies). vrrpd uses what keepalived used."""
    value = text.strip()
    if _DIGITS.match(value):
        seconds = int(value)
        if seconds > MAX_SECONDS:
            raise ValueError(f"more than vrrpd's {MAX_SECONDS} seconds (keepalived took up to 4294)")
        if seconds == 0:
            return Interval(1.0, "0 means 1 s, as keepalived read it: vrrpd uses 1 s too")
        return Interval(float(seconds))
    try:
        number = float(value)
    except ValueError:
        raise ValueError("not a number of seconds") from None
    if not 0 <= number <= MAX_SECONDS:
        raise ValueError(f"not a number of seconds 1..{MAX_SECONDS}")
    return Interval(
        1.0,
        f"{value} is not a whole number: keepalived ignored it and checked every 1 s (its default); "
        "vrrpd uses 1 s too (write a whole number of seconds to change it)",
    )


# ---------------------------------------------------------------------------------------------
# Preemption


@dataclass(frozen=True)
class Preemption:
    preempt: bool
    delay: float


def parse_preemption(text: str) -> Preemption:
    """``OPENSHIFT_HA_PREEMPTION``: the image writes the value as a line of each instance, so it is a
    keepalived keyword: ``preempt_delay N``, ``nopreempt`` or ``preempt``."""
    words = text.split()
    if text == "nopreempt":
        return Preemption(False, 0.0)
    if words == ["nopreempt"]:
        # The image compares the raw value with "nopreempt" to decide `state MASTER`; padded, it
        # misses, and keepalived clears nopreempt on every `state MASTER` instance.
        raise ValueError(
            "spaces around nopreempt: the image did not recognise it, gave its instances state MASTER, "
            "and keepalived then cleared nopreempt on them; write exactly nopreempt"
        )
    if words == ["preempt"]:
        return Preemption(True, 0.0)
    if len(words) == 2 and words[0] == "preempt_delay":
        try:
            delay = float(words[1]) if re.match(r"^[0-9]+(\.[0-9]{1,6})?$", words[1]) else -1.0
        except ValueError:
            delay = -1.0
        if 0 <= delay <= MAX_PREEMPT_DELAY:
            return Preemption(True, delay)
        raise ValueError(
            f"preempt_delay {words[1]!r} is not 0..{MAX_PREEMPT_DELAY} seconds: keepalived refused it and "
            "preempted at once"
        )
    shown = words[0] if words else ""
    raise ValueError(
        f"keepalived read {shown!r} as an unknown keyword, ignored it and preempted at once; must be "
        '"preempt_delay N" (N seconds), "nopreempt" or "preempt"'
    )

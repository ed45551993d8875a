"""Sender admission: a per-sender budget judged on a datagram's raw bytes, before anything is decoded.

Sans-I/O, standard library only: the caller passes its clock reading (`now`) and drops what is refused,
counting it as `rate_limited`. Owns the token buckets; must not parse VRRP (that is `packet`'s job, and
its cost is what this avoids).

Why: decoding and judging one advert costs far more in Python than a dict lookup, so under a flood of
adverts the daemon falls behind, and whatever it cannot read in time the kernel drops from the socket
buffer — the real master's adverts included, until a backup declares it dead (the measurements are in
docs/reliability.md, "Flood"). A legitimate sender needs at most 1/advert_int adverts plus answers
rate-limited to 10/s per VRID (`fsm.ANSWER_MIN_GAP`); a flooding sender gets `rate` per second and the
rest costs a dict lookup each. At most `max_keys` senders are tracked (a spoofed-source flood must not
grow memory); past that, new senders share one bucket, and keys quiet for `idle` seconds are forgotten
at most once a second.
"""

from __future__ import annotations


class SenderAdmission:
    """Token buckets per (source address, VRID byte); see the module docstring."""

    OVERFLOW = b"other"

    def __init__(
        self, rate: float = 25.0, burst: float = 50.0, max_keys: int = 4096, idle: float = 10.0
    ) -> None:
        self.rate, self.burst, self.max_keys, self.idle = rate, burst, max_keys, idle
        self._buckets: dict[bytes, list[float]] = {}  # key -> [tokens, last refill]
        self._last_purge = 0.0

    @staticmethod
    def key(datagram: bytes) -> bytes:
        """Source address and the VRID byte, unparsed (a short or odd datagram gets a shorter key).

        IPv4 as the raw socket delivers it; IPv6 with the fixed 40-byte header the IPv6 socket rebuilds
        (`kernel.vrrp_socket6`): the source at 8..24, the VRID at 40 + 1.
        """
        if datagram and datagram[0] >> 4 == 6:
            return datagram[8:24] + datagram[41:42]
        ihl = (datagram[0] & 0x0F) * 4 if datagram else 0
        return datagram[12:16] + datagram[ihl + 1 : ihl + 2]

    def admit(self, key: bytes, now: float) -> bool:
        """Take one token from `key`'s bucket at `now` (the caller's monotonic clock); False: drop it."""
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._purge(now)
                if len(self._buckets) >= self.max_keys:
                    key = self.OVERFLOW
                    bucket = self._buckets.get(key)
            if bucket is None:
                self._buckets[key] = [self.burst - 1, now]
                return True
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens < 1:
            bucket[0] = tokens
            return False
        bucket[0] = tokens - 1
        return True

    def _purge(self, now: float) -> None:
        if now - self._last_purge < 1.0:
            return
        self._last_purge = now
        for key in [k for k, (_t, last) in self._buckets.items() if now - last >= self.idle]:
            del self._buckets[key]

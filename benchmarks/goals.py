"""The goals of docs/benchmarks.md's summary table, judged from measured figures: pure functions, no I/O.

Each goal compares vrrpd with keepalived measured in the same run: a target, what was measured, the ratio
vrrpd ÷ keepalived, and a verdict computed here — never written by hand. A goal whose figures are missing
(a section failed or was not run) is "not measured", never met. CPU ratios are paired: keepalived and
vrrpd ran in the same window, so each window gives one ratio and the goal takes their median.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks.stats import median, ratio


@dataclass(frozen=True)
class Goal:
    name: str
    target: str
    measured: str
    ratio: float | None  # vrrpd ÷ keepalived, when both were measured
    met: bool | None  # None: not measured

    @property
    def verdict(self) -> str:
        if self.met is None:
            return "not measured"
        return "met" if self.met else "**missed**"

    def row(self) -> list[str]:
        return [self.name, self.target, self.measured, _x(self.ratio), self.verdict]


def _x(value: float | None) -> str:
    return "–" if value is None else f"× {value:.2f}"


def _ms(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds * 1000:.2f} ms"


def missing(name: str, target: str) -> Goal:
    return Goal(name, target, "not measured", None, None)


def paired_ratios(vrrpd: Sequence[float], keepalived: Sequence[float]) -> list[float]:
    """vrrpd ÷ keepalived per window, for the windows where keepalived's figure is not zero."""
    return [v / k for v, k in zip(vrrpd, keepalived, strict=True) if k > 0]


def cpu(name: str, vrrpd: Sequence[float], keepalived: Sequence[float], limit: float, seconds: float) -> Goal:
    """CPU seconds per window of both, measured in the same windows; met if the median ratio ≤ `limit`."""
    target = f"≤ {limit:g} × keepalived"
    ratios = paired_ratios(vrrpd, keepalived)
    if not ratios:
        return missing(name, target)
    r = median(ratios)
    assert r is not None
    spread = f", ratios {min(ratios):.2f}–{max(ratios):.2f}" if len(ratios) > 1 else ""
    measured = (
        f"{median(vrrpd):.3f} s vs {median(keepalived):.3f} s per {seconds:.0f} s"
        f" (medians of {len(ratios)} windows{spread})"
    )
    return Goal(name, target, measured, r, r <= limit)


def memory(name: str, vrrpd_mib: float | None, keepalived_mib: float | None, limit: float) -> Goal:
    target = f"≤ {limit:g} × keepalived"
    r = ratio(vrrpd_mib, keepalived_mib)
    if r is None or vrrpd_mib is None or keepalived_mib is None:
        return missing(name, target)
    return Goal(name, target, f"{vrrpd_mib:.1f} MiB vs {keepalived_mib:.1f} MiB", r, r <= limit)


def excess(name: str, vrrpd: float | None, keepalived: float | None, within: float | None = None) -> Goal:
    """Median excess over the RFC bound (seconds): met if ≤ keepalived's (and ≤ `within` when given)."""
    target = "≤ keepalived" + ("" if within is None else f", ≤ {within * 1000:g} ms")
    if vrrpd is None or keepalived is None:
        return missing(name, target)
    # An excess can be ≤ 0 (ahead of the bound, e.g. the timer's own jitter): the ratio is then no measure.
    r = ratio(vrrpd, keepalived) if keepalived > 0 and vrrpd >= 0 else None
    met = vrrpd <= keepalived and (within is None or vrrpd <= within)
    return Goal(name, target, f"{_ms(vrrpd)} vs {_ms(keepalived)}", r, met)


def at_most(name: str, vrrpd: float | None, keepalived: float | None, limit: float) -> Goal:
    """A time (seconds) with an absolute limit; keepalived's beside it for the ratio."""
    target = f"≤ {limit * 1000:g} ms"
    if vrrpd is None:
        return missing(name, target)
    measured = f"{vrrpd * 1000:.0f} ms" + ("" if keepalived is None else f" vs {keepalived * 1000:.0f} ms")
    return Goal(name, target, measured, ratio(vrrpd, keepalived), vrrpd <= limit)


def no_loss(name: str, drops: int | None, sockets: int, detail: str = "") -> Goal:
    """No datagram dropped by the kernel for a full receive queue; needs at least one socket watched."""
    target = "0 adverts dropped"
    if drops is None or sockets == 0:
        return missing(name, target)
    measured = f"{drops} dropped ({sockets} sockets watched{'; ' + detail if detail else ''})"
    return Goal(name, target, measured, None, drops == 0)

"""Small statistics for noisy figures: medians over repeats, nearest-rank percentiles."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile (p99 of 300 samples is the 297th smallest): no interpolation."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(value: float | None, digits: int = 1) -> str:
    """Seconds → "12.3" milliseconds, or "–" when not measured."""
    return "–" if value is None else f"{value * 1000:.{digits}f}"


def spread(values: Sequence[float], digits: int = 1) -> str:
    """ "median [min–max]" in ms, the form every repeated timing takes in the report."""
    clean = [v for v in values if v is not None]
    if not clean:
        return "–"
    mid = statistics.median(clean)
    if len(clean) == 1:
        return ms(mid, digits)
    return f"{ms(mid, digits)} [{ms(min(clean), digits)}–{ms(max(clean), digits)}]"


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b

"""Percentile summaries of samples (nearest-rank on the sorted samples)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summary(values: Iterable[float | None]) -> dict[str, Any]:
    """count, p50, p90, p99, max, mean (seconds, rounded to the millisecond)."""
    clean = sorted(float(v) for v in values if v is not None and not math.isnan(float(v)))
    if not clean:
        return {"count": 0}
    return {
        "count": len(clean),
        "p50": round(percentile(clean, 0.50), 4),
        "p90": round(percentile(clean, 0.90), 4),
        "p99": round(percentile(clean, 0.99), 4),
        "max": round(clean[-1], 4),
        "mean": round(sum(clean) / len(clean), 4),
        "min": round(clean[0], 4),
    }


def rounded(values: Iterable[float | None], digits: int = 4) -> list[float | None]:
    """Raw samples for the results file, rounded to keep it readable."""
    return [None if v is None else round(float(v), digits) for v in values]

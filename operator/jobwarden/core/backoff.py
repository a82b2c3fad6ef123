"""Retry backoff: initial * factor^(n-1) seconds, capped."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """The `spec.retryBackoff` of a run."""

    initial_seconds: float = 60
    factor: float = 2
    max_seconds: float = 3600

    def delay(self, failed_attempts: int) -> float:
        """Seconds to wait before the next attempt, after `failed_attempts` failures (≥ 1)."""
        if failed_attempts < 1:
            return 0.0
        exponent = failed_attempts - 1
        # Avoid float overflow for large exponents: the cap applies anyway.
        if self.factor > 1 and exponent > 64:
            return float(self.max_seconds)
        return float(min(self.max_seconds, self.initial_seconds * self.factor**exponent))

"""Retry backoff: initial * factor^(n-1) seconds, capped."""

from __future__ import annotations

import pytest

from jobwarden.core.backoff import Backoff

DEFAULT = Backoff()


@pytest.mark.parametrize(
    ("backoff", "failed_attempts", "seconds"),
    [
        pytest.param(DEFAULT, 1, 60.0, id="defaults: first retry after 1 minute"),
        pytest.param(DEFAULT, 2, 120.0, id="defaults: second after 2 minutes"),
        pytest.param(DEFAULT, 3, 240.0, id="defaults: third after 4 minutes"),
        pytest.param(DEFAULT, 6, 1920.0, id="defaults: sixth after 32 minutes"),
        pytest.param(DEFAULT, 7, 3600.0, id="defaults: 3840 capped at the hour"),
        pytest.param(DEFAULT, 11, 3600.0, id="defaults: at the API's max attempts, capped"),
        pytest.param(DEFAULT, 0, 0.0, id="no failure yet: no wait"),
        pytest.param(DEFAULT, -3, 0.0, id="negative: no wait"),
        pytest.param(Backoff(10, 1, 3600), 1, 10.0, id="factor 1: constant (1)"),
        pytest.param(Backoff(10, 1, 3600), 9, 10.0, id="factor 1: constant (9)"),
        pytest.param(Backoff(10, 1, 3600), 10**9, 10.0, id="factor 1: huge attempt"),
        pytest.param(Backoff(5, 3, 100), 3, 45.0, id="factor 3"),
        pytest.param(Backoff(5, 3, 100), 4, 100.0, id="factor 3: 135 capped at 100"),
        pytest.param(Backoff(1.5, 1.5, 10), 2, 2.25, id="fractional"),
        pytest.param(Backoff(120, 2, 60), 1, 60.0, id="initial above cap: cap wins"),
        pytest.param(DEFAULT, 64, 3600.0, id="defaults: attempt 64"),
        pytest.param(DEFAULT, 65, 3600.0, id="defaults: attempt 65"),
        pytest.param(DEFAULT, 66, 3600.0, id="defaults: attempt 66 (exponent > 64)"),
        pytest.param(DEFAULT, 10_000, 3600.0, id="defaults: attempt 10000 (no overflow)"),
        pytest.param(DEFAULT, 10**18, 3600.0, id="defaults: attempt 1e18"),
        pytest.param(Backoff(1, 10, 86400), 65, 86400.0, id="API max factor 10: exponent 64"),
        pytest.param(Backoff(1, 10, 86400), 10**6, 86400.0, id="API max factor 10: huge"),
    ],
)
def test_delay(backoff: Backoff, failed_attempts: int, seconds: float) -> None:
    delay = backoff.delay(failed_attempts)
    assert delay == pytest.approx(seconds)
    assert isinstance(delay, float)


def test_defaults_are_the_documented_ones() -> None:
    assert Backoff(initial_seconds=60, factor=2, max_seconds=3600) == DEFAULT
    assert [DEFAULT.delay(n) for n in range(1, 8)] == [60, 120, 240, 480, 960, 1920, 3600]


@pytest.mark.parametrize(
    "backoff",
    [DEFAULT, Backoff(1, 1, 1), Backoff(1, 10, 86400), Backoff(30, 1.1, 600)],
    ids=["defaults", "all ones", "API max factor", "gentle"],
)
def test_delay_never_decreases_and_never_exceeds_the_cap(backoff: Backoff) -> None:
    delays = [backoff.delay(n) for n in range(1, 200)]
    assert delays == sorted(delays)
    assert max(delays) <= backoff.max_seconds

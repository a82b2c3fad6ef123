"""When a queued run will start: its position over the pace its namespace admits at.

A queued run starts when that many slots ahead of it have been freed, so the pace is
measured from the slots the namespace's workers free (a worker ending, cancelled or
failed): while runs wait, each freed slot admits the next one, so this is the
namespace's admission rate under a full quota. Admissions themselves would mislead:
a burst that fills empty slots (twenty runs admitted at once into a free quota of
twenty) says nothing about how fast the queue drains, and an operator busy with a
flood of new runs admits in batches.

Pure: the engine keeps the times slots were freed (newest last) and passes `now`.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any, Final

from jobwarden.core.conditions import parse_time

#: Slots freed longer ago than this say nothing about the current pace.
RATE_WINDOW: Final = datetime.timedelta(hours=1)
#: The most recent freed slots the pace is measured over.
RATE_SAMPLES: Final = 50
#: An estimate is rewritten when it moves by more than this share of the time left...
DRIFT_SHARE: Final = 0.2
#: ... and by at least this much (a run seconds from its start is not rewritten for 1 s).
MIN_DRIFT: Final = datetime.timedelta(seconds=10)
#: At most this many queued runs of a namespace get a status write for their estimate
#: alone per pass over its queue (about a second), head first. When the pace of a
#: long queue is first known, or wobbles, every estimate in it is "worth writing" at
#: once: 2,000 queued runs were 2,000 status writes in a burst, which slowed the
#: API server, which moved the pace again (the admission benchmark's one-namespace
#: variant took four times as long). Positions and the Queued write carry the
#: estimate for free.
ESTIMATE_WRITES_PER_PASS: Final = 5
#: A run due to start within this, at a pace seen this recently, is "starting soon":
#: its shown position and estimate are not rewritten, since its admission rewrites
#: them within seconds (an estimate is never rewritten for less than MIN_DRIFT
#: either). In a fast queue (15 admissions a second) every run passed the first ten
#: places, each one a position write, less than a second before the admission write
#: replaced it: a status write per queued run, for nothing.
SOON: Final = datetime.timedelta(seconds=10)


def min_samples(limit: int) -> int:
    """Freed slots needed before a pace is trusted: one turnover of the quota (each
    slot freed once), at most RATE_SAMPLES. Fewer are dominated by how the first
    workers happened to end."""
    return max(2, min(limit, RATE_SAMPLES))


def admission_rate(
    freed: Sequence[datetime.datetime], now: datetime.datetime, needed: int = 2
) -> float | None:
    """Slots freed per second over the newest RATE_SAMPLES within RATE_WINDOW (None
    with fewer than `needed`, at least two): how fast a full quota admits."""
    recent = [t for t in freed[-RATE_SAMPLES:] if now - t <= RATE_WINDOW]
    if len(recent) < max(2, needed):
        return None
    span = (recent[-1] - recent[0]).total_seconds()
    if span <= 0:
        return None
    return (len(recent) - 1) / span


def estimate_start(
    position: int,
    freed: Sequence[datetime.datetime],
    now: datetime.datetime,
    needed: int = 2,
) -> datetime.datetime | None:
    """When the run at `position` (1 = next) should start: when `position` more slots
    will have been freed after the latest, at the current pace; never before now;
    None while the pace is unknown (fewer than `needed` freed slots, `min_samples`)."""
    rate = admission_rate(freed, now, needed)
    if rate is None or position < 1:
        return None
    eta = freed[-1] + datetime.timedelta(seconds=position / rate)
    return max(eta, now).replace(microsecond=0)


def estimate_worth_writing(
    stored: datetime.datetime | None, new: datetime.datetime | None, now: datetime.datetime
) -> bool:
    """Write a new estimate: the first one, or one that moved by more than
    DRIFT_SHARE of the time left (at least MIN_DRIFT). An unknown estimate keeps the
    stored one (the rate is only briefly unknown)."""
    if new is None:
        return False
    if stored is None:
        return True
    left = max(stored - now, datetime.timedelta(0))
    return abs(new - stored) > max(MIN_DRIFT, left * DRIFT_SHARE)


def starts_soon(
    position: int,
    freed: Sequence[datetime.datetime],
    now: datetime.datetime,
    needed: int = 2,
) -> bool:
    """Whether the run at `position` should start within SOON at the current pace,
    and that pace is current: a slot was freed within SOON. A stalled queue (no slot
    freed lately) is never "soon", so its positions are kept up to date."""
    rate = admission_rate(freed, now, needed)
    if rate is None or position < 1 or now - freed[-1] > SOON:
        return False
    return freed[-1] + datetime.timedelta(seconds=position / rate) <= now + SOON


def stored_estimate(queue: Mapping[str, Any]) -> datetime.datetime | None:
    """`status.queue.estimatedStartTime`, if any."""
    try:
        return parse_time(queue.get("estimatedStartTime"))
    except ValueError:
        return None


__all__ = [
    "ESTIMATE_WRITES_PER_PASS",
    "admission_rate",
    "estimate_start",
    "estimate_worth_writing",
    "min_samples",
    "starts_soon",
    "stored_estimate",
]

"""When a finished standalone run is deleted: `ttlSecondsAfterFinished`, as on a
Kubernetes Job, else the operator-wide `runRetentionDays`.

Runs of a ScheduledJob are not decided here: the job's history limits and its own
`runRetentionDays` prune them after recording their summaries (`core.scheduledjob`).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from jobwarden.api import constants as c
from jobwarden.core.conditions import parse_time
from jobwarden.core.observed import RunView

#: The operator-wide default, in seconds (runRetentionDays; the chart sets it).
DEFAULT_RETENTION_SECONDS = c.DEFAULT_RUN_RETENTION_DAYS * 86400.0


@dataclass(frozen=True)
class Retention:
    """The verdict about one finished run: delete it now, or look again later."""

    delete: bool
    wake_after: float | None = None  # seconds; None: nothing to wait for
    ttl_seconds: float | None = None  # the TTL that applied (for the log line)


def ttl_of(run: RunView, default_seconds: float | None) -> float | None:
    """The run's TTL after it finished: its own, else the operator's (None or <= 0 for
    the operator's: kept for ever). None for a run of a ScheduledJob."""
    if run.scheduled_job:
        return None
    if run.ttl_seconds_after_finished is not None:
        return float(max(0, run.ttl_seconds_after_finished))
    if default_seconds is None or default_seconds <= 0:
        return None
    return default_seconds


def decide_retention(
    run: RunView, now: datetime.datetime, default_seconds: float | None
) -> Retention:
    """Delete a finished standalone run once `completionTime + ttl` has passed (its
    creation time if it never recorded one); before that, wake up when it is due."""
    if not run.phase.terminal or run.deleting:
        return Retention(delete=False)
    ttl = ttl_of(run, default_seconds)
    if ttl is None:
        return Retention(delete=False)
    finished = parse_time(run.status.get("completionTime")) or run.created
    left = (finished + datetime.timedelta(seconds=ttl) - now).total_seconds()
    if left <= 0:
        return Retention(delete=True, ttl_seconds=ttl)
    return Retention(delete=False, wake_after=left, ttl_seconds=ttl)

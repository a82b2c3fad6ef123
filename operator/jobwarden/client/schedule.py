"""Cron schedules for the front ends: presets, time zones and the coming fires of a job
or of an expression, computed by the operator's own reading (jobwarden.core.scheduling
and core.preview, pure; croniter and tzdata are in the plugin's base install), so a
preview never disagrees with when the job will really run: `H` fields, jitter and
DST included."""

from __future__ import annotations

import datetime
import functools
import zoneinfo
from collections.abc import Mapping
from typing import Any

from jobwarden.api.constants import DEFAULT_TIME_ZONE
from jobwarden.client.objects import name_of, namespace_of, spec_of
from jobwarden.core.preview import PreviewFire, preview
from jobwarden.core.scheduling import Schedule, ScheduleError, run_name, schedule_of

#: Common schedules offered next to free text: (expression, what it means).
PRESETS: tuple[tuple[str, str], ...] = (
    ("*/5 * * * *", "Every 5 minutes"),
    ("0 * * * *", "Every hour, on the hour"),
    ("0 2 * * *", "Every day at 02:00"),
    ("H H(0-5) * * *", "Once a night, at a time of its own (H)"),
    ("0 9 * * 1-5", "Weekdays at 09:00"),
    ("0 3 * * 0", "Sundays at 03:00"),
    ("0 0 1 * *", "The 1st of every month at 00:00"),
    ("@hourly", "@hourly (0 * * * *)"),
    ("@daily", "@daily (0 0 * * *)"),
)
#: The most fires a preview lists.
MAX_PREVIEW = 1000


class InvalidScheduleError(ValueError):
    """A schedule or time zone the operator would refuse; the message says why, with
    the field at fault (`schedule` or `timeZone`)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def spec_schedule(namespace: str, name: str, spec: Mapping[str, Any]) -> Schedule:
    """The schedule a ScheduledJob's spec fires by (InvalidScheduleError if none)."""
    try:
        return schedule_of(namespace, name, spec)
    except ScheduleError as error:
        raise InvalidScheduleError(error.message, error.field) from None


def job_schedule(job: Mapping[str, Any]) -> Schedule:
    """The schedule of a ScheduledJob object."""
    return spec_schedule(namespace_of(job), name_of(job), spec_of(job))


def upcoming(job: Mapping[str, Any], now: datetime.datetime, count: int) -> list[PreviewFire]:
    """The job's next `count` fires after `now`: local and UTC times, the jitter delay
    and DST marks (InvalidScheduleError for a one-time job or a bad schedule)."""
    return preview(job_schedule(job), now, max(0, min(count, MAX_PREVIEW)))


def expression_preview(
    expression: str,
    time_zone: str,
    now: datetime.datetime,
    count: int = 5,
    *,
    namespace: str = "",
    name: str = "",
) -> list[PreviewFire]:
    """The next `count` fires of an expression typed in a form, with their DST marks
    (its `H` fields hashed from namespace/name, as the job's will be);
    InvalidScheduleError for what the operator would refuse."""
    spec = {"schedule": expression, "timeZone": time_zone or DEFAULT_TIME_ZONE}
    return preview(spec_schedule(namespace, name, spec), now, count)


def next_fires(
    expression: str,
    time_zone: str,
    now: datetime.datetime,
    count: int = 5,
    *,
    namespace: str = "",
    name: str = "",
) -> list[datetime.datetime]:
    """The next `count` fire times of an expression (UTC); see `expression_preview`."""
    fires = expression_preview(expression, time_zone, now, count, namespace=namespace, name=name)
    return [fire.time for fire in fires]


def backfill_fires(
    job: Mapping[str, Any],
    start: datetime.datetime,
    end: datetime.datetime,
    now: datetime.datetime,
    limit: int,
) -> list[tuple[datetime.datetime, str]]:
    """The fires a Backfill of [start, end] would run, as the operator reads them (the
    job's schedule and `H`, no jitter, none after `now`), with their run names; at
    most `limit` of them."""
    spec = {k: v for k, v in spec_of(job).items() if k != "jitterSeconds"}
    schedule = spec_schedule(namespace_of(job), name_of(job), spec)
    until = min(end, now)
    fires = schedule.fires_between(start - datetime.timedelta(microseconds=1), until, limit)
    return [(fire, run_name(name_of(job), fire)) for fire in fires]


@functools.cache
def time_zones() -> tuple[str, ...]:
    """The IANA time zone names this machine knows, sorted (UTC first)."""
    names = sorted(zoneinfo.available_timezones() - {"UTC"})
    return ("UTC", *names)


__all__ = [
    "MAX_PREVIEW",
    "PRESETS",
    "InvalidScheduleError",
    "PreviewFire",
    "Schedule",
    "backfill_fires",
    "expression_preview",
    "job_schedule",
    "next_fires",
    "preview",
    "spec_schedule",
    "time_zones",
    "upcoming",
]

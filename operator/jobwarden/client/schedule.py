"""Cron schedules for the front ends: presets, time zones and the next fires of an
expression, computed by the operator's own reading (jobwarden.core.scheduling, pure),
so a preview never disagrees with when the job will really run."""

from __future__ import annotations

import datetime
import functools
import zoneinfo

#: Common schedules offered next to free text: (expression, what it means).
PRESETS: tuple[tuple[str, str], ...] = (
    ("*/5 * * * *", "Every 5 minutes"),
    ("0 * * * *", "Every hour, on the hour"),
    ("0 2 * * *", "Every day at 02:00"),
    ("0 9 * * 1-5", "Weekdays at 09:00"),
    ("0 3 * * 0", "Sundays at 03:00"),
    ("0 0 1 * *", "The 1st of every month at 00:00"),
    ("@hourly", "@hourly (0 * * * *)"),
    ("@daily", "@daily (0 0 * * *)"),
)


class InvalidScheduleError(ValueError):
    """A schedule or time zone the operator would refuse; the message says why, with
    the field at fault (`schedule` or `timeZone`)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class PreviewUnavailableError(RuntimeError):
    """This install cannot compute fires (the plugin's bare install has no croniter)."""


def next_fires(
    expression: str, time_zone: str, now: datetime.datetime, count: int = 5
) -> list[datetime.datetime]:
    """The next `count` fires after `now` (UTC); InvalidScheduleError for what the
    operator would refuse, PreviewUnavailableError without the operator's cron reading."""
    try:
        # Only when a preview is asked for: the operator's module and its croniter.
        from jobwarden.core.scheduling import ScheduleError, parse_schedule  # noqa: PLC0415
    except ImportError as error:
        raise PreviewUnavailableError(
            f"the next runs cannot be computed by this install ({error.name} is missing: "
            "pip install croniter); the API server still checks the schedule"
        ) from None

    try:
        schedule = parse_schedule(expression, time_zone or "UTC")
    except ScheduleError as error:
        raise InvalidScheduleError(error.message, error.field) from None
    fires = schedule.fires_after(now)
    return [next(fires) for _ in range(count)]


@functools.cache
def time_zones() -> tuple[str, ...]:
    """The IANA time zone names this machine knows, sorted (UTC first)."""
    names = sorted(zoneinfo.available_timezones() - {"UTC"})
    return ("UTC", *names)

"""What a schedule will do: its next fires as people read them, and how often it fires.

Pure, like core/scheduling.py, whose answers it explains: the kubectl plugin
(`kubectl jobwarden next`), the dashboard and the admission webhook (a warning for a
schedule that fires less than once a year) show the same fires the operator runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Final

from jobwarden.core.scheduling import DstNote, Schedule

#: A day-pattern that matches at all matches within 400 years (the Gregorian cycle),
#: and one that matches on fewer days than there are years fires less than once a year.
_CYCLE_YEARS: Final = 400
_CYCLE_START: Final = date(2000, 1, 1)
_FAST_YEARS: Final = 8


@dataclass(frozen=True)
class PreviewFire:
    """One coming fire, as a preview shows it."""

    #: The fire (the run's scheduledTime and name), UTC.
    time: datetime
    #: The same instant on the job's wall clock (aware, in its time zone).
    local: datetime
    #: When its run is created: `time` plus the jitter delay (UTC).
    effective: datetime
    #: How a DST change shapes it, if one does.
    dst: DstNote | None = None
    #: The wall time it stands for when DST moved or repeated it (naive, local).
    wall: datetime | None = None

    @property
    def delay_seconds(self) -> int:
        """The jitter delay, in seconds."""
        return int((self.effective - self.time).total_seconds())

    @property
    def effective_local(self) -> datetime:
        """`effective` on the job's wall clock."""
        return self.effective.astimezone(self.local.tzinfo)

    def note(self) -> str:
        """The DST mark in words ("" when none)."""
        if self.dst is None or self.wall is None:
            return ""
        wall = self.wall.strftime("%H:%M")
        if self.dst is DstNote.MOVED_BY_GAP:
            return (
                f"{wall} does not exist that day (DST starts): runs once, at the end of the "
                f"gap ({self.local.strftime('%H:%M')})"
            )
        if self.dst is DstNote.REPEATED_ONCE:
            return f"{wall} occurs twice that day (DST ends): runs once, at the first"
        return (
            f"{wall} occurs twice that day (DST ends): an every-hour schedule runs in "
            f"both passes ({self.local.strftime('%H:%M %Z')})"
        )


def preview(schedule: Schedule, after: datetime, count: int) -> list[PreviewFire]:
    """The first `count` fires strictly after `after`, with their jitter and DST marks."""
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    fires: list[PreviewFire] = []
    for fire in schedule.fires_after(after):
        if len(fires) == count:
            break
        dst, wall = schedule.dst_note(fire)
        fires.append(
            PreviewFire(
                time=fire,
                local=fire.astimezone(schedule.zone),
                effective=schedule.effective(fire),
                dst=dst,
                wall=wall,
            )
        )
    return fires


@dataclass(frozen=True)
class Rarity:
    """How seldom a schedule fires: on `days` days in 400 years."""

    days: int
    next_fire: datetime  #: its next fire after the time asked about (UTC)

    def warning(self, schedule: Schedule) -> str:
        """The admission warning kubectl prints."""
        local = self.next_fire.astimezone(schedule.zone)
        return (
            f'spec.schedule "{schedule.expression}" fires less than once a year: on '
            f"{self.days} days in {_CYCLE_YEARS} years; its next run is "
            f"{local.strftime('%Y-%m-%d %H:%M %Z')} ({schedule.time_zone})"
        )


def rarity(schedule: Schedule, now: datetime) -> Rarity | None:
    """A Rarity if the schedule fires on fewer days than years (e.g. `0 0 29 2 *`, on
    97 days in 400 years), else None.

    Cheap for the usual schedules: one that matches on a day in each of the 8 years
    from 2000 on matches at least once a year (the rare patterns are leap days and
    fifth weekdays of February, at most 4 days in those 8 years), so counting stops
    there; only a rare one is counted over the whole cycle, and its days are few.
    """
    if _count_days(schedule, _CYCLE_START.year + _FAST_YEARS, _FAST_YEARS) >= _FAST_YEARS:
        return None
    days = _count_days(schedule, _CYCLE_START.year + _CYCLE_YEARS, _CYCLE_YEARS)
    if days >= _CYCLE_YEARS:
        return None
    return Rarity(days, schedule.next_after(now.astimezone(UTC)))


def _count_days(schedule: Schedule, end_year: int, enough: int) -> int:
    """Matching days from 2000-01-01 to the start of `end_year`, counted up to `enough`."""
    days = 0
    end = date(end_year, 1, 1)
    for day in schedule.matching_days(_CYCLE_START):
        if day >= end or days >= enough:
            break
        days += 1
    return days


__all__ = ["PreviewFire", "Rarity", "preview", "rarity"]

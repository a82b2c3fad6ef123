"""Scheduling: parsing, next fire times across DST, missed-fire classification, run names.

Table-driven with named cases, in the manner of the CronJob controller's utils_test.go.
Times are written as local ISO strings with their UTC offset, so that a case reads
the way a user would check it on a wall clock (`at("2024-03-31T03:00+02:00")`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from jobwarden.api.enums import MissedRunPolicy
from jobwarden.core.scheduling import (
    MACROS,
    DueFires,
    MissedFire,
    MissedReason,
    Schedule,
    ScheduleError,
    due_fires,
    fire_from_run_name,
    parse_schedule,
    run_name,
)

SKIP, RUN_ONCE, RUN_ALL = MissedRunPolicy.SKIP, MissedRunPolicy.RUN_ONCE, MissedRunPolicy.RUN_ALL
DEADLINE = MissedReason.MISSED_STARTING_DEADLINE
SKIPPED = MissedReason.SKIPPED_BY_POLICY
SUPERSEDED = MissedReason.SUPERSEDED_BY_LATER_FIRE
OVER_MAX = MissedReason.MAX_RUNS_EXCEEDED
BERLIN = "Europe/Berlin"
EXAMPLE = 'example of a valid one: "0 2 * * *" (daily at 02:00)'


def at(text: str) -> datetime:
    """An aware instant from an ISO string with an offset ("Z" for UTC)."""
    value = datetime.fromisoformat(text)
    assert value.tzinfo is not None, text
    return value


def local(fires: list[datetime], tz: str) -> list[str]:
    """Fires as local wall times with offsets, for readable assertion failures."""
    return [f.astimezone(ZoneInfo(tz)).isoformat(timespec="minutes") for f in fires]


def take(schedule: Schedule, after: datetime, count: int) -> list[datetime]:
    fires = schedule.fires_after(after)
    return [next(fires) for _ in range(count)]


# --- parse_schedule ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "cron"),
    [pytest.param(macro, cron, id=macro) for macro, cron in MACROS.items()]
    + [
        pytest.param("0 2 * * *", "0 2 * * *", id="five fields"),
        pytest.param("  0  2 * *   *  ", "0 2 * * *", id="extra spaces"),
        pytest.param("*/15 9-17 * * MON-FRI", "*/15 9-17 * * MON-FRI", id="names and steps"),
        pytest.param("0 0 ? * 1", "0 0 ? * 1", id="question mark"),
        pytest.param("0 0 L * *", "0 0 L * *", id="last day of month"),
        pytest.param("0 0 * * 1#2,5#3", "0 0 * * 1#2,5#3", id="nth weekday"),
        pytest.param("0 12 29 2 *", "0 12 29 2 *", id="29 February (only leap years)"),
        pytest.param("0 0 * * 7", "0 0 * * 7", id="7 is Sunday"),
    ],
)
def test_valid_schedules(expression: str, cron: str) -> None:
    schedule = parse_schedule(expression, "UTC")
    assert schedule.cron == cron
    assert schedule.expression == expression
    assert str(schedule) == f"{expression} (UTC)"


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        pytest.param("61 * * * *", "minute must be 0-59", id="minute 61"),
        pytest.param(
            "* * *",
            "expected 5 fields (minute hour day-of-month month day-of-week) or a macro "
            "such as @daily, got 3",
            id="three fields",
        ),
        pytest.param(
            "@fortnightly",
            "unknown macro; use @hourly, @daily (or @midnight), @weekly, @monthly, "
            "@yearly (or @annually), or five cron fields",
            id="@fortnightly",
        ),
        pytest.param(
            "0 0 2 * * *",
            "expected 5 fields (minute hour day-of-month month day-of-week) or a macro "
            "such as @daily, got 6 (a seconds or year field is not supported)",
            id="six fields (seconds)",
        ),
        pytest.param(
            "@reboot",
            "@reboot is not supported (a ScheduledJob fires at times of day; for a job "
            "that runs once, leave schedule unset)",
            id="@reboot",
        ),
        pytest.param("@Daily", "macros are written in lower case: @daily", id="macro case"),
        pytest.param("", "it is empty", id="empty"),
        pytest.param("0,15,61 * * * *", 'minute must be 0-59 ("61" in "0,15,61")', id="list"),
        pytest.param("0 24 * * *", "hour must be 0-23", id="hour 24"),
        pytest.param("0 0 0 * *", "day-of-month must be 1-31 or L (the last day)", id="dom 0"),
        pytest.param("0 0 * 13 *", "month must be 1-12 or JAN-DEC", id="month 13"),
        pytest.param(
            "0 0 * * 8", "day-of-week must be 0-7 or SUN-SAT (0 and 7 are Sunday)", id="dow 8"
        ),
        pytest.param("0 0 * FOO *", "month must be 1-12 or JAN-DEC", id="unknown name"),
        pytest.param("*/0 * * * *", "minute step must be 1-59", id="step 0"),
        pytest.param(
            "5-1 * * * *",
            'minute range "5-1" runs backwards; wrap-around ranges are not supported, '
            'write it as a list, e.g. "5-59,0-1"',
            id="backwards range",
        ),
        pytest.param("0 0 1,,2 * *", 'day-of-month "1,,2" has an empty list item', id="empty"),
        pytest.param(
            "0 ? * * *",
            '"?" stands alone and only in day-of-month or day-of-week',
            id="? in hour",
        ),
        pytest.param(
            "0 0 * * 1#6",
            'day-of-week "1#6": the week after # must be 1-5, e.g. "1#2" (2nd Monday)',
            id="6th Monday",
        ),
        pytest.param(
            "0 0 * * 0#5,1",
            'day-of-week "0#5,1" mixes "n#k" items with plain days',
            id="mixed nth weekday",
        ),
        pytest.param(
            "H(30-10) * * * *",
            'minute range in "H(30-10)" runs backwards',
            id="hashed range backwards",
        ),
        pytest.param("H(0-60) * * * *", "minute must be 0-59 in H(first-last)", id="hashed 60"),
        pytest.param("0 H/25 * * *", "hour step must be 1-23", id="hashed step too long"),
        pytest.param(
            "Hx * * * *",
            'minute: "Hx" is not a hashed value; write H, H(first-last), H/step or '
            'H(first-last)/step, e.g. "H(0-29)"',
            id="hashed typo",
        ),
        pytest.param(
            "0 0 H(30-31) 2 *",
            "it never fires (no month in it has such a day)",
            id="hashed 30 February",
        ),
        pytest.param("R * * * *", "minute must be 0-59", id="random (croniter R)"),
        pytest.param(
            "0 0 30 2 *", "it never fires (no month in it has such a day)", id="30 February"
        ),
        pytest.param(
            "0 0 31 4,6,9,11 *",
            "it never fires (no month in it has such a day)",
            id="31st of 30-day months",
        ),
    ],
)
def test_invalid_schedules_say_what_and_show_an_example(expression: str, problem: str) -> None:
    with pytest.raises(ScheduleError) as raised:
        parse_schedule(expression, "UTC")
    assert str(raised.value) == f'invalid schedule "{expression}": {problem}; {EXAMPLE}'
    assert raised.value.field == "schedule"


@pytest.mark.parametrize(
    ("time_zone", "message"),
    [
        pytest.param(
            "Mars/Olympus",
            'unknown time zone "Mars/Olympus"; use an IANA name such as "Europe/Berlin" or "UTC"',
            id="Mars/Olympus",
        ),
        pytest.param(
            "europe/berlin",
            'unknown time zone "europe/berlin" (did you mean "Europe/Berlin"?); '
            'use an IANA name such as "Europe/Berlin" or "UTC"',
            id="wrong case: a suggestion",
        ),
        pytest.param(
            "",
            'unknown time zone ""; use an IANA name such as "Europe/Berlin" or "UTC"',
            id="empty",
        ),
        pytest.param(
            "localtime",
            'unknown time zone "localtime"; use an IANA name such as "Europe/Berlin" or "UTC"',
            id="the host's localtime",
        ),
        pytest.param(
            "../../etc/passwd",
            'unknown time zone "../../etc/passwd"; '
            'use an IANA name such as "Europe/Berlin" or "UTC"',
            id="a path",
        ),
        pytest.param(
            "America",
            'unknown time zone "America"; use an IANA name such as "Europe/Berlin" or "UTC"',
            id="a directory",
        ),
    ],
)
def test_invalid_time_zones(time_zone: str, message: str) -> None:
    with pytest.raises(ScheduleError) as raised:
        parse_schedule("0 2 * * *", time_zone)
    assert str(raised.value) == message
    assert raised.value.field == "timeZone"


@pytest.mark.parametrize(
    "time_zone", ["UTC", "Europe/Berlin", "America/Sao_Paulo", "Etc/GMT+5", "US/Eastern"]
)
def test_valid_time_zones(time_zone: str) -> None:
    assert parse_schedule("0 2 * * *", time_zone).zone == ZoneInfo(time_zone)


# --- what the fields mean (as in a CronJob) -----------------------------------------------


@pytest.mark.parametrize(
    ("expression", "values", "after", "fires"),
    [
        pytest.param(
            "5-5 * * * *",
            "5 * * * *",
            "2024-01-01T10:00Z",
            ["2024-01-01T10:05Z", "2024-01-01T11:05Z"],
            id="5-5 is minute 5, not every minute",
        ),
        pytest.param(
            "0 9-9 * * *",
            "0 9 * * *",
            "2024-01-01T10:00Z",
            ["2024-01-02T09:00Z", "2024-01-03T09:00Z"],
            id="9-9 is 09:00, not every hour",
        ),
        pytest.param(
            "30 2 * * 1-1",
            "30 2 * * 1",
            "2024-01-01T03:00Z",
            ["2024-01-08T02:30Z", "2024-01-15T02:30Z"],
            id="1-1 is Monday, not every day",
        ),
        pytest.param(
            "0 0 * JAN-JAN *",
            "0 0 * 1 *",
            "2024-01-31T01:00Z",
            ["2025-01-01T00:00Z", "2025-01-02T00:00Z"],
            id="JAN-JAN is January, not every month",
        ),
        pytest.param(
            "0 0 * * MON-MON",
            "0 0 * * 1",
            "2024-01-01T01:00Z",
            ["2024-01-08T00:00Z", "2024-01-15T00:00Z"],
            id="MON-MON is Monday",
        ),
        pytest.param(
            "5-5/2 * * * *",
            "5 * * * *",
            "2024-01-01T10:00Z",
            ["2024-01-01T10:05Z", "2024-01-01T11:05Z"],
            id="5-5/2 is minute 5, not every even minute",
        ),
        pytest.param(
            "0 0 1-1 * *",
            "0 0 1 * *",
            "2024-01-01T01:00Z",
            ["2024-02-01T00:00Z", "2024-03-01T00:00Z"],
            id="1-1 in day-of-month",
        ),
        pytest.param(
            "0 0 * * 7-7",
            "0 0 * * 0",
            "2024-01-01T01:00Z",
            ["2024-01-07T00:00Z", "2024-01-14T00:00Z"],
            id="7-7 is Sunday",
        ),
        pytest.param(
            "5/15 * * * *",
            "5,20,35,50 * * * *",
            "2024-01-01T10:06Z",
            ["2024-01-01T10:20Z", "2024-01-01T10:35Z"],
            id="N/step runs to the end of the field",
        ),
        pytest.param(
            "0 0 * * 1/2",
            "0 0 * * 1,3,5",
            "2024-01-01T01:00Z",
            ["2024-01-03T00:00Z", "2024-01-05T00:00Z", "2024-01-08T00:00Z"],
            id="1/2 in day-of-week is Mon, Wed, Fri (not Sunday as 7)",
        ),
        pytest.param(
            "0 0 */1 * MON",
            "0 0 * * 1",
            "2024-01-01T01:00Z",
            ["2024-01-08T00:00Z", "2024-01-15T00:00Z"],
            id="*/1 is *: with a day-of-week, only that weekday",
        ),
        pytest.param(
            "0 0 15 * */1",
            "0 0 15 * *",
            "2024-01-01T01:00Z",
            ["2024-01-15T00:00Z", "2024-02-15T00:00Z"],
            id="*/1 in day-of-week is *: only the 15th",
        ),
        pytest.param(
            "0 0 1-31 * MON",
            "0 0 1-31 * 1",
            "2024-01-01T01:00Z",
            ["2024-01-02T00:00Z", "2024-01-03T00:00Z"],
            id="an explicit 1-31 restricts: either day field matches (every day)",
        ),
    ],
)
def test_fields_mean_what_they_mean_in_a_cronjob(
    expression: str, values: str, after: str, fires: list[str]
) -> None:
    schedule = parse_schedule(expression, "UTC")
    assert schedule.values == values
    assert schedule.expression == expression
    assert take(schedule, at(after), len(fires)) == [at(f) for f in fires]


@pytest.mark.parametrize(
    "expression",
    [
        pytest.param("0\t2\t*\t*\t*", id="tabs"),
        pytest.param("0   2  * *    *", id="several blanks"),
        pytest.param(" \t0 2 * * *\n", id="around the fields"),
        pytest.param("0 2 * *\n*", id="a line break"),
        pytest.param("0\u00a02\u3000*\u2003*\v*", id="Unicode spaces"),
    ],
)
def test_blanks_between_fields_are_tolerated_as_in_a_cronjob(expression: str) -> None:
    schedule = parse_schedule(expression, "UTC")
    assert schedule.expression == expression  # kept as written
    assert schedule.cron == "0 2 * * *"
    assert schedule.next_after(at("2024-01-01T00:00Z")) == at("2024-01-01T02:00Z")


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        pytest.param(
            "0\x1c2 * * *",
            "expected 5 fields (minute hour day-of-month month day-of-week) or a macro "
            "such as @daily, got 4",
            id="a control character is not a blank (as in CronJob)",
        ),
        pytest.param(
            " @daily", 'a macro stands alone, without blanks around it: "@daily"', id="@ blank"
        ),
        pytest.param(
            "@daily ", 'a macro stands alone, without blanks around it: "@daily"', id="@ trailing"
        ),
        pytest.param(
            "@daily 0",
            'a macro stands alone, without blanks around it: "@daily"',
            id="@ with a field",
        ),
        pytest.param(
            "@every 5m",
            "@every is not supported: a ScheduledJob fires at times of day; write the "
            'interval as cron fields, e.g. "*/5 * * * *" (every 5 minutes) or '
            '"0 */2 * * *" (every 2 hours)',
            id="@every",
        ),
    ],
)
def test_what_cronjob_refuses_around_fields_and_macros(expression: str, problem: str) -> None:
    with pytest.raises(ScheduleError) as raised:
        parse_schedule(expression, "UTC")
    assert str(raised.value) == f'invalid schedule "{expression}": {problem}; {EXAMPLE}'


# --- next fire times --------------------------------------------------------------------


@dataclass(frozen=True)
class Fires:
    """A schedule, a start, and the fires expected strictly after it (local times)."""

    expression: str
    time_zone: str
    after: str
    expected: tuple[str, ...]


FIRE_CASES = {
    # Every macro, in UTC and in a zone with an offset.
    "@hourly": Fires("@hourly", "UTC", "2024-05-15T10:20Z", ("2024-05-15T11:00Z",)),
    "@daily": Fires("@daily", "UTC", "2024-05-15T10:20Z", ("2024-05-16T00:00Z",)),
    "@midnight": Fires("@midnight", "UTC", "2024-05-15T10:20Z", ("2024-05-16T00:00Z",)),
    "@weekly is Sunday 00:00": Fires(
        "@weekly", "UTC", "2024-05-15T10:20Z", ("2024-05-19T00:00Z", "2024-05-26T00:00Z")
    ),
    "@monthly": Fires("@monthly", "UTC", "2024-05-15T10:20Z", ("2024-06-01T00:00Z",)),
    "@yearly": Fires("@yearly", "UTC", "2024-05-15T10:20Z", ("2025-01-01T00:00Z",)),
    "@annually": Fires("@annually", "UTC", "2024-05-15T10:20Z", ("2025-01-01T00:00Z",)),
    "@daily in Berlin is local midnight": Fires(
        "@daily", BERLIN, "2024-05-15T10:20Z", ("2024-05-16T00:00+02:00",)
    ),
    "@yearly in Berlin is local new year": Fires(
        "@yearly", BERLIN, "2024-05-15T10:20Z", ("2025-01-01T00:00+01:00",)
    ),
    "strictly after: a start on a fire is not that fire": Fires(
        "0 2 * * *", "UTC", "2024-05-15T02:00Z", ("2024-05-16T02:00Z",)
    ),
    "strictly after: a microsecond before is that fire": Fires(
        "0 2 * * *", "UTC", "2024-05-15T01:59:59.999999Z", ("2024-05-15T02:00Z",)
    ),
    # 0 2 * * * in Berlin around the DST days of 2024 (31 March, 27 October).
    "0 2 Berlin: spring forward fires at 03:00, once": Fires(
        "0 2 * * *",
        BERLIN,
        "2024-03-30T12:00+01:00",
        ("2024-03-31T03:00+02:00", "2024-04-01T02:00+02:00"),
    ),
    "0 2 Berlin: fall back fires at the first 02:00 only": Fires(
        "0 2 * * *",
        BERLIN,
        "2024-10-26T12:00+02:00",
        ("2024-10-27T02:00+02:00", "2024-10-28T02:00+01:00"),
    ),
    "0 2 Berlin: started in the repeated hour, not again that day": Fires(
        "0 2 * * *", BERLIN, "2024-10-27T02:30+02:00", ("2024-10-28T02:00+01:00",)
    ),
    "30 2 Berlin: 02:30 does not exist, fires once at 03:00": Fires(
        "30 2 * * *",
        BERLIN,
        "2024-03-30T12:00+01:00",
        ("2024-03-31T03:00+02:00", "2024-04-01T02:30+02:00"),
    ),
    "30 2 Berlin: fall back, once (croniter fires twice)": Fires(
        "30 2 * * *",
        BERLIN,
        "2024-10-26T12:00+02:00",
        ("2024-10-27T02:30+02:00", "2024-10-28T02:30+01:00"),
    ),
    "30 2 Berlin: started between the two 02:30s, not the second": Fires(
        "30 2 * * *", BERLIN, "2024-10-27T02:35+02:00", ("2024-10-28T02:30+01:00",)
    ),
    "30 2 Berlin: started in the second pass": Fires(
        "30 2 * * *", BERLIN, "2024-10-27T02:10+01:00", ("2024-10-28T02:30+01:00",)
    ),
    "*/15 2 Berlin: the skipped hour collapses into one 03:00": Fires(
        "*/15 2 * * *",
        BERLIN,
        "2024-03-31T01:00+01:00",
        ("2024-03-31T03:00+02:00", "2024-04-01T02:00+02:00"),
    ),
    "30 2 New York: spring forward at 03:00": Fires(
        "30 2 * * *",
        "America/New_York",
        "2024-03-09T12:00-05:00",
        ("2024-03-10T03:00-04:00", "2024-03-11T02:30-04:00"),
    ),
    "30 1 New York: fall back, first 01:30 only": Fires(
        "30 1 * * *",
        "America/New_York",
        "2024-11-02T12:00-04:00",
        ("2024-11-03T01:30-04:00", "2024-11-04T01:30-05:00"),
    ),
    # Every-hour schedules follow real time.
    "hourly Berlin spring: every real hour, no 02:00": Fires(
        "0 * * * *",
        BERLIN,
        "2024-03-31T00:30+01:00",
        ("2024-03-31T01:00+01:00", "2024-03-31T03:00+02:00", "2024-03-31T04:00+02:00"),
    ),
    "hourly :30 Berlin spring: no extra 03:00": Fires(
        "30 * * * *",
        BERLIN,
        "2024-03-31T01:00+01:00",
        ("2024-03-31T01:30+01:00", "2024-03-31T03:30+02:00"),
    ),
    "hourly Berlin fall: both 02:00s, every real hour": Fires(
        "0 * * * *",
        BERLIN,
        "2024-10-27T00:30+02:00",
        (
            "2024-10-27T01:00+02:00",
            "2024-10-27T02:00+02:00",
            "2024-10-27T02:00+01:00",
            "2024-10-27T03:00+01:00",
        ),
    ),
    "*/20 Berlin fall: started in the first pass, then the second": Fires(
        "*/20 * * * *",
        BERLIN,
        "2024-10-27T02:30+02:00",
        (
            "2024-10-27T02:40+02:00",
            "2024-10-27T02:00+01:00",
            "2024-10-27T02:20+01:00",
            "2024-10-27T02:40+01:00",
            "2024-10-27T03:00+01:00",
        ),
    ),
    "*/20 Berlin fall: started in the second pass": Fires(
        "*/20 * * * *",
        BERLIN,
        "2024-10-27T02:30+01:00",
        ("2024-10-27T02:40+01:00", "2024-10-27T03:00+01:00"),
    ),
    "hourly Lord Howe: a 30-minute DST gap": Fires(
        "0 * * * *",
        "Australia/Lord_Howe",
        "2024-10-06T00:30+10:30",
        ("2024-10-06T01:00+10:30", "2024-10-06T03:00+11:00"),
    ),
    # Sao Paulo on 2018-11-04 moved its clocks from 00:00 to 01:00: midnight never came.
    "Sao Paulo 2018-11-04: midnight skipped, fires at 01:00": Fires(
        "0 0 * * *",
        "America/Sao_Paulo",
        "2018-11-03T00:00-03:00",
        ("2018-11-04T01:00-02:00", "2018-11-05T00:00-02:00"),
    ),
    "Sao Paulo 2018-11-04: 00:30 fires at 01:00 too": Fires(
        "30 0 * * *",
        "America/Sao_Paulo",
        "2018-11-03T12:00-03:00",
        ("2018-11-04T01:00-02:00", "2018-11-05T00:30-02:00"),
    ),
    "Sao Paulo 2019-02-16: 23:00 repeated, fires once": Fires(
        "0 23 * * *",
        "America/Sao_Paulo",
        "2019-02-16T12:00-02:00",
        ("2019-02-16T23:00-02:00", "2019-02-17T23:00-03:00"),
    ),
    # Samoa skipped 30 December 2011 entirely.
    "Apia 2011: a skipped day fires once, at the next midnight": Fires(
        "0 12 * * *",
        "Pacific/Apia",
        "2011-12-29T13:00-10:00",
        ("2011-12-31T00:00+14:00", "2011-12-31T12:00+14:00"),
    ),
    # 29 February: only in leap years (and not in 2100).
    "29 February: the next leap year": Fires(
        "0 12 29 2 *",
        "UTC",
        "2024-03-01T00:00Z",
        ("2028-02-29T12:00Z", "2032-02-29T12:00Z"),
    ),
    "29 February: 2100 is not a leap year": Fires(
        "0 12 29 2 *", "UTC", "2096-03-01T00:00Z", ("2104-02-29T12:00Z",)
    ),
    "29 February in Berlin": Fires(
        "0 12 29 2 *", BERLIN, "2023-06-01T00:00Z", ("2024-02-29T12:00+01:00",)
    ),
    "last day of month": Fires(
        "0 0 L * *",
        "UTC",
        "2024-01-31T00:00Z",
        ("2024-02-29T00:00Z", "2024-03-31T00:00Z", "2024-04-30T00:00Z"),
    ),
    "2nd Monday": Fires("0 9 * * 1#2", "UTC", "2024-05-01T00:00Z", ("2024-05-13T09:00Z",)),
    "day-of-month OR day-of-week when both are set": Fires(
        "0 0 13 * 5",
        "UTC",
        "2024-09-01T00:00Z",
        ("2024-09-06T00:00Z", "2024-09-13T00:00Z", "2024-09-20T00:00Z"),
    ),
}


@pytest.mark.parametrize("case", FIRE_CASES.values(), ids=FIRE_CASES.keys())
def test_fires_after(case: Fires) -> None:
    schedule = parse_schedule(case.expression, case.time_zone)
    fires = take(schedule, at(case.after), len(case.expected))
    assert local(fires, case.time_zone) == local([at(e) for e in case.expected], case.time_zone)
    assert schedule.next_after(at(case.after)) == fires[0]
    assert all(f.tzinfo is UTC for f in fires)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        parse_schedule("0 2 * * *", "UTC").next_after(datetime(2024, 1, 1))


@pytest.mark.parametrize(
    ("expression", "time_zone", "day", "count"),
    [
        pytest.param("* 2 * * *", BERLIN, date(2024, 10, 27), 60, id="* 2 fall: 60, not 120"),
        pytest.param("* 2 * * *", BERLIN, date(2024, 3, 31), 1, id="* 2 spring: one 03:00"),
        pytest.param("* * * * *", BERLIN, date(2024, 10, 27), 25 * 60, id="minutely fall: 25h"),
        pytest.param("* * * * *", BERLIN, date(2024, 3, 31), 23 * 60, id="minutely spring: 23h"),
        pytest.param("0 * * * *", BERLIN, date(2024, 10, 27), 25, id="hourly fall: 25"),
        pytest.param("0 * * * *", BERLIN, date(2024, 3, 31), 23, id="hourly spring: 23"),
        pytest.param("0 */2 * * *", BERLIN, date(2024, 10, 27), 12, id="every 2h fall: 12"),
        pytest.param("0 */2 * * *", BERLIN, date(2024, 3, 31), 12, id="every 2h spring: 12"),
    ],
)
def test_fires_on_dst_days(expression: str, time_zone: str, day: date, count: int) -> None:
    """How many fires a whole local DST day gets (the rule of the module docstring)."""
    schedule = parse_schedule(expression, time_zone)
    zone = ZoneInfo(time_zone)
    tick = timedelta(microseconds=1)
    start = datetime(day.year, day.month, day.day, tzinfo=zone) - tick
    next_day = day + timedelta(days=1)
    end = datetime(next_day.year, next_day.month, next_day.day, tzinfo=zone) - tick
    fires = schedule.fires_between(start, end, limit=10_000)
    assert len(fires) == count
    assert fires == sorted(set(fires))


@pytest.mark.parametrize(
    ("time_zone", "year"),
    [
        pytest.param(BERLIN, 2024, id="Berlin"),
        pytest.param("America/New_York", 2024, id="New York"),
        pytest.param("America/Sao_Paulo", 2018, id="Sao Paulo (midnight changes)"),
        pytest.param("Australia/Lord_Howe", 2024, id="Lord Howe (30 minutes)"),
        pytest.param("America/Havana", 2023, id="Havana (midnight changes)"),
    ],
)
@pytest.mark.parametrize("expression", ["30 2 * * *", "0 0 * * *", "30 0 * * *", "0 1 * * *"])
def test_a_daily_job_fires_once_on_every_local_day(
    expression: str, time_zone: str, year: int
) -> None:
    schedule = parse_schedule(expression, time_zone)
    zone = ZoneInfo(time_zone)
    start = datetime(year, 1, 1, tzinfo=zone)
    fires = schedule.fires_between(start, datetime(year + 1, 1, 1, tzinfo=zone), limit=1000)
    days = [f.astimezone(zone).date() for f in fires]
    assert len(days) == len(set(days)) == (date(year + 1, 1, 1) - date(year, 1, 1)).days


# --- counting and skipping ahead ---------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "time_zone", "after", "until"),
    [
        pytest.param("* * * * *", BERLIN, "2024-10-26T20:00Z", "2024-10-27T05:00Z", id="fall"),
        pytest.param("* * * * *", BERLIN, "2024-03-30T20:00Z", "2024-03-31T05:00Z", id="spring"),
        pytest.param("*/7 * * * *", BERLIN, "2024-10-25T00:03Z", "2024-10-29T00:00Z", id="*/7"),
        pytest.param("*/15 2 * * *", BERLIN, "2024-03-29T00:00Z", "2024-04-02T00:00Z", id="2h"),
        pytest.param(
            "30 23 * * *",
            "America/Sao_Paulo",
            "2019-02-14T00:00:30Z",
            "2019-02-19T00:00Z",
            id="Sao Paulo fall back at midnight",
        ),
        pytest.param(
            "*/10 * * * *",
            "America/Sao_Paulo",
            "2018-11-02T00:00Z",
            "2018-11-06T00:00Z",
            id="Sao Paulo spring forward at midnight",
        ),
        pytest.param(
            "0 * * * *",
            "Pacific/Apia",
            "2011-12-28T00:00Z",
            "2012-01-02T00:00Z",
            id="Apia skipped day",
        ),
        pytest.param(
            "15 * * * *", "Australia/Lord_Howe", "2024-04-05T00:00Z", "2024-04-09T00:00Z", id="LH"
        ),
        pytest.param("0 9 * * 1-5", "UTC", "2024-01-03T09:00Z", "2024-03-01T09:00Z", id="edges"),
    ],
)
def test_counting_and_skipping_agree_with_enumeration(
    expression: str, time_zone: str, after: str, until: str
) -> None:
    schedule = parse_schedule(expression, time_zone)
    fires = schedule.fires_between(at(after), at(until), limit=100_000)
    assert schedule.count_between(at(after), at(until)) == len(fires)
    for n in {1, 2, len(fires) // 3, len(fires) // 2, len(fires) - 1, len(fires)} - {0}:
        assert schedule.nth_after(at(after), n) == fires[n - 1], n
    for cut in fires[:: max(1, len(fires) // 7)]:
        assert schedule.count_between(at(after), cut) == fires.index(cut) + 1


# --- due_fires ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Due:
    """A due_fires call on an hourly UTC schedule, and what it should decide."""

    last: str | None
    now: str
    policy: MissedRunPolicy = RUN_ONCE
    deadline: int | None = None
    max_runs: int = 10
    created: str = "2024-05-01T00:00:30Z"
    to_run: tuple[str, ...] = ()
    missed: tuple[tuple[str, MissedReason], ...] = ()
    next_fire: str | None = None  # None: the next full hour after now
    expression: str = "0 * * * *"
    max_listed: int = 20
    missed_count: int | None = None  # when more than listed


def hours(*values: int, day: str = "2024-05-01") -> tuple[str, ...]:
    return tuple(f"{day}T{h:02d}:00Z" for h in values)


def missed(reason: MissedReason, *values: int) -> tuple[tuple[str, MissedReason], ...]:
    return tuple((fire, reason) for fire in hours(*values))


DUE_CASES = {
    "nothing due yet": Due(last="2024-05-01T12:00Z", now="2024-05-01T12:30Z"),
    "on time: runs, nothing missed": Due(
        last="2024-05-01T11:00Z", now="2024-05-01T12:00:00.4Z", to_run=hours(12)
    ),
    "first fire after creation": Due(
        last=None, created="2024-05-01T11:30Z", now="2024-05-01T12:00:01Z", to_run=hours(12)
    ),
    "created on a fire: not that fire": Due(
        last=None, created="2024-05-01T12:00Z", now="2024-05-01T12:00:01Z"
    ),
    "clock behind the last fire: nothing, next after it": Due(
        last="2024-05-01T13:00Z", now="2024-05-01T12:30Z", next_fire="2024-05-01T14:00Z"
    ),
    # Down from 08:00 until just after 12:00 (12:00 on time) or until 12:05 (all late).
    "Skip, back on time: only the on-time fire": Due(
        last="2024-05-01T08:00Z",
        now="2024-05-01T12:00:30Z",
        policy=SKIP,
        to_run=hours(12),
        missed=missed(SKIPPED, 9, 10, 11),
    ),
    "Skip, back late: nothing runs": Due(
        last="2024-05-01T08:00Z",
        now="2024-05-01T12:05Z",
        policy=SKIP,
        missed=missed(SKIPPED, 9, 10, 11, 12),
    ),
    "RunOnce, back late: the latest runs": Due(
        last="2024-05-01T08:00Z",
        now="2024-05-01T12:05Z",
        to_run=hours(12),
        missed=missed(SUPERSEDED, 9, 10, 11),
    ),
    "RunOnce, back on time: the on-time fire is the one run": Due(
        last="2024-05-01T08:00Z",
        now="2024-05-01T12:00:30Z",
        to_run=hours(12),
        missed=missed(SUPERSEDED, 9, 10, 11),
    ),
    "RunAll, back late: each, oldest first": Due(
        last="2024-05-01T08:00Z",
        now="2024-05-01T12:05Z",
        policy=RUN_ALL,
        to_run=hours(9, 10, 11, 12),
    ),
    "RunAll cap: the newest maxRuns": Due(
        last="2024-05-01T08:00Z",
        now="2024-05-01T12:05Z",
        policy=RUN_ALL,
        max_runs=2,
        to_run=hours(11, 12),
        missed=missed(OVER_MAX, 9, 10),
    ),
    "RunAll cap: the on-time fire is not a missed one": Due(
        last="2024-05-01T08:00Z",
        now="2024-05-01T12:00:30Z",
        policy=RUN_ALL,
        max_runs=2,
        to_run=hours(10, 11, 12),
        missed=missed(OVER_MAX, 9),
    ),
    "deadline: older fires missed, RunAll runs the rest": Due(
        last="2024-05-01T08:00Z",
        now="2024-05-01T12:05Z",
        policy=RUN_ALL,
        deadline=7200,
        to_run=hours(11, 12),
        missed=missed(DEADLINE, 9, 10),
    ),
    "deadline: exactly at the deadline still runs": Due(
        last="2024-05-01T08:00Z",
        now="2024-05-01T12:00Z",
        policy=RUN_ALL,
        deadline=7200,
        to_run=hours(10, 11, 12),
        missed=missed(DEADLINE, 9),
    ),
    "deadline with RunOnce": Due(
        last="2024-05-01T08:00Z",
        now="2024-05-01T12:05Z",
        deadline=7200,
        to_run=hours(12),
        missed=(*missed(DEADLINE, 9, 10), *missed(SUPERSEDED, 11)),
    ),
    "deadline passed for all": Due(
        last="2024-05-01T08:00Z",
        now="2024-05-01T12:05Z",
        policy=RUN_ALL,
        deadline=60,
        missed=missed(DEADLINE, 9, 10, 11, 12),
    ),
    "deadline shorter than the on-time tolerance": Due(
        last="2024-05-01T11:00Z",
        now="2024-05-01T12:00:30Z",
        deadline=10,
        missed=missed(DEADLINE, 12),
    ),
    "late within the deadline: still runs": Due(
        last="2024-05-01T11:00Z", now="2024-05-01T12:09Z", deadline=600, to_run=hours(12)
    ),
    "Skip with a deadline: on time runs": Due(
        last="2024-05-01T10:00Z",
        now="2024-05-01T12:00:05Z",
        policy=SKIP,
        deadline=600,
        to_run=hours(12),
        missed=missed(DEADLINE, 11),
    ),
    "resume after a 3-day pause, RunOnce: the latest fire runs": Due(
        expression="0 2 * * *",
        last="2024-05-01T02:00Z",
        now="2024-05-04T09:00Z",
        to_run=("2024-05-04T02:00Z",),
        missed=(("2024-05-02T02:00Z", SUPERSEDED), ("2024-05-03T02:00Z", SUPERSEDED)),
        next_fire="2024-05-05T02:00Z",
    ),
    "resume after a 3-day pause, Skip: none runs": Due(
        expression="0 2 * * *",
        policy=SKIP,
        last="2024-05-01T02:00Z",
        now="2024-05-04T09:00Z",
        missed=tuple((f"2024-05-0{d}T02:00Z", SKIPPED) for d in (2, 3, 4)),
        next_fire="2024-05-05T02:00Z",
    ),
    "resume with a deadline: nothing that old runs": Due(
        expression="0 2 * * *",
        last="2024-05-01T02:00Z",
        now="2024-05-04T09:00Z",
        deadline=3600,
        missed=tuple((f"2024-05-0{d}T02:00Z", DEADLINE) for d in (2, 3, 4)),
        next_fire="2024-05-05T02:00Z",
    ),
    "listing is bounded, counts are not": Due(
        last="2024-05-01T00:00Z",
        now="2024-05-01T12:05Z",
        policy=SKIP,
        max_listed=3,
        missed=missed(SKIPPED, 10, 11, 12),
        missed_count=12,
    ),
}


@pytest.mark.parametrize("case", DUE_CASES.values(), ids=DUE_CASES.keys())
def test_due_fires(case: Due) -> None:
    schedule = parse_schedule(case.expression, "UTC")
    now = at(case.now)
    due = due_fires(
        schedule,
        at(case.last) if case.last else None,
        at(case.created),
        now,
        starting_deadline_seconds=case.deadline,
        policy=case.policy,
        max_runs=case.max_runs,
        max_listed=case.max_listed,
    )
    assert due.to_run == tuple(at(f) for f in case.to_run)
    assert due.missed == tuple(MissedFire(at(f), reason) for f, reason in case.missed)
    assert due.missed_count == (
        len(case.missed) if case.missed_count is None else case.missed_count
    )
    window = [*due.to_run, *(m.time for m in due.missed)]
    assert due.latest_fire == (max(window) if window else None)
    if case.next_fire is None:
        next_fire = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    else:
        next_fire = at(case.next_fire)
    assert due.next_fire == next_fire
    assert due.wake_after_seconds == (next_fire - now).total_seconds()


def test_missed_fires_unpack_as_time_and_reason() -> None:
    fire, reason = MissedFire(at("2024-05-01T10:00Z"), SKIPPED)
    assert (fire, reason) == (at("2024-05-01T10:00Z"), "SkippedByPolicy")


@dataclass(frozen=True)
class Outage:
    expression: str
    time_zone: str
    last: str
    now: str
    total: int  # fires in (last, now], counted by hand
    recent_days: int  # a span before now that holds more fires than can run or be listed


OUTAGES = {
    "minutely, a year (UTC)": Outage(
        "* * * * *", "UTC", "2024-06-01T12:00Z", "2025-06-01T12:00:30Z", 365 * 1440, 1
    ),
    "minutely, a year across both DST changes (Berlin)": Outage(
        "* * * * *", BERLIN, "2024-06-01T12:00Z", "2025-06-01T12:00:30Z", 365 * 1440, 1
    ),
    "every 5 minutes, a year (Sao Paulo 2018)": Outage(
        "*/5 * * * *",
        "America/Sao_Paulo",
        "2018-06-01T00:00Z",
        "2019-06-01T00:07Z",
        365 * 288 + 1,
        1,
    ),
    "weekdays at 09:00, ten years": Outage(
        "0 9 * * 1-5", BERLIN, "2015-01-01T00:00Z", "2025-01-01T00:00Z", 2609, 60
    ),
}


def classify(
    fires: list[datetime], now: datetime, policy: MissedRunPolicy, deadline: int | None
) -> tuple[list[datetime], list[MissedFire]]:
    """The rules of due_fires' docstring, written out plainly (max_runs 10)."""
    too_old = timedelta(seconds=deadline) if deadline is not None else timedelta.max
    on_time = fires[-1] if now - fires[-1] <= min(timedelta(seconds=60), too_old) else None
    late = fires[:-1] if on_time else fires
    eligible = [f for f in late if now - f <= too_old]
    runs = {SKIP: [], RUN_ONCE: [] if on_time else eligible[-1:], RUN_ALL: eligible[-10:]}
    to_run = [*runs[policy], *([on_time] if on_time else [])]
    policy_reason = {SKIP: SKIPPED, RUN_ONCE: SUPERSEDED, RUN_ALL: OVER_MAX}[policy]
    missed = [
        MissedFire(f, DEADLINE if now - f > too_old else policy_reason)
        for f in late
        if f not in to_run
    ]
    return to_run, missed


@pytest.mark.parametrize("policy", list(MissedRunPolicy))
@pytest.mark.parametrize("deadline", [None, 3600 * 24 * 3])
@pytest.mark.parametrize("case", OUTAGES.values(), ids=OUTAGES.keys())
def test_a_job_last_run_long_ago(
    case: Outage,
    deadline: int | None,
    policy: MissedRunPolicy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Walks a bounded number of wall times (not every fire of the outage), lists a
    bounded number of fires, counts every one of them."""
    schedule = parse_schedule(case.expression, case.time_zone)
    now = at(case.now)
    walked = 0
    walls_after = Schedule._walls_after

    def counting(self: Schedule, start: datetime) -> Iterator[datetime]:
        nonlocal walked
        for wall in walls_after(self, start):
            walked += 1
            yield wall

    monkeypatch.setattr(Schedule, "_walls_after", counting)
    due = due_fires(
        schedule,
        at(case.last),
        at(case.last),
        now,
        starting_deadline_seconds=deadline,
        policy=policy,
        max_runs=10,
    )
    monkeypatch.undo()
    # The work done is bounded by the fires it lists, not the fires it counts.
    assert walked < min(case.total, 20_000), walked
    recent = schedule.fires_between(now - timedelta(days=case.recent_days), now, 10**6)
    assert len(recent) > 10 + 1 + 20
    to_run, missed = classify(recent, now, policy, deadline)
    assert list(due.to_run) == to_run
    assert list(due.missed) == missed[-20:]
    assert due.latest_fire == recent[-1]
    assert len(due.to_run) + due.missed_count == case.total
    if deadline is not None:
        cutoff = now - timedelta(seconds=deadline, microseconds=1)
        assert due.missed_by_reason[DEADLINE] == schedule.count_between(at(case.last), cutoff)
    else:
        assert DEADLINE not in due.missed_by_reason


@pytest.mark.parametrize("policy", list(MissedRunPolicy))
@pytest.mark.parametrize("deadline", [None, 600, 3600 * 10])
@pytest.mark.parametrize(
    ("expression", "time_zone", "last", "now"),
    [
        pytest.param("*/5 * * * *", BERLIN, "2024-10-25T21:03Z", "2024-10-28T00:00:20Z", id="5m"),
        pytest.param("* 2 * * *", BERLIN, "2024-03-29T00:00Z", "2024-04-02T10:00Z", id="* 2"),
        pytest.param("0 * * * *", "UTC", "2024-01-01T00:00Z", "2024-03-01T00:01:10Z", id="1h"),
    ],
)
def test_skipping_ahead_decides_like_enumerating(
    expression: str,
    time_zone: str,
    last: str,
    now: str,
    deadline: int | None,
    policy: MissedRunPolicy,
) -> None:
    """The capped scan (count, then look at the newest fires) equals the full scan."""
    schedule = parse_schedule(expression, time_zone)

    def decide(scan_cap: int) -> DueFires:
        return due_fires(
            schedule,
            at(last),
            at(last),
            at(now),
            starting_deadline_seconds=deadline,
            policy=policy,
            max_runs=4,
            scan_cap=scan_cap,
            max_listed=5,
        )

    capped, full = decide(scan_cap=7), decide(scan_cap=100_000)
    assert capped == full
    assert full.missed_count > 7


def test_due_fires_refuses_nonsense_limits() -> None:
    schedule = parse_schedule("0 * * * *", "UTC")
    with pytest.raises(ValueError, match="max_runs"):
        due_fires(
            schedule,
            None,
            at("2024-05-01T00:00Z"),
            at("2024-05-01T01:00Z"),
            starting_deadline_seconds=None,
            policy=RUN_ALL,
            max_runs=0,
        )


# --- run names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("job", "fire", "name"),
    [
        pytest.param("backup", "2024-05-01T02:00Z", "backup-1714528800", id="UTC"),
        pytest.param("backup", "2024-05-01T04:00+02:00", "backup-1714528800", id="any offset"),
        pytest.param("a-2024", "2001-09-08T00:00Z", "a-2024-0999907200", id="10 digits, padded"),
        pytest.param("x" * 40, "2286-11-20T17:46:39Z", "x" * 40 + "-9999999999", id="longest"),
    ],
)
def test_run_names(job: str, fire: str, name: str) -> None:
    assert run_name(job, at(fire)) == name
    assert fire_from_run_name(name) == at(fire)
    assert fire_from_run_name(name, job) == at(fire)


@pytest.mark.parametrize(
    ("name", "job"),
    [
        pytest.param("backup-manual-x7k2p", None, id="manual run"),
        pytest.param("backup-171452880", None, id="nine digits"),
        pytest.param("-1714528800", None, id="no job name"),
        pytest.param("backup-1714528800", "other", id="another job's run"),
        pytest.param("backup-x-1714528800", "backup", id="a longer job name"),
    ],
)
def test_names_that_encode_no_fire(name: str, job: str | None) -> None:
    assert fire_from_run_name(name, job) is None


@pytest.mark.parametrize(
    "fire",
    [
        pytest.param(datetime(2024, 5, 1, 2), id="naive"),
        pytest.param(datetime(2024, 5, 1, 2, 0, 0, 1, tzinfo=UTC), id="not a whole second"),
        pytest.param(datetime(1969, 12, 31, tzinfo=UTC), id="before 1970"),
    ],
)
def test_run_name_refuses_what_is_not_a_fire(fire: datetime) -> None:
    with pytest.raises(ValueError):
        run_name("backup", fire)


def test_run_name_refuses_names_that_are_too_long() -> None:
    with pytest.raises(ValueError, match="longer than 52"):
        run_name("x" * 42, at("2024-05-01T02:00Z"))


def test_every_fire_of_a_day_has_its_own_name_also_across_dst() -> None:
    schedule = parse_schedule("*/5 * * * *", BERLIN)
    fires = schedule.fires_between(at("2024-10-26T22:00Z"), at("2024-10-27T04:00Z"), 1000)
    names = [run_name("job", f) for f in fires]
    assert len(set(names)) == len(names) == 6 * 12
    assert [fire_from_run_name(n, "job") for n in names] == fires

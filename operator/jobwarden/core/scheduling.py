"""Cron schedules in IANA time zones: fire times, missed fires, run names.

Pure: no I/O and no clock. Every function takes `now` (or `t`) as an argument and
works on aware datetimes; results are aware UTC datetimes. The controller, the
admission webhook (which reuses `parse_schedule` for its denial messages) and the
CLI share this module, so they always agree on when a job fires.

What an expression means
------------------------
As in a Kubernetes CronJob (robfig/cron, which its controller and API validation use;
tests/unit/test_cronjob_conformance.py replays their test tables): the expression is
read here, field by field, into plain values (`_field_values`: `N-N` is N, `N/step`
runs to the field's end, names are numbers), because croniter reads some ranges
differently (it widens an equal range such as `5-5` to the whole field). croniter
never sees the expression as written.

How a schedule fires across DST changes
---------------------------------------
croniter decides, from those plain values, which local *days* match (day-of-month,
month, day-of-week, `L`, `#`). The mapping from local wall times to
real instants is done here, not by croniter: croniter 7 fires a daily `30 2 * * *`
twice on a fall-back day (02:30+02:00 and 02:30+01:00, also when started inside the
repeated hour), so its own time zone handling is not used at all. The rules:

* **Wall-clock schedules** (the hour field does not cover all 24 hours: `0 2 * * *`,
  `@daily`, `*/15 9-17 * * 1-5`, `* 2 * * *`) fire at the *first instant the local
  clock reaches* each matching wall time. So a wall time skipped by a spring-forward
  gap fires once, at the end of the gap (`30 2 * * *` in Europe/Berlin on
  2024-03-31 fires at 03:00+02:00; several skipped times collapse into that one
  fire), and a wall time repeated by a fall-back fires once, at its first
  occurrence (02:30+02:00, not again at 02:30+01:00). A job meant to run once a day
  at 02:30 runs once on every day.
* **Every-hour schedules** (the hour field covers all 24 hours: `*`, `*/1`, `0-23`;
  `@hourly`, `*/5 * * * *`, `30 * * * *`) follow real time: they fire at every
  instant whose local wall time matches. In a repeated hour they fire in both
  passes (an hourly job runs every real hour: 02:00+02:00, 02:00+01:00, 03:00+01:00);
  a skipped wall time simply does not occur (01:30+01:00 is followed by
  03:30+02:00, one real hour later). Such jobs recur within the hour anyway, so
  keeping their real-time rhythm matters more than a wall time that did not exist.

This is the rule of Vixie cron (see `man 8 cron`) with one refinement: Vixie also
treats a `*` minute field as "every hour"; here only the hour field decides, so
`* 2 * * *` (every minute of 02:xx) is a wall-clock schedule and runs its 02:xx
minutes once on a fall-back day.

Missed fires and the scan cap
-----------------------------
`due_fires` classifies the fires since the last one handled. Like the CronJob
controller (`mostRecentScheduleTime` in pkg/controller/cronjob/utils.go) it never
walks millions of fires one by one: up to `scan_cap` fires are enumerated; beyond that
the fires are counted day by day (a day without a UTC offset change holds exactly
`len(minutes) * len(hours)` fires if it matches), and only the newest ones, which
are the only ones that can run or be listed, are enumerated.
"""

from __future__ import annotations

import bisect
import functools
import heapq
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Final, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

from jobwarden.api.constants import DEFAULT_TIME_ZONE, MAX_JITTER_SECONDS, MAX_RUN_NAME
from jobwarden.api.enums import MissedRunPolicy
from jobwarden.core.spread import hashed, jitter_salt, seed_of

#: Appended to every schedule error: one expression that certainly works.
EXAMPLE: Final = 'example of a valid one: "0 2 * * *" (daily at 02:00)'
#: The supported macros and the five fields each stands for.
MACROS: Final[Mapping[str, str]] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
#: Keys zoneinfo accepts that are not a place's time zone: "localtime" is whatever
#: the operator's host uses, "posixrules" and "Factory" are tzdata internals.
NOT_TIME_ZONES: Final = frozenset({"localtime", "posixrules", "Factory"})

_MINUTE: Final = timedelta(minutes=1)
_DAY: Final = timedelta(days=1)
_TICK: Final = timedelta(microseconds=1)
#: UTC offsets range from -12:00 to +14:00, so a fall-back never moves the local clock
#: back by more than 26 hours; looking that far ahead finds every relevant one.
_FOLD_HORIZON_HOURS: Final = 27
#: The Gregorian calendar repeats every 400 years: a day pattern that matches at all
#: matches within any 400-year window.
_MAX_YEARS_BETWEEN_DAYS: Final = 400
#: More fires than any local day can hold (a day lasts at most 48 real hours).
_MAX_FIRES_PER_SPAN: Final = 2 * 24 * 60 + 1
#: Matching days looked up through the shared cache before stepping a croniter.
_CACHED_DAY_STEPS: Final = 2
_RUN_SUFFIX: Final = re.compile(r"-([0-9]{10})$")


class ScheduleError(ValueError):
    """An invalid schedule or time zone; the message is shown to users as is."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message = message
        #: The spec field at fault, "schedule" or "timeZone" (for webhook denials).
        self.field = field


class DstNote(StrEnum):
    """How a DST change shapes one fire (see the module docstring), as a preview marks
    it."""

    #: The wall time does not exist that day (spring forward): it fires once, at the
    #: end of the gap.
    MOVED_BY_GAP = "MovedByGap"
    #: The wall time occurs twice (fall back): a wall-clock schedule fires once, at the
    #: first.
    REPEATED_ONCE = "RepeatedHourOnce"
    #: The wall time occurs twice and an every-hour schedule fires in both passes.
    BOTH_PASSES = "RepeatedHourBothPasses"


class MissedReason(StrEnum):
    """Why a fire time did not get a run (logged with each missed fire)."""

    #: Older than startingDeadlineSeconds when the operator could act on it.
    MISSED_STARTING_DEADLINE = "MissedStartingDeadline"
    #: missedRunPolicy Skip: late fires are not run.
    SKIPPED_BY_POLICY = "SkippedByPolicy"
    #: missedRunPolicy RunOnce: a later fire runs instead.
    SUPERSEDED_BY_LATER_FIRE = "SupersededByLaterFire"
    #: missedRunPolicy RunAll: more late fires than maxRuns; only the newest run.
    MAX_RUNS_EXCEEDED = "MaxRunsExceeded"


# --- parsing -------------------------------------------------------------------------

_MONTHS: Final = {
    name: number
    for number, name in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"),
        start=1,
    )
}
_WEEKDAYS: Final = {
    name: number for number, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))
}
_NUMBER: Final = re.compile(r"[0-9]{1,4}")


@dataclass(frozen=True)
class _Field:
    """One of the five cron fields, for validation and its messages."""

    name: str
    low: int
    high: int
    names: Mapping[str, int]
    allowed: str  # how the message states the range
    #: Where `*` and `N/step` end: the last value, except for day-of-week, where 7 is
    #: another name for 0 (`*/2` is 0,2,4,6 and `1/2` is 1,3,5, as in robfig/cron).
    star_high: int
    #: Where a bare `H` (and `H/step`) ends: as `*`, except day-of-month, which stops at
    #: 28 so that the day exists in every month (as in Jenkins).
    hash_high: int


_FIELDS: Final = (
    _Field("minute", 0, 59, {}, "0-59", 59, 59),
    _Field("hour", 0, 23, {}, "0-23", 23, 23),
    _Field("day-of-month", 1, 31, {}, "1-31 or L (the last day)", 31, 28),
    _Field("month", 1, 12, _MONTHS, "1-12 or JAN-DEC", 12, 12),
    _Field("day-of-week", 0, 7, _WEEKDAYS, "0-7 or SUN-SAT (0 and 7 are Sunday)", 6, 6),
)
#: `H`, `H(first-last)`, `H/step`, `H(first-last)/step` (Jenkins' hashed values).
_HASHED: Final = re.compile(
    r"H(?:\((?P<first>[0-9A-Za-z]+)-(?P<last>[0-9A-Za-z]+)\))?(?:/(?P<step>[0-9]+))?"
)
_DAY_OF_MONTH, _DAY_OF_WEEK = _FIELDS[2], _FIELDS[4]


def _bad(expression: str, problem: str) -> ScheduleError:
    return ScheduleError(f'invalid schedule "{expression}": {problem}; {EXAMPLE}', "schedule")


def _value(spec: _Field, token: str) -> int | None:
    """The number a token stands for, or None when it is not one of the field's values."""
    if _NUMBER.fullmatch(token):
        number = int(token)
        return number if spec.low <= number <= spec.high else None
    return spec.names.get(token.upper())


def _item_problem(spec: _Field, item: str, whole: str) -> str | None:
    """What is wrong with one comma-separated item of a field, if anything."""
    where = "" if item == whole else f' ("{item}" in "{whole}")'
    out_of_range = f"{spec.name} must be {spec.allowed}{where}"
    if not item:
        return f'{spec.name} "{whole}" has an empty list item'
    if spec is _DAY_OF_MONTH and item.upper() == "L":
        return None
    if spec is _DAY_OF_WEEK and "#" in item:
        day, _, nth = item.partition("#")
        if _value(spec, day) is None:
            return out_of_range
        if nth not in {"1", "2", "3", "4", "5"}:
            return f'day-of-week "{item}": the week after # must be 1-5, e.g. "1#2" (2nd Monday)'
        return None
    if item.startswith("H"):
        return _hashed_problem(spec, item, where)
    base, slash, step = item.partition("/")
    if slash and (not _NUMBER.fullmatch(step) or not 1 <= int(step) <= spec.high):
        return f"{spec.name} step must be 1-{spec.high}{where}"
    if base == "?":
        if spec not in (_DAY_OF_MONTH, _DAY_OF_WEEK) or slash:
            return f'"?" stands alone and only in day-of-month or day-of-week{where}'
        return None
    if base == "*":
        return None
    first, dash, last = base.partition("-")
    low = _value(spec, first)
    high = _value(spec, last) if dash else low
    if low is None or high is None:
        return out_of_range
    if high < low:
        return (
            f'{spec.name} range "{base}" runs backwards; wrap-around ranges are not '
            f'supported, write it as a list, e.g. "{low}-{spec.high},{spec.low}-{high}"'
        )
    return None


def _hashed_problem(spec: _Field, item: str, where: str) -> str | None:
    """What is wrong with an `H` item, if anything."""
    match = _HASHED.fullmatch(item)
    if match is None:
        return (
            f'{spec.name}: "{item}" is not a hashed value; write H, H(first-last), H/step '
            f'or H(first-last)/step, e.g. "H(0-29)"{where}'
        )
    first, last = _hashed_range(spec, match)
    if first is None or last is None:
        return f"{spec.name} must be {spec.allowed} in H(first-last){where}"
    if last < first:
        return f'{spec.name} range in "{item}" runs backwards{where}'
    step = match["step"]
    if step is not None and not 1 <= int(step) <= spec.high:
        return f"{spec.name} step must be 1-{spec.high}{where}"
    return None


def _hashed_range(spec: _Field, match: re.Match[str]) -> tuple[int | None, int | None]:
    """The range an `H` item hashes into: its own `(first-last)`, else the field's."""
    if match["first"] is None:
        return spec.low, spec.hash_high
    return _value(spec, match["first"]), _value(spec, match["last"])


def _hashed_values(spec: _Field, item: str, seed: str) -> range:
    """The values of a validated `H` item for a job whose seed is `seed` (see
    core/spread.py): one value in its range, or with `/step` the values from a hashed
    start below first + step, every step, to the end of the range (as Jenkins reads
    `H/15`: e.g. 7,22,37,52)."""
    match = _HASHED.fullmatch(item)
    if match is None:  # pragma: no cover - _item_problem has refused it
        raise ValueError(f"{spec.name}: {item!r} is not a hashed value")
    first, last = _hashed_range(spec, match)
    if first is None or last is None:  # pragma: no cover - refused as well
        raise ValueError(f"{spec.name}: {item!r} has no valid range")
    span = last - first + 1
    if match["step"] is None:
        value = first + hashed(seed, spec.name, span)
        return range(value, value + 1)
    step = int(match["step"])
    return range(first + hashed(seed, spec.name, min(step, span)), last + 1, step)


#: The blanks that separate fields: what Go's strings.Fields splits on (unicode.IsSpace),
#: so a schedule CronJob accepts splits into the same fields here (tabs, several blanks,
#: a line break from a YAML block scalar). Python's str.split() would also split on the
#: control characters U+001C-U+001F, which CronJob does not.
_BLANKS: Final = re.compile(
    r"[\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+"
)


@dataclass(frozen=True)
class _Fields:
    """An expression's five fields, as written and as values."""

    written: str  #: the fields as written, one blank apart (macros expanded)
    values: str  #: each field as `*` or a list of plain numbers (see _field_values)
    minutes: tuple[int, ...]  #: matching minutes, ascending
    hours: tuple[int, ...]  #: matching hours, ascending


def _fields(expression: str, seed: str = "") -> _Fields:
    """The five cron fields an expression stands for, or an error (`H` items hashed
    from `seed`)."""
    fields = [field for field in _BLANKS.split(expression) if field]
    if not fields:
        raise _bad(expression, "it is empty")
    if fields[0].startswith("@"):
        fields = _macro(expression, fields).split()
    if len(fields) != len(_FIELDS):
        extra = " (a seconds or year field is not supported)" if len(fields) > 5 else ""
        raise _bad(
            expression,
            "expected 5 fields (minute hour day-of-month month day-of-week) or a macro "
            f"such as @daily, got {len(fields)}{extra}",
        )
    for spec, value in zip(_FIELDS, fields, strict=True):
        items = value.split(",")
        if spec is _DAY_OF_WEEK and len({"#" in item for item in items}) > 1:
            raise _bad(expression, f'day-of-week "{value}" mixes "n#k" items with plain days')
        for item in items:
            problem = _item_problem(spec, item, value)
            if problem:
                raise _bad(expression, problem)
    values = [_field_values(spec, value, seed) for spec, value in zip(_FIELDS, fields, strict=True)]
    minutes, hours = (
        tuple(range(spec.low, spec.star_high + 1))
        if value == "*"
        else tuple(number for item in value.split(",") for number in _item_values(spec, item))
        for spec, value in zip(_FIELDS[:2], values[:2], strict=True)
    )
    return _Fields(" ".join(fields), " ".join(values), minutes, hours)


def _macro(expression: str, fields: list[str]) -> str:
    """The five fields a macro stands for, or an error. As in CronJob (robfig/cron), a
    macro is the whole expression, with no blanks around it."""
    macro = fields[0]
    if macro.lower().startswith("@every"):
        raise _bad(
            expression,
            "@every is not supported: a ScheduledJob fires at times of day; write the "
            'interval as cron fields, e.g. "*/5 * * * *" (every 5 minutes) or '
            '"0 */2 * * *" (every 2 hours)',
        )
    if macro == "@reboot":
        raise _bad(
            expression,
            "@reboot is not supported (a ScheduledJob fires at times of day; "
            "for a job that runs once, leave schedule unset)",
        )
    if macro not in MACROS:
        if macro.lower() in MACROS:
            raise _bad(expression, f"macros are written in lower case: {macro.lower()}")
        raise _bad(
            expression,
            "unknown macro; use @hourly, @daily (or @midnight), @weekly, @monthly, "
            "@yearly (or @annually), or five cron fields",
        )
    if len(fields) > 1 or expression != macro:
        raise _bad(expression, f'a macro stands alone, without blanks around it: "{macro}"')
    return MACROS[macro]


def _field_values(spec: _Field, value: str, seed: str = "") -> str:
    """A validated field as croniter should read it: `*`, or its values as a sorted list
    of plain numbers (plus `L` and `n#k` items, which croniter resolves per month).

    This is where the expression's meaning is fixed, as CronJob (robfig/cron) and
    POSIX cron read it, so that croniter never interprets a range or a step itself:

    * `N-N` and `N-N/step` are the single value N (croniter widens an equal range to
      the whole field: `5-5 * * * *` would fire every minute);
    * `N/step` runs from N to the field's last value (`5/15` is 5,20,35,50);
    * `*`, `*/1` and `?` are the unrestricted field. Only these count as `*` when
      day-of-month and day-of-week are both given (a day matching either fires): an
      explicit range such as `1-31` or `0-6` is a restriction, as in robfig/cron and
      Vixie cron (croniter reads `*/1` and `0-7` differently);
    * names are numbers (JAN=1, SUN=0) and day-of-week 7 is 0 (Sunday);
    * `H` items are the values hashed from `seed` (see `_hashed_values`).
    """
    items = value.split(",")
    if any(_is_star(item) for item in items):
        return "*"
    numbers: set[int] = set()
    specials: list[str] = []
    for item in items:
        if spec is _DAY_OF_MONTH and item.upper() == "L":
            specials.append("L")
        elif spec is _DAY_OF_WEEK and "#" in item:
            day, _, nth = item.partition("#")
            specials.append(f"{_checked_value(spec, day) % 7}#{nth}")
        elif item.startswith("H"):
            numbers.update(_hashed_values(spec, item, seed))
        else:
            numbers.update(_item_values(spec, item))
    if spec is _DAY_OF_WEEK:
        numbers = {number % 7 for number in numbers}
    return ",".join([*_runs(sorted(numbers)), *specials])


def _runs(numbers: list[int]) -> Iterator[str]:
    """Ascending numbers as items: a run of consecutive ones as `first-last` (a range
    of two or more values, which croniter reads right; it walks days faster through
    `1-5` than through `1,2,3,4,5`), a lone one as itself."""
    start = 0
    for index, number in enumerate(numbers):
        if index + 1 == len(numbers) or numbers[index + 1] != number + 1:
            first = numbers[start]
            yield str(first) if first == number else f"{first}-{number}"
            start = index + 1


def _is_star(item: str) -> bool:
    base, slash, step = item.partition("/")
    return base in ("*", "?") and (not slash or int(step) == 1)


def _item_values(spec: _Field, item: str) -> range:
    """The values of a validated range item: N, N-M, N-M/step, N/step or */step."""
    base, slash, step = item.partition("/")
    if base == "*":
        return range(spec.low, spec.star_high + 1, int(step) if slash else 1)
    first, dash, last = base.partition("-")
    low = _checked_value(spec, first)
    if dash:
        return range(low, _checked_value(spec, last) + 1, int(step) if slash else 1)
    if slash:  # N/step: from N to the end of the field
        return range(low, max(low, spec.star_high) + 1, int(step))
    return range(low, low + 1)


def _checked_value(spec: _Field, token: str) -> int:
    value = _value(spec, token)
    if value is None:  # pragma: no cover - _item_problem has refused it
        raise ValueError(f"{spec.name}: {token!r} is not a value")
    return value


def _zone(name: str) -> ZoneInfo:
    """The IANA time zone called `name`, or a ScheduleError that says what to write."""
    hint = 'use an IANA name such as "Europe/Berlin" or "UTC"'
    try:
        if name in NOT_TIME_ZONES:
            raise ZoneInfoNotFoundError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass
    guess = _zone_names_by_lower_case().get(name.lower())
    did_you_mean = f' (did you mean "{guess}"?)' if guess else ""
    raise ScheduleError(f'unknown time zone "{name}"{did_you_mean}; {hint}', "timeZone")


@functools.cache
def _zone_names_by_lower_case() -> Mapping[str, str]:
    """All zone names by their lower-case spelling (error path only: it reads a disk)."""
    import zoneinfo  # noqa: PLC0415 - available_timezones is only needed here

    return {key.lower(): key for key in zoneinfo.available_timezones() - NOT_TIME_ZONES}


@functools.lru_cache(maxsize=4096)
def parse_schedule(
    expression: str, time_zone: str = DEFAULT_TIME_ZONE, *, seed: str = "", jitter_seconds: int = 0
) -> Schedule:
    """Validate a schedule and its time zone; raises ScheduleError with a user message.

    Accepts five cron fields (numbers, `*`, `?`, ranges, steps, lists, JAN-DEC and
    SUN-SAT, `L` in day-of-month, `n#k` in day-of-week, `H` hashed values), separated
    by any blanks CronJob accepts (spaces, tabs, line breaks), and the macros in
    MACROS, each written alone. The fields mean what they mean in a CronJob (`N-N` is
    N; see _field_values). `H`, which CronJob refuses, is Jenkins' hashed value: a
    value fixed by `seed`, the job's `namespace/name` (see core/spread.py). Rejects
    what would be ambiguous or non-deterministic elsewhere: seconds and year fields,
    @every, @reboot, wrap-around ranges, croniter's R (random) fields, and schedules
    that never fire (e.g. "0 0 30 2 *"). `jitter_seconds` delays each fire by a fixed
    amount of its own (see `Schedule.delay`). `expression` is kept as written (it is
    the user's spec). Cached: a ScheduledJob's schedule is parsed on every reconcile.
    """
    if not 0 <= jitter_seconds <= MAX_JITTER_SECONDS:
        raise ValueError(f"jitter_seconds must be 0-{MAX_JITTER_SECONDS}, got {jitter_seconds}")
    fields = _fields(expression, seed)
    zone = _zone(time_zone)
    dom, month, dow = fields.values.split()[2:]
    schedule = Schedule(
        expression=expression,
        time_zone=time_zone,
        cron=fields.written,
        values=fields.values,
        zone=zone,
        day_expression=f"0 0 {dom} {month} {dow}",
        minutes_of_day=tuple(h * 60 + m for h in fields.hours for m in fields.minutes),
        every_hour=len(fields.hours) == 24,
        seed=seed,
        jitter_seconds=jitter_seconds,
    )
    try:
        next(schedule._matching_days(date(2000, 1, 1)))
    except CroniterBadDateError:
        raise _bad(expression, "it never fires (no month in it has such a day)") from None
    return schedule


def schedule_of(namespace: str, name: str, spec: Mapping[str, Any]) -> Schedule:
    """A ScheduledJob's schedule as it fires: `spec.schedule` in `spec.timeZone`, its
    `H` fields hashed from namespace/name, its fires delayed by `spec.jitterSeconds`.
    The operator, the webhook and the front ends all build it here. Raises
    ScheduleError (also for a job without a schedule)."""
    expression = spec.get("schedule")
    if not expression:
        raise ScheduleError("a one-time job (no schedule) has no fires to show", "schedule")
    return parse_schedule(
        str(expression),
        str(spec.get("timeZone") or DEFAULT_TIME_ZONE),
        seed=seed_of(namespace, name),
        jitter_seconds=int(spec.get("jitterSeconds") or 0),
    )


# --- the schedule ----------------------------------------------------------------------


def _aware(t: datetime, name: str = "t") -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got {t!r}")
    return t.astimezone(UTC)


@dataclass(frozen=True)
class Schedule:
    """A validated schedule in its time zone (build it with `parse_schedule`)."""

    expression: str  #: as written in the spec
    time_zone: str  #: the IANA name
    cron: str  #: the five fields as written, one blank apart (macros expanded)
    #: The five fields as plain values (`5-5` is `5`, names are numbers; see
    #: _field_values): what the fire times are computed from.
    values: str
    zone: ZoneInfo = field(repr=False)
    day_expression: str = field(repr=False)  #: cron's day fields at 00:00, for croniter
    minutes_of_day: tuple[int, ...] = field(repr=False)  #: matching h*60+m, ascending
    every_hour: bool = field(repr=False)  #: the hour field covers all 24 hours
    seed: str = ""  #: what `H` and the jitter are hashed from: the job's namespace/name
    jitter_seconds: int = 0  #: the bound of each fire's delay (spec.jitterSeconds)

    def __str__(self) -> str:
        return f"{self.expression} ({self.time_zone})"

    @property
    def uses_hash(self) -> bool:
        """The expression has `H` fields (its values depend on the seed)."""
        return "H" in self.cron

    # Jitter ---------------------------------------------------------------------------

    def delay(self, fire: datetime) -> timedelta:
        """How long after `fire` its run is created: a whole number of seconds below
        both jitterSeconds + 1 and the time to the next fire, hashed from the seed and
        the fire, so every replica and every restart computes the same one. Ending
        before the next fire keeps runs in the order of their fires. Real (elapsed)
        time: a DST change between the fire and its delayed start moves nothing."""
        if not self.jitter_seconds:
            return timedelta(0)
        fire = _aware(fire, "fire")
        gap = int((self.next_after(fire) - fire).total_seconds())
        bound = max(1, min(self.jitter_seconds + 1, gap))
        return timedelta(seconds=hashed(self.seed, jitter_salt(int(fire.timestamp())), bound))

    def effective(self, fire: datetime) -> datetime:
        """When the run of `fire` is created: the fire plus its delay (UTC)."""
        return _aware(fire, "fire") + self.delay(fire)

    def dst_note(self, fire: datetime) -> tuple[DstNote | None, datetime | None]:
        """How a DST change shapes this fire, and the wall time (naive, local) it
        stands for: (MOVED_BY_GAP, the skipped wall time), (REPEATED_ONCE, the
        repeated wall time), (BOTH_PASSES, the wall time of a repeated hour an
        every-hour schedule fires in twice), or (None, None)."""
        fire = _aware(fire, "fire")
        wall = self._wall(fire)
        repeated = len(self._instants(wall)) == 2
        if self.every_hour:
            return (DstNote.BOTH_PASSES, wall) if repeated else (None, None)
        before = self._wall(fire - timedelta(seconds=1))
        if wall - before > timedelta(seconds=1):  # the clock jumped forward to this fire
            skipped = next(self._walls_after(before))
            if skipped < wall:
                return DstNote.MOVED_BY_GAP, skipped
        return (DstNote.REPEATED_ONCE, wall) if repeated else (None, None)

    # Public API -------------------------------------------------------------------

    def next_after(self, t: datetime) -> datetime:
        """The first fire strictly after `t` (aware; the result is UTC)."""
        return next(self.fires_after(t))

    def fires_after(self, t: datetime) -> Iterator[datetime]:
        """Every fire strictly after `t`, ascending, endless (UTC)."""
        t = _aware(t)
        start = self._wall(t)
        if self.every_hour:
            # Instants after t can show an earlier wall time if the clock goes back soon.
            start -= self._fold_lookback(t)
        pending: list[datetime] = []
        last: datetime | None = None
        for wall in self._walls_after(start):
            first = self._first_instant(wall)
            for instant in self._instants(wall) if self.every_hour else (first,):
                if instant > t:
                    heapq.heappush(pending, instant)
            # No later wall time maps before `first`: what is pending up to it is final.
            while pending and pending[0] <= first:
                instant = heapq.heappop(pending)
                if instant != last:
                    last = instant
                    yield instant

    def fires_between(self, after: datetime, until: datetime, limit: int) -> list[datetime]:
        """The fires in (after, until], ascending, at most `limit` of them."""
        until = _aware(until, "until")
        fires: list[datetime] = []
        if limit <= 0:
            return fires
        for fire in self.fires_after(after):
            if fire > until:
                break
            fires.append(fire)
            if len(fires) == limit:
                break
        return fires

    def newest_between(self, after: datetime, until: datetime) -> datetime | None:
        """The newest fire in (after, until], or None (walks the fires in between:
        for short windows)."""
        newest = None
        for fire in self.fires_after(after):
            if fire > _aware(until, "until"):
                break
            newest = fire
        return newest

    def count_between(self, after: datetime, until: datetime) -> int:
        """How many fires lie in (after, until], without walking them one by one."""
        after, until = _aware(after, "after"), _aware(until, "until")
        return sum(count for count, _ in self._day_counts(after, until))

    def nth_after(self, after: datetime, n: int) -> datetime:
        """The n-th fire after `after` (n >= 1), skipping whole days where it can."""
        after = _aware(after, "after")
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        far = after + timedelta(days=366 * _MAX_YEARS_BETWEEN_DAYS)
        for count, day in self._day_counts(after, far):
            if count < n:
                n -= count
                continue
            start, end = self._day_bounds(day)
            low = max(after, start - _TICK)
            if self._regular(start, end):
                first = self._fires_up_to(low - start)
                return start + self.minutes_of_day[first + n - 1] * _MINUTE
            return self.fires_between(low, end - _TICK, n)[-1]
        raise ValueError(f"fewer than {n} fires in the next {_MAX_YEARS_BETWEEN_DAYS} years")

    # Wall times and instants --------------------------------------------------------

    def _wall(self, t: datetime) -> datetime:
        """The local wall time (naive) the clock shows at instant t."""
        return t.astimezone(self.zone).replace(tzinfo=None, fold=0)

    def _instants(self, wall: datetime) -> list[datetime]:
        """The real instants whose local wall time is `wall`: none (in a gap), one, or
        two (in a repeated hour), ascending."""
        instants: list[datetime] = []
        for fold in (0, 1):
            instant = wall.replace(tzinfo=self.zone, fold=fold).astimezone(UTC)
            if self._wall(instant) == wall and instant not in instants:
                instants.append(instant)
        return sorted(instants)

    def _first_instant(self, wall: datetime) -> datetime:
        """The first instant the local clock shows `wall` or later: the wall time itself
        (its first occurrence if repeated), or the end of the gap that skips it."""
        instant = wall.replace(tzinfo=self.zone, fold=0).astimezone(UTC)
        if self._wall(instant) == wall:
            return instant
        # In a gap, zoneinfo maps fold=0 with the offset before the change (past the
        # gap) and fold=1 with the offset after it (before the gap). The change itself
        # is at a whole second: bisect between the two.
        other = wall.replace(tzinfo=self.zone, fold=1).astimezone(UTC)
        low, high = int(min(instant, other).timestamp()), int(max(instant, other).timestamp())
        while high - low > 1:
            middle = (low + high) // 2
            if self._wall(datetime.fromtimestamp(middle, UTC)) >= wall:
                high = middle
            else:
                low = middle
        return datetime.fromtimestamp(high, UTC)

    def _fold_lookback(self, t: datetime) -> timedelta:
        """How far the local clock may go back in the day after t (0 without a fall-back)."""
        return _fold_lookback(self.zone, int(t.timestamp()) // 3600)

    # Days -----------------------------------------------------------------------------

    def matching_days(self, first: date) -> Iterator[date]:
        """Local days from `first` on whose date matches the day fields, ascending."""
        return self._matching_days(first)

    def _matching_days(self, first: date) -> Iterator[date]:
        """Local days from `first` on whose date matches the day fields (croniter).

        The first few come from a cache shared by all calls (a reconcile needs only
        today or tomorrow, and building a croniter costs more than stepping one);
        longer walks step one croniter.
        """
        day = first
        for _ in range(_CACHED_DAY_STEPS):
            day = _next_matching_day(self.day_expression, day)
            yield day
            day += _DAY
        days = croniter(
            self.day_expression,
            datetime.combine(day, time()) - timedelta(seconds=1),
            max_years_between_matches=_MAX_YEARS_BETWEEN_DAYS,
        )
        while True:
            yield days.get_next(datetime).date()

    def _walls_after(self, start: datetime) -> Iterator[datetime]:
        """Matching local wall times strictly after `start`, ascending (naive)."""
        minute_of_start = start.hour * 60 + start.minute
        for day in self._matching_days(start.date()):
            midnight = datetime.combine(day, time())
            index = 0
            if day == start.date():
                index = bisect.bisect_right(self.minutes_of_day, minute_of_start)
            for minute in self.minutes_of_day[index:]:
                yield midnight + minute * _MINUTE

    def _day_bounds(self, day: date) -> tuple[datetime, datetime]:
        """[start, end): the instants from when the local clock first shows this day to
        when it first shows the next. These spans partition time, in order."""
        midnight = datetime.combine(day, time())
        return self._first_instant(midnight), self._first_instant(midnight + _DAY)

    def _regular(self, start: datetime, end: datetime) -> bool:
        """True if no UTC offset change touches the day: its wall times are exactly
        00:00-24:00, once each, and its fires are exactly its matching minutes.
        (Two changes within one day that cancel out would pass unseen; tzdata has
        none, and only counting of long outages relies on this.)"""
        if end - start != _DAY:
            return False
        offsets = {
            instant.astimezone(self.zone).utcoffset() for instant in (start - _TICK, start, end)
        }
        return len(offsets) == 1

    def _day_of(self, t: datetime) -> date:
        """The day whose span (see _day_bounds) contains instant t."""
        day = self._wall(t).date()
        while t < self._day_bounds(day)[0]:
            day -= _DAY
        while t >= self._day_bounds(day)[1]:
            day += _DAY
        return day

    def _fires_up_to(self, offset: timedelta) -> int:
        """How many of a regular day's fires lie at most `offset` into the day."""
        return bisect.bisect_right(self.minutes_of_day, offset // _MINUTE)

    def _day_counts(self, after: datetime, until: datetime) -> Iterator[tuple[int, date]]:
        """(fires in (after, until] within the day's span, day) for each day from the
        one holding `after` to the one holding `until`. A regular day is counted from
        its matching minutes; a day with an offset change is enumerated."""
        if until <= after:
            return
        day, last_day = self._day_of(after), self._day_of(until)
        matching = self._matching_days(day)
        next_match = next(matching)
        start = self._day_bounds(day)[0]
        while day <= last_day:
            end = self._first_instant(datetime.combine(day + _DAY, time()))
            while next_match < day:
                next_match = next(matching)
            low, high = max(after, start - _TICK), min(until, end - _TICK)
            if high > low:
                if not self._regular(start, end):
                    count = len(self.fires_between(low, high, limit=_MAX_FIRES_PER_SPAN))
                elif next_match == day:
                    count = self._fires_up_to(high - start) - self._fires_up_to(low - start)
                else:
                    count = 0
                yield count, day
            day, start = day + _DAY, end


@functools.lru_cache(maxsize=16384)
def _fold_lookback(zone: ZoneInfo, hour: int) -> timedelta:
    """An upper bound on how far a zone's clock goes back within a day of any instant
    in the given hour (hours since the epoch): the largest offset in that hour minus
    the smallest in the day after it. Cached: every fire of an every-hour schedule
    needs it."""
    offsets = [
        datetime.fromtimestamp((hour + h) * 3600, zone).utcoffset() or timedelta(0)
        for h in range(_FOLD_HORIZON_HOURS + 2)
    ]
    return max(timedelta(0), max(offsets[:2]) - min(offsets[1:]))


@functools.lru_cache(maxsize=16384)
def _next_matching_day(day_expression: str, first: date) -> date:
    """The first day from `first` on that matches a "0 0 dom month dow" expression."""
    days = croniter(
        day_expression,
        datetime.combine(first, time()) - timedelta(seconds=1),
        max_years_between_matches=_MAX_YEARS_BETWEEN_DAYS,
    )
    return days.get_next(datetime).date()


# --- missed fires ----------------------------------------------------------------------


class MissedFire(NamedTuple):
    """A fire time that gets no run, and why (unpacks as `fire, reason`)."""

    time: datetime
    reason: MissedReason


@dataclass(frozen=True)
class DueFires:
    """What to do about the fires in (last handled fire, now]."""

    #: Fire times to create runs for now, oldest first (name them with run_name).
    to_run: tuple[datetime, ...]
    #: The newest missed fires (at most max_listed), oldest first, to log and report.
    missed: tuple[MissedFire, ...]
    #: Every missed fire by reason, listed or not: add their sum to status.missedRuns.
    missed_by_reason: Mapping[MissedReason, int]
    #: The newest fire in the window (run or missed), or None if there was none.
    #: Persist it and pass it as `last_scheduled` next time, so that no fire is
    #: classified twice.
    latest_fire: datetime | None
    #: The next fire to handle (nextScheduleTime): the first strictly after now (and
    #: after last_scheduled), or one that came but whose jitter delay has not passed.
    next_fire: datetime
    #: Seconds from now until next_fire's effective time: how long to sleep before
    #: calling again.
    wake_after_seconds: float

    @property
    def missed_count(self) -> int:
        """All missed fires in the window."""
        return sum(self.missed_by_reason.values())

    @property
    def unlisted_missed(self) -> int:
        """Missed fires counted but not listed in `missed` (old ones of a long outage)."""
        return self.missed_count - len(self.missed)


def _policy_reason(policy: MissedRunPolicy) -> MissedReason:
    return {
        MissedRunPolicy.SKIP: MissedReason.SKIPPED_BY_POLICY,
        MissedRunPolicy.RUN_ONCE: MissedReason.SUPERSEDED_BY_LATER_FIRE,
        MissedRunPolicy.RUN_ALL: MissedReason.MAX_RUNS_EXCEEDED,
    }[policy]


def due_fires(
    schedule: Schedule,
    last_scheduled: datetime | None,
    created: datetime,
    now: datetime,
    *,
    starting_deadline_seconds: int | None,
    policy: MissedRunPolicy,
    max_runs: int,
    scan_cap: int = 1000,
    on_time_seconds: float = 60,
    max_listed: int = 20,
) -> DueFires:
    """Classify every fire in (last_scheduled or created, now] as to run or missed.

    The newest fire is *on time* if it is at most `on_time_seconds` old (capped by
    the deadline): the normal case, where the controller woke up for it. Every other
    fire in the window is *late*: the operator was down, the job was suspended, or a
    later fire has already come. Then:

    * a late fire older than `starting_deadline_seconds` is missed
      (MissedStartingDeadline), whatever the policy;
    * the on-time fire always runs;
    * the other late fires follow `policy`: Skip runs none of them; RunOnce runs only
      the newest, and only if no on-time fire runs (one run makes up for the whole
      window; a CronJob means the same, but finds that fire by estimating from the
      first interval, which can skip it on irregular schedules); RunAll runs each,
      oldest first, but at most the
      newest `max_runs` of them (the on-time fire is not counted against max_runs).

    At most `scan_cap` fires are enumerated; a longer window (a job stopped for a
    year) is counted in aggregate and only its newest fires are looked at, so the
    cost does not grow with the number of fires. `missed` lists the newest
    `max_listed` missed fires; `missed_by_reason` counts all of them.

    Pause and resume: while the job is paused (`spec.suspend`, or a pause after
    failures, `status.failurePause`) the controller does not call this; it records
    each fire that comes as skipped (core.scheduledjob, status skippedWhilePaused and
    lastSkippedTime) and passes the newest handled fire, run or skipped, as
    `last_scheduled`. A resume therefore finds no late fire from the pause:
    only fires missed while the operator was down follow missedRunPolicy.

    Jitter (`schedule.jitter_seconds`): a fire is due at its effective time
    (`schedule.effective`), and "on time" and the deadline are measured from it. The
    newest fire whose delay has not passed yet stays out of the window: it is
    `next_fire`, and `wake_after_seconds` runs to its effective time.
    """
    since = _aware(last_scheduled if last_scheduled is not None else created, "last_scheduled")
    now = _aware(now, "now")
    if max_runs < 1 or scan_cap < 1 or max_listed < 0:
        raise ValueError("max_runs and scan_cap must be >= 1 and max_listed >= 0")
    # With jitter a fire is due at its effective time (fire + delay). A delay ends
    # before the next fire, so only the newest fire up to now can still be waiting for
    # its delay: it is left out of the window, and is the next fire.
    until, waiting = now, None
    if schedule.jitter_seconds:
        newest = schedule.newest_between(
            max(since, now - timedelta(seconds=schedule.jitter_seconds + 1)), now
        )
        if newest is not None and schedule.effective(newest) > now:
            until, waiting = newest - _TICK, newest
    next_fire = waiting if waiting is not None else schedule.next_after(max(now, since))
    wake = max(0.0, (schedule.effective(next_fire) - now).total_seconds())
    deadline = (
        None if starting_deadline_seconds is None else timedelta(0, starting_deadline_seconds)
    )
    on_time = timedelta(seconds=on_time_seconds)
    if deadline is not None:
        on_time = min(on_time, deadline)
    late_reason = _policy_reason(policy)

    def too_late(fire: datetime) -> bool:
        return deadline is not None and now - schedule.effective(fire) > deadline

    # The fires that can run or be listed are the newest `need`; older ones are counted.
    need = (max_runs if policy is MissedRunPolicy.RUN_ALL else 1) + 1 + max_listed
    fires = schedule.fires_between(since, until, limit=scan_cap + 1)
    counts: dict[MissedReason, int] = {}
    if len(fires) > scan_cap:
        total = schedule.count_between(since, until)
        if total <= need:
            fires = schedule.fires_between(since, until, limit=total)
        else:
            boundary = schedule.nth_after(since, total - need)
            fires = schedule.fires_between(boundary, until, limit=need)
            late_count = 0
            if deadline is not None:
                late_count = _count_too_late(schedule, since, boundary, now - deadline)
            _add(counts, MissedReason.MISSED_STARTING_DEADLINE, late_count)
            _add(counts, late_reason, total - need - late_count)

    latest = fires[-1] if fires else None
    on_time_fire = (
        latest if latest is not None and now - schedule.effective(latest) <= on_time else None
    )
    late = fires[:-1] if on_time_fire is not None else fires
    eligible = [f for f in late if not too_late(f)]
    if policy is MissedRunPolicy.RUN_ALL:
        run_late = eligible[-max_runs:]
    elif policy is MissedRunPolicy.RUN_ONCE and on_time_fire is None:
        run_late = eligible[-1:]
    else:
        run_late = []
    to_run = [*run_late, *([on_time_fire] if on_time_fire is not None else [])]
    running = set(to_run)
    missed: list[MissedFire] = []
    for fire in late:
        if fire in running:
            continue
        reason = MissedReason.MISSED_STARTING_DEADLINE if too_late(fire) else late_reason
        _add(counts, reason, 1)
        missed.append(MissedFire(fire, reason))
    return DueFires(
        to_run=tuple(to_run),
        missed=tuple(missed[-max_listed:] if max_listed else ()),
        missed_by_reason=counts,
        latest_fire=latest,
        next_fire=next_fire,
        wake_after_seconds=wake,
    )


def _count_too_late(schedule: Schedule, since: datetime, boundary: datetime, cut: datetime) -> int:
    """How many fires in (since, boundary] started too late: their effective time is
    before `cut` (now - startingDeadlineSeconds). Counted in aggregate up to where no
    delay can matter, then one by one (at most jitterSeconds of fires)."""
    sure = min(boundary, cut - timedelta(seconds=schedule.jitter_seconds) - _TICK)
    count = schedule.count_between(since, sure) if sure > since else 0
    if schedule.jitter_seconds:
        edge = min(boundary, cut - _TICK)
        for fire in schedule.fires_between(max(since, sure), edge, limit=_MAX_FIRES_PER_SPAN):
            if schedule.effective(fire) < cut:
                count += 1
    return count


def _add(counts: dict[MissedReason, int], reason: MissedReason, count: int) -> None:
    if count > 0:
        counts[reason] = counts.get(reason, 0) + count


# --- run names ---------------------------------------------------------------------------


def run_name(scheduled_job: str, fire: datetime) -> str:
    """The JobRun name for a fire: `<scheduledjob>-<unix seconds, 10 digits>`.

    Deterministic, so that creating it is idempotent: a fire is never run twice, not
    after an operator restart, nor after a failover to another replica.
    """
    fire = _aware(fire, "fire")
    seconds = fire.timestamp()
    if fire.microsecond or not 0 <= seconds < 10**10:
        raise ValueError(f"a fire time is a whole second between 1970 and 2286, got {fire}")
    name = f"{scheduled_job}-{int(seconds):010d}"
    if len(name) > MAX_RUN_NAME:
        raise ValueError(f"run name {name!r} is longer than {MAX_RUN_NAME} characters")
    return name


def fire_from_run_name(name: str, scheduled_job: str | None = None) -> datetime | None:
    """The fire time a scheduled run's name encodes (UTC), or None if it encodes none
    (a manual run, or a run of another ScheduledJob when `scheduled_job` is given)."""
    match = _RUN_SUFFIX.search(name)
    if match is None or match.start() == 0:
        return None
    if scheduled_job is not None and name[: match.start()] != scheduled_job:
        return None
    return datetime.fromtimestamp(int(match.group(1)), UTC)


__all__ = [
    "EXAMPLE",
    "MACROS",
    "DstNote",
    "DueFires",
    "MissedFire",
    "MissedReason",
    "Schedule",
    "ScheduleError",
    "due_fires",
    "fire_from_run_name",
    "parse_schedule",
    "run_name",
    "schedule_of",
]

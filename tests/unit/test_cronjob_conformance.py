"""Conformance with Kubernetes' CronJob, case by case, from CronJob's own test tables.

The rows are the cases of the public test tables of the CronJob controller and of the
cron library it and its API validation use (robfig/cron v3), restated as our own data:

* kubernetes/kubernetes `pkg/apis/batch/validation/validation_test.go`:
  TestValidateCronJob, TestValidateCronJobScheduleTZ, TestValidateCronJobSpec (schedule
  and timeZone cases) and a sample of TestTimeZones;
* `pkg/controller/cronjob/utils_test.go`: TestMostRecentScheduleTime,
  TestNextScheduleTime, TestNextScheduleTimeDuration;
* `pkg/controller/cronjob/cronjob_controllerv2_test.go`: TestControllerV2SyncCronJob and
  TestControllerV2UpdateCronJob;
* robfig/cron v3 `parser_test.go` (TestRange, TestField, TestAll, TestBits,
  TestParseScheduleErrors, TestParseSchedule, TestOptionalSecondSchedule,
  TestStandardSpecSchedule) and `spec_test.go` (TestActivation, TestNext, TestErrors,
  TestNextWithTz, TestSlash0NoHang).

Each row names what CronJob does (the upstream expectation) and its class: AGREE, or the
`Difference` jobwarden deliberately follows instead, each documented in docs/api.md
("Coming from CronJob") with what jobwarden does. A row fails when its class changes: an
AGREE row whose outcome differs from CronJob's, or a difference row whose outcome is no
longer jobwarden's documented one (or has come to equal CronJob's).

Translations, so that every row is about what a CronJob does:

* CronJob parses with robfig's ParseStandard (five fields, macros, @every) and refuses
  `TZ=`/`CRON_TZ=` in a new schedule. Rows of robfig tests that use another parser are
  stated as CronJob would see them: a sixth (seconds) field is refused; a time
  computed by the seconds parser with seconds 0 is the five-field schedule's.
* CronJob's time zone is its `timeZone` field, which its controller turns into the
  `TZ=` prefix robfig tests use; a row in a zone is a ScheduledJob with that timeZone.
  Rows in the test process's local zone are in UTC; TestNextWithTz's +05:30 times are
  Asia/Kolkata (+05:30, no DST since 1945).
* Requeue durations are the controller's `nextScheduleDelta` (100 ms) longer than the
  time to the next fire, which is what jobwarden's decision returns.
* robfig's TestRange, TestField and TestBits test one field with made-up bounds; their
  rows are stated on the minute field (whose bounds hold them) unless said otherwise.

Left out: controller cases that test Kubernetes plumbing rather than when to run
(injected API errors on create and get, a terminating namespace, Job templates,
finished-job cleanup, lister ownership) and rows repeated verbatim in another test.
"""

from __future__ import annotations

import dataclasses
import datetime
import operator
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from jobwarden.api.enums import MissedRunPolicy
from jobwarden.core.observed import RunView
from jobwarden.core.scheduledjob import ScheduledJobView, decide_scheduled_job
from jobwarden.core.scheduling import (
    MissedReason,
    Schedule,
    ScheduleError,
    due_fires,
    parse_schedule,
    run_name,
)
from jobwarden.webhooks.decisions import Request, User, schedule_problem

UTC = datetime.UTC
DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"


class Conformance(StrEnum):
    """A row's class: AGREE, or the documented difference jobwarden follows."""

    AGREE = "Agree"
    #: A wall time skipped by a spring-forward fires when the gap ends (CronJob skips it).
    DST_GAP = "DstGap"
    #: A wall-clock schedule fires once in a repeated hour (CronJob fires in both passes).
    DST_REPEAT = "DstRepeat"
    #: A schedule that never fires is refused (CronJob accepts it, then errors at run time).
    NEVER_FIRES = "NeverFires"
    #: `@every <duration>` is refused (CronJob runs at that interval from its last fire).
    EVERY = "Every"
    #: A `TZ=`/`CRON_TZ=` prefix is refused everywhere (CronJob runs legacy ones it kept).
    TZ_PREFIX = "TzPrefix"
    #: Names that are no place's zone (Factory, localtime, posixrules) are refused.
    NOT_A_PLACE = "NotAPlace"
    #: Missed fires are enumerated exactly: the latest missed fire of an irregular schedule
    #: runs (CronJob's estimate from the first interval can miss it).
    EXACT_MISSED_FIRES = "ExactMissedFires"


AGREE = Conformance.AGREE
REFUSED = "refused"  #: the expression or time zone is refused (at admission)
NEVER = "never fires"  #: robfig's zero time: accepted, but no fire within five years
_UNSET: Any = object()


def at(text: str) -> datetime.datetime:
    """An aware instant from an ISO string with an offset ("Z" for UTC)."""
    value = datetime.datetime.fromisoformat(text)
    assert value.tzinfo is not None, text
    return value


def conforms(cls: Conformance, cronjob: object, documented: object, ours: object) -> None:
    """The row's outcome is CronJob's (AGREE), or the documented different one."""
    if cls is AGREE:
        assert ours == cronjob, f"CronJob: {cronjob!r}, jobwarden: {ours!r}"
        return
    assert documented is not _UNSET, "a difference row says what jobwarden does"
    assert ours != cronjob, f"now agrees with CronJob ({ours!r}): the row is AGREE"
    assert ours == documented, f"{cls}: documented {documented!r}, jobwarden: {ours!r}"


def parsed(expression: str, time_zone: str = "UTC") -> Schedule | str:
    try:
        return parse_schedule(expression, time_zone)
    except ScheduleError:
        return REFUSED


# === acceptance of expressions and time zones (admission) =============================


@dataclass(frozen=True)
class Accept:
    """Is `expression` in `time_zone` accepted? (CronJob: API validation)"""

    source: str
    expression: str
    cronjob: bool
    time_zone: str = "UTC"
    cls: Conformance = AGREE
    jobwarden: object = _UNSET


def _acc(source: str, expression: str, cronjob: bool, **kw: Any) -> Accept:
    return Accept(source, expression, cronjob, **kw)


PARSER = "robfig parser_test.go"
SPEC = "robfig spec_test.go"
VALIDATION = "k8s validation_test.go"
OK, NO = True, False

ACCEPT: dict[str, Accept] = {
    "TestParseSchedule: 5 * * * *": _acc(PARSER, "5 * * * *", OK),
    "TestParseSchedule: seconds field 0 5 * * * *": _acc(PARSER, "0 5 * * * *", NO),
    "TestParseSchedule: CRON_TZ=UTC with seconds": _acc(PARSER, "CRON_TZ=UTC  0 5 * * * *", NO),
    "TestParseSchedule: CRON_TZ=UTC 5 * * * *": _acc(PARSER, "CRON_TZ=UTC  5 * * * *", NO),
    "TestParseSchedule: CRON_TZ=Asia/Tokyo": _acc(PARSER, "CRON_TZ=Asia/Tokyo 0 5 * * * *", NO),
    "TestParseSchedule: @every 5m": _acc(
        PARSER, "@every 5m", OK, cls=Conformance.EVERY, jobwarden=NO
    ),
    "TestParseSchedule: @midnight": _acc(PARSER, "@midnight", OK),
    "TestParseSchedule: TZ=UTC @midnight": _acc(PARSER, "TZ=UTC  @midnight", NO),
    "TestParseSchedule: TZ=Asia/Tokyo @midnight": _acc(PARSER, "TZ=Asia/Tokyo @midnight", NO),
    "TestParseSchedule: @yearly": _acc(PARSER, "@yearly", OK),
    "TestParseSchedule: @annually": _acc(PARSER, "@annually", OK),
    "TestParseSchedule: seconds field * 5 * * * *": _acc(PARSER, "* 5 * * * *", NO),
    "TestParseScheduleErrors: * 5 j * * *": _acc(PARSER, "* 5 j * * *", NO),
    "TestParseScheduleErrors: @every Xm": _acc(PARSER, "@every Xm", NO),
    "TestParseScheduleErrors: @unrecognized": _acc(PARSER, "@unrecognized", NO),
    "TestParseScheduleErrors: four fields": _acc(PARSER, "* * * *", NO),
    "TestParseScheduleErrors: empty": _acc(PARSER, "", NO),
    "TestOptionalSecondSchedule: 5 5 * * * *": _acc(PARSER, "5 5 * * * *", NO),
    "TestStandardSpecSchedule: 5 j * * *": _acc(PARSER, "5 j * * *", NO),
    "TestErrors: xyz": _acc(SPEC, "xyz", NO),
    "TestErrors: minute 60": _acc(SPEC, "60 0 * * *", NO),
    "TestErrors: hour 60": _acc(SPEC, "0 60 * * *", NO),
    "TestErrors: day-of-week XYZ": _acc(SPEC, "0 0 * * XYZ", NO),
    "TestSlash0NoHang: 15/0": _acc(SPEC, "TZ=America/New_York 15/0 * * * *", NO),
    "TestValidateCronJob: basic scheduled job": _acc(VALIDATION, "* * * * ?", OK),
    "TestValidateCronJob: non-standard scheduled": _acc(VALIDATION, "@hourly", OK),
    "TestValidateCronJob: correct timeZone value": _acc(
        VALIDATION, "0 * * * *", OK, time_zone="Europe/Rome"
    ),
    "TestValidateCronJob: spec.schedule: Invalid value": _acc(VALIDATION, "error", NO),
    "TestValidateCronJob: spec.schedule: Required value": _acc(VALIDATION, "", NO),
    "TestValidateCronJob: timeZone empty": _acc(VALIDATION, "0 * * * *", NO, time_zone=""),
    "TestValidateCronJob: timeZone LOCAL": _acc(VALIDATION, "0 * * * *", NO, time_zone="LOCAL"),
    "TestValidateCronJob: timeZone with a leading blank": _acc(
        VALIDATION, "0 * * * *", NO, time_zone=" Europe/Rome"
    ),
    "TestValidateCronJob: timeZone unknown": _acc(
        VALIDATION, "0 * * * *", NO, time_zone="Europe/InvalidRome"
    ),
    "TestValidateCronJob: timeZone a blank": _acc(VALIDATION, "0 * * * *", NO, time_zone=" "),
    "TestValidateCronJob: timeZone with a trailing blank": _acc(
        VALIDATION, "0 * * * *", NO, time_zone="Europe/Rome "
    ),
    "TestValidateCronJobScheduleTZ: TZ=UTC in a new schedule": _acc(
        VALIDATION, "TZ=UTC 0 * * * *", NO
    ),
    # TestTimeZones: every zone Go 1.19 knows is valid; a sample of its kinds of names.
    **{
        f"TestTimeZones: {zone}": _acc(VALIDATION, "0 * * * *", OK, time_zone=zone)
        for zone in (
            "Africa/Abidjan",
            "America/Argentina/ComodRivadavia",
            "America/Port-au-Prince",
            "America/Indiana/Tell_City",
            "Antarctica/DumontDUrville",
            "Asia/Ust-Nera",
            "CST6CDT",
            "EST",
            "Etc/GMT+5",
            "Etc/GMT-14",
            "Etc/GMT0",
            "GB-Eire",
            "NZ-CHAT",
            "Pacific/Kanton",
            "UCT",
            "US/East-Indiana",
            "W-SU",
            "Zulu",
        )
    },
    "TestTimeZones: Factory": _acc(
        VALIDATION,
        "0 * * * *",
        OK,
        time_zone="Factory",
        cls=Conformance.NOT_A_PLACE,
        jobwarden=NO,
    ),
}


@pytest.mark.parametrize("row", ACCEPT.values(), ids=ACCEPT.keys())
def test_acceptance(row: Accept) -> None:
    ours = parsed(row.expression, row.time_zone) != REFUSED
    conforms(row.cls, row.cronjob, row.jobwarden, ours)


@dataclass(frozen=True)
class Edit:
    """An update of schedule and timeZone at admission (unchanged values are not
    re-checked, so a rule that got stricter never blocks an unrelated edit)."""

    old: tuple[str, str | None]  # (schedule, timeZone)
    new: tuple[str, str | None]
    cronjob: bool  # the update is accepted
    cls: Conformance = AGREE
    jobwarden: object = _UNSET


LEGACY = "TZ=UTC 0 * * * *"
HOURLY = "0 * * * *"
EDITS: dict[str, Edit] = {
    "TestValidateCronJobScheduleTZ: update removing TZ should work": Edit(
        (LEGACY, None), (HOURLY, None), OK
    ),
    "TestValidateCronJobScheduleTZ: update not modifying TZ should work": Edit(
        (LEGACY, None), (LEGACY, None), OK
    ),
    # jobwarden's timeZone defaults to UTC: adding "UTC" changes nothing, so nothing is
    # re-checked; and a prefixed schedule is never stored in the first place.
    "TestValidateCronJobScheduleTZ: update not modifying TZ but adding timeZone": Edit(
        (LEGACY, None), (LEGACY, "UTC"), NO, cls=Conformance.TZ_PREFIX, jobwarden=OK
    ),
    "TestValidateCronJobScheduleTZ: update adding TZ should fail": Edit(
        (HOURLY, None), (LEGACY, None), NO
    ),
    "TestValidateCronJobSpec: timeZone nil for old and new": Edit(
        (HOURLY, None), (HOURLY, None), OK
    ),
    "TestValidateCronJobSpec: timeZone different for new": Edit(
        (HOURLY, None), (HOURLY, "America/New_York"), OK
    ),
    "TestValidateCronJobSpec: timeZone different for new and invalid": Edit(
        (HOURLY, None), (HOURLY, "broken"), NO
    ),
    "TestValidateCronJobSpec: old timeZone and new timeZone are valid": Edit(
        (HOURLY, "America/New_York"), (HOURLY, "America/Chicago"), OK
    ),
    "TestValidateCronJobSpec: old timeZone is valid, but new timeZone is invalid": Edit(
        (HOURLY, "America/New_York"), (HOURLY, "broken"), NO
    ),
    "TestValidateCronJobSpec: old and new timeZone are invalid, but unchanged": Edit(
        (HOURLY, "broken"), (HOURLY, "broken"), OK
    ),
    "TestValidateCronJobSpec: old and new timeZone are invalid, but different": Edit(
        (HOURLY, "broken"), (HOURLY, "still broken"), NO
    ),
    "TestValidateCronJobSpec: old timeZone is invalid, but new timeZone is valid": Edit(
        (HOURLY, "broken"), (HOURLY, "America/New_York"), OK
    ),
}


def _scheduled_job(schedule: str, time_zone: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"schedule": schedule}
    if time_zone is not None:
        spec["timeZone"] = time_zone
    return {"metadata": {"name": "mycronjob", "namespace": "snazzycats"}, "spec": spec}


@pytest.mark.parametrize("row", EDITS.values(), ids=EDITS.keys())
def test_updates_at_admission(row: Edit) -> None:
    request = Request(
        operation="UPDATE",
        kind="ScheduledJob",
        namespace="snazzycats",
        name="mycronjob",
        new=_scheduled_job(*row.new),
        old=_scheduled_job(*row.old),
        user=User("alice"),
        operator=None,
        now=at("2016-05-19T10:00Z"),
    )
    conforms(row.cls, row.cronjob, row.jobwarden, schedule_problem(request) is None)


# === what a field stands for ============================================================


@dataclass(frozen=True)
class Values:
    """The values one field stands for: `item` placed in field `field` (0 minute, 1 hour,
    2 day-of-month, 3 month, 4 day-of-week), read back from the fire times."""

    item: str
    cronjob: frozenset[int] | str
    field: int = 0
    cls: Conformance = AGREE
    jobwarden: object = _UNSET


def _vals(item: str, *values: int, field: int = 0) -> Values:
    return Values(item, frozenset(values), field)


def _refused(item: str, field: int = 0) -> Values:
    return Values(item, REFUSED, field)


#: For each field: the other fields, and a window holding each of its values once.
def _weekday(t: datetime.datetime) -> int:
    return (t.weekday() + 1) % 7  # cron's numbering: Sunday is 0


_FIELD_PROBES: tuple[tuple[str, str, str, Callable[[datetime.datetime], int]], ...] = (
    ("{} 0 1 1 *", "2012-01-01T00:00Z", "2012-01-01T01:00Z", operator.attrgetter("minute")),
    ("0 {} 1 1 *", "2012-01-01T00:00Z", "2012-01-02T00:00Z", operator.attrgetter("hour")),
    ("0 0 {} 1 *", "2012-01-01T00:00Z", "2012-02-01T00:00Z", operator.attrgetter("day")),
    ("0 0 1 {} *", "2012-01-01T00:00Z", "2013-01-01T00:00Z", operator.attrgetter("month")),
    ("0 0 * * {}", "2012-01-01T00:00Z", "2012-01-08T00:00Z", _weekday),
)

VALUES: dict[str, Values] = {
    "TestRange: 5": _vals("5", 5),
    "TestRange: 0": _vals("0", 0),
    "TestRange: 7": _vals("7", 7),
    "TestRange: 5-5": _vals("5-5", 5),
    "TestRange: 5-6": _vals("5-6", 5, 6),
    "TestRange: 5-7": _vals("5-7", 5, 6, 7),
    "TestRange: 5-6/2": _vals("5-6/2", 5),
    "TestRange: 5-7/2": _vals("5-7/2", 5, 7),
    "TestRange: 5-7/1": _vals("5-7/1", 5, 6, 7),
    "TestRange: * (on the month field)": _vals("*", *range(1, 13), field=3),
    "TestRange: */2 (on the month field)": _vals("*/2", 1, 3, 5, 7, 9, 11, field=3),
    "TestRange: 5--5 (too many hyphens)": _refused("5--5"),
    "TestRange: jan-x (on the month field)": _refused("jan-x", field=3),
    "TestRange: 2-x": _refused("2-x"),
    "TestRange: */-12 (negative number)": _refused("*/-12"),
    "TestRange: *//2 (too many slashes)": _refused("*//2"),
    "TestRange: below minimum (day-of-month 0)": _refused("0", field=2),
    "TestRange: above maximum (minute 60)": _refused("60"),
    "TestRange: 5-3 (beyond end of range)": _refused("5-3"),
    "TestRange: */0": _refused("*/0"),
    "TestField: 5,6": _vals("5,6", 5, 6),
    "TestField: 5,6,7": _vals("5,6,7", 5, 6, 7),
    "TestField: 1,5-7/2,3": _vals("1,5-7/2,3", 1, 3, 5, 7),
    "TestAll: minutes": _vals("*", *range(60)),
    "TestAll: hours": _vals("*", *range(24), field=1),
    "TestAll: day-of-month": _vals("*", *range(1, 32), field=2),
    "TestAll: months": _vals("*", *range(1, 13), field=3),
    "TestAll: day-of-week": _vals("*", *range(7), field=4),
    "TestBits: 0-0": _vals("0-0", 0),
    "TestBits: 1-1": _vals("1-1", 1),
    "TestBits: 1-5/2": _vals("1-5/2", 1, 3, 5),
    "TestBits: 1-4/2": _vals("1-4/2", 1, 3),
}


@pytest.mark.parametrize("row", VALUES.values(), ids=VALUES.keys())
def test_field_values(row: Values) -> None:
    template, start, end, value_of = _FIELD_PROBES[row.field]
    schedule = parsed(template.format(row.item))
    ours: frozenset[int] | str = REFUSED
    if isinstance(schedule, Schedule):
        fires = schedule.fires_between(at(start) - datetime.timedelta(seconds=1), at(end), 10**4)
        ours = frozenset(value_of(f) for f in fires if f < at(end))
    conforms(row.cls, row.cronjob, row.jobwarden, ours)


# === activation: is a time a fire? (robfig spec_test.go TestActivation, UTC) ===========


ACTIVATION: dict[str, tuple[str, str, bool]] = {
    "every 15 minutes: 15:00": ("2012-07-09T15:00Z", "0/15 * * * *", True),
    "every 15 minutes: 15:45": ("2012-07-09T15:45Z", "0/15 * * * *", True),
    "every 15 minutes: 15:40": ("2012-07-09T15:40Z", "0/15 * * * *", False),
    "every 15 minutes from 5: 15:05": ("2012-07-09T15:05Z", "5/15 * * * *", True),
    "every 15 minutes from 5: 15:20": ("2012-07-09T15:20Z", "5/15 * * * *", True),
    "every 15 minutes from 5: 15:50": ("2012-07-09T15:50Z", "5/15 * * * *", True),
    "named month Jul": ("2012-07-15T15:00Z", "0/15 * * Jul *", True),
    "named month Jun": ("2012-07-15T15:00Z", "0/15 * * Jun *", False),
    "everything set: ? in day-of-month, Sunday": ("2012-07-15T08:30Z", "30 08 ? Jul Sun", True),
    "everything set: ? in day-of-week, the 15th": ("2012-07-15T08:30Z", "30 08 15 Jul ?", True),
    "everything set: ? in day-of-month, Monday": ("2012-07-16T08:30Z", "30 08 ? Jul Sun", False),
    "everything set: ? in day-of-week, the 16th": ("2012-07-16T08:30Z", "30 08 15 Jul ?", False),
    "@hourly at 15:00": ("2012-07-09T15:00Z", "@hourly", True),
    "@hourly at 15:04": ("2012-07-09T15:04Z", "@hourly", False),
    "@daily at 15:00": ("2012-07-09T15:00Z", "@daily", False),
    "@daily at 00:00": ("2012-07-09T00:00Z", "@daily", True),
    "@weekly on a Monday": ("2012-07-09T00:00Z", "@weekly", False),
    "@weekly on a Sunday": ("2012-07-08T00:00Z", "@weekly", True),
    "@weekly on a Sunday at 01:00": ("2012-07-08T01:00Z", "@weekly", False),
    "@monthly on the 8th": ("2012-07-08T00:00Z", "@monthly", False),
    "@monthly on the 1st": ("2012-07-01T00:00Z", "@monthly", True),
    "both day fields: a Sunday, the 15th": ("2012-07-15T00:00Z", "* * 1,15 * Sun", True),
    "both day fields: a Friday, the 15th": ("2012-06-15T00:00Z", "* * 1,15 * Sun", True),
    "both day fields: a Wednesday, the 1st": ("2012-08-01T00:00Z", "* * 1,15 * Sun", True),
    "both day fields: */10 and Sunday": ("2012-07-15T00:00Z", "* * */10 * Sun", True),
    "a star day field: every Monday": ("2012-07-15T00:00Z", "* * * * Mon", False),
    "a star day field: the 1st and 15th, on the 9th": ("2012-07-09T00:00Z", "* * 1,15 * *", False),
    "a star day field: the 1st and 15th, on the 15th": ("2012-07-15T00:00Z", "* * 1,15 * *", True),
    "both day fields: */2 and Sunday": ("2012-07-15T00:00Z", "* * */2 * Sun", True),
}


@pytest.mark.parametrize(("time", "expression", "cronjob"), ACTIVATION.values(), ids=ACTIVATION)
def test_activation(time: str, expression: str, cronjob: bool) -> None:
    schedule = parse_schedule(expression, "UTC")
    ours = schedule.next_after(at(time) - datetime.timedelta(seconds=1)) == at(time)
    conforms(AGREE, cronjob, _UNSET, ours)


# === next fire times (robfig spec_test.go TestNext, TestNextWithTz) ====================


@dataclass(frozen=True)
class Next:
    """The first fire strictly after `after`."""

    after: str
    expression: str
    cronjob: str  # an ISO instant, NEVER, or REFUSED
    time_zone: str = "UTC"
    cls: Conformance = AGREE
    jobwarden: object = _UNSET


NY, SAO_PAULO = "America/New_York", "America/Sao_Paulo"
GAP, REPEAT = Conformance.DST_GAP, Conformance.DST_REPEAT


def _dst(after: str, expression: str, cronjob: str, **kw: Any) -> Next:
    return Next(after, expression, cronjob, NY, **kw)


#: robfig tests the same New York rows twice: the zone in the spec (TZ=, CRON_TZ=) and
#: the zone of the start time; for a CronJob both are spec.timeZone.
_FALL_BACK_ROWS = {
    "hourly: 00:00 EDT": _dst("2012-11-04T00:00-04:00", "0 * * * ?", "2012-11-04T01:00-04:00"),
    "hourly: the first 01:00": _dst(
        "2012-11-04T01:00-04:00", "0 * * * ?", "2012-11-04T01:00-05:00"
    ),
    "hourly: the second 01:00": _dst(
        "2012-11-04T01:00-05:00", "0 * * * ?", "2012-11-04T02:00-05:00"
    ),
    "1am nightly: 00:00 EDT": _dst("2012-11-04T00:00-04:00", "0 1 * * ?", "2012-11-04T01:00-04:00"),
    "1am nightly: runs twice in CronJob": _dst(
        "2012-11-04T01:00-04:00",
        "0 1 * * ?",
        "2012-11-04T01:00-05:00",
        cls=REPEAT,
        jobwarden=at("2012-11-05T01:00-05:00"),
    ),
    "1am nightly: the second 01:00": _dst(
        "2012-11-04T01:00-05:00", "0 1 * * ?", "2012-11-05T01:00-05:00"
    ),
    "2am nightly: 00:00 EDT": _dst("2012-11-04T00:00-04:00", "0 2 * * ?", "2012-11-04T02:00-05:00"),
    "2am nightly: the next day": _dst(
        "2012-11-04T02:00-05:00", "0 2 * * ?", "2012-11-05T02:00-05:00"
    ),
    "3am nightly: 00:00 EDT": _dst("2012-11-04T00:00-04:00", "0 3 * * ?", "2012-11-04T03:00-05:00"),
    "3am nightly: the next day": _dst(
        "2012-11-04T03:00-05:00", "0 3 * * ?", "2012-11-05T03:00-05:00"
    ),
}
_SPRING_HOURLY = {
    "00:00 EST": ("2012-03-11T00:00-05:00", "2012-03-11T01:00-05:00"),
    "01:00 EST, 02:00 does not exist": ("2012-03-11T01:00-05:00", "2012-03-11T03:00-04:00"),
    "03:00 EDT": ("2012-03-11T03:00-04:00", "2012-03-11T04:00-04:00"),
    "04:00 EDT": ("2012-03-11T04:00-04:00", "2012-03-11T05:00-04:00"),
}

NEXT: dict[str, Next] = {
    "simple: 14:45": Next("2012-07-09T14:45Z", "0/15 * * * *", "2012-07-09T15:00Z"),
    "simple: 14:59": Next("2012-07-09T14:59Z", "0/15 * * * *", "2012-07-09T15:00Z"),
    "simple: 14:59:59": Next("2012-07-09T14:59:59Z", "0/15 * * * *", "2012-07-09T15:00Z"),
    "wrap around hours": Next("2012-07-09T15:45Z", "20-35/15 * * * *", "2012-07-09T16:20Z"),
    "wrap around days: */15": Next("2012-07-09T23:46Z", "*/15 * * * *", "2012-07-10T00:00Z"),
    "wrap around days: 20-35/15": Next(
        "2012-07-09T23:45Z", "20-35/15 * * * *", "2012-07-10T00:20Z"
    ),
    **{
        f"wrap around days with seconds: {spec}": Next("2012-07-09T23:35:51Z", spec, REFUSED)
        for spec in (
            "15/35 20-35/15 * * * *",
            "15/35 20-35/15 1/2 * * *",
            "15/35 20-35/15 10-12 * * *",
            "15/35 20-35/15 1/2 */2 * *",
            "15/35 20-35/15 * 9-20 * *",
            "15/35 20-35/15 * 9-20 Jul *",
        )
    },
    "wrap around months: 9 Apr-Oct": Next(
        "2012-07-09T23:35Z", "0 0 9 Apr-Oct ?", "2012-08-09T00:00Z"
    ),
    "wrap around months: */5 Apr,Aug,Oct Mon": Next(
        "2012-07-09T23:35Z", "0 0 */5 Apr,Aug,Oct Mon", "2012-08-01T00:00Z"
    ),
    "wrap around months: */5 Oct Mon": Next(
        "2012-07-09T23:35Z", "0 0 */5 Oct Mon", "2012-10-01T00:00Z"
    ),
    "wrap around years: Feb Mon": Next("2012-07-09T23:35Z", "0 0 * Feb Mon", "2013-02-04T00:00Z"),
    "wrap around years: Feb Mon/2": Next(
        "2012-07-09T23:35Z", "0 0 * Feb Mon/2", "2013-02-01T00:00Z"
    ),
    "wrap around minute, hour, day, month and year": Next(
        "2012-12-31T23:59:45Z", "* * * * *", "2013-01-01T00:00Z"
    ),
    "leap year": Next("2012-07-09T23:35Z", "0 0 29 Feb ?", "2016-02-29T00:00Z"),
    "spring forward: 02:30 on 11 Mar": _dst(
        "2012-03-11T00:00-05:00",
        "30 2 11 Mar ?",
        "2013-03-11T02:30-04:00",
        cls=GAP,
        jobwarden=at("2012-03-11T03:00-04:00"),
    ),
    **{
        f"spring forward, hourly ({prefix}): {name}": _dst(after, "0 * * * ?", expected)
        for prefix in ("TZ", "CRON_TZ")
        for name, (after, expected) in _SPRING_HOURLY.items()
    },
    "spring forward, 1am nightly: 00:00 EST": _dst(
        "2012-03-11T00:00-05:00", "0 1 * * ?", "2012-03-11T01:00-05:00"
    ),
    "spring forward, 1am nightly: the next day": _dst(
        "2012-03-11T01:00-05:00", "0 1 * * ?", "2012-03-12T01:00-04:00"
    ),
    "spring forward, 2am nightly (skipped)": _dst(
        "2012-03-11T00:00-05:00",
        "0 2 * * ?",
        "2012-03-12T02:00-04:00",
        cls=GAP,
        jobwarden=at("2012-03-11T03:00-04:00"),
    ),
    "fall back: 02:30 on 4 Nov": _dst(
        "2012-11-04T00:00-04:00", "30 2 04 Nov ?", "2012-11-04T02:30-05:00"
    ),
    "fall back: 01:30 on 4 Nov, after the first 01:30": _dst(
        "2012-11-04T01:45-04:00",
        "30 1 04 Nov ?",
        "2012-11-04T01:30-05:00",
        cls=REPEAT,
        jobwarden=at("2013-11-04T01:30-05:00"),
    ),
    **{f"fall back (TZ in the spec), {name}": row for name, row in _FALL_BACK_ROWS.items()},
    **{f"fall back (zone of the time), {name}": row for name, row in _FALL_BACK_ROWS.items()},
    "unsatisfiable: 30 Feb": Next(
        "2012-07-09T23:35Z",
        "0 0 30 Feb ?",
        NEVER,
        cls=Conformance.NEVER_FIRES,
        jobwarden=REFUSED,
    ),
    "unsatisfiable: 31 Apr": Next(
        "2012-07-09T23:35Z",
        "0 0 31 Apr ?",
        NEVER,
        cls=Conformance.NEVER_FIRES,
        jobwarden=REFUSED,
    ),
    "monthly job": _dst("2012-11-04T00:00-04:00", "0 3 3 * ?", "2012-12-03T03:00-05:00"),
    "DST where midnight does not exist (robfig #157): 10 Nov": Next(
        "2018-10-17T05:00-04:00", "0 9 10 * ?", "2018-11-10T06:00-05:00", SAO_PAULO
    ),
    "DST where midnight does not exist (robfig #157): 22 Feb": Next(
        "2018-02-14T05:00-05:00", "0 9 22 * ?", "2018-02-22T07:00-05:00", SAO_PAULO
    ),
    "TestNextWithTz: 13:09:03 +05:30": Next(
        "2016-01-03T13:09:03+05:30", "14 14 * * *", "2016-01-03T14:14+05:30", "Asia/Kolkata"
    ),
    "TestNextWithTz: 04:09:03 +05:30, ?": Next(
        "2016-01-03T04:09:03+05:30", "14 14 * * ?", "2016-01-03T14:14+05:30", "Asia/Kolkata"
    ),
    "TestNextWithTz: 14:09:03 +05:30": Next(
        "2016-01-03T14:09:03+05:30", "14 14 * * *", "2016-01-03T14:14+05:30", "Asia/Kolkata"
    ),
    "TestNextWithTz: 14:00 +05:30, ?": Next(
        "2016-01-03T14:00+05:30", "14 14 * * ?", "2016-01-03T14:14+05:30", "Asia/Kolkata"
    ),
}


@pytest.mark.parametrize("row", NEXT.values(), ids=NEXT.keys())
def test_next_fire(row: Next) -> None:
    schedule = parsed(row.expression, row.time_zone)
    ours: object = schedule if schedule == REFUSED else None
    if isinstance(schedule, Schedule):
        ours = schedule.next_after(at(row.after))
    cronjob: object = row.cronjob if row.cronjob in (NEVER, REFUSED) else at(row.cronjob)
    conforms(row.cls, cronjob, row.jobwarden, ours)


# === most recent fire and missed fires (utils_test.go) ================================

T = at("2016-05-19T10:00Z")  # topOfTheHour() of the controller's tests: a Thursday
MINUTE, HOUR, DAY = (
    datetime.timedelta(minutes=1),
    datetime.timedelta(hours=1),
    datetime.timedelta(days=1),
)


class Missed(StrEnum):
    """CronJob's missedSchedulesType: none (at most the one due fire), few, many (>100)."""

    NONE = "noneMissed"
    FEW = "fewMissed"
    MANY = "manyMissed"


class Recent(NamedTuple):
    """The fire to run now (None: none), and how many fires the window held (None
    where the case does not check it)."""

    fire: datetime.datetime | None
    missed: Missed | None


@dataclass(frozen=True)
class MostRecent:
    schedule: str
    now: datetime.datetime
    cronjob: object  # a Recent, or REFUSED
    created: datetime.datetime = T
    last: datetime.datetime | None = None
    #: startingDeadlineSeconds, when the case has the controller apply it.
    deadline: int | None = None
    cls: Conformance = AGREE
    jobwarden: object = _UNSET


def _missed(fires: int) -> Missed:
    return Missed.NONE if fires <= 1 else Missed.FEW if fires <= 100 else Missed.MANY


HOURLY_Q = "0 * * * ?"
RECENT: dict[str, MostRecent] = {
    "TestMostRecentScheduleTime: now before next schedule": MostRecent(
        "0 * * * *", T + 30 * datetime.timedelta(seconds=1), Recent(None, Missed.NONE)
    ),
    "TestMostRecentScheduleTime: now just after next schedule": MostRecent(
        "0 * * * *", T + 61 * MINUTE, Recent(T + HOUR, Missed.NONE)
    ),
    "TestMostRecentScheduleTime: missed 5 schedules": MostRecent(
        "0 * * * *",
        T + 301 * MINUTE,
        Recent(T + 300 * MINUTE, Missed.FEW),
        created=T + datetime.timedelta(seconds=10),
    ),
    "TestMostRecentScheduleTime: complex schedule": MostRecent(
        "30 6-16/4 * * 1-5",
        T + DAY + 31 * MINUTE,
        Recent(T + DAY + 30 * MINUTE, Missed.FEW),
        last=T + 30 * MINUTE,
    ),
    "TestMostRecentScheduleTime: another complex schedule": MostRecent(
        "30 10,11,12 * * 1-5",
        T + 30 * HOUR + 30 * MINUTE,
        Recent(None, Missed.FEW),
        last=T + 30 * MINUTE,
        cls=Conformance.EXACT_MISSED_FIRES,
        # Thu 11:30, 12:30, Fri 10:30, 11:30 are missed; Fri 12:30 runs (RunOnce).
        jobwarden=Recent(T + 26 * HOUR + 30 * MINUTE, Missed.FEW),
    ),
    "TestMostRecentScheduleTime: complex schedule with longer diff between executions": (
        MostRecent(
            "30 6-16/4 * * 1-5",
            T + 96 * HOUR + 31 * MINUTE,
            Recent(T + 96 * HOUR + 30 * MINUTE, Missed.FEW),
            last=T + 30 * MINUTE,
        )
    ),
    "TestMostRecentScheduleTime: complex schedule with shorter diff between executions": (
        MostRecent(
            "30 6-16/4 * * 1-5", T + DAY + 31 * MINUTE, Recent(T + DAY + 30 * MINUTE, Missed.FEW)
        )
    ),
    "TestMostRecentScheduleTime: @every schedule": MostRecent(
        "@every 1h",
        T + 7 * DAY,
        Recent(T + 6 * DAY + 23 * HOUR + MINUTE, Missed.MANY),
        created=T - 59 * MINUTE,
        last=T + MINUTE,
        cls=Conformance.EVERY,
        jobwarden=REFUSED,
    ),
    "TestMostRecentScheduleTime: rogue cronjob": MostRecent(
        "59 23 31 2 *",
        T + HOUR,
        "error: time difference between two schedules is less than 1 second",
        created=T + datetime.timedelta(seconds=10),
        cls=Conformance.NEVER_FIRES,
        jobwarden=REFUSED,
    ),
    "TestMostRecentScheduleTime: earliestTime being CreationTimestamp and LastScheduleTime": (
        MostRecent(
            "0 * * * *", T + datetime.timedelta(seconds=30), Recent(None, Missed.NONE), last=T
        )
    ),
    "TestMostRecentScheduleTime: earliestTime being LastScheduleTime": MostRecent(
        "*/5 * * * *", T + 31 * MINUTE, Recent(None, Missed.NONE), last=T + 30 * MINUTE
    ),
    "TestMostRecentScheduleTime: earliestTime being LastScheduleTime (within SDS)": MostRecent(
        "*/5 * * * *", T + 31 * MINUTE, Recent(None, Missed.NONE), last=T + 30 * MINUTE
    ),
    "TestMostRecentScheduleTime: earliestTime being LastScheduleTime (outside SDS)": MostRecent(
        "*/5 * * * *",
        T + 32 * MINUTE,
        Recent(None, Missed.NONE),
        last=T + 30 * MINUTE,
        deadline=60,
    ),
    "TestNextScheduleTime: case 1, none needed yet": MostRecent(
        HOURLY_Q, T - 7 * MINUTE, Recent(None, None), created=T - 10 * MINUTE
    ),
    "TestNextScheduleTime: case 2, one needed": MostRecent(
        HOURLY_Q,
        T + datetime.timedelta(seconds=2),
        Recent(T, None),
        created=T - 10 * MINUTE,
    ),
    "TestNextScheduleTime: case 3, known last schedule, none needed": MostRecent(
        HOURLY_Q, T + 2 * MINUTE, Recent(None, None), created=T - 10 * MINUTE, last=T
    ),
    "TestNextScheduleTime: case 4, known last schedule, one needed": MostRecent(
        HOURLY_Q, T + HOUR + 5 * MINUTE, Recent(T + HOUR, None), created=T - 10 * MINUTE, last=T
    ),
    "TestNextScheduleTime: case 5, two needed": MostRecent(
        HOURLY_Q,
        T + HOUR + 5 * MINUTE,
        Recent(T + HOUR, None),
        created=T - 2 * HOUR,
        last=T - HOUR,
    ),
    # Cases 6 and 7 ask for some fire; for an hourly schedule it is the newest one.
    "TestNextScheduleTime: case 6, way ahead, no deadline": MostRecent(
        HOURLY_Q,
        T + HOUR + 10 * DAY,
        Recent(T + HOUR + 10 * DAY, None),
        created=T - 2 * HOUR,
        last=T - HOUR,
    ),
    "TestNextScheduleTime: case 7, way ahead, short deadline": MostRecent(
        HOURLY_Q,
        T + HOUR + 10 * DAY,
        Recent(T + HOUR + 10 * DAY, None),
        created=T - 2 * HOUR,
        last=T - HOUR,
        deadline=2 * 60 * 60,
    ),
    "TestNextScheduleTime: case 8, rogue schedule": MostRecent(
        "59 23 31 2 *",
        T + HOUR,
        "error: time difference between two schedules is less than 1 second",
        created=T + datetime.timedelta(seconds=10),
        cls=Conformance.NEVER_FIRES,
        jobwarden=REFUSED,
    ),
}


@pytest.mark.parametrize("row", RECENT.values(), ids=RECENT.keys())
def test_most_recent_fire(row: MostRecent) -> None:
    schedule = parsed(row.schedule)
    ours: object = REFUSED
    if isinstance(schedule, Schedule):
        due = due_fires(
            schedule,
            row.last,
            row.created,
            row.now,
            starting_deadline_seconds=row.deadline,
            policy=MissedRunPolicy.RUN_ONCE,
            max_runs=10,
        )
        # Like CronJob's count (from max(last or created, now - deadline)), fires older
        # than the deadline are not in the window.
        counted = due.missed_count + len(due.to_run)
        counted -= due.missed_by_reason.get(MissedReason.MISSED_STARTING_DEADLINE, 0)
        missed = (
            _missed(counted) if isinstance(row.cronjob, Recent) and row.cronjob.missed else None
        )
        ours = Recent(due.to_run[-1] if due.to_run else None, missed)
    conforms(row.cls, row.cronjob, row.jobwarden, ours)


@dataclass(frozen=True)
class NextAfterMissed:
    """When the controller wakes up next (TestNextScheduleTimeDuration and the update
    test): the first fire after now, as the requeue duration minus nextScheduleDelta."""

    schedule: str
    now: datetime.datetime
    cronjob: object  # seconds until the next fire, or REFUSED
    created: datetime.datetime = T
    last: datetime.datetime | None = None
    cls: Conformance = AGREE
    jobwarden: object = _UNSET


WAKE: dict[str, NextAfterMissed] = {
    "TestNextScheduleTimeDuration: complex schedule skipping weekend": NextAfterMissed(
        "30 6-16/4 * * 1-5",
        T + DAY + 31 * MINUTE,
        (3 * HOUR + 59 * MINUTE).total_seconds(),
        last=T + 30 * MINUTE,
    ),
    "TestNextScheduleTimeDuration: another complex schedule skipping weekend": NextAfterMissed(
        "30 10,11,12 * * 1-5",
        T + 30 * HOUR + 30 * MINUTE,
        (66 * HOUR).total_seconds(),
        last=T + 30 * MINUTE,
    ),
    "TestNextScheduleTimeDuration: once a week cronjob, missed two runs": NextAfterMissed(
        "0 12 * * 4",
        T + 19 * DAY + HOUR + 30 * MINUTE,
        (48 * HOUR + 30 * MINUTE).total_seconds(),
        last=T + 2 * HOUR,
    ),
    "TestNextScheduleTimeDuration: no previous run of a cronjob": NextAfterMissed(
        "0 12 * * 5", T + 6 * HOUR, (20 * HOUR).total_seconds()
    ),
    "TestControllerV2UpdateCronJob: spec.schedule changed": NextAfterMissed(
        "*/1 * * * *", T - datetime.timedelta(seconds=1), 1.0, last=T - MINUTE
    ),
    "TestControllerV2UpdateCronJob: @every changed, cadence decrease": NextAfterMissed(
        "@every 3m",
        T - datetime.timedelta(seconds=1),
        (2 * MINUTE + datetime.timedelta(seconds=1)).total_seconds(),
        last=T - MINUTE,
        cls=Conformance.EVERY,
        jobwarden=REFUSED,
    ),
    "TestControllerV2UpdateCronJob: @every changed, cadence increase": NextAfterMissed(
        "@every 1m",
        T - datetime.timedelta(seconds=1),
        1.0,
        last=T - MINUTE,
        cls=Conformance.EVERY,
        jobwarden=REFUSED,
    ),
}


@pytest.mark.parametrize("row", WAKE.values(), ids=WAKE.keys())
def test_next_wake_up(row: NextAfterMissed) -> None:
    schedule = parsed(row.schedule)
    ours: object = REFUSED
    if isinstance(schedule, Schedule):
        due = due_fires(
            schedule,
            row.last,
            row.created,
            row.now,
            starting_deadline_seconds=None,
            policy=MissedRunPolicy.RUN_ONCE,
            max_runs=10,
        )
        ours = due.wake_after_seconds
    conforms(row.cls, row.cronjob, row.jobwarden, ours)


# === the controller's decision (cronjob_controllerv2_test.go TestControllerV2SyncCronJob) ==

JUST_BEFORE_PRIOR = at("2016-05-19T08:59Z")
JUST_AFTER_PRIOR = at("2016-05-19T09:01Z")
JUST_BEFORE = at("2016-05-19T09:59Z")
JUST_AFTER = at("2016-05-19T10:01Z")
JUST_BEFORE_NEXT = at("2016-05-19T10:59Z")
WEEK_AFTER = at("2016-05-26T10:00Z")
SHORT, MEDIUM, LONG = 10, 2 * 60 * 60, 1_000_000  # startingDeadlineSeconds
ERROR_SCHEDULE = "obvious error schedule"
EVERY_HOUR = "@every 1h"
MS = datetime.timedelta(milliseconds=1)
SECOND = datetime.timedelta(seconds=1)


class Did(NamedTuple):
    """What one sync did: a run created, an active run deleted (Replace), and the
    seconds until it wakes up again (None where the case does not check it)."""

    create: bool
    delete: bool
    requeue: float | None


@dataclass(frozen=True)
class Sync:
    policy: str
    now: datetime.datetime
    cronjob: Did
    schedule: str = HOURLY_Q
    time_zone: str | None = None
    deadline: int | None = None
    suspend: bool = False
    ran: bool = False  # a job ran before (lastScheduleTime set)
    active: bool = False  # ... and is still running
    created: datetime.datetime | None = None  # the CronJob's creation, if not the default
    job_created: datetime.datetime = JUST_AFTER_PRIOR
    last: datetime.datetime | None = None  # lastScheduleTime, if not the default
    cls: Conformance = AGREE
    jobwarden: object = _UNSET


def _did(create: bool, requeue: datetime.timedelta | None, delete: bool = False) -> Did:
    return Did(create, delete, None if requeue is None else requeue.total_seconds())


A, F, R = "Allow", "Forbid", "Replace"
POLICIES = {"A": A, "F": F, "R": R}
NOTHING = _did(False, None)
REFUSED_SCHEDULE = Did(False, False, None)

SYNC: dict[str, Sync] = {
    **{
        f"never ran, not valid schedule, {p}": Sync(
            POLICIES[p], JUST_BEFORE, NOTHING, schedule=ERROR_SCHEDULE
        )
        for p in "AFR"
    },
    "never ran, not valid time zone": Sync(A, JUST_BEFORE, NOTHING, time_zone="bad timezone"),
    **{
        f"never ran, not time, {p}": Sync(POLICIES[p], JUST_BEFORE, _did(False, MINUTE))
        for p in "AFR"
    },
    "never ran, not time in zone": Sync(
        A, JUST_BEFORE, _did(False, MINUTE), time_zone="America/New_York"
    ),
    **{
        f"never ran, is time, {p}": Sync(POLICIES[p], JUST_AFTER, _did(True, HOUR - MINUTE))
        for p in "AFR"
    },
    "never ran, is time in zone, but time zone disabled": Sync(
        A, JUST_AFTER, _did(True, HOUR - MINUTE), time_zone="America/New_York"
    ),
    "never ran, is time in zone": Sync(
        A, JUST_AFTER, _did(True, HOUR - MINUTE), time_zone="America/New_York"
    ),
    "never ran, is time in zone, but TZ is also set in schedule": Sync(
        A,
        JUST_AFTER,
        _did(True, HOUR - MINUTE),
        schedule="TZ=UTC " + HOURLY_Q,
        time_zone="America/New_York",
        cls=Conformance.TZ_PREFIX,
        jobwarden=REFUSED_SCHEDULE,
    ),
    "never ran, is time, suspended": Sync(A, JUST_AFTER, NOTHING, suspend=True),
    "never ran, is time, past deadline": Sync(
        A,
        JUST_AFTER + (SHORT + 1) * MINUTE,
        _did(False, HOUR - MINUTE - (SHORT + 1) * MINUTE),
        deadline=SHORT,
    ),
    "never ran, is time, not past deadline": Sync(
        A, JUST_AFTER, _did(True, HOUR - MINUTE), deadline=LONG
    ),
    **{
        f"prev ran but done, not time, {p}": Sync(
            POLICIES[p], JUST_BEFORE, _did(False, MINUTE), ran=True
        )
        for p in "AFR"
    },
    **{
        f"prev ran but done, is time, {p}": Sync(
            POLICIES[p], JUST_AFTER, _did(True, HOUR - MINUTE), ran=True
        )
        for p in "AFR"
    },
    "prev ran but done, is time, suspended": Sync(A, JUST_AFTER, NOTHING, ran=True, suspend=True),
    "prev ran but done, is time, past deadline": Sync(
        A, JUST_AFTER, _did(False, HOUR - MINUTE), ran=True, deadline=SHORT
    ),
    "prev ran but done, is time, not past deadline": Sync(
        A, JUST_AFTER, _did(True, HOUR - MINUTE), ran=True, deadline=LONG
    ),
    **{
        f"still active, not time, {p}": Sync(
            POLICIES[p], JUST_BEFORE, _did(False, MINUTE), ran=True, active=True
        )
        for p in "AFR"
    },
    "still active, is time, A": Sync(
        A, JUST_AFTER, _did(True, HOUR - MINUTE), ran=True, active=True
    ),
    "still active, is time, F": Sync(
        F, JUST_AFTER, _did(False, HOUR - MINUTE), ran=True, active=True
    ),
    "still active, is time, R": Sync(
        R, JUST_AFTER, _did(True, HOUR - MINUTE, delete=True), ran=True, active=True
    ),
    "still active, is time, suspended": Sync(
        A, JUST_AFTER, NOTHING, ran=True, active=True, suspend=True
    ),
    "still active, is time, past deadline": Sync(
        A, JUST_AFTER, _did(False, HOUR - MINUTE), ran=True, active=True, deadline=SHORT
    ),
    "still active, is time, not past deadline": Sync(
        A, JUST_AFTER, _did(True, HOUR - MINUTE), ran=True, active=True, deadline=LONG
    ),
    **{
        f"prev ran but done, long overdue, {what}, {p}": Sync(
            POLICIES[p], WEEK_AFTER, _did(True, HOUR), ran=True, deadline=deadline
        )
        for what, deadline in (
            ("not past deadline", LONG),
            ("no deadline", None),
            ("past medium deadline", MEDIUM),
            ("past short deadline", SHORT),
        )
        for p in "ARF"
    },
    "this ran but done, time drifted back, F": Sync(
        F, JUST_BEFORE, _did(False, MINUTE), ran=True, job_created=JUST_AFTER
    ),
    # The run of the 10:00 fire exists, but lastScheduleTime still says 09:01: CronJob's
    # lister has not seen the Job yet, or its status does not list it; jobwarden's status
    # write was lost. Either way the fire is handled: no second run, no replacement.
    **{
        f"this started but {how}, not past deadline, {p}": Sync(
            POLICIES[p],
            JUST_AFTER + 100 * MS,
            _did(False, HOUR - MINUTE - 100 * MS),
            ran=True,
            active=True,
            deadline=LONG,
            job_created=T + 100 * MS,
        )
        for how in ("went missing", "is not present in cronjob active list")
        for p in "AFR"
    },
    "with @every schedule, never ran, not time": Sync(
        A,
        T,
        _did(False, HOUR - MINUTE),
        schedule=EVERY_HOUR,
        created=JUST_BEFORE,
        job_created=JUST_BEFORE,
    ),
    "with @every schedule, never ran, is time": Sync(
        A,
        JUST_BEFORE,
        _did(True, HOUR),
        schedule=EVERY_HOUR,
        created=JUST_BEFORE_PRIOR,
        job_created=JUST_BEFORE_PRIOR,
    ),
    "with @every schedule, never ran, is time, past deadline": Sync(
        A,
        JUST_BEFORE + (SHORT + 1) * SECOND,
        _did(False, HOUR - (SHORT + 1) * SECOND),
        schedule=EVERY_HOUR,
        deadline=SHORT,
        created=JUST_BEFORE_PRIOR,
        job_created=JUST_BEFORE_PRIOR,
    ),
    "with @every schedule, never ran, is time, not past deadline": Sync(
        A,
        JUST_BEFORE + (SHORT - 1) * SECOND,
        _did(True, HOUR - (SHORT - 1) * SECOND),
        schedule=EVERY_HOUR,
        deadline=LONG,
        created=JUST_BEFORE_PRIOR,
        job_created=JUST_BEFORE_PRIOR,
    ),
    "with @every schedule, prev ran but done, not time": Sync(
        A,
        T,
        _did(False, HOUR - MINUTE),
        schedule=EVERY_HOUR,
        ran=True,
        created=JUST_BEFORE_PRIOR,
        job_created=JUST_BEFORE_PRIOR,
        last=JUST_BEFORE,
    ),
    "with @every schedule, prev ran but done, is time": Sync(
        A,
        T + HOUR,
        _did(True, HOUR - MINUTE),
        schedule=EVERY_HOUR,
        ran=True,
        created=JUST_BEFORE_PRIOR,
        job_created=JUST_BEFORE_PRIOR,
        last=JUST_BEFORE,
    ),
    "with @every schedule, prev ran but done, is time, past deadline": Sync(
        A,
        JUST_BEFORE_NEXT + (SHORT + 1) * SECOND,
        _did(False, HOUR - (SHORT + 1) * SECOND),
        schedule=EVERY_HOUR,
        deadline=SHORT,
        ran=True,
        created=JUST_BEFORE_PRIOR,
        job_created=JUST_BEFORE_PRIOR,
        last=JUST_BEFORE,
    ),
    "with @every schedule, still active, not time": Sync(
        A,
        T,
        _did(False, HOUR - MINUTE),
        schedule=EVERY_HOUR,
        ran=True,
        active=True,
        created=JUST_BEFORE_PRIOR,
        job_created=JUST_BEFORE,
        last=JUST_BEFORE,
    ),
    "with @every schedule, still active, is time": Sync(
        A,
        JUST_AFTER,
        _did(True, HOUR - 2 * MINUTE),
        schedule=EVERY_HOUR,
        ran=True,
        active=True,
        created=JUST_BEFORE_PRIOR,
        job_created=JUST_BEFORE_PRIOR,
        last=JUST_BEFORE_PRIOR,
    ),
    "with @every schedule, still active, is time, past deadline": Sync(
        A,
        JUST_BEFORE_NEXT + (SHORT + 1) * SECOND,
        _did(False, HOUR - (SHORT + 1) * SECOND),
        schedule=EVERY_HOUR,
        deadline=SHORT,
        ran=True,
        active=True,
        created=JUST_BEFORE_PRIOR,
        job_created=JUST_BEFORE,
        last=JUST_BEFORE,
    ),
    "with @every schedule, still active, is time, not past deadline": Sync(
        A,
        JUST_BEFORE_NEXT + (SHORT - 1) * SECOND,
        _did(True, HOUR - (SHORT - 1) * SECOND),
        schedule=EVERY_HOUR,
        deadline=LONG,
        ran=True,
        active=True,
        created=JUST_BEFORE_PRIOR,
        job_created=JUST_BEFORE,
        last=JUST_BEFORE,
    ),
    "with @every schedule, prev ran but done, long overdue, no deadline": Sync(
        A,
        WEEK_AFTER,
        _did(True, MINUTE),
        schedule=EVERY_HOUR,
        ran=True,
        created=JUST_AFTER_PRIOR,
        job_created=JUST_AFTER_PRIOR,
        last=JUST_AFTER,
    ),
    "with @every schedule, prev ran but done, long overdue, past deadline": Sync(
        A,
        WEEK_AFTER + MINUTE + (SHORT + 1) * SECOND,
        _did(False, HOUR - (SHORT + 1) * SECOND),
        schedule=EVERY_HOUR,
        deadline=SHORT,
        ran=True,
        created=JUST_AFTER_PRIOR,
        job_created=JUST_AFTER_PRIOR,
        last=JUST_AFTER,
    ),
}
# CronJob runs these at one-hour intervals from the last fire; jobwarden refuses @every.
SYNC = {
    name: dataclasses.replace(row, cls=Conformance.EVERY, jobwarden=REFUSED_SCHEDULE)
    if row.schedule == EVERY_HOUR
    else row
    for name, row in SYNC.items()
}


def _stamp(t: datetime.datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _sync_inputs(row: Sync) -> tuple[ScheduledJobView, list[RunView]]:
    """The controller test's set-up, as a ScheduledJob and its runs."""
    if row.ran:
        created, last = JUST_BEFORE_PRIOR, JUST_AFTER_PRIOR
    else:
        created, last = JUST_BEFORE, None
    created = row.created or created
    last = row.last or last
    spec: dict[str, Any] = {"schedule": row.schedule, "concurrencyPolicy": row.policy}
    if row.time_zone is not None:
        spec["timeZone"] = row.time_zone
    if row.deadline is not None:
        spec["startingDeadlineSeconds"] = row.deadline
    if row.suspend:
        spec["suspend"] = True
    job = ScheduledJobView.from_body(
        {
            "metadata": {
                "namespace": "snazzycats",
                "name": "mycronjob",
                "uid": "1a2b3c",
                "creationTimestamp": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            "spec": spec,
            "status": {"lastScheduleTime": _stamp(last)} if last else {},
        }
    )
    runs: list[RunView] = []
    if row.ran:
        # CronJob names a Job after its scheduled minute; so does jobwarden (in seconds).
        minute = row.job_created.replace(second=0, microsecond=0)
        status: dict[str, Any] = {"phase": "Running" if row.active else "Succeeded"}
        if not row.active:
            status["completionTime"] = _stamp(row.job_created + 10 * SECOND)
        runs.append(
            RunView.from_body(
                {
                    "kind": "JobRun",
                    "metadata": {
                        "namespace": "snazzycats",
                        "name": run_name("mycronjob", minute),
                        "uid": "1234",
                        "creationTimestamp": row.job_created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    },
                    "spec": {"scheduledJobRef": {"name": "mycronjob"}, "trigger": "Schedule"},
                    "status": status,
                }
            )
        )
    return job, runs


@pytest.mark.parametrize("row", SYNC.values(), ids=SYNC.keys())
def test_controller_sync(row: Sync) -> None:
    job, runs = _sync_inputs(row)
    plan = decide_scheduled_job(job, runs, row.now)
    assert plan.status is not None
    # When it wakes up for the next fire (a plan may also wake earlier, e.g. to prune).
    next_fire = plan.status.get("nextScheduleTime")
    requeue = None
    if next_fire is not None and row.cronjob.requeue is not None:
        requeue = round((at(next_fire.replace("Z", "+00:00")) - row.now).total_seconds(), 3)
        assert plan.requeue_after is not None and plan.requeue_after <= requeue + 0.001
    ours = Did(bool(plan.create), bool(plan.cancel), requeue)
    if plan.create:
        fires = [c.fire for c in plan.create]
        assert fires == [row.now.replace(minute=0, second=0, microsecond=0)]
    conforms(row.cls, row.cronjob, row.jobwarden, ours)


# === the suite as a whole ================================================================

TABLES: Mapping[str, Mapping[str, Any]] = {
    "acceptance": ACCEPT,
    "updates at admission": EDITS,
    "field values": VALUES,
    "activation": {k: AGREE for k in ACTIVATION},
    "next fire": NEXT,
    "most recent fire": RECENT,
    "next wake-up": WAKE,
    "controller sync": SYNC,
}


def _classes() -> Counter[Conformance]:
    counts: Counter[Conformance] = Counter()
    for rows in TABLES.values():
        for row in rows.values():
            counts[row if isinstance(row, Conformance) else row.cls] += 1
    return counts


def test_the_suite_covers_at_least_150_rows() -> None:
    counts = _classes()
    assert sum(counts.values()) >= 150, counts


def test_the_docs_state_the_row_counts() -> None:
    counts = _classes()
    text = " ".join(DOCS.read_text(encoding="utf-8").split())
    stated = f"{sum(counts.values())} rows, {counts[AGREE]} of which agree"
    assert stated in text


def test_every_difference_a_row_follows_is_documented() -> None:
    """docs/api.md's "Coming from CronJob" table names each difference by its value."""
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## Coming from CronJob", 1)[1].split("\n## ", 1)[0]
    used = {cls for cls in _classes() if cls is not AGREE}
    assert used == set(Conformance) - {AGREE}, "a difference no row follows: drop it"
    for cls in used:
        assert re.search(rf"\| `{cls.value}` \|", section), f"{cls.value} is not documented"

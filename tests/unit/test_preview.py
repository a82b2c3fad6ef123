"""The preview of a schedule (core/preview.py): DST marks, effective times with jitter,
how seldom a schedule fires (the admission warning), and how the plugin and the
dashboard show it. Named tables."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from datetime import UTC

import pytest

from jobwarden.cli import views
from jobwarden.client.schedule import upcoming
from jobwarden.core.preview import preview, rarity
from jobwarden.core.scheduling import DstNote, parse_schedule
from jobwarden.dashboard import render
from jobwarden.webhooks import decisions
from tests.unit.factories import T0

NOW = datetime.datetime(2026, 1, 1, tzinfo=UTC)


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).astimezone(UTC)


# ------------------------------------------------------------------ DST marks
@dataclass(frozen=True)
class Marked:
    expression: str
    zone: str
    after: str
    #: (local time as shown, DST mark, note) of the next fires
    fires: tuple[tuple[str, DstNote | None, str], ...]


MARKED: dict[str, Marked] = {
    "a skipped wall time fires at the end of the gap": Marked(
        "30 2 * * *",
        "Europe/Berlin",
        "2024-03-30T12:00:00+00:00",
        (
            (
                "2024-03-31 03:00 CEST",
                DstNote.MOVED_BY_GAP,
                "02:30 does not exist that day (DST starts): runs once, at the end of the "
                "gap (03:00)",
            ),
            ("2024-04-01 02:30 CEST", None, ""),
        ),
    ),
    "several skipped wall times collapse into one fire": Marked(
        "0,30 2 * * *",
        "Europe/Berlin",
        "2024-03-30T12:00:00+00:00",
        (
            (
                "2024-03-31 03:00 CEST",
                DstNote.MOVED_BY_GAP,
                "02:00 does not exist that day (DST starts): runs once, at the end of the "
                "gap (03:00)",
            ),
            ("2024-04-01 02:00 CEST", None, ""),
        ),
    ),
    "a repeated wall time fires once, at the first": Marked(
        "30 2 * * *",
        "Europe/Berlin",
        "2024-10-26T12:00:00+00:00",
        (
            (
                "2024-10-27 02:30 CEST",
                DstNote.REPEATED_ONCE,
                "02:30 occurs twice that day (DST ends): runs once, at the first",
            ),
            ("2024-10-28 02:30 CET", None, ""),
        ),
    ),
    "New York, 01:30 on the fall-back day": Marked(
        "30 1 * * *",
        "America/New_York",
        "2024-11-02T12:00:00+00:00",
        (
            (
                "2024-11-03 01:30 EDT",
                DstNote.REPEATED_ONCE,
                "01:30 occurs twice that day (DST ends): runs once, at the first",
            ),
            ("2024-11-04 01:30 EST", None, ""),
        ),
    ),
    "an every-hour schedule runs in both passes of the repeated hour": Marked(
        "0 * * * *",
        "Europe/Berlin",
        "2024-10-26T23:30:00+00:00",
        (
            (
                "2024-10-27 02:00 CEST",
                DstNote.BOTH_PASSES,
                "02:00 occurs twice that day (DST ends): an every-hour schedule runs in "
                "both passes (02:00 CEST)",
            ),
            (
                "2024-10-27 02:00 CET",
                DstNote.BOTH_PASSES,
                "02:00 occurs twice that day (DST ends): an every-hour schedule runs in "
                "both passes (02:00 CET)",
            ),
            ("2024-10-27 03:00 CET", None, ""),
        ),
    ),
    "an every-hour schedule skips the missing hour without a mark": Marked(
        "30 * * * *",
        "Europe/Berlin",
        "2024-03-31T00:00:00+00:00",
        (("2024-03-31 01:30 CET", None, ""), ("2024-03-31 03:30 CEST", None, "")),
    ),
    "a zone without DST has no marks": Marked(
        "30 2 * * *",
        "Asia/Kolkata",
        "2024-03-30T12:00:00+00:00",
        (("2024-03-31 02:30 IST", None, ""), ("2024-04-01 02:30 IST", None, "")),
    ),
    "Lord Howe moves its clock by half an hour": Marked(
        "15 2 * * *",
        "Australia/Lord_Howe",
        "2024-10-05T00:00:00+00:00",
        (
            (
                "2024-10-06 02:30 +11",
                DstNote.MOVED_BY_GAP,
                "02:15 does not exist that day (DST starts): runs once, at the end of the "
                "gap (02:30)",
            ),
            ("2024-10-07 02:15 +11", None, ""),
        ),
    ),
}


@pytest.mark.parametrize("name", list(MARKED), ids=list(MARKED))
def test_the_preview_marks_fires_that_dst_moves(name: str) -> None:
    row = MARKED[name]
    fires = preview(parse_schedule(row.expression, row.zone), at(row.after), len(row.fires))
    shown = [(f.local.strftime("%Y-%m-%d %H:%M %Z"), f.dst, f.note()) for f in fires]
    assert shown == list(row.fires)
    for fire in fires:
        assert fire.effective == fire.time  # no jitter: runs start at their fires


def test_the_preview_shows_effective_times_with_jitter() -> None:
    schedule = parse_schedule(
        "H H(1-5) * * *", "Europe/Berlin", seed="team-a/nightly", jitter_seconds=600
    )
    fires = preview(schedule, at("2024-03-29T00:00:00+00:00"), 3)
    assert [f.time for f in fires] == schedule.fires_between(
        at("2024-03-29T00:00:00+00:00"), at("2024-04-02T00:00:00+00:00"), 3
    )
    for fire in fires:
        assert fire.effective == fire.time + schedule.delay(fire.time)
        assert 0 <= fire.delay_seconds <= 600
    assert any(fire.delay_seconds for fire in fires)


# -------------------------------------------------------------------- rarity
RARE: dict[str, tuple[str, int | None]] = {
    "29 February: 97 leap days in 400 years": ("0 0 29 2 *", 97),
    "every minute of 29 February: still 97 days": ("* * 29 2 *", 97),
    "a fifth Friday in February: 14 days in 400 years": ("0 0 * 2 5#5", 14),
    "once a year is not less than once a year": ("0 0 1 1 *", None),
    "the last day of February exists every year": ("0 0 L 2 *", None),
    "Friday the 13th (or any Friday: the OR rule)": ("0 0 13 * 5", None),
    "daily": ("0 2 * * *", None),
}


@pytest.mark.parametrize("name", list(RARE), ids=list(RARE))
def test_rarity(name: str) -> None:
    expression, days = RARE[name]
    found = rarity(parse_schedule(expression, "Europe/Berlin"), NOW)
    assert (found.days if found else None) == days


def test_the_rarity_warning_names_the_next_run() -> None:
    schedule = parse_schedule("0 0 29 2 *", "Europe/Berlin")
    found = rarity(schedule, NOW)
    assert found is not None
    assert found.warning(schedule) == (
        'spec.schedule "0 0 29 2 *" fires less than once a year: on 97 days in 400 '
        "years; its next run is 2028-02-29 00:00 CET (Europe/Berlin)"
    )


# -------------------------------------------------------- admission warnings
def _request(spec: dict[str, object], operation: str = "CREATE") -> decisions.Request:
    old = {"spec": {"schedule": "0 2 * * *"}} if operation == "UPDATE" else None
    return decisions.Request(
        operation=operation,
        kind="ScheduledJob",
        namespace="team-a",
        name="leap",
        new={"metadata": {"name": "leap"}, "spec": {"template": {}, **spec}},
        old=old,
        user=decisions.User("alice"),
        operator="jobwarden-operator",
        now=NOW,
    )


@pytest.mark.parametrize(
    ("spec", "warned"),
    [
        pytest.param({"schedule": "0 0 29 2 *"}, True, id="leap day: warned"),
        pytest.param({"schedule": "0 2 * * *"}, False, id="daily: no warning"),
        pytest.param({}, False, id="one-time job: no warning"),
        pytest.param({"schedule": "H H 29 2 *"}, True, id="hashed leap day: warned"),
    ],
)
def test_the_webhook_warns_about_a_schedule_rarer_than_yearly(
    spec: dict[str, object], warned: bool
) -> None:
    warnings = decisions.schedule_warnings(_request(spec))
    assert bool(warnings) == warned
    if warned:
        assert "fires less than once a year" in warnings[0]


def test_the_warning_is_only_for_a_changed_schedule() -> None:
    request = _request({"schedule": "0 2 * * *", "suspend": True}, operation="UPDATE")
    assert decisions.schedule_warnings(request) == ()
    changed = _request({"schedule": "0 0 29 2 *"}, operation="UPDATE")
    assert decisions.schedule_warnings(changed)


def test_a_never_firing_schedule_is_refused_not_warned() -> None:
    request = _request({"schedule": "0 0 30 2 *"})
    problem = decisions.schedule_problem(request)
    assert problem is not None and "it never fires" in problem
    assert decisions.schedule_warnings(request) == ()


# ---------------------------------------------------- the plugin and dashboard
def _job(**spec: object) -> dict[str, object]:
    return {
        "kind": "ScheduledJob",
        "metadata": {"name": "nightly", "namespace": "team-a"},
        "spec": {"timeZone": "Europe/Berlin", "template": {}, **spec},
        "status": {},
    }


def test_kubectl_jobwarden_next_shows_local_utc_and_dst() -> None:
    job = _job(schedule="30 2 * * *")
    fires = upcoming(job, at("2024-03-30T12:00:00+00:00"), 2)
    headers, rows = views.next_rows(fires)
    assert headers == ["#", "local", "utc", "dst"]
    assert rows[0][:3] == ["1", "2024-03-31 03:00 CEST", "2024-03-31T01:00:00Z"]
    assert rows[0][3].startswith("02:30 does not exist that day")
    assert rows[1] == ["2", "2024-04-01 02:30 CEST", "2024-04-01T00:30:00Z", "-"]
    records = views.next_records(fires)
    assert records[0]["dst"] == "MovedByGap" and records[1]["dst"] is None
    summary = views.next_summary(job, parse_schedule("30 2 * * *", "Europe/Berlin"))
    assert summary == 'ScheduledJob nightly (team-a): "30 2 * * *" in Europe/Berlin'


def test_kubectl_jobwarden_next_shows_h_and_jitter() -> None:
    job = _job(schedule="H H(1-5) * * *", jitterSeconds=600, suspend=True)
    fires = upcoming(job, T0, 3)
    headers, rows = views.next_rows(fires)
    assert headers == ["#", "local", "utc", "starts", "delay", "dst"]
    assert all(row[4].startswith("+") for row in rows)
    schedule = parse_schedule("H H(1-5) * * *", "Europe/Berlin", seed="team-a/nightly")
    summary = views.next_summary(job, schedule)
    assert f'H is hashed from team-a/nightly: the fields fire as "{schedule.values}"' in summary
    assert "paused (spec.suspend)" in summary


def test_the_dashboard_lists_the_next_runs_with_their_marks() -> None:
    job = _job(schedule="30 2 * * *")
    fires = upcoming(job, at("2024-10-26T12:00:00+00:00"), 2)
    html = render.next_runs_section(job, fires)
    assert "2024-10-27 02:30:00 CEST" in html and "2024-10-27T00:30:00Z" in html
    assert "02:30 occurs twice that day (DST ends): runs once, at the first" in html
    assert "Starts (jitter)" not in html
    jittered = _job(schedule="30 2 * * *", jitterSeconds=300)
    html = render.next_runs_section(jittered, upcoming(jittered, T0, 2))
    assert "Starts (jitter)" in html
    assert "one-time" in render.next_runs_section(_job(), [])

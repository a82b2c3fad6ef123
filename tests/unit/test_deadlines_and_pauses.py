"""Deadlines (`deadlineSeconds`, core/deadline.py and the lifecycle) and stop after
repeated failures (`pauseAfterConsecutiveFailures`, core/failures.py and the
ScheduledJob decision), as named tables with a fixed clock."""

from __future__ import annotations

import dataclasses
import datetime
import json
from dataclasses import dataclass
from typing import Any

import pytest

from jobwarden.api.enums import AuditAction, ConditionType, EventReason
from jobwarden.api.shapes import FailurePauseDict
from jobwarden.core.conditions import find_condition, format_micro_time
from jobwarden.core.failures import Outcome, decide_failure_pause, failure_streak
from jobwarden.core.lifecycle import decide
from jobwarden.core.observed import RunView
from jobwarden.core.scheduledjob import ScheduledJobView, decide_scheduled_job
from jobwarden.core.scheduling import schedule_of
from tests.unit.factories import T0, at, full, make_run

UTC = datetime.UTC
FIRE = T0  # the run's scheduled time


# ------------------------------------------------------------------- deadlines
@dataclass(frozen=True)
class Late:
    spec: dict[str, Any]
    status: dict[str, Any]
    now: datetime.datetime
    missed: bool
    wake: float | None = None  # the plan wakes at the deadline (seconds from now)


QUEUED = {"phase": "Queued", "queue": {"position": 3, "reason": "QuotaExhausted"}}
SUCCEEDED_AT = {
    "phase": "Succeeded",
    "completionTime": format_micro_time(at(1000)),
    "conditions": [
        {
            "type": "Finished",
            "status": "True",
            "reason": "Succeeded",
            "message": "",
            "lastTransitionTime": format_micro_time(at(1000)),
        }
    ],
}
LATE: dict[str, Late] = {
    "queued, before the deadline: wait for it": Late(
        {"deadlineSeconds": 3600, "scheduledTime": format_micro_time(FIRE)},
        QUEUED,
        at(600),
        False,
        3000.0,
    ),
    "still queued at the deadline: missed (waiting counts)": Late(
        {"deadlineSeconds": 3600, "scheduledTime": format_micro_time(FIRE)},
        QUEUED,
        at(3600),
        True,
    ),
    "measured from the scheduled time, not the creation": Late(
        {
            "deadlineSeconds": 600,
            "scheduledTime": format_micro_time(FIRE - datetime.timedelta(hours=1)),
        },
        QUEUED,
        at(1),
        True,
    ),
    "a run without a scheduled time: from its creation": Late(
        {"deadlineSeconds": 600}, QUEUED, at(599), False, 1.0
    ),
    "finished before the deadline: no condition": Late(
        {"deadlineSeconds": 3600, "scheduledTime": format_micro_time(FIRE)},
        SUCCEEDED_AT,
        at(5000),
        False,
    ),
    "seen finished after the deadline (operator was down): missed": Late(
        {"deadlineSeconds": 600, "scheduledTime": format_micro_time(FIRE)},
        SUCCEEDED_AT,
        at(5000),
        True,
    ),
    "no deadlineSeconds: never": Late({}, QUEUED, at(10**6), False),
}


@pytest.mark.parametrize("name", list(LATE), ids=list(LATE))
def test_deadline_missed(name: str) -> None:
    row = LATE[name]
    run = make_run(spec={"template": {"spec": {}}, **row.spec}, status=row.status)
    plan = decide(run, [], full(position=3), row.now)
    status = plan.status or dict(run.status)
    flag = find_condition(status.get("conditions") or [], ConditionType.DEADLINE_MISSED)
    assert (flag is not None and flag["status"] == "True") == row.missed
    events = [e for e in plan.events if e.reason == EventReason.DEADLINE_MISSED]
    audits = [a for a in plan.audit if a.action == AuditAction.DEADLINE_MISSED]
    assert len(events) == len(audits) == (1 if row.missed else 0)
    if row.missed:
        assert events[0].type == "Warning"
        assert "after its scheduled time" in events[0].message
        assert status["phase"] == run.status["phase"]  # flagged, not stopped
    if row.wake is not None:
        assert plan.requeue_after == pytest.approx(row.wake)


def test_a_missed_deadline_is_flagged_once() -> None:
    run = make_run(
        spec={
            "template": {"spec": {}},
            "deadlineSeconds": 60,
            "scheduledTime": format_micro_time(FIRE),
        },
        status=QUEUED,
    )
    first = decide(run, [], full(position=3), at(61))
    again = decide(
        make_run(
            spec={
                "template": {"spec": {}},
                "deadlineSeconds": 60,
                "scheduledTime": format_micro_time(FIRE),
            },
            status=first.status,
        ),
        [],
        full(position=3),
        at(120),
    )
    assert [a.action for a in again.audit if a.action == AuditAction.DEADLINE_MISSED] == []
    assert not [e for e in again.events if e.reason == EventReason.DEADLINE_MISSED]


# ----------------------------------------------------------------- the streak
def o(minutes: int, phase: str, name: str = "") -> Outcome:
    return Outcome(T0 + datetime.timedelta(minutes=minutes), phase, name or f"r{minutes}")


STREAKS: dict[str, tuple[list[Outcome], datetime.datetime | None, tuple[int, int, str | None]]] = {
    "three failures since a success": (
        [o(1, "Succeeded"), o(2, "Failed"), o(3, "Failed"), o(4, "Failed")],
        None,
        (3, 3, "r4"),
    ),
    "a cancelled run neither counts nor breaks the streak": (
        [o(1, "Failed"), o(2, "Cancelled"), o(3, "Failed")],
        None,
        (2, 2, "r3"),
    ),
    "a success ends it": ([o(1, "Failed"), o(2, "Succeeded")], None, (0, 0, None)),
    "after a resume, only later failures count toward the pause": (
        [o(1, "Failed"), o(2, "Failed"), o(10, "Failed")],
        T0 + datetime.timedelta(minutes=5),
        (3, 1, "r10"),
    ),
}


@pytest.mark.parametrize("name", list(STREAKS), ids=list(STREAKS))
def test_failure_streak(name: str) -> None:
    outcomes, since, expected = STREAKS[name]
    streak = failure_streak(outcomes, since)
    assert (streak.failures, streak.counted, streak.last_failed) == expected


PAUSE_SINCE = "2025-03-01T12:00:00.000000Z"
PAUSE = FailurePauseDict(since=PAUSE_SINCE, failures=3, message="paused")
PAUSES: dict[
    str, tuple[int | None, FailurePauseDict | None, str | None, int, tuple[bool, bool, bool]]
] = {
    # limit, current pause, resume annotation, counted failures -> paused, tripped, resumed
    "below the limit: nothing": (3, None, None, 2, (False, False, False)),
    "the limit reached: pause": (3, None, None, 3, (True, True, False)),
    "no limit: never": (None, None, None, 50, (False, False, False)),
    "paused stays paused": (3, PAUSE, None, 3, (True, False, False)),
    "a stale resume (another pause) resumes nothing": (
        3,
        PAUSE,
        "2025-02-01T00:00:00.000000Z",
        3,
        (True, False, False),
    ),
    "the resume names this pause: resumed": (3, PAUSE, PAUSE_SINCE, 3, (False, False, True)),
    "the same instant written another way still names it": (
        3,
        PAUSE,
        "2025-03-01T12:00:00Z",
        3,
        (False, False, True),
    ),
}


@pytest.mark.parametrize("name", list(PAUSES), ids=list(PAUSES))
def test_failure_pause(name: str) -> None:
    limit, current, resume, counted, expected = PAUSES[name]
    streak = failure_streak([o(i, "Failed") for i in range(counted)], None)
    decision = decide_failure_pause(limit, current, resume, streak, at(3600))
    assert (decision.paused, decision.tripped, decision.resumed) == expected
    if decision.tripped:
        assert decision.record is not None
        assert decision.record["since"] == format_micro_time(at(3600))
        assert decision.record["failures"] == counted


# ------------------------------------------------- the ScheduledJob, paused
CREATED = datetime.datetime(2026, 3, 1, tzinfo=UTC)
NOW = datetime.datetime(2026, 3, 5, 10, 0, 5, tzinfo=UTC)


def job(
    status: dict[str, Any] | None = None, annotations: dict[str, str] | None = None
) -> ScheduledJobView:
    return ScheduledJobView.from_body(
        {
            "metadata": {
                "namespace": "team-a",
                "name": "nightly",
                "uid": "sj-uid",
                "creationTimestamp": CREATED.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "annotations": annotations or {},
            },
            "spec": {
                "schedule": "0 * * * *",
                "pauseAfterConsecutiveFailures": 2,
                "deadlineSeconds": 1800,
                "template": {},
            },
            "status": {
                "lastScheduleTime": format_micro_time(NOW - datetime.timedelta(hours=1, seconds=5)),
                **(status or {}),
            },
        }
    )


def failed(hour: int, phase: str = "Failed") -> RunView:
    fire = datetime.datetime(2026, 3, 5, hour, tzinfo=UTC)
    return RunView.from_body(
        {
            "kind": "JobRun",
            "metadata": {
                "namespace": "team-a",
                "name": f"nightly-{int(fire.timestamp())}",
                "creationTimestamp": fire.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            "spec": {
                "scheduledJobRef": {"name": "nightly"},
                "trigger": "Schedule",
                "scheduledTime": format_micro_time(fire),
            },
            "status": {
                "phase": phase,
                "startTime": format_micro_time(fire),
                "completionTime": format_micro_time(fire + datetime.timedelta(minutes=40)),
                "snapshot": {"settings": {"deadlineSeconds": 1800}},
            },
        }
    )


def test_two_failures_in_a_row_pause_the_job_in_status_only() -> None:
    plan = decide_scheduled_job(job(), [failed(7), failed(8)], NOW)
    status = plan.status or {}
    assert plan.create == []  # the 10:00 fire does not run
    assert status["phase"] == "Suspended" and status["nextScheduleTime"] is None
    assert status["failurePause"]["failures"] == 2
    assert status["failurePause"]["lastFailedRun"] == failed(8).name
    suspended = find_condition(status["conditions"], "Suspended")
    assert suspended is not None and suspended["reason"] == "ConsecutiveFailures"
    assert [e.reason for e in plan.events if e.type == "Warning"][:1] == [
        EventReason.PAUSED_AFTER_FAILURES
    ]
    assert [a.action for a in plan.audit] == [AuditAction.PAUSED_AFTER_FAILURES]


def test_the_resume_annotation_clears_the_pause_and_restarts_the_count() -> None:
    paused = decide_scheduled_job(job(), [failed(7), failed(8)], NOW).status or {}
    since = paused["failurePause"]["since"]
    later = NOW + datetime.timedelta(minutes=30)
    resumed = decide_scheduled_job(
        job(
            paused,
            {"jobwarden.dev/resume": since, "jobwarden.dev/resume-requested-by": "alice"},
        ),
        [failed(7), failed(8)],
        later,
    )
    status = resumed.status or {}
    assert status["failurePause"] is None and status["phase"] == "Active"
    assert status["failuresCountedSince"] == format_micro_time(later)
    assert status["consecutiveFailures"] == 2  # the streak is still shown
    assert [a.user for a in resumed.audit] == ["alice"]
    # Pausing means skipping (issue 20), for this pause as for spec.suspend: the 10:00
    # fire came while paused, so it is skipped, not run late by missedRunPolicy; the
    # resumed job runs at its next fire, 11:00.
    assert paused["skippedWhilePaused"] == 1
    assert paused["lastSkippedTime"] == "2026-03-05T10:00:00.000000Z"
    assert not resumed.create
    assert status["nextScheduleTime"] == "2026-03-05T11:00:00.000000Z"
    assert resumed.requeue_after == pytest.approx(1795.0, abs=1)


def test_the_job_condition_says_whether_its_newest_run_met_its_deadline() -> None:
    plan = decide_scheduled_job(job(), [failed(8, "Succeeded")], NOW)
    flag = find_condition((plan.status or {})["conditions"], "DeadlineMissed")
    assert flag is not None and flag["status"] == "True"  # finished 40 min after its fire
    assert any(e.reason == EventReason.DEADLINE_MISSED for e in plan.events)


# ------------------------------------- the two pauses together (issues 20 and 22)
def _with_spec(view: ScheduledJobView, **spec: Any) -> ScheduledJobView:
    return dataclasses.replace(view, spec_json=json.dumps({**view.spec, **spec}))


def _resume(since: str, by: str = "alice") -> dict[str, str]:
    return {"jobwarden.dev/resume": since, "jobwarden.dev/resume-requested-by": by}


def test_a_resume_after_failures_is_logged_evented_and_audited_once() -> None:
    paused = decide_scheduled_job(job(), [failed(7), failed(8)], NOW).status or {}
    later = NOW + datetime.timedelta(minutes=30)
    resumed = decide_scheduled_job(
        job(paused, _resume(paused["failurePause"]["since"])), [failed(7), failed(8)], later
    )
    new_lines = [e["message"] for e in (resumed.status or {})["log"][len(paused["log"]) :]]
    assert [m for m in new_lines if "resumed" in m] == [
        "resumed by alice after a pause for failures; failures count from now"
    ]
    assert [e.reason for e in resumed.events] == [EventReason.RESUMED_AFTER_FAILURES]
    assert [a.action for a in resumed.audit] == [AuditAction.RESUMED_AFTER_FAILURES]


def test_a_job_paused_both_ways_runs_again_only_when_both_pauses_have_ended() -> None:
    paused = decide_scheduled_job(job(), [failed(7), failed(8)], NOW).status or {}
    since = paused["failurePause"]["since"]
    runs = [failed(7), failed(8)]
    # spec.suspend cleared, the pause after failures still holds: still paused, skipping.
    user_resumed = decide_scheduled_job(
        _with_spec(job(paused), suspend=False), runs, NOW + datetime.timedelta(hours=1)
    )
    status = user_resumed.status or {}
    assert status["phase"] == "Suspended" and user_resumed.create == []
    assert status["skippedWhilePaused"] == 2  # 10:00 and 11:00
    # The pause after failures ended while spec.suspend is set: still paused, skipping.
    failure_resumed = decide_scheduled_job(
        _with_spec(job(paused, _resume(since)), suspend=True),
        runs,
        NOW + datetime.timedelta(hours=1),
    )
    status = failure_resumed.status or {}
    assert status["phase"] == "Suspended" and status["failurePause"] is None
    assert [a.action for a in failure_resumed.audit] == [AuditAction.RESUMED_AFTER_FAILURES]
    assert failure_resumed.create == [] and status["skippedWhilePaused"] == 2
    # Both ended (kubectl jobwarden resume: one request): runs at the next fire, 12:00.
    both = decide_scheduled_job(
        _with_spec(job(status, _resume(since)), suspend=False),
        runs,
        NOW + datetime.timedelta(hours=1, minutes=30),
    )
    status = both.status or {}
    assert status["phase"] == "Active" and both.create == []
    assert status["nextScheduleTime"] == "2026-03-05T12:00:00.000000Z"


def test_a_paused_job_skips_a_jittered_fire_only_once_its_delay_has_passed() -> None:
    view = _with_spec(job(), suspend=True, jitterSeconds=600, pauseAfterConsecutiveFailures=None)
    fire = datetime.datetime(2026, 3, 5, 10, tzinfo=UTC)
    delay = schedule_of("team-a", "nightly", view.spec).delay(fire).total_seconds()
    assert delay > 1, "this table needs a fire delayed by its jitter"
    waiting = decide_scheduled_job(view, [], fire + datetime.timedelta(seconds=delay - 1))
    status = waiting.status or {}
    assert status.get("skippedWhilePaused", 0) == 0 and not status.get("lastSkippedTime")
    assert waiting.requeue_after == pytest.approx(1.0, abs=0.01)
    come = decide_scheduled_job(view, [], fire + datetime.timedelta(seconds=delay))
    status = come.status or {}
    assert status["skippedWhilePaused"] == 1
    assert status["lastSkippedTime"] == format_micro_time(fire)

"""The Backfill decision (core/backfill.py), with a fixed clock: runs of past fires,
oldest first, its own cap, skips, adoption after a crash, cancel, and the job's
concurrency policy and failure streak leaving its runs out."""

from __future__ import annotations

import datetime
from typing import Any

from jobwarden.api.enums import BackfillPhase, RunPhase, SkipReason, Trigger
from jobwarden.core.backfill import BackfillView, backfill_run, decide_backfill
from jobwarden.core.observed import RunView
from jobwarden.core.scheduledjob import CancelRun, CreateRun, ScheduledJobView, decide_scheduled_job
from jobwarden.core.scheduling import run_name

UTC = datetime.UTC
JOB_CREATED = datetime.datetime(2026, 3, 1, tzinfo=UTC)
CREATED = datetime.datetime(2026, 3, 10, 12, tzinfo=UTC)
NOW = CREATED + datetime.timedelta(seconds=5)
#: Daily at 02:00 UTC: the range 3 March 00:00 - 7 March 23:59 holds 5 fires.
FIRES = [datetime.datetime(2026, 3, day, 2, tzinfo=UTC) for day in range(3, 8)]
NAMES = [run_name("nightly", fire) for fire in FIRES]


def stamp(t: datetime.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def job(**spec: Any) -> ScheduledJobView:
    status = spec.pop("status", {})
    return ScheduledJobView.from_body(
        {
            "metadata": {
                "namespace": "team-a",
                "name": "nightly",
                "uid": "sj-uid",
                "creationTimestamp": JOB_CREATED.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            "spec": {"schedule": "0 2 * * *", "template": {}, **spec},
            "status": status,
        }
    )


def backfill(status: dict[str, Any] | None = None, **spec: Any) -> BackfillView:
    return BackfillView.from_body(
        {
            "metadata": {
                "namespace": "team-a",
                "name": "march",
                "uid": "bf-uid",
                "creationTimestamp": CREATED.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "annotations": spec.pop("annotations", {}),
            },
            "spec": {
                "scheduledJobRef": {"name": "nightly"},
                "from": "2026-03-03T00:00:00Z",
                "to": "2026-03-07T23:59:00Z",
                **spec,
            },
            "status": status or {},
        }
    )


def run(name: str, phase: str | None = None, *, mine: bool = True, trigger: str = "") -> RunView:
    fire = FIRES[NAMES.index(name)] if name in NAMES else CREATED
    labels = {"jobwarden.dev/backfill": "march"} if mine else {}
    status = {"phase": phase, "completionTime": stamp(NOW)} if phase else {}
    return RunView.from_body(
        {
            "kind": "JobRun",
            "metadata": {
                "namespace": "team-a",
                "name": name,
                "uid": f"uid-{name}",
                "creationTimestamp": CREATED.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "labels": labels,
            },
            "spec": {
                "scheduledJobRef": {"name": "nightly"},
                "trigger": trigger or ("Backfill" if mine else "Schedule"),
                "scheduledTime": stamp(fire),
            },
            "status": status,
        }
    )


def test_the_first_decision_creates_the_oldest_fires_up_to_its_cap() -> None:
    plan = decide_backfill(backfill(maxConcurrentRuns=2), job(), [], NOW)
    assert plan.create == [CreateRun(NAMES[0], FIRES[0]), CreateRun(NAMES[1], FIRES[1])]
    status = plan.status or {}
    assert status["phase"] == BackfillPhase.RUNNING
    assert (status["fires"], status["created"], status["active"]) == (5, 2, 2)
    assert status["activeRuns"] == NAMES[:2]
    assert status["lastFireTime"] == stamp(FIRES[1])


def test_a_finished_run_makes_room_for_the_next_fire() -> None:
    first = decide_backfill(backfill(maxConcurrentRuns=2), job(), [], NOW).status or {}
    runs = [run(NAMES[0], RunPhase.SUCCEEDED), run(NAMES[1])]
    plan = decide_backfill(backfill(first, maxConcurrentRuns=2), job(), runs, NOW)
    assert plan.create == [CreateRun(NAMES[2], FIRES[2])]
    status = plan.status or {}
    assert (status["succeeded"], status["created"], status["activeRuns"]) == (
        1,
        3,
        [NAMES[1], NAMES[2]],
    )


def test_a_fire_that_has_a_run_is_skipped_and_reported() -> None:
    existing = run(NAMES[0], RunPhase.SUCCEEDED, mine=False)
    pruned = job(status={"history": [{"name": NAMES[1], "phase": "Failed"}]})
    plan = decide_backfill(backfill(maxConcurrentRuns=1), pruned, [existing], NOW)
    assert plan.create == [CreateRun(NAMES[2], FIRES[2])]
    status = plan.status or {}
    assert status["skipped"] == 2
    assert [(s["name"], s["reason"]) for s in status["skippedFires"]] == [
        (NAMES[0], SkipReason.RUN_EXISTS),
        (NAMES[1], SkipReason.RUN_IN_HISTORY),
    ]


def test_it_completes_once_every_fire_ran_or_was_skipped() -> None:
    status: dict[str, Any] = {}
    runs: dict[str, RunView] = {}
    for _ in range(10):
        plan = decide_backfill(
            backfill(status, maxConcurrentRuns=3), job(), list(runs.values()), NOW
        )
        status = plan.status or status
        for create in plan.create:  # each run ends by the next decision
            phase = RunPhase.FAILED if create.name == NAMES[3] else RunPhase.SUCCEEDED
            runs[create.name] = run(create.name, phase)
        if status["phase"] == BackfillPhase.COMPLETED:
            break
    assert status["phase"] == BackfillPhase.COMPLETED
    assert (status["created"], status["succeeded"], status["failed"]) == (5, 4, 1)
    assert status["activeRuns"] == [] and status["completionTime"] == stamp(NOW)
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"
    assert sorted(runs) == sorted(NAMES)  # each fire once


def test_a_run_created_before_a_lost_status_write_is_adopted_not_created_again() -> None:
    runs = [run(NAMES[0]), run(NAMES[1])]  # created; the status write was lost
    plan = decide_backfill(backfill(maxConcurrentRuns=2), job(), runs, NOW)
    assert plan.create == []
    status = plan.status or {}
    assert status["activeRuns"] == NAMES[:2] and status["created"] == 2
    assert status["lastFireTime"] == stamp(FIRES[1])


def test_a_run_deleted_before_it_ended_counts_as_cancelled() -> None:
    status = {"activeRuns": [NAMES[0]], "created": 1, "lastFireTime": stamp(FIRES[0])}
    plan = decide_backfill(backfill(status), job(), [], NOW)
    assert (plan.status or {})["cancelled"] == 1
    assert plan.create == [CreateRun(NAMES[1], FIRES[1])]


def test_cancel_stops_creating_and_cancels_its_active_runs() -> None:
    status = {"activeRuns": NAMES[:2], "created": 2, "lastFireTime": stamp(FIRES[1])}
    view = backfill(
        status,
        maxConcurrentRuns=2,
        cancel=True,
        annotations={"jobwarden.dev/cancel-requested-by": "alice"},
    )
    runs = [run(NAMES[0]), run(NAMES[1], RunPhase.SUCCEEDED)]
    plan = decide_backfill(view, job(), runs, NOW)
    assert plan.create == []
    assert plan.cancel == [
        CancelRun(NAMES[0], "alice", "its Backfill march was cancelled by alice")
    ]
    assert (plan.status or {})["phase"] == BackfillPhase.CANCELLING
    done = decide_backfill(
        backfill(plan.status, cancel=True), job(), [run(NAMES[0], RunPhase.CANCELLED)], NOW
    )
    assert done.cancel == [] and (done.status or {})["phase"] == BackfillPhase.CANCELLED
    assert (done.status or {})["cancelled"] == 1


def test_fires_after_the_backfill_was_created_are_the_schedules() -> None:
    late = backfill(to="2026-03-20T00:00:00Z", maxConcurrentRuns=100)
    plan = decide_backfill(late, job(), [], NOW)
    assert (plan.status or {})["fires"] == 8  # 3-10 March; 11 March is after its creation
    assert plan.create[-1].fire == datetime.datetime(2026, 3, 10, 2, tzinfo=UTC)


def test_without_its_job_it_waits_and_without_a_schedule_it_fails() -> None:
    waiting = decide_backfill(backfill(), None, [], NOW).status or {}
    assert waiting["phase"] == BackfillPhase.PENDING
    assert waiting["reason"] == "ScheduledJobNotFound"
    one_time = job(schedule=None)
    failed = decide_backfill(backfill(), one_time, [], NOW).status or {}
    assert failed["phase"] == BackfillPhase.FAILED and failed["reason"] == "NoSchedule"


def test_too_many_fires_fail_with_the_count() -> None:
    every_minute = job(schedule="* * * * *")
    plan = decide_backfill(backfill(), every_minute, [], NOW)
    status = plan.status or {}
    assert status["phase"] == BackfillPhase.FAILED and status["reason"] == "TooManyFires"
    assert "7200 fires, more than 1000" in status["message"]


def test_h_fields_decide_the_fires_of_a_backfill_too() -> None:
    hashed = job(schedule="H H * * *", jitterSeconds=600)
    plan = decide_backfill(backfill(maxConcurrentRuns=5), hashed, [], NOW)
    fires = [create.fire for create in plan.create]
    assert len(fires) == 5
    # 53 9 * * * for team-a/nightly (tests/unit/test_spread.py); no jitter on past fires.
    assert all((f.hour, f.minute, f.second) == (9, 53, 0) for f in fires)


def test_its_runs_are_outside_the_jobs_concurrency_policy_and_failure_streak() -> None:
    now = datetime.datetime(2026, 3, 10, 2, 0, 5, tzinfo=UTC)
    sj = job(
        concurrencyPolicy="Forbid",
        status={"lastScheduleTime": stamp(datetime.datetime(2026, 3, 9, 2, tzinfo=UTC))},
    )
    runs = [run(NAMES[0]), run(NAMES[1], RunPhase.FAILED)]
    plan = decide_scheduled_job(sj, runs, now)
    fire = datetime.datetime(2026, 3, 10, 2, tzinfo=UTC)
    assert plan.create == [CreateRun(run_name("nightly", fire), fire)]  # not blocked (Forbid)
    assert (plan.status or {})["consecutiveFailures"] == 0


def test_a_backfilled_run_is_the_jobs_run_with_its_own_trigger_and_label() -> None:
    body = backfill_run(job(), backfill(), CreateRun(NAMES[0], FIRES[0]), "jobwarden-operator")
    assert body["metadata"]["name"] == NAMES[0]
    assert body["metadata"]["labels"] == {
        "jobwarden.dev/scheduledjob": "nightly",
        "jobwarden.dev/trigger": Trigger.BACKFILL.value,
        "jobwarden.dev/backfill": "march",
    }
    assert body["spec"] == {
        "scheduledJobRef": {"name": "nightly"},
        "trigger": "Backfill",
        "scheduledTime": stamp(FIRES[0]),
    }
    assert body["metadata"]["ownerReferences"][0]["uid"] == "sj-uid"


def test_a_run_already_asked_to_cancel_is_not_asked_again() -> None:
    status = {"activeRuns": NAMES[:1], "created": 1, "lastFireTime": stamp(FIRES[0])}
    asked = RunView.from_body(
        {
            "kind": "JobRun",
            "metadata": {
                "namespace": "team-a",
                "name": NAMES[0],
                "labels": {"jobwarden.dev/backfill": "march"},
                "annotations": {"jobwarden.dev/operator-cancel": "true"},
                "creationTimestamp": CREATED.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            "spec": {"scheduledJobRef": {"name": "nightly"}, "trigger": "Backfill"},
            "status": {"phase": "Cancelling"},
        }
    )
    plan = decide_backfill(backfill(status, cancel=True), job(), [asked], NOW)
    assert plan.cancel == [] and (plan.status or {})["phase"] == BackfillPhase.CANCELLING

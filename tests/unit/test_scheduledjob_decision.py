"""The ScheduledJob decision, as table tests with a fixed clock."""

from __future__ import annotations

import dataclasses
import datetime
from dataclasses import dataclass, field
from typing import Any

import pytest

from jobwarden.core.observed import RunView
from jobwarden.core.scheduledjob import (
    OPERATOR_USER,
    CancelRun,
    CreateRun,
    PruneRun,
    ScheduledJobPlan,
    ScheduledJobView,
    decide_scheduled_job,
)
from jobwarden.core.scheduling import run_name
from tests.unit.factories import make_scheduled_job, run_of_job

UTC = datetime.UTC
CREATED = datetime.datetime(2026, 3, 1, 0, 0, 30, tzinfo=UTC)
NOW = datetime.datetime(2026, 3, 2, 10, 0, 5, tzinfo=UTC)  # 5 s after a 10:00 fire


def stamp(t: datetime.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sj(
    spec: dict[str, Any] | None = None, status: dict[str, Any] | None = None, **meta: Any
) -> ScheduledJobView:
    """The table's ScheduledJob: hourly, Forbid, created at CREATED."""
    return make_scheduled_job(
        created=CREATED,
        spec={"schedule": "0 * * * *", "concurrencyPolicy": "Forbid", **(spec or {})},
        status=status,
        annotations=meta.get("annotations"),
    )


def run(name: str, phase: str | None = None, **kwargs: Any) -> RunView:
    """A run of the table's ScheduledJob (created at CREATED unless said)."""
    return run_of_job(name, phase, **{"created": CREATED, **kwargs})


FIRE_10 = datetime.datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
LAST_09 = {"lastScheduleTime": stamp(FIRE_10 - datetime.timedelta(hours=1))}


@dataclass
class Case:
    spec: dict[str, Any] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)
    runs: list[RunView] = field(default_factory=list)
    create: list[datetime.datetime] = field(default_factory=list)
    cancel: list[str] = field(default_factory=list)
    phase: str = "Active"
    missed: int = 0


CASES = {
    "on-time fire creates its run": Case(status=LAST_09, create=[FIRE_10]),
    "no fire due": Case(status={"lastScheduleTime": stamp(FIRE_10)}),
    "forbid skips while a run is active": Case(
        status=LAST_09, runs=[run("nightly-old", "Running")], missed=1
    ),
    "allow runs alongside": Case(
        spec={"concurrencyPolicy": "Allow"},
        status=LAST_09,
        runs=[run("nightly-old", "Running")],
        create=[FIRE_10],
    ),
    "replace cancels the active run": Case(
        spec={"concurrencyPolicy": "Replace"},
        status=LAST_09,
        runs=[run("nightly-old", "Running")],
        create=[FIRE_10],
        cancel=["nightly-old"],
    ),
    "replace keeps the newest of two active runs": Case(
        spec={"concurrencyPolicy": "Replace"},
        status={"lastScheduleTime": stamp(FIRE_10)},
        runs=[
            run("nightly-old", "Running"),
            run("nightly-manual", "Queued", created=NOW, trigger="Manual"),
        ],
        cancel=["nightly-old"],
    ),
    # The run of the 10:00 fire exists, but lastScheduleTime still says 09:00 (the status
    # write after its create was lost): the fire is handled, whatever the policy.
    **{
        f"a fire whose run exists is handled ({policy})": Case(
            spec={"concurrencyPolicy": policy},
            status=LAST_09,
            runs=[run(run_name("nightly", FIRE_10), "Running", created=FIRE_10)],
        )
        for policy in ("Forbid", "Allow", "Replace")
    },
    "suspended creates nothing": Case(spec={"suspend": True}, status=LAST_09, phase="Suspended"),
    "run-once after an outage": Case(
        status={"lastScheduleTime": stamp(FIRE_10 - datetime.timedelta(hours=3))},
        spec={"missedRunPolicy": {"policy": "RunOnce", "maxRuns": 10}},
        create=[FIRE_10],
        missed=2,
    ),
    "run-all after an outage": Case(
        spec={"missedRunPolicy": {"policy": "RunAll", "maxRuns": 10}, "concurrencyPolicy": "Allow"},
        status={"lastScheduleTime": stamp(FIRE_10 - datetime.timedelta(hours=3))},
        create=[FIRE_10 - datetime.timedelta(hours=h) for h in (2, 1, 0)],
    ),
    "cancelled job cancels its active runs": Case(
        spec={"cancel": True},
        status=LAST_09,
        runs=[run("nightly-a", "Running"), run("nightly-b", "Succeeded", completed=NOW)],
        cancel=["nightly-a"],
        phase="Cancelled",
    ),
    "cancelled job does not cancel twice": Case(
        spec={"cancel": True},
        status={"phase": "Cancelled"},
        runs=[run("nightly-a", "Cancelling", cancel=True)],
        phase="Cancelled",
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_decision(case: Case) -> None:
    plan = decide_scheduled_job(sj(case.spec, case.status), case.runs, NOW)
    assert plan.create == [CreateRun(run_name("nightly", f), f) for f in case.create]
    assert [c.name for c in plan.cancel] == case.cancel
    assert plan.status is not None
    assert plan.status["phase"] == case.phase
    assert plan.status.get("missedRuns", 0) == case.missed
    if case.phase == "Active":
        assert plan.status["nextScheduleTime"] == stamp(FIRE_10 + datetime.timedelta(hours=1))
        assert plan.requeue_after == pytest.approx(3600 - 5, abs=1)
    else:
        assert plan.status.get("nextScheduleTime") is None


def test_replace_cancel_says_who_and_why() -> None:
    case = CASES["replace cancels the active run"]
    plan = decide_scheduled_job(sj(case.spec, case.status), case.runs, NOW)
    assert plan.cancel == [
        CancelRun(
            "nightly-old",
            OPERATOR_USER,
            f"replaced by {run_name('nightly', FIRE_10)} (concurrencyPolicy Replace)",
        )
    ]


def test_missed_fires_are_logged_and_reported() -> None:
    case = CASES["forbid skips while a run is active"]
    plan = decide_scheduled_job(sj(case.spec, case.status), case.runs, NOW)
    assert plan.status is not None
    assert any("ConcurrencyPolicy" in entry["message"] for entry in plan.status["log"])
    assert [e.reason for e in plan.events] == ["MissedSchedule"]
    assert plan.events[0].type == "Warning"


def test_one_time_job_creates_one_run_then_completes() -> None:
    job = sj({"schedule": None})
    first = decide_scheduled_job(job, [], NOW)
    assert first.create == [CreateRun(run_name("nightly", CREATED), CREATED)]
    assert first.requeue_after is None
    assert first.status is not None
    job = sj({"schedule": None}, first.status)
    name = run_name("nightly", CREATED)
    assert decide_scheduled_job(job, [run(name, "Running")], NOW).create == []
    done = decide_scheduled_job(job, [run(name, "Succeeded", completed=NOW)], NOW)
    assert done.status is not None and done.status["phase"] == "Completed"
    assert [e.reason for e in done.events] == ["Completed"]


def test_history_limits_prune_oldest_and_record_summaries() -> None:
    finished = [
        run(f"nightly-s{i}", "Succeeded", completed=NOW - datetime.timedelta(hours=10 - i))
        for i in range(4)
    ] + [run("nightly-f0", "Failed", completed=NOW - datetime.timedelta(hours=20))]
    spec = {"successfulRunsHistoryLimit": 2, "failedRunsHistoryLimit": 0}
    plan = decide_scheduled_job(sj(spec, {"lastScheduleTime": stamp(FIRE_10)}), finished, NOW)
    assert plan.prune == [
        PruneRun("nightly-f0", "uid-nightly-f0"),
        PruneRun("nightly-s0", "uid-nightly-s0"),
        PruneRun("nightly-s1", "uid-nightly-s1"),
    ]
    assert plan.status is not None
    history = plan.status["history"]
    assert [h["name"] for h in history] == ["nightly-f0", "nightly-s0", "nightly-s1"]
    assert history[1]["phase"] == "Succeeded" and history[1]["durationSeconds"] == 30
    assert plan.status["lastSuccessfulTime"] == stamp(NOW - datetime.timedelta(hours=7))
    assert plan.status["consecutiveFailures"] == 0


def test_pruning_twice_does_not_duplicate_summaries() -> None:
    finished = [run("nightly-s0", "Succeeded", completed=NOW - datetime.timedelta(hours=1))]
    spec = {"successfulRunsHistoryLimit": 0}
    first = decide_scheduled_job(sj(spec, {"lastScheduleTime": stamp(FIRE_10)}), finished, NOW)
    assert first.status is not None
    again = decide_scheduled_job(sj(spec, first.status), finished, NOW)
    assert again.status is None or len(again.status["history"]) == 1
    assert again.prune == [PruneRun("nightly-s0", "uid-nightly-s0")]


def test_retention_prunes_old_runs_and_wakes_for_the_next_expiry() -> None:
    old = run("nightly-old", "Succeeded", completed=NOW - datetime.timedelta(days=91))
    young = run("nightly-young", "Succeeded", completed=NOW - datetime.timedelta(days=89))
    plan = decide_scheduled_job(sj({}, {"lastScheduleTime": stamp(FIRE_10)}), [old, young], NOW)
    assert plan.prune == [PruneRun("nightly-old", "uid-nightly-old")]
    assert plan.requeue_after is not None and plan.requeue_after < 3600


def test_consecutive_failures_count_since_the_last_success() -> None:
    outcomes = [("Succeeded", 5), ("Failed", 4), ("Cancelled", 3), ("Failed", 2)]
    finished = [
        run(f"nightly-{i}", phase, completed=NOW - datetime.timedelta(hours=h))
        for i, (phase, h) in enumerate(outcomes)
    ]
    plan = decide_scheduled_job(sj({}, {"lastScheduleTime": stamp(FIRE_10)}), finished, NOW)
    assert plan.status is not None
    assert plan.status["consecutiveFailures"] == 2
    assert plan.status["lastFailureTime"] == stamp(NOW - datetime.timedelta(hours=2))


def fired(plan: ScheduledJobPlan, phase: str = "Queued") -> list[RunView]:
    """The runs `plan` creates, as the watch then shows them (created this second)."""
    return [
        dataclasses.replace(
            run(create.name, phase, created=NOW.replace(microsecond=0)),
            scheduled_time=create.fire,
        )
        for create in plan.create
    ]


def test_steady_state_writes_nothing() -> None:
    plan = decide_scheduled_job(sj({}, LAST_09), [], NOW)
    assert plan.status is not None
    again = decide_scheduled_job(sj({}, plan.status), fired(plan), NOW)
    assert again.status is None and again.create == [] and again.events == []


def test_a_fire_lists_the_run_it_creates_so_its_arrival_writes_nothing() -> None:
    """As the CronJob controller: one status write at the fire, none when the new
    run's watch event comes (at 1,000 jobs that was 1,000 writes more each minute)."""
    existing = dataclasses.replace(
        run("nightly-early", "Running", created=NOW.replace(microsecond=0)),
        scheduled_time=None,
    )
    plan = decide_scheduled_job(sj({"concurrencyPolicy": "Allow"}, LAST_09), [existing], NOW)
    assert plan.status is not None and [c.fire for c in plan.create] == [FIRE_10]
    assert plan.status["activeCount"] == 2
    assert [a["name"] for a in plan.status["active"]] == sorted(
        ["nightly-early", plan.create[0].name]
    )
    listed = {a["name"]: a.get("scheduledTime") for a in plan.status["active"]}
    assert listed[plan.create[0].name] == stamp(FIRE_10)
    after = decide_scheduled_job(
        sj({"concurrencyPolicy": "Allow"}, plan.status), [existing, *fired(plan)], NOW
    )
    assert after.status is None


def merge_patched(value: Any) -> Any:
    """What the API server stores for a status written as a JSON merge patch: a null
    removes the field, and the structural schema prunes nulls inside lists too."""
    if isinstance(value, dict):
        return {k: merge_patched(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [merge_patched(item) for item in value]
    return value


def test_steady_state_writes_nothing_when_nulls_were_dropped_by_the_merge_patch() -> None:
    plan = decide_scheduled_job(sj({}, LAST_09), [], NOW)
    assert plan.status is not None
    assert any(value is None for value in plan.status.values()), "the case needs a null"
    again = decide_scheduled_job(sj({}, merge_patched(plan.status)), fired(plan), NOW)
    assert again.status is None, "a status equal but for dropped nulls was written again"


def test_invalid_schedule_stalls_without_fires() -> None:
    plan = decide_scheduled_job(sj({"schedule": "61 * * * *"}), [], NOW)
    assert plan.create == []
    assert plan.status is not None
    stalled = next(c for c in plan.status["conditions"] if c["type"] == "Stalled")
    assert stalled["status"] == "True" and stalled["reason"] == "InvalidSchedule"
    assert "61" in stalled["message"]


def test_a_fire_whose_run_exists_is_not_counted_as_missed() -> None:
    """The operator created the run of a fire, then died before writing status: the
    next decision sees the fire again, late, and must not report it as missed."""
    fire = FIRE_10 - datetime.timedelta(hours=1)
    status = {"lastScheduleTime": stamp(fire - datetime.timedelta(hours=1))}
    spec = {"missedRunPolicy": {"policy": "Skip", "maxRuns": 10}}
    existing = run(
        run_name("nightly", fire), "Succeeded", completed=fire + datetime.timedelta(minutes=1)
    )
    plan = decide_scheduled_job(sj(spec, status), [existing], NOW)
    assert plan.status is not None
    assert plan.status.get("missedRuns", 0) == 0
    assert plan.create == [CreateRun(run_name("nightly", FIRE_10), FIRE_10)]


def test_replace_never_guesses_between_runs_created_in_the_same_second() -> None:
    """Creation times have whole seconds: a manual run and the run of a fire created in
    the same second cannot be ordered, so neither is cancelled for the other."""
    same_second = NOW.replace(microsecond=0)
    both = [
        run("nightly-manual", "Running", created=same_second, trigger="Manual"),
        run(run_name("nightly", FIRE_10), "Queued", created=same_second),
    ]
    spec = {"concurrencyPolicy": "Replace"}
    plan = decide_scheduled_job(sj(spec, {"lastScheduleTime": stamp(FIRE_10)}), both, NOW)
    assert plan.cancel == []


@pytest.mark.parametrize(
    ("phase", "said", "kept"),
    [
        ("Failed", "disk full", "disk full"),
        ("Cancelled", "stopped at row 10", "stopped at row 10"),
        ("Succeeded", "wrote 10 rows", None),  # not an error
        ("Failed", None, None),
        ("Failed", "x" * 600, "x" * 511 + "…"),  # clipped to the summary's bound
    ],
)
def test_a_pruned_runs_summary_keeps_its_last_attempts_error(
    phase: str, said: str | None, kept: str | None
) -> None:
    done = run("nightly-f0", phase, completed=NOW - datetime.timedelta(hours=1))
    attempts: list[dict[str, Any]] = [{"attempt": 1, "podName": "p-1", "message": "first"}]
    attempts.append({"attempt": 2, "podName": "p-2", **({"message": said} if said else {})})
    done = dataclasses.replace(done, status={**done.status, "attempts": attempts})
    spec = {"successfulRunsHistoryLimit": 0, "failedRunsHistoryLimit": 0}
    plan = decide_scheduled_job(sj(spec, {"lastScheduleTime": stamp(FIRE_10)}), [done], NOW)
    assert plan.status is not None
    assert plan.status["history"][0].get("error") == kept


# ---------------------------------------------------------------- pause = skip
def test_a_fire_while_paused_is_skipped_counted_apart_and_logged() -> None:
    plan = decide_scheduled_job(sj({"suspend": True}, LAST_09), [], NOW)
    assert plan.create == [] and plan.status is not None
    assert plan.status["skippedWhilePaused"] == 1
    assert plan.status["lastSkippedTime"] == stamp(FIRE_10)
    assert not plan.status.get("missedRuns")
    assert plan.status["lastScheduleTime"] == LAST_09["lastScheduleTime"]  # nothing ran
    assert any("skipped the fire of" in e["message"] for e in plan.status["log"])
    assert plan.requeue_after == pytest.approx(3595)  # wakes at the next fire (11:00)
    again = decide_scheduled_job(sj({"suspend": True}, plan.status), [], NOW)
    assert again.status is None or again.status["skippedWhilePaused"] == 1  # counted once


def test_several_fires_while_paused_are_counted_in_one_line() -> None:
    three_hours = {"lastScheduleTime": stamp(FIRE_10 - datetime.timedelta(hours=3))}
    plan = decide_scheduled_job(sj({"suspend": True}, three_hours), [], NOW)
    assert plan.status is not None and plan.status["skippedWhilePaused"] == 3
    assert any("skipped 3 fires, the newest" in e["message"] for e in plan.status["log"])


@pytest.mark.parametrize("policy", ["RunOnce", "RunAll", "Skip"])
def test_after_resume_the_job_runs_at_its_next_fire_not_at_once(policy: str) -> None:
    """The fires of the pause are not missed: missedRunPolicy does not make them up."""
    spec = {"missedRunPolicy": {"policy": policy, "maxRuns": 10}, "concurrencyPolicy": "Allow"}
    three_hours = {"lastScheduleTime": stamp(FIRE_10 - datetime.timedelta(hours=3))}
    paused = decide_scheduled_job(sj({**spec, "suspend": True}, three_hours), [], NOW)
    assert paused.status is not None
    later = NOW + datetime.timedelta(minutes=20)
    resumed = decide_scheduled_job(sj(spec, paused.status), [], later)
    assert resumed.create == []
    assert resumed.status is not None
    assert resumed.status["nextScheduleTime"] == stamp(FIRE_10 + datetime.timedelta(hours=1))
    assert not resumed.status.get("missedRuns")
    assert resumed.requeue_after == pytest.approx(40 * 60 - 5)
    at_fire = decide_scheduled_job(
        sj(spec, resumed.status), [], FIRE_10 + datetime.timedelta(hours=1, seconds=1)
    )
    assert [r.fire for r in at_fire.create] == [FIRE_10 + datetime.timedelta(hours=1)]


def test_fires_missed_while_the_operator_was_down_still_follow_the_policy() -> None:
    """Only a pause skips: fires after the last one recorded while paused, seen for the
    first time after resume (the operator was down), are missed and made up by policy."""
    status = {
        "lastScheduleTime": stamp(FIRE_10 - datetime.timedelta(hours=5)),
        "lastSkippedTime": stamp(FIRE_10 - datetime.timedelta(hours=3)),
        "skippedWhilePaused": 2,
    }
    spec = {"missedRunPolicy": {"policy": "RunOnce"}}
    plan = decide_scheduled_job(sj(spec, status), [], NOW)
    assert [r.fire for r in plan.create] == [FIRE_10]  # the on-time fire
    assert plan.status is not None and plan.status["missedRuns"] == 2  # 08:00 and 09:00

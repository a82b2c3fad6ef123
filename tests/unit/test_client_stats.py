"""The numbers behind the dashboard's charts and badges (jobwarden.client.stats,
objects.job_state): runs finished per minute, recent durations, a job's state."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from jobwarden.client.objects import JobState, job_state
from jobwarden.client.stats import active_totals, finished_per_minute, recent_durations

NOW = datetime.datetime(2026, 3, 1, 12, 30, 20, tzinfo=datetime.UTC)
JSON = dict[str, Any]


def ago(minutes: float) -> str:
    return (NOW - datetime.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def run(name: str, phase: str, done: float | None) -> JSON:
    status: JSON = {"phase": phase}
    if done is not None:
        status["completionTime"] = ago(done)
    return {"metadata": {"name": name, "namespace": "ns"}, "status": status}


def test_runs_are_counted_in_the_minute_they_finished() -> None:
    runs = [
        run("a", "Succeeded", 0.1),  # this minute
        run("b", "Failed", 0.2),
        run("c", "Succeeded", 5),
        run("d", "Cancelled", 59),  # the oldest minute of the window
        run("old", "Succeeded", 61),  # before it
        run("live", "Running", None),
        run("odd", "Succeeded", None),
    ]
    minutes = finished_per_minute(runs, [], NOW)
    assert len(minutes) == 60
    assert minutes[-1].start == NOW.replace(second=0)
    assert minutes[-1].counts == {"Succeeded": 1, "Failed": 1, "Cancelled": 0}
    assert minutes[-6].counts["Succeeded"] == 1
    assert minutes[0].counts["Cancelled"] == 1
    assert sum(m.total for m in minutes) == 4


def test_deleted_runs_count_once_from_their_jobs_history() -> None:
    job = {
        "metadata": {"name": "nightly", "namespace": "ns"},
        "status": {
            "history": [
                {"name": "gone", "phase": "Failed", "completionTime": ago(2)},
                {"name": "a", "phase": "Succeeded", "completionTime": ago(0.1)},  # still live
            ]
        },
    }
    minutes = finished_per_minute([run("a", "Succeeded", 0.1)], [job], NOW)
    assert sum(m.counts["Failed"] for m in minutes) == 1
    assert sum(m.counts["Succeeded"] for m in minutes) == 1


def test_recent_durations_are_the_newest_timed_runs_oldest_first() -> None:
    records: list[JSON] = [
        {"name": "r5", "durationSeconds": 5.0},
        {"name": "r4", "durationSeconds": None},
        {"name": "r3", "durationSeconds": 3},
        {"name": "r2", "durationSeconds": 2.0},
        {"name": "r1", "durationSeconds": 1.0},
    ]
    assert [r["name"] for r in recent_durations(records, limit=3)] == ["r2", "r3", "r5"]


@pytest.mark.parametrize(
    ("spec", "status", "state"),
    [
        ({}, {"phase": "Active"}, JobState.ACTIVE),
        ({"suspend": True}, {"phase": "Suspended"}, JobState.PAUSED),
        ({"suspend": True}, {"phase": "Active"}, JobState.PAUSED),  # not reconciled yet
        ({}, {"phase": "Active", "consecutiveFailures": 2}, JobState.FAILING),
        ({"suspend": True}, {"consecutiveFailures": 2}, JobState.PAUSED),
        ({}, {"phase": "Completed", "consecutiveFailures": 1}, JobState.COMPLETED),
        ({}, {"phase": "Cancelled"}, JobState.CANCELLED),
        ({"cancel": True}, {"phase": "Active"}, JobState.CANCELLED),
        ({}, {}, JobState.ACTIVE),
    ],
)
def test_a_jobs_state(spec: JSON, status: JSON, state: JobState) -> None:
    assert job_state({"spec": spec, "status": status}) is state


def test_active_totals_count_by_kind_by_phase_and_by_both() -> None:
    def live(kind: str, phase: str | None) -> JSON:
        return {"kind": kind, "status": {"phase": phase} if phase else {}}

    objects = [
        live("JobRun", "Running"),
        live("JobRun", "Running"),
        live("JobRun", "Queued"),
        live("Export", "Queued"),
        live("Export", None),  # not seen by the operator yet
    ]
    assert active_totals(objects) == {
        "total": 5,
        "byKind": {"Export": 2, "JobRun": 3},
        "byPhase": {"New": 1, "Queued": 2, "Running": 2},
        "byKindAndPhase": {
            "Export": {"New": 1, "Queued": 1},
            "JobRun": {"Queued": 1, "Running": 2},
        },
    }
    assert active_totals([]) == {"total": 0, "byKind": {}, "byPhase": {}, "byKindAndPhase": {}}

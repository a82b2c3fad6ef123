"""Projections of raw API objects: PodView, RunView, RunSettings."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

import pytest

from jobwarden.api import constants as c
from jobwarden.api.enums import Priority, RunPhase
from jobwarden.core.backoff import Backoff
from jobwarden.core.observed import TRACKING_FINALIZER, PodView, RunSettings, RunView, Termination
from tests.unit.factories import NAMESPACE, RUN, RUN_UID, T0, at, pod_body, run_body

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


# -------------------------------------------------------------------------- pods
@dataclass(frozen=True)
class PodCase:
    body: dict[str, Any]
    phase: str
    alive: bool
    termination: Termination | None
    running_since: datetime.datetime | None = None
    deletion_requested: datetime.datetime | None = None
    deletion_deadline: datetime.datetime | None = None
    tracked: bool = True
    attempt: int = 1


def terminated(code: int, reason: str, message: str = "", finished: float = 5) -> Termination:
    return Termination(exit_code=code, reason=reason, message=message, finished_at=at(finished))


POD_CASES = [
    pytest.param(PodCase(pod_body(phase="Pending"), "Pending", True, None), id="pending"),
    pytest.param(
        PodCase(pod_body(running_since=at(2)), "Running", True, None, running_since=at(2)),
        id="running",
    ),
    pytest.param(
        PodCase(pod_body(exit_code=0, finished_at=at(5)), "Succeeded", False,
                terminated(0, "Completed")),
        id="exit 0",
    ),
    pytest.param(
        PodCase(pod_body(exit_code=1, finished_at=at(5)), "Failed", False,
                terminated(1, "Error")),
        id="exit 1",
    ),
    pytest.param(
        PodCase(pod_body(exit_code=143, finished_at=at(5), message="  stopped cleanly\n"),
                "Failed", False, terminated(143, "Error", "stopped cleanly")),
        id="exit 143 with termination message (stripped)",
    ),
    pytest.param(
        PodCase(pod_body(exit_code=137, reason="OOMKilled", finished_at=at(5)), "Failed",
                False, terminated(137, "OOMKilled")),
        id="exit 137 OOMKilled",
    ),
    pytest.param(
        PodCase(pod_body(exit_code=2, phase="Running", finished_at=at(5)), "Failed", False,
                terminated(2, "Error")),
        id="terminated container is final even before the pod phase follows",
    ),
    pytest.param(
        PodCase(pod_body(phase="Succeeded", container_statuses=[]), "Succeeded", False,
                Termination(0, "Succeeded", "", None)),
        id="phase Succeeded without container statuses: exit 0",
    ),
    pytest.param(
        PodCase(
            {**pod_body(phase="Failed", container_statuses=[]),
             "status": {"phase": "Failed", "reason": "Evicted", "message": "node pressure"}},
            "Failed", False, Termination(1, "Evicted", "node pressure", None)),
        id="phase Failed (evicted) without container statuses: exit 1 with pod reason",
    ),
    pytest.param(
        PodCase(pod_body(phase="Running", container_statuses=[{"name": "main"}]), "Running",
                True, None),
        id="container status without state",
    ),
    pytest.param(
        PodCase(
            pod_body(phase="Running", container_statuses=[
                {"name": "main", "state": {"terminated": {"reason": "Unknown"}}}]),
            "Running", False, Termination(0, "Unknown", "", None)),
        id="terminated without exitCode or finishedAt",
    ),
    pytest.param(
        PodCase(
            pod_body(running_since=at(1), deletion_timestamp=at(40), deletion_grace=30),
            "Running", True, None, running_since=at(1), deletion_requested=at(10),
            deletion_deadline=at(40)),
        id="deleting with grace: requested = deadline - grace",
    ),
    pytest.param(
        PodCase(pod_body(running_since=at(1), deletion_timestamp=at(40)),
                "Running", True, None, running_since=at(1), deletion_requested=at(40),
                deletion_deadline=at(40)),
        id="deleting without grace recorded: requested = deadline",
    ),
    pytest.param(
        PodCase(pod_body(running_since=at(1), deletion_timestamp=at(10), deletion_grace=0),
                "Running", True, None, running_since=at(1), deletion_requested=at(10),
                deletion_deadline=at(10)),
        id="force-deleted: grace 0",
    ),
    pytest.param(
        PodCase(pod_body(exit_code=0, finished_at=at(5), tracked=False), "Succeeded", False,
                terminated(0, "Completed"), tracked=False),
        id="finalizer released",
    ),
    pytest.param(
        PodCase(pod_body(phase="Pending", labels={}), "Pending", True, None, attempt=0),
        id="no attempt label: attempt 0",
    ),
    pytest.param(
        PodCase(pod_body(phase="Pending", labels={c.LABEL_ATTEMPT: "two"}), "Pending", True,
                None, attempt=0),
        id="bad attempt label: attempt 0",
    ),
    pytest.param(
        PodCase(pod_body(7, phase="Pending"), "Pending", True, None, attempt=7),
        id="attempt from label",
    ),
]  # fmt: skip


@pytest.mark.parametrize("case", POD_CASES)
def test_pod_view(case: PodCase) -> None:
    pod = PodView.from_body(case.body)
    assert pod.phase == case.phase
    assert pod.alive is case.alive
    assert pod.termination == case.termination
    assert pod.running_since == case.running_since
    assert pod.deletion_requested == case.deletion_requested
    assert pod.deletion_deadline == case.deletion_deadline
    assert pod.tracked is case.tracked
    assert pod.attempt == case.attempt


def test_pod_view_identity() -> None:
    pod = PodView.from_body(pod_body(3, created=at(7)))
    assert (pod.name, pod.uid, pod.created) == (f"{RUN}-3", f"pod-uid-{RUN}-3", at(7))
    assert pod.resource_version == "2000"


def test_pod_view_tracked_among_other_finalizers() -> None:
    body = pod_body()
    body["metadata"]["finalizers"] = ["example.com/other", TRACKING_FINALIZER]
    assert PodView.from_body(body).tracked
    body["metadata"]["finalizers"] = ["example.com/other"]
    assert not PodView.from_body(body).tracked


def test_pod_view_of_an_empty_object() -> None:
    pod = PodView.from_body({})
    assert (pod.name, pod.uid, pod.attempt, pod.phase) == ("", "", 0, "Pending")
    assert pod.created == EPOCH
    assert pod.alive and not pod.tracked
    assert pod.termination is None and pod.deletion_requested is None


def test_pod_view_reads_the_first_container_only() -> None:
    body = pod_body(
        phase="Running",
        container_statuses=[
            {"name": "main", "state": {"running": {"startedAt": "2025-03-01T12:00:01Z"}}},
            {"name": "sidecar", "state": {"terminated": {"exitCode": 1}}},
        ],
    )
    pod = PodView.from_body(body)
    assert pod.alive and pod.termination is None and pod.running_since == at(1)


# -------------------------------------------------------------------------- runs
def test_run_view_of_a_new_run_has_defaults() -> None:
    run = RunView.from_body(run_body(created=at(-60)))
    assert run.key == (c.KIND_JOB_RUN, NAMESPACE, RUN)
    assert (run.uid, run.generation, run.resource_version) == (RUN_UID, 1, "1000")
    assert run.created == at(-60)
    assert not run.deleting
    assert run.phase is RunPhase.QUEUED
    assert run.attempt == 0
    assert run.status == {}
    assert run.annotations == {}
    assert run.settings == RunSettings()
    assert run.settings == RunSettings(
        priority=Priority.MEDIUM,
        timeout_seconds=1800,
        retries=3,
        backoff=Backoff(60, 2, 3600),
        cancel_grace_period_seconds=30,
        cancel=False,
        stuck_after_seconds=300,
    )


@pytest.mark.parametrize(
    ("status", "phase", "attempt"),
    [
        pytest.param({}, RunPhase.QUEUED, 0, id="never written"),
        pytest.param({"phase": None, "attempt": None}, RunPhase.QUEUED, 0, id="nulls"),
        pytest.param({"phase": "Running", "attempt": 2}, RunPhase.RUNNING, 2, id="running"),
        pytest.param({"phase": "Cancelling", "attempt": 1}, RunPhase.CANCELLING, 1,
                     id="cancelling"),
        pytest.param({"phase": "Succeeded", "attempt": 3}, RunPhase.SUCCEEDED, 3,
                     id="succeeded"),
        pytest.param({"phase": "Exploded"}, RunPhase.QUEUED, 0, id="unknown phase: Queued"),
    ],
)  # fmt: skip
def test_run_view_phase_and_attempt(status: dict[str, Any], phase: RunPhase, attempt: int) -> None:
    run = RunView.from_body(run_body(status=status))
    assert run.phase is phase
    assert run.attempt == attempt


def test_run_view_metadata() -> None:
    annotations = {c.ANNOTATION_CANCEL_REQUESTED_BY: "alice"}
    run = RunView.from_body(
        run_body(kind=c.KIND_EXPORT, generation=4, annotations=annotations, deleting=True)
    )
    assert run.key == (c.KIND_EXPORT, NAMESPACE, RUN)
    assert run.generation == 4
    assert run.deleting
    assert run.annotations == annotations


def test_run_view_of_an_empty_object() -> None:
    run = RunView.from_body({})
    assert run.key == ("", "", "")
    assert run.generation == 1
    assert run.created == EPOCH
    assert run.settings == RunSettings()


def test_run_view_does_not_alias_the_body() -> None:
    body = run_body(status={"phase": "Running"}, annotations={"a": "1"})
    run = RunView.from_body(body)
    body["status"]["phase"] = "Failed"
    body["metadata"]["annotations"]["a"] = "2"
    assert run.status["phase"] == "Running"
    assert run.annotations["a"] == "1"


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        pytest.param({}, RunSettings(), id="empty: defaults"),
        pytest.param({"priority": "High"}, RunSettings(priority=Priority.HIGH), id="High"),
        pytest.param({"priority": "Low"}, RunSettings(priority=Priority.LOW), id="Low"),
        pytest.param({"priority": "Urgent"}, RunSettings(), id="bad priority: Medium"),
        pytest.param({"priority": "high"}, RunSettings(), id="wrong case: Medium"),
        pytest.param({"priority": None}, RunSettings(), id="null priority: Medium"),
        pytest.param(
            {"timeoutSeconds": 5, "retries": 0, "cancelGracePeriodSeconds": 3, "cancel": True},
            RunSettings(timeout_seconds=5, retries=0, cancel_grace_period_seconds=3, cancel=True),
            id="explicit values",
        ),
        pytest.param(
            {"retryBackoff": {"initialSeconds": 10, "factor": 1.5, "maxSeconds": 100}},
            RunSettings(backoff=Backoff(10, 1.5, 100)),
            id="backoff",
        ),
        pytest.param(
            {"retryBackoff": {"factor": 3}},
            RunSettings(backoff=Backoff(60, 3, 3600)),
            id="partial backoff: the rest defaulted",
        ),
        pytest.param({"retryBackoff": None}, RunSettings(), id="null backoff"),
        pytest.param({"stuckAfterSeconds": 600}, RunSettings(stuck_after_seconds=600),
                     id="stuckAfterSeconds"),
        pytest.param({"stuckAfterSeconds": 0}, RunSettings(stuck_after_seconds=None),
                     id="stuckAfterSeconds 0: off"),
        pytest.param({}, RunSettings(stuck_after_seconds=300), id="stuckAfterSeconds: 300"),
    ],
)  # fmt: skip
def test_run_settings_from_spec(spec: dict[str, Any], want: RunSettings) -> None:
    assert RunSettings.from_spec(spec) == want


def test_pod_times_come_from_the_body() -> None:
    pod = PodView.from_body(pod_body(created=T0, running_since=at(3)))
    assert pod.created == T0 and pod.running_since == at(3)

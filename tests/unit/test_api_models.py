"""The API models: defaults, enums, camelCase round trips, inheritance of run settings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from jobwarden.api.common import Condition
from jobwarden.api.enums import (
    ConcurrencyPolicy,
    ConditionStatus,
    ExportFormat,
    MissedRunPolicy,
    Priority,
    RunPhase,
    Trigger,
)
from jobwarden.api.export import Export, ExportSpec
from jobwarden.api.jobrun import JobRun, JobRunSpec, JobRunStatus, Snapshot
from jobwarden.api.scheduledjob import ScheduledJob, ScheduledJobSpec
from jobwarden.api.settings import RetryBackoff, RunSettings
from jobwarden.api.workerquota import WorkerQuotaSpec

TEMPLATE: dict[str, Any] = {"spec": {"containers": [{"name": "main", "image": "busybox"}]}}
EXPORT: dict[str, Any] = {
    "source": {"postgres": {"secretRef": {"name": "db"}}},
    "query": "SELECT 1",
    "destination": {"volume": "out", "path": "x.csv"},
    "volumes": [{"name": "out", "emptyDir": {}}],
}


def test_scheduled_job_defaults() -> None:
    spec = ScheduledJobSpec.model_validate({"template": TEMPLATE})
    assert spec.schedule is None  # one-time job
    assert spec.time_zone == "UTC"
    assert spec.suspend is False
    assert spec.concurrency_policy is ConcurrencyPolicy.FORBID
    assert spec.starting_deadline_seconds is None
    assert spec.missed_run_policy.policy is MissedRunPolicy.RUN_ONCE
    assert spec.missed_run_policy.max_runs == 10
    assert spec.sensitive is False
    assert spec.successful_runs_history_limit == 10
    assert spec.failed_runs_history_limit == 10
    assert spec.run_retention_days == 90
    assert spec.cancel is False
    assert spec.settings() == RunSettings(
        priority=Priority.MEDIUM,
        timeout_seconds=1800,
        retries=3,
        retry_backoff=RetryBackoff(initial_seconds=60, factor=2, max_seconds=3600),
        cancel_grace_period_seconds=30,
        stuck_after_seconds=300,
    )


def test_nested_defaults_are_not_shared_between_instances() -> None:
    first = ScheduledJobSpec.model_validate({"template": TEMPLATE})
    second = ScheduledJobSpec.model_validate({"template": TEMPLATE})
    assert first.retry_backoff is not second.retry_backoff
    assert first.missed_run_policy is not second.missed_run_policy


def test_export_and_quota_defaults() -> None:
    spec = ExportSpec.model_validate(EXPORT)
    assert spec.format is ExportFormat.CSV
    assert spec.batch_size == 5000
    assert spec.source.postgres is not None
    assert spec.source.postgres.secret_ref.key == "uri"
    assert spec.worker.image is None
    assert spec.timeout_seconds == 1800
    assert WorkerQuotaSpec.model_validate({"maxRunning": 4}).max_running == 4


def test_jobrun_leaves_settings_unset_and_defaults_trigger_manual() -> None:
    spec = JobRunSpec.model_validate({"scheduledJobRef": {"name": "nightly"}})
    assert spec.trigger is Trigger.MANUAL
    assert spec.priority is None
    assert spec.timeout_seconds is None
    assert spec.retry_backoff is None
    assert spec.cancel is False


@pytest.mark.parametrize(
    ("value", "expected"),
    [("High", Priority.HIGH), ("Medium", Priority.MEDIUM), ("Low", Priority.LOW)],
)
def test_priority_parses_exact_values(value: str, expected: Priority) -> None:
    assert ScheduledJobSpec.model_validate({"template": TEMPLATE, "priority": value}).priority is (
        expected
    )


@pytest.mark.parametrize("value", ["high", "Urgent", ""])
def test_priority_rejects_other_spellings(value: str) -> None:
    with pytest.raises(ValidationError):
        ScheduledJobSpec.model_validate({"template": TEMPLATE, "priority": value})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timeoutSeconds", 0),
        ("timeoutSeconds", 14401),
        ("retries", 11),
        ("retries", -1),
        ("cancelGracePeriodSeconds", -1),
        ("cancelGracePeriodSeconds", 601),
    ],
)
def test_models_share_the_crd_bounds(field: str, value: int) -> None:
    with pytest.raises(ValidationError):
        JobRunSpec.model_validate({"scheduledJobRef": {"name": "x"}, field: value})


def test_priority_rank_orders_high_first() -> None:
    assert sorted([Priority.LOW, Priority.HIGH, Priority.MEDIUM], key=lambda p: p.rank) == [
        Priority.HIGH,
        Priority.MEDIUM,
        Priority.LOW,
    ]


@pytest.mark.parametrize(
    ("phase", "terminal"),
    [
        (RunPhase.QUEUED, False),
        (RunPhase.RUNNING, False),
        (RunPhase.RETRYING, False),
        (RunPhase.CANCELLING, False),
        (RunPhase.SUCCEEDED, True),
        (RunPhase.FAILED, True),
        (RunPhase.CANCELLED, True),
    ],
)
def test_terminal_phases(phase: RunPhase, terminal: bool) -> None:
    assert phase.terminal is terminal


def test_camel_case_round_trip() -> None:
    body = {
        "schedule": "0 2 * * *",
        "timeZone": "Europe/Berlin",
        "concurrencyPolicy": "Replace",
        "startingDeadlineSeconds": 300,
        "missedRunPolicy": {"policy": "RunAll", "maxRuns": 3},
        "retryBackoff": {"initialSeconds": 1, "factor": 1.5, "maxSeconds": 10},
        "stuckAfterSeconds": 120,
        "template": TEMPLATE,
        "sensitive": True,
    }
    spec = ScheduledJobSpec.model_validate(body)
    assert spec.concurrency_policy is ConcurrencyPolicy.REPLACE
    assert spec.missed_run_policy.max_runs == 3
    dumped = spec.to_k8s()
    assert ScheduledJobSpec.model_validate(dumped) == spec
    for key, value in body.items():
        assert dumped[key] == value


def test_python_names_are_accepted_too() -> None:
    spec = JobRunSpec(scheduled_job_ref={"name": "nightly"}, timeout_seconds=60)
    assert spec.to_k8s() == {
        "scheduledJobRef": {"name": "nightly"},
        "timeoutSeconds": 60,
        "trigger": "Manual",
        "cancel": False,
    }


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    spec = JobRunSpec.model_validate({"scheduledJobRef": {"name": "x"}, "fromTheFuture": 1})
    assert "fromTheFuture" not in spec.to_k8s()


def test_to_k8s_omits_unset_fields_and_writes_rfc3339_times() -> None:
    now = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    condition = Condition(
        type="Ready",
        status=ConditionStatus.TRUE,
        reason="Succeeded",
        message="",
        last_transition_time=now,
    )
    assert condition.to_k8s() == {
        "type": "Ready",
        "status": "True",
        "lastTransitionTime": "2026-03-29T01:00:00Z",
        "reason": "Succeeded",
        "message": "",
    }


def test_run_of_a_scheduled_job_inherits_its_settings() -> None:
    job = ScheduledJobSpec.model_validate(
        {"template": TEMPLATE, "priority": "High", "timeoutSeconds": 7200, "retries": 1}
    )
    run = JobRunSpec.model_validate({"scheduledJobRef": {"name": "x"}, "retries": 5})
    effective = run.effective_settings(job.settings())
    assert effective.priority is Priority.HIGH
    assert effective.timeout_seconds == 7200
    assert effective.retries == 5  # the run's own override wins
    assert effective.cancel_grace_period_seconds == 30


def test_standalone_run_falls_back_to_the_defaults() -> None:
    run = JobRunSpec.model_validate({"template": TEMPLATE, "timeoutSeconds": 60})
    assert run.effective_settings() == RunSettings(timeout_seconds=60)


def test_effective_settings_accepts_a_whole_spec_as_base() -> None:
    job = ScheduledJobSpec.model_validate({"template": TEMPLATE, "retries": 0})
    run = JobRunSpec.model_validate({"scheduledJobRef": {"name": "x"}})
    effective = run.effective_settings(job)
    assert type(effective) is RunSettings
    assert effective.retries == 0


@pytest.mark.parametrize(
    ("retry", "delay"), [(1, 60), (2, 120), (3, 240), (6, 1920), (7, 3600), (20, 3600)]
)
def test_retry_backoff(retry: int, delay: float) -> None:
    assert RetryBackoff().delay_seconds(retry) == delay


def test_fast_backoff_for_tests() -> None:
    backoff = RetryBackoff(initial_seconds=1, factor=1, max_seconds=1)
    assert [backoff.delay_seconds(n) for n in (1, 2, 3)] == [1, 1, 1]


def test_run_template_prefers_the_snapshot() -> None:
    now = datetime.now(UTC)
    snapshot_template = {"spec": {"containers": [{"name": "main", "image": "v1"}]}}
    run = JobRun.model_validate(
        {
            "metadata": {"name": "r"},
            "spec": {"scheduledJobRef": {"name": "x"}},
            "status": JobRunStatus(
                snapshot=Snapshot(time=now, settings=RunSettings(), template=snapshot_template)
            ).to_k8s(),
        }
    )
    assert run.effective_template() == snapshot_template
    standalone = JobRun.model_validate({"spec": {"template": TEMPLATE}})
    assert standalone.effective_template() == TEMPLATE


def test_whole_objects_parse_with_empty_status() -> None:
    job = ScheduledJob.model_validate({"metadata": {"name": "j"}, "spec": {"template": TEMPLATE}})
    assert job.status.phase is None
    assert job.status.active == []
    export = Export.model_validate({"spec": EXPORT})
    assert export.status.artifact is None
    assert export.settings().retries == 3

"""The CRDs on the real API server: what users get wrong is rejected, with a message
that says what to fix; what they get right is accepted, defaulted and printed."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes import client

from jobwarden.api.common import Condition, LogEntry
from jobwarden.api.constants import GROUP, VERSION
from jobwarden.api.enums import ConditionStatus, RunPhase, ScheduledJobPhase, Trigger
from jobwarden.api.export import Artifact, ExportStatus
from jobwarden.api.jobrun import JobRunStatus, Snapshot
from jobwarden.api.runstatus import Attempt, Cancellation, Progress, QueueInfo
from jobwarden.api.scheduledjob import ActiveRun, RunSummary, ScheduledJobSpec, ScheduledJobStatus
from jobwarden.api.settings import RunSettings
from jobwarden.api.workerquota import QueuedByPriority, WorkerQuotaStatus
from tests.support.cluster import TestCluster

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("crds_installed")]

Manifest = dict[str, Any]
API_VERSION = f"{GROUP}/{VERSION}"
TEMPLATE: Manifest = {
    "metadata": {"annotations": {"sim.jobwarden.dev/run-seconds": "1"}},
    "spec": {"containers": [{"name": "main", "image": "busybox:1.36", "args": ["true"]}]},
}


def _object(kind: str, name: str, spec: Manifest) -> Manifest:
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": name}, "spec": spec}


def scheduled_job(name: str = "nightly", **spec: Any) -> Manifest:
    """A valid ScheduledJob, with `spec` fields replaced (None removes one)."""
    base = {"schedule": "0 2 * * *", "timeZone": "Europe/Berlin", "template": TEMPLATE}
    return _object("ScheduledJob", name, _apply(base, spec))


def job_run(name: str = "run-1", **spec: Any) -> Manifest:
    """A valid JobRun of a ScheduledJob, with `spec` fields replaced (None removes)."""
    return _object("JobRun", name, _apply({"scheduledJobRef": {"name": "nightly"}}, spec))


def standalone_run(name: str = "solo-1", **spec: Any) -> Manifest:
    """A valid standalone JobRun (own template)."""
    return _object("JobRun", name, _apply({"template": TEMPLATE}, spec))


def export(name: str = "orders", **spec: Any) -> Manifest:
    """A valid PostgreSQL-to-CSV Export, with `spec` fields replaced (None removes)."""
    base = {
        "source": {"postgres": {"secretRef": {"name": "orders-db"}}},
        "query": "SELECT * FROM orders",
        "format": "csv",
        "destination": {"volume": "out", "path": "orders.csv"},
        "volumes": [{"name": "out", "emptyDir": {}}],
    }
    return _object("Export", name, _apply(base, spec))


def worker_quota(name: str = "default", **spec: Any) -> Manifest:
    """A valid WorkerQuota, with `spec` fields replaced (None removes)."""
    return _object("WorkerQuota", name, _apply({"maxRunning": 3}, spec))


def _apply(base: Manifest, changes: Manifest) -> Manifest:
    merged = dict(base)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _container(**fields: Any) -> Manifest:
    return {"spec": {"containers": [{"name": "main", "image": "busybox:1.36", **fields}]}}


def create(cluster: TestCluster, namespace: str, manifest: Manifest, *, check: bool = False) -> Any:
    """`kubectl create` as a user would (strict field validation is kubectl's default)."""
    return cluster.kubectl(
        "create", "-n", namespace, "-f", "-", input=json.dumps(manifest), check=check
    )


@dataclass(frozen=True)
class Rejected:
    """A manifest the API server must refuse, and words its answer must contain."""

    manifest: Manifest
    expected: tuple[str, ...]


def rejected(manifest: Manifest, *expected: str) -> Rejected:
    return Rejected(manifest, expected)


LONG_NAME = "x" * 60
CREATE_CASES: dict[str, Rejected] = {
    # -- run settings (shared by the three kinds)
    "priority Urgent": rejected(
        job_run(priority="Urgent"),
        'spec.priority: Unsupported value: "Urgent"',
        '"High", "Medium", "Low"',
    ),
    "priority lower-case high": rejected(
        scheduled_job(priority="high"), 'Unsupported value: "high"', '"High"'
    ),
    "timeoutSeconds 0": rejected(
        job_run(timeoutSeconds=0), "spec.timeoutSeconds", "greater than or equal to 1"
    ),
    "timeoutSeconds 20000": rejected(
        export(timeoutSeconds=20000), "spec.timeoutSeconds", "less than or equal to 14400"
    ),
    "timeoutSeconds as a string": rejected(
        scheduled_job(timeoutSeconds="30m"), "spec.timeoutSeconds", "must be of type integer"
    ),
    "retries 11": rejected(scheduled_job(retries=11), "spec.retries", "less than or equal to 10"),
    "retries negative": rejected(job_run(retries=-1), "spec.retries", "greater than or equal to 0"),
    "cancelGracePeriodSeconds -1": rejected(
        job_run(cancelGracePeriodSeconds=-1),
        "spec.cancelGracePeriodSeconds",
        "greater than or equal to 0",
    ),
    "cancelGracePeriodSeconds 601": rejected(
        export(cancelGracePeriodSeconds=601),
        "spec.cancelGracePeriodSeconds",
        "less than or equal to 600",
    ),
    "retryBackoff initialSeconds 0": rejected(
        scheduled_job(retryBackoff={"initialSeconds": 0}),
        "spec.retryBackoff.initialSeconds",
        "greater than or equal to 1",
    ),
    "retryBackoff max below initial": rejected(
        scheduled_job(retryBackoff={"initialSeconds": 600, "maxSeconds": 60}),
        "retryBackoff.maxSeconds must be at least initialSeconds",
    ),
    "stuckAfterSeconds -1": rejected(
        job_run(stuckAfterSeconds=-1), "spec.stuckAfterSeconds", "greater than or equal to 0"
    ),
    "cancel as a string": rejected(job_run(cancel="yes"), "spec.cancel", "must be of type boolean"),
    # -- strict field validation: typos are errors, not silently dropped fields
    "unknown field": rejected(scheduled_job(foo=1), 'unknown field "spec.foo"'),
    "timezone misspelt": rejected(
        scheduled_job(timezone="Europe/Berlin"), 'unknown field "spec.timezone"'
    ),
    "retries at top level": rejected({**job_run(), "retries": 3}, 'unknown field "retries"'),
    # -- ScheduledJob
    "schedule with four fields": rejected(
        scheduled_job(schedule="0 2 * *"), "spec.schedule", "five cron fields"
    ),
    "schedule with six fields": rejected(
        scheduled_job(schedule="0 0 2 * * *"), "spec.schedule", "five cron fields"
    ),
    "schedule with a time zone prefix": rejected(
        scheduled_job(schedule="CRON_TZ=Europe/Berlin 0 2 * * *"),
        "spec.schedule",
        "spec.timeZone",
    ),
    "schedule unknown macro": rejected(
        scheduled_job(schedule="@reboot"), "spec.schedule", "or a macro such as @daily"
    ),
    "timeZone not IANA": rejected(
        scheduled_job(timeZone="Berlin time"), "spec.timeZone", "IANA time zone name"
    ),
    "concurrencyPolicy lower case": rejected(
        scheduled_job(concurrencyPolicy="forbid"),
        'spec.concurrencyPolicy: Unsupported value: "forbid"',
        '"Allow", "Forbid", "Replace"',
    ),
    "missedRunPolicy unknown": rejected(
        scheduled_job(missedRunPolicy={"policy": "All"}),
        'spec.missedRunPolicy.policy: Unsupported value: "All"',
        '"Skip", "RunOnce", "RunAll"',
    ),
    "missedRunPolicy as a string": rejected(
        scheduled_job(missedRunPolicy="RunAll"),
        "spec.missedRunPolicy",
        "must be of type object",
    ),
    "missedRunPolicy maxRuns 0": rejected(
        scheduled_job(missedRunPolicy={"policy": "RunAll", "maxRuns": 0}),
        "spec.missedRunPolicy.maxRuns",
        "greater than or equal to 1",
    ),
    "startingDeadlineSeconds 0": rejected(
        scheduled_job(startingDeadlineSeconds=0),
        "spec.startingDeadlineSeconds",
        "greater than or equal to 1",
    ),
    "successfulRunsHistoryLimit negative": rejected(
        scheduled_job(successfulRunsHistoryLimit=-1),
        "spec.successfulRunsHistoryLimit",
        "greater than or equal to 0",
    ),
    "runRetentionDays 0": rejected(
        scheduled_job(runRetentionDays=0), "spec.runRetentionDays", "greater than 0"
    ),
    "no template": rejected(scheduled_job(template=None), "spec.template: Required value"),
    "template without containers": rejected(
        scheduled_job(template={"spec": {}}), "spec.template.spec.containers: Required value"
    ),
    "container without name": rejected(
        scheduled_job(template={"spec": {"containers": [{"image": "busybox"}]}}),
        "spec.template.spec.containers[0].name: Required value",
    ),
    "restartPolicy OnFailure": rejected(
        scheduled_job(
            template={
                **_container(),
                "spec": {**_container()["spec"], "restartPolicy": "OnFailure"},
            }
        ),
        'spec.template.spec.restartPolicy: Unsupported value: "OnFailure"',
        '"Never"',
    ),
    "memory with a space": rejected(
        scheduled_job(template=_container(resources={"limits": {"memory": "2 Gi"}})),
        "spec.template.spec.containers[0].resources.limits.memory",
        "should match",
    ),
    "env as a map": rejected(
        scheduled_job(template=_container(env={"LOG_LEVEL": "debug"})),
        'unknown field "spec.template.spec.containers[0].env.LOG_LEVEL"',
    ),
    "template metadata name": rejected(
        scheduled_job(template={**TEMPLATE, "metadata": {"name": "my-pod"}}),
        'unknown field "spec.template.metadata.name"',
    ),
    "ScheduledJob name too long": rejected(
        scheduled_job(name="n" * 41), "at most 40 characters", "<name>-<10-digit fire time>"
    ),
    # -- JobRun
    "JobRun with scheduledJobRef and template": rejected(
        job_run(template=TEMPLATE), "set either scheduledJobRef", "or template", "not both"
    ),
    "JobRun with neither scheduledJobRef nor template": rejected(
        job_run(scheduledJobRef=None),
        "one of scheduledJobRef (run a ScheduledJob) or template (a standalone run) is required",
    ),
    "JobRun scheduledJobRef without name": rejected(
        job_run(scheduledJobRef={}), "spec.scheduledJobRef.name: Required value"
    ),
    "JobRun scheduledJobRef not a name": rejected(
        job_run(scheduledJobRef={"name": "Nightly_Report"}),
        "spec.scheduledJobRef.name",
        "should match",
    ),
    "JobRun trigger unknown": rejected(
        job_run(trigger="Now"),
        'spec.trigger: Unsupported value: "Now"',
        '"Schedule", "Manual", "Rerun"',
    ),
    "JobRun trigger Schedule by hand": rejected(
        job_run(trigger="Schedule"), "trigger Schedule is for runs the operator creates"
    ),
    "JobRun trigger Rerun without rerunOf": rejected(
        job_run(trigger="Rerun"), "trigger Rerun needs rerunOf"
    ),
    "JobRun scheduledTime not a time": rejected(
        job_run(trigger="Schedule", scheduledTime="tonight"),
        "spec.scheduledTime",
        "date-time",
    ),
    "JobRun name too long": rejected(
        job_run(name=LONG_NAME[:53]), "at most 52 characters", "<name>-<attempt>"
    ),
    # -- Export
    "Export without query": rejected(export(query=None), "spec.query: Required value"),
    "Export empty query": rejected(export(query=""), "spec.query", "at least 1 chars long"),
    "Export format unknown": rejected(
        export(format="xlsx"),
        'spec.format: Unsupported value: "xlsx"',
        '"csv", "jsonl", "geojson"',
    ),
    "Export format upper case": rejected(
        export(format="CSV"), 'spec.format: Unsupported value: "CSV"'
    ),
    "Export geojson without geometryColumn": rejected(
        export(format="geojson"), "spec.geometryColumn", "format geojson needs geometryColumn"
    ),
    "Export geometryColumn with csv": rejected(
        export(geometryColumn="geom"),
        "spec.geometryColumn",
        "only used with format geojson",
    ),
    "Export without source": rejected(export(source=None), "spec.source: Required value"),
    "Export with two sources": rejected(
        export(
            source={
                "postgres": {"secretRef": {"name": "db"}},
                "sqlite": {"volume": "out", "path": "app.db"},
            }
        ),
        "spec.source",
        "exactly one of postgres or sqlite",
    ),
    "Export postgres without Secret name": rejected(
        export(source={"postgres": {"secretRef": {"key": "uri"}}}),
        "spec.source.postgres.secretRef.name: Required value",
    ),
    "Export sqlite volume not listed": rejected(
        export(source={"sqlite": {"volume": "data", "path": "app.db"}}),
        "spec.source.sqlite.volume",
        "must name a volume listed in spec.volumes",
    ),
    "Export destination volume not listed": rejected(
        export(destination={"volume": "reports", "path": "orders.csv"}),
        "spec.destination.volume",
        "must name a volume listed in spec.volumes",
    ),
    "Export without volumes": rejected(
        export(volumes=None), "destination.volume must name a volume listed in spec.volumes"
    ),
    "Export absolute destination path": rejected(
        export(destination={"volume": "out", "path": "/data/orders.csv"}),
        "spec.destination.path",
        "must be relative",
    ),
    "Export destination path escaping the volume": rejected(
        export(destination={"volume": "out", "path": "reports/../../etc/passwd"}),
        "spec.destination.path",
        "must not contain '..'",
    ),
    "Export batchSize 0": rejected(
        export(batchSize=0), "spec.batchSize", "greater than or equal to 1"
    ),
    "Export worker imagePullPolicy": rejected(
        export(worker={"imagePullPolicy": "always"}),
        'spec.worker.imagePullPolicy: Unsupported value: "always"',
    ),
    "Export name too long": rejected(export(name=LONG_NAME[:53]), "at most 52 characters"),
    # -- WorkerQuota
    "WorkerQuota maxRunning 0": rejected(
        worker_quota(maxRunning=0), "spec.maxRunning", "greater than or equal to 1"
    ),
    "WorkerQuota maxRunning negative": rejected(
        worker_quota(maxRunning=-1), "spec.maxRunning", "greater than or equal to 1"
    ),
    "WorkerQuota maxRunning 1001": rejected(
        worker_quota(maxRunning=1001), "spec.maxRunning", "less than or equal to 1000"
    ),
    "WorkerQuota without maxRunning": rejected(
        worker_quota(maxRunning=None), "spec.maxRunning: Required value"
    ),
}


@pytest.mark.parametrize("case", list(CREATE_CASES.values()), ids=list(CREATE_CASES))
def test_create_is_rejected_with_a_clear_message(
    cluster: TestCluster, namespace: str, case: Rejected
) -> None:
    result = create(cluster, namespace, case.manifest)
    assert result.returncode != 0, f"accepted: {json.dumps(case.manifest)}"
    for expected in case.expected:
        assert expected in result.stderr, f"{expected!r} not in: {result.stderr}"


@dataclass(frozen=True)
class Edit:
    """An object that is created, then changed by `patches` (merge patches, in order)."""

    manifest: Manifest
    patches: tuple[Manifest, ...]
    expected: tuple[str, ...] = ()  # empty: the last patch is accepted


def edit(manifest: Manifest, *patches: Manifest, expect: tuple[str, ...] = ()) -> Edit:
    return Edit(manifest, patches, expect)


CANCEL = {"spec": {"cancel": True}}
UNCANCEL = {"spec": {"cancel": False}}
FINAL = ("spec.cancel", "cancel is final: it cannot be set back to false")
EDIT_CASES: dict[str, Edit] = {
    # Standalone runs: a run of a job that does not exist is failed at once by an
    # operator, if one runs (a file run earlier started it), and a finished run's
    # cancel is refused by its webhook before the schema is reached.
    "JobRun cancel true to false": edit(standalone_run(), CANCEL, UNCANCEL, expect=FINAL),
    "Export cancel true to false": edit(export(), CANCEL, UNCANCEL, expect=FINAL),
    "ScheduledJob cancel true to false": edit(scheduled_job(), CANCEL, UNCANCEL, expect=FINAL),
    "JobRun cancel removed after cancel": edit(
        standalone_run(), CANCEL, {"spec": {"cancel": None}}, expect=FINAL
    ),
    "JobRun template edited": edit(
        standalone_run(),
        {"spec": {"template": _container(image="busybox:1.37")}},
        expect=("spec.template", "template is immutable", "create a new JobRun instead"),
    ),
    "JobRun scheduledJobRef changed": edit(
        job_run(),
        {"spec": {"scheduledJobRef": {"name": "weekly"}}},
        expect=("spec.scheduledJobRef", "scheduledJobRef is immutable"),
    ),
    "JobRun setting added": edit(
        job_run(),
        {"spec": {"priority": "High"}},
        expect=("spec.priority", "priority cannot be added or removed"),
    ),
    "JobRun setting changed": edit(
        job_run(timeoutSeconds=60),
        {"spec": {"timeoutSeconds": 120}},
        expect=("spec.timeoutSeconds", "timeoutSeconds is immutable"),
    ),
    "JobRun setting removed": edit(
        job_run(retries=1),
        {"spec": {"retries": None}},
        expect=("spec.retries", "retries cannot be added or removed"),
    ),
    "JobRun switched to a template": edit(
        job_run(),
        {"spec": {"scheduledJobRef": None, "template": TEMPLATE}},
        expect=("spec.template", "cannot be added or removed"),
    ),
    "Export query edited": edit(
        export(),
        {"spec": {"query": "SELECT 1"}},
        expect=("spec.query", "query is immutable", "create a new Export instead"),
    ),
    "Export timeout edited": edit(
        export(),
        {"spec": {"timeoutSeconds": 60}},
        expect=("spec.timeoutSeconds", "timeoutSeconds is immutable"),
    ),
    "Export cancel together with another edit": edit(
        export(),
        {"spec": {"cancel": True, "batchSize": 10}},
        expect=("spec.batchSize", "batchSize is immutable"),
    ),
    # Accepted edits: the only thing that may change on runs, and ScheduledJobs freely.
    "JobRun cancelled": edit(standalone_run(), CANCEL),
    "Export cancelled": edit(export(), CANCEL),
    "ScheduledJob cancelled twice": edit(scheduled_job(), CANCEL, CANCEL),
    "ScheduledJob edited": edit(
        scheduled_job(),
        {"spec": {"schedule": "@hourly", "suspend": True, "template": _container(image="x:2")}},
    ),
    "WorkerQuota resized": edit(worker_quota(), {"spec": {"maxRunning": 20}}),
}


@pytest.mark.parametrize("case", list(EDIT_CASES.values()), ids=list(EDIT_CASES))
def test_edits(cluster: TestCluster, namespace: str, case: Edit) -> None:
    create(cluster, namespace, case.manifest, check=True)
    kind, name = case.manifest["kind"], case.manifest["metadata"]["name"]
    *earlier, last = case.patches
    for patch in earlier:
        cluster.kubectl(
            "patch", "-n", namespace, kind, name, "--type=merge", "-p", json.dumps(patch)
        )
    result = cluster.kubectl(
        "patch", "-n", namespace, kind, name, "--type=merge", "-p", json.dumps(last), check=False
    )
    if not case.expected:
        assert result.returncode == 0, result.stderr
        return
    assert result.returncode != 0, f"accepted: {json.dumps(last)}"
    for expected in case.expected:
        assert expected in result.stderr, f"{expected!r} not in: {result.stderr}"


def _get(cluster: TestCluster, namespace: str, kind: str, name: str) -> Manifest:
    out = cluster.kubectl("get", "-n", namespace, kind, name, "-o", "json").stdout
    result: Manifest = json.loads(out)
    return result


def test_defaults_match_the_models(cluster: TestCluster, namespace: str) -> None:
    """The API server fills in the same defaults the operator's models assume."""
    minimal = _object("ScheduledJob", "minimal", {"template": TEMPLATE})
    create(cluster, namespace, minimal, check=True)
    stored = _get(cluster, namespace, "ScheduledJob", "minimal")["spec"]
    expected = ScheduledJobSpec.model_validate({"template": TEMPLATE}).to_k8s()
    assert stored == json.loads(json.dumps(expected))


def test_a_jobrun_keeps_its_settings_unset_so_they_are_inherited(
    cluster: TestCluster, namespace: str
) -> None:
    create(cluster, namespace, job_run(), check=True)
    stored = _get(cluster, namespace, "JobRun", "run-1")["spec"]
    assert stored == {"scheduledJobRef": {"name": "nightly"}, "trigger": "Manual", "cancel": False}


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _run_status_fields() -> dict[str, Any]:
    now = _now()
    return {
        "observed_generation": 1,
        "phase": RunPhase.CANCELLED,
        "reason": "Cancelled",
        "message": "cancelled by alice after 2.1 s",
        "conditions": [
            Condition(
                type="Ready",
                status=ConditionStatus.FALSE,
                reason="Cancelled",
                message="cancelled",
                last_transition_time=now,
                observed_generation=1,
            ),
            Condition(
                type="Reconciling",
                status=ConditionStatus.FALSE,
                reason="Done",
                message="",
                last_transition_time=now,
            ),
        ],
        "queue": QueueInfo(position=2, reason="QuotaExhausted", message="quota 3/3", since=now),
        "attempt": 2,
        "attempts": [
            Attempt(
                attempt=1,
                pod_name="x-1",
                start_time=now,
                finish_time=now,
                exit_code=1,
                reason="Error",
                message="boom",
            ),
            Attempt(
                attempt=2,
                pod_name="x-2",
                start_time=now,
                finish_time=now,
                exit_code=143,
                reason="Cancelled",
            ),
        ],
        "start_time": now,
        "completion_time": now,
        "next_attempt_time": now,
        "duration": "1m2s",
        "cancellation": Cancellation(
            requested_by="alice",
            requested_at=now,
            reason="wrong month",
            signalled_at=now,
            finished_at=now,
            grace_period_seconds=30,
            outcome="Cancelled",
        ),
        "progress": Progress(
            fraction=0.25,
            percent=25,
            message="rows",
            counters={"rows": 25, "total": 100},
            update_time=now,
        ),
        "log": [LogEntry(time=now, message="queued (position 2: quota 3/3)")],
    }


def _status_cases() -> dict[str, tuple[str, Any]]:
    now = _now()
    return {
        "ScheduledJob": (
            "nightly",
            ScheduledJobStatus(
                observed_generation=1,
                phase=ScheduledJobPhase.ACTIVE,
                conditions=[
                    Condition(
                        type="Ready",
                        status=ConditionStatus.TRUE,
                        reason="Scheduled",
                        message="ok",
                        last_transition_time=now,
                    ),
                ],
                next_schedule_time=now,
                last_schedule_time=now,
                last_successful_time=now,
                last_failure_time=now,
                consecutive_failures=1,
                missed_runs=2,
                active_count=1,
                active=[ActiveRun(name="nightly-1767225600", scheduled_time=now)],
                history=[
                    RunSummary(
                        name="nightly-1767139200",
                        trigger=Trigger.SCHEDULE,
                        scheduled_time=now,
                        start_time=now,
                        completion_time=now,
                        phase=RunPhase.SUCCEEDED,
                        duration_seconds=12.5,
                        reason="Completed",
                    ),
                ],
                log=[LogEntry(time=now, message="fired")],
            ),
        ),
        "JobRun": (
            "run-1",
            JobRunStatus(
                **_run_status_fields(),
                snapshot=Snapshot(
                    time=now, scheduled_job_generation=3, settings=RunSettings(), template=TEMPLATE
                ),
            ),
        ),
        "Export": (
            "orders",
            ExportStatus(
                **_run_status_fields(),
                artifact=Artifact(path="orders.csv", bytes=1024, rows=10, sha256="a" * 64),
            ),
        ),
        "WorkerQuota": (
            "default",
            WorkerQuotaStatus(
                observed_generation=1,
                running=3,
                queued=4,
                queued_by_priority=QueuedByPriority(high=1, medium=2, low=1),
            ),
        ),
    }


MAKERS: dict[str, Callable[[], Manifest]] = {
    "ScheduledJob": scheduled_job,
    "JobRun": job_run,
    "Export": export,
    "WorkerQuota": worker_quota,
}


@pytest.mark.parametrize("kind", list(MAKERS))
def test_status_written_from_the_models_is_stored_unchanged(
    cluster: TestCluster, namespace: str, kind: str
) -> None:
    """Everything the operator can put in a status passes the schema, nothing is pruned."""
    create(cluster, namespace, MAKERS[kind](), check=True)
    name, status = _status_cases()[kind]
    body = {"status": status.to_k8s()}
    plural = f"{kind.lower()}s"
    api = client.CustomObjectsApi(cluster.api())
    # What the API server stored, as its answer to the write (a later read could see
    # an operator's status instead, if a file run earlier started one).
    answer = api.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, plural, name, body
    )
    assert isinstance(answer, dict)
    stored = answer["status"]
    assert type(status).model_validate(stored) == status
    assert stored == json.loads(json.dumps(status.to_k8s()))


def test_printer_columns(cluster: TestCluster, namespace: str) -> None:
    create(cluster, namespace, scheduled_job(), check=True)
    create(cluster, namespace, job_run(), check=True)
    create(cluster, namespace, export(), check=True)
    create(cluster, namespace, worker_quota(), check=True)
    headers = {
        "sj": ["NAME", "SCHEDULE", "PHASE", "LAST", "NEXT", "ACTIVE", "AGE"],
        "jr": [
            "NAME",
            "PHASE",
            "PROGRESS",
            "ATTEMPT",
            "SCHEDULEDJOB",
            "STARTED",
            "DURATION",
            "REASON",  # shown by default since issue 17: what a Starting run waits for
            "AGE",
        ],
        "exp": ["NAME", "PHASE", "PROGRESS", "FORMAT", "REASON", "AGE"],
        "wq": ["NAME", "MAX", "RUNNING", "QUEUED", "AGE"],
    }
    for short, expected in headers.items():
        out = cluster.kubectl("get", "-n", namespace, short).stdout
        assert out.splitlines()[0].split() == expected, out
    wide = cluster.kubectl("get", "-n", namespace, "sj", "-o", "wide").stdout
    assert "TIMEZONE" in wide.splitlines()[0]
    wide_runs = cluster.kubectl("get", "-n", namespace, "jr", "-o", "wide").stdout
    assert "MESSAGE" in wide_runs.splitlines()[0]
    assert "Europe/Berlin" in wide
    everything = cluster.kubectl("get", "-n", namespace, "jobwarden", "-o", "name").stdout
    assert sorted(everything.split()) == [
        "export.jobwarden.dev/orders",
        "jobrun.jobwarden.dev/run-1",
        "scheduledjob.jobwarden.dev/nightly",
        "workerquota.jobwarden.dev/default",
    ]


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("scheduledjob.spec.timeZone", "IANA time zone"),
        ("scheduledjob.spec.missedRunPolicy.policy", "RunOnce (default"),
        ("sj.spec.template.spec.containers.image", "Container image name"),
        ("jobrun.spec.scheduledJobRef", "snapshotted"),
        ("jr.status.cancellation.outcome", "CancelTimeout"),
        ("export.spec.destination.path", ".partial"),
        ("workerquota.spec.maxRunning", "the smallest applies"),
    ],
)
def test_kubectl_explain_documents_fields(cluster: TestCluster, path: str, words: str) -> None:
    out = cluster.kubectl("explain", path).stdout
    assert words in " ".join(out.split()), out


def test_immutability_holds_for_a_large_template(cluster: TestCluster, namespace: str) -> None:
    """The CEL equality on the template stays within the API server's runtime cost limit."""
    containers = [
        {
            "name": f"step-{i}",
            "image": "busybox:1.36",
            "command": ["sh", "-c", "echo " + "x" * 1000],
            "env": [{"name": f"VAR_{j}", "value": "v" * 100} for j in range(50)],
        }
        for i in range(20)
    ]
    create(
        cluster,
        namespace,
        standalone_run("big", template={"spec": {"containers": containers}}),
        check=True,
    )
    change = [
        {"op": "replace", "path": "/spec/template/spec/containers/19/env/49/value", "value": "w"}
    ]
    result = cluster.kubectl(
        "patch", "-n", namespace, "jr", "big", "--type=json", "-p", json.dumps(change), check=False
    )
    assert result.returncode != 0
    assert "template is immutable" in result.stderr
    cluster.kubectl("patch", "-n", namespace, "jr", "big", "--type=merge", "-p", json.dumps(CANCEL))

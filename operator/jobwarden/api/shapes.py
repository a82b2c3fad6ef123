"""The objects' parts as the operator reads and writes them at run time: typed dicts.

The pydantic models beside this module are the schema (they generate the CRDs); the
run-time views stay plain JSON (no validation per watch event, little memory), and
these TypedDicts give that JSON its keys and value types, so mypy sees a misspelt key
in core. `tests/unit/test_api_shapes.py` keeps every one equal to its model. Pure: no
pydantic (the kubectl plugin may use them too).

Every dict is `total=False`: a stored object may lack any field, and a status write
sets a field to None to remove it (a JSON merge patch).
"""

from __future__ import annotations

from typing import Any, Final, TypedDict


# ------------------------------------------------------------------ spec parts
class RetryBackoffSpec(TypedDict, total=False):
    """`retryBackoff` (api.settings.RetryBackoff)."""

    initialSeconds: int
    factor: float
    maxSeconds: int


class RunSettingsSpec(TypedDict, total=False):
    """The run settings of a spec or a snapshot (api.settings.RunSettings)."""

    priority: str
    timeoutSeconds: int
    retries: int
    retryBackoff: RetryBackoffSpec
    startTimeoutSeconds: int
    cancelGracePeriodSeconds: int
    stuckAfterSeconds: int
    deadlineSeconds: int | None


#: The run settings' keys: what a run sets for itself and a snapshot copies from its job.
RUN_SETTING_KEYS: Final = tuple(RunSettingsSpec.__annotations__)


class MissedRunSpec(TypedDict, total=False):
    """`missedRunPolicy` (api.scheduledjob.MissedRunSettings)."""

    policy: str
    maxRuns: int


class ScheduledJobSpecDict(RunSettingsSpec, total=False):
    """A ScheduledJob's spec (api.scheduledjob.ScheduledJobSpec)."""

    schedule: str | None
    timeZone: str
    jitterSeconds: int | None
    pauseAfterConsecutiveFailures: int | None
    suspend: bool
    concurrencyPolicy: str
    startingDeadlineSeconds: int | None
    missedRunPolicy: MissedRunSpec
    template: dict[str, Any]
    sensitive: bool
    successfulRunsHistoryLimit: int
    failedRunsHistoryLimit: int
    runRetentionDays: float
    cancel: bool


# ---------------------------------------------------------------- status parts
class ConditionDict(TypedDict):
    """metav1.Condition, as stored in `status.conditions` (api.common.Condition)."""

    type: str
    status: str  # a ConditionStatus
    reason: str
    message: str
    lastTransitionTime: str
    observedGeneration: int


class LogEntryDict(TypedDict):
    """One line of `status.log` (api.common.LogEntry)."""

    time: str
    message: str


class StatusDict(TypedDict, total=False):
    """What every status jobwarden writes has."""

    observedGeneration: int
    phase: str
    conditions: list[ConditionDict]
    log: list[LogEntryDict]


class QueueDict(TypedDict, total=False):
    """`status.queue` of a waiting run (api.runstatus.QueueInfo)."""

    position: int
    reason: str
    message: str
    since: str | None
    positionTime: str | None
    estimatedStartTime: str | None


class AttemptDict(TypedDict, total=False):
    """One of `status.attempts` (api.runstatus.Attempt)."""

    attempt: int
    podName: str
    startTime: str | None
    finishTime: str | None
    exitCode: int | None
    reason: str | None
    createRefusals: int | None
    createTime: str | None
    nextCreateTime: str | None
    message: str | None


class CancellationDict(TypedDict, total=False):
    """`status.cancellation` (api.runstatus.Cancellation)."""

    requestedBy: str
    requestedAt: str
    reason: str | None
    signalledAt: str | None
    finishedAt: str | None
    gracePeriodSeconds: int | None
    outcome: str


class SnapshotDict(TypedDict, total=False):
    """`status.snapshot` of a run of a ScheduledJob (api.jobrun.Snapshot)."""

    time: str
    scheduledJobGeneration: int | None
    settings: RunSettingsSpec
    template: dict[str, Any] | None


class RunStatusDict(StatusDict, total=False):
    """A JobRun's or an Export's status (api.jobrun.JobRunStatus, api.export.ExportStatus)."""

    reason: str | None
    message: str | None
    queue: QueueDict | None
    attempt: int
    attempts: list[AttemptDict]
    startTime: str | None
    completionTime: str | None
    nextAttemptTime: str | None
    duration: str | None
    cancellation: CancellationDict | None
    progress: dict[str, Any] | None  # the worker's (the operator never writes it)
    snapshot: SnapshotDict | None  # JobRun
    artifact: dict[str, Any] | None  # Export: the worker's


class ActiveRunDict(TypedDict):
    """One of a ScheduledJob's `status.active` (api.scheduledjob.ActiveRun)."""

    name: str
    scheduledTime: str | None


class RunSummaryDict(TypedDict, total=False):
    """One of a ScheduledJob's `status.history` (api.scheduledjob.RunSummary)."""

    name: str
    trigger: str
    scheduledTime: str | None
    startTime: str | None
    completionTime: str | None
    phase: str
    durationSeconds: float | None
    reason: str | None
    error: str | None


class FailurePauseDict(TypedDict, total=False):
    """A ScheduledJob's `status.failurePause` (api.scheduledjob.FailurePause)."""

    since: str
    failures: int
    lastFailedRun: str | None
    message: str


class ScheduledJobStatusDict(StatusDict, total=False):
    """A ScheduledJob's status (api.scheduledjob.ScheduledJobStatus)."""

    nextScheduleTime: str | None
    lastScheduleTime: str | None
    lastSuccessfulTime: str | None
    lastFailureTime: str | None
    consecutiveFailures: int
    missedRuns: int
    skippedWhilePaused: int
    lastSkippedTime: str | None
    failurePause: FailurePauseDict | None
    failuresCountedSince: str | None
    activeCount: int
    active: list[ActiveRunDict]
    history: list[RunSummaryDict]


#: A Backfill's spec (api.backfill.BackfillSpec); functional form: `from` is a keyword.
BackfillSpecDict = TypedDict(
    "BackfillSpecDict",
    {
        "scheduledJobRef": dict[str, str],
        "from": str,
        "to": str,
        "maxConcurrentRuns": int,
        "cancel": bool,
    },
    total=False,
)


class SkippedFireDict(TypedDict, total=False):
    """One of a Backfill's `status.skippedFires` (api.backfill.SkippedFire)."""

    scheduledTime: str
    name: str
    reason: str


class BackfillStatusDict(StatusDict, total=False):
    """A Backfill's status (api.backfill.BackfillStatus)."""

    reason: str | None
    message: str | None
    fires: int
    created: int
    skipped: int
    active: int
    succeeded: int
    failed: int
    cancelled: int
    lastFireTime: str | None
    activeRuns: list[str]
    skippedFires: list[SkippedFireDict]
    startTime: str | None
    completionTime: str | None


class QueuedByPriorityDict(TypedDict, total=False):
    """A WorkerQuota's `status.queuedByPriority` (api.workerquota.QueuedByPriority)."""

    high: int
    medium: int
    low: int


class WorkerQuotaStatusDict(TypedDict, total=False):
    """A WorkerQuota's status, as the engine publishes it (api.workerquota)."""

    observedGeneration: int
    conditions: list[ConditionDict]
    running: int
    queued: int
    queuedByPriority: QueuedByPriorityDict

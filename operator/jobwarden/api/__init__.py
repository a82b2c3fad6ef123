"""jobwarden's API: pydantic models of the four kinds, the single source of the CRDs.

Parse what the API server stored with `ScheduledJobSpec.model_validate(body["spec"])`
and write status with `status.to_k8s()`. `python -m jobwarden.api.crdgen` turns
these models into crds/.
"""

from jobwarden.api.base import ApiModel
from jobwarden.api.common import Condition, LocalObjectReference, LogEntry
from jobwarden.api.constants import API_VERSION, GROUP, VERSION
from jobwarden.api.enums import (
    CancelOutcome,
    ConcurrencyPolicy,
    ConditionStatus,
    ConditionType,
    ExportFormat,
    MissedRunPolicy,
    Priority,
    QueueReason,
    RunPhase,
    ScheduledJobPhase,
    Trigger,
)
from jobwarden.api.export import (
    Artifact,
    Export,
    ExportDestination,
    ExportSource,
    ExportSpec,
    ExportStatus,
    ExportWorker,
    PostgresSource,
    SecretKeyReference,
    SqliteSource,
)
from jobwarden.api.jobrun import JobRun, JobRunSpec, JobRunStatus, Snapshot
from jobwarden.api.runstatus import Attempt, Cancellation, Progress, QueueInfo, RunStatus
from jobwarden.api.scheduledjob import (
    ActiveRun,
    MissedRunSettings,
    RunSummary,
    ScheduledJob,
    ScheduledJobSpec,
    ScheduledJobStatus,
)
from jobwarden.api.settings import RetryBackoff, RunSettings, RunSettingsOverrides
from jobwarden.api.workerquota import (
    QueuedByPriority,
    WorkerQuota,
    WorkerQuotaSpec,
    WorkerQuotaStatus,
)

__all__ = [
    "API_VERSION",
    "GROUP",
    "VERSION",
    "ActiveRun",
    "ApiModel",
    "Artifact",
    "Attempt",
    "CancelOutcome",
    "Cancellation",
    "ConcurrencyPolicy",
    "Condition",
    "ConditionStatus",
    "ConditionType",
    "Export",
    "ExportDestination",
    "ExportFormat",
    "ExportSource",
    "ExportSpec",
    "ExportStatus",
    "ExportWorker",
    "JobRun",
    "JobRunSpec",
    "JobRunStatus",
    "LocalObjectReference",
    "LogEntry",
    "MissedRunPolicy",
    "MissedRunSettings",
    "PostgresSource",
    "Priority",
    "Progress",
    "QueueInfo",
    "QueueReason",
    "QueuedByPriority",
    "RetryBackoff",
    "RunPhase",
    "RunSettings",
    "RunSettingsOverrides",
    "RunStatus",
    "RunSummary",
    "ScheduledJob",
    "ScheduledJobPhase",
    "ScheduledJobSpec",
    "ScheduledJobStatus",
    "SecretKeyReference",
    "Snapshot",
    "SqliteSource",
    "Trigger",
    "WorkerQuota",
    "WorkerQuotaSpec",
    "WorkerQuotaStatus",
]

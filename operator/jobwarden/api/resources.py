"""The kinds as the API server sees them: names, printer columns, name limits."""

from __future__ import annotations

from dataclasses import dataclass

from jobwarden.api import constants as c
from jobwarden.api.backfill import BackfillSpec, BackfillStatus
from jobwarden.api.base import ApiModel
from jobwarden.api.export import ExportSpec, ExportStatus
from jobwarden.api.jobrun import JobRunSpec, JobRunStatus
from jobwarden.api.scheduledjob import ScheduledJobSpec, ScheduledJobStatus
from jobwarden.api.workerquota import WorkerQuotaSpec, WorkerQuotaStatus


@dataclass(frozen=True)
class PrinterColumn:
    """One `kubectl get` column (priority 1 = shown only with -o wide)."""

    name: str
    json_path: str
    type: str = "string"
    description: str = ""
    priority: int = 0


@dataclass(frozen=True)
class ResourceDefinition:
    """Everything the CRD of one kind is generated from."""

    kind: str
    plural: str
    short_name: str
    description: str
    spec: type[ApiModel]
    status: type[ApiModel]
    columns: tuple[PrinterColumn, ...]
    max_name_length: int | None = None
    name_limit_reason: str = ""
    #: Field selectors (`kubectl get jr --field-selector status.phase=Failed`): a filter
    #: on the phase without a label the operator would have to write when it changes.
    selectable_fields: tuple[str, ...] = ()

    @property
    def singular(self) -> str:
        """Lower-case kind, as `kubectl get scheduledjob` expects."""
        return self.kind.lower()

    @property
    def crd_name(self) -> str:
        """`<plural>.<group>`, also the file name under crds/."""
        return f"{self.plural}.{c.GROUP}"


_AGE = PrinterColumn("Age", ".metadata.creationTimestamp", "date")
#: Why a run is in its phase, shown by default: Starting runs say what they wait for
#: (Unschedulable, ImagePullBackOff, PodCreateRefused …), failed ones why they failed.
_REASON = PrinterColumn("Reason", ".status.reason", description="Why it is in its phase.")
_MESSAGE = PrinterColumn("Message", ".status.message", description="Details.", priority=1)
_RUN_COLUMNS = (
    PrinterColumn("Phase", ".status.phase", description="Run phase."),
    PrinterColumn("Progress", ".status.progress.percent", "integer", "Percent done."),
)

SCHEDULED_JOB = ResourceDefinition(
    kind=c.KIND_SCHEDULED_JOB,
    selectable_fields=(".status.phase",),
    plural=c.PLURAL_SCHEDULED_JOBS,
    short_name="sj",
    description=(
        "ScheduledJob runs a worker pod on a cron schedule in a time zone, or once (no "
        "schedule). Each execution is a JobRun. Pause with spec.suspend, stop for good "
        "with spec.cancel."
    ),
    spec=ScheduledJobSpec,
    status=ScheduledJobStatus,
    columns=(
        PrinterColumn("Schedule", ".spec.schedule", description="Cron schedule."),
        PrinterColumn("TimeZone", ".spec.timeZone", description="Time zone.", priority=1),
        PrinterColumn("Phase", ".status.phase", description="Job phase."),
        PrinterColumn("Last", ".status.lastScheduleTime", "date", "Last fire."),
        # A string, not a date: kubectl prints future dates as "<invalid>".
        PrinterColumn("Next", ".status.nextScheduleTime", description="Next fire time."),
        PrinterColumn("Active", ".status.activeCount", "integer", "Unfinished runs."),
        PrinterColumn("Suspend", ".spec.suspend", "boolean", "Paused.", priority=1),
        PrinterColumn("Priority", ".spec.priority", description="Priority.", priority=1),
        _AGE,
    ),
    max_name_length=c.MAX_SCHEDULED_JOB_NAME,
    name_limit_reason="so that its run names (<name>-<10-digit fire time>) stay valid",
)

JOB_RUN = ResourceDefinition(
    kind=c.KIND_JOB_RUN,
    selectable_fields=(".status.phase",),
    plural=c.PLURAL_JOB_RUNS,
    short_name="jr",
    description=(
        "JobRun is one execution of a ScheduledJob (by schedule, by hand or as a re-run) "
        "or of its own pod template: queued under the namespace's WorkerQuota, one worker "
        "pod per attempt, with timeout, retries and cancellation (spec.cancel)."
    ),
    spec=JobRunSpec,
    status=JobRunStatus,
    columns=(
        *_RUN_COLUMNS,
        PrinterColumn("Attempt", ".status.attempt", "integer", "Current attempt."),
        PrinterColumn("ScheduledJob", ".spec.scheduledJobRef.name", description="Its job."),
        PrinterColumn("Trigger", ".spec.trigger", description="Why it runs.", priority=1),
        PrinterColumn("Started", ".status.startTime", "date", "When it was admitted."),
        PrinterColumn("Duration", ".status.duration", description="Run time."),
        _REASON,
        _MESSAGE,
        _AGE,
    ),
    max_name_length=c.MAX_RUN_NAME,
    name_limit_reason="so that its pod names (<name>-<attempt>) fit in a label value",
)

EXPORT = ResourceDefinition(
    kind=c.KIND_EXPORT,
    selectable_fields=(".status.phase",),
    plural=c.PLURAL_EXPORTS,
    short_name="exp",
    description=(
        "Export runs a query against PostgreSQL or SQLite and writes the result as CSV, "
        "JSON Lines or GeoJSON to a volume, with the same lifecycle as a JobRun "
        "(queue, retries, timeout, cancellation with cleanup)."
    ),
    spec=ExportSpec,
    status=ExportStatus,
    columns=(
        *_RUN_COLUMNS,
        PrinterColumn("Format", ".spec.format", description="Output format."),
        PrinterColumn("Rows", ".status.artifact.rows", "integer", "Rows written.", 1),
        PrinterColumn("Duration", ".status.duration", description="Run time.", priority=1),
        _REASON,
        _MESSAGE,
        _AGE,
    ),
    max_name_length=c.MAX_RUN_NAME,
    name_limit_reason="so that its pod names (<name>-<attempt>) fit in a label value",
)

WORKER_QUOTA = ResourceDefinition(
    kind=c.KIND_WORKER_QUOTA,
    plural=c.PLURAL_WORKER_QUOTAS,
    short_name="wq",
    description=(
        "WorkerQuota caps how many worker pods of JobRuns and Exports run at once in its "
        "namespace; the others wait, by priority then age."
    ),
    spec=WorkerQuotaSpec,
    status=WorkerQuotaStatus,
    columns=(
        PrinterColumn("Max", ".spec.maxRunning", "integer", "Most running workers."),
        PrinterColumn("Running", ".status.running", "integer", "Running workers."),
        PrinterColumn("Queued", ".status.queued", "integer", "Waiting runs."),
        _AGE,
    ),
)

BACKFILL = ResourceDefinition(
    kind=c.KIND_BACKFILL,
    selectable_fields=(".status.phase",),
    plural=c.PLURAL_BACKFILLS,
    short_name="bf",
    description=(
        "Backfill creates the runs of every fire of a ScheduledJob in a past time range, "
        "oldest first, at most maxConcurrentRuns at once and under the namespace's "
        "WorkerQuota; a fire that already has a run is skipped. spec.cancel stops it "
        "and cancels the runs it created."
    ),
    spec=BackfillSpec,
    status=BackfillStatus,
    columns=(
        PrinterColumn("ScheduledJob", ".spec.scheduledJobRef.name", description="Its job."),
        PrinterColumn("Phase", ".status.phase", description="Backfill phase."),
        PrinterColumn("Fires", ".status.fires", "integer", "Fires in the range."),
        PrinterColumn("Created", ".status.created", "integer", "Runs created."),
        PrinterColumn("Skipped", ".status.skipped", "integer", "Fires that had a run."),
        PrinterColumn("Active", ".status.active", "integer", "Runs not finished."),
        PrinterColumn("Succeeded", ".status.succeeded", "integer", "Runs that succeeded."),
        PrinterColumn("Failed", ".status.failed", "integer", "Runs that failed."),
        PrinterColumn("From", ".spec.from", description="Range start.", priority=1),
        PrinterColumn("To", ".spec.to", description="Range end.", priority=1),
        _REASON,
        _AGE,
    ),
    max_name_length=c.MAX_RUN_NAME,
    name_limit_reason="like a run's name",
)

RESOURCES: tuple[ResourceDefinition, ...] = (
    SCHEDULED_JOB,
    JOB_RUN,
    EXPORT,
    WORKER_QUOTA,
    BACKFILL,
)

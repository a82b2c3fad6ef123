"""Enumerations of the API. Values are the exact strings stored in objects."""

from __future__ import annotations

from enum import StrEnum


class Priority(StrEnum):
    """Admission order among waiting runs of a namespace: High first, then by age."""

    HIGH = "High"
    MEDIUM = "Medium"
    LOW = "Low"

    @property
    def rank(self) -> int:
        """0 for High, 1 for Medium, 2 for Low: sorts waiting runs highest first."""
        return _PRIORITY_RANK[self]


_PRIORITY_RANK = {Priority.HIGH: 0, Priority.MEDIUM: 1, Priority.LOW: 2}
DEFAULT_PRIORITY = Priority.MEDIUM


class ConcurrencyPolicy(StrEnum):
    """What a ScheduledJob does when a fire comes while an earlier run is active."""

    ALLOW = "Allow"
    FORBID = "Forbid"
    REPLACE = "Replace"


DEFAULT_CONCURRENCY_POLICY = ConcurrencyPolicy.FORBID


class MissedRunPolicy(StrEnum):
    """What a ScheduledJob does with fires it missed (operator down, suspended, Forbid)."""

    SKIP = "Skip"
    RUN_ONCE = "RunOnce"
    RUN_ALL = "RunAll"


DEFAULT_MISSED_RUN_POLICY = MissedRunPolicy.RUN_ONCE


class Trigger(StrEnum):
    """Why a JobRun exists."""

    SCHEDULE = "Schedule"
    MANUAL = "Manual"
    RERUN = "Rerun"
    BACKFILL = "Backfill"  # created by a Backfill for a past fire


class BackfillPhase(StrEnum):
    """Phase of a Backfill."""

    PENDING = "Pending"  # waiting for its ScheduledJob to exist
    RUNNING = "Running"
    CANCELLING = "Cancelling"  # cancelled; its runs are being cancelled
    COMPLETED = "Completed"  # every fire has a run that ended, or was skipped
    CANCELLED = "Cancelled"
    FAILED = "Failed"  # cannot be done (no schedule, too many fires)

    @property
    def terminal(self) -> bool:
        """True once nothing more happens."""
        return self in (BackfillPhase.COMPLETED, BackfillPhase.CANCELLED, BackfillPhase.FAILED)


class SkipReason(StrEnum):
    """Why a Backfill created no run for a fire."""

    RUN_EXISTS = "RunExists"  # a run of that fire exists (scheduled, or another Backfill's)
    RUN_IN_HISTORY = "RunInHistory"  # it ran, and was pruned to status.history


class RunPhase(StrEnum):
    """Lifecycle phase of a JobRun or an Export (derived from its conditions)."""

    QUEUED = "Queued"
    STARTING = "Starting"  # admitted; its worker's container has not started yet
    RUNNING = "Running"
    RETRYING = "Retrying"
    CANCELLING = "Cancelling"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"

    @property
    def terminal(self) -> bool:
        """True once the run can no longer change (no cancel, no retry)."""
        return self in _TERMINAL_PHASES


_TERMINAL_PHASES = frozenset({RunPhase.SUCCEEDED, RunPhase.FAILED, RunPhase.CANCELLED})


class ScheduledJobPhase(StrEnum):
    """Phase of a ScheduledJob."""

    ACTIVE = "Active"
    SUSPENDED = "Suspended"
    COMPLETED = "Completed"
    CANCELLED = "Cancelled"


class ExportFormat(StrEnum):
    """File format an Export writes."""

    CSV = "csv"
    JSONL = "jsonl"
    GEOJSON = "geojson"


class ConditionStatus(StrEnum):
    """metav1.Condition status values."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class ConditionType(StrEnum):
    """Condition types jobwarden writes; a run's phase is derived from them.

    Ready, Reconciling and Stalled follow the kstatus convention that Flux and
    Argo CD read; the others are specific to jobwarden.
    """

    READY = "Ready"  # kstatus: True only for Succeeded (a run) or a healthy job
    RECONCILING = "Reconciling"  # kstatus: True while the run is not finished
    STALLED = "Stalled"  # kstatus: True for Failed and Cancelled
    SUSPENDED = "Suspended"  # a ScheduledJob paused with spec.suspend
    STUCK = "Stuck"  # the worker stopped reporting progress (flagged, not killed)
    ADMITTED = "Admitted"  # a run holds a worker slot for its current attempt
    #: The current attempt's worker container has started (False: phase Starting, the
    #: reason and message say what it waits for: PodCreateRefused, Unschedulable, …).
    WORKER_STARTED = "WorkerStarted"
    CANCEL_REQUESTED = "CancelRequested"
    FINISHED = "Finished"  # final; the reason says how
    DEADLINE_MISSED = "DeadlineMissed"  # not finished by deadlineSeconds (flagged, not stopped)


class QueueReason(StrEnum):
    """Why a run waits in the queue (`status.queue.reason`, the Admitted reason)."""

    QUOTA_EXHAUSTED = "QuotaExhausted"
    CONCURRENCY_POLICY = "ConcurrencyPolicy"


class Reason(StrEnum):
    """Reasons on conditions, attempts and `status.reason`."""

    CREATED = "Created"
    QUEUED = "Queued"
    RETRYING = "Retrying"
    ADMITTED = "Admitted"
    BACKOFF = "Backoff"
    STARTING = "Starting"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    COMPLETED = "Completed"  # an attempt that exited 0; a one-time ScheduledJob done
    ERROR = "Error"  # an attempt that exited non-zero
    RETRIES_EXHAUSTED = "RetriesExhausted"
    DEADLINE_EXCEEDED = "DeadlineExceeded"
    POD_LOST = "PodLost"
    POD_CREATING = "PodCreating"  # the create was sent; the pod is not seen yet
    POD_PENDING = "PodPending"  # the pod exists; no reason given for the wait yet
    STARTED = "Started"  # WorkerStarted=True
    POD_CREATE_REFUSED = "PodCreateRefused"  # a transient refusal: retried with backoff
    POD_REJECTED = "PodRejected"  # a permanent refusal: the run fails at once
    START_TIMEOUT = "StartTimeout"  # not started within startTimeoutSeconds
    DISRUPTED = "Disrupted"  # evicted, preempted, deleted outside jobwarden, node lost
    OOM_KILLED = "OOMKilled"  # the worker container exceeded its memory limit
    CANCEL_REQUESTED = "CancelRequested"
    CANCELLING = "Cancelling"
    CANCELLED = "Cancelled"
    CANCEL_TIMEOUT = "CancelTimeout"
    NOT_REQUESTED = "NotRequested"
    IN_PROGRESS = "InProgress"
    # Stuck (core.heartbeat)
    NO_PROGRESS = "NoProgress"  # Stuck=True
    PROGRESS_REPORTED = "ProgressReported"  # Stuck=False: heard from within the limit
    NOT_WATCHED = "NotWatched"  # Stuck=False: not running, or no stuckAfterSeconds
    #: A run of a ScheduledJob that does not exist (nothing to snapshot): it fails.
    SCHEDULED_JOB_NOT_FOUND = "ScheduledJobNotFound"
    # ScheduledJob conditions
    ACTIVE = "Active"
    SUSPENDED = "Suspended"
    INVALID_SCHEDULE = "InvalidSchedule"
    SCHEDULE_VALID = "ScheduleValid"
    CONSECUTIVE_FAILURES = "ConsecutiveFailures"  # Suspended: paused after failed runs
    # Deadlines (core.deadline): DeadlineMissed on a run and on its ScheduledJob
    DEADLINE_MISSED = "DeadlineMissed"
    DEADLINE_MET = "DeadlineMet"
    # Backfill
    NO_SCHEDULE = "NoSchedule"  # its ScheduledJob is a one-time job
    TOO_MANY_FIRES = "TooManyFires"  # more than MAX_BACKFILL_FIRES in its range


class EventReason(StrEnum):
    """Reasons of the Events the operator emits, on transitions only."""

    QUEUED = "Queued"
    STARTED = "Started"  # admitted to a worker slot and its pod created
    RETRYING = "Retrying"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    DEADLINE_EXCEEDED = "DeadlineExceeded"
    CANCEL_REQUESTED = "CancelRequested"
    CANCELLED = "Cancelled"
    CANCEL_TIMEOUT = "CancelTimeout"
    CANCEL_IGNORED = "CancelIgnored"
    STUCK = "Stuck"
    POD_CREATE_REFUSED = "PodCreateRefused"  # transient: the create is retried
    POD_REJECTED = "PodRejected"  # permanent: the run failed
    WORKER_PENDING = "WorkerPending"  # the pod cannot start yet (Unschedulable, image, …)
    DISRUPTED = "Disrupted"  # retried without spending a retry
    # ScheduledJob
    SUSPENDED = "Suspended"
    RESUMED = "Resumed"
    COMPLETED = "Completed"  # a one-time job's run ended; a Backfill handled every fire
    MISSED_SCHEDULE = "MissedSchedule"
    PAUSED_AFTER_FAILURES = "PausedAfterFailures"  # pauseAfterConsecutiveFailures reached
    RESUMED_AFTER_FAILURES = "ResumedAfterFailures"
    # runs and ScheduledJobs
    DEADLINE_MISSED = "DeadlineMissed"  # not finished by deadlineSeconds (not stopped)


class EventType(StrEnum):
    """core/v1 Event types (the only two there are)."""

    NORMAL = "Normal"
    WARNING = "Warning"


class AuditAction(StrEnum):
    """`action` of the operator's JSON audit lines."""

    ADMITTED = "admitted"
    CANCEL_REQUESTED = "cancel-requested"
    CANCEL_FINISHED = "cancel-finished"
    FINISHED = "finished"
    POD_REJECTED = "pod-rejected"
    DISRUPTED = "disrupted"
    EXPIRED = "expired"  # a finished standalone run deleted: its TTL has passed
    # Users' requests the admission webhooks let through (written as they are admitted).
    SCHEDULED_JOB_CREATED = "scheduledjob-created"
    SCHEDULED_JOB_CHANGED = "scheduledjob-changed"
    SCHEDULED_JOB_DELETED = "scheduledjob-deleted"
    SCHEDULED_JOB_CANCELLED = "scheduledjob-cancelled"
    PAUSED = "paused"
    RESUMED = "resumed"
    RUN_NOW = "run-now"
    RERUN = "rerun"
    QUOTA_CHANGED = "quota-changed"
    DEADLINE_MISSED = "deadline-missed"
    # ScheduledJobs paused after failed runs in a row, and resumed
    PAUSED_AFTER_FAILURES = "paused-after-failures"
    RESUMED_AFTER_FAILURES = "resumed-after-failures"
    # Backfills
    BACKFILL_CANCEL_REQUESTED = "backfill-cancel-requested"
    BACKFILL_FINISHED = "backfill-finished"
    # Requests the admission webhooks refused (`Guard.denied`).
    STAMP_DENIED = "stamp-denied"
    RUN_DENIED = "run-denied"
    RUN_SENSITIVE_DENIED = "run-sensitive-denied"
    CANCEL_DENIED = "cancel-denied"
    DELETE_DENIED = "delete-denied"
    BACKFILL_DENIED = "backfill-denied"
    BACKFILL_SENSITIVE_DENIED = "backfill-sensitive-denied"


class AuditOutcome(StrEnum):
    """`outcome` of an audit line that is not a phase or a cancel outcome."""

    ACCEPTED = "accepted"  # a cancel request taken up
    IGNORED = "ignored"  # a cancel of a run that had already ended
    STARTED = "started"  # admitted: its first pod asked for
    RETRIED = "retried"  # a disrupted attempt, retried at once
    DENIED = "Denied"  # refused by the admission webhooks
    DELETED = "deleted"  # a finished run deleted by the operator (retention)
    ALLOWED = "allowed"  # a user's request admitted by the webhooks
    PAUSED = "paused"  # a ScheduledJob paused after failed runs
    RESUMED = "resumed"  # and resumed
    REQUESTED = "requested"  # a Backfill's cancel taken up


class Guard(StrEnum):
    """What an admission webhook refused (`Verdict.action`); audited when denied."""

    STAMP = "stamp"
    RUN = "run"
    RUN_SENSITIVE = "run-sensitive"
    CANCEL = "cancel"
    DELETE = "delete"
    BACKFILL = "backfill"  # a Backfill creates runs: the right to create them
    BACKFILL_SENSITIVE = "backfill-sensitive"

    @property
    def denied(self) -> AuditAction:
        """The audit action of a refusal."""
        return AuditAction(f"{self.value}-denied")


class CancelOutcome(StrEnum):
    """How a cancel request ended (`status.cancellation.outcome`)."""

    PENDING = "Pending"
    CANCELLED = "Cancelled"
    SUCCEEDED = "Succeeded"
    CANCEL_TIMEOUT = "CancelTimeout"
    IGNORED = "Ignored"

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


class ConcurrencyPolicy(StrEnum):
    """What a ScheduledJob does when a fire comes while an earlier run is active."""

    ALLOW = "Allow"
    FORBID = "Forbid"
    REPLACE = "Replace"


class MissedRunPolicy(StrEnum):
    """What a ScheduledJob does with fires it missed (operator down, suspended, Forbid)."""

    SKIP = "Skip"
    RUN_ONCE = "RunOnce"
    RUN_ALL = "RunAll"


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
    """Condition types jobwarden writes.

    Ready, Reconciling and Stalled follow the kstatus convention that Flux and
    Argo CD read; the others are specific to jobwarden.
    """

    READY = "Ready"
    RECONCILING = "Reconciling"
    STALLED = "Stalled"
    SUSPENDED = "Suspended"
    STUCK = "Stuck"
    DEADLINE_MISSED = "DeadlineMissed"


class QueueReason(StrEnum):
    """Why a run waits in the queue (`status.queue.reason`)."""

    QUOTA_EXHAUSTED = "QuotaExhausted"
    CONCURRENCY_POLICY = "ConcurrencyPolicy"
    SUSPENDED = "Suspended"


class CancelOutcome(StrEnum):
    """How a cancel request ended (`status.cancellation.outcome`)."""

    PENDING = "Pending"
    CANCELLED = "Cancelled"
    SUCCEEDED = "Succeeded"
    CANCEL_TIMEOUT = "CancelTimeout"
    IGNORED = "Ignored"

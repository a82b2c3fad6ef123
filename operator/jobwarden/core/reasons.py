"""Condition types, reasons and Event reasons of the run lifecycle (CamelCase enums)."""

from __future__ import annotations

from enum import StrEnum


class RunCondition(StrEnum):
    """Condition types of a run; the phase is derived from them."""

    ADMITTED = "Admitted"  # holds a worker slot for its current attempt
    CANCEL_REQUESTED = "CancelRequested"
    FINISHED = "Finished"  # final; the reason says how
    READY = "Ready"  # kstatus: True only for Succeeded
    RECONCILING = "Reconciling"  # kstatus: True while the run is not finished
    STALLED = "Stalled"  # kstatus: True for Failed and Cancelled
    STUCK = "Stuck"  # the worker stopped reporting progress (flagged, not killed)


class Reason(StrEnum):
    """Reasons on conditions, attempts and `status.reason`."""

    CREATED = "Created"
    QUEUED = "Queued"
    RETRYING = "Retrying"
    QUOTA_EXHAUSTED = "QuotaExhausted"
    ADMITTED = "Admitted"
    BACKOFF = "Backoff"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    COMPLETED = "Completed"  # an attempt that exited 0
    ERROR = "Error"  # an attempt that exited non-zero
    RETRIES_EXHAUSTED = "RetriesExhausted"
    DEADLINE_EXCEEDED = "DeadlineExceeded"
    POD_LOST = "PodLost"
    CANCEL_REQUESTED = "CancelRequested"
    CANCELLING = "Cancelling"
    CANCELLED = "Cancelled"
    CANCEL_TIMEOUT = "CancelTimeout"
    NOT_REQUESTED = "NotRequested"
    IN_PROGRESS = "InProgress"


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

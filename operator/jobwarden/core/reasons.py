"""Condition types, reasons and Event reasons of the run lifecycle (CamelCase enums)."""

from __future__ import annotations

from enum import StrEnum


class RunCondition(StrEnum):
    """Condition types of a run; the phase is derived from them."""

    ADMITTED = "Admitted"  # holds a worker slot for its current attempt
    #: The current attempt's worker container has started (False: phase Starting, the
    #: reason and message say what it waits for: PodCreateRefused, Unschedulable, …).
    WORKER_STARTED = "WorkerStarted"
    CANCEL_REQUESTED = "CancelRequested"
    FINISHED = "Finished"  # final; the reason says how
    READY = "Ready"  # kstatus: True only for Succeeded
    RECONCILING = "Reconciling"  # kstatus: True while the run is not finished
    STALLED = "Stalled"  # kstatus: True for Failed and Cancelled
    STUCK = "Stuck"  # the worker stopped reporting progress (flagged, not killed)
    DEADLINE_MISSED = "DeadlineMissed"  # not finished by deadlineSeconds (flagged, not stopped)


class Reason(StrEnum):
    """Reasons on conditions, attempts and `status.reason`."""

    CREATED = "Created"
    QUEUED = "Queued"
    RETRYING = "Retrying"
    QUOTA_EXHAUSTED = "QuotaExhausted"
    ADMITTED = "Admitted"
    BACKOFF = "Backoff"
    STARTING = "Starting"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    COMPLETED = "Completed"  # an attempt that exited 0
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
    DEADLINE_MISSED = "DeadlineMissed"
    DEADLINE_MET = "DeadlineMet"


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
    COMPLETED = "Completed"  # a Backfill handled every fire
    DEADLINE_MISSED = "DeadlineMissed"  # a run not finished by its deadlineSeconds
    PAUSED_AFTER_FAILURES = "PausedAfterFailures"  # a ScheduledJob's failure streak
    RESUMED_AFTER_FAILURES = "ResumedAfterFailures"


class PodReason(StrEnum):
    """Kubernetes' own reasons (scheduler, kubelet, controllers) that decisions read."""

    UNSCHEDULABLE = "Unschedulable"  # condition PodScheduled=False
    SCHEDULING_GATED = "SchedulingGated"
    CONTAINER_CREATING = "ContainerCreating"  # waiting, normal
    POD_INITIALIZING = "PodInitializing"  # waiting, normal
    ERR_IMAGE_PULL = "ErrImagePull"
    IMAGE_PULL_BACK_OFF = "ImagePullBackOff"
    INVALID_IMAGE_NAME = "InvalidImageName"
    ERR_IMAGE_NEVER_PULL = "ErrImageNeverPull"
    IMAGE_INSPECT_ERROR = "ImageInspectError"
    REGISTRY_UNAVAILABLE = "RegistryUnavailable"
    CREATE_CONTAINER_CONFIG_ERROR = "CreateContainerConfigError"  # missing Secret/ConfigMap
    CREATE_CONTAINER_ERROR = "CreateContainerError"
    PRE_START_HOOK_ERROR = "PreStartHookError"
    OOM_KILLED = "OOMKilled"  # a terminated container's reason
    EVICTED = "Evicted"  # a pod's status.reason (node pressure)
    NODE_LOST = "NodeLost"  # a pod's status.reason (node controller, older clusters)
    # Reasons of the DisruptionTarget condition (Kubernetes 1.26+).
    PREEMPTION_BY_SCHEDULER = "PreemptionByScheduler"
    DELETION_BY_TAINT_MANAGER = "DeletionByTaintManager"
    EVICTION_BY_EVICTION_API = "EvictionByEvictionAPI"
    DELETION_BY_POD_GC = "DeletionByPodGC"
    TERMINATION_BY_KUBELET = "TerminationByKubelet"


class AuditAction(StrEnum):
    """`action` of the operator's JSON audit lines about runs."""

    ADMITTED = "admitted"
    CANCEL_REQUESTED = "cancel-requested"
    CANCEL_FINISHED = "cancel-finished"
    FINISHED = "finished"
    POD_REJECTED = "pod-rejected"
    DISRUPTED = "disrupted"
    DEADLINE_MISSED = "deadline-missed"
    PAUSED_AFTER_FAILURES = "paused-after-failures"
    RESUMED_AFTER_FAILURES = "resumed-after-failures"
    BACKFILL_CANCEL_REQUESTED = "backfill-cancel-requested"
    BACKFILL_FINISHED = "backfill-finished"


class PodConditionType(StrEnum):
    """Pod condition types decisions read."""

    POD_SCHEDULED = "PodScheduled"
    DISRUPTION_TARGET = "DisruptionTarget"


class BackfillReason(StrEnum):
    """Reasons of a Backfill's `status.reason` and conditions."""

    SCHEDULED_JOB_NOT_FOUND = "ScheduledJobNotFound"
    NO_SCHEDULE = "NoSchedule"
    INVALID_SCHEDULE = "InvalidSchedule"
    TOO_MANY_FIRES = "TooManyFires"
    RUNNING = "Running"
    COMPLETED = "Completed"
    CANCELLED = "Cancelled"


class JobReason(StrEnum):
    """Reasons on a ScheduledJob's conditions written by the features of issue 22."""

    CONSECUTIVE_FAILURES = "ConsecutiveFailures"  # Suspended: paused after failures
    DEADLINE_MISSED = "DeadlineMissed"  # its newest run with a deadline missed it
    DEADLINE_MET = "DeadlineMet"  # its newest run with a deadline finished in time

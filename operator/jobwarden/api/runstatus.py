"""Status of a run: the part JobRun and Export share (one engine runs both)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from jobwarden.api.base import ApiModel
from jobwarden.api.common import (
    Condition,
    LogEntry,
    Message,
    PodName,
    Reason,
    UserName,
    conditions_field,
    log_field,
)
from jobwarden.api.constants import MAX_ATTEMPTS, MAX_CANCEL_GRACE_PERIOD_SECONDS
from jobwarden.api.enums import RunPhase

_COUNTER_NAME_HINT = "e.g. rows, bytes, total"


class QueueInfo(ApiModel):
    """Where a waiting run stands in its namespace's admission queue, and why."""

    position: int = Field(
        ge=1, description="1 = admitted next. Order: priority (High first), then age."
    )
    reason: Reason = Field(
        description=(
            "Why the run waits: QuotaExhausted (the namespace's WorkerQuota is full) or "
            "ConcurrencyPolicy (its ScheduledJob forbids overlapping runs). A paused "
            "ScheduledJob creates no runs and takes no manual ones (refused at admission)."
        )
    )
    message: Message = Field(default="", description="Details, e.g. 'quota 10/10 running'.")
    since: datetime | None = Field(default=None, description="When the run started waiting.")
    position_time: datetime | None = Field(
        default=None,
        description=(
            "When position was last updated. A position is refreshed at most every 30 s "
            "per ten places from the head (30 s in the first ten, 5 min at 91-100): "
            "exact near the head, coarser further back."
        ),
    )
    estimated_start_time: datetime | None = Field(
        default=None,
        description=(
            "When the run is expected to start: its position divided by the namespace's "
            "recent admission rate under a full quota (the pace its workers free slots "
            "at). Unset until that pace is known (the quota's worth of freed slots in "
            "the last hour, at most 50). Rewritten when the position is, or when the "
            "estimate moves by more than a fifth of the time left (at least 10 s)."
        ),
    )


class Attempt(ApiModel):
    """One attempt: one worker pod, named `<run>-<attempt>`."""

    attempt: int = Field(ge=1, le=MAX_ATTEMPTS, description="Attempt number, from 1.")
    pod_name: PodName = Field(description="Name of the worker pod of this attempt.")
    start_time: datetime | None = Field(default=None, description="When the pod was created.")
    finish_time: datetime | None = Field(
        default=None, description="When the attempt's outcome was recorded."
    )
    exit_code: int | None = Field(
        default=None,
        description=(
            "Exit code of the worker container: 0 success, 143 stopped cleanly on "
            "cancel (SIGTERM), 137 killed, anything else a failure."
        ),
    )
    reason: Reason | None = Field(
        default=None,
        description=(
            "Why it ended: Completed, Error, OOMKilled, DeadlineExceeded, StartTimeout (or "
            "the pod's reason, e.g. Unschedulable, when it never started), PodRejected, "
            "Disrupted (evicted, preempted, deleted outside jobwarden, node lost: not "
            "counted against retries), Cancelled, CancelTimeout …"
        ),
    )
    create_refusals: int | None = Field(
        default=None,
        ge=0,
        description=(
            "How many creates of this attempt's pod the API server refused for a "
            "transient reason (exceeded quota, 429, 5xx, timeouts); each is retried "
            "with a capped exponential backoff."
        ),
    )
    create_time: datetime | None = Field(
        default=None,
        description=(
            "When the worker pod was last asked for (later than startTime once a "
            "refused create was retried)."
        ),
    )
    next_create_time: datetime | None = Field(
        default=None,
        description="While a refused create backs off: when it is tried again.",
    )
    message: str | None = Field(
        default=None,
        max_length=4096,
        description="The worker's termination message (or the tail of its log on error).",
    )


class Cancellation(ApiModel):
    """The audit record of a cancel request and what it did."""

    requested_by: UserName = Field(
        description=(
            "User who set spec.cancel (from the jobwarden.dev/cancel-requested-by "
            "annotation the admission webhook stamps; 'unknown' without it)."
        )
    )
    requested_at: datetime = Field(description="When the cancel was requested.")
    reason: Message | None = Field(
        default=None,
        description="Why, from the jobwarden.dev/cancel-reason annotation, if given.",
    )
    signalled_at: datetime | None = Field(
        default=None,
        description="When the worker pod was deleted (SIGTERM sent); unset if none ran.",
    )
    finished_at: datetime | None = Field(default=None, description="When the cancel ended.")
    grace_period_seconds: int | None = Field(
        default=None,
        ge=0,
        le=MAX_CANCEL_GRACE_PERIOD_SECONDS,
        description="Grace period the worker was given after SIGTERM.",
    )
    outcome: Reason = Field(
        default="Pending",
        description=(
            "Pending (still stopping), Cancelled, Succeeded (the worker finished before "
            "it honoured the cancel), CancelTimeout (killed at the end of the grace "
            "period or never seen exiting), Ignored (the run had already ended)."
        ),
    )


class Progress(ApiModel):
    """What the worker last reported (it doubles as its heartbeat)."""

    fraction: float | None = Field(
        default=None, ge=0, le=1, description="Share of the work done, 0 to 1."
    )
    percent: int | None = Field(
        default=None, ge=0, le=100, description="fraction * 100, rounded down, for printing."
    )
    message: Message | None = Field(default=None, description="What the worker is doing.")
    counters: dict[str, Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict,
        description=f"Named counters ({_COUNTER_NAME_HINT}), at most 32.",
        json_schema_extra={"maxProperties": 32},
    )
    update_time: datetime | None = Field(
        default=None, description="When the worker last reported (its heartbeat)."
    )


class RunStatus(ApiModel):
    """Observed state of a JobRun or an Export, written by the operator.

    The operator writes it once per reconcile; the worker only patches `progress`.
    """

    observed_generation: int | None = Field(
        default=None, ge=0, description="The .metadata.generation this status reflects."
    )
    phase: RunPhase | None = Field(
        default=None,
        description=(
            "Summary of the conditions, for printing: Queued, Starting (admitted, its "
            "worker not started yet: status.reason and message say why, e.g. "
            "Unschedulable or ImagePullBackOff), Running, Retrying, Cancelling, "
            "Succeeded, Failed or Cancelled (the last three are final)."
        ),
    )
    reason: Reason | None = Field(
        default=None,
        description=(
            "Why the run is in its phase, e.g. QuotaExhausted, Unschedulable, "
            "PodCreateRefused, DeadlineExceeded, PodRejected."
        ),
    )
    message: Message | None = Field(default=None, description="One-line human summary.")
    conditions: list[Condition] = conditions_field()
    queue: QueueInfo | None = Field(
        default=None, description="Set while the run waits for admission (phase Queued)."
    )
    attempt: int = Field(
        default=0,
        ge=0,
        le=MAX_ATTEMPTS,
        description="Number of the current (or last) attempt; 0 before the first.",
    )
    attempts: list[Attempt] = Field(
        default_factory=list,
        max_length=MAX_ATTEMPTS,
        description="Every attempt so far, oldest first.",
    )
    start_time: datetime | None = Field(
        default=None, description="When the first attempt started (the run was admitted)."
    )
    completion_time: datetime | None = Field(
        default=None, description="When the run reached a final phase."
    )
    next_attempt_time: datetime | None = Field(
        default=None, description="When the next attempt starts (phase Retrying)."
    )
    duration: str | None = Field(
        default=None,
        max_length=32,
        description="Human-readable run time, e.g. '2m13s' (final once the run has ended).",
    )
    cancellation: Cancellation | None = Field(
        default=None, description="Set once a cancel was requested: who, when, outcome."
    )
    progress: Progress | None = Field(
        default=None, description="The worker's last progress report."
    )
    log: list[LogEntry] = log_field("run")

"""Run settings shared by ScheduledJob, JobRun and Export.

ScheduledJob and Export carry them with defaults. A JobRun carries them as optional
overrides: a run of a ScheduledJob inherits the job's settings (snapshotted when the
run starts), so a manual run of a job with `timeoutSeconds: 7200` does not silently
fall back to the default 1800. A standalone JobRun falls back to the defaults.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field

from jobwarden.api.base import ApiModel, cel, validations, with_rules
from jobwarden.api.constants import (
    DEFAULT_CANCEL_GRACE_PERIOD_SECONDS,
    DEFAULT_RETRIES,
    DEFAULT_RETRY_FACTOR,
    DEFAULT_RETRY_INITIAL_SECONDS,
    DEFAULT_RETRY_MAX_SECONDS,
    DEFAULT_RUN_RETENTION_DAYS,
    DEFAULT_START_TIMEOUT_SECONDS,
    DEFAULT_STUCK_AFTER_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
    MAX_CANCEL_GRACE_PERIOD_SECONDS,
    MAX_DEADLINE_SECONDS,
    MAX_DISRUPTIONS,
    MAX_RETRIES,
    MAX_START_TIMEOUT_SECONDS,
    MAX_STUCK_AFTER_SECONDS,
    MAX_TIMEOUT_SECONDS,
    MAX_TTL_SECONDS_AFTER_FINISHED,
    MIN_START_TIMEOUT_SECONDS,
    MIN_TIMEOUT_SECONDS,
)
from jobwarden.api.enums import DEFAULT_PRIORITY, Priority

_DAY = 86400

TimeoutSeconds = Annotated[int, Field(ge=MIN_TIMEOUT_SECONDS, le=MAX_TIMEOUT_SECONDS)]
StartTimeoutSeconds = Annotated[
    int, Field(ge=MIN_START_TIMEOUT_SECONDS, le=MAX_START_TIMEOUT_SECONDS)
]
Retries = Annotated[int, Field(ge=0, le=MAX_RETRIES)]
GracePeriodSeconds = Annotated[int, Field(ge=0, le=MAX_CANCEL_GRACE_PERIOD_SECONDS)]
StuckAfterSeconds = Annotated[int, Field(ge=0, le=MAX_STUCK_AFTER_SECONDS)]
DeadlineSeconds = Annotated[int, Field(ge=1, le=MAX_DEADLINE_SECONDS)]

DESCRIPTIONS = {
    "priority": (
        "Admission order when the namespace's WorkerQuota is full: High runs are "
        "admitted before Medium, Medium before Low; equal priorities by creation time."
    ),
    "timeout_seconds": (
        "Wall-clock limit of one attempt, in seconds (1-14400). An attempt that runs "
        "longer is stopped and fails with reason DeadlineExceeded (and may be retried)."
    ),
    "start_timeout_seconds": (
        f"Limit of an attempt's start, in seconds ({MIN_START_TIMEOUT_SECONDS}-"
        f"{MAX_START_TIMEOUT_SECONDS}): from its first pod create until the worker's "
        "container runs (pod creation, scheduling, image pull, container creation; the "
        "run shows phase Starting with the pod's own reason meanwhile). Past it the "
        "attempt fails with the pod's reason (e.g. Unschedulable, ImagePullBackOff) or "
        "StartTimeout, frees its slot, and may be retried. Counts within timeoutSeconds."
    ),
    "retries": (
        "How many times a failed attempt is retried (0-10); attempts = retries + 1. "
        "A cancelled attempt is never retried. An attempt ended by a disruption "
        "(eviction, preemption, its pod deleted outside jobwarden, its node lost) is "
        f"retried without spending a retry, at most {MAX_DISRUPTIONS} times per run."
    ),
    "retry_backoff": ("Wait before each retry: initialSeconds * factor^(n-1), at most maxSeconds."),
    "cancel_grace_period_seconds": (
        "On cancel, the worker gets SIGTERM and this many seconds (0-600) to finish its "
        "unit of work and clean up before it is killed (the run then fails with reason "
        "CancelTimeout)."
    ),
    "stuck_after_seconds": (
        "Stuck detection, in seconds (0-86400; 0 turns it off): once the running "
        "attempt's worker has reported progress at least once (status.progress, e.g. "
        "through the jobwarden.worker SDK), this many seconds without a new report flag "
        "the run with the condition Stuck=True (reason NoProgress, a Warning Event); the "
        "next report clears it. The worker is not stopped (timeoutSeconds still "
        "applies). A worker that never reports progress is never flagged for being "
        "silent."
    ),
    "deadline_seconds": (
        "If set, a run not finished this many seconds after its scheduled time (its "
        "creation for a run without one) gets the condition DeadlineMissed, a Warning "
        "Event and a count in jobwarden_deadline_missed_total, and so does its "
        "ScheduledJob: an alert that a run is late (queued, retrying or slow). The run "
        f"is not stopped (timeoutSeconds does that). 1-{MAX_DEADLINE_SECONDS} (7 days)."
    ),
}
CANCEL_DESCRIPTION = (
    "Set to true to cancel. Final: it cannot be set back to false. Queued or retrying "
    "work is cancelled at once; a running worker gets SIGTERM and "
    "cancelGracePeriodSeconds to stop. The outcome is recorded in status.cancellation."
)
_INHERITED = " Unset: inherited from the ScheduledJob (scheduledJobRef), else the default {}."


def cancel_field(description: str = CANCEL_DESCRIPTION) -> Any:
    """`spec.cancel`: a one-way switch (CEL transition rule: cancel is final)."""
    return Field(
        default=False,
        description=description,
        json_schema_extra=validations(
            cel("!oldSelf || self", "cancel is final: it cannot be set back to false")
        ),
    )


def ttl_field(kind: str) -> Any:
    """`spec.ttlSecondsAfterFinished` of a standalone run (as on a Kubernetes Job)."""
    return Field(
        default=None,
        ge=0,
        le=MAX_TTL_SECONDS_AFTER_FINISHED,
        description=(
            f"Delete this {kind} this many seconds after it finished (Succeeded, Failed or "
            "Cancelled; counted from status.completionTime), as a Kubernetes Job's "
            "ttlSecondsAfterFinished; 0: as soon as it has finished. Unset: the operator's "
            f"runRetentionDays (default {DEFAULT_RUN_RETENTION_DAYS} days; 0 there keeps "
            "finished runs for ever)."
            + (
                " Only for a standalone run (with template): the runs of a ScheduledJob "
                "follow its history limits and runRetentionDays."
                if kind == "JobRun"
                else ""
            )
        ),
    )


class RetryBackoff(ApiModel):
    """Exponential backoff between attempts."""

    model_config = ConfigDict(
        json_schema_extra=with_rules(
            cel(
                "self.maxSeconds >= self.initialSeconds",
                "retryBackoff.maxSeconds must be at least initialSeconds",
            )
        )
    )

    initial_seconds: int = Field(
        default=DEFAULT_RETRY_INITIAL_SECONDS,
        ge=1,
        le=_DAY,
        description="Wait before the first retry, in seconds (at least 1).",
    )
    factor: float = Field(
        default=DEFAULT_RETRY_FACTOR,
        ge=1,
        le=10,
        description="Multiplier applied to the wait for each further retry (1-10).",
    )
    max_seconds: int = Field(
        default=DEFAULT_RETRY_MAX_SECONDS,
        ge=1,
        le=_DAY,
        description="Upper bound of any wait, in seconds (at least 1).",
    )

    def delay_seconds(self, retry: int) -> float:
        """Wait before retry number `retry` (1 = the first retry)."""
        return float(min(self.initial_seconds * self.factor ** max(retry - 1, 0), self.max_seconds))


class RunSettings(ApiModel):
    """How a run is admitted, bounded in time, retried and cancelled (with defaults)."""

    priority: Priority = Field(default=DEFAULT_PRIORITY, description=DESCRIPTIONS["priority"])
    timeout_seconds: TimeoutSeconds = Field(
        default=DEFAULT_TIMEOUT_SECONDS, description=DESCRIPTIONS["timeout_seconds"]
    )
    retries: Retries = Field(default=DEFAULT_RETRIES, description=DESCRIPTIONS["retries"])
    # A model instance as default (pydantic copies it per instance) so the CRD gets
    # the full default object: the API server checks a default against the CEL rules
    # without applying the nested defaults first, so `default: {}` would be rejected.
    retry_backoff: RetryBackoff = Field(
        default=RetryBackoff(), description=DESCRIPTIONS["retry_backoff"]
    )
    start_timeout_seconds: StartTimeoutSeconds = Field(
        default=DEFAULT_START_TIMEOUT_SECONDS, description=DESCRIPTIONS["start_timeout_seconds"]
    )
    cancel_grace_period_seconds: GracePeriodSeconds = Field(
        default=DEFAULT_CANCEL_GRACE_PERIOD_SECONDS,
        description=DESCRIPTIONS["cancel_grace_period_seconds"],
    )
    stuck_after_seconds: StuckAfterSeconds = Field(
        default=DEFAULT_STUCK_AFTER_SECONDS, description=DESCRIPTIONS["stuck_after_seconds"]
    )
    deadline_seconds: DeadlineSeconds | None = Field(
        default=None, description=DESCRIPTIONS["deadline_seconds"]
    )

    def settings(self) -> RunSettings:
        """Just the run settings (drops the fields of a subclass such as a spec)."""
        return RunSettings.model_validate(
            {name: getattr(self, name) for name in RunSettings.model_fields}
        )


class RunSettingsOverrides(ApiModel):
    """The run settings of a JobRun: each one unset means inherited."""

    priority: Priority | None = Field(
        default=None, description=DESCRIPTIONS["priority"] + _INHERITED.format("Medium")
    )
    timeout_seconds: TimeoutSeconds | None = Field(
        default=None,
        description=DESCRIPTIONS["timeout_seconds"] + _INHERITED.format(DEFAULT_TIMEOUT_SECONDS),
    )
    retries: Retries | None = Field(
        default=None, description=DESCRIPTIONS["retries"] + _INHERITED.format(DEFAULT_RETRIES)
    )
    retry_backoff: RetryBackoff | None = Field(
        default=None,
        description=DESCRIPTIONS["retry_backoff"]
        + _INHERITED.format("60 s, factor 2, at most 3600 s"),
    )
    start_timeout_seconds: StartTimeoutSeconds | None = Field(
        default=None,
        description=DESCRIPTIONS["start_timeout_seconds"]
        + _INHERITED.format(DEFAULT_START_TIMEOUT_SECONDS),
    )
    cancel_grace_period_seconds: GracePeriodSeconds | None = Field(
        default=None,
        description=DESCRIPTIONS["cancel_grace_period_seconds"]
        + _INHERITED.format(DEFAULT_CANCEL_GRACE_PERIOD_SECONDS),
    )
    stuck_after_seconds: StuckAfterSeconds | None = Field(
        default=None,
        description=DESCRIPTIONS["stuck_after_seconds"]
        + _INHERITED.format(DEFAULT_STUCK_AFTER_SECONDS),
    )
    deadline_seconds: DeadlineSeconds | None = Field(
        default=None, description=DESCRIPTIONS["deadline_seconds"] + _INHERITED.format("unset")
    )

    def effective_settings(self, inherited: RunSettings | None = None) -> RunSettings:
        """The settings this run executes with: its overrides over `inherited`.

        `inherited` is the ScheduledJob's settings (from the run's snapshot) for a run
        of a ScheduledJob, and None (the defaults) for a standalone run.
        """
        base = (inherited or RunSettings()).settings()
        overrides = {
            name: value
            for name in RunSettingsOverrides.model_fields
            if (value := getattr(self, name)) is not None
        }
        return base.model_copy(update=overrides)

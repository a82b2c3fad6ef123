"""ScheduledJob: a pod template plus a cron schedule (or none: a one-time job)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from jobwarden.api.base import ApiModel, cel, k8s_schema, validations
from jobwarden.api.common import (
    Condition,
    LogEntry,
    Message,
    Reason,
    conditions_field,
    log_field,
)
from jobwarden.api.constants import (
    DEFAULT_FAILED_RUNS_HISTORY_LIMIT,
    DEFAULT_MISSED_RUNS_MAX,
    DEFAULT_RUN_RETENTION_DAYS,
    DEFAULT_SUCCESSFUL_RUNS_HISTORY_LIMIT,
    DEFAULT_TIME_ZONE,
    MAX_ACTIVE_LISTED,
    MAX_HISTORY_ENTRIES,
    MAX_JITTER_SECONDS,
    MAX_PAUSE_AFTER_FAILURES,
    MAX_RUN_NAME,
    MAX_SUMMARY_ERROR_CHARS,
)
from jobwarden.api.enums import (
    DEFAULT_CONCURRENCY_POLICY,
    DEFAULT_MISSED_RUN_POLICY,
    ConcurrencyPolicy,
    MissedRunPolicy,
    RunPhase,
    ScheduledJobPhase,
    Trigger,
)
from jobwarden.api.settings import RunSettings, cancel_field

_CRON_FIELD = "[0-9A-Za-z*?,/#()-]+"
#: The blanks CronJob accepts between fields (Go's unicode.IsSpace, as RE2 classes:
#: tab, line feed, vertical tab, form feed, carriage return, the Unicode space
#: separators and U+0085), so a schedule copied from a CronJob is not refused here.
#: Doubled backslashes: CEL unescapes the string literal before RE2 reads it.
_BLANK = r"[[:space:]\\p{Z}\\x{85}]"
_MACROS = "yearly|annually|monthly|weekly|daily|midnight|hourly"
#: Plausibility only (five fields or a macro alone); the admission webhook parses it
#: fully (jobwarden.core.scheduling.parse_schedule, which splits on the same blanks).
SCHEDULE_RULE = (
    "self.matches('^(@(" + _MACROS + ")|"
    f"{_BLANK}*{_CRON_FIELD}({_BLANK}+{_CRON_FIELD}){{4}}{_BLANK}*)$')"
)
TIME_ZONE_RULE = r"self.matches('^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$')"
TEMPLATE_DESCRIPTION = (
    "The worker pod, as in a Job's spec.template: metadata (labels, annotations) and a "
    "core/v1 PodSpec. The operator names the pod <run>-<attempt>, adds its labels, "
    "environment (run name, namespace, kind, attempt) and a tracking finalizer, and "
    "sets restartPolicy: Never (retries are the run's, not the kubelet's)."
)


class MissedRunSettings(ApiModel):
    """What to do with fires that were missed while the operator was down (fires that
    come while the job is paused are skipped on purpose: status.skippedWhilePaused)."""

    policy: MissedRunPolicy = Field(
        default=DEFAULT_MISSED_RUN_POLICY,
        description=(
            "Skip: run none of them. RunOnce (default): run only the latest missed "
            "fire, found exactly (a CronJob's estimate can skip it on irregular "
            "schedules). RunAll: run each missed fire, oldest first; when more "
            "than maxRuns were missed, only the latest maxRuns are run. Fires older "
            "than startingDeadlineSeconds are never run. Every missed fire is counted "
            "in status.missedRuns."
        ),
    )
    max_runs: int = Field(
        default=DEFAULT_MISSED_RUNS_MAX,
        ge=1,
        le=100,
        description="RunAll only: the most missed fires run after an outage (1-100).",
    )


class ActiveRun(ApiModel):
    """A run of this job that has not finished yet."""

    name: str = Field(max_length=MAX_RUN_NAME, description="Name of the JobRun.")
    scheduled_time: datetime | None = Field(
        default=None, description="The fire time it was created for (unset for manual runs)."
    )


class RunSummary(ApiModel):
    """What remains of a finished run after it was deleted by the history limits."""

    name: str = Field(max_length=MAX_RUN_NAME, description="Name of the JobRun.")
    trigger: Trigger = Field(description="Schedule, Manual or Rerun.")
    scheduled_time: datetime | None = Field(default=None, description="Its fire time, if any.")
    start_time: datetime | None = Field(default=None, description="When it started running.")
    completion_time: datetime | None = Field(default=None, description="When it ended.")
    phase: RunPhase = Field(description="Its final phase: Succeeded, Failed or Cancelled.")
    duration_seconds: float | None = Field(
        default=None, ge=0, description="Run time from start to completion, in seconds."
    )
    reason: Reason | None = Field(default=None, description="Why it ended that way.")
    error: str | None = Field(
        default=None,
        max_length=MAX_SUMMARY_ERROR_CHARS,
        description=(
            "Unless it succeeded: the termination message of its last attempt (what the "
            "worker said, or the tail of its log), clipped; the history's error column."
        ),
    )


class ScheduledJobSpec(RunSettings):
    """Desired state of a ScheduledJob."""

    schedule: str | None = Field(
        default=None,
        max_length=128,
        description=(
            "When to run, as five cron fields (minute hour day-of-month month "
            "day-of-week, e.g. '0 2 * * *'; read as a CronJob reads them) or a macro "
            "(@hourly, @daily, @weekly, @monthly, @yearly), evaluated in timeZone. Any "
            "field may be H (Jenkins' hash: a value fixed by namespace/name, e.g. "
            "'H H(1-5) * * *' runs once a night at a time of its own), H(first-last), "
            "H/step or H(first-last)/step. Kept as written. Unset: a one-time job that "
            "runs once, right after creation, and then is Completed."
        ),
        json_schema_extra=validations(
            cel(
                SCHEDULE_RULE,
                "schedule must be five cron fields separated by blanks, e.g. '0 2 * * *', "
                "or a macro such as @daily (put the time zone in spec.timeZone)",
            )
        ),
    )
    time_zone: str = Field(
        default=DEFAULT_TIME_ZONE,
        max_length=64,
        description="IANA time zone of the schedule, e.g. Europe/Berlin. DST-correct.",
        json_schema_extra=validations(
            cel(TIME_ZONE_RULE, "timeZone must be an IANA time zone name such as Europe/Berlin")
        ),
    )
    jitter_seconds: int | None = Field(
        default=None,
        ge=1,
        le=MAX_JITTER_SECONDS,
        description=(
            "Delay each fire's run by up to this many seconds (1-3600): a delay of its "
            "own, hashed from namespace/name and the fire time, so every operator "
            "replica and restart computes the same one, and always shorter than the "
            "time to the next fire. Spreads jobs that share a schedule. Real time: DST "
            "does not change it. Unset: no delay."
        ),
    )
    pause_after_consecutive_failures: int | None = Field(
        default=None,
        ge=1,
        le=MAX_PAUSE_AFTER_FAILURES,
        description=(
            "Pause the schedule after this many failed runs in a row (1-100; cancelled "
            "runs neither count nor break the streak; a Backfill's runs are not counted). "
            "The pause is in status.failurePause (why, since when), with a Warning Event "
            "PausedAfterFailures, an audit line and jobwarden_scheduledjob_failure_pauses_total; "
            "spec is never written. Resume with `kubectl jobwarden resume` (it sets the "
            "annotation jobwarden.dev/resume to status.failurePause.since). Unset: never."
        ),
    )
    suspend: bool = Field(
        default=False,
        description=(
            "Pause: no new runs start (running ones continue); history is kept. Each fire "
            "that comes while paused is skipped on purpose: counted in "
            "status.skippedWhilePaused and logged, never made up later (missedRunPolicy "
            "is for fires missed while the operator was down). After resume the job runs "
            "at its next scheduled time, not at once."
        ),
    )
    concurrency_policy: ConcurrencyPolicy = Field(
        default=DEFAULT_CONCURRENCY_POLICY,
        description=(
            "When a fire comes while a run of this job is still active. Allow: run both. "
            "Forbid (default): skip the new fire (counted as missed). Replace: cancel the "
            "active run, then start the new one."
        ),
    )
    starting_deadline_seconds: int | None = Field(
        default=None,
        ge=1,
        le=31536000,
        description=(
            "A fire that cannot start within this many seconds of its time is missed, "
            "not run late. Unset: no deadline."
        ),
    )
    missed_run_policy: MissedRunSettings = Field(
        default=MissedRunSettings(),
        description="What to do with missed fires (default: run the latest one once).",
    )
    template: dict[str, Any] = Field(
        description=TEMPLATE_DESCRIPTION, json_schema_extra=k8s_schema("PodTemplateSpec")
    )
    sensitive: bool = Field(
        default=False,
        description=(
            "A sensitive job: creating a manual run (or re-run) needs the RBAC verb "
            "execute-sensitive on this ScheduledJob in addition to creating the JobRun."
        ),
    )
    successful_runs_history_limit: int = Field(
        default=DEFAULT_SUCCESSFUL_RUNS_HISTORY_LIMIT,
        ge=0,
        le=1000,
        description="Finished successful JobRuns to keep.",
    )
    failed_runs_history_limit: int = Field(
        default=DEFAULT_FAILED_RUNS_HISTORY_LIMIT,
        ge=0,
        le=1000,
        description="Failed and cancelled JobRuns to keep.",
    )
    run_retention_days: float = Field(
        default=DEFAULT_RUN_RETENTION_DAYS,
        gt=0,
        le=3650,
        description=(
            "Finished JobRuns older than this are deleted even within the history "
            "limits; fractions are allowed (0.5 = 12 hours). A summary of each deleted "
            "run stays in status.history."
        ),
    )
    cancel: bool = cancel_field()


class FailurePause(ApiModel):
    """Why a ScheduledJob is paused after failed runs (until resumed)."""

    since: datetime = Field(
        description="When it was paused; `kubectl jobwarden resume` sets the annotation "
        "jobwarden.dev/resume to this value."
    )
    failures: int = Field(ge=1, description="Failed runs in a row that paused it.")
    last_failed_run: str | None = Field(
        default=None, max_length=MAX_RUN_NAME, description="The run whose failure paused it."
    )
    message: Message = Field(description="Why, in words.")


class ScheduledJobStatus(ApiModel):
    """Observed state of a ScheduledJob, written by the operator."""

    observed_generation: int | None = Field(
        default=None, ge=0, description="The .metadata.generation this status reflects."
    )
    phase: ScheduledJobPhase | None = Field(
        default=None,
        description=(
            "Active, Suspended, Completed (a one-time job whose run ended) or Cancelled "
            "(spec.cancel: no more runs)."
        ),
    )
    conditions: list[Condition] = conditions_field()
    next_schedule_time: datetime | None = Field(
        default=None, description="The next fire time; unset while suspended or finished."
    )
    last_schedule_time: datetime | None = Field(
        default=None, description="The fire time of the latest scheduled run."
    )
    last_successful_time: datetime | None = Field(
        default=None, description="When a run of this job last succeeded."
    )
    last_failure_time: datetime | None = Field(
        default=None, description="When a run of this job last failed or was cancelled."
    )
    consecutive_failures: int = Field(
        default=0, ge=0, description="Runs failed in a row since the last success."
    )
    missed_runs: int = Field(
        default=0, ge=0, description="Fires missed so far (not run, or run late by policy)."
    )
    skipped_while_paused: int = Field(
        default=0,
        ge=0,
        description=(
            "Fires skipped on purpose because the job was paused (spec.suspend); not "
            "counted in missedRuns."
        ),
    )
    last_skipped_time: datetime | None = Field(
        default=None,
        description=(
            "The newest fire skipped while paused: fires up to it are handled, so a "
            "resume runs nothing before the next fire."
        ),
    )
    failure_pause: FailurePause | None = Field(
        default=None,
        description=(
            "Set while the job is paused after spec.pauseAfterConsecutiveFailures failed "
            "runs in a row (phase Suspended, condition Suspended with reason "
            "ConsecutiveFailures); cleared when resumed."
        ),
    )
    failures_counted_since: datetime | None = Field(
        default=None,
        description=(
            "Failures before this instant (the last resume after a pause for failures) do "
            "not count toward pauseAfterConsecutiveFailures."
        ),
    )
    active_count: int = Field(default=0, ge=0, description="Number of unfinished runs.")
    active: list[ActiveRun] = Field(
        default_factory=list,
        max_length=MAX_ACTIVE_LISTED,
        description=f"Unfinished runs, oldest first (at most {MAX_ACTIVE_LISTED} listed).",
    )
    history: list[RunSummary] = Field(
        default_factory=list,
        max_length=MAX_HISTORY_ENTRIES,
        description=(
            "Summaries of runs deleted by the history limits or retention, newest last "
            f"(at most {MAX_HISTORY_ENTRIES})."
        ),
    )
    log: list[LogEntry] = log_field("job (fires, missed fires, pauses)")


class ScheduledJob(ApiModel):
    """A whole ScheduledJob object (metadata left as the API server's dict)."""

    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: ScheduledJobSpec
    status: ScheduledJobStatus = Field(default_factory=ScheduledJobStatus)


__all__ = [
    "ActiveRun",
    "FailurePause",
    "MissedRunSettings",
    "RunSummary",
    "ScheduledJob",
    "ScheduledJobSpec",
    "ScheduledJobStatus",
]

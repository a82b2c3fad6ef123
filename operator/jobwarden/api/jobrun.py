"""JobRun: one execution, of a ScheduledJob or standalone."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ConfigDict, Field

from jobwarden.api.base import ApiModel, cel, immutable_except, k8s_schema
from jobwarden.api.common import LocalObjectReference
from jobwarden.api.constants import MAX_RUN_NAME
from jobwarden.api.enums import Trigger
from jobwarden.api.runstatus import RunStatus
from jobwarden.api.scheduledjob import TEMPLATE_DESCRIPTION
from jobwarden.api.settings import RunSettings, RunSettingsOverrides, cancel_field, ttl_field

_ONE_OF_RULES = (
    cel(
        "!(has(self.scheduledJobRef) && has(self.template))",
        "set either scheduledJobRef (run a ScheduledJob) or template (a standalone run), not both",
    ),
    cel(
        "has(self.scheduledJobRef) || has(self.template)",
        "one of scheduledJobRef (run a ScheduledJob) or template (a standalone run) is required",
    ),
    cel(
        "self.trigger != 'Schedule' || (has(self.scheduledJobRef) && has(self.scheduledTime))",
        "trigger Schedule is for runs the operator creates from a ScheduledJob: it needs "
        "scheduledJobRef and scheduledTime (use trigger Manual to run a job now)",
    ),
    cel(
        "!(has(self.scheduledJobRef) && has(self.ttlSecondsAfterFinished))",
        "ttlSecondsAfterFinished is for a standalone run (template): the runs of a "
        "ScheduledJob follow its history limits and runRetentionDays",
    ),
    cel(
        "self.trigger != 'Backfill' || (has(self.scheduledJobRef) && has(self.scheduledTime))",
        "trigger Backfill is for runs a Backfill creates for a past fire: it needs "
        "scheduledJobRef and scheduledTime",
    ),
    cel(
        "self.trigger != 'Rerun' || has(self.rerunOf)",
        "trigger Rerun needs rerunOf: the name of the JobRun it repeats",
    ),
)


class JobRunSpec(RunSettingsOverrides):
    """Desired state of a JobRun. Immutable once created, except `cancel`."""

    model_config = ConfigDict(
        json_schema_extra=immutable_except("JobRun", "cancel", extra=_ONE_OF_RULES)
    )

    scheduled_job_ref: LocalObjectReference | None = Field(
        default=None,
        description=(
            "Run this ScheduledJob (in the same namespace). Its template and run "
            "settings are snapshotted into status.snapshot when the run is first "
            "reconciled, so later edits of the ScheduledJob do not change this run. "
            "Exactly one of scheduledJobRef and template."
        ),
    )
    template: dict[str, Any] | None = Field(
        default=None,
        description=TEMPLATE_DESCRIPTION + " Exactly one of scheduledJobRef and template.",
        json_schema_extra=k8s_schema("PodTemplateSpec"),
    )
    trigger: Trigger = Field(
        default=Trigger.MANUAL,
        description=(
            "Why this run exists: Schedule (created by the operator for a fire time), "
            "Manual (run now, the default), Rerun (a repeat of an earlier run) or "
            "Backfill (created by a Backfill for a past fire time)."
        ),
    )
    scheduled_time: datetime | None = Field(
        default=None, description="The fire time this run is for (trigger Schedule)."
    )
    rerun_of: str | None = Field(
        default=None,
        max_length=MAX_RUN_NAME,
        description="For trigger Rerun: the name of the JobRun this run repeats.",
    )
    cancel: bool = cancel_field()
    ttl_seconds_after_finished: int | None = ttl_field("JobRun")


class Snapshot(ApiModel):
    """What the run executes, fixed when the operator first reconciles it.

    It lives in status because the operator never writes a user's spec, and for
    runs of a ScheduledJob the user's spec holds only the reference.
    """

    time: datetime = Field(description="When the snapshot was taken.")
    scheduled_job_generation: int | None = Field(
        default=None,
        ge=0,
        description="The ScheduledJob's .metadata.generation the snapshot was taken from.",
    )
    settings: RunSettings = Field(
        description=(
            "Effective run settings: the run's own, else the ScheduledJob's, else the defaults."
        )
    )
    template: dict[str, Any] | None = Field(
        default=None,
        description=(
            "The ScheduledJob's pod template at snapshot time (runs with "
            "scheduledJobRef; a standalone run uses its immutable spec.template)."
        ),
    )


class JobRunStatus(RunStatus):
    """Observed state of a JobRun."""

    snapshot: Snapshot | None = Field(
        default=None,
        description="The template and settings this run executes, fixed at its start.",
    )


class JobRun(ApiModel):
    """A whole JobRun object (metadata left as the API server's dict)."""

    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: JobRunSpec
    status: JobRunStatus = Field(default_factory=JobRunStatus)

    def effective_template(self) -> dict[str, Any] | None:
        """The pod template to run: the snapshot's, else the run's own."""
        if self.status.snapshot is not None and self.status.snapshot.template is not None:
            return self.status.snapshot.template
        return self.spec.template

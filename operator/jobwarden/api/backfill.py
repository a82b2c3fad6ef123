"""Backfill: the runs of every fire of a ScheduledJob in a past time range."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ConfigDict, Field

from jobwarden.api.base import ApiModel, cel, immutable_except
from jobwarden.api.common import (
    Condition,
    LocalObjectReference,
    LogEntry,
    Message,
    conditions_field,
    log_field,
)
from jobwarden.api.constants import (
    DEFAULT_BACKFILL_CONCURRENT_RUNS,
    MAX_BACKFILL_CONCURRENT_RUNS,
    MAX_BACKFILL_FIRES,
    MAX_BACKFILL_SKIPPED_LISTED,
    MAX_RUN_NAME,
)
from jobwarden.api.enums import BackfillPhase, SkipReason
from jobwarden.api.settings import cancel_field

_RULES = (cel("self.to > self.from", "to must be later than from", field_path=".to"),)


class BackfillSpec(ApiModel):
    """Desired state of a Backfill. Immutable once created, except `cancel`."""

    model_config = ConfigDict(
        json_schema_extra=immutable_except("Backfill", "cancel", extra=_RULES)
    )

    scheduled_job_ref: LocalObjectReference = Field(
        description=(
            "The ScheduledJob (same namespace) whose fires to run: its schedule, time "
            "zone and H fields say when they were; its template and settings what runs."
        )
    )
    from_: datetime = Field(
        alias="from",
        description=("The first instant of the range (RFC 3339): fires at or after it are run."),
    )
    to: datetime = Field(
        description=(
            "The last instant of the range (RFC 3339): fires at or before it are run. "
            "Must not be in the future when created; fires after the Backfill was "
            "created are the schedule's, never the Backfill's."
        )
    )
    max_concurrent_runs: int = Field(
        default=DEFAULT_BACKFILL_CONCURRENT_RUNS,
        ge=1,
        le=MAX_BACKFILL_CONCURRENT_RUNS,
        description=(
            "The most runs of this Backfill active at once "
            f"(1-{MAX_BACKFILL_CONCURRENT_RUNS}); they also queue under the namespace's "
            "WorkerQuota like any run. Runs are created oldest fire first."
        ),
    )
    cancel: bool = cancel_field(
        "Set to true to cancel: no more runs are created, and the runs this Backfill "
        "created that have not finished are cancelled. Final: it cannot be set back to false."
    )


class SkippedFire(ApiModel):
    """A fire in the range that got no run from this Backfill."""

    scheduled_time: datetime = Field(description="The fire.")
    name: str = Field(max_length=MAX_RUN_NAME, description="The run name of that fire.")
    reason: SkipReason = Field(
        description="RunExists (a run of that fire exists) or RunInHistory (it ran and "
        "was pruned to the ScheduledJob's status.history)."
    )


class BackfillStatus(ApiModel):
    """Progress of a Backfill, written by the operator."""

    observed_generation: int | None = Field(
        default=None, ge=0, description="The .metadata.generation this status reflects."
    )
    phase: BackfillPhase | None = Field(
        default=None,
        description=(
            "Pending (its ScheduledJob does not exist yet), Running, Cancelling, "
            "Completed (every fire ran or was skipped), Cancelled, Failed (see reason)."
        ),
    )
    reason: str | None = Field(default=None, max_length=128, description="Why, in one word.")
    message: Message | None = Field(default=None, description="Details.")
    conditions: list[Condition] = conditions_field()
    fires: int = Field(default=0, ge=0, le=MAX_BACKFILL_FIRES, description="Fires in the range.")
    created: int = Field(default=0, ge=0, description="Runs created so far.")
    skipped: int = Field(
        default=0, ge=0, description="Fires that already had a run: none was created."
    )
    active: int = Field(default=0, ge=0, description="Runs created and not finished.")
    succeeded: int = Field(default=0, ge=0, description="Runs that succeeded.")
    failed: int = Field(default=0, ge=0, description="Runs that failed.")
    cancelled: int = Field(
        default=0, ge=0, description="Runs cancelled (or deleted before they ended)."
    )
    last_fire_time: datetime | None = Field(
        default=None,
        description="The newest fire handled so far (run created or skipped): fires run "
        "oldest first, so every earlier fire is handled too.",
    )
    active_runs: list[str] = Field(
        default_factory=list,
        max_length=MAX_BACKFILL_CONCURRENT_RUNS,
        description="The names of the runs created and not finished.",
    )
    skipped_fires: list[SkippedFire] = Field(
        default_factory=list,
        max_length=MAX_BACKFILL_SKIPPED_LISTED,
        description=f"The first {MAX_BACKFILL_SKIPPED_LISTED} fires skipped, and why.",
    )
    start_time: datetime | None = Field(default=None, description="When it started.")
    completion_time: datetime | None = Field(default=None, description="When it ended.")
    log: list[LogEntry] = log_field("backfill")


class Backfill(ApiModel):
    """A whole Backfill object (metadata left as the API server's dict)."""

    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: BackfillSpec
    status: BackfillStatus = Field(default_factory=BackfillStatus)


__all__ = ["Backfill", "BackfillSpec", "BackfillStatus", "SkippedFire"]

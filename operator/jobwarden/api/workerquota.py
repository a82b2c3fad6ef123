"""WorkerQuota: caps the parallel worker pods of a namespace (a tenant)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from jobwarden.api.base import ApiModel
from jobwarden.api.common import Condition, conditions_field
from jobwarden.api.constants import DEFAULT_MAX_RUNNING


class WorkerQuotaSpec(ApiModel):
    """Desired state of a WorkerQuota."""

    max_running: int = Field(
        ge=1,
        le=1000,
        description=(
            "Most worker pods of JobRuns and Exports that may run at once in this "
            f"namespace (1-1000). Without a WorkerQuota the limit is {DEFAULT_MAX_RUNNING}; "
            "with several, the smallest applies. Waiting runs queue by priority, then age."
        ),
    )


class QueuedByPriority(ApiModel):
    """Waiting runs per priority."""

    high: int = Field(default=0, ge=0, description="Waiting runs with priority High.")
    medium: int = Field(default=0, ge=0, description="Waiting runs with priority Medium.")
    low: int = Field(default=0, ge=0, description="Waiting runs with priority Low.")


class WorkerQuotaStatus(ApiModel):
    """Observed usage of the namespace's quota, written by the operator."""

    observed_generation: int | None = Field(
        default=None, ge=0, description="The .metadata.generation this status reflects."
    )
    conditions: list[Condition] = conditions_field()
    running: int = Field(default=0, ge=0, description="Worker pods running now.")
    queued: int = Field(default=0, ge=0, description="Runs waiting for a slot.")
    queued_by_priority: QueuedByPriority = Field(
        default_factory=QueuedByPriority,
        description="Waiting runs per priority.",
        json_schema_extra={"default": {}},
    )


class WorkerQuota(ApiModel):
    """A whole WorkerQuota object (metadata left as the API server's dict)."""

    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: WorkerQuotaSpec
    status: WorkerQuotaStatus = Field(default_factory=WorkerQuotaStatus)

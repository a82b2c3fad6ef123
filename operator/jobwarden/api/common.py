"""Pieces shared by several kinds: conditions, log entries, references, name types."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from jobwarden.api.base import ApiModel, map_list
from jobwarden.api.constants import MAX_CONDITIONS, MAX_LOG_ENTRIES, MAX_MESSAGE_CHARS
from jobwarden.api.enums import ConditionStatus

# A DNS-1123 label: names of pods, volumes, ScheduledJobs.
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# A DNS-1123 subdomain: names of Secrets, ServiceAccounts, most objects.
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_CONDITION_TYPE_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)
_REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"

ObjectName = Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)]
LabelName = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL_PATTERN)]
#: A pod name jobwarden creates (`<run>-<attempt>`): a subdomain short enough to be
#: a label value.
PodName = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_SUBDOMAIN_PATTERN)]
#: A CamelCase machine-readable reason, as in metav1.Condition.
Reason = Annotated[str, Field(min_length=1, max_length=128, pattern=_REASON_PATTERN)]
Message = Annotated[str, Field(max_length=MAX_MESSAGE_CHARS)]
UserName = Annotated[str, Field(max_length=256)]
StringMap = dict[str, Annotated[str, Field(max_length=4096)]]


class Condition(ApiModel):
    """One aspect of the object's state, in the standard metav1.Condition shape."""

    type: str = Field(
        max_length=316,
        pattern=_CONDITION_TYPE_PATTERN,
        description=(
            "Type of condition in CamelCase: Ready, Reconciling and Stalled (read by Flux "
            "kstatus and Argo CD), Suspended (ScheduledJob), Stuck (a run whose worker "
            "stopped reporting progress)."
        ),
    )
    status: ConditionStatus = Field(description="Status of the condition: True, False or Unknown.")
    observed_generation: int | None = Field(
        default=None,
        ge=0,
        description="The .metadata.generation the condition was set from.",
    )
    last_transition_time: datetime = Field(
        description="When the condition last changed from one status to another."
    )
    reason: str = Field(
        min_length=1,
        max_length=1024,
        pattern=_REASON_PATTERN,
        description="CamelCase machine-readable reason for the last transition.",
    )
    message: str = Field(
        max_length=32768, description="Human-readable details about the transition."
    )


def conditions_field() -> Any:
    """The `status.conditions` field: a map-list keyed by type (merge-friendly)."""
    return Field(
        default_factory=list,
        max_length=MAX_CONDITIONS,
        description=(
            "Current state in the metav1.Condition shape, one entry per type. "
            "Ready=True means the object reached its goal; Reconciling=True means the "
            "operator is working towards it; Stalled=True means it cannot progress."
        ),
        json_schema_extra=map_list("type"),
    )


class LogEntry(ApiModel):
    """One line of an object's execution log."""

    time: datetime = Field(description="When it happened.")
    message: Message = Field(description="What happened, in one line.")


def log_field(what: str) -> Any:
    """A bounded `status.log` field (newest last; the oldest entries are dropped)."""
    return Field(
        default_factory=list,
        max_length=MAX_LOG_ENTRIES,
        description=(
            f"Execution log of this {what}, newest last, at most {MAX_LOG_ENTRIES} "
            "entries (the oldest are dropped). Events and the operator's audit log "
            "keep the full record."
        ),
    )


class LocalObjectReference(ApiModel):
    """A reference to an object in the same namespace."""

    name: ObjectName = Field(description="Name of the object, in the same namespace.")

"""What a decision asks the engine to do: API actions, one status write, Events,
audit records and when to look again."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jobwarden.api.enums import (
    AuditAction,
    AuditOutcome,
    BackfillPhase,
    CancelOutcome,
    EventReason,
    EventType,
    RunPhase,
)
from jobwarden.core.refusals import RefusalClass


@dataclass(frozen=True)
class CreatePod:
    """Create the worker pod of an attempt (idempotent: the name is deterministic)."""

    name: str
    attempt: int


@dataclass(frozen=True)
class DeletePod:
    """Delete a worker pod with a grace period (0 = force), only if `uid` still matches."""

    name: str
    uid: str
    grace_period_seconds: int


@dataclass(frozen=True)
class ReleasePod:
    """Remove the tracking finalizer: the pod's outcome is in the run's status."""

    name: str
    uid: str


@dataclass(frozen=True)
class DeleteRun:
    """Delete the finished run itself (its TTL has passed), only if `uid` still matches."""

    uid: str


@dataclass(frozen=True)
class ReleaseRun:
    """Remove the stop-before-delete finalizer of a deleted run that has finished:
    the API server then removes it (`keep`: the other finalizers, left as they are)."""

    uid: str
    keep: tuple[str, ...]
    resource_version: str


Action = CreatePod | DeletePod | ReleasePod | DeleteRun | ReleaseRun


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event on the run (emitted after the status write succeeded)."""

    type: EventType
    reason: EventReason
    message: str


#: What an audit line says came of its action (a Backfill's: its final phase).
AuditOutcomeValue = AuditOutcome | CancelOutcome | RunPhase | BackfillPhase


@dataclass(frozen=True)
class Audit:
    """One line of the operator's JSON audit log."""

    action: AuditAction
    outcome: AuditOutcomeValue
    user: str = ""
    detail: str = ""


@dataclass
class Plan:
    """The result of one decision.

    `pre_actions` run before the status write (pod creation and deletion: the status
    then records what was done), `post_actions` after it (finalizer removal: the
    outcome must be recorded first). `status` is the complete new status, or None
    when nothing changed.
    """

    status: dict[str, Any] | None = None  # JSON: a `RunStatusDict` (api.shapes)
    pre_actions: list[Action] = field(default_factory=list)
    post_actions: list[Action] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    audit: list[Audit] = field(default_factory=list)
    requeue_after: float | None = None  # seconds; None = wait for a watch event
    wants_slot: bool = False  # waiting for admission
    holds_slot: bool = False  # holds a worker slot after this plan
    refusal: RefusalClass | None = None  # a pod create the API server refused (metrics)
    #: The status may be written up to this many seconds later (None: now), merged into
    #: the next write: a run just admitted whose pod starts at once then costs one write
    #: for admission and start. Nothing is lost if it never is: a pod created before a
    #: crash is adopted from the API.
    status_may_wait: float | None = None

    def wake_in(self, seconds: float) -> None:
        """Ask to be reconciled again after `seconds` (the earliest request wins)."""
        seconds = max(0.0, seconds)
        if self.requeue_after is None or seconds < self.requeue_after:
            self.requeue_after = seconds

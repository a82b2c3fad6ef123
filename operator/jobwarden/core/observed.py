"""What the engine observed, as small immutable projections of API objects.

These are what the decision functions read; they are also what the operator keeps
in memory per object, so they hold only what decisions need.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from jobwarden.api import constants as c
from jobwarden.api.enums import (
    DEFAULT_PRIORITY,
    ConditionStatus,
    Priority,
    QueueReason,
    RunPhase,
    Trigger,
)
from jobwarden.api.shapes import RUN_SETTING_KEYS, RetryBackoffSpec, RunSettingsSpec
from jobwarden.core.backoff import Backoff
from jobwarden.core.conditions import parse_time
from jobwarden.core.reasons import PodConditionType, PodPhase, PodReason

#: Finalizer on worker pods until the operator has recorded their outcome.
TRACKING_FINALIZER = f"{c.GROUP}/run-tracking"

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_ENDED = (PodPhase.SUCCEEDED, PodPhase.FAILED)
#: What a run's own spec may set of its settings (over its snapshot's).
_SETTING_KEYS = frozenset((*RUN_SETTING_KEYS, "cancel"))


@dataclass(frozen=True)
class RunSettings:
    """The run settings shared by JobRun and Export (defaults as in the CRDs)."""

    priority: Priority = DEFAULT_PRIORITY
    timeout_seconds: int = c.DEFAULT_TIMEOUT_SECONDS
    retries: int = c.DEFAULT_RETRIES
    backoff: Backoff = field(default_factory=Backoff)
    start_timeout_seconds: int = c.DEFAULT_START_TIMEOUT_SECONDS
    cancel_grace_period_seconds: int = c.DEFAULT_CANCEL_GRACE_PERIOD_SECONDS
    cancel: bool = False
    #: Seconds of silence after a progress report that flag Stuck; None: off (0 in spec).
    stuck_after_seconds: int | None = c.DEFAULT_STUCK_AFTER_SECONDS
    deadline_seconds: int | None = None

    @classmethod
    def from_spec(cls, raw: Mapping[str, Any]) -> RunSettings:
        """Read the settings, falling back to defaults for absent fields."""
        spec = cast(RunSettingsSpec, raw)
        backoff: RetryBackoffSpec = spec.get("retryBackoff") or {}
        try:
            priority = Priority(spec.get("priority", DEFAULT_PRIORITY))
        except ValueError:
            priority = DEFAULT_PRIORITY
        return cls(
            priority=priority,
            timeout_seconds=int(spec.get("timeoutSeconds", c.DEFAULT_TIMEOUT_SECONDS)),
            retries=int(spec.get("retries", c.DEFAULT_RETRIES)),
            backoff=Backoff(
                initial_seconds=float(
                    backoff.get("initialSeconds", c.DEFAULT_RETRY_INITIAL_SECONDS)
                ),
                factor=float(backoff.get("factor", c.DEFAULT_RETRY_FACTOR)),
                max_seconds=float(backoff.get("maxSeconds", c.DEFAULT_RETRY_MAX_SECONDS)),
            ),
            start_timeout_seconds=int(
                spec.get("startTimeoutSeconds", c.DEFAULT_START_TIMEOUT_SECONDS)
            ),
            cancel_grace_period_seconds=int(
                spec.get("cancelGracePeriodSeconds", c.DEFAULT_CANCEL_GRACE_PERIOD_SECONDS)
            ),
            cancel=bool(raw.get("cancel", False)),
            stuck_after_seconds=_stuck_after(spec.get("stuckAfterSeconds")),
            deadline_seconds=int(deadline) if (deadline := spec.get("deadlineSeconds")) else None,
        )


def _stuck_after(value: object) -> int | None:
    """`stuckAfterSeconds`: unset is the default, 0 turns stuck detection off."""
    if value is None:
        return c.DEFAULT_STUCK_AFTER_SECONDS
    seconds = int(str(value))
    return seconds if seconds > 0 else None


@dataclass(frozen=True)
class RunView:
    """A JobRun or Export as the engine needs it."""

    kind: str
    namespace: str
    name: str
    uid: str
    generation: int
    resource_version: str
    created: datetime.datetime
    deleting: bool
    settings: RunSettings
    annotations: Mapping[str, str]
    status: Mapping[str, Any]
    complete: bool = True  # False for a slimmed finished run: re-read before writing
    scheduled_job: str | None = None  # spec.scheduledJobRef.name
    trigger: str = Trigger.MANUAL.value
    scheduled_time: datetime.datetime | None = None
    own_settings: Mapping[str, Any] = field(default_factory=dict)  # set in the run's spec
    labels: Mapping[str, str] = field(default_factory=dict)
    #: spec.ttlSecondsAfterFinished (a standalone run's; kept in a slimmed finished run).
    ttl_seconds_after_finished: int | None = None
    finalizers: tuple[str, ...] = ()
    #: The spec as the API returned it (a worker pod is built from it without a GET);
    #: empty in a slimmed finished run.
    spec: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def filter_labels(self) -> dict[str, str]:
        """Filter labels (ScheduledJob, trigger) the run lacks: the mutating webhook or
        the scheduler sets them at creation; this catches runs created without them."""
        wanted = {c.LABEL_TRIGGER: self.trigger}
        if self.scheduled_job:
            wanted[c.LABEL_SCHEDULED_JOB] = self.scheduled_job
        return {k: v for k, v in wanted.items() if self.labels.get(k) != v}

    def with_snapshot(self, snapshot: Mapping[str, Any]) -> RunView:
        """The run as it will be once `snapshot` is recorded in its status."""
        settings = RunSettings.from_spec({**(snapshot.get("settings") or {}), **self.own_settings})
        if self.settings.cancel:
            settings = dataclasses.replace(settings, cancel=True)
        return dataclasses.replace(
            self, status={**self.status, "snapshot": dict(snapshot)}, settings=settings
        )

    @property
    def key(self) -> tuple[str, str, str]:
        """(kind, namespace, name): unique across both run kinds."""
        return (self.kind, self.namespace, self.name)

    @functools.cached_property
    def phase(self) -> RunPhase:
        """The stored phase; a run never written yet is Queued (read often: cached,
        which is safe as a view and its status are never changed in place)."""
        try:
            return RunPhase(self.status.get("phase") or RunPhase.QUEUED)
        except ValueError:
            return RunPhase.QUEUED

    @property
    def attempt(self) -> int:
        """The current (or last) attempt number; 0 before the first."""
        return int(self.status.get("attempt") or 0)

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> RunView:
        """Project a JobRun or Export object.

        The effective settings are the run's own over its snapshot's (a run of a
        ScheduledJob inherits the job's settings); an operator cancel counts as cancel.
        """
        metadata = body.get("metadata") or {}
        spec = body.get("spec") or {}
        status = body.get("status") or {}
        snapshot = (status.get("snapshot") or {}).get("settings") or {}
        own = {k: v for k, v in spec.items() if k in _SETTING_KEYS and v is not None}
        settings = RunSettings.from_spec({**snapshot, **own})
        annotations = dict(metadata.get("annotations") or {})
        if annotations.get(c.ANNOTATION_OPERATOR_CANCEL) == "true" and not settings.cancel:
            settings = dataclasses.replace(settings, cancel=True)
        if metadata.get("deletionTimestamp") and not settings.cancel:
            # Deleted before it finished: it is stopped through the cancel path first.
            settings = dataclasses.replace(settings, cancel=True)
        ref = spec.get("scheduledJobRef") or {}
        return cls(
            kind=str(body.get("kind", "")),
            namespace=str(metadata.get("namespace", "")),
            name=str(metadata.get("name", "")),
            uid=str(metadata.get("uid", "")),
            generation=int(metadata.get("generation") or 1),
            resource_version=str(metadata.get("resourceVersion", "")),
            created=parse_time(metadata.get("creationTimestamp")) or _EPOCH,
            deleting=bool(metadata.get("deletionTimestamp")),
            settings=settings,
            annotations=annotations,
            status=dict(status),
            scheduled_job=str(ref["name"]) if ref.get("name") else None,
            trigger=str(spec.get("trigger") or Trigger.MANUAL.value),
            scheduled_time=parse_time(spec.get("scheduledTime")),
            own_settings=own,
            labels=dict(metadata.get("labels") or {}),
            ttl_seconds_after_finished=_optional_int(spec.get("ttlSecondsAfterFinished")),
            finalizers=tuple(str(f) for f in metadata.get("finalizers") or []),
            spec=spec,
        )

    def manifest(self) -> dict[str, Any]:
        """The run as an object again (what building its worker pod reads)."""
        return {
            "apiVersion": c.API_VERSION,
            "kind": self.kind,
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "uid": self.uid,
                "labels": dict(self.labels),
                "annotations": dict(self.annotations),
            },
            "spec": self.spec,
            "status": self.status,
        }


@dataclass(frozen=True)
class Termination:
    """How a worker container ended."""

    exit_code: int
    reason: str
    message: str
    finished_at: datetime.datetime | None


@dataclass(frozen=True)
class Waiting:
    """Why a pod's worker has not started: the scheduler's or the kubelet's words."""

    reason: str  # e.g. Unschedulable, ContainerCreating, ErrImagePull
    message: str
    init: bool = False  # said of an init container


@dataclass(frozen=True)
class PodNote:
    """A reason and message Kubernetes put on the pod (a condition or its status)."""

    reason: str
    message: str


@dataclass(frozen=True)
class PodView:
    """A worker pod as the engine needs it."""

    name: str
    uid: str
    attempt: int
    phase: str
    resource_version: str
    created: datetime.datetime
    deletion_requested: datetime.datetime | None  # deletionTimestamp - grace
    deletion_deadline: datetime.datetime | None  # metadata.deletionTimestamp
    tracked: bool  # still carries the tracking finalizer
    termination: Termination | None  # set once the worker container has exited
    running_since: datetime.datetime | None
    scheduled: bool = True  # bound to a node (a process may exist)
    owner_uid: str = ""  # uid of the run that owns the pod
    #: Why the worker has not started yet (None once it has, or when nothing is said).
    waiting: Waiting | None = None
    node_name: str = ""
    disruption: PodNote | None = None  # condition DisruptionTarget=True
    failure: PodNote | None = None  # status.reason/message of a pod that failed as a whole
    memory_limit: str | None = None  # the worker container's limits.memory

    @property
    def started(self) -> bool:
        """Whether the worker container ever started (running, or ended)."""
        return self.running_since is not None or self.termination is not None

    @property
    def alive(self) -> bool:
        """Whether the worker may still be running (holds a slot)."""
        return self.termination is None and self.phase not in _ENDED

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> PodView:
        """Project a worker pod; the worker container is the first one."""
        metadata = body.get("metadata") or {}
        status = body.get("status") or {}
        pod_spec = body.get("spec") or {}
        labels = metadata.get("labels") or {}
        deadline = parse_time(metadata.get("deletionTimestamp"))
        grace = metadata.get("deletionGracePeriodSeconds")
        requested = (
            deadline - datetime.timedelta(seconds=int(grace))
            if deadline is not None and grace is not None
            else deadline
        )
        termination: Termination | None = None
        running_since: datetime.datetime | None = None
        statuses = status.get("containerStatuses") or []
        waiting = _waiting(status)
        if statuses:
            state = statuses[0].get("state") or {}
            terminated = state.get("terminated")
            if terminated:
                termination = Termination(
                    exit_code=int(terminated.get("exitCode", 0)),
                    reason=str(terminated.get("reason") or ""),
                    message=str(terminated.get("message") or "").strip(),
                    finished_at=parse_time(terminated.get("finishedAt")),
                )
            running = state.get("running")
            if running:
                running_since = parse_time(running.get("startedAt"))
        failure = (
            PodNote(str(status["reason"]), str(status.get("message") or ""))
            if status.get("reason")
            else None
        )
        if termination is None and status.get("phase") in _ENDED:
            termination = Termination(
                exit_code=0 if status["phase"] == PodPhase.SUCCEEDED else 1,
                reason=str(status.get("reason") or status["phase"]),
                message=str(status.get("message") or ""),
                finished_at=None,
            )
        try:
            attempt = int(labels.get(c.LABEL_ATTEMPT, "0"))
        except ValueError:
            attempt = 0
        return cls(
            name=str(metadata.get("name", "")),
            uid=str(metadata.get("uid", "")),
            attempt=attempt,
            resource_version=str(metadata.get("resourceVersion", "")),
            phase=str(status.get("phase") or PodPhase.PENDING.value),
            created=parse_time(metadata.get("creationTimestamp")) or _EPOCH,
            deletion_requested=requested,
            deletion_deadline=deadline,
            tracked=TRACKING_FINALIZER in (metadata.get("finalizers") or []),
            termination=termination,
            running_since=running_since,
            scheduled=bool(pod_spec.get("nodeName")),
            owner_uid=next(
                (
                    str(ref.get("uid", ""))
                    for ref in metadata.get("ownerReferences") or []
                    if ref.get("controller")
                ),
                "",
            ),
            waiting=None if running_since is not None or termination is not None else waiting,
            node_name=str(pod_spec.get("nodeName") or ""),
            disruption=_condition_note(
                status, PodConditionType.DISRUPTION_TARGET, ConditionStatus.TRUE
            ),
            failure=failure,
            memory_limit=_memory_limit(pod_spec),
        )


def _condition_note(status: Mapping[str, Any], type_: str, wanted: str) -> PodNote | None:
    for condition in status.get("conditions") or []:
        if condition.get("type") == type_ and condition.get("status") == wanted:
            return PodNote(str(condition.get("reason") or ""), str(condition.get("message") or ""))
    return None


def _waiting(status: Mapping[str, Any]) -> Waiting | None:
    """The first reason a container gives for not running yet (init containers first,
    as they run first), else the scheduler's (PodScheduled=False)."""
    for key, init in (("initContainerStatuses", True), ("containerStatuses", False)):
        for container in status.get(key) or []:
            waiting = (container.get("state") or {}).get("waiting") or {}
            reason = str(waiting.get("reason") or "")
            if reason and not (init and reason == PodReason.POD_INITIALIZING):
                return Waiting(reason, str(waiting.get("message") or ""), init)
    unscheduled = _condition_note(status, PodConditionType.POD_SCHEDULED, ConditionStatus.FALSE)
    if unscheduled is not None and unscheduled.reason:
        return Waiting(unscheduled.reason, unscheduled.message)
    return None


def _memory_limit(pod_spec: Mapping[str, Any]) -> str | None:
    containers = pod_spec.get("containers") or []
    if not containers:
        return None
    limits = (containers[0].get("resources") or {}).get("limits") or {}
    value = limits.get("memory")
    return str(value) if value is not None else None


@dataclass(frozen=True)
class Slot:
    """The namespace's answer to "may this run start a worker now?"."""

    admit: bool
    position: int  # queue position if not admitted (1-based), else 0
    running: int  # workers running in the namespace
    limit: int  # the namespace's quota
    reason: QueueReason = QueueReason.QUOTA_EXHAUSTED  # why it waits
    message: str = ""  # details when the reason is not the quota
    #: When it should start (core.eta), for a run waiting for the quota; None: unknown.
    estimated_start: datetime.datetime | None = None
    #: It should start within `eta.SOON` at a current pace: its shown queue is not
    #: rewritten meanwhile (`lifecycle.queue_update_due`).
    starts_soon: bool = False


def _optional_int(value: object) -> int | None:
    """An integer field of a spec, None when unset or not a number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(str(value))
    except ValueError:
        return None

"""The Backfill as one pure decision.

`decide_backfill(backfill, job, runs, now)` looks at a Backfill, its ScheduledJob and
the job's runs, and returns the runs to create (the next fires of the range, oldest
first, up to `maxConcurrentRuns` active at once), the runs to cancel (the Backfill was
cancelled), the new status, Events and audit records.

Idempotent by names: the run of a fire is `<job>-<unix seconds>`, the same name the
schedule gives it, so a fire that already has a run (scheduled, manual under that
name, or another Backfill's) is skipped and reported, never run twice; after a crash
between a create and the status write, the run found with this Backfill's label is
adopted. Progress lives in status as counts and a cursor (`lastFireTime`: fires run
oldest first, so every fire up to it is handled), so a status write stays small
whatever the range.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from jobwarden.api import constants as c
from jobwarden.api.enums import (
    AuditAction,
    AuditOutcome,
    BackfillPhase,
    ConditionType,
    EventReason,
    Reason,
    RunPhase,
    SkipReason,
    Trigger,
)
from jobwarden.api.shapes import (
    BackfillSpecDict,
    BackfillStatusDict,
    RunSummaryDict,
    SkippedFireDict,
)
from jobwarden.core.conditions import format_micro_time, parse_time
from jobwarden.core.draft import StatusDraft
from jobwarden.core.observed import RunView
from jobwarden.core.plan import Audit, Event
from jobwarden.core.scheduledjob import CancelRun, CreateRun, ScheduledJobView
from jobwarden.core.scheduling import Schedule, ScheduleError, run_name, schedule_of

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_TICK = datetime.timedelta(microseconds=1)
#: A count kept in a Backfill's status.
Count = Literal["created", "skipped", "succeeded", "failed", "cancelled"]
#: Outcomes counted in status, by the run's final phase.
_OUTCOME_KEYS: dict[RunPhase, Count] = {
    RunPhase.SUCCEEDED: "succeeded",
    RunPhase.FAILED: "failed",
    RunPhase.CANCELLED: "cancelled",
}


@dataclass(frozen=True)
class BackfillView:
    """A Backfill as the decision needs it."""

    namespace: str
    name: str
    uid: str
    generation: int
    created: datetime.datetime
    spec_json: str
    status_json: str
    annotations: Mapping[str, str]
    deleting: bool = False
    resource_version: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        """(kind, namespace, name), as the engine's queue keys."""
        return (c.KIND_BACKFILL, self.namespace, self.name)

    @property
    def spec(self) -> BackfillSpecDict:
        """The spec (a fresh copy)."""
        spec: BackfillSpecDict = json.loads(self.spec_json)
        return spec

    @property
    def status(self) -> BackfillStatusDict:
        """The status (a fresh copy)."""
        status: BackfillStatusDict = json.loads(self.status_json)
        return status

    @property
    def scheduled_job(self) -> str:
        """spec.scheduledJobRef.name."""
        return str((self.spec.get("scheduledJobRef") or {}).get("name") or "")

    @property
    def phase(self) -> BackfillPhase | None:
        """The stored phase, if any."""
        try:
            return BackfillPhase(str(self.status.get("phase")))
        except ValueError:
            return None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> BackfillView:
        """Project a Backfill object."""
        metadata = body.get("metadata") or {}
        return cls(
            namespace=str(metadata.get("namespace", "")),
            name=str(metadata.get("name", "")),
            uid=str(metadata.get("uid", "")),
            generation=int(metadata.get("generation") or 1),
            created=parse_time(metadata.get("creationTimestamp")) or _EPOCH,
            spec_json=json.dumps(body.get("spec") or {}, separators=(",", ":"), default=str),
            status_json=json.dumps(body.get("status") or {}, separators=(",", ":"), default=str),
            annotations=dict(metadata.get("annotations") or {}),
            deleting=bool(metadata.get("deletionTimestamp")),
            resource_version=str(metadata.get("resourceVersion", "")),
        )


@dataclass
class BackfillPlan:
    """The result of one decision about a Backfill."""

    status: dict[str, Any] | None = None  # JSON: a `BackfillStatusDict`
    create: list[CreateRun] = field(default_factory=list)
    cancel: list[CancelRun] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    audit: list[Audit] = field(default_factory=list)


def backfill_fires(schedule: Schedule, start: datetime.datetime, end: datetime.datetime) -> int:
    """How many fires lie in [start, end] (the range a Backfill covers)."""
    return schedule.count_between(start - _TICK, end)


def range_of(view: BackfillView) -> tuple[datetime.datetime, datetime.datetime]:
    """[from, to] as the decision uses it: `to` no later than the Backfill's creation
    (later fires are the schedule's)."""
    spec = view.spec
    start = parse_time(spec.get("from")) or _EPOCH
    end = parse_time(spec.get("to")) or _EPOCH
    return start, min(end, view.created)


def nominal_schedule(job: ScheduledJobView) -> Schedule:
    """The job's schedule without jitter: a Backfill runs fires at its own pace, the
    fires themselves are what the schedule (and `H`) say. Raises ScheduleError."""
    spec = {k: v for k, v in job.spec.items() if k != "jitterSeconds"}
    return schedule_of(job.namespace, job.name, spec)


class _Draft(StatusDraft[BackfillStatusDict]):
    """A Backfill's status being built, plus the plan."""

    def __init__(self, view: BackfillView, now: datetime.datetime) -> None:
        self.plan = BackfillPlan()
        super().__init__(view.status, now, view.generation, self.plan.events)
        self.view = view

    def count(self, key: Count, by: int = 1) -> None:
        self.status[key] = int(self.status.get(key) or 0) + by


def decide_backfill(
    view: BackfillView,
    job: ScheduledJobView | None,
    runs: Sequence[RunView],
    now: datetime.datetime,
) -> BackfillPlan:
    """The next step of one Backfill. See the module docstring."""
    draft = _Draft(view, now)
    if view.deleting or (view.phase is not None and view.phase.terminal):
        return draft.plan
    draft.status.setdefault("startTime", format_micro_time(now))
    if job is None:
        if view.spec.get("cancel"):
            _finish(draft, BackfillPhase.CANCELLED, Reason.CANCELLED, "cancelled")
        else:
            _wait(draft, f"ScheduledJob {view.scheduled_job} does not exist (yet)")
        return _close(draft)
    try:
        schedule = nominal_schedule(job)
    except ScheduleError as error:
        reason = Reason.NO_SCHEDULE if not job.spec.get("schedule") else Reason.INVALID_SCHEDULE
        return _close(_fail(draft, reason, f"ScheduledJob {job.name}: {error.message}"))
    start, end = range_of(view)
    total = backfill_fires(schedule, start, end) if end >= start else 0
    if total > c.MAX_BACKFILL_FIRES:
        return _close(
            _fail(
                draft,
                Reason.TOO_MANY_FIRES,
                f"the range holds {total} fires, more than {c.MAX_BACKFILL_FIRES}: split it "
                "into several Backfills",
            )
        )
    draft.status["fires"] = total
    by_name = {run.name: run for run in runs}
    history = {str(h.get("name")): h for h in job.status.get("history") or []}
    active = _settle(draft, by_name, history)
    if view.spec.get("cancel"):
        _cancel(draft, active, by_name)
    else:
        _create(
            draft,
            schedule,
            job=job,
            start=start,
            end=end,
            active=active,
            by_name=by_name,
            history=history,
        )
    return _close(draft)


def _wait(draft: _Draft, message: str) -> None:
    if draft.status.get("message") != message:
        draft.log(message)
    draft.status.update(
        BackfillStatusDict(
            phase=BackfillPhase.PENDING.value,
            reason=Reason.SCHEDULED_JOB_NOT_FOUND.value,
            message=message,
        )
    )
    draft.condition(ConditionType.READY, False, Reason.SCHEDULED_JOB_NOT_FOUND, message)
    draft.condition(ConditionType.RECONCILING, True, Reason.SCHEDULED_JOB_NOT_FOUND, message)


def _fail(draft: _Draft, reason: Reason, message: str) -> _Draft:
    draft.log(f"failed: {message}")
    draft.event(True, EventReason.FAILED, message)
    draft.plan.audit.append(
        Audit(AuditAction.BACKFILL_FINISHED, BackfillPhase.FAILED, detail=message)
    )
    draft.status.update(
        BackfillStatusDict(
            phase=BackfillPhase.FAILED.value,
            reason=reason.value,
            message=message,
            completionTime=format_micro_time(draft.now),
        )
    )
    draft.condition(ConditionType.STALLED, True, reason, message)
    draft.condition(ConditionType.READY, False, reason, message)
    draft.condition(ConditionType.RECONCILING, False, reason, message)
    return draft


def _settle(
    draft: _Draft,
    by_name: Mapping[str, RunView],
    history: Mapping[str, RunSummaryDict],
) -> list[str]:
    """Count the runs that ended, adopt runs created before a lost status write;
    return the names still active."""
    view = draft.view
    cursor = parse_time(draft.status.get("lastFireTime"))
    active = [str(name) for name in draft.status.get("activeRuns") or []]
    mine = sorted(
        (r for r in by_name.values() if r.labels.get(c.LABEL_BACKFILL) == view.name),
        key=lambda r: r.scheduled_time or _EPOCH,
    )
    for run in mine:  # created, but the status write recording it was lost
        fire = run.scheduled_time
        if fire is not None and (cursor is None or fire > cursor) and run.name not in active:
            active.append(run.name)
            draft.count("created")
            cursor = fire
            draft.log(f"run {run.name} found (created before a restart): adopted")
    if cursor is not None:
        draft.status["lastFireTime"] = format_micro_time(cursor)
    still: list[str] = []
    for name in active:
        found = by_name.get(name)
        if found is not None and found.labels.get(c.LABEL_BACKFILL) != view.name:
            draft.count("created", -1)  # not ours after all: created by someone else first
            _skip(draft, name, found.scheduled_time, SkipReason.RUN_EXISTS)
            continue
        if found is not None and not found.phase.terminal:
            still.append(name)
            continue
        phase = found.phase if found is not None else _history_phase(history.get(name))
        key = _OUTCOME_KEYS.get(phase) if phase is not None else None
        draft.count(key or "cancelled")
        outcome = phase.value.lower() if phase is not None else "deleted before it ended"
        draft.log(f"run {name} {outcome}")
    return still


def _history_phase(summary: RunSummaryDict | None) -> RunPhase | None:
    if summary is None:
        return None
    try:
        return RunPhase(str(summary.get("phase")))
    except ValueError:
        return None


def _skip(draft: _Draft, name: str, fire: datetime.datetime | None, reason: SkipReason) -> None:
    draft.count("skipped")
    listed = list(draft.status.get("skippedFires") or [])
    if len(listed) < c.MAX_BACKFILL_SKIPPED_LISTED and fire is not None:
        listed.append(
            SkippedFireDict(scheduledTime=format_micro_time(fire), name=name, reason=reason.value)
        )
        draft.status["skippedFires"] = listed
    where = "exists" if reason is SkipReason.RUN_EXISTS else "ran already (in history)"
    draft.log(f"skipped the fire of {format_micro_time(fire) if fire else '?'}: run {name} {where}")


def _cancel(draft: _Draft, active: list[str], by_name: Mapping[str, RunView]) -> None:
    view = draft.view
    user = view.annotations.get(c.ANNOTATION_CANCEL_REQUESTED_BY) or "unknown"
    if draft.status.get("phase") not in (
        BackfillPhase.CANCELLING.value,
        BackfillPhase.CANCELLED.value,
    ):
        message = f"cancelled by {user}: no more runs; {len(active)} active run(s) cancelled"
        draft.log(message)
        draft.event(False, EventReason.CANCEL_REQUESTED, message)
        draft.plan.audit.append(
            Audit(AuditAction.BACKFILL_CANCEL_REQUESTED, AuditOutcome.REQUESTED, user=user)
        )
    for name in active:
        run = by_name.get(name)
        if run is not None and not run.settings.cancel:  # asked once, not on every reconcile
            draft.plan.cancel.append(
                CancelRun(name, user, f"its Backfill {view.name} was cancelled by {user}")
            )
    draft.status["activeRuns"] = active
    if active:
        draft.status.update(
            BackfillStatusDict(phase=BackfillPhase.CANCELLING.value, reason=Reason.CANCELLED.value)
        )
        draft.status["message"] = f"cancelling {len(active)} run(s)"
        draft.condition(ConditionType.RECONCILING, True, Reason.CANCELLED, "cancelling its runs")
        draft.condition(ConditionType.READY, False, Reason.CANCELLED, "cancelling its runs")
        return
    _finish(draft, BackfillPhase.CANCELLED, Reason.CANCELLED, "cancelled")


def _create(
    draft: _Draft,
    schedule: Schedule,
    *,
    job: ScheduledJobView,
    start: datetime.datetime,
    end: datetime.datetime,
    active: list[str],
    by_name: Mapping[str, RunView],
    history: Mapping[str, RunSummaryDict],
) -> None:
    view = draft.view
    limit = int(view.spec.get("maxConcurrentRuns") or c.DEFAULT_BACKFILL_CONCURRENT_RUNS)
    cursor = parse_time(draft.status.get("lastFireTime")) or (start - _TICK)
    fire = schedule.next_after(cursor)
    while fire <= end and len(active) < limit:
        name = run_name(job.name, fire)
        if name in by_name:
            _skip(draft, name, fire, SkipReason.RUN_EXISTS)
        elif name in history:
            _skip(draft, name, fire, SkipReason.RUN_IN_HISTORY)
        else:
            draft.plan.create.append(CreateRun(name, fire))
            active.append(name)
            draft.count("created")
            draft.log(f"run {name} created for the fire of {format_micro_time(fire)}")
        cursor = fire
        fire = schedule.next_after(cursor)
    if cursor >= start:
        draft.status["lastFireTime"] = format_micro_time(cursor)
    draft.status["activeRuns"] = active
    if fire > end and not active:
        message = _summary(draft.status)
        _finish(draft, BackfillPhase.COMPLETED, Reason.COMPLETED, message)
        return
    draft.status.update(
        BackfillStatusDict(phase=BackfillPhase.RUNNING.value, reason=Reason.RUNNING.value)
    )
    draft.status["message"] = _summary(draft.status)
    draft.condition(ConditionType.RECONCILING, True, Reason.RUNNING, "creating and following runs")
    draft.condition(ConditionType.READY, False, Reason.RUNNING, "not done yet")
    if draft.view.phase is None:
        draft.event(
            False, EventReason.STARTED, f"backfilling {draft.status.get('fires', 0)} fire(s)"
        )


def _summary(status: Mapping[str, Any]) -> str:
    return (
        f"{status.get('fires', 0)} fire(s): {status.get('created', 0)} run(s) created, "
        f"{status.get('skipped', 0)} skipped; {status.get('succeeded', 0)} succeeded, "
        f"{status.get('failed', 0)} failed, {status.get('cancelled', 0)} cancelled"
    )


def _finish(draft: _Draft, phase: BackfillPhase, reason: Reason, message: str) -> None:
    draft.status.update(
        BackfillStatusDict(
            phase=phase.value,
            reason=reason.value,
            message=message,
            completionTime=format_micro_time(draft.now),
            activeRuns=[],
        )
    )
    draft.log(f"{phase.value.lower()}: {_summary(draft.status)}")
    event = EventReason.COMPLETED if phase is BackfillPhase.COMPLETED else EventReason.CANCELLED
    draft.event(False, event, _summary(draft.status))
    draft.plan.audit.append(
        Audit(AuditAction.BACKFILL_FINISHED, phase, detail=_summary(draft.status))
    )
    draft.condition(ConditionType.READY, phase is BackfillPhase.COMPLETED, reason, message)
    draft.condition(ConditionType.RECONCILING, False, reason, message)
    draft.condition(ConditionType.STALLED, False, reason, message)


def _close(draft: _Draft) -> BackfillPlan:
    draft.status["active"] = len(draft.status.get("activeRuns") or [])
    draft.status["conditions"] = draft.conditions
    draft.status["observedGeneration"] = draft.view.generation
    if draft.status != draft.view.status:
        draft.plan.status = draft.written()
    return draft.plan


def backfill_run(
    job: ScheduledJobView, backfill: BackfillView, create: CreateRun, created_by: str = ""
) -> dict[str, Any]:
    """The JobRun of one backfilled fire: like a scheduled run of the job (owned by it,
    named after the fire, with the stop-before-delete finalizer), with trigger Backfill
    and the Backfill's label."""
    annotations = {c.ANNOTATION_TRIGGERED_BY: f"backfill/{backfill.name}"}
    if created_by:
        annotations[c.ANNOTATION_CREATED_BY] = created_by
    return {
        "apiVersion": c.API_VERSION,
        "kind": c.KIND_JOB_RUN,
        "metadata": {
            "name": create.name,
            "namespace": job.namespace,
            "labels": {
                c.LABEL_SCHEDULED_JOB: job.name,
                c.LABEL_TRIGGER: Trigger.BACKFILL.value,
                c.LABEL_BACKFILL: backfill.name,
            },
            "annotations": annotations,
            # As every run: deleting it before it has finished stops it as a cancel does.
            "finalizers": [c.FINALIZER_STOP_BEFORE_DELETE],
            "ownerReferences": [
                {
                    "apiVersion": c.API_VERSION,
                    "kind": c.KIND_SCHEDULED_JOB,
                    "name": job.name,
                    "uid": job.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "scheduledJobRef": {"name": job.name},
            "trigger": Trigger.BACKFILL.value,
            "scheduledTime": format_micro_time(create.fire),
        },
    }


__all__ = [
    "BackfillPlan",
    "BackfillView",
    "backfill_fires",
    "backfill_run",
    "decide_backfill",
    "nominal_schedule",
    "range_of",
]

"""The ScheduledJob as one pure decision.

`decide_scheduled_job(sj, runs, now)` looks at a ScheduledJob and its JobRuns and
returns which runs to create (one per due fire, named after the fire so none is
ever created twice), which active runs to cancel (Replace, or the job cancelled),
which finished runs to prune (history limits, retention) after recording their
summaries, the new status, Events and when to wake up (the next fire).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from jobwarden.api import constants as c
from jobwarden.api.enums import (
    DEFAULT_CONCURRENCY_POLICY,
    DEFAULT_MISSED_RUN_POLICY,
    AuditAction,
    AuditOutcome,
    ConcurrencyPolicy,
    ConditionStatus,
    ConditionType,
    EventReason,
    MissedRunPolicy,
    Reason,
    RunPhase,
    ScheduledJobPhase,
    Trigger,
)
from jobwarden.api.shapes import (
    RUN_SETTING_KEYS,
    ActiveRunDict,
    RunSettingsSpec,
    RunSummaryDict,
    ScheduledJobSpecDict,
    ScheduledJobStatusDict,
    SnapshotDict,
)
from jobwarden.core.conditions import (
    format_micro_time,
    parse_time,
)
from jobwarden.core.deadline import deadline_of, missed
from jobwarden.core.draft import StatusDraft, clip
from jobwarden.core.failures import (
    Outcome,
    PauseDecision,
    Streak,
    decide_failure_pause,
    failure_streak,
)
from jobwarden.core.lifecycle import MAX_REASON_CHARS
from jobwarden.core.observed import RunView
from jobwarden.core.plan import Audit, Event
from jobwarden.core.scheduling import ScheduleError, due_fires, run_name, schedule_of

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
#: At most this many missed fires are itemised per decision (log lines and Events).
MAX_MISSED_ITEMISED = 10
OPERATOR_USER = "system:jobwarden-operator"


@dataclass(frozen=True)
class ScheduledJobView:
    """A ScheduledJob as the decision needs it.

    `spec` and `status` are kept as compact JSON and decoded on access: an operator
    holds every ScheduledJob of the cluster, and nested dicts take five times the
    space of their JSON, while a ScheduledJob is decided on rarely (at its fires and
    when one of its runs changes). The one field read on hot paths (admission) is
    decoded once: `concurrency_policy`.
    """

    namespace: str
    name: str
    uid: str
    generation: int
    created: datetime.datetime
    spec_json: str
    annotations: Mapping[str, str]
    status_json: str
    deleting: bool = False
    resource_version: str = ""
    concurrency_policy: str = DEFAULT_CONCURRENCY_POLICY.value

    @property
    def key(self) -> tuple[str, str, str]:
        """(kind, namespace, name), as run keys."""
        return (c.KIND_SCHEDULED_JOB, self.namespace, self.name)

    @property
    def spec(self) -> ScheduledJobSpecDict:
        """The spec (a fresh copy on each access)."""
        spec: ScheduledJobSpecDict = json.loads(self.spec_json)
        return spec

    @property
    def status(self) -> ScheduledJobStatusDict:
        """The status (a fresh copy on each access)."""
        status: ScheduledJobStatusDict = json.loads(self.status_json)
        return status

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> ScheduledJobView:
        """Project a ScheduledJob object."""
        metadata = body.get("metadata") or {}
        spec = body.get("spec") or {}
        return cls(
            namespace=str(metadata.get("namespace", "")),
            name=str(metadata.get("name", "")),
            uid=str(metadata.get("uid", "")),
            generation=int(metadata.get("generation") or 1),
            created=parse_time(metadata.get("creationTimestamp")) or _EPOCH,
            spec_json=_compact(spec),
            annotations=dict(metadata.get("annotations") or {}),
            status_json=_compact(body.get("status") or {}),
            deleting=bool(metadata.get("deletionTimestamp")),
            resource_version=str(metadata.get("resourceVersion", "")),
            concurrency_policy=str(
                spec.get("concurrencyPolicy") or DEFAULT_CONCURRENCY_POLICY.value
            ),
        )


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


@dataclass(frozen=True)
class CancelRun:
    """Ask the lifecycle to cancel an active run (through operator annotations)."""

    name: str
    user: str
    reason: str


@dataclass(frozen=True)
class CreateRun:
    """Create the JobRun of one fire (idempotent: the name derives from the fire)."""

    name: str
    fire: datetime.datetime
    #: Seconds after the fire that the run is due (spec.jitterSeconds).
    delay_seconds: float = 0.0


@dataclass(frozen=True)
class PruneRun:
    """Delete a finished run whose summary is already in `status.history`."""

    name: str
    uid: str


@dataclass
class ScheduledJobPlan:
    """The result of one decision about a ScheduledJob."""

    status: dict[str, Any] | None = None  # JSON: a `ScheduledJobStatusDict`
    create: list[CreateRun] = field(default_factory=list)
    cancel: list[CancelRun] = field(default_factory=list)
    prune: list[PruneRun] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    audit: list[Audit] = field(default_factory=list)
    requeue_after: float | None = None


# ------------------------------------------------------------- manifests
def snapshot_of(sj: ScheduledJobView, now: datetime.datetime) -> SnapshotDict:
    """What a run of `sj` executes, fixed at its first reconcile."""
    spec: Mapping[str, Any] = sj.spec
    settings = {k: spec[k] for k in RUN_SETTING_KEYS if spec.get(k) is not None}
    return SnapshotDict(
        time=format_micro_time(now),
        scheduledJobGeneration=sj.generation,
        settings=cast(RunSettingsSpec, settings),
        template=spec.get("template"),
    )


def run_for_fire(sj: ScheduledJobView, create: CreateRun, created_by: str = "") -> dict[str, Any]:
    """The JobRun of one fire: owned by the job, labelled for filtering, stamped as
    created by the operator (`created_by`: the webhooks do not see our own writes)."""
    annotations = {c.ANNOTATION_TRIGGERED_BY: "schedule"}
    if created_by:
        annotations[c.ANNOTATION_CREATED_BY] = created_by
    return {
        "apiVersion": c.API_VERSION,
        "kind": c.KIND_JOB_RUN,
        "metadata": {
            "name": create.name,
            "namespace": sj.namespace,
            "labels": {c.LABEL_SCHEDULED_JOB: sj.name, c.LABEL_TRIGGER: Trigger.SCHEDULE.value},
            "annotations": annotations,
            "finalizers": [c.FINALIZER_STOP_BEFORE_DELETE],
            "ownerReferences": [
                {
                    "apiVersion": c.API_VERSION,
                    "kind": c.KIND_SCHEDULED_JOB,
                    "name": sj.name,
                    "uid": sj.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "scheduledJobRef": {"name": sj.name},
            "trigger": Trigger.SCHEDULE.value,
            "scheduledTime": format_micro_time(create.fire),
        },
    }


def cancel_patch(cancel: CancelRun, now: datetime.datetime) -> dict[str, Any]:
    """The metadata patch that cancels a run through the lifecycle's normal path
    (operator annotations: the operator never writes a user's spec)."""
    annotations = {
        c.ANNOTATION_OPERATOR_CANCEL: "true",
        c.ANNOTATION_CANCEL_REQUESTED_BY: cancel.user,
        c.ANNOTATION_CANCEL_REQUESTED_AT: format_micro_time(now),
        c.ANNOTATION_CANCEL_REASON: cancel.reason[:MAX_REASON_CHARS],
    }
    return {"metadata": {"annotations": annotations}}


def _run_time(run: RunView, key: str) -> datetime.datetime | None:
    return parse_time(run.status.get(key))


def _finished_at(run: RunView) -> datetime.datetime:
    return _run_time(run, "completionTime") or run.created


def _summary(run: RunView) -> RunSummaryDict:
    started, finished = _run_time(run, "startTime"), _run_time(run, "completionTime")
    duration = (finished - started).total_seconds() if started and finished else None
    spec_time = run.status.get("scheduledTime") or run.annotations.get(f"{c.GROUP}/scheduled-time")
    return {
        "name": run.name,
        "trigger": run.trigger,
        "scheduledTime": spec_time
        or (format_micro_time(run.scheduled_time) if run.scheduled_time else None),
        "startTime": format_micro_time(started) if started else None,
        "completionTime": format_micro_time(finished) if finished else None,
        "phase": run.phase.value,
        "durationSeconds": round(duration, 3) if duration is not None else None,
        "reason": run.status.get("reason"),
        "error": _error(run),
    }


def _error(run: RunView) -> str | None:
    """What the history's error column keeps of a run that did not succeed: its last
    attempt's termination message."""
    attempts = run.status.get("attempts") or []
    message = attempts[-1].get("message") if attempts else None
    if run.phase == RunPhase.SUCCEEDED or not message:
        return None
    return clip(str(message), c.MAX_SUMMARY_ERROR_CHARS)


class _Draft(StatusDraft[ScheduledJobStatusDict]):
    """A ScheduledJob's status being built, plus the plan."""

    def __init__(self, sj: ScheduledJobView, now: datetime.datetime) -> None:
        self.plan = ScheduledJobPlan()
        super().__init__(sj.status, now, sj.generation, self.plan.events)
        self.sj = sj


def decide_scheduled_job(
    sj: ScheduledJobView, runs: Sequence[RunView], now: datetime.datetime
) -> ScheduledJobPlan:
    """The next step of one ScheduledJob. See the module docstring."""
    draft = _Draft(sj, now)
    if sj.deleting:
        return draft.plan
    spec = sj.spec
    active = [r for r in runs if not r.phase.terminal]
    previous_phase = str(sj.status.get("phase") or "")

    streak = failure_streak(
        _outcomes(runs, draft.status.get("history") or []),
        parse_time(draft.status.get("failuresCountedSince")),
    )
    pause = _failure_pause(draft, streak)
    if spec.get("cancel"):
        phase = _decide_cancelled(draft, active, previous_phase)
    elif not spec.get("schedule"):
        phase = _decide_one_time(draft, runs)
    elif spec.get("suspend") or pause.paused:
        phase = ScheduledJobPhase.SUSPENDED
        draft.status["nextScheduleTime"] = None
        if previous_phase != phase and not pause.tripped:
            if spec.get("suspend"):
                who = _suspend_changed_by(sj)
                draft.log(f"suspended by {who}: no new runs until resumed (running ones continue)")
                draft.event(False, EventReason.SUSPENDED, f"schedule paused by {who}")
            else:
                draft.log("suspended: no new runs until resumed (running ones continue)")
                draft.event(False, EventReason.SUSPENDED, "schedule paused")
        # Both pauses (spec.suspend and a pause after failures) skip the fires that come.
        _skip_while_paused(draft)
    else:
        phase = _decide_schedule(draft, runs, previous_phase, pause.resumed)

    _prune_and_summarise(draft, runs)
    _close(draft, phase, runs, streak)
    return draft.plan


def _outcomes(runs: Sequence[RunView], history: Sequence[Mapping[str, Any]]) -> list[Outcome]:
    """The finished runs of the job that count for its failure streak: each once
    (a pruned run is in history, perhaps still listed), a Backfill's runs left out."""
    found: dict[str, Outcome] = {}
    for entry in history:
        finished = parse_time(entry.get("completionTime"))
        if finished is not None and entry.get("trigger") != Trigger.BACKFILL.value:
            name = str(entry.get("name"))
            found[name] = Outcome(finished, str(entry.get("phase")), name)
    for run in runs:
        if run.phase.terminal and run.trigger != Trigger.BACKFILL.value:
            found[run.name] = Outcome(_finished_at(run), run.phase.value, run.name)
    return list(found.values())


def _failure_pause(draft: _Draft, streak: Streak) -> PauseDecision:
    """spec.pauseAfterConsecutiveFailures: pause, stay paused, or resume (see
    core/failures.py); the pause is in status only."""
    spec = draft.sj.spec
    if spec.get("cancel") or not spec.get("schedule"):
        return PauseDecision(paused=False, record=None)
    limit = spec.get("pauseAfterConsecutiveFailures")
    current = draft.status.get("failurePause")
    pause = decide_failure_pause(
        int(limit) if limit else None,
        current or None,
        draft.sj.annotations.get(c.ANNOTATION_RESUME),
        streak,
        draft.now,
    )
    draft.status["failurePause"] = pause.record
    if pause.tripped and pause.record is not None:
        message = str(pause.record["message"])
        draft.log(message)
        draft.event(True, EventReason.PAUSED_AFTER_FAILURES, message)
        draft.plan.audit.append(
            Audit(AuditAction.PAUSED_AFTER_FAILURES, AuditOutcome.PAUSED, detail=message)
        )
    if pause.resumed:
        user = draft.sj.annotations.get(c.ANNOTATION_RESUME_REQUESTED_BY) or "unknown"
        draft.status["failuresCountedSince"] = format_micro_time(draft.now)
        message = f"resumed by {user} after a pause for failures; failures count from now"
        draft.log(message)
        draft.event(False, EventReason.RESUMED_AFTER_FAILURES, message)
        draft.plan.audit.append(
            Audit(AuditAction.RESUMED_AFTER_FAILURES, AuditOutcome.RESUMED, user=user)
        )
    return pause


# ------------------------------------------------------------------ cancel
def _decide_cancelled(
    draft: _Draft, active: Sequence[RunView], previous_phase: str
) -> ScheduledJobPhase:
    user = draft.sj.annotations.get(c.ANNOTATION_CANCEL_REQUESTED_BY) or "unknown"
    if previous_phase != ScheduledJobPhase.CANCELLED:
        draft.log(
            f"cancelled by {user}: the schedule has ended; {len(active)} active run(s) cancelled"
        )
        draft.event(
            False,
            EventReason.CANCELLED,
            f"cancelled by {user}; {len(active)} active run(s) cancelled",
        )
    draft.status["nextScheduleTime"] = None
    for run in active:
        if not run.settings.cancel:
            draft.plan.cancel.append(
                CancelRun(
                    run.name, user, f"its ScheduledJob {draft.sj.name} was cancelled by {user}"
                )
            )
    return ScheduledJobPhase.CANCELLED


# ---------------------------------------------------------------- one-time
def _decide_one_time(draft: _Draft, runs: Sequence[RunView]) -> ScheduledJobPhase:
    """No schedule: one run at creation; Completed once it has ended."""
    fire = draft.sj.created
    name = run_name(draft.sj.name, fire)
    mine = [r for r in runs if r.name == name]
    recorded = any(h.get("name") == name for h in draft.status.get("history") or [])
    if not mine and not recorded and not draft.status.get("lastScheduleTime"):
        draft.plan.create.append(CreateRun(name, fire))
        draft.status["lastScheduleTime"] = format_micro_time(fire)
        draft.log(f"one-time job: run {name} created")
        return ScheduledJobPhase.ACTIVE
    if (mine and mine[0].phase.terminal) or (
        not mine and (recorded or draft.status.get("lastScheduleTime"))
    ):
        if draft.sj.status.get("phase") != ScheduledJobPhase.COMPLETED:
            ended = mine[0].phase.value.lower() if mine else None
            message = f"one-time job completed: run {name} {ended or 'finished'}"
            draft.log(message)
            draft.event(False, EventReason.COMPLETED, message)
        return ScheduledJobPhase.COMPLETED
    return ScheduledJobPhase.ACTIVE


# ------------------------------------------------------------------ pause
def _suspend_changed_by(sj: ScheduledJobView) -> str:
    """Who paused or resumed the job (stamped by the admission webhook)."""
    return sj.annotations.get(c.ANNOTATION_SUSPEND_CHANGED_BY) or "unknown"


def _cursor(draft: _Draft) -> datetime.datetime | None:
    """The newest fire already handled: run (lastScheduleTime) or skipped while paused
    (lastSkippedTime); fires after it are due or missed."""
    handled = [
        t
        for t in (
            parse_time(draft.status.get("lastScheduleTime")),
            parse_time(draft.status.get("lastSkippedTime")),
        )
        if t is not None
    ]
    return max(handled) if handled else None


def _skip_while_paused(draft: _Draft) -> None:
    """Pausing means skipping: each fire that comes while the job is paused (spec.suspend
    or a pause after failures) is skipped on purpose (counted in skippedWhilePaused,
    logged) and becomes handled, so neither a resume nor missedRunPolicy ever makes it
    up. A fire comes at its effective time (jitter included). The decision wakes at each
    fire."""
    try:
        schedule = schedule_of(draft.sj.namespace, draft.sj.name, draft.sj.spec)
    except ScheduleError:
        return
    since = _cursor(draft) or draft.sj.created
    skipped = schedule.count_between(since, draft.now)
    if skipped and schedule.effective(schedule.nth_after(since, skipped)) > draft.now:
        skipped -= 1  # the newest fire's jitter delay has not passed yet: it has not come
    if skipped:
        newest = schedule.nth_after(since, skipped)
        draft.status["skippedWhilePaused"] = int(draft.status.get("skippedWhilePaused") or 0) + (
            skipped
        )
        draft.status["lastSkippedTime"] = format_micro_time(newest)
        since = newest
        what = f"the fire of {format_micro_time(newest)}"
        if skipped > 1:
            what = f"{skipped} fires, the newest {format_micro_time(newest)}"
        draft.log(f"paused: skipped {what} (not run, not counted as missed)")
    coming = schedule.effective(schedule.next_after(since))
    draft.plan.requeue_after = max(0.0, (coming - draft.now).total_seconds())


# ---------------------------------------------------------------- schedule
def _decide_schedule(
    draft: _Draft, runs: Sequence[RunView], previous_phase: str, resumed_after_failures: bool
) -> ScheduledJobPhase:
    spec = draft.sj.spec
    active = [r for r in runs if not r.phase.terminal]
    try:
        schedule = schedule_of(draft.sj.namespace, draft.sj.name, spec)
    except ScheduleError as error:
        draft.status["nextScheduleTime"] = None
        draft.condition(ConditionType.STALLED, True, Reason.INVALID_SCHEDULE, str(error))
        return ScheduledJobPhase.ACTIVE
    if previous_phase == ScheduledJobPhase.SUSPENDED and not resumed_after_failures:
        # (a resume after failures has logged itself, with its own Event and audit line)
        who = _suspend_changed_by(draft.sj)
        draft.log(f"resumed by {who}: fires while paused were skipped; it runs at its next fire")
        draft.event(False, EventReason.RESUMED, f"schedule resumed by {who}")
    missed_policy = spec.get("missedRunPolicy") or {}
    last = _cursor(draft)
    deadline = spec.get("startingDeadlineSeconds")
    due = due_fires(
        schedule,
        last,
        draft.sj.created,
        draft.now,
        starting_deadline_seconds=int(deadline) if deadline is not None else None,
        policy=MissedRunPolicy(missed_policy.get("policy", DEFAULT_MISSED_RUN_POLICY)),
        max_runs=int(missed_policy.get("maxRuns", c.DEFAULT_MISSED_RUNS_MAX)),
    )
    policy = ConcurrencyPolicy(spec.get("concurrencyPolicy", DEFAULT_CONCURRENCY_POLICY))
    # A Backfill's runs are capped by its own maxConcurrentRuns, not by the policy: they
    # neither block a fire (Forbid) nor are replaced by one (Replace).
    still_active = [
        r for r in active if not r.settings.cancel and r.trigger != Trigger.BACKFILL.value
    ]
    newest_created = max((r.created for r in still_active), default=None)
    newest_runs = [r for r in still_active if r.created == newest_created]
    if policy == ConcurrencyPolicy.REPLACE and len(still_active) > 1 and len(newest_runs) == 1:
        # A manual run joined a running one: the newest replaces the others. Creation
        # times have whole seconds: with a tie, nobody is sure to be newer, so the
        # decision waits (a fire in that second has already cancelled the older runs).
        newest = newest_runs[0]
        for run in still_active:
            if run is not newest:
                draft.plan.cancel.append(
                    CancelRun(
                        run.name,
                        OPERATOR_USER,
                        f"replaced by {newest.name} (concurrencyPolicy Replace)",
                    )
                )
        still_active = [newest]
    # A fire whose run exists was handled before a crash cut the status write short.
    existing = {r.name for r in runs} | {r.name for r in draft.plan.create}
    existing |= {str(h.get("name")) for h in draft.status.get("history") or []}
    missed: list[tuple[datetime.datetime, str]] = [
        (m.time, str(m.reason))
        for m in due.missed
        if run_name(draft.sj.name, m.time) not in existing
    ]
    for fire in due.to_run:
        name = run_name(draft.sj.name, fire)
        delay = schedule.delay(fire).total_seconds()
        if name in existing:
            # Its run was created, but the status write that records the fire was lost
            # (a crash, or a stale read): the fire is handled. Not created again, not
            # counted as missed because of its own run (Forbid), and never replaced by
            # itself (Replace) - as CronJob, which skips a fire whose Job it already has.
            continue
        if policy == ConcurrencyPolicy.FORBID and still_active:
            missed.append(
                (fire, f"ConcurrencyPolicy: run {still_active[0].name} is still active (Forbid)")
            )
            continue
        if policy == ConcurrencyPolicy.REPLACE:
            for run in still_active:
                draft.plan.cancel.append(
                    CancelRun(
                        run.name, OPERATOR_USER, f"replaced by {name} (concurrencyPolicy Replace)"
                    )
                )
            still_active = []
        draft.plan.create.append(CreateRun(name, fire, delay))
        draft.log(f"fired for {format_micro_time(fire)}: run {name} created")
        still_active = [*still_active, _placeholder(name)]
    missed.sort()
    _record_missed(draft, missed, due.unlisted_missed)
    if due.latest_fire is not None and (last is None or due.latest_fire > last):
        draft.status["lastScheduleTime"] = format_micro_time(due.latest_fire)
    draft.status["nextScheduleTime"] = format_micro_time(due.next_fire)
    draft.plan.requeue_after = due.wake_after_seconds
    draft.condition(ConditionType.STALLED, False, Reason.SCHEDULE_VALID, "")
    return ScheduledJobPhase.ACTIVE


def _placeholder(name: str) -> RunView:
    """A run about to be created, so later fires of the same decision see it as active."""
    return RunView.from_body({"kind": c.KIND_JOB_RUN, "metadata": {"name": name}})


def _record_missed(
    draft: _Draft, missed: Sequence[tuple[datetime.datetime, str]], unlisted: int
) -> None:
    total = len(missed) + max(0, unlisted)
    if not total:
        return
    draft.status["missedRuns"] = int(draft.status.get("missedRuns") or 0) + total
    for fire, reason in list(missed)[-MAX_MISSED_ITEMISED:]:
        message = f"missed the fire of {format_micro_time(fire)}: {reason}"
        draft.log(message)
        draft.event(True, EventReason.MISSED_SCHEDULE, message)
    hidden = total - min(len(missed), MAX_MISSED_ITEMISED)
    if hidden > 0:
        draft.log(f"... and {hidden} earlier missed fire(s)")
        draft.event(True, EventReason.MISSED_SCHEDULE, f"{hidden} earlier fire(s) missed as well")


# ------------------------------------------------------------ history
def _prune_and_summarise(draft: _Draft, runs: Sequence[RunView]) -> None:
    """Keep the newest finished runs within the limits and the retention period;
    record each pruned run's summary in status.history before it is deleted."""
    spec = draft.sj.spec
    keep_succeeded = int(
        spec.get("successfulRunsHistoryLimit", c.DEFAULT_SUCCESSFUL_RUNS_HISTORY_LIMIT)
    )
    keep_failed = int(spec.get("failedRunsHistoryLimit", c.DEFAULT_FAILED_RUNS_HISTORY_LIMIT))
    retention_days = float(spec.get("runRetentionDays", c.DEFAULT_RUN_RETENTION_DAYS))
    cutoff = draft.now - datetime.timedelta(days=retention_days)
    finished = sorted((r for r in runs if r.phase.terminal), key=_finished_at, reverse=True)
    succeeded = [r for r in finished if r.phase == RunPhase.SUCCEEDED]
    failed = [r for r in finished if r.phase != RunPhase.SUCCEEDED]
    doomed = {r.name: r for r in succeeded[keep_succeeded:] + failed[keep_failed:]}
    doomed.update({r.name: r for r in finished if _finished_at(r) < cutoff})
    kept = [r for r in finished if r.name not in doomed]
    if kept:  # wake up when the oldest kept run passes the retention period
        expiry = min(_finished_at(r) for r in kept) + datetime.timedelta(days=retention_days)
        wake = max(0.0, (expiry - draft.now).total_seconds()) + 0.5
        if draft.plan.requeue_after is None or wake < draft.plan.requeue_after:
            draft.plan.requeue_after = wake
    if not doomed:
        return
    history = list(draft.status.get("history") or [])
    known = {entry.get("name") for entry in history}
    for run in sorted(doomed.values(), key=_finished_at):
        if run.name not in known:
            history.append(_summary(run))
        draft.plan.prune.append(PruneRun(run.name, run.uid))
    # Retention applies to the summaries too.
    history = [h for h in history if (parse_time(h.get("completionTime")) or draft.now) >= cutoff]
    draft.status["history"] = history[-c.MAX_HISTORY_ENTRIES :]


# -------------------------------------------------------------- status
def _close(
    draft: _Draft, phase: ScheduledJobPhase, runs: Sequence[RunView], streak: Streak
) -> None:
    pruned = {p.name for p in draft.plan.prune}
    active = [(r.created, r.name, r.scheduled_time) for r in runs if not r.phase.terminal]
    # The runs this plan creates are active once it is applied (the status is written
    # after they are created), as the CronJob controller lists the Job it just made:
    # their watch events then find the status as it should be, with nothing to write.
    # (creationTimestamp has whole seconds: so has theirs here, and names break ties.)
    known = {name for _, name, _ in active}
    created = draft.now.replace(microsecond=0)
    active += [(created, n.name, n.fire) for n in draft.plan.create if n.name not in known]
    draft.status["active"] = [
        ActiveRunDict(
            name=name,
            scheduledTime=format_micro_time(scheduled) if scheduled else None,
        )
        for _, name, scheduled in sorted(active, key=lambda entry: entry[:2])
    ][: c.MAX_ACTIVE_LISTED]
    draft.status["activeCount"] = len(active)
    outcomes: list[tuple[datetime.datetime, str]] = [
        (_finished_at(r), r.phase.value)
        for r in runs
        if r.phase.terminal and r.name not in pruned and r.trigger != Trigger.BACKFILL.value
    ]
    for entry in draft.status.get("history") or []:
        finished = parse_time(entry.get("completionTime"))
        if finished is not None and entry.get("trigger") != Trigger.BACKFILL.value:
            outcomes.append((finished, str(entry.get("phase"))))
    outcomes.sort()
    successes = [t for t, p in outcomes if p == RunPhase.SUCCEEDED]
    failures = [t for t, p in outcomes if p == RunPhase.FAILED]
    draft.status["lastSuccessfulTime"] = format_micro_time(successes[-1]) if successes else None
    draft.status["lastFailureTime"] = format_micro_time(failures[-1]) if failures else None
    draft.status["consecutiveFailures"] = streak.failures

    suspended = phase == ScheduledJobPhase.SUSPENDED
    pause = draft.status.get("failurePause")
    if suspended and pause and not draft.sj.spec.get("suspend"):
        draft.condition(
            ConditionType.SUSPENDED,
            True,
            Reason.CONSECUTIVE_FAILURES,
            str(pause.get("message") or ""),
        )
    else:
        draft.condition(
            ConditionType.SUSPENDED,
            suspended,
            Reason.SUSPENDED if suspended else Reason.ACTIVE,
            "",
        )
    _deadline_condition(draft, runs)
    stalled = phase == ScheduledJobPhase.CANCELLED or any(
        c_["type"] == ConditionType.STALLED
        and c_["status"] == ConditionStatus.TRUE
        and c_["reason"] == Reason.INVALID_SCHEDULE
        for c_ in draft.conditions
    )
    if phase == ScheduledJobPhase.CANCELLED:
        draft.condition(
            ConditionType.STALLED, True, Reason.CANCELLED, "the ScheduledJob was cancelled"
        )
    ready = not stalled
    draft.condition(
        ConditionType.READY,
        ready,
        Reason(phase.value)
        if ready
        else Reason.CANCELLED
        if phase == ScheduledJobPhase.CANCELLED
        else Reason.INVALID_SCHEDULE,
        f"phase {phase.value}",
    )
    draft.condition(ConditionType.RECONCILING, False, Reason(phase.value), "")
    draft.status["phase"] = phase.value
    draft.status["conditions"] = draft.conditions
    draft.status["observedGeneration"] = draft.sj.generation
    # The status is written as a JSON merge patch, in which null removes a field: compare
    # without nulls, or every reconcile writes again and its watch event starts the next.
    if _without_nulls(draft.status) != _without_nulls(dict(draft.sj.status)):
        draft.plan.status = draft.written()


def _deadline_condition(draft: _Draft, runs: Sequence[RunView]) -> None:
    """DeadlineMissed on the job: whether its newest run whose deadline outcome is
    known (finished, or past its deadline) missed it; a Warning Event when it turns
    True. Without deadlineSeconds on the job or its runs, no such condition."""
    decided = [
        (deadline, run)
        for run in runs
        if (deadline := deadline_of(run)) is not None
        and (run.phase.terminal or draft.now >= deadline.due)
    ]
    if not decided:
        return
    deadline, run = max(decided, key=lambda pair: (pair[0].start, pair[1].created))
    completion = parse_time(run.status.get("completionTime")) if run.phase.terminal else None
    late = missed(deadline, completion, draft.now)
    was_late = any(
        cond["type"] == ConditionType.DEADLINE_MISSED and cond["status"] == ConditionStatus.TRUE
        for cond in draft.conditions
    )
    if late:
        message = f"run {run.name} {deadline.message()}"
        draft.condition(ConditionType.DEADLINE_MISSED, True, Reason.DEADLINE_MISSED, message)
        if not was_late:
            draft.event(True, EventReason.DEADLINE_MISSED, message)
    else:
        message = f"run {run.name} finished within {deadline.seconds} s of its scheduled time"
        draft.condition(ConditionType.DEADLINE_MISSED, False, Reason.DEADLINE_MET, message)


def _without_nulls(value: Any) -> Any:
    """The value as the API server keeps it: a merge patch drops null fields, and the
    structural schema prunes non-nullable nulls inside lists as well."""
    if isinstance(value, Mapping):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value

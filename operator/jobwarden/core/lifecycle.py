"""The run lifecycle as one pure decision.

`decide(run, pods, slot, now)` looks at a JobRun or Export (spec, status), its
worker pods and its namespace's admission answer, and returns the plan: which pod
to create or delete, the complete new status, the Events, the audit records and
when to look again. It never performs I/O and never reads the clock.

The status is the run's memory: an attempt is recorded when its pod is created,
its outcome when the pod has ended, and the tracking finalizer is removed only
after that, so a restarted operator always knows where every run stands.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from jobwarden.api import constants as c
from jobwarden.api.enums import (
    AuditAction,
    AuditOutcome,
    CancelOutcome,
    ConditionStatus,
    ConditionType,
    EventReason,
    QueueReason,
    Reason,
    RunPhase,
)
from jobwarden.api.shapes import AttemptDict, CancellationDict, QueueDict, RunStatusDict
from jobwarden.core.conditions import (
    Condition,
    copy_conditions,
    find_condition,
    format_micro_time,
    is_true,
    parse_time,
)
from jobwarden.core.deadline import deadline_of, missed
from jobwarden.core.draft import StatusDraft, clip
from jobwarden.core.eta import SOON, estimate_worth_writing, stored_estimate
from jobwarden.core.heartbeat import stuck_condition
from jobwarden.core.observed import PodView, RunView, Slot, Termination
from jobwarden.core.plan import (
    Audit,
    AuditOutcomeValue,
    CreatePod,
    DeletePod,
    DeleteRun,
    Plan,
    ReleasePod,
    ReleaseRun,
)
from jobwarden.core.podstate import disruption_of, oom_message, start_state
from jobwarden.core.reasons import PodReason
from jobwarden.core.refusals import ApiRefusal, Refusal, classify, create_retry_delay, describe
from jobwarden.core.retention import DEFAULT_RETENTION_SECONDS, decide_retention

#: How long past the grace period a worker may take to be seen exiting before the
#: operator assumes its node is lost, force-deletes the pod and reports CancelTimeout.
DEFAULT_EXIT_MARGIN_SECONDS = 10.0
#: How long a pod the operator created may be missing from its cache (watch lag).
POD_APPEAR_SECONDS = 30.0
#: Exit code of a process killed with SIGKILL (the end of a grace period).
EXIT_KILLED = 137
UNKNOWN_USER = "unknown"
#: Bounds of `status.cancellation.requestedBy` and `.reason` in the CRD: a longer value
#: (a service account's name can exceed 256) would make the API reject every status write.
MAX_USER_CHARS = 256
MAX_REASON_CHARS = 1024
MAX_ATTEMPT_MESSAGE_CHARS = 4096
#: For this long after its pod was created, a start that is merely on its way (no
#: problem named) is not written as each pod state it passes (PodPending,
#: ContainerCreating): most pods start within it, and each write costs the API server.
START_QUIET_SECONDS = 5.0
#: WorkerStarted reasons that mean "on its way", not a problem worth a Warning.
_ON_ITS_WAY = frozenset(
    {
        Reason.POD_CREATING.value,
        Reason.POD_PENDING.value,
        Reason.STARTED.value,
        PodReason.CONTAINER_CREATING.value,
        PodReason.POD_INITIALIZING.value,
    }
)


def pod_name(run_name: str, attempt: int) -> str:
    """Deterministic worker pod name: creating it twice is impossible."""
    return f"{run_name}-{attempt}"


def format_duration(seconds: float) -> str:
    """'850ms', '4.2s', '2m13s', '1h02m' — short, for printer columns and logs."""
    if seconds < 1:
        return f"{int(seconds * 1000)}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class _Draft(StatusDraft[RunStatusDict]):
    """A run's status being built, plus the plan; helpers keep `decide` readable."""

    def __init__(
        self, run: RunView, now: datetime.datetime, refusal: Refusal | None = None
    ) -> None:
        self.plan = Plan()
        super().__init__(run.status, now, run.generation, self.plan.events)
        self.run = run
        self.refusal = refusal
        self.original = run.status
        self.current_pod: PodView | None = None

    def audit(
        self, action: AuditAction, outcome: AuditOutcomeValue, user: str = "", detail: str = ""
    ) -> None:
        self.plan.audit.append(Audit(action, outcome, user, detail))

    def attempts(self) -> list[AttemptDict]:
        return self.status.setdefault("attempts", [])

    def open_attempt(self) -> AttemptDict | None:
        """The record of the current attempt while its outcome is not yet known."""
        attempt = int(self.status.get("attempt") or 0)
        for record in reversed(self.attempts()):
            if int(record.get("attempt", 0)) == attempt and not record.get("finishTime"):
                return record
        return None

    def cancellation(self) -> CancellationDict | None:
        record = self.status.get("cancellation")
        return record if isinstance(record, dict) else None

    def finish(self, phase: RunPhase, reason: Reason | str, message: str) -> None:
        """Move to a final phase."""
        self.status["completionTime"] = self.stamp
        self.status["nextAttemptTime"] = None
        self.status["queue"] = None
        started = parse_time(self.status.get("startTime"))
        if started is not None:
            self.status["duration"] = format_duration((self.now - started).total_seconds())
        self.condition(ConditionType.FINISHED, True, reason, message)
        self.condition(ConditionType.ADMITTED, False, Reason(phase.value), "run has finished")
        self.status["reason"] = str(reason)
        self.status["message"] = clip(message)
        self.plan.holds_slot = False
        self.plan.wants_slot = False


def decide(
    run: RunView,
    pods: Sequence[PodView],
    slot: Slot,
    now: datetime.datetime,
    *,
    exit_margin_seconds: float = DEFAULT_EXIT_MARGIN_SECONDS,
    refusal: Refusal | None = None,
    retention_seconds: float | None = DEFAULT_RETENTION_SECONDS,
) -> Plan:
    """The next step of one run. See the module docstring.

    `refusal`: the API server refused the pod create this very decision asked for
    (the engine decides again with what the API said, and applies that plan instead).
    `retention_seconds`: how long a finished standalone run without its own
    ttlSecondsAfterFinished is kept (the operator's runRetentionDays; None: for ever).
    """
    draft = _Draft(run, now, refusal)
    if run.deleting and run.phase.terminal:
        # Deleted and finished (or stopped by the cancel path the delete started): its
        # pods' outcomes released, the run may go.
        _release_finished_pods(draft, pods)
        if c.FINALIZER_STOP_BEFORE_DELETE in run.finalizers:
            keep = tuple(f for f in run.finalizers if f != c.FINALIZER_STOP_BEFORE_DELETE)
            draft.plan.post_actions.append(ReleaseRun(run.uid, keep, run.resource_version))
        return draft.plan
    if run.deleting and c.FINALIZER_STOP_BEFORE_DELETE not in run.finalizers:
        _release_finished_pods(draft, pods)  # going now: nothing holds it for a cancel
        return draft.plan

    if run.phase.terminal:
        _decide_terminal(draft, pods)
        _decide_retention(draft, retention_seconds)
        return _close(draft)

    if run.settings.cancel:
        _record_cancel_request(draft)

    _adopt_unrecorded_pod(draft, pods)
    record = draft.open_attempt()
    if record is not None:
        pod = next((p for p in pods if p.name == record.get("podName")), None)
        draft.current_pod = pod
        _decide_attempt(draft, record, pod, exit_margin_seconds)
    elif run.settings.cancel:
        _cancel_without_worker(draft)
    else:
        _decide_waiting(draft, slot)
    _release_finished_pods(draft, pods)
    return _close(draft)


def needs_snapshot(run: RunView) -> bool:
    """A run of a ScheduledJob takes the job's template and settings (`status.snapshot`)
    at its first reconcile, before anything else is decided."""
    return bool(run.scheduled_job) and not run.status.get("snapshot") and not run.phase.terminal


def decide_without_scheduled_job(run: RunView, now: datetime.datetime) -> Plan:
    """A run of a ScheduledJob that does not exist has nothing to run: it fails (once:
    a failed run is not decided on again)."""
    draft = _Draft(run, now)
    message = f"ScheduledJob {run.scheduled_job} not found in {run.namespace}"
    draft.finish(RunPhase.FAILED, Reason.SCHEDULED_JOB_NOT_FOUND, message)
    draft.log(message)
    draft.event(True, EventReason.FAILED, message)
    draft.audit(AuditAction.FINISHED, RunPhase.FAILED, detail=Reason.SCHEDULED_JOB_NOT_FOUND)
    return _close(draft)


# ---------------------------------------------------------------------- terminal
def _decide_terminal(draft: _Draft, pods: Sequence[PodView]) -> None:
    """A final run changes no more: a late cancel is recorded as ignored."""
    if draft.run.settings.cancel and draft.cancellation() is None:
        user = _requested_by(draft)
        draft.status["cancellation"] = {
            "requestedBy": user,
            "requestedAt": _requested_at(draft),
            "reason": _cancel_reason(draft),
            "finishedAt": draft.stamp,
            "outcome": CancelOutcome.IGNORED.value,
        }
        phase = draft.run.phase.value
        draft.log(f"cancel requested by {user} ignored: the run had already {phase.lower()}")
        draft.event(True, EventReason.CANCEL_IGNORED, f"not in a cancellable state: {phase}")
        draft.audit(AuditAction.CANCEL_REQUESTED, AuditOutcome.IGNORED, user, f"phase {phase}")
    _release_finished_pods(draft, pods)
    for pod in pods:
        if pod.alive and pod.deletion_requested is None:
            draft.plan.pre_actions.append(
                DeletePod(pod.name, pod.uid, draft.run.settings.cancel_grace_period_seconds)
            )


def _decide_retention(draft: _Draft, retention_seconds: float | None) -> None:
    """A finished standalone run goes once its TTL has passed (after its pods' outcomes
    are released); until then the decision wakes when it is due."""
    retention = decide_retention(draft.run, draft.now, retention_seconds)
    if retention.delete:
        draft.plan.post_actions.append(DeleteRun(draft.run.uid))
        draft.audit(
            AuditAction.EXPIRED,
            AuditOutcome.DELETED,
            detail=f"finished, kept {retention.ttl_seconds:g}s (ttlSecondsAfterFinished)",
        )
    elif retention.wake_after is not None:
        draft.plan.wake_in(retention.wake_after)


# ------------------------------------------------------------------------ cancel
def _requested_by(draft: _Draft) -> str:
    user = draft.run.annotations.get(c.ANNOTATION_CANCEL_REQUESTED_BY) or UNKNOWN_USER
    return user[:MAX_USER_CHARS]


def _cancel_reason(draft: _Draft) -> str | None:
    reason = draft.run.annotations.get(c.ANNOTATION_CANCEL_REASON)
    return reason[:MAX_REASON_CHARS] if reason else None


def _requested_at(draft: _Draft) -> str:
    try:
        stamped = parse_time(draft.run.annotations.get(c.ANNOTATION_CANCEL_REQUESTED_AT))
    except ValueError:  # not the webhook's stamp (no webhook, hand edit): use the time seen
        stamped = None
    return format_micro_time(stamped) if stamped else draft.stamp


def _record_cancel_request(draft: _Draft) -> None:
    draft.condition(
        ConditionType.CANCEL_REQUESTED, True, Reason.CANCEL_REQUESTED, "spec.cancel is true"
    )
    if draft.cancellation() is not None:
        return
    user = _requested_by(draft)
    draft.status["cancellation"] = {
        "requestedBy": user,
        "requestedAt": _requested_at(draft),
        "reason": _cancel_reason(draft),
        "outcome": CancelOutcome.PENDING.value,
    }
    draft.log(f"cancel requested by {user}")
    draft.event(False, EventReason.CANCEL_REQUESTED, f"cancel requested by {user}")
    draft.audit(AuditAction.CANCEL_REQUESTED, AuditOutcome.ACCEPTED, user)


def _cancel_finished(draft: _Draft, outcome: CancelOutcome) -> str:
    """Close the cancellation record; returns 'after X' for messages."""
    record = draft.cancellation()
    if record is None:
        return ""
    record["finishedAt"] = draft.stamp
    record["outcome"] = outcome.value
    requested = parse_time(record.get("requestedAt"))
    if requested is None:
        return ""
    return f" after {format_duration(max(0.0, (draft.now - requested).total_seconds()))}"


def _cancel_without_worker(draft: _Draft) -> None:
    """Queued or Retrying: Cancelled at once, and no pod is ever created."""
    record = draft.cancellation() or {}
    user = str(record.get("requestedBy", UNKNOWN_USER))
    after = _cancel_finished(draft, CancelOutcome.CANCELLED)
    draft.finish(RunPhase.CANCELLED, Reason.CANCELLED, f"cancelled by {user} before a worker ran")
    draft.log(f"cancelled{after} (no worker was running)")
    draft.event(False, EventReason.CANCELLED, f"cancelled by {user}; no worker was running")
    draft.audit(AuditAction.CANCEL_FINISHED, CancelOutcome.CANCELLED, user, "no worker was running")


# ----------------------------------------------------------------------- waiting
def _adopt_unrecorded_pod(draft: _Draft, pods: Sequence[PodView]) -> None:
    """A pod newer than the recorded attempt: the operator died between creating
    it and writing status. Record it as the current attempt instead of making another."""
    current = int(draft.status.get("attempt") or 0)
    newer = [p for p in pods if p.attempt > current]
    if not newer:
        return
    pod = max(newer, key=lambda p: p.attempt)
    draft.status["attempt"] = pod.attempt
    draft.attempts().append(
        {"attempt": pod.attempt, "podName": pod.name, "startTime": format_micro_time(pod.created)}
    )
    draft.status.setdefault("startTime", format_micro_time(pod.created))
    draft.status["nextAttemptTime"] = None
    draft.status["queue"] = None
    draft.condition(ConditionType.ADMITTED, True, Reason.ADMITTED, f"worker pod {pod.name}")
    draft.log(f"attempt {pod.attempt} found running on pod {pod.name}")


def _decide_waiting(draft: _Draft, slot: Slot) -> None:
    """No worker: wait out a backoff, wait for a slot, or start the next attempt."""
    next_attempt = parse_time(draft.status.get("nextAttemptTime"))
    if next_attempt is not None and next_attempt > draft.now:
        draft.plan.wake_in((next_attempt - draft.now).total_seconds())
        return
    if slot.admit:
        _start_attempt(draft, slot)
        return
    draft.plan.wants_slot = True
    queue = draft.status.get("queue") or None
    position = max(1, slot.position)
    # No live count in the message: it would change with every slot taken or freed,
    # and each change is a status write for every waiting run.
    message = slot.message or f"quota of {slot.limit} reached"
    estimate = format_micro_time(slot.estimated_start) if slot.estimated_start else None
    if queue is None or queue.get("reason") != slot.reason:
        draft.status["queue"] = _with_estimate(
            {
                "position": position,
                "reason": slot.reason,
                "message": message,
                "since": (queue or {}).get("since") or draft.stamp,
                "positionTime": draft.stamp,
            },
            estimate,
        )
        draft.log(f"queued (position {position}: {message})")
        if queue is None:
            draft.event(
                False,
                EventReason.QUEUED,
                f"waiting for a worker slot: position {position}, {message}",
            )
    else:
        due = queue_update_due(
            queue, position, slot.estimated_start, draft.now, soon=slot.starts_soon
        )
        if due == 0:
            draft.status["queue"] = _with_estimate(
                {**queue, "position": position, "message": message, "positionTime": draft.stamp},
                estimate,
            )
        elif due is not None:
            draft.plan.wake_in(due)
    draft.condition(ConditionType.ADMITTED, False, slot.reason, message)


#: A run's shown queue position is refreshed at most every this many seconds per ten
#: places from the head (30 s in the first ten, 60 s at 11-20, 5 min at 91-100, ...):
#: in a queue that moves fast (many short runs) exact positions would cost a status
#: write per waiting run for every admission, and writes are what an API server runs
#: out of first; where the queue moves slowly, positions stay exact.
POSITION_REFRESH_SECONDS = 30.0


def position_worth_writing(stored: int, actual: int) -> bool:
    """Exact near the head of the queue, coarser further back (O(n log n) writes)."""
    if stored == actual:
        return False
    return actual <= 10 or stored >= 2 * actual or actual > stored


def position_update_due(
    queue: Mapping[str, Any], actual: int, now: datetime.datetime
) -> float | None:
    """Seconds until the shown position should be updated to `actual` (0: now), or
    None when it need not be (see `position_worth_writing`)."""
    if not position_worth_writing(int(queue.get("position") or 0), actual):
        return None
    written = parse_time(queue.get("positionTime")) or parse_time(queue.get("since"))
    if written is None:
        return 0.0
    interval = POSITION_REFRESH_SECONDS * max(1, -(-actual // 10))  # ceil(actual / 10)
    return max(0.0, interval - (now - written).total_seconds())


def _with_estimate(queue: QueueDict, estimate: str | None) -> QueueDict:
    """`status.queue` with the start estimate, when there is one (else as it was)."""
    if estimate is not None:
        queue["estimatedStartTime"] = estimate
    return queue


@dataclasses.dataclass(frozen=True)
class QueueRefresh:
    """What a queued run's shown `status.queue` is worth rewriting for."""

    #: Seconds until its position is due for an update (0: now), None: not.
    position_due: float | None
    #: Its start estimate moved enough to tell the user (core.eta): a write now, within
    #: the namespace's budget of estimate writes (`eta.ESTIMATE_WRITES_PER_PASS`).
    estimate: bool


def queue_refresh(
    queue: Mapping[str, Any],
    actual: int,
    estimate: datetime.datetime | None,
    now: datetime.datetime,
    soon: bool = False,
) -> QueueRefresh:
    """The two reasons `queue_update_due` joins, apart (the engine budgets the second)."""
    if soon:
        return QueueRefresh(_looked_at_again(position_update_due(queue, actual, now)), False)
    return QueueRefresh(
        position_update_due(queue, actual, now),
        estimate_worth_writing(stored_estimate(queue), estimate, now),
    )


def queue_update_due(
    queue: Mapping[str, Any],
    actual: int,
    estimate: datetime.datetime | None,
    now: datetime.datetime,
    soon: bool = False,
) -> float | None:
    """Seconds until `status.queue` should be rewritten (0: now), or None: its position
    (`position_update_due`), or at once when the start estimate moved enough to tell
    the user (core.eta). Not while the run `starts_soon` (`eta.SOON`): its admission
    will rewrite both; it is looked at again after SOON in case the pace stalled."""
    refresh = queue_refresh(queue, actual, estimate, now, soon)
    return 0.0 if refresh.estimate else refresh.position_due


def _looked_at_again(due: float | None) -> float | None:
    """A position update due while the run starts soon waits at least SOON."""
    return None if due is None else max(due, SOON.total_seconds())


def _start_attempt(draft: _Draft, slot: Slot) -> None:
    attempt = int(draft.status.get("attempt") or 0) + 1
    name = pod_name(draft.run.name, attempt)
    draft.plan.holds_slot = True
    draft.status["attempt"] = attempt
    record = AttemptDict(attempt=attempt, podName=name, startTime=draft.stamp)
    draft.attempts().append(record)
    draft.status.setdefault("startTime", draft.stamp)
    draft.status["nextAttemptTime"] = None
    draft.status["queue"] = None
    usage = f"quota {slot.running + 1}/{slot.limit} running"
    draft.condition(
        ConditionType.ADMITTED, True, Reason.ADMITTED, f"attempt {attempt} on pod {name}"
    )
    draft.log(f"attempt {attempt} started on pod {name} ({usage})")
    # One Event for admission and start (they happen in the same instant): an Event is
    # a write to the API server like any other, and runs are many.
    draft.event(False, EventReason.STARTED, f"attempt {attempt} started on pod {name} ({usage})")
    if attempt == 1:
        # A run now or re-run names who triggered it (a scheduled one: "schedule").
        trigger = draft.run.annotations.get(c.ANNOTATION_TRIGGERED_BY) or ""
        draft.audit(AuditAction.ADMITTED, AuditOutcome.STARTED, user=trigger, detail=usage)
    _request_pod(draft, record)
    if draft.plan.pre_actions:  # its pod is asked for: Starting may be written later
        draft.plan.status_may_wait = START_QUIET_SECONDS


def _request_pod(draft: _Draft, record: AttemptDict) -> None:
    """Ask for the attempt's pod, or record that the API server just refused it."""
    attempt = int(record["attempt"])
    refusal = draft.refusal
    if refusal is not None and refusal.attempt == attempt:
        _record_refusal(draft, record, refusal.api)
        return
    name = str(record["podName"])
    draft.plan.pre_actions.append(CreatePod(name, attempt))
    if record.get("nextCreateTime"):  # a retry of a refused create
        record["createTime"] = draft.stamp
        record["nextCreateTime"] = None
    draft.condition(
        ConditionType.WORKER_STARTED, False, Reason.POD_CREATING, f"creating pod {name}"
    )
    draft.plan.wake_in(_seconds_to(draft, _start_deadline(draft, record)))


def _record_refusal(draft: _Draft, record: AttemptDict, api: ApiRefusal) -> None:
    """A refused create: permanent ends the run; transient is retried with backoff."""
    verdict = classify(api)
    draft.plan.refusal = verdict
    words = describe(api)
    name = str(record["podName"])
    if verdict.permanent:
        message = f"the API server refused the worker pod {name}: {words}"
        record["finishTime"] = draft.stamp
        record["reason"] = Reason.POD_REJECTED.value
        record["message"] = clip(words, MAX_ATTEMPT_MESSAGE_CHARS)
        record["nextCreateTime"] = None
        draft.condition(ConditionType.WORKER_STARTED, False, Reason.POD_REJECTED, message)
        draft.finish(RunPhase.FAILED, Reason.POD_REJECTED, message)
        draft.log(message)
        draft.event(True, EventReason.POD_REJECTED, message)
        draft.audit(AuditAction.POD_REJECTED, RunPhase.FAILED, detail=f"{verdict.cause}: {words}")
        return
    refusals = int(record.get("createRefusals") or 0) + 1
    delay = create_retry_delay(refusals, api.retry_after_seconds)
    retry_at = draft.now + datetime.timedelta(seconds=delay)
    record["createRefusals"] = refusals
    record["nextCreateTime"] = format_micro_time(retry_at)
    message = (
        f"pod creation refused: {words} (refused {refusals}x, next try in {format_duration(delay)})"
    )
    draft.condition(ConditionType.WORKER_STARTED, False, Reason.POD_CREATE_REFUSED, clip(message))
    if refusals == 1:
        draft.log(f"pod {name}: creation refused ({verdict.cause}), retried with backoff: {words}")
        draft.event(True, EventReason.POD_CREATE_REFUSED, clip(f"pod {name}: {message}"))
    draft.plan.wake_in(min(delay, _seconds_to(draft, _start_deadline(draft, record))))


def _seconds_to(draft: _Draft, moment: datetime.datetime) -> float:
    return max(0.0, (moment - draft.now).total_seconds())


def _attempt_start(draft: _Draft, record: AttemptDict) -> datetime.datetime:
    return parse_time(record.get("startTime")) or draft.now


def _start_deadline(draft: _Draft, record: AttemptDict) -> datetime.datetime:
    """Until when the attempt may take to start: startTimeoutSeconds, within the
    attempt's own timeout (a refused create's waiting counts against both)."""
    settings = draft.run.settings
    limit = min(settings.start_timeout_seconds, settings.timeout_seconds)
    return _attempt_start(draft, record) + datetime.timedelta(seconds=limit)


# ----------------------------------------------------------------------- running
@dataclasses.dataclass(frozen=True)
class _Ending:
    """How an attempt ended, when the pod's exit alone does not say it."""

    reason: str
    what: str  # "attempt N <what>"
    fail_run: bool = False  # retrying would only meet the same problem


def _decide_attempt(draft: _Draft, record: AttemptDict, pod: PodView | None, margin: float) -> None:
    """A worker was started for the current attempt: watch it, signal it, or record it."""
    settings = draft.run.settings
    draft.plan.holds_slot = True
    if pod is None:
        _decide_without_pod(draft, record)
        return
    if pod.termination is not None:
        _end_attempt(draft, record, pod, forced=False)
        return

    cancellation = draft.cancellation()
    if settings.cancel and cancellation is not None:
        signalled = parse_time(cancellation.get("signalledAt"))
        if signalled is None and not pod.started:
            # Its container never ran: no process exists, nothing to signal.
            cancellation["signalledAt"] = draft.stamp
            cancellation["gracePeriodSeconds"] = 0
            _end_attempt(draft, record, pod, forced=True, never_started=True)
            return
        if signalled is None:
            grace = settings.cancel_grace_period_seconds
            if pod.deletion_requested is None:
                draft.plan.pre_actions.append(DeletePod(pod.name, pod.uid, grace))
            cancellation["signalledAt"] = draft.stamp
            cancellation["gracePeriodSeconds"] = grace
            draft.log(f"SIGTERM sent to pod {pod.name}; grace period {grace}s")
            draft.plan.wake_in(grace + margin)
            return
        deadline = signalled + datetime.timedelta(
            seconds=int(cancellation.get("gracePeriodSeconds") or 0) + margin
        )
        if draft.now >= deadline:
            _end_attempt(draft, record, pod, forced=True)
        else:
            draft.plan.wake_in((deadline - draft.now).total_seconds())
        return

    if record.get("reason") == Reason.DEADLINE_EXCEEDED or pod.deletion_requested is not None:
        # Being stopped: by us (its deadline) or by someone else (a disruption, told
        # apart when it ends). A node that is gone never reports the exit.
        deadline = (pod.deletion_deadline or draft.now) + datetime.timedelta(seconds=margin)
        if draft.now >= deadline:
            _end_attempt(draft, record, pod, forced=True)
        else:
            draft.plan.wake_in((deadline - draft.now).total_seconds())
        return

    if not pod.started:
        _decide_starting(draft, record, pod)
        return
    node = f" on node {pod.node_name}" if pod.node_name else ""
    draft.condition(
        ConditionType.WORKER_STARTED, True, Reason.STARTED, f"pod {pod.name} is running{node}"
    )
    started = parse_time(record.get("startTime")) or pod.created
    timeout_at = started + datetime.timedelta(seconds=settings.timeout_seconds)
    if draft.now >= timeout_at:
        grace = settings.cancel_grace_period_seconds
        draft.plan.pre_actions.append(DeletePod(pod.name, pod.uid, grace))
        record["reason"] = Reason.DEADLINE_EXCEEDED.value
        message = f"attempt {record['attempt']} ran longer than {settings.timeout_seconds}s"
        draft.log(f"{message}; SIGTERM sent to pod {pod.name}")
        draft.event(True, EventReason.DEADLINE_EXCEEDED, message)
        draft.plan.wake_in(grace + margin)
        return
    draft.plan.wake_in((timeout_at - draft.now).total_seconds())


def _was_on_its_way(draft: _Draft) -> bool:
    """The WorkerStarted condition before this decision did not name a problem."""
    previous = find_condition(
        copy_conditions(draft.original.get("conditions")), ConditionType.WORKER_STARTED
    )
    return (
        previous is None
        or previous["reason"] in _ON_ITS_WAY
        or previous["status"] == ConditionStatus.TRUE
    )


def _decide_starting(draft: _Draft, record: AttemptDict, pod: PodView) -> None:
    """The pod exists, its worker has not started: show why, and bound the wait."""
    state = start_state(pod)
    attempt = int(record["attempt"])
    deadline = _start_deadline(draft, record)
    quiet_until = pod.created + datetime.timedelta(seconds=START_QUIET_SECONDS)
    shown = find_condition(draft.conditions, ConditionType.WORKER_STARTED)
    on_its_way = (
        shown is not None
        and shown["status"] == ConditionStatus.FALSE
        and shown["reason"] in _ON_ITS_WAY
    )
    if not state.problem and on_its_way and draft.now < quiet_until:
        # Merely on its way (scheduling, creating its container): the condition keeps
        # its "starting" words for a few seconds, so a pod that starts at once costs no
        # write per pod state it passes through (one each would double a run's writes).
        draft.plan.wake_in(_seconds_to(draft, min(quiet_until, deadline)))
        return
    if state.problem and _was_on_its_way(draft):
        draft.log(f"attempt {attempt} is not starting: {state.message}")
        draft.event(True, EventReason.WORKER_PENDING, clip(f"attempt {attempt}: {state.message}"))
    draft.condition(ConditionType.WORKER_STARTED, False, state.reason, clip(state.message))
    if state.failed(draft.now):
        ending = _Ending(state.reason, f"cannot start: {state.message}", fail_run=True)
        _end_attempt(draft, record, pod, forced=True, ending=ending)
        return
    if draft.now >= deadline:
        _end_attempt(draft, record, pod, forced=True, ending=_start_timeout(draft, state.problem))
        return
    wake = deadline
    if state.give_up_at is not None:
        wake = min(wake, state.give_up_at)
    draft.plan.wake_in(_seconds_to(draft, wake))


def _start_timeout(draft: _Draft, problem: bool) -> _Ending:
    """The attempt did not start in time: with the pod's reason if it gave one."""
    settings = draft.run.settings
    worker = find_condition(draft.conditions, ConditionType.WORKER_STARTED)
    reason = worker["reason"] if worker is not None and problem else Reason.START_TIMEOUT.value
    detail = worker["message"] if worker is not None else ""
    if settings.timeout_seconds <= settings.start_timeout_seconds:
        return _Ending(
            Reason.DEADLINE_EXCEEDED.value,
            f"did not start within its timeout of {settings.timeout_seconds}s: {detail}",
        )
    return _Ending(reason, f"did not start within {settings.start_timeout_seconds}s: {detail}")


def _decide_without_pod(draft: _Draft, record: AttemptDict) -> None:
    """No pod is seen: a refused create backing off, or our create not in the cache yet."""
    settings = draft.run.settings
    if record.get("nextCreateTime"):
        cancellation = draft.cancellation()
        if settings.cancel and cancellation is not None:
            cancellation["signalledAt"] = draft.stamp
            cancellation["gracePeriodSeconds"] = 0
            _end_attempt(draft, record, None, forced=False, never_started=True)
            return
        deadline = _start_deadline(draft, record)
        if draft.now >= deadline:
            _end_attempt(draft, record, None, forced=False, ending=_start_timeout(draft, True))
            return
        retry_at = parse_time(record.get("nextCreateTime")) or draft.now
        if draft.now >= retry_at:
            _request_pod(draft, record)
            return
        draft.plan.wake_in(_seconds_to(draft, min(retry_at, deadline)))
        return
    asked = parse_time(record.get("createTime")) or _attempt_start(draft, record)
    if (draft.now - asked).total_seconds() < POD_APPEAR_SECONDS:
        draft.plan.wake_in(1.0)  # our own create is not in the cache yet
        return
    _end_attempt(draft, record, None, forced=False)


def _end_attempt(
    draft: _Draft,
    record: AttemptDict,
    pod: PodView | None,
    *,
    forced: bool,
    never_started: bool = False,
    ending: _Ending | None = None,
) -> None:
    """Record how the current attempt ended and move the run on."""
    termination: Termination | None = pod.termination if pod is not None else None
    record["finishTime"] = draft.stamp
    record.pop("nextCreateTime", None)
    if termination is not None:
        record["exitCode"] = termination.exit_code
        if termination.message:
            record["message"] = clip(termination.message[-4096:], MAX_ATTEMPT_MESSAGE_CHARS)
    if pod is not None and (forced or pod.alive):
        draft.plan.pre_actions.append(DeletePod(pod.name, pod.uid, 0))
    if pod is not None and pod.tracked:
        draft.plan.post_actions.append(ReleasePod(pod.name, pod.uid))
    draft.plan.holds_slot = False
    attempt = int(record["attempt"])

    cancellation = draft.cancellation()
    if draft.run.settings.cancel and cancellation is not None:
        _end_cancelled_attempt(draft, record, termination, forced, never_started)
        return

    disrupted = False
    if record.get("reason") == Reason.DEADLINE_EXCEEDED:
        reason, what = Reason.DEADLINE_EXCEEDED.value, "exceeded its deadline"
    elif ending is not None:
        reason, what = ending.reason, ending.what
        record["message"] = clip(ending.what, MAX_ATTEMPT_MESSAGE_CHARS)
        if ending.fail_run:
            record["reason"] = reason
            message = f"attempt {attempt} {what}"
            draft.finish(RunPhase.FAILED, reason, message)
            draft.log(message)
            draft.event(True, EventReason.FAILED, clip(message))
            draft.audit(AuditAction.FINISHED, RunPhase.FAILED, detail=reason)
            return
    elif pod is None:
        reason, what = Reason.POD_LOST.value, "lost its worker pod"
        record["message"] = "the worker pod disappeared before its exit was seen"
    elif termination is not None and termination.exit_code == 0:
        record["reason"] = Reason.COMPLETED.value
        draft.finish(RunPhase.SUCCEEDED, Reason.SUCCEEDED, f"attempt {attempt} succeeded")
        draft.log(f"attempt {attempt} succeeded")
        draft.event(False, EventReason.SUCCEEDED, f"attempt {attempt} succeeded")
        draft.audit(AuditAction.FINISHED, RunPhase.SUCCEEDED)
        return
    elif (disruption := disruption_of(pod, deleted_by_jobwarden=False)) is not None:
        reason, what, disrupted = (
            Reason.DISRUPTED.value,
            f"was disrupted: {disruption.message}",
            True,
        )
        record["message"] = clip(disruption.message, MAX_ATTEMPT_MESSAGE_CHARS)
    elif termination is not None and termination.reason == PodReason.OOM_KILLED:
        reason, what = Reason.OOM_KILLED.value, oom_message(pod)
        record["message"] = clip(
            f"{what}{': ' + termination.message if termination.message else ''}",
            MAX_ATTEMPT_MESSAGE_CHARS,
        )
    elif termination is not None:
        reason, what = Reason.ERROR.value, f"exited with code {termination.exit_code}"
    else:  # forced: no exit seen within the grace period (node gone)
        reason, what = Reason.POD_LOST.value, "lost its worker pod (no exit seen)"
    record["reason"] = reason
    _retry_or_fail(draft, attempt, reason, what, disrupted=disrupted)


def _end_cancelled_attempt(
    draft: _Draft,
    record: AttemptDict,
    termination: Termination | None,
    forced: bool,
    never_started: bool = False,
) -> None:
    user = str((draft.cancellation() or {}).get("requestedBy", UNKNOWN_USER))
    if never_started:
        record["reason"] = Reason.CANCELLED.value
        record["message"] = "cancelled before its worker started"
        after = _cancel_finished(draft, CancelOutcome.CANCELLED)
        draft.finish(
            RunPhase.CANCELLED, Reason.CANCELLED, f"cancelled by {user} before a worker ran"
        )
        draft.log(f"cancelled{after} (the worker never started)")
        draft.event(False, EventReason.CANCELLED, f"cancelled by {user}; no worker was running")
        draft.audit(
            AuditAction.CANCEL_FINISHED, CancelOutcome.CANCELLED, user, "worker never started"
        )
        return

    code = termination.exit_code if termination is not None else None
    if not forced and code == 0:
        record["reason"] = Reason.COMPLETED.value
        after = _cancel_finished(draft, CancelOutcome.SUCCEEDED)
        draft.finish(RunPhase.SUCCEEDED, Reason.SUCCEEDED, "finished before it honoured the cancel")
        draft.log(f"worker finished with exit code 0 before honouring the cancel{after}")
        draft.event(False, EventReason.SUCCEEDED, "worker finished before it honoured the cancel")
        draft.audit(AuditAction.CANCEL_FINISHED, CancelOutcome.SUCCEEDED, user)
        return
    if forced or termination is None or code == EXIT_KILLED:
        record["reason"] = Reason.CANCEL_TIMEOUT.value
        after = _cancel_finished(draft, CancelOutcome.CANCEL_TIMEOUT)
        detail = (
            "killed at the end of the grace period"
            if code == EXIT_KILLED
            else "no exit seen within the grace period; pod force-deleted"
        )
        draft.finish(
            RunPhase.FAILED, Reason.CANCEL_TIMEOUT, f"cancellation attempt timed out: {detail}"
        )
        draft.log(f"cancellation attempt timed out{after}: {detail}")
        draft.event(True, EventReason.CANCEL_TIMEOUT, f"cancellation attempt timed out: {detail}")
        draft.audit(AuditAction.CANCEL_FINISHED, CancelOutcome.CANCEL_TIMEOUT, user, detail)
        return
    record["reason"] = Reason.CANCELLED.value
    after = _cancel_finished(draft, CancelOutcome.CANCELLED)
    draft.finish(RunPhase.CANCELLED, Reason.CANCELLED, f"cancelled by {user} (exit code {code})")
    draft.log(f"cancelled{after} (worker exited with code {code})")
    draft.event(
        False, EventReason.CANCELLED, f"cancelled by {user}; worker exited with code {code}"
    )
    draft.audit(AuditAction.CANCEL_FINISHED, CancelOutcome.CANCELLED, user, f"exit code {code}")


def _retry_or_fail(
    draft: _Draft, attempt: int, reason: str, what: str, *, disrupted: bool = False
) -> None:
    """Retry the run, or end it. A disruption (up to MAX_DISRUPTIONS per run) is retried
    at once without spending a retry; any other failure spends one, after the backoff."""
    settings = draft.run.settings
    finished = [r for r in draft.attempts() if r.get("finishTime")]
    disruptions = sum(1 for r in finished if r.get("reason") == Reason.DISRUPTED)
    if disrupted and disruptions <= c.MAX_DISRUPTIONS:
        draft.status["nextAttemptTime"] = draft.stamp
        draft.status["reason"] = reason
        draft.status["message"] = clip(f"attempt {attempt} {what}")
        draft.condition(
            ConditionType.ADMITTED, False, Reason.BACKOFF, "next attempt now (after a disruption)"
        )
        message = (
            f"attempt {attempt} {what}; attempt {attempt + 1} now, not counted against "
            f"retries (disruption {disruptions} of at most {c.MAX_DISRUPTIONS})"
        )
        draft.log(message)
        draft.event(True, EventReason.DISRUPTED, clip(message))
        draft.audit(AuditAction.DISRUPTED, AuditOutcome.RETRIED, detail=clip(what))
        draft.plan.wake_in(0.0)
        return
    failures = len(finished) - min(disruptions, c.MAX_DISRUPTIONS)
    if failures <= settings.retries:
        delay = settings.backoff.delay(failures)
        at = draft.now + datetime.timedelta(seconds=delay)
        draft.status["nextAttemptTime"] = format_micro_time(at)
        draft.status["reason"] = reason
        draft.status["message"] = clip(f"attempt {attempt} {what}")
        draft.condition(
            ConditionType.ADMITTED, False, Reason.BACKOFF, f"next attempt in {delay:g}s"
        )
        message = f"attempt {attempt} {what}; attempt {attempt + 1} in {format_duration(delay)}"
        draft.log(message)
        draft.event(True, EventReason.RETRYING, clip(message))
        draft.plan.wake_in(delay)
        return
    final_reason = reason if reason != Reason.ERROR else Reason.RETRIES_EXHAUSTED.value
    message = f"attempt {attempt} {what}; no retries left ({settings.retries} allowed)"
    draft.finish(RunPhase.FAILED, final_reason, message)
    draft.log(message)
    draft.event(True, EventReason.FAILED, clip(message))
    draft.audit(AuditAction.FINISHED, RunPhase.FAILED, detail=str(final_reason))


# --------------------------------------------------------------------- cleanup
def at_rest(run: RunView, pods: Sequence[PodView]) -> bool:
    """A finished run with nothing to do but wait for its retention: not being deleted,
    no cancel to record as ignored, no pod outcome to release and no worker to stop.
    Its reconcile needs no read of the whole object (finished runs are kept slim, and
    each later event of the run or its pod used to cost a GET)."""
    return (
        run.phase.terminal
        and not run.deleting
        and not run.settings.cancel
        and all(not p.tracked and (not p.alive or p.deletion_requested) for p in pods)
    )


def _release_finished_pods(draft: _Draft, pods: Sequence[PodView]) -> None:
    """Remove the tracking finalizer from pods whose outcome is already recorded."""
    recorded = (
        {str(r.get("podName")) for r in draft.attempts() if r.get("finishTime")}
        if draft.status.get("attempts")
        else set()
    )
    planned = {a.name for a in draft.plan.post_actions if isinstance(a, ReleasePod)}
    for pod in pods:
        if not pod.tracked or pod.name in planned:
            continue
        if (
            draft.run.deleting
            or (pod.name in recorded and not pod.alive)
            or (pod.name in recorded and pod.deletion_requested is not None)
        ):
            draft.plan.post_actions.append(ReleasePod(pod.name, pod.uid))


# ------------------------------------------------------------------- the phase
def derive_phase(conditions: Sequence[Condition]) -> RunPhase:
    """The printed phase, from the conditions alone."""
    finished = find_condition(conditions, ConditionType.FINISHED)
    if finished is not None and finished["status"] == ConditionStatus.TRUE:
        if finished["reason"] == Reason.SUCCEEDED:
            return RunPhase.SUCCEEDED
        if finished["reason"] == Reason.CANCELLED:
            return RunPhase.CANCELLED
        return RunPhase.FAILED
    if is_true(conditions, ConditionType.CANCEL_REQUESTED):
        return RunPhase.CANCELLING
    admitted = find_condition(conditions, ConditionType.ADMITTED)
    if admitted is not None and admitted["status"] == ConditionStatus.TRUE:
        worker = find_condition(conditions, ConditionType.WORKER_STARTED)
        if worker is not None and worker["status"] != ConditionStatus.TRUE:
            return RunPhase.STARTING
        return RunPhase.RUNNING
    if admitted is not None and admitted["reason"] == Reason.BACKOFF:
        return RunPhase.RETRYING
    return RunPhase.QUEUED


def _close(draft: _Draft) -> Plan:
    """Derive phase and kstatus conditions; keep the status only if it changed."""
    phase = derive_phase(draft.conditions)
    if phase == RunPhase.CANCELLING and not draft.cancellation():
        phase = RunPhase.QUEUED  # defensive: CancelRequested without a record
    final = phase.terminal
    draft.condition(
        ConditionType.READY,
        phase == RunPhase.SUCCEEDED,
        Reason.SUCCEEDED if phase == RunPhase.SUCCEEDED else Reason(phase.value),
        "the run succeeded" if phase == RunPhase.SUCCEEDED else f"the run is {phase.value}",
    )
    draft.condition(
        ConditionType.RECONCILING,
        not final,
        Reason.IN_PROGRESS if not final else Reason(phase.value),
        f"phase {phase.value}",
    )
    stalled = phase in (RunPhase.FAILED, RunPhase.CANCELLED)
    draft.condition(
        ConditionType.STALLED,
        stalled,
        str(draft.status.get("reason") or phase.value) if stalled else Reason.IN_PROGRESS,
        str(draft.status.get("message") or "") if stalled else "",
    )
    if phase in (RunPhase.QUEUED, RunPhase.RUNNING) and not final:
        admitted = find_condition(draft.conditions, ConditionType.ADMITTED)
        queued_reason = (
            admitted["reason"] if admitted is not None else QueueReason.QUOTA_EXHAUSTED.value
        )
        draft.status["reason"] = queued_reason if phase == RunPhase.QUEUED else Reason.RUNNING.value
        draft.status["message"] = _admitted_message(draft.conditions)
    elif phase == RunPhase.STARTING:
        # What the worker waits for, in the pod's own words (Unschedulable, …).
        worker = find_condition(draft.conditions, ConditionType.WORKER_STARTED)
        assert worker is not None  # derive_phase: Starting needs WorkerStarted=False
        draft.status["reason"] = worker["reason"]
        draft.status["message"] = clip(worker["message"])
    elif phase == RunPhase.CANCELLING:
        user = str((draft.cancellation() or {}).get("requestedBy", UNKNOWN_USER))
        draft.status["reason"] = Reason.CANCELLING.value
        draft.status["message"] = f"cancel requested by {user}; waiting for the worker to exit"
    # Every condition was evaluated against this generation, also those this decision
    # left as they were (metav1.Condition: an older observedGeneration means stale).
    for condition in draft.conditions:
        condition["observedGeneration"] = draft.run.generation
    _flag_stuck(draft, phase)
    _flag_deadline(draft, phase)
    draft.status["phase"] = phase.value
    draft.status["conditions"] = draft.conditions
    draft.status["observedGeneration"] = draft.run.generation
    if draft.status != dict(draft.original):
        draft.plan.status = draft.written()
    return draft.plan


def _flag_stuck(draft: _Draft, phase: RunPhase) -> None:
    """The `Stuck` condition (see core.heartbeat): written once the worker has reported
    progress (a run whose worker never reports carries none), kept once written."""
    existing = find_condition(draft.conditions, ConditionType.STUCK)
    if not draft.run.settings.stuck_after_seconds and existing is None:
        return
    view = dataclasses.replace(draft.run, status={**draft.status, "phase": phase.value})
    check = stuck_condition(view, draft.now)
    if existing is None and not check.watched:
        return
    was_stuck = existing is not None and existing["status"] == ConditionStatus.TRUE
    draft.condition(ConditionType.STUCK, check.stuck, check.reason, check.message)
    if check.stuck and not was_stuck:
        draft.log(f"stuck: {check.message}")
        draft.event(True, EventReason.STUCK, check.message)
    if check.wake_after is not None:
        draft.plan.wake_in(check.wake_after)


def _flag_deadline(draft: _Draft, phase: RunPhase) -> None:
    """The `DeadlineMissed` condition for runs with `deadlineSeconds` (core.deadline):
    set once, when the run is not finished by then (or is seen to have finished
    late); the run goes on. Otherwise wake up at the deadline."""
    deadline = deadline_of(draft.run)
    if deadline is None or is_true(draft.conditions, ConditionType.DEADLINE_MISSED):
        return
    completion = parse_time(draft.status.get("completionTime")) if phase.terminal else None
    if not missed(deadline, completion, draft.now):
        if not phase.terminal:
            draft.plan.wake_in((deadline.due - draft.now).total_seconds())
        return
    message = deadline.message()
    draft.condition(ConditionType.DEADLINE_MISSED, True, Reason.DEADLINE_MISSED, message)
    draft.log(f"deadline missed: {message}")
    draft.event(True, EventReason.DEADLINE_MISSED, message)
    draft.audit(AuditAction.DEADLINE_MISSED, phase, detail=message)


def _admitted_message(conditions: Sequence[Condition]) -> str:
    admitted = find_condition(conditions, ConditionType.ADMITTED)
    return admitted["message"] if admitted is not None else ""

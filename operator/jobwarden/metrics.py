"""Prometheus metrics of the operator (see docs/metrics.md for the full list).

Two kinds of metrics, fed two ways:

- Events (runs finished, cancellations, retries, reconcile errors) and latencies
  (queue wait, run duration, cancel latency, schedule lag) are counted when the
  engine applies a decision: `observe_plan`, `observe_scheduled_job`, `observe_fire`,
  `reconcile_error`. They count what this replica did, so they are exact across
  failovers when summed over replicas.
- State (active, queued and stuck runs, quota limit and usage, per-ScheduledJob
  timestamps) is computed from the engine's store at scrape time, and only by the
  leader: a standby's view is not the one that decides, and two replicas reporting
  it would double every sum.

Conventions (checked by tests/unit/test_metrics.py): prefix `jobwarden_`, base units,
`_total` counters, `_timestamp_seconds` points in time, and no run or pod names in
labels. Only the per-ScheduledJob gauges carry an object name (`scheduledjob`), as
kube-state-metrics does for CronJobs: ScheduledJobs are definitions, few and stable.

The server runs on the operator's event loop (aiohttp, as kopf's own probes), so a
scrape reads the store between two reconciles, never in the middle of one, and a
wedged loop shows as a failed scrape.
"""

from __future__ import annotations

import datetime
import logging
import platform
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from jobwarden import __version__
from jobwarden.api import constants as c
from jobwarden.api.enums import (
    AuditAction,
    AuditOutcome,
    CancelOutcome,
    ConditionStatus,
    ConditionType,
    Priority,
    Reason,
    RunPhase,
    ScheduledJobPhase,
)
from jobwarden.core.conditions import parse_time
from jobwarden.core.observed import RunView
from jobwarden.core.plan import Plan
from jobwarden.core.refusals import RefusalCause, RefusalOutcome
from jobwarden.core.scheduledjob import ScheduledJobView

if TYPE_CHECKING:
    from jobwarden.core.scheduledjob import ScheduledJobPlan

logger = logging.getLogger("jobwarden.metrics")

PREFIX = "jobwarden_"

#: Our own registry: the metrics of this module plus the process and platform
#: collectors (CPU, memory, file descriptors, Python version) for operator health.
REGISTRY = CollectorRegistry()
disable_created_metrics()  # type: ignore[no-untyped-call]  # no `_created` twin series
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

# Buckets. Job runs and queue waits range from seconds to a day (the default client
# buckets stop at 10 s); a cancel should take seconds (default grace 30 s); a fire
# should become a run within milliseconds, but missed fires caught up late take hours.
# fmt: off
DURATION_BUCKETS = (
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0,
    3600.0, 7200.0, 14400.0, 28800.0, 43200.0, 86400.0,
)
CANCEL_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 45.0, 60.0, 120.0, 300.0, 600.0)
LAG_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
    3600.0,
)
# fmt: on

RUN_KINDS = (c.KIND_JOB_RUN, c.KIND_EXPORT)
RESULTS = (RunPhase.SUCCEEDED.value, RunPhase.FAILED.value, RunPhase.CANCELLED.value)
PRIORITIES = tuple(p.value for p in Priority)
ACTIVE_PHASES = (
    RunPhase.STARTING.value,
    RunPhase.RUNNING.value,
    RunPhase.RETRYING.value,
    RunPhase.CANCELLING.value,
)
CANCEL_STAGES = ("cancelling", "terminal")
#: Cancel outcomes that end a cancel request (Pending is not an outcome yet).
CANCEL_OUTCOMES = tuple(o.value for o in CancelOutcome if o != CancelOutcome.PENDING)
#: (result, reason) pairs every namespace starts with at zero, so `increase()` sees the
#: first run that ends that way (a series born at 1 would hide it).
COMMON_ENDINGS = (
    (RunPhase.SUCCEEDED.value, Reason.SUCCEEDED.value),
    (RunPhase.FAILED.value, Reason.RETRIES_EXHAUSTED.value),
    (RunPhase.FAILED.value, Reason.DEADLINE_EXCEEDED.value),
    (RunPhase.FAILED.value, Reason.CANCEL_TIMEOUT.value),
    (RunPhase.FAILED.value, Reason.POD_LOST.value),
    (RunPhase.FAILED.value, Reason.POD_REJECTED.value),
    (RunPhase.FAILED.value, Reason.START_TIMEOUT.value),
    (RunPhase.CANCELLED.value, Reason.CANCELLED.value),
)
REFUSAL_OUTCOMES = tuple(o.value for o in RefusalOutcome)
RECONCILE_KINDS = (
    c.KIND_JOB_RUN,
    c.KIND_EXPORT,
    c.KIND_SCHEDULED_JOB,
    c.KIND_BACKFILL,
    "Namespace",
)
_KNOWN_REASONS = frozenset(r.value for r in Reason)

# ---------------------------------------------------------------- event metrics
BUILD_INFO = Gauge(
    "jobwarden_build_info",
    "Always 1; the labels say which jobwarden, Python and kopf this replica runs.",
    ["version", "python_version", "kopf_version"],
    registry=REGISTRY,
)
RUNS_FINISHED = Counter(
    "jobwarden_runs_finished_total",
    "Runs (JobRuns and Exports) that reached a final phase, by result and reason.",
    ["namespace", "kind", "result", "reason"],
    registry=REGISTRY,
)
RUN_RETRIES = Counter(
    "jobwarden_run_retries_total",
    "Failed attempts that were scheduled for a retry, by why the attempt failed.",
    ["namespace", "kind", "reason"],
    registry=REGISTRY,
)
CANCELLATIONS = Counter(
    "jobwarden_cancellations_total",
    "Cancel requests that ended, by outcome (Cancelled, Succeeded, CancelTimeout, Ignored).",
    ["namespace", "kind", "outcome"],
    registry=REGISTRY,
)
QUEUE_WAIT = Histogram(
    "jobwarden_run_queue_wait_seconds",
    "Time from a run's creation to its admission (its first worker pod).",
    ["namespace", "priority"],
    buckets=DURATION_BUCKETS,
    registry=REGISTRY,
)
RUN_DURATION = Histogram(
    "jobwarden_run_duration_seconds",
    "Time from a run's first attempt to its final phase (runs that never started excluded).",
    ["namespace", "result"],
    buckets=DURATION_BUCKETS,
    registry=REGISTRY,
)
CANCEL_LATENCY = Histogram(
    "jobwarden_cancel_latency_seconds",
    "Time from a cancel request to the operator acting on it (stage=cancelling) and to "
    "the run's final phase (stage=terminal).",
    ["namespace", "stage"],
    buckets=CANCEL_BUCKETS,
    registry=REGISTRY,
)
SCHEDULE_LAG = Histogram(
    "jobwarden_schedule_lag_seconds",
    "Time from a ScheduledJob's scheduled fire instant to the creation of its JobRun.",
    ["namespace"],
    buckets=LAG_BUCKETS,
    registry=REGISTRY,
)
MISSED_SCHEDULES = Counter(
    "jobwarden_scheduledjob_missed_schedules_total",
    "Fires of ScheduledJobs that did not create a run (operator down, deadline, Forbid).",
    ["namespace"],
    registry=REGISTRY,
)
RECONCILE_ERRORS = Counter(
    "jobwarden_reconcile_errors_total",
    "Reconciles that failed and were retried, by the kind of object reconciled.",
    ["kind"],
    registry=REGISTRY,
)
POD_CREATE_REFUSALS = Counter(
    "jobwarden_pod_create_refusals_total",
    "Worker pod creates the API server refused, by reason (QuotaExceeded, Policy, Invalid, "
    "TooManyRequests, ServerError …) and what followed: retried (transient: backoff) or "
    "rejected (permanent: the run failed with reason PodRejected).",
    ["namespace", "kind", "reason", "outcome"],
    registry=REGISTRY,
)
DEADLINE_MISSED = Counter(
    "jobwarden_deadline_missed_total",
    "Runs not finished by their deadlineSeconds (from their scheduled time); the run "
    "goes on, with the condition DeadlineMissed.",
    ["namespace", "kind"],
    registry=REGISTRY,
)
FAILURE_PAUSES = Counter(
    "jobwarden_scheduledjob_failure_pauses_total",
    "ScheduledJobs paused after spec.pauseAfterConsecutiveFailures failed runs in a row.",
    ["namespace"],
    registry=REGISTRY,
)
RUN_DISRUPTIONS = Counter(
    "jobwarden_run_disruptions_total",
    "Attempts ended by a disruption (evicted, preempted, deleted outside jobwarden, node "
    "lost) and retried without spending one of the run's retries.",
    ["namespace", "kind"],
    registry=REGISTRY,
)
EVENTS_DROPPED = Counter(
    "jobwarden_events_dropped_total",
    "Kubernetes Events not posted because too many were waiting (the API server is not "
    "keeping up); the runs' status.log and the audit log still have the record.",
    registry=REGISTRY,
)


def _version_of(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


BUILD_INFO.labels(__version__, platform.python_version(), _version_of("kopf")).set(1)
for _kind in RECONCILE_KINDS:
    RECONCILE_ERRORS.labels(_kind)

_namespaces_seen: set[str] = set()


def ensure_namespace(namespace: str) -> None:
    """Create a namespace's series at zero the first time it is seen.

    Prometheus' `rate()` and `increase()` only see a counter grow from a sample it
    already has: a series born at 1 would hide the first run that failed, the first
    cancel. Label values other than the namespace are known in advance.
    """
    if namespace in _namespaces_seen:
        return
    _namespaces_seen.add(namespace)
    for kind in RUN_KINDS:
        for result, reason in COMMON_ENDINGS:
            RUNS_FINISHED.labels(namespace, kind, result, reason)
        for outcome in CANCEL_OUTCOMES:
            CANCELLATIONS.labels(namespace, kind, outcome)
    for priority in PRIORITIES:
        QUEUE_WAIT.labels(namespace, priority)
    for result in RESULTS:
        RUN_DURATION.labels(namespace, result)
    for stage in CANCEL_STAGES:
        CANCEL_LATENCY.labels(namespace, stage)
    SCHEDULE_LAG.labels(namespace)
    MISSED_SCHEDULES.labels(namespace)
    FAILURE_PAUSES.labels(namespace)
    for kind in RUN_KINDS:
        RUN_DISRUPTIONS.labels(namespace, kind)
        DEADLINE_MISSED.labels(namespace, kind)
        for outcome in REFUSAL_OUTCOMES:
            POD_CREATE_REFUSALS.labels(namespace, kind, RefusalCause.POLICY.value, outcome)
        POD_CREATE_REFUSALS.labels(
            namespace, kind, RefusalCause.QUOTA.value, RefusalOutcome.RETRIED.value
        )


# ------------------------------------------------------------ engine callbacks
def _time(value: Any) -> datetime.datetime | None:
    """An API timestamp as a datetime; None if absent or malformed (never raises:
    a metric must not fail a reconcile)."""
    if isinstance(value, datetime.datetime):
        return value
    try:
        return parse_time(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _seconds_between(start: Any, end: datetime.datetime) -> float | None:
    """Seconds from an API timestamp (or datetime) to `end`; None if unknown."""
    moment = _time(start)
    return max(0.0, (end - moment).total_seconds()) if moment is not None else None


def _phase(value: Any) -> RunPhase | None:
    try:
        return RunPhase(value)
    except ValueError:
        return None


def _reason(value: Any, fallback: str) -> str:
    """A bounded reason label: a known reason, else the fallback."""
    text = str(value or "")
    return text if text in _KNOWN_REASONS else fallback


def observe_plan(view: RunView, plan: Plan, now: datetime.datetime) -> None:
    """Count what an applied run decision did; call after its status was written.

    `view` is the run before the decision, `plan` its result, `now` the decision's
    clock. Transitions are read from the plan (new phase against the old, audit
    records), so each is counted once: the next decision no longer sees it.
    """
    namespace, kind = view.namespace, view.kind
    ensure_namespace(namespace)
    status: Mapping[str, Any] = plan.status or {}
    cancellation = status.get("cancellation") or {}
    requested_at = cancellation.get("requestedAt") if isinstance(cancellation, dict) else None
    if plan.refusal is not None:
        outcome = plan.refusal.outcome.value
        POD_CREATE_REFUSALS.labels(namespace, kind, plan.refusal.cause.value, outcome).inc()
    for record in plan.audit:
        if record.action == AuditAction.DISRUPTED:
            RUN_DISRUPTIONS.labels(namespace, kind).inc()
        elif record.action == AuditAction.DEADLINE_MISSED:
            DEADLINE_MISSED.labels(namespace, kind).inc()
        elif record.action == AuditAction.ADMITTED:
            QUEUE_WAIT.labels(namespace, view.settings.priority.value).observe(
                max(0.0, (now - view.created).total_seconds())
            )
        elif record.action == AuditAction.CANCEL_REQUESTED:
            if record.outcome == AuditOutcome.IGNORED:
                CANCELLATIONS.labels(namespace, kind, CancelOutcome.IGNORED.value).inc()
                continue
            latency = _seconds_between(requested_at, now)
            if latency is not None:
                CANCEL_LATENCY.labels(namespace, "cancelling").observe(latency)
        elif record.action == AuditAction.CANCEL_FINISHED and record.outcome in CANCEL_OUTCOMES:
            CANCELLATIONS.labels(namespace, kind, record.outcome).inc()
            latency = _seconds_between(requested_at, now)
            if latency is not None:
                CANCEL_LATENCY.labels(namespace, "terminal").observe(latency)
    if plan.status is None:
        return
    phase = _phase(status.get("phase"))
    if phase is None or phase == view.phase:
        return
    if phase.terminal and not view.phase.terminal:
        RUNS_FINISHED.labels(
            namespace, kind, phase.value, _reason(status.get("reason"), "Other")
        ).inc()
        ended = _time(status.get("completionTime")) or now
        duration = _seconds_between(status.get("startTime"), ended)
        if duration is not None:
            RUN_DURATION.labels(namespace, phase.value).observe(duration)
    elif phase == RunPhase.RETRYING:
        RUN_RETRIES.labels(namespace, kind, _reason(status.get("reason"), "Other")).inc()


def observe_fire(lag_seconds: float, namespace: str) -> None:
    """A ScheduledJob's fire created its run `lag_seconds` after the fire instant."""
    ensure_namespace(namespace)
    SCHEDULE_LAG.labels(namespace).observe(max(0.0, lag_seconds))


def observe_scheduled_job(sj: ScheduledJobView, plan: ScheduledJobPlan) -> None:
    """Count the fires a ScheduledJob decision recorded as missed, and a pause after
    failures (after its write)."""
    ensure_namespace(sj.namespace)
    if plan.status is None:
        return
    if any(record.action == AuditAction.PAUSED_AFTER_FAILURES for record in plan.audit):
        FAILURE_PAUSES.labels(sj.namespace).inc()
    before = int(sj.status.get("missedRuns") or 0)
    after = int(plan.status.get("missedRuns") or 0)
    if after > before:
        MISSED_SCHEDULES.labels(sj.namespace).inc(after - before)


def reconcile_error(key: tuple[str, ...]) -> None:
    """A reconcile of the work-queue `key` failed (it is retried): count it by kind."""
    kind = key[0] if len(key) == 3 else "Namespace"
    RECONCILE_ERRORS.labels(kind if kind in RECONCILE_KINDS else "Other").inc()


# --------------------------------------------------------------- state metrics
def _timestamp(value: Any) -> float | None:
    moment = _time(value)
    return moment.timestamp() if moment is not None else None


def is_stuck(view: RunView) -> bool:
    """A running run flagged `Stuck` by the lifecycle (core.heartbeat): its worker has
    reported no progress for stuckAfterSeconds. The same flag the CLI shows."""
    if view.phase != RunPhase.RUNNING:
        return False
    return any(
        condition.get("type") == ConditionType.STUCK
        and condition.get("status") == ConditionStatus.TRUE
        for condition in view.status.get("conditions") or []
    )


_STATE_HELP = {
    "jobwarden_leader": "1 if this replica holds the Lease and runs the engine, else 0.",
    "jobwarden_workqueue_depth": "Keys waiting in or being processed by the engine's queue.",
    "jobwarden_events_waiting": "Kubernetes Events emitted and not yet posted (they go out "
    "four at a time, in the order they happened).",
    "jobwarden_runs_active": "Runs admitted and not finished (Starting, Running, Retrying, "
    "Cancelling).",
    "jobwarden_runs_queued": "Runs waiting for admission (phase Queued).",
    "jobwarden_runs_stuck": "Running runs flagged Stuck: no progress for stuckAfterSeconds.",
    "jobwarden_worker_quota_limit": "Worker pods a namespace may run at once (its "
    "WorkerQuota, else the operator default).",
    "jobwarden_worker_quota_used": "Worker slots held in a namespace (running or "
    "terminating workers, and admissions in flight).",
    "jobwarden_scheduledjobs": "ScheduledJobs by phase.",
    "jobwarden_scheduledjob_next_schedule_timestamp_seconds": "When a ScheduledJob fires "
    "next (absent while suspended or without a schedule).",
    "jobwarden_scheduledjob_last_schedule_timestamp_seconds": "The last fire instant a "
    "ScheduledJob acted on.",
    "jobwarden_scheduledjob_last_success_timestamp_seconds": "When a ScheduledJob's last "
    "successful run finished.",
    "jobwarden_scheduledjob_consecutive_failures": "Failed runs of a ScheduledJob since "
    "its last success.",
    "jobwarden_scheduledjob_paused_after_failures": "1 while a ScheduledJob is paused "
    "after spec.pauseAfterConsecutiveFailures failed runs in a row, else 0.",
}


@dataclass(frozen=True)
class NamespaceState:
    """A namespace as the state gauges read it."""

    namespace: str
    limit: int  # its quota
    #: Its runs that may hold or want a slot, each with whether it holds one now.
    runs: Iterable[tuple[RunView, bool]]


@dataclass(frozen=True)
class EngineState:
    """What the engine shows at a scrape (`Engine.state`). `namespaces` and
    `scheduled_jobs` are read only on the leader (they may be lazy)."""

    workqueue_depth: int
    events_waiting: int
    namespaces: Iterable[NamespaceState] = ()
    scheduled_jobs: Iterable[ScheduledJobView] = ()


#: Called at every scrape.
StateSource = Callable[[], EngineState]


class EngineStateCollector(Collector):
    """Computes the state gauges at scrape time from a snapshot of the engine."""

    def __init__(self) -> None:
        self.source: StateSource | None = None
        self.is_leader: Callable[[], bool] = lambda: True

    def describe(self) -> Iterable[Metric]:
        """The families this collector yields (so the registry knows their names)."""
        return [GaugeMetricFamily(name, text) for name, text in _STATE_HELP.items()]

    def collect(self) -> Iterable[Metric]:
        """All state families; the store-derived ones only on the leader."""
        families = {
            name: GaugeMetricFamily(name, text, labels=_STATE_LABELS[name])
            for name, text in _STATE_HELP.items()
        }
        state = self.source() if self.source is not None else None
        leading = state is not None and self.is_leader()
        families["jobwarden_leader"].add_metric([], 1.0 if leading else 0.0)
        families["jobwarden_workqueue_depth"].add_metric(
            [], float(state.workqueue_depth) if state is not None else 0.0
        )
        families["jobwarden_events_waiting"].add_metric(
            [], float(state.events_waiting) if state is not None else 0.0
        )
        if state is not None and leading:
            _fill_state(state, families)
        return [f for f in families.values() if f.samples or f.name in _ALWAYS]


_ALWAYS = ("jobwarden_leader", "jobwarden_workqueue_depth", "jobwarden_events_waiting")
_STATE_LABELS: dict[str, list[str]] = {
    "jobwarden_leader": [],
    "jobwarden_workqueue_depth": [],
    "jobwarden_events_waiting": [],
    "jobwarden_runs_active": ["namespace", "priority", "phase"],
    "jobwarden_runs_queued": ["namespace", "priority"],
    "jobwarden_runs_stuck": ["namespace"],
    "jobwarden_worker_quota_limit": ["namespace"],
    "jobwarden_worker_quota_used": ["namespace"],
    "jobwarden_scheduledjobs": ["namespace", "phase"],
    "jobwarden_scheduledjob_next_schedule_timestamp_seconds": ["namespace", "scheduledjob"],
    "jobwarden_scheduledjob_last_schedule_timestamp_seconds": ["namespace", "scheduledjob"],
    "jobwarden_scheduledjob_last_success_timestamp_seconds": ["namespace", "scheduledjob"],
    "jobwarden_scheduledjob_consecutive_failures": ["namespace", "scheduledjob"],
    "jobwarden_scheduledjob_paused_after_failures": ["namespace", "scheduledjob"],
}


def _fill_state(state: EngineState, families: dict[str, GaugeMetricFamily]) -> None:
    """Add the store-derived samples; every namespace gets all its zeros too."""
    for namespace_state in state.namespaces:
        namespace = namespace_state.namespace
        ensure_namespace(namespace)
        active = {(p, ph): 0 for p in PRIORITIES for ph in ACTIVE_PHASES}
        queued = dict.fromkeys(PRIORITIES, 0)
        stuck = used = 0
        for view, holds in namespace_state.runs:  # finished runs count nowhere here
            if holds:
                used += 1
            priority = view.settings.priority.value
            phase = view.phase.value
            if (priority, phase) in active:
                active[priority, phase] += 1
            elif phase == RunPhase.QUEUED.value and not view.deleting:
                queued[priority] += 1
            if is_stuck(view):
                stuck += 1
        for (priority, phase), count in active.items():
            families["jobwarden_runs_active"].add_metric([namespace, priority, phase], count)
        for priority, count in queued.items():
            families["jobwarden_runs_queued"].add_metric([namespace, priority], count)
        families["jobwarden_runs_stuck"].add_metric([namespace], stuck)
        families["jobwarden_worker_quota_limit"].add_metric([namespace], namespace_state.limit)
        families["jobwarden_worker_quota_used"].add_metric([namespace], used)
    scheduled_jobs = list(state.scheduled_jobs)
    phases: dict[tuple[str, str], int] = {}
    for sj in scheduled_jobs:
        if sj.deleting:
            continue
        labels = [sj.namespace, sj.name]
        status = sj.status
        phase = str(status.get("phase") or ScheduledJobPhase.ACTIVE)
        phases[sj.namespace, phase] = phases.get((sj.namespace, phase), 0) + 1
        for field, name in (
            ("nextScheduleTime", "jobwarden_scheduledjob_next_schedule_timestamp_seconds"),
            ("lastScheduleTime", "jobwarden_scheduledjob_last_schedule_timestamp_seconds"),
            ("lastSuccessfulTime", "jobwarden_scheduledjob_last_success_timestamp_seconds"),
        ):
            stamp = _timestamp(status.get(field))
            if stamp is not None:
                families[name].add_metric(labels, stamp)
        failures = int(status.get("consecutiveFailures") or 0)
        families["jobwarden_scheduledjob_consecutive_failures"].add_metric(labels, failures)
        paused = 1.0 if status.get("failurePause") else 0.0
        families["jobwarden_scheduledjob_paused_after_failures"].add_metric(labels, paused)
    for (namespace, phase), count in sorted(phases.items()):
        families["jobwarden_scheduledjobs"].add_metric([namespace, phase], count)


STATE = EngineStateCollector()
REGISTRY.register(STATE)


def watch_state(source: StateSource, is_leader: Callable[[], bool] | None = None) -> None:
    """Report the state gauges from `source()` (the engine's `state`) while
    `is_leader()` says this replica leads."""
    STATE.source = source
    STATE.is_leader = is_leader or (lambda: True)


# ---------------------------------------------------------------------- server
async def _serve_metrics(request: web.Request) -> web.Response:
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = encoder(REGISTRY)
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response


async def _serve_health(_request: web.Request) -> web.Response:
    """Liveness: answered by the operator's event loop, so a hung loop fails it."""
    return web.json_response({})


async def start_metrics_server(port: int, addr: str = "0.0.0.0") -> web.AppRunner | None:
    """Serve /metrics and /healthz (liveness) on `addr:port` from the running event
    loop; port 0: disabled.

    SO_REUSEPORT: replicas sharing one network (host-network pods on one node) can all
    listen. A port otherwise taken raises OSError: the operator must not run unobserved.
    """
    if port == 0:
        logger.info("metrics disabled (JOBWARDEN_METRICS_PORT=0)")
        return None
    app = web.Application()
    app.router.add_get("/metrics", _serve_metrics)
    app.router.add_get("/healthz", _serve_health)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, addr, port, reuse_port=True).start()
    except BaseException:
        await runner.cleanup()
        raise
    logger.info("metrics served on http://%s:%d/metrics", addr, port)
    return runner

"""What the plugin shows, computed from API objects (plain dicts): pure functions.

The commands fetch objects and hand them here; tests feed objects directly.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from jobwarden.api import constants as c
from jobwarden.api.enums import ConditionType, RunPhase, ScheduledJobPhase, Trigger
from jobwarden.cli.text import (
    DASH,
    NONE,
    age,
    exact_duration,
    format_timestamp,
    human_duration,
    indent_block,
    key_values,
    parse_time,
    seconds_between,
    table,
    truncate,
)

JSON = dict[str, Any]
_Obj = TypeVar("_Obj", bound=Mapping[str, Any])

RUN_KINDS = (c.KIND_JOB_RUN, c.KIND_EXPORT)
PLURALS = {
    c.KIND_SCHEDULED_JOB: c.PLURAL_SCHEDULED_JOBS,
    c.KIND_JOB_RUN: c.PLURAL_JOB_RUNS,
    c.KIND_EXPORT: c.PLURAL_EXPORTS,
    c.KIND_WORKER_QUOTA: c.PLURAL_WORKER_QUOTAS,
}
#: What users may type for a kind: singular, plural, short name, `<plural>.<group>`.
KIND_ALIASES: dict[str, str] = {}
for _kind, _plural, _short in (
    (c.KIND_SCHEDULED_JOB, c.PLURAL_SCHEDULED_JOBS, "sj"),
    (c.KIND_JOB_RUN, c.PLURAL_JOB_RUNS, "jr"),
    (c.KIND_EXPORT, c.PLURAL_EXPORTS, "exp"),
    (c.KIND_WORKER_QUOTA, c.PLURAL_WORKER_QUOTAS, "wq"),
):
    for _alias in (
        _kind.lower(),
        _plural,
        _short,
        f"{_plural}.{c.GROUP}",
        f"{_kind.lower()}.{c.GROUP}",
    ):
        KIND_ALIASES[_alias] = _kind

TERMINAL_PHASES = frozenset(p.value for p in RunPhase if p.terminal)
FINISHED_JOB_PHASES = frozenset(
    {ScheduledJobPhase.COMPLETED.value, ScheduledJobPhase.CANCELLED.value}
)
#: Phases in which a run holds a worker slot (its pod may be running).
HOLDING_PHASES = frozenset(
    {RunPhase.STARTING.value, RunPhase.RUNNING.value, RunPhase.CANCELLING.value}
)
#: Shown for a run the operator has not reconciled yet (no status.phase).
NEW_PHASE = "New"
HISTORY_PHASES = tuple(p.value for p in RunPhase)

HISTORY_COLUMNS = (
    "name",
    "namespace",
    "scheduledJob",
    "trigger",
    "phase",
    "reason",
    "scheduledTime",
    "startTime",
    "completionTime",
    "durationSeconds",
    "attempts",
    "exitCode",
    "triggeredBy",
    "cancelledBy",
    "cancelReason",
    "source",
)


class UnknownKindError(ValueError):
    """A kind name the plugin does not know."""


def kind_of(alias: str, allowed: Sequence[str] | None = None) -> str:
    """The kind for `jobrun`, `jr`, `jobruns.jobwarden.dev`, … (case-insensitive)."""
    kind = KIND_ALIASES.get(alias.strip().lower())
    if kind is None or (allowed is not None and kind not in allowed):
        names = ", ".join(k.lower() for k in (allowed or PLURALS))
        raise UnknownKindError(f'unknown kind "{alias}": use one of {names}')
    return kind


def split_ref(text: str) -> tuple[str | None, str]:
    """`jobrun/x` → ("JobRun", "x"); a bare name → (None, name)."""
    if "/" in text:
        kind, _, name = text.partition("/")
        return kind_of(kind), name
    return None, text


# ------------------------------------------------------------------ object facts
def metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """The object's metadata (empty if missing)."""
    result: Mapping[str, Any] = obj.get("metadata") or {}
    return result


def name_of(obj: Mapping[str, Any]) -> str:
    """metadata.name."""
    return str(metadata(obj).get("name") or "")


def namespace_of(obj: Mapping[str, Any]) -> str:
    """metadata.namespace."""
    return str(metadata(obj).get("namespace") or "")


def annotation(obj: Mapping[str, Any], key: str) -> str | None:
    """One annotation's value, or None."""
    value = (metadata(obj).get("annotations") or {}).get(key)
    return str(value) if value is not None else None


def status_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """The object's status (empty if missing)."""
    result: Mapping[str, Any] = obj.get("status") or {}
    return result


def spec_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """The object's spec (empty if missing)."""
    result: Mapping[str, Any] = obj.get("spec") or {}
    return result


def phase_of(obj: Mapping[str, Any]) -> str:
    """status.phase, or `New` before the operator has written one."""
    return str(status_of(obj).get("phase") or NEW_PHASE)


def phase_text(obj: Mapping[str, Any]) -> str:
    """The phase, and for Starting what it waits for: `Starting (Unschedulable)`."""
    phase = phase_of(obj)
    reason = status_of(obj).get("reason")
    if phase == RunPhase.STARTING.value and reason:
        return f"{phase} ({reason})"
    return phase


def is_terminal(obj: Mapping[str, Any]) -> bool:
    """The run has ended (Succeeded, Failed, Cancelled)."""
    return phase_of(obj) in TERMINAL_PHASES


def is_finished(obj: Mapping[str, Any]) -> bool:
    """Nothing is left to cancel: a run that ended, a ScheduledJob Completed or
    Cancelled."""
    if obj.get("kind") == c.KIND_SCHEDULED_JOB:
        return phase_of(obj) in FINISHED_JOB_PHASES
    return is_terminal(obj)


def cancel_requested(obj: Mapping[str, Any]) -> bool:
    """spec.cancel is already true."""
    return bool(spec_of(obj).get("cancel"))


def condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    """The condition of type `kind`, if present."""
    for entry in status_of(obj).get("conditions") or []:
        if entry.get("type") == kind:
            found: Mapping[str, Any] = entry
            return found
    return None


def is_stuck(obj: Mapping[str, Any]) -> bool:
    """The condition Stuck is True (the worker stopped reporting progress)."""
    stuck = condition(obj, ConditionType.STUCK.value)
    return bool(stuck and stuck.get("status") == "True")


def scheduled_job_of(obj: Mapping[str, Any]) -> str | None:
    """spec.scheduledJobRef.name of a JobRun, if any."""
    ref = spec_of(obj).get("scheduledJobRef") or {}
    return str(ref["name"]) if ref.get("name") else None


def priority_of(obj: Mapping[str, Any]) -> str:
    """Effective priority: the snapshot's, else the spec's, else Medium."""
    snapshot = (status_of(obj).get("snapshot") or {}).get("settings") or {}
    return str(snapshot.get("priority") or spec_of(obj).get("priority") or "Medium")


def created_at(obj: Mapping[str, Any]) -> datetime.datetime | None:
    """metadata.creationTimestamp."""
    return parse_time(metadata(obj).get("creationTimestamp"))


def elapsed_seconds(obj: Mapping[str, Any], now: datetime.datetime) -> float | None:
    """How long the run has been going: since it started (admitted), or since it
    was created while it still waits; until it ended, if it has."""
    status = status_of(obj)
    start = parse_time(status.get("startTime")) or created_at(obj)
    end = parse_time(status.get("completionTime")) if is_terminal(obj) else now
    return seconds_between(start, end)


def progress_text(obj: Mapping[str, Any]) -> str:
    """`42%`, or `-` before the worker reported any."""
    progress = status_of(obj).get("progress") or {}
    percent = progress.get("percent")
    if percent is None and progress.get("fraction") is not None:
        percent = int(float(progress["fraction"]) * 100)
    return f"{percent}%" if percent is not None else DASH


def queue_text(obj: Mapping[str, Any]) -> str:
    """`1 (QuotaExhausted)` while the run waits for admission, else `-`."""
    queue = status_of(obj).get("queue") or {}
    if not queue or phase_of(obj) not in (RunPhase.QUEUED.value, NEW_PHASE):
        return DASH
    position, reason = queue.get("position"), queue.get("reason")
    if position is None:
        return str(reason or DASH)
    return f"{position} ({reason})" if reason else str(position)


def owner_candidates(obj: Mapping[str, Any], job: Mapping[str, Any] | None) -> list[str]:
    """Who counts as the creator of `obj`: its `created-by`, and for a run the
    operator created for a schedule, the creator of its ScheduledJob."""
    owners = [annotation(obj, c.ANNOTATION_CREATED_BY)]
    if spec_of(obj).get("trigger") == Trigger.SCHEDULE.value and job is not None:
        owners.append(annotation(job, c.ANNOTATION_CREATED_BY))
    return [o for o in owners if o]


# -------------------------------------------------------------------- active view
@dataclass(frozen=True)
class CancelRight:
    """Whether the caller may cancel an object, and why."""

    allowed: bool
    why: str

    def cell(self) -> str:
        """`yes`, `no`, or `requested` once a cancel was asked for."""
        if self.why == "requested":
            return "requested"
        return "yes" if self.allowed else "no"


ACTIVE_HEADERS = ("kind", "name", "phase", "progress", "elapsed", "stuck", "queue", "cancel")
ACTIVE_WIDE_HEADERS = (
    *ACTIVE_HEADERS,
    "priority",
    "attempt",
    "scheduledjob",
    "created-by",
    "message",
)


def active_objects(objects: Iterable[_Obj]) -> list[_Obj]:
    """The unfinished runs among `objects`, oldest first (as they were queued)."""
    live = [o for o in objects if not is_terminal(o)]
    return sorted(
        live,
        key=lambda o: (namespace_of(o), metadata(o).get("creationTimestamp") or "", name_of(o)),
    )


def active_rows(
    objects: Sequence[Mapping[str, Any]],
    rights: Mapping[tuple[str, str, str], CancelRight],
    now: datetime.datetime,
    *,
    wide: bool = False,
    all_namespaces: bool = False,
) -> tuple[list[str], list[list[str]]]:
    """The headers and rows of `kubectl jobwarden active`."""
    headers = list(ACTIVE_WIDE_HEADERS if wide else ACTIVE_HEADERS)
    if all_namespaces:
        headers.insert(0, "namespace")
    rows = []
    for obj in objects:
        kind = str(obj.get("kind") or "")
        right = rights.get((kind, namespace_of(obj), name_of(obj)))
        row = [
            kind,
            name_of(obj),
            phase_text(obj),
            progress_text(obj),
            human_duration(elapsed_seconds(obj, now)) or DASH,
            "yes" if is_stuck(obj) else "no",
            queue_text(obj),
            right.cell() if right else "?",
        ]
        if wide:
            status = status_of(obj)
            progress = status.get("progress") or {}
            message = progress.get("message") or status.get("message") or ""
            row += [
                priority_of(obj),
                str(status.get("attempt") or 0),
                scheduled_job_of(obj) or DASH,
                annotation(obj, c.ANNOTATION_CREATED_BY) or NONE,
                truncate(str(message), 60),
            ]
        if all_namespaces:
            row.insert(0, namespace_of(obj))
        rows.append(row)
    return headers, rows


# ------------------------------------------------------------------- status view
def describe_run(
    obj: Mapping[str, Any],
    events: Sequence[Mapping[str, Any]],
    now: datetime.datetime,
    *,
    right: CancelRight | None = None,
) -> str:
    """`kubectl jobwarden status NAME`: one run or export in detail."""
    kind = str(obj.get("kind") or "")
    status, spec = status_of(obj), spec_of(obj)
    created = created_at(obj)
    phase = phase_of(obj)
    reason, message = status.get("reason"), status.get("message")
    shown_reason = f" ({reason})" if reason and reason != phase else ""
    phase_line = phase + shown_reason + (f": {message}" if message else "")
    started, completed = (
        parse_time(status.get("startTime")),
        parse_time(status.get("completionTime")),
    )
    settings = (status.get("snapshot") or {}).get("settings") or {}
    retries = settings.get("retries", spec.get("retries"))
    if retries is None and not scheduled_job_of(obj):  # standalone: the default applies
        retries = c.DEFAULT_RETRIES
    attempt = int(status.get("attempt") or 0)
    pairs: list[tuple[str, object]] = [
        ("Name", name_of(obj)),
        ("Namespace", namespace_of(obj)),
        ("Kind", kind),
        ("ScheduledJob", scheduled_job_of(obj)),
        ("Trigger", spec.get("trigger") if kind == c.KIND_JOB_RUN else None),
        ("Scheduled for", format_timestamp(parse_time(spec.get("scheduledTime")))),
        ("Re-run of", spec.get("rerunOf")),
        ("Created", _when(created, now)),
        ("Created by", annotation(obj, c.ANNOTATION_CREATED_BY)),
        ("Triggered by", annotation(obj, c.ANNOTATION_TRIGGERED_BY)),
        ("Priority", priority_of(obj)),
        ("Phase", phase_line),
        ("Stuck", _stuck_line(obj, now)),
        ("Queue", _queue_line(obj, now)),
        ("Attempt", f"{attempt} of {int(retries) + 1}" if retries is not None else attempt or None),
        ("Next attempt", _when(parse_time(status.get("nextAttemptTime")), now, future=True)),
        ("Started", _when(started, now)),
        ("Completed", _when(completed, now)),
        ("Duration", status.get("duration") or exact_duration(seconds_between(started, completed))),
        ("Progress", _progress_line(obj, now)),
        ("Artifact", _artifact_line(obj)),
        (
            "Can cancel",
            (right.cell() + (f" ({right.why})" if right.why else "")) if right else None,
        ),
    ]
    out = [key_values(pairs)]
    conditions = status.get("conditions") or []
    if conditions:
        rows = [
            [
                cond.get("type"),
                cond.get("status"),
                cond.get("reason"),
                age(parse_time(cond.get("lastTransitionTime")), now),
                truncate(str(cond.get("message") or ""), 80),
            ]
            for cond in conditions
        ]
        out.append(
            "Conditions:\n"
            + indent_block(table(["type", "status", "reason", "age", "message"], rows))
        )
    attempts = status.get("attempts") or []
    if attempts:
        rows = [
            [
                a.get("attempt"),
                a.get("podName"),
                format_timestamp(parse_time(a.get("startTime"))) or DASH,
                exact_duration(
                    seconds_between(parse_time(a.get("startTime")), parse_time(a.get("finishTime")))
                )
                or DASH,
                DASH if a.get("exitCode") is None else a.get("exitCode"),
                a.get("reason") or DASH,
                truncate(str(a.get("message") or ""), 60),
            ]
            for a in attempts
        ]
        headers = ["#", "pod", "started", "ran", "exit", "reason", "message"]
        out.append("Attempts:\n" + indent_block(table(headers, rows)))
    cancellation = status.get("cancellation")
    if cancellation:
        grace = cancellation.get("gracePeriodSeconds")
        cancel_pairs: list[tuple[str, object]] = [
            ("Requested by", cancellation.get("requestedBy")),
            ("Requested at", _when(parse_time(cancellation.get("requestedAt")), now)),
            ("Reason", cancellation.get("reason")),
            ("Signalled at", _when(parse_time(cancellation.get("signalledAt")), now)),
            ("Grace period", f"{grace}s" if grace is not None else None),
            ("Finished at", _when(parse_time(cancellation.get("finishedAt")), now)),
            ("Outcome", cancellation.get("outcome")),
        ]
        out.append("Cancellation:\n" + key_values(cancel_pairs, indent=2))
    elif spec.get("cancel"):
        out.append("Cancellation:\n  requested, not yet picked up by the operator\n")
    log = status.get("log") or []
    if log:
        rows = [[format_timestamp(parse_time(e.get("time"))), e.get("message")] for e in log]
        out.append("Log:\n" + indent_block(table(["time", "message"], rows)))
    if events:
        rows = [
            [
                e.get("type"),
                e.get("reason"),
                age(event_time(e), now),
                truncate(str(e.get("message") or ""), 100),
            ]
            for e in events
        ]
        out.append("Events:\n" + indent_block(table(["type", "reason", "age", "message"], rows)))
    else:
        out.append("Events:  <none>\n")
    return "".join(out)


def event_time(event: Mapping[str, Any]) -> datetime.datetime | None:
    """When an Event last happened."""
    series = event.get("series") or {}
    return (
        parse_time(series.get("lastObservedTime"))
        or parse_time(event.get("lastTimestamp"))
        or parse_time(event.get("eventTime"))
        or parse_time(event.get("firstTimestamp"))
        or parse_time(metadata(event).get("creationTimestamp"))
    )


def last_events(events: Iterable[Mapping[str, Any]], count: int) -> list[Mapping[str, Any]]:
    """The `count` most recent Events, oldest first."""
    epoch = datetime.datetime.min.replace(tzinfo=datetime.UTC)
    ordered = sorted(events, key=lambda e: event_time(e) or epoch)
    return ordered[-count:] if count > 0 else []


def _when(moment: datetime.datetime | None, now: datetime.datetime, *, future: bool = False) -> str:
    if moment is None:
        return ""
    if future and moment > now:
        return f"{format_timestamp(moment)} (in {human_duration((moment - now).total_seconds())})"
    return f"{format_timestamp(moment)} ({age(moment, now)} ago)"


def _stuck_line(obj: Mapping[str, Any], now: datetime.datetime) -> str:
    stuck = condition(obj, ConditionType.STUCK.value)
    if not stuck or stuck.get("status") != "True":
        return ""
    since = age(parse_time(stuck.get("lastTransitionTime")), now)
    return f"yes, for {since}: {stuck.get('message') or stuck.get('reason')}"


def _queue_line(obj: Mapping[str, Any], now: datetime.datetime) -> str:
    queue = status_of(obj).get("queue") or {}
    if not queue:
        return ""
    parts = [f"position {queue.get('position')}" if queue.get("position") else ""]
    if queue.get("reason"):
        parts.append(
            str(queue["reason"]) + (f": {queue['message']}" if queue.get("message") else "")
        )
    since = parse_time(queue.get("since"))
    if since is not None:
        parts.append(f"waiting {age(since, now)}")
    return ", ".join(p for p in parts if p)


def _progress_line(obj: Mapping[str, Any], now: datetime.datetime) -> str:
    progress = status_of(obj).get("progress") or {}
    if not progress:
        return ""
    parts = [progress_text(obj)] if progress_text(obj) != DASH else []
    counters = progress.get("counters") or {}
    parts += [f"{k}={v}" for k, v in sorted(counters.items())]
    if progress.get("message"):
        parts.append(f'"{progress["message"]}"')
    updated = parse_time(progress.get("updateTime"))
    if updated is not None:
        parts.append(f"(reported {age(updated, now)} ago)")
    return "  ".join(parts)


def _artifact_line(obj: Mapping[str, Any]) -> str:
    artifact = status_of(obj).get("artifact") or {}
    if not artifact:
        return ""
    return f"{artifact.get('path')}  {artifact.get('rows')} rows, {artifact.get('bytes')} bytes"


# ------------------------------------------------------------------ history view
def history_records(
    job: Mapping[str, Any], runs: Iterable[Mapping[str, Any]], now: datetime.datetime
) -> list[JSON]:
    """Every run of a ScheduledJob, newest first: its JobRuns that still exist,
    merged with the summaries in `status.history` of those already deleted."""
    job_name, namespace = name_of(job), namespace_of(job)
    records: dict[str, JSON] = {}
    for summary in status_of(job).get("history") or []:
        record = _summary_record(summary, job_name, namespace)
        records[record["name"]] = record
    for run in runs:
        if scheduled_job_of(run) == job_name:
            record = _run_record(run, job_name, now)
            records[record["name"]] = record  # a live object wins over its summary
    return sorted(records.values(), key=_record_sort_key, reverse=True)


def _summary_record(summary: Mapping[str, Any], job: str, namespace: str) -> JSON:
    return {
        "name": str(summary.get("name")),
        "namespace": namespace,
        "scheduledJob": job,
        "trigger": summary.get("trigger"),
        "phase": summary.get("phase"),
        "reason": summary.get("reason"),
        "scheduledTime": _normal_time(summary.get("scheduledTime")),
        "startTime": _normal_time(summary.get("startTime")),
        "completionTime": _normal_time(summary.get("completionTime")),
        "durationSeconds": _round(summary.get("durationSeconds")),
        "attempts": None,
        "exitCode": None,
        "triggeredBy": None,
        "cancelledBy": None,
        "cancelReason": None,
        "source": "history",
        "_created": None,
        "_moment": parse_time(summary.get("startTime"))
        or parse_time(summary.get("scheduledTime"))
        or parse_time(summary.get("completionTime")),
    }


def _run_record(run: Mapping[str, Any], job: str, now: datetime.datetime) -> JSON:
    status, spec = status_of(run), spec_of(run)
    start, end = parse_time(status.get("startTime")), parse_time(status.get("completionTime"))
    attempts = status.get("attempts") or []
    cancellation = status.get("cancellation") or {}
    return {
        "name": name_of(run),
        "namespace": namespace_of(run),
        "scheduledJob": job,
        "trigger": spec.get("trigger") or Trigger.MANUAL.value,
        "phase": phase_of(run),
        "reason": status.get("reason"),
        "scheduledTime": _normal_time(spec.get("scheduledTime")),
        "startTime": format_timestamp(start) or None,
        "completionTime": format_timestamp(end) or None,
        "durationSeconds": _round(seconds_between(start, end)),
        "attempts": len(attempts),
        "exitCode": attempts[-1].get("exitCode") if attempts else None,
        "triggeredBy": annotation(run, c.ANNOTATION_TRIGGERED_BY),
        "cancelledBy": cancellation.get("requestedBy")
        or annotation(run, c.ANNOTATION_CANCEL_REQUESTED_BY),
        "cancelReason": cancellation.get("reason") or annotation(run, c.ANNOTATION_CANCEL_REASON),
        "source": c.KIND_JOB_RUN,
        "_created": format_timestamp(created_at(run)) or None,
        "_moment": start or parse_time(spec.get("scheduledTime")) or created_at(run) or end,
    }


def _normal_time(value: object) -> str | None:
    return format_timestamp(parse_time(value)) or None


def _round(value: object) -> float | None:
    return round(float(value), 3) if isinstance(value, int | float) else None


def record_time(record: Mapping[str, Any]) -> datetime.datetime | None:
    """The moment a history record is filed under: when it started, else when it
    was due, else created, else ended."""
    for key in ("startTime", "scheduledTime", "_created", "completionTime"):
        moment = parse_time(record.get(key))
        if moment is not None:
            return moment
    return None


def _record_sort_key(record: Mapping[str, Any]) -> tuple[datetime.datetime, str]:
    """Newest first at full precision (the shown times have whole seconds, and two runs
    can start within one second)."""
    epoch = datetime.datetime.min.replace(tzinfo=datetime.UTC)
    moment = record.get("_moment")
    if not isinstance(moment, datetime.datetime):
        moment = record_time(record)
    return moment or epoch, str(record.get("name"))


def filter_history(
    records: Iterable[JSON],
    *,
    phases: Sequence[str] = (),
    since: datetime.datetime | None = None,
    limit: int | None = None,
) -> list[JSON]:
    """Records with one of `phases` (all if empty) filed at or after `since`."""
    wanted = {p.lower() for p in phases}
    chosen = []
    for record in records:
        if wanted and str(record.get("phase") or "").lower() not in wanted:
            continue
        if since is not None:
            moment = record_time(record)
            if moment is None or moment < since:
                continue
        chosen.append(record)
    return chosen[:limit] if limit is not None else chosen


def public_record(record: Mapping[str, Any]) -> JSON:
    """A record as printed (-o json/yaml/csv): the documented columns only."""
    return {key: record.get(key) for key in HISTORY_COLUMNS}


HISTORY_HEADERS = ("name", "trigger", "phase", "started", "duration", "reason")
HISTORY_WIDE_HEADERS = (
    *HISTORY_HEADERS,
    "scheduled",
    "completed",
    "attempts",
    "exit",
    "triggered-by",
    "cancelled-by",
    "source",
)


def history_rows(
    records: Sequence[Mapping[str, Any]], *, wide: bool = False
) -> tuple[list[str], list[list[str]]]:
    """The headers and rows of `kubectl jobwarden history`."""
    headers = list(HISTORY_WIDE_HEADERS if wide else HISTORY_HEADERS)
    rows = []
    for r in records:
        row = [
            str(r.get("name")),
            str(r.get("trigger") or DASH),
            str(r.get("phase") or DASH),
            str(r.get("startTime") or DASH),
            exact_duration(r.get("durationSeconds")) or DASH,
            _reason_cell(r),
        ]
        if wide:
            row += [
                str(r.get("scheduledTime") or DASH),
                str(r.get("completionTime") or DASH),
                DASH if r.get("attempts") is None else str(r["attempts"]),
                DASH if r.get("exitCode") is None else str(r["exitCode"]),
                str(r.get("triggeredBy") or DASH),
                str(r.get("cancelledBy") or DASH),
                str(r.get("source")),
            ]
        rows.append(row)
    return headers, rows


def _reason_cell(record: Mapping[str, Any]) -> str:
    """The reason, unless it only repeats the phase (`Succeeded (Succeeded)`)."""
    reason = record.get("reason")
    return str(reason) if reason and reason != record.get("phase") else DASH


# -------------------------------------------------------------------- quota view
QUOTA_HEADERS = ("name", "max", "running", "queued", "high", "medium", "low")


def quota_records(
    quotas: Iterable[Mapping[str, Any]],
    runs: Iterable[Mapping[str, Any]],
    namespaces: Iterable[str] = (),
) -> list[JSON]:
    """One record per WorkerQuota, plus the operator-wide default for each of
    `namespaces` and each namespace with unfinished runs that has no WorkerQuota
    (usage counted from its runs)."""
    records: list[JSON] = []
    covered: set[str] = set()
    for quota in quotas:
        status = status_of(quota)
        by_priority = status.get("queuedByPriority") or {}
        covered.add(namespace_of(quota))
        records.append(
            {
                "namespace": namespace_of(quota),
                "name": name_of(quota),
                "maxRunning": spec_of(quota).get("maxRunning"),
                "running": int(status.get("running") or 0),
                "queued": int(status.get("queued") or 0),
                "queuedByPriority": {
                    "high": int(by_priority.get("high") or 0),
                    "medium": int(by_priority.get("medium") or 0),
                    "low": int(by_priority.get("low") or 0),
                },
                "default": False,
            }
        )
    usage: dict[str, JSON] = {ns: _empty_usage(ns) for ns in namespaces if ns not in covered}
    for run in runs:
        namespace = namespace_of(run)
        if namespace in covered or is_terminal(run):
            continue
        record = usage.setdefault(namespace, _empty_usage(namespace))
        phase = phase_of(run)
        if phase in HOLDING_PHASES:
            record["running"] += 1
        elif phase == RunPhase.QUEUED.value:
            record["queued"] += 1
            key = priority_of(run).lower()
            if key in record["queuedByPriority"]:
                record["queuedByPriority"][key] += 1
    records.extend(usage.values())
    return sorted(records, key=lambda r: (r["namespace"], r["default"], r["name"]))


def _empty_usage(namespace: str) -> JSON:
    return {
        "namespace": namespace,
        "name": "(default)",
        "maxRunning": c.DEFAULT_MAX_RUNNING,
        "running": 0,
        "queued": 0,
        "queuedByPriority": {"high": 0, "medium": 0, "low": 0},
        "default": True,
    }


def quota_rows(
    records: Sequence[Mapping[str, Any]], *, all_namespaces: bool = False
) -> tuple[list[str], list[list[str]]]:
    """The headers and rows of `kubectl jobwarden quota`."""
    headers = list(QUOTA_HEADERS)
    if all_namespaces:
        headers.insert(0, "namespace")
    rows = []
    for r in records:
        by_priority = r.get("queuedByPriority") or {}
        row = [
            str(r["name"]),
            str(r.get("maxRunning")),
            str(r["running"]),
            str(r["queued"]),
            str(by_priority.get("high", 0)),
            str(by_priority.get("medium", 0)),
            str(by_priority.get("low", 0)),
        ]
        if all_namespaces:
            row.insert(0, str(r["namespace"]))
        rows.append(row)
    return headers, rows


# ------------------------------------------------------------------- new objects
_GENERATED_SUFFIX = re.compile(r"-(manual|rerun)-[a-z0-9]{5}$")
#: Characters the API server appends to a generateName.
GENERATED_CHARS = 5


def generate_name(base: str, word: str) -> str:
    """`<base>-<word>-` for metadata.generateName, shortened so the generated name
    stays within the run name limit."""
    room = c.MAX_RUN_NAME - GENERATED_CHARS - len(word) - 2
    return f"{base[:room].rstrip('-.')}-{word}-"


def manual_run(job: str, namespace: str, priority: str | None = None) -> JSON:
    """A run-now JobRun of the ScheduledJob `job`."""
    spec: JSON = {"scheduledJobRef": {"name": job}, "trigger": Trigger.MANUAL.value}
    if priority:
        spec["priority"] = priority
    return {
        "apiVersion": c.API_VERSION,
        "kind": c.KIND_JOB_RUN,
        "metadata": {"generateName": generate_name(job, "manual"), "namespace": namespace},
        "spec": spec,
    }


def _user_labels(obj: Mapping[str, Any]) -> dict[str, str]:
    labels = metadata(obj).get("labels") or {}
    return {str(k): str(v) for k, v in labels.items() if not str(k).startswith(f"{c.GROUP}/")}


def rerun(obj: Mapping[str, Any]) -> JSON:
    """A new run repeating the finished run `obj`: a JobRun with the same
    scheduledJobRef or template and settings, trigger Rerun and rerunOf; an Export
    with the same spec."""
    kind, name = str(obj.get("kind")), name_of(obj)
    spec = {k: v for k, v in spec_of(obj).items() if k != "cancel"}
    if kind == c.KIND_JOB_RUN:
        for key in ("trigger", "rerunOf", "scheduledTime"):
            spec.pop(key, None)
        spec["trigger"] = Trigger.RERUN.value
        spec["rerunOf"] = name
    base = scheduled_job_of(obj) or _GENERATED_SUFFIX.sub("", name)
    body: JSON = {
        "apiVersion": c.API_VERSION,
        "kind": kind,
        "metadata": {"generateName": generate_name(base, "rerun"), "namespace": namespace_of(obj)},
        "spec": spec,
    }
    labels = _user_labels(obj)
    if labels:
        body["metadata"]["labels"] = labels
    return body

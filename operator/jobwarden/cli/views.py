"""What the plugin prints, computed from API objects (plain dicts): pure functions.

The commands fetch objects and hand them here; tests feed objects directly. The facts
behind the tables (phases, owners, history, quotas) are in `jobwarden.client`, shared
with the dashboard.
"""

from __future__ import annotations

import datetime
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from jobwarden.api import constants as c
from jobwarden.api.enums import ConditionType, ScheduledJobPhase
from jobwarden.client.access import CancelRight
from jobwarden.client.actions import PlannedFire
from jobwarden.client.objects import (
    annotation,
    condition,
    created_at,
    elapsed_seconds,
    estimated_start,
    event_time,
    is_stuck,
    is_terminal,
    metadata,
    name_of,
    namespace_of,
    phase_of,
    phase_text,
    priority_of,
    progress_text,
    queue_text,
    scheduled_job_of,
    spec_of,
    start_text,
    status_of,
)
from jobwarden.client.schedule import PreviewFire, Schedule
from jobwarden.client.text import (
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

_Obj = TypeVar("_Obj", bound=Mapping[str, Any])

ACTIVE_HEADERS = (
    "kind",
    "name",
    "phase",
    "progress",
    "elapsed",
    "stuck",
    "queue",
    "starts",
    "cancel",
)
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
            start_text(obj, now),
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
    expected = estimated_start(obj)
    if expected is not None:
        parts.append(f"expected to start {_when(expected, now, future=True)}")
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


QUOTA_HEADERS = ("name", "max", "running", "queued", "high", "medium", "low")


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


# ---------------------------------------------------------------------- next fires
NEXT_HEADERS = ("#", "local", "utc", "dst")
NEXT_JITTER_HEADERS = ("#", "local", "utc", "starts", "delay", "dst")


def next_summary(job: Mapping[str, Any], schedule: Schedule) -> str:
    """What `kubectl jobwarden next` says above its table: the schedule, how `H` and
    the jitter resolve, and whether the job will run these fires at all."""
    spec, status = spec_of(job), status_of(job)
    lines = [
        f'ScheduledJob {name_of(job)} ({namespace_of(job)}): "{schedule.expression}" '
        f"in {schedule.time_zone}"
    ]
    if schedule.uses_hash:
        lines.append(f'  H is hashed from {schedule.seed}: the fields fire as "{schedule.values}"')
    if schedule.jitter_seconds:
        lines.append(
            f"  jitterSeconds {schedule.jitter_seconds}: each run starts a delay of its own "
            "after its fire (STARTS), shorter than the time to the next fire"
        )
    phase = str(status.get("phase") or "")
    if spec.get("cancel") or phase == ScheduledJobPhase.CANCELLED.value:
        lines.append("  cancelled: none of these fires will run")
    elif spec.get("suspend"):
        lines.append("  paused (spec.suspend): these fires run only once it is resumed")
    elif status.get("failurePause"):
        message = str((status.get("failurePause") or {}).get("message") or "")
        lines.append(f"  {message}: these fires run only once it is resumed")
    return "\n".join(lines)


def next_rows(fires: Sequence[PreviewFire]) -> tuple[list[str], list[list[str]]]:
    """The headers and rows of `kubectl jobwarden next`: each fire on the job's clock
    and in UTC, when its run starts (with jitter), and its DST mark."""
    jitter = any(fire.delay_seconds for fire in fires)
    headers = list(NEXT_JITTER_HEADERS if jitter else NEXT_HEADERS)
    rows = []
    for number, fire in enumerate(fires, start=1):
        row = [str(number), fire.local.strftime("%Y-%m-%d %H:%M %Z"), format_timestamp(fire.time)]
        if jitter:
            row += [
                fire.effective_local.strftime("%Y-%m-%d %H:%M:%S %Z"),
                f"+{human_duration(fire.delay_seconds) or '0s'}",
            ]
        rows.append([*row, fire.note() or DASH])
    return headers, rows


def next_records(fires: Sequence[PreviewFire]) -> list[dict[str, Any]]:
    """The fires as `-o json|yaml` prints them."""
    return [
        {
            "scheduledTime": format_timestamp(fire.time),
            "localTime": fire.local.isoformat(),
            "effectiveTime": format_timestamp(fire.effective),
            "delaySeconds": fire.delay_seconds,
            "dst": fire.dst.value if fire.dst else None,
            "note": fire.note() or None,
        }
        for fire in fires
    ]


# ------------------------------------------------------------------------ backfill
BACKFILL_HEADERS = ("local", "utc", "run", "action", "why")


def backfill_rows(planned: Sequence[PlannedFire], zone: str) -> tuple[list[str], list[list[str]]]:
    """The rows of `kubectl jobwarden backfill --dry-run`: each fire of the range, its
    run name, and whether a run would be created or the fire skipped (and why)."""
    tz = zoneinfo.ZoneInfo(zone)
    rows = [
        [
            p.fire.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z"),
            format_timestamp(p.fire),
            p.name,
            str(p.action),
            p.why or DASH,
        ]
        for p in planned
    ]
    return list(BACKFILL_HEADERS), rows

"""A ScheduledJob's history: its JobRuns that still exist merged with the summaries
of deleted ones in `status.history`, as `kubectl jobwarden history` and the
dashboard's job page show it. Pure functions.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from jobwarden.api import constants as c
from jobwarden.api.enums import RunPhase, Trigger
from jobwarden.client.objects import (
    JSON,
    annotation,
    created_at,
    name_of,
    namespace_of,
    phase_of,
    scheduled_job_of,
    spec_of,
    status_of,
)
from jobwarden.client.text import format_timestamp, parse_time, seconds_between

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
    "error",
    "source",
)


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
        "error": summary.get("error"),
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
        "error": _error(phase_of(run), attempts),
        "source": c.KIND_JOB_RUN,
        "_created": format_timestamp(created_at(run)) or None,
        "_moment": start or parse_time(spec.get("scheduledTime")) or created_at(run) or end,
    }


def _error(phase: str, attempts: Sequence[Mapping[str, Any]]) -> str | None:
    """The error column: the termination message of the last attempt of a run that did
    not succeed (what its worker said, or the tail of its log)."""
    message = attempts[-1].get("message") if attempts else None
    if phase == RunPhase.SUCCEEDED or not message:
        return None
    return str(message)


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

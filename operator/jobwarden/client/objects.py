"""Facts read from jobwarden objects (plain dicts, as the API server sends them):
kinds and their plurals, names, phases, who created what, Events. Pure functions,
shared by the kubectl plugin and the dashboard; tests feed objects directly.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any, TypeVar

from jobwarden.api import constants as c
from jobwarden.api.enums import (
    BackfillPhase,
    ConditionType,
    RunPhase,
    ScheduledJobPhase,
    Trigger,
)
from jobwarden.client.text import DASH, human_duration, parse_time, seconds_between

JSON = dict[str, Any]
_Obj = TypeVar("_Obj", bound=Mapping[str, Any])

RUN_KINDS = (c.KIND_JOB_RUN, c.KIND_EXPORT)
PLURALS = c.PLURALS
KINDS_BY_PLURAL = {plural: kind for kind, plural in PLURALS.items()}
#: What users may type for a kind: singular, plural, short name, `<plural>.<group>`.
KIND_ALIASES: dict[str, str] = {}
for _kind, _plural, _short in (
    (c.KIND_SCHEDULED_JOB, c.PLURAL_SCHEDULED_JOBS, "sj"),
    (c.KIND_JOB_RUN, c.PLURAL_JOB_RUNS, "jr"),
    (c.KIND_EXPORT, c.PLURAL_EXPORTS, "exp"),
    (c.KIND_WORKER_QUOTA, c.PLURAL_WORKER_QUOTAS, "wq"),
    (c.KIND_BACKFILL, c.PLURAL_BACKFILLS, "bf"),
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
FINISHED_BACKFILL_PHASES = frozenset(p.value for p in BackfillPhase if p.terminal)
#: Phases in which a run holds a worker slot (its pod may be running).
HOLDING_PHASES = frozenset(
    {RunPhase.STARTING.value, RunPhase.RUNNING.value, RunPhase.CANCELLING.value}
)
#: Shown for a run the operator has not reconciled yet (no status.phase).
NEW_PHASE = "New"


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
    Cancelled, a Backfill Completed, Cancelled or Failed."""
    if obj.get("kind") == c.KIND_SCHEDULED_JOB:
        return phase_of(obj) in FINISHED_JOB_PHASES
    if obj.get("kind") == c.KIND_BACKFILL:
        return phase_of(obj) in FINISHED_BACKFILL_PHASES
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


def estimated_start(obj: Mapping[str, Any]) -> datetime.datetime | None:
    """`status.queue.estimatedStartTime` of a run waiting in the queue (None when it
    does not wait, or before the operator could estimate it)."""
    queue = status_of(obj).get("queue") or {}
    if not queue or phase_of(obj) not in (RunPhase.QUEUED.value, NEW_PHASE):
        return None
    return parse_time(queue.get("estimatedStartTime"))


def start_text(obj: Mapping[str, Any], now: datetime.datetime) -> str:
    """`~3m` (expected to start in about 3 minutes), `~now`, or `-` (not waiting, or
    no estimate yet)."""
    moment = estimated_start(obj)
    if moment is None:
        return DASH
    seconds = (moment - now).total_seconds()
    return f"~{human_duration(seconds)}" if seconds >= 1 else "~now"


def owner_candidates(obj: Mapping[str, Any], job: Mapping[str, Any] | None) -> list[str]:
    """Who counts as the creator of `obj`: its `created-by`, and for a run the
    operator created for a schedule, the creator of its ScheduledJob."""
    owners = [annotation(obj, c.ANNOTATION_CREATED_BY)]
    if spec_of(obj).get("trigger") == Trigger.SCHEDULE.value and job is not None:
        owners.append(annotation(job, c.ANNOTATION_CREATED_BY))
    return [o for o in owners if o]


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


# ------------------------------------------------------------------ ScheduledJobs
class JobState(StrEnum):
    """How a ScheduledJob is doing, at a glance (the dashboard's badge)."""

    ACTIVE = "Active"
    PAUSED = "Paused"
    FAILING = "Failing"  # its latest runs failed (status.consecutiveFailures > 0)
    COMPLETED = "Completed"
    CANCELLED = "Cancelled"


def job_state(job: Mapping[str, Any]) -> JobState:
    """Cancelled or Completed once it is over (a cancel asked for counts); else Paused
    while suspended; else Failing after a failed run not followed by a success; else
    Active."""
    phase, spec = status_of(job).get("phase"), spec_of(job)
    if phase == ScheduledJobPhase.CANCELLED.value or spec.get("cancel"):
        return JobState.CANCELLED
    if phase == ScheduledJobPhase.COMPLETED.value:
        return JobState.COMPLETED
    if (
        spec.get("suspend")
        or phase == ScheduledJobPhase.SUSPENDED.value
        or failure_pause(job) is not None
    ):
        return JobState.PAUSED
    if int(status_of(job).get("consecutiveFailures") or 0) > 0:
        return JobState.FAILING
    return JobState.ACTIVE


def failure_pause(job: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """status.failurePause: set while the operator has paused the job after failed
    runs in a row (spec.pauseAfterConsecutiveFailures), until it is resumed."""
    pause = status_of(job).get("failurePause")
    return pause if isinstance(pause, Mapping) and pause else None


def time_zone_of(job: Mapping[str, Any]) -> str:
    """spec.timeZone (UTC when unset)."""
    return str(spec_of(job).get("timeZone") or c.DEFAULT_TIME_ZONE)
